//! A real server for tests: engine, WebSocket and REST on `127.0.0.1:0`.
//!
//! [`TestServer`] runs on its own thread with its own actix system, so it works
//! from `#[test]`, `#[tokio::test]` and `#[actix_rt::test]` alike, and stops with
//! everything it started when dropped.
//!
//! ```
//! use colloquy::testing::TestServer;
//! use serde_json::json;
//!
//! # #[tokio::main] async fn main() {
//! let server = TestServer::builder().typing_timeout_ms(100).start();
//! let alice = server.connect("alice").await.unwrap();           // a Client
//! let conv = server.rest().as_user("alice")
//!     .post("/v1/conversations", json!({"participants": ["bob"]})).await.unwrap();
//! assert_eq!(conv.status, 201);
//! alice.conversation(conv.body["id"].as_str().unwrap()).send_message("hi").await.unwrap();
//! # }
//! ```

use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use std::time::Duration;

use serde_json::Value;

use crate::client::{Client, ClientConfig, ClientError, ClientResult};
use crate::config::{Config, Limits};
use crate::engine::Engine;
use crate::server::{self, Auth, ServerConfig};

/// Sets up a [`TestServer`] like the binary's flags would.
#[derive(Debug, Clone)]
pub struct TestServerBuilder {
    config: Config,
    server: ServerConfig,
}

impl TestServerBuilder {
    /// `--typing-timeout-ms`.
    pub fn typing_timeout_ms(mut self, ms: u64) -> Self {
        self.config.typing_timeout = Duration::from_millis(ms);
        self
    }
    /// Every engine limit at once.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.config.limits = limits;
        self
    }
    /// `--jwt-secret`: clients then need tokens ([`TestServer::connect`] mints them).
    pub fn jwt_secret(mut self, secret: &str) -> Self {
        self.server.jwt_secret = Some(secret.to_string());
        self
    }
    /// `--admin-key`: REST then needs it ([`TestServer::rest`] sends it).
    pub fn admin_key(mut self, key: &str) -> Self {
        self.server.admin_key = Some(key.to_string());
        self
    }
    /// `--twilio-account-sid` and `--twilio-auth-token`: the Twilio face then
    /// needs them as its Basic credentials.
    pub fn twilio_account(mut self, sid: &str, token: &str) -> Self {
        self.server.twilio_account = Some((sid.to_string(), token.to_string()));
        self
    }
    /// `--rate-limit` (0 turns it off).
    pub fn rate_limit(mut self, per_second: u32) -> Self {
        self.server.rate_limit = per_second;
        self
    }
    /// `--heartbeat-ms` and `--idle-timeout-ms`.
    pub fn heartbeat_ms(mut self, heartbeat: u64, idle_timeout: u64) -> Self {
        self.server.heartbeat = Duration::from_millis(heartbeat);
        self.server.idle_timeout = Duration::from_millis(idle_timeout);
        self
    }
    /// `--data-dir`: the engine keeps its data there and reads it back when
    /// started again on the same directory.
    pub fn data_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.config.data_dir = Some(dir.into());
        self
    }
    /// The whole engine configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }
    /// The whole server configuration.
    pub fn server_config(mut self, server: ServerConfig) -> Self {
        self.server = server;
        self
    }
    /// Starts it.
    pub fn start(self) -> TestServer {
        TestServer::with(self.config, self.server)
    }
}

/// A running server; stopped and joined on drop.
pub struct TestServer {
    addr: SocketAddr,
    engine: Engine,
    auth: Auth,
    server_config: ServerConfig,
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
        TestServer::builder().start()
    }

    /// A builder starting from the test defaults.
    pub fn builder() -> TestServerBuilder {
        TestServerBuilder {
            config: Config::for_tests(),
            server: ServerConfig {
                workers: Some(1),
                ..ServerConfig::default()
            },
        }
    }

    /// A server with the given engine and server configuration.
    ///
    /// # Panics
    /// When no loopback port can be bound or no thread started: a test cannot run then.
    pub fn with(config: Config, server_config: ServerConfig) -> TestServer {
        TestServer::on(Engine::start(config).expect("engine starts"), server_config)
    }

    /// A server over an engine already started (a cluster node's, say), with
    /// this server configuration. Stopping the server stops the engine too.
    ///
    /// # Panics
    /// When no loopback port can be bound or no thread started: a test cannot run then.
    pub fn on(engine: Engine, server_config: ServerConfig) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let e = engine.clone();
        let auth = Auth::new(
            server_config.jwt_secret.as_deref(),
            server_config.admin_key.as_deref(),
        );
        let kept = server_config.clone();
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
            auth,
            server_config: kept,
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

    /// A client connected as `identity` (with a minted token in JWT mode).
    pub async fn connect(&self, identity: &str) -> ClientResult<Client> {
        Client::connect(self.client_config(identity)?).await
    }

    /// The configuration [`TestServer::connect`] uses, to adjust before connecting.
    pub fn client_config(&self, identity: &str) -> ClientResult<ClientConfig> {
        let config = ClientConfig::new(&self.url()).request_timeout(Duration::from_secs(5));
        Ok(match self.server_config.jwt_secret {
            Some(_) => config.token(&self.token(identity)?),
            None => config.identity(identity),
        })
    }

    /// A token for `identity`, valid for an hour (JWT mode only).
    pub fn token(&self, identity: &str) -> ClientResult<String> {
        Ok(self
            .auth
            .mint(identity, 3600, &self.engine.config().limits)?)
    }

    /// A REST client of this server, acting as the service (with the admin key
    /// when the server has one).
    pub fn rest(&self) -> Rest {
        Rest::new(&self.url()).admin_key(self.server_config.admin_key.as_deref())
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

/// An answer from REST: status and JSON body (null when empty, a string when not JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct RestResponse {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Value,
}

/// How long [`Rest`] keeps an idle connection for its next request: well
/// under the 5 s after which a colloquy server closes an idle one. A request
/// sent on a connection just as the server closes it is lost ("error sending
/// request"), which once failed a test that had waited five seconds.
const REST_IDLE: Duration = Duration::from_secs(1);

/// A small REST client for tests: the service by default, a user with
/// [`Rest::as_user`].
#[derive(Debug, Clone)]
pub struct Rest {
    base: String,
    http: reqwest::Client,
    admin_key: Option<String>,
    identity: Option<String>,
}

impl Rest {
    /// A REST client of the server at `base` (`http://host:port`), such as a
    /// colloquy started in another process, acting as the service without an
    /// admin key.
    pub fn new(base: &str) -> Rest {
        Rest {
            base: base.trim_end_matches('/').to_string(),
            // Building fails only where `Client::new` would panic (no TLS backend).
            http: reqwest::Client::builder()
                .pool_idle_timeout(REST_IDLE)
                .build()
                .unwrap_or_default(),
            admin_key: None,
            identity: None,
        }
    }

    /// Acts as this user (`X-Identity`).
    pub fn as_user(&self, identity: &str) -> Rest {
        Rest {
            identity: Some(identity.to_string()),
            ..self.clone()
        }
    }

    /// Acts as the service (no `X-Identity`).
    pub fn as_service(&self) -> Rest {
        Rest {
            identity: None,
            ..self.clone()
        }
    }

    /// Sends this admin key (None: none).
    pub fn admin_key(&self, key: Option<&str>) -> Rest {
        Rest {
            admin_key: key.map(str::to_string),
            ..self.clone()
        }
    }

    /// Sends a request with an optional JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> ClientResult<RestResponse> {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(k) = &self.admin_key {
            req = req.bearer_auth(k);
        }
        if let Some(i) = &self.identity {
            req = req.header("X-Identity", i);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req
            .send()
            .await
            .map_err(|e| ClientError::Connect(why(&e)))?;
        let status = res.status().as_u16();
        let bytes = res
            .bytes()
            .await
            .map_err(|e| ClientError::Connect(why(&e)))?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok(RestResponse { status, body })
    }

    /// GET.
    pub async fn get(&self, path: &str) -> ClientResult<RestResponse> {
        self.call(reqwest::Method::GET, path, None).await
    }
    /// POST a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> ClientResult<RestResponse> {
        self.call(reqwest::Method::POST, path, Some(&body)).await
    }
    /// PATCH a JSON body.
    pub async fn patch(&self, path: &str, body: Value) -> ClientResult<RestResponse> {
        self.call(reqwest::Method::PATCH, path, Some(&body)).await
    }
    /// DELETE.
    pub async fn delete(&self, path: &str) -> ClientResult<RestResponse> {
        self.call(reqwest::Method::DELETE, path, None).await
    }
}

/// An error and its causes, outermost first: reqwest's own message alone
/// ("error sending request for url …") does not say what went wrong.
fn why(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::why;

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("error sending request")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_rest_error_names_its_causes() {
        let e = Outer(std::io::Error::other(
            "connection closed before message completed",
        ));
        assert_eq!(
            why(&e),
            "error sending request: connection closed before message completed"
        );
    }
}
