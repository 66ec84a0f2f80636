//! REST (`PROTOCOL.md` §8): every route is a thin shell that builds the same
//! [`Request`] a WebSocket client would send and runs it through the engine.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse, ResponseError};
use bytes::BytesMut;
use futures_util::StreamExt;
use serde_json::{json, Map, Value};

use super::auth::web_query;
use super::AppState;
use crate::engine::Caller;
use crate::error::Error;
use crate::model::{Conversation, Message, Page, Participant, User};
use crate::protocol::{
    AddParticipant, CreateConversation, Direction, EditMessage, Reply as ProtoReply, Request,
    SendMessage, UpdateConversation, UpdateParticipant,
};

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
    ) -> Result<(ProtoReply, bool), Error> {
        let caller = self.caller(req)?;
        fields.insert("op".into(), json!(op));
        let request = Request::from_json(&Value::Object(fields))?;
        self.engine.execute_outcome(caller, request, None).await
    }

    /// Runs `op` on a conversation (and the participant or message `inner`
    /// names in it), with the other fields from the body or query.
    async fn on(
        &self,
        req: &HttpRequest,
        op: &str,
        mut fields: Map<String, Value>,
        conversation: &str,
        inner: Option<(&str, Value)>,
    ) -> Result<(ProtoReply, bool), Error> {
        fields.insert("conversation".into(), json!(conversation));
        if let Some((k, v)) = inner {
            fields.insert(k.into(), v);
        }
        self.run(req, op, fields).await
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

fn ok(v: impl serde::Serialize) -> Reply {
    Ok(HttpResponse::Ok().json(v))
}

fn created(v: ProtoReply, repeat: bool) -> Reply {
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

/// An error answer.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only: `Error::to_json` writes this shape
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

/// The error object.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct ErrorDetail {
    code: crate::error::ErrorCode,
    message: String,
}

/// Body of `POST …/reactions`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct ReactionBody {
    /// 1 to 64 characters.
    reaction: String,
    /// Who reacts, when the service acts.
    identity: Option<String>,
}

/// Body of `POST /v1/tokens`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct TokenRequest {
    identity: String,
    /// Lifetime in seconds (default 3600).
    ttl_s: Option<u64>,
}

/// A created id.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct IdBody {
    id: crate::model::ReactionId,
}

#[utoipa::path(tag = "conversations", request_body = CreateConversation,
    responses((status = 201, body = Conversation), (status = "4XX", body = ErrorBody)))]
#[post("/v1/conversations")]
async fn create_conversation(s: web::Data<AppState>, req: HttpRequest, p: web::Payload) -> Reply {
    let b = s.body(p, &req).await?;
    let (v, _) = s.run(&req, "conversation.create", b).await?;
    created(v, false)
}

#[utoipa::path(tag = "conversations",
    params(("identity" = Option<String>, Query, description = "The service lists this user's conversations"),
           ("page_size" = Option<u64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = Page<Conversation>), (status = "4XX", body = ErrorBody)))]
#[get("/v1/conversations")]
async fn list_conversations(s: web::Data<AppState>, req: HttpRequest) -> Reply {
    ok(s.run(&req, "conversation.list", query(&req)).await?.0)
}

#[utoipa::path(tag = "conversations", params(("c" = String, Path, description = "Conversation id or unique_name")),
    responses((status = 200, body = Conversation), (status = "4XX", body = ErrorBody)))]
#[get("/v1/conversations/{c}")]
async fn get_conversation(s: web::Data<AppState>, req: HttpRequest, c: web::Path<String>) -> Reply {
    ok(s.on(&req, "conversation.get", Map::new(), &c, None)
        .await?
        .0)
}

#[utoipa::path(tag = "conversations", params(("c" = String, Path)), request_body = UpdateConversation,
    responses((status = 200, body = Conversation), (status = "4XX", body = ErrorBody)))]
#[patch("/v1/conversations/{c}")]
async fn update_conversation(
    s: web::Data<AppState>,
    req: HttpRequest,
    c: web::Path<String>,
    p: web::Payload,
) -> Reply {
    let b = s.body(p, &req).await?;
    ok(s.on(&req, "conversation.update", b, &c, None).await?.0)
}

#[utoipa::path(tag = "conversations", params(("c" = String, Path)),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
#[delete("/v1/conversations/{c}")]
async fn delete_conversation(
    s: web::Data<AppState>,
    req: HttpRequest,
    c: web::Path<String>,
) -> Reply {
    s.on(&req, "conversation.delete", Map::new(), &c, None)
        .await?;
    no_content()
}

#[utoipa::path(tag = "participants",
    params(("c" = String, Path), ("page_size" = Option<u64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = Page<Participant>), (status = "4XX", body = ErrorBody)))]
#[get("/v1/conversations/{c}/participants")]
async fn list_participants(
    s: web::Data<AppState>,
    req: HttpRequest,
    c: web::Path<String>,
) -> Reply {
    ok(s.on(&req, "participant.list", query(&req), &c, None)
        .await?
        .0)
}

/// Adds a chat participant, or a non-chat one when the body has
/// `proxy_address` and `address` (see AddNonChat).
#[utoipa::path(tag = "participants", params(("c" = String, Path)), request_body = AddParticipant,
    responses((status = 201, body = Participant), (status = "4XX", body = ErrorBody)))]
#[post("/v1/conversations/{c}/participants")]
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
    let (v, _) = s.on(&req, op, b, &c, None).await?;
    created(v, false)
}

#[utoipa::path(tag = "participants", params(("c" = String, Path), ("p" = String, Path, description = "Participant id or identity")),
    responses((status = 200, body = Participant), (status = "4XX", body = ErrorBody)))]
#[get("/v1/conversations/{c}/participants/{p}")]
async fn get_participant(
    s: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Reply {
    let (c, p) = path.into_inner();
    ok(s.on(
        &req,
        "participant.get",
        Map::new(),
        &c,
        Some(("participant", json!(p))),
    )
    .await?
    .0)
}

#[utoipa::path(tag = "participants", params(("c" = String, Path), ("p" = String, Path)), request_body = UpdateParticipant,
    responses((status = 200, body = Participant), (status = "4XX", body = ErrorBody)))]
#[patch("/v1/conversations/{c}/participants/{p}")]
async fn update_participant(
    s: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    p: web::Payload,
) -> Reply {
    let (c, part) = path.into_inner();
    let b = s.body(p, &req).await?;
    ok(s.on(
        &req,
        "participant.update",
        b,
        &c,
        Some(("participant", json!(part))),
    )
    .await?
    .0)
}

#[utoipa::path(tag = "participants", params(("c" = String, Path), ("p" = String, Path)),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
#[delete("/v1/conversations/{c}/participants/{p}")]
async fn remove_participant(
    s: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Reply {
    let (c, p) = path.into_inner();
    s.on(
        &req,
        "participant.remove",
        Map::new(),
        &c,
        Some(("participant", json!(p))),
    )
    .await?;
    no_content()
}

#[utoipa::path(tag = "messages",
    params(("c" = String, Path), ("page_size" = Option<u64>, Query), ("anchor" = Option<u64>, Query),
           ("direction" = Option<Direction>, Query), ("since" = Option<u64>, Query), ("until" = Option<u64>, Query),
           ("cursor" = Option<String>, Query)),
    responses((status = 200, body = Page<Message>), (status = "4XX", body = ErrorBody)))]
#[get("/v1/conversations/{c}/messages")]
async fn list_messages(s: web::Data<AppState>, req: HttpRequest, c: web::Path<String>) -> Reply {
    ok(s.on(&req, "message.list", query(&req), &c, None).await?.0)
}

/// Sends, then answers the whole Message (REST clients expect the resource);
/// 200 instead of 201 when a resent `client_id` created nothing.
#[utoipa::path(tag = "messages", params(("c" = String, Path)), request_body = SendMessage,
    responses((status = 201, body = Message), (status = 200, body = Message), (status = "4XX", body = ErrorBody)))]
#[post("/v1/conversations/{c}/messages")]
async fn send_message(
    s: web::Data<AppState>,
    req: HttpRequest,
    c: web::Path<String>,
    p: web::Payload,
) -> Reply {
    let b = s.body(p, &req).await?;
    let (sent, repeat) = s.on(&req, "message.send", b, &c, None).await?;
    let ProtoReply::Sent { id, .. } = sent else {
        return Err(Error::Internal("message.send answered no id".into()).into());
    };
    let message = Some(("message", json!(id)));
    let (m, _) = s.on(&req, "message.get", Map::new(), &c, message).await?;
    created(m, repeat)
}

#[utoipa::path(tag = "messages", params(("c" = String, Path), ("m" = String, Path, description = "Message id or index")),
    responses((status = 200, body = Message), (status = "4XX", body = ErrorBody)))]
#[get("/v1/conversations/{c}/messages/{m}")]
async fn get_message(
    s: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Reply {
    let (c, m) = path.into_inner();
    ok(s.on(
        &req,
        "message.get",
        Map::new(),
        &c,
        Some(("message", message_ref(&m))),
    )
    .await?
    .0)
}

#[utoipa::path(tag = "messages", params(("c" = String, Path), ("m" = String, Path)), request_body = EditMessage,
    responses((status = 200, body = Message), (status = "4XX", body = ErrorBody)))]
#[patch("/v1/conversations/{c}/messages/{m}")]
async fn edit_message(
    s: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    p: web::Payload,
) -> Reply {
    let (c, m) = path.into_inner();
    let b = s.body(p, &req).await?;
    ok(s.on(
        &req,
        "message.edit",
        b,
        &c,
        Some(("message", message_ref(&m))),
    )
    .await?
    .0)
}

#[utoipa::path(tag = "messages", params(("c" = String, Path), ("m" = String, Path)),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
#[delete("/v1/conversations/{c}/messages/{m}")]
async fn delete_message(
    s: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Reply {
    let (c, m) = path.into_inner();
    s.on(
        &req,
        "message.delete",
        Map::new(),
        &c,
        Some(("message", message_ref(&m))),
    )
    .await?;
    no_content()
}

/// 200 instead of 201 when the same user repeats the same reaction.
#[utoipa::path(tag = "reactions", params(("c" = String, Path), ("m" = String, Path)), request_body = ReactionBody,
    responses((status = 201, body = IdBody), (status = 200, body = IdBody), (status = "4XX", body = ErrorBody)))]
#[post("/v1/conversations/{c}/messages/{m}/reactions")]
async fn add_reaction(
    s: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    p: web::Payload,
) -> Reply {
    let (c, m) = path.into_inner();
    let b = s.body(p, &req).await?;
    let message = Some(("message", message_ref(&m)));
    let (v, repeat) = s.on(&req, "reaction.add", b, &c, message).await?;
    created(v, repeat)
}

#[utoipa::path(tag = "reactions", params(("id" = String, Path)),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
#[delete("/v1/reactions/{id}")]
async fn remove_reaction(s: web::Data<AppState>, req: HttpRequest, r: web::Path<String>) -> Reply {
    s.run(
        &req,
        "reaction.remove",
        with(Map::new(), &[("reaction", json!(*r))]),
    )
    .await?;
    no_content()
}

#[utoipa::path(tag = "users", params(("identity" = String, Path)),
    responses((status = 200, body = User), (status = "4XX", body = ErrorBody)))]
#[get("/v1/users/{identity}")]
async fn get_user(s: web::Data<AppState>, req: HttpRequest, i: web::Path<String>) -> Reply {
    let (v, _) = s
        .run(
            &req,
            "presence.get",
            with(Map::new(), &[("identities", json!([*i]))]),
        )
        .await?;
    match v {
        ProtoReply::Presence { mut items } if !items.is_empty() => ok(items.swap_remove(0)),
        _ => Err(Error::Internal("presence.get answered no user".into()).into()),
    }
}

/// A user's conversations: the service may ask for anyone's, a user for its own.
#[utoipa::path(tag = "users",
    params(("identity" = String, Path), ("page_size" = Option<u64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = Page<Conversation>), (status = "4XX", body = ErrorBody)))]
#[get("/v1/users/{identity}/conversations")]
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

#[utoipa::path(tag = "messages",
    params(("identity" = Option<String>, Query, description = "Whose feed (required for the service)"),
           ("limit" = Option<u64>, Query), ("since" = Option<u64>, Query), ("until" = Option<u64>, Query),
           ("cursor" = Option<String>, Query)),
    responses((status = 200, body = Page<Message>), (status = "4XX", body = ErrorBody)))]
#[get("/v1/messages")]
async fn feed(s: web::Data<AppState>, req: HttpRequest) -> Reply {
    ok(s.run(&req, "message.feed", query(&req)).await?.0)
}

#[utoipa::path(tag = "auth", request_body = TokenRequest,
    responses((status = 200, description = "`{\"token\": …}`"), (status = "4XX", body = ErrorBody)))]
#[post("/v1/tokens")]
async fn mint_token(s: web::Data<AppState>, req: HttpRequest, p: web::Payload) -> Reply {
    let b = s.body(p, &req).await?;
    let identity = b
        .get("identity")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::bad("identity (a string) is required"))?;
    let ttl = match b.get("ttl_s") {
        None | Some(Value::Null) => 3600,
        Some(v) => crate::protocol::whole_number(v)
            .ok_or_else(|| Error::bad("ttl_s must be a positive integer"))?,
    };
    let token = s.auth.mint(identity, ttl, &s.engine.config().limits)?;
    ok(json!({"token": token}))
}

#[utoipa::path(tag = "operations", responses(
    (status = 200, description = "`{\"status\":\"ok\"}`"),
    (status = 503, description = "`{\"status\":\"unavailable\",\"reason\":…}`: a cluster node that cannot take writes now (not connected to NATS, or its appends failing)")
))]
#[get("/healthz")]
async fn healthz(s: web::Data<AppState>) -> Reply {
    // What a load balancer asks before it sends a node new clients.
    match s.engine.metrics().cluster.and_then(|c| c.unavailable) {
        None => ok(json!({"status": "ok"})),
        Some(reason) => Ok(HttpResponse::ServiceUnavailable()
            .json(json!({"status": "unavailable", "reason": reason}))),
    }
}

#[utoipa::path(tag = "operations", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
#[get("/metrics")]
async fn metrics(s: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(super::metrics_text(&s.engine.metrics()))
}

/// Every REST route, with its OpenAPI description collected from the same
/// declarations (so the two cannot drift).
pub(crate) fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_conversation)
        .service(list_conversations)
        .service(get_conversation)
        .service(update_conversation)
        .service(delete_conversation)
        .service(list_participants)
        .service(add_participant)
        .service(get_participant)
        .service(update_participant)
        .service(remove_participant)
        .service(list_messages)
        .service(send_message)
        .service(get_message)
        .service(edit_message)
        .service(delete_message)
        .service(add_reaction)
        .service(remove_reaction)
        .service(get_user)
        .service(user_conversations)
        .service(feed)
        .service(mint_token)
        .service(healthz)
        .service(metrics);
}

/// No route matched: 405 (with `Allow`) for a path served with other
/// methods, 404 for any other path.
pub(crate) async fn no_route(req: HttpRequest, routes: web::Data<super::openapi::Routes>) -> Reply {
    match routes.allowed(req.path()) {
        // The contract has no code of its own for this: bad_request, with HTTP's status.
        Some(allowed) => Ok(HttpResponse::MethodNotAllowed()
            .insert_header((actix_web::http::header::ALLOW, allowed))
            .json(json!({"error": Error::bad(format!(
                "{} is not served here; use {allowed}",
                req.method()
            )).to_json()}))),
        None => Err(Error::not_found("no such route").into()),
    }
}
