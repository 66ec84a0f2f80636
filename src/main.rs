//! The `colloquy` binary: parses flags (and `COLLOQUY_*` variables), starts an
//! engine, binds, prints `listening on http://ADDR`, and serves until SIGINT/SIGTERM.

use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

use clap::{Parser, Subcommand};
use colloquy::server::{self, ServerConfig};
use colloquy::{Config, Engine, Limits};

#[derive(Parser)]
#[command(
    name = "colloquy",
    version,
    about = "A realtime conversation engine and dev server"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: Serve,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(Serve),
}

#[derive(clap::Args, Clone)]
struct Serve {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "COLLOQUY_BIND", default_value = "127.0.0.1:8080")]
    bind: String,
    /// HS256 secret for client tokens; without it, dev mode trusts ?identity=.
    #[arg(long, env = "COLLOQUY_JWT_SECRET")]
    jwt_secret: Option<String>,
    /// Bearer key that REST requires; without it REST is open.
    #[arg(long, env = "COLLOQUY_ADMIN_KEY")]
    admin_key: Option<String>,
    /// Typing indicator timeout, in milliseconds.
    #[arg(long, env = "COLLOQUY_TYPING_TIMEOUT_MS", default_value_t = 5000)]
    typing_timeout_ms: u64,
    /// Server ping interval, in milliseconds.
    #[arg(long, env = "COLLOQUY_HEARTBEAT_MS", default_value_t = 25_000)]
    heartbeat_ms: u64,
    /// Close a socket after this long without any frame from its client, in milliseconds.
    #[arg(long, env = "COLLOQUY_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    idle_timeout_ms: u64,
    /// Reap a session whose socket write stalls this long, in milliseconds.
    #[arg(long, env = "COLLOQUY_WRITE_TIMEOUT_MS", default_value_t = 10_000)]
    write_timeout_ms: u64,
    /// Requests per second per session (burst twice that); 0 turns it off.
    #[arg(long, env = "COLLOQUY_RATE_LIMIT", default_value_t = 200)]
    rate_limit: u32,
    /// How long a new session holds conversation events back for a client
    /// resuming with events.replay, in milliseconds (any other request ends it).
    #[arg(long, env = "COLLOQUY_RESUME_WINDOW_MS", default_value_t = 500)]
    resume_window_ms: u64,
    /// Conversation events kept per conversation for events.replay.
    #[arg(long, env = "COLLOQUY_REPLAY_WINDOW", default_value_t = 1000)]
    replay_window: usize,
    /// Participants per conversation.
    #[arg(long, env = "COLLOQUY_MAX_PARTICIPANTS", default_value_t = 10_000)]
    max_participants: usize,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "COLLOQUY_WORKERS")]
    workers: Option<usize>,
    /// Arbiter threads hosting conversation actors (default: one per core).
    #[arg(long, env = "COLLOQUY_ARBITERS")]
    arbiters: Option<usize>,
}

async fn signalled() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let s = match cli.command {
        Some(Command::Serve(s)) => s,
        None => cli.serve,
    };
    let defaults = Config::default();
    let engine = Engine::start(Config {
        limits: Limits {
            replay_window: s.replay_window,
            max_participants: s.max_participants,
            ..Limits::default()
        },
        typing_timeout: Duration::from_millis(s.typing_timeout_ms),
        arbiters: s.arbiters.unwrap_or(defaults.arbiters),
    })?;
    let config = ServerConfig {
        jwt_secret: s.jwt_secret,
        admin_key: s.admin_key,
        heartbeat: Duration::from_millis(s.heartbeat_ms.max(1)),
        idle_timeout: Duration::from_millis(s.idle_timeout_ms.max(1)),
        write_timeout: Duration::from_millis(s.write_timeout_ms.max(1)),
        rate_limit: s.rate_limit,
        workers: s.workers,
        resume_window: Duration::from_millis(s.resume_window_ms),
    };
    let listener = TcpListener::bind(&s.bind)?;
    let addr = listener.local_addr()?;
    actix_rt::System::new().block_on(async move {
        let mut out = std::io::stdout();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
        server::run(listener, engine.clone(), config, signalled()).await?;
        engine.shutdown();
        Ok(())
    })
}
