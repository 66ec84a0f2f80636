//! The `colloquy` binary: parses flags (and `COLLOQUY_*` variables), starts an
//! engine, binds, prints `listening on http://ADDR`, and serves until SIGINT/SIGTERM.
//! A failure to start is one sentence on stderr and exit code 1.

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use colloquy::cluster::{Cluster, ClusterConfig, ClusterError, KeyFile};
use colloquy::server::{self, ServerConfig};
use colloquy::{Config, Engine, Limits};

// jemalloc, not glibc's malloc: see the comment on it in Cargo.toml. Only the
// binary chooses it; an embedding application keeps its own allocator.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    /// Bearer key that REST requires. Without it REST is open: with
    /// --jwt-secret, anyone who reaches the server can then mint a token for
    /// any identity (POST /v1/tokens) and read /v1/inspect. Set both outside
    /// your own machine.
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
    /// Keep conversations, messages and users in this directory (created if
    /// missing) and commit every change before acknowledging it. Without it
    /// everything is in memory and a restart forgets it.
    #[arg(long, env = "COLLOQUY_DATA_DIR", conflicts_with = "nats")]
    data_dir: Option<std::path::PathBuf>,
    /// Cluster mode: NATS servers with JetStream (nats://host:port or
    /// tls://host:port, comma-separated or repeated; nats://user:password@host:port
    /// or nats://token@host:port where the servers want credentials). Every
    /// node given the same servers shares every conversation; the cluster's
    /// log on JetStream keeps the data (so no --data-dir).
    #[arg(long, env = "COLLOQUY_NATS", value_delimiter = ',', value_parser = check_nats_url)]
    nats: Vec<String>,
    /// Cluster mode: a PEM file of certificate authorities to trust for the
    /// NATS servers' TLS, besides the system's (a private CA). Given, every
    /// connection to NATS is TLS; tls:// URLs ask for it without this.
    #[arg(long, env = "COLLOQUY_NATS_CA", requires = "nats")]
    nats_ca: Option<std::path::PathBuf>,
    /// Cluster mode: this node's certificate (PEM), for NATS servers that
    /// verify their clients; with --nats-key.
    #[arg(long, env = "COLLOQUY_NATS_CERT", requires_all = ["nats", "nats_key"])]
    nats_cert: Option<std::path::PathBuf>,
    /// Cluster mode: the key of --nats-cert (PEM).
    #[arg(long, env = "COLLOQUY_NATS_KEY", requires_all = ["nats", "nats_cert"])]
    nats_key: Option<std::path::PathBuf>,
    /// Cluster mode: a .creds file (a user's JWT and NKey seed), for NATS
    /// servers in operator mode such as Synadia Cloud.
    #[arg(
        long,
        env = "COLLOQUY_NATS_CREDS",
        requires = "nats",
        conflicts_with = "nats_nkey"
    )]
    nats_creds: Option<std::path::PathBuf>,
    /// Cluster mode: a file holding a user's NKey seed (SU…), for NATS
    /// servers that list their users by public key.
    #[arg(long, env = "COLLOQUY_NATS_NKEY", requires = "nats")]
    nats_nkey: Option<std::path::PathBuf>,
    /// This node's name in the cluster's logs and presence, 1 to 64 characters
    /// without spaces (default: a random one, printed at start).
    #[arg(long, env = "COLLOQUY_NODE_ID", requires = "nats", value_parser = check_node_id)]
    node_id: Option<String>,
    /// Cluster mode: snapshot the cluster's state every so many log entries
    /// and trim the log behind it, so that it does not grow forever and a
    /// starting node does not apply all of it (0: never).
    #[arg(long, env = "COLLOQUY_SNAPSHOT_EVERY", default_value_t = ClusterConfig::SNAPSHOT_EVERY)]
    snapshot_every: u64,
    /// Cluster mode: while ops keep coming (an entry sent less than this
    /// many milliseconds ago), each waits this long for the ones asked after
    /// it, to share its log entry: fewer entries cost JetStream and every
    /// node less, at that much latency. 0: each op goes as soon as it can
    #[arg(long, env = "COLLOQUY_APPEND_WAIT_MS",
          default_value_t = ClusterConfig::APPEND_WAIT.as_millis() as u64)]
    append_wait_ms: u64,
    /// An origin (scheme://host[:port]) whose pages may import /client.js and
    /// call REST; repeat it, or comma-separate in the variable; `*` allows any.
    /// Default: any origin in dev mode, none with --jwt-secret.
    #[arg(long = "cors-origin", env = "COLLOQUY_CORS_ORIGINS", value_delimiter = ',',
          value_parser = server::check_origin)]
    cors_origins: Vec<String>,
    /// Account sid that the Twilio face (/twilio) requires as the Basic-auth
    /// username; give --twilio-auth-token with it. Without both, the face takes
    /// the admin key as its password, or any credentials in dev mode.
    #[arg(
        long,
        env = "COLLOQUY_TWILIO_ACCOUNT_SID",
        requires = "twilio_auth_token"
    )]
    twilio_account_sid: Option<String>,
    /// Auth token that the Twilio face requires as the Basic-auth password.
    #[arg(
        long,
        env = "COLLOQUY_TWILIO_AUTH_TOKEN",
        requires = "twilio_account_sid"
    )]
    twilio_auth_token: Option<String>,
}

/// Resolves on SIGINT or SIGTERM. The handlers are in place when this returns,
/// so a signal sent as soon as `listening on` is printed is not missed.
#[cfg(unix)]
fn signalled() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn signalled() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Why the server could not start or stopped serving.
#[derive(Debug, thiserror::Error)]
enum Fatal {
    #[error("cannot listen on {addr}: {reason}")]
    Bind { addr: String, reason: String },
    #[error("cannot start the engine: {0}")]
    Engine(std::io::Error),
    #[error("the server stopped: {0}")]
    Serve(std::io::Error),
    #[error("stopped, because its {0}")]
    Store(String),
    #[error("cannot join the cluster: {0}")]
    Cluster(#[from] ClusterError),
}

/// A NATS server URL, as NATS's own tools take them: spaces around it (a
/// list written `a, b`) dropped, and `host:port` alone read as `nats://`.
fn check_nats_url(s: &str) -> Result<String, String> {
    let s = s.trim();
    let url = if s.contains("://") {
        s.to_string()
    } else {
        format!("nats://{s}")
    };
    let rest = url
        .strip_prefix("nats://")
        .or_else(|| url.strip_prefix("tls://"));
    match rest {
        Some(rest) if !rest.is_empty() && url.parse::<colloquy::cluster::ServerAddr>().is_ok() => {
            Ok(url)
        }
        _ => Err(format!(
            "{s:?} is not a nats://host:port or tls://host:port URL"
        )),
    }
}

fn check_node_id(s: &str) -> Result<String, String> {
    let ok = (1..=64).contains(&s.chars().count())
        && !s.chars().any(|c| c.is_control() || c.is_whitespace());
    if ok {
        Ok(s.to_string())
    } else {
        Err("a node id is 1 to 64 characters, without spaces or control characters".into())
    }
}

/// Binds `addr`, saying in words what went wrong if it cannot.
fn bind(addr: &str) -> Result<TcpListener, Fatal> {
    let fail = |reason: String| Fatal::Bind {
        addr: addr.to_string(),
        reason,
    };
    let parsed: SocketAddr = addr
        .parse()
        .map_err(|_| fail("not an IP:PORT address (e.g. 127.0.0.1:8080)".into()))?;
    TcpListener::bind(parsed).map_err(|e| {
        fail(match e.kind() {
            ErrorKind::AddrInUse => {
                "the port is already in use (another server running? pick another with --bind)"
                    .into()
            }
            ErrorKind::AddrNotAvailable => "that address is not one of this machine's".into(),
            ErrorKind::PermissionDenied => {
                "permission denied (ports below 1024 need privileges)".into()
            }
            _ => e.to_string(),
        })
    })
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let s = match cli.command {
        Some(Command::Serve(s)) => s,
        None => cli.serve,
    };
    match serve(s) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("colloquy: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(s: Serve) -> Result<(), Fatal> {
    let listener = bind(&s.bind)?;
    let addr = listener.local_addr().map_err(Fatal::Serve)?;
    let defaults = Config::default();
    let engine = Engine::start(Config {
        limits: Limits {
            replay_window: s.replay_window,
            max_participants: s.max_participants,
            ..Limits::default()
        },
        typing_timeout: Duration::from_millis(s.typing_timeout_ms),
        arbiters: s.arbiters.unwrap_or(defaults.arbiters),
        clock: defaults.clock,
        data_dir: s.data_dir,
    })
    .map_err(Fatal::Engine)?;
    let cluster = if s.nats.is_empty() {
        None
    } else {
        let node_id = s.node_id.unwrap_or_else(|| {
            let id = format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
            log::info!("node id {id} (give --node-id to choose one)");
            id
        });
        let config = ClusterConfig {
            urls: s.nats,
            node_id,
            snapshot_every: s.snapshot_every,
            append_wait: Duration::from_millis(s.append_wait_ms),
            tls: colloquy::cluster::Tls {
                ca: s.nats_ca,
                client: s.nats_cert.zip(s.nats_key),
            },
            key_file: s
                .nats_creds
                .map(KeyFile::Creds)
                .or(s.nats_nkey.map(KeyFile::NKey)),
        };
        Some(Cluster::join(&engine, config)?)
    };
    let config = ServerConfig {
        jwt_secret: s.jwt_secret,
        admin_key: s.admin_key,
        heartbeat: Duration::from_millis(s.heartbeat_ms.max(1)),
        idle_timeout: Duration::from_millis(s.idle_timeout_ms.max(1)),
        write_timeout: Duration::from_millis(s.write_timeout_ms.max(1)),
        rate_limit: s.rate_limit,
        workers: s.workers,
        resume_window: Duration::from_millis(s.resume_window_ms),
        cors_origins: s.cors_origins,
        twilio_account: s.twilio_account_sid.zip(s.twilio_auth_token),
    };
    let serving = engine.clone();
    let failure = actix_rt::System::new()
        .block_on(async move {
            let engine = serving;
            let signal = signalled()?;
            let (failed_tx, failed_rx) = std::sync::mpsc::channel();
            let eng = engine.clone();
            // A store that cannot commit stops the server like a signal does,
            // and the exit says why.
            let stop = async move {
                tokio::select! {
                    () = signal => {}
                    e = eng.failed() => {
                        let _ = failed_tx.send(e);
                    }
                }
            };
            let mut out = std::io::stdout();
            writeln!(out, "listening on http://{addr}")?;
            out.flush()?;
            log::info!(
                "chat page http://{addr}/ · inspector http://{addr}/inspect · \
                 API description http://{addr}/openapi.json · metrics http://{addr}/metrics"
            );
            server::run(listener, engine.clone(), config, stop).await?;
            Ok(failed_rx.try_recv().ok())
        })
        .map_err(Fatal::Serve);
    // The other nodes hear that this one's users left it before it stops.
    if let Some(c) = cluster {
        c.leave();
    }
    engine.shutdown();
    match failure? {
        Some(e) => Err(Fatal::Store(e)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::check_nats_url;

    #[test]
    fn nats_urls_are_read_as_nats_tools_read_them() {
        let ok = |s: &str| check_nats_url(s).expect("a NATS URL");
        assert_eq!(ok("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        assert_eq!(ok(" nats://127.0.0.1:4223"), "nats://127.0.0.1:4223");
        assert_eq!(ok("localhost:4222"), "nats://localhost:4222");
        assert_eq!(ok("tls://h:4222 "), "tls://h:4222");
        assert_eq!(ok("u:p%40ss@h:4222"), "nats://u:p%40ss@h:4222");
        for bad in ["http://127.0.0.1:4222", "nats://", "tls://", "", " "] {
            let err = check_nats_url(bad).expect_err(bad);
            assert!(err.contains("is not a nats://host:port"), "{err}");
        }
    }
}
