//! REST (`PROTOCOL.md` §8): every route is a thin shell that builds the same
//! [`Request`] a WebSocket client would send and runs it through the engine.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use bytes::BytesMut;
use futures_util::StreamExt;
use serde_json::{json, Map, Value};

use super::auth::web_query;
use super::AppState;
use crate::engine::Caller;
use crate::error::Error;
use crate::protocol::Request;

/// An engine error as an HTTP response: the contract's status and JSON body.
#[derive(Debug)]
pub(crate) struct ApiError(pub Error);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.code().http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(json!({"error": self.0.to_json()}))
    }
}

type Reply = Result<HttpResponse, ApiError>;

/// Query fields that are numbers on the wire.
const NUMERIC: [&str; 6] = ["page_size", "anchor", "since", "until", "limit", "index"];

fn query(req: &HttpRequest) -> Map<String, Value> {
    web_query(req.query_string())
        .into_iter()
        .map(|(k, v)| {
            let value = match v.parse::<u64>() {
                Ok(n) if NUMERIC.contains(&k.as_str()) => json!(n),
                _ => json!(v),
            };
            (k, value)
        })
        .collect()
}

/// A message path segment: an index when it is all digits, else an id.
fn message_ref(m: &str) -> Value {
    m.parse::<u64>()
        .map(Value::from)
        .unwrap_or_else(|_| json!(m))
}

/// Reads a JSON object body, refusing one over the size limit with `too_large`.
/// An empty body is an empty object.
async fn body(
    mut payload: web::Payload,
    req: &HttpRequest,
    limit: usize,
) -> Result<Map<String, Value>, Error> {
    let too_large = || Error::TooLarge(format!("request bodies are limited to {limit} bytes"));
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut buf = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| Error::bad(format!("could not read the body: {e}")))?;
        if buf.len() + chunk.len() > limit {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    if buf.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(&buf) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Error::bad("the body must be a JSON object")),
        Err(e) => Err(Error::bad(format!("the body is not JSON: {e}"))),
    }
}

impl AppState {
    fn caller(&self, req: &HttpRequest) -> Result<Caller, Error> {
        self.auth.rest_caller(req, &self.engine.config().limits)
    }

    /// Runs `op` with `fields` for the request's caller.
    async fn run(
        &self,
        req: &HttpRequest,
        op: &str,
        mut fields: Map<String, Value>,
    ) -> Result<(Value, bool), Error> {
        let caller = self.caller(req)?;
        fields.insert("op".into(), json!(op));
        let request = Request::from_json(&Value::Object(fields))?;
        self.engine.execute_outcome(caller, request, None).await
    }

    async fn body(
        &self,
        payload: web::Payload,
        req: &HttpRequest,
    ) -> Result<Map<String, Value>, Error> {
        // Authenticate before reading what could be a large body.
        self.caller(req)?;
        body(payload, req, self.engine.config().limits.max_frame_bytes).await
    }
}

fn ok(v: Value) -> Reply {
    Ok(HttpResponse::Ok().json(v))
}

fn created(v: Value, repeat: bool) -> Reply {
    Ok(if repeat {
        HttpResponse::Ok()
    } else {
        HttpResponse::Created()
    }
    .json(v))
}

fn no_content() -> Reply {
    Ok(HttpResponse::NoContent().finish())
}

fn with(mut m: Map<String, Value>, pairs: &[(&str, Value)]) -> Map<String, Value> {
    for (k, v) in pairs {
        m.insert((*k).to_string(), v.clone());
    }
    m
}

async fn create_conversation(s: web::Data<AppState>, req: HttpRequest, p: web::Payload) -> Reply {
    let b = s.body(p, &req).await?;
    let (v, _) = s.run(&req, "conversation.create", b).await?;
    created(v, false)
}

async fn list_conversations(s: web::Data<AppState>, req: HttpRequest) -> Reply {
    ok(s.run(&req, "conversation.list", query(&req)).await?.0)
}

async fn get_conversation(s: web::Data<AppState>, req: HttpRequest, c: web::Path<String>) -> Reply {
    ok(s.run(
        &req,
        "conversation.get",
        with(Map::new(), &[("conversation", json!(*c))]),
    )
    .await?
    .0)
}

async fn update_conversation(
    s: web::Data<AppState>,
    req: HttpRequest,
    c: web::Path<String>,
    p: web::Payload,
) -> Reply {
    let b = s.body(p, &req).await?;
    ok(s.run(
        &req,
        "conversation.update",
        with(b, &[("conversation", json!(*c))]),
    )
    .await?
    .0)
}

async fn delete_conversation(
    s: web::Data<AppState>,
    req: HttpRequest,
    c: web::Path<String>,
) -> Reply {
    s.run(
        &req,
        "conversation.delete",
        with(Map::new(), &[("conversation", json!(*c))]),
    )
    .await?;
    no_content()
}

async fn list_participants(
    s: web::Data<AppState>,
    req: HttpRequest,
    c: web::Path<String>,
) -> Reply {
    ok(s.run(
        &req,
        "participant.list",
        with(query(&req), &[("conversation", json!(*c))]),
    )
    .await?
    .0)
}

async fn add_participant(
    s: web::Data<AppState>,
    req: HttpRequest,
    c: web::Path<String>,
    p: web::Payload,
) -> Reply {
    let b = s.body(p, &req).await?;
    let op = if b.contains_key("proxy_address") || b.contains_key("address") {
        "participant.add_non_chat"
    } else {
        "participant.add"
    };
    let (v, _) = s
        .run(&req, op, with(b, &[("conversation", json!(*c))]))
        .await?;
    created(v, false)
}

async fn get_participant(
    s: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Reply {
    let (c, p) = path.into_inner();
    ok(s.run(
        &req,
        "participant.get",
        with(
            Map::new(),
            &[("conversation", json!(c)), ("participant", json!(p))],
        ),
    )
    .await?
    .0)
}

async fn update_participant(
    s: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    p: web::Payload,
) -> Reply {
    let (c, part) = path.into_inner();
    let b = s.body(p, &req).await?;
    ok(s.run(
        &req,
        "participant.update",
        with(
            b,
            &[("conversation", json!(c)), ("participant", json!(part))],
        ),
    )
    .await?
    .0)
}

async fn remove_participant(
    s: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Reply {
    let (c, p) = path.into_inner();
    s.run(
        &req,
        "participant.remove",
        with(
            Map::new(),
            &[("conversation", json!(c)), ("participant", json!(p))],
        ),
    )
    .await?;
    no_content()
}

async fn list_messages(s: web::Data<AppState>, req: HttpRequest, c: web::Path<String>) -> Reply {
    ok(s.run(
        &req,
        "message.list",
        with(query(&req), &[("conversation", json!(*c))]),
    )
    .await?
    .0)
}

/// Sends, then answers the whole Message (REST clients expect the resource).
async fn send_message(
    s: web::Data<AppState>,
    req: HttpRequest,
    c: web::Path<String>,
    p: web::Payload,
) -> Reply {
    let b = s.body(p, &req).await?;
    let conv = json!(*c);
    let (sent, repeat) = s
        .run(
            &req,
            "message.send",
            with(b, &[("conversation", conv.clone())]),
        )
        .await?;
    let (m, _) = s
        .run(
            &req,
            "message.get",
            with(
                Map::new(),
                &[("conversation", conv), ("message", sent["id"].clone())],
            ),
        )
        .await?;
    created(m, repeat)
}

async fn get_message(
    s: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Reply {
    let (c, m) = path.into_inner();
    ok(s.run(
        &req,
        "message.get",
        with(
            Map::new(),
            &[("conversation", json!(c)), ("message", message_ref(&m))],
        ),
    )
    .await?
    .0)
}

async fn edit_message(
    s: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    p: web::Payload,
) -> Reply {
    let (c, m) = path.into_inner();
    let b = s.body(p, &req).await?;
    ok(s.run(
        &req,
        "message.edit",
        with(
            b,
            &[("conversation", json!(c)), ("message", message_ref(&m))],
        ),
    )
    .await?
    .0)
}

async fn delete_message(
    s: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Reply {
    let (c, m) = path.into_inner();
    s.run(
        &req,
        "message.delete",
        with(
            Map::new(),
            &[("conversation", json!(c)), ("message", message_ref(&m))],
        ),
    )
    .await?;
    no_content()
}

async fn add_reaction(
    s: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    p: web::Payload,
) -> Reply {
    let (c, m) = path.into_inner();
    let b = s.body(p, &req).await?;
    let (v, repeat) = s
        .run(
            &req,
            "reaction.add",
            with(
                b,
                &[("conversation", json!(c)), ("message", message_ref(&m))],
            ),
        )
        .await?;
    created(v, repeat)
}

async fn remove_reaction(s: web::Data<AppState>, req: HttpRequest, r: web::Path<String>) -> Reply {
    s.run(
        &req,
        "reaction.remove",
        with(Map::new(), &[("reaction", json!(*r))]),
    )
    .await?;
    no_content()
}

async fn get_user(s: web::Data<AppState>, req: HttpRequest, i: web::Path<String>) -> Reply {
    let (v, _) = s
        .run(
            &req,
            "presence.get",
            with(Map::new(), &[("identities", json!([*i]))]),
        )
        .await?;
    ok(v["items"][0].clone())
}

/// A user's conversations: the service may ask for anyone's, a user for its own.
async fn user_conversations(
    s: web::Data<AppState>,
    req: HttpRequest,
    i: web::Path<String>,
) -> Reply {
    if let Caller::User(me) = s.caller(&req)? {
        if me.as_str() != i.as_str() {
            return Err(Error::forbidden("a user may list only its own conversations").into());
        }
    }
    ok(s.run(
        &req,
        "conversation.list",
        with(query(&req), &[("identity", json!(*i))]),
    )
    .await?
    .0)
}

async fn feed(s: web::Data<AppState>, req: HttpRequest) -> Reply {
    ok(s.run(&req, "message.feed", query(&req)).await?.0)
}

async fn mint_token(s: web::Data<AppState>, req: HttpRequest, p: web::Payload) -> Reply {
    let b = s.body(p, &req).await?;
    let identity = b
        .get("identity")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::bad("identity (a string) is required"))?;
    let ttl = match b.get("ttl_s") {
        None | Some(Value::Null) => 3600,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| Error::bad("ttl_s must be a positive integer"))?,
    };
    let token = s.auth.mint(identity, ttl, &s.engine.config().limits)?;
    ok(json!({"token": token}))
}

async fn healthz() -> Reply {
    ok(json!({"status": "ok"}))
}

async fn metrics(s: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(super::metrics_text(&s.engine.metrics()))
}

async fn not_found() -> Reply {
    Err(Error::not_found("no such route").into())
}

/// Every REST route.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/conversations", web::post().to(create_conversation))
        .route("/v1/conversations", web::get().to(list_conversations))
        .route("/v1/conversations/{c}", web::get().to(get_conversation))
        .route(
            "/v1/conversations/{c}",
            web::patch().to(update_conversation),
        )
        .route(
            "/v1/conversations/{c}",
            web::delete().to(delete_conversation),
        )
        .route(
            "/v1/conversations/{c}/participants",
            web::get().to(list_participants),
        )
        .route(
            "/v1/conversations/{c}/participants",
            web::post().to(add_participant),
        )
        .route(
            "/v1/conversations/{c}/participants/{p}",
            web::get().to(get_participant),
        )
        .route(
            "/v1/conversations/{c}/participants/{p}",
            web::patch().to(update_participant),
        )
        .route(
            "/v1/conversations/{c}/participants/{p}",
            web::delete().to(remove_participant),
        )
        .route(
            "/v1/conversations/{c}/messages",
            web::get().to(list_messages),
        )
        .route(
            "/v1/conversations/{c}/messages",
            web::post().to(send_message),
        )
        .route(
            "/v1/conversations/{c}/messages/{m}",
            web::get().to(get_message),
        )
        .route(
            "/v1/conversations/{c}/messages/{m}",
            web::patch().to(edit_message),
        )
        .route(
            "/v1/conversations/{c}/messages/{m}",
            web::delete().to(delete_message),
        )
        .route(
            "/v1/conversations/{c}/messages/{m}/reactions",
            web::post().to(add_reaction),
        )
        .route("/v1/reactions/{id}", web::delete().to(remove_reaction))
        .route("/v1/users/{identity}", web::get().to(get_user))
        .route(
            "/v1/users/{identity}/conversations",
            web::get().to(user_conversations),
        )
        .route("/v1/messages", web::get().to(feed))
        .route("/v1/tokens", web::post().to(mint_token))
        .route("/healthz", web::get().to(healthz))
        .route("/metrics", web::get().to(metrics))
        .default_service(web::to(not_found));
}
