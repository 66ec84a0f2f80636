//! The dev server: WebSocket and REST over one engine (`PROTOCOL.md` §3, §8).
//!
//! [`run`] takes a bound listener, an engine and a shutdown future, like
//! mini-redis: the binary and the tests call it the same way. Handlers are thin:
//! they authenticate, then hand the engine a [`Request`](crate::Request).

mod auth;
mod cors;
mod openapi;
mod pages;
mod rest;
mod twilio;
mod upgrade;
mod ws;

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_http::error::DispatchError;
use actix_http::HttpService;
use actix_rt::net::TcpStream;
use actix_service::{
    fn_service, map_config, IntoServiceFactory, ServiceFactory, ServiceFactoryExt,
};
use actix_web::dev::AppConfig;
use actix_web::{get, web, App, HttpResponse};
use tokio::sync::watch;
use utoipa_actix_web::AppExt;

pub use auth::Auth;
pub use cors::check_origin;

use crate::engine::Engine;
use crate::error::Error;
use crate::metrics::MetricsSnapshot;
use rest::ApiError;
use ws::WsSettings;

/// How long shutdown waits for sessions to send their close frames.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// How the server runs (the engine has its own [`Config`](crate::Config)).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// HS256 secret for tokens; None is dev mode (`?identity=` is trusted).
    pub jwt_secret: Option<String>,
    /// Bearer key REST requires; None leaves REST open.
    pub admin_key: Option<String>,
    /// How often the server pings each socket. Contract: 25 s.
    pub heartbeat: Duration,
    /// Silence from a client after which its socket is closed (1001). Contract: 60 s.
    pub idle_timeout: Duration,
    /// Longest one socket write may take before the session is reaped: a client
    /// whose TCP window stays full this long is gone or stuck.
    pub write_timeout: Duration,
    /// Requests per second per session, burst twice that; 0 turns it off. Contract: 200.
    pub rate_limit: u32,
    /// HTTP worker threads; None is one per core.
    pub workers: Option<usize>,
    /// How long a new WebSocket session holds conversation events back while
    /// its client may be resuming (`events.replay` before anything else).
    pub resume_window: Duration,
    /// Origins whose pages may use `/client.js` and REST (`--cors-origin`);
    /// empty: any in dev mode, none with a JWT secret. `*` allows any.
    pub cors_origins: Vec<String>,
    /// The account sid and auth token the Twilio face requires
    /// (`--twilio-account-sid`, `--twilio-auth-token`); None: the admin key, or
    /// in dev mode any credentials.
    pub twilio_account: Option<(String, String)>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            jwt_secret: None,
            admin_key: None,
            heartbeat: Duration::from_millis(25_000),
            idle_timeout: Duration::from_millis(60_000),
            write_timeout: Duration::from_secs(10),
            rate_limit: 200,
            workers: None,
            resume_window: Duration::from_millis(500),
            cors_origins: Vec::new(),
            twilio_account: None,
        }
    }
}

/// What every handler shares.
pub(crate) struct AppState {
    engine: Engine,
    auth: Auth,
    ws: WsSettings,
    cors_origins: Vec<String>,
    twilio: twilio::TwilioAuth,
    twilio_kept: Arc<twilio::Kept>,
    shutdown: watch::Receiver<bool>,
}

/// Serves WebSocket and REST on `listener` until `shutdown` completes; then
/// closes every session with 1001 and returns. Must run inside an actix system
/// (`#[actix_web::main]`, `#[actix_rt::test]`, or `actix_rt::System::new().block_on`).
pub async fn run(
    listener: TcpListener,
    engine: Engine,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let state = web::Data::new(AppState {
        auth: Auth::new(config.jwt_secret.as_deref(), config.admin_key.as_deref()),
        ws: WsSettings {
            heartbeat: config.heartbeat,
            idle_timeout: config.idle_timeout,
            write_timeout: config.write_timeout,
            rate_limit: config.rate_limit,
            max_frame_bytes: engine.config().limits.max_frame_bytes,
            resume_window: config.resume_window,
            clock: engine.config().clock.clone(),
        },
        engine,
        cors_origins: config.cors_origins.clone(),
        twilio: twilio::TwilioAuth {
            account: config.twilio_account.clone(),
            admin_key: config.admin_key.clone(),
        },
        twilio_kept: Arc::default(),
        shutdown: stop_rx,
    });
    if state.auth.dev_mode() {
        log::warn!("DEV MODE: no --jwt-secret, so WebSocket identities are trusted from ?identity=. Never expose this server.");
    } else if config.admin_key.is_none() {
        log::warn!("NO ADMIN KEY: with --jwt-secret but no --admin-key, REST is open: anyone who reaches this server can mint a token for any identity (POST /v1/tokens), act as any user and read /v1/inspect. Set --admin-key.");
    }
    if state.twilio.account.is_none() && state.twilio.admin_key.is_none() {
        log::warn!("{}", state.twilio.describe());
    } else {
        log::info!("{}", state.twilio.describe());
    }
    let addr = listener.local_addr()?;
    let mut builder = actix_server::Server::build()
        .disable_signals()
        .shutdown_timeout(2);
    if let Some(n) = config.workers {
        builder = builder.workers(n.max(1));
    }
    let server = builder
        .listen("colloquy", listener, {
            let state = state.clone();
            move || http_service(state.clone(), addr)
        })?
        .run();
    let handle = server.handle();
    let serving = actix_rt::spawn(server);
    shutdown.await;
    log::info!("shutting down: closing every session");
    let _ = stop_tx.send(true);
    // Give writers a moment to send their close frames: until every session has
    // closed, at most SHUTDOWN_GRACE.
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    while state.engine.metrics().sessions_open > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Every session has closed (or had its grace): what is left are idle or stuck
    // connections, which a graceful stop would wait `shutdown_timeout` for.
    handle.stop(false).await;
    let _ = serving.await;
    Ok(())
}

/// One worker's HTTP service: actix-web's HttpServer would build the same, but
/// it does not expose the upgrade hook, which takes WebSockets out of the app.
fn http_service(
    state: web::Data<AppState>,
    addr: SocketAddr,
) -> impl ServiceFactory<TcpStream, Config = (), Response = (), Error = DispatchError, InitError = ()>
{
    let (app, api) = App::new()
        .into_utoipa_app()
        .openapi(<ExtraSchemas as utoipa::OpenApi>::openapi())
        .app_data(state.clone())
        .service(plain_get)
        .configure(rest::routes)
        .configure(pages::routes)
        .split_for_parts();
    let routes = openapi::Routes::of(&api);
    let served = openapi::Served {
        limits: &state.engine.config().limits,
        jwt: !state.auth.dev_mode(),
        admin_key: state.auth.has_admin_key(),
    };
    let app = app
        .app_data(web::Data::new(OpenApiJson(openapi::document(api, &served))))
        .app_data(web::Data::new(routes))
        .route("/openapi.json", web::get().to(openapi))
        .service(web::scope("/twilio").default_service(web::to(twilio::serve)))
        .default_service(web::to(rest::no_route))
        .wrap(cors::policy(&state.cors_origins, state.auth.dev_mode()));
    HttpService::build()
        .client_disconnect_timeout(Duration::from_secs(1))
        .local_addr(addr)
        // actix leaves Nagle on: pipelined fanout would stall on delayed ACKs.
        .tcp_nodelay(true)
        .upgrade(fn_service(move |(req, conn)| {
            upgrade::upgrade(state.clone(), req, conn)
        }))
        .finish(map_config(
            app.into_factory()
                .map_err(|e: actix_web::Error| e.error_response()),
            |_| AppConfig::default(),
        ))
        .tcp()
}

/// Schemas that no route names as its body type but the API uses.
#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(
    crate::protocol::AddNonChat,
    crate::protocol::UpdateUser,
    crate::protocol::Direction
)))]
struct ExtraSchemas;

/// The OpenAPI document, serialized once per worker.
struct OpenApiJson(String);

async fn openapi(doc: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.clone())
}

/// `GET /v1/ws`: the WebSocket. Upgrades never reach this handler (see
/// the upgrade service); it answers a plain GET, which is a client mistake.
#[utoipa::path(tag = "websocket",
    params(("identity" = Option<String>, Query, description = "Dev mode: the user"),
           ("token" = Option<String>, Query, description = "JWT mode: an HS256 token (or Authorization: Bearer)")),
    responses((status = 101, description = "Upgraded: the contract's frames follow, `ready` first"),
              (status = 400, body = rest::ErrorBody), (status = 401, body = rest::ErrorBody)))]
#[get("/v1/ws")]
async fn plain_get() -> Result<HttpResponse, ApiError> {
    Err(Error::bad("expected a WebSocket upgrade (Upgrade: websocket)").into())
}

/// The metrics in Prometheus text format.
pub(crate) fn metrics_text(m: &MetricsSnapshot) -> String {
    let closed: String = m
        .sessions_closed
        .iter()
        .map(|(r, n)| format!("colloquy_sessions_closed_total{{reason=\"{r}\"}} {n}\n"))
        .collect();
    let series = [
        (
            "sessions_open",
            "gauge",
            "Sessions open now.",
            m.sessions_open.to_string(),
        ),
        (
            "conversations",
            "gauge",
            "Conversations that exist now.",
            m.conversations.to_string(),
        ),
        (
            "messages_stored",
            "gauge",
            "Messages held in memory now.",
            m.messages_stored.to_string(),
        ),
        (
            "events_delivered_total",
            "counter",
            "Frames handed to sessions.",
            m.events_delivered.to_string(),
        ),
        (
            "store_commits_total",
            "counter",
            "Transactions (one fsync each) the store committed (--data-dir).",
            m.store_commits.to_string(),
        ),
        (
            "store_batches_total",
            "counter",
            "Ops' change sets those transactions held (group commit).",
            m.store_batches.to_string(),
        ),
        (
            "twilio_requests_total",
            "counter",
            "Requests the Twilio face (/twilio) answered.",
            m.twilio_requests.to_string(),
        ),
        (
            "sessions_moved_total",
            "counter",
            "Sessions moved to the thread running most of their user's conversations.",
            m.sessions_moved.to_string(),
        ),
        (
            "frames_dropped_total",
            "counter",
            "Frames refused by full or closed outboxes.",
            m.frames_dropped.to_string(),
        ),
    ];
    let cluster = m.cluster.as_ref().map(|c| {
        [
            (
                "cluster_connected",
                "gauge",
                "1 while this node is connected to a NATS server (--nats).",
                u8::from(c.connected).to_string(),
            ),
            (
                "cluster_available",
                "gauge",
                "1 while this node can take writes (what /healthz says).",
                u8::from(c.unavailable.is_none()).to_string(),
            ),
            (
                "cluster_entries_applied",
                "gauge",
                "The last entry of the cluster's log this node applied.",
                c.entries_applied.to_string(),
            ),
            (
                "cluster_entries_appended_total",
                "counter",
                "Log entries this node appended.",
                c.entries_appended.to_string(),
            ),
            (
                "cluster_ops_appended_total",
                "counter",
                "Ops this node appended, in those entries.",
                c.ops_appended.to_string(),
            ),
            (
                "cluster_reconnections_total",
                "counter",
                "Times this node's NATS client connected again after losing a server.",
                c.reconnections.to_string(),
            ),
        ]
    });
    let mut out = String::new();
    for (name, kind, help, value) in series.into_iter().chain(cluster.into_iter().flatten()) {
        out.push_str(&format!("# HELP colloquy_{name} {help}\n# TYPE colloquy_{name} {kind}\ncolloquy_{name} {value}\n"));
    }
    out.push_str("# HELP colloquy_sessions_closed_total Sessions closed, by reason.\n");
    out.push_str("# TYPE colloquy_sessions_closed_total counter\n");
    out.push_str(&closed);
    out
}
