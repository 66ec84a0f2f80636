//! A real server for tests: engine, WebSocket and REST on `127.0.0.1:0`.
//!
//! [`TestServer`] runs on its own thread with its own actix system, so it works
//! from `#[test]`, `#[tokio::test]` and `#[actix_rt::test]` alike, and stops with
//! everything it started when dropped.
//!
//! ```
//! use colloquy::testing::TestServer;
//!
//! let server = TestServer::start();
//! let health = std::net::TcpStream::connect(server.addr()).is_ok();
//! assert!(health);
//! println!("REST at {}, WebSocket at {}", server.url(), server.ws_url("alice"));
//! ```

use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::config::Config;
use crate::engine::Engine;
use crate::server::{self, ServerConfig};

/// A running server; stopped and joined on drop.
pub struct TestServer {
    addr: SocketAddr,
    engine: Engine,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl TestServer {
    /// A server with test defaults: short typing timeout, dev-mode auth, one worker.
    pub fn start() -> TestServer {
        TestServer::with(
            Config::for_tests(),
            ServerConfig {
                workers: Some(1),
                ..ServerConfig::default()
            },
        )
    }

    /// A server with the given engine and server configuration.
    ///
    /// # Panics
    /// When no loopback port can be bound or no thread started: a test cannot run then.
    pub fn with(config: Config, server_config: ServerConfig) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let engine = Engine::start(config).expect("engine starts");
        let (stop, stopped) = oneshot::channel::<()>();
        let e = engine.clone();
        let thread = std::thread::Builder::new()
            .name(format!("colloquy-test-server-{}", addr.port()))
            .spawn(move || {
                actix_rt::System::new().block_on(server::run(
                    listener,
                    e,
                    server_config,
                    async move {
                        let _ = stopped.await;
                    },
                ))
            })
            .expect("server thread starts");
        TestServer {
            addr,
            engine,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Its socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The WebSocket URL for a dev-mode identity.
    pub fn ws_url(&self, identity: &str) -> String {
        let q: String = url_escape(identity);
        format!("ws://{}/v1/ws?identity={q}", self.addr)
    }

    /// The engine behind it, to act as the service or read metrics.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Stops the server (sessions get 1001) and its engine, and waits for both.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.engine.shutdown();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Percent-encodes a query value.
fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
