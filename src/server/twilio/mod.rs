//! The Twilio face (`TWILIO.md`): Twilio Conversations REST v1 at
//! `/twilio/conversations/v1/…`, so that a backend using Twilio's own helper
//! library can develop and test against colloquy.
//!
//! A translation layer and nothing more: every write is the engine op it maps
//! to, run as the service, so WebSocket clients see the same events as for any
//! other client, and nothing here holds conversation state. [`wire`] has
//! Twilio's rules (forms, SIDs, dates, errors), [`shapes`] its JSON objects,
//! [`page`] its list pages; the resource modules do the mapping.

mod conversations;
mod lookup;
mod messages;
mod page;
mod participants;
mod shapes;
mod user_sids;
mod users;
mod wire;

use std::sync::Arc;

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine as _;
use futures_util::StreamExt;
use serde_json::json;

use super::AppState;
use crate::engine::Engine;
use user_sids::UserSids;
use wire::{is_account_sid, service_sid, Params, TwResult, TwilioError};

/// Where the face is mounted; `https://conversations.twilio.com/v1/X` is
/// served at `{MOUNT}/v1/X`.
pub(crate) const MOUNT: &str = "/twilio/conversations";

/// Who may use the Twilio face (`TWILIO.md` §2).
#[derive(Debug, Clone, Default)]
pub(crate) struct TwilioAuth {
    /// `--twilio-account-sid` and `--twilio-auth-token`.
    pub account: Option<(String, String)>,
    /// `--admin-key`: with no account configured, the password must be it.
    pub admin_key: Option<String>,
}

impl TwilioAuth {
    /// The account sid answers carry, or the refusal. Checked before anything else.
    fn check(&self, req: &HttpRequest) -> TwResult<String> {
        let (user, password) = basic(req).unwrap_or_default();
        let echoed = || {
            if is_account_sid(&user) {
                user.clone()
            } else {
                format!("AC{}", "0".repeat(32))
            }
        };
        match (&self.account, &self.admin_key) {
            (Some((sid, token)), _) if user == *sid && password == *token => Ok(sid.clone()),
            (Some(_), _) => Err(TwilioError::unauthenticated()),
            (None, Some(key)) if password == *key && user.starts_with("AC") => Ok(echoed()),
            (None, Some(_)) => Err(TwilioError::unauthenticated()),
            (None, None) => Ok(echoed()),
        }
    }

    /// What the server logs at start about the face.
    pub fn describe(&self) -> &'static str {
        match (&self.account, &self.admin_key) {
            (Some(_), _) => "the Twilio face needs the configured account sid and auth token",
            (None, Some(_)) => "the Twilio face needs the admin key as its auth token",
            (None, None) => "DEV MODE: the Twilio face (/twilio) takes any credentials",
        }
    }
}

/// HTTP Basic credentials, if the request has them.
fn basic(req: &HttpRequest) -> Option<(String, String)> {
    let h = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, rest) = h.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// What the face keeps between requests: no conversation state, an index.
#[derive(Debug, Default)]
pub(crate) struct Kept {
    /// Which identity a `US` sid names.
    pub user_sids: UserSids,
}

/// One request's context: who is asked, where it is, and the engine.
pub(crate) struct Ctx {
    pub engine: Engine,
    pub account_sid: String,
    /// `http://{Host}/twilio/conversations/v1`.
    pub base: String,
    /// `""`, or `/Services/{IS}` when the request came through the service tree.
    pub prefix: String,
    /// The request's path after `/v1`.
    pub path: String,
    /// The query's pairs, for paging URLs that keep the request's filters.
    pub query: Vec<(String, String)>,
    /// What the face keeps between requests.
    pub kept: Arc<Kept>,
}

impl Ctx {
    /// The absolute URL of `rest` (a path under the account or service tree).
    pub fn url(&self, rest: &str) -> String {
        format!("{}{}{}", self.base, self.prefix, rest)
    }
}

/// Every request under `/twilio`.
pub(crate) async fn serve(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    state.engine.shared().metrics.twilio_request();
    let answer = async {
        let account_sid = state.twilio.check(&req)?;
        let limit = state.engine.config().limits.max_frame_bytes;
        let body = read_body(payload, limit).await?;
        let Some(path) = req.path().strip_prefix(&format!("{MOUNT}/v1")) else {
            return Err(TwilioError::NotEmulated(format!(
                "the route {}",
                req.path()
            )));
        };
        let host = req.connection_info().host().to_string();
        let query: Vec<(String, String)> =
            serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
        let params = Params::parse(req.query_string(), &body)?;
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let (prefix, rest) = match segments.as_slice() {
            ["Services", is, rest @ ..] if !rest.is_empty() => {
                if *is != service_sid() {
                    return Err(TwilioError::not_found(&format!("/Services/{is}")));
                }
                (format!("/Services/{is}"), rest)
            }
            _ => (String::new(), segments.as_slice()),
        };
        let ctx = Ctx {
            engine: state.engine.clone(),
            account_sid,
            base: format!("http://{host}{MOUNT}/v1"),
            prefix,
            path: path.to_string(),
            query,
            kept: state.twilio_kept.clone(),
        };
        route(&ctx, req.method(), rest, &params).await
    }
    .await;
    answer.unwrap_or_else(|e| e.response())
}

/// Reads a form body of at most `limit` bytes (after authentication, so that
/// a stranger cannot make the server read a large body).
async fn read_body(mut payload: web::Payload, limit: usize) -> TwResult<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| TwilioError::bad(format!("could not read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(TwilioError::bad(format!(
                "request bodies are limited to {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn route(ctx: &Ctx, method: &Method, path: &[&str], p: &Params) -> TwResult<HttpResponse> {
    use conversations as conv;
    let get = method == Method::GET;
    let post = method == Method::POST;
    let delete = method == Method::DELETE;
    let service_tree = !ctx.prefix.is_empty();
    match path {
        ["Conversations"] if get => conv::list(ctx, p).await,
        ["Conversations"] if post => conv::create(ctx, p).await,
        ["Conversations", c] if get => conv::fetch(ctx, c).await,
        ["Conversations", c] if post => conv::update(ctx, c, p).await,
        ["Conversations", c] if delete => conv::delete(ctx, c).await,
        ["Conversations", c, "Participants"] if get => participants::list(ctx, c, p).await,
        ["Conversations", c, "Participants"] if post => participants::create(ctx, c, p).await,
        ["Conversations", c, "Participants", x] if get => participants::fetch(ctx, c, x).await,
        ["Conversations", c, "Participants", x] if post => participants::update(ctx, c, x, p).await,
        ["Conversations", c, "Participants", x] if delete => participants::delete(ctx, c, x).await,
        ["Conversations", c, "Messages"] if get => messages::list(ctx, c, p).await,
        ["Conversations", c, "Messages"] if post => messages::create(ctx, c, p).await,
        ["Conversations", c, "Messages", m] if get => messages::fetch(ctx, c, m).await,
        ["Conversations", c, "Messages", m] if post => messages::update(ctx, c, m, p).await,
        ["Conversations", c, "Messages", m] if delete => messages::delete(ctx, c, m).await,
        ["Conversations", c, "Messages", m, "Receipts"] if get => {
            messages::fetch(ctx, c, m).await?;
            page::list(ctx, p, "delivery_receipts", Vec::new())
        }
        ["Conversations", c, "Webhooks"] if get => {
            ctx.conversation(c).await?;
            page::list(ctx, p, "webhooks", Vec::new())
        }
        ["ConversationWithParticipants"] if post => conv::create_with_participants(ctx, p).await,
        ["ParticipantConversations"] if get => conv::participant_conversations(ctx, p).await,
        ["Users"] if get => users::list(ctx, p).await,
        ["Users"] if post => users::create(ctx, p).await,
        ["Users", u] if get => users::fetch(ctx, u).await,
        ["Users", u] if post => users::update(ctx, u, p).await,
        ["Users", u, "Conversations"] if get => users::conversations(ctx, u, p).await,
        ["Users", u, "Conversations", c] if get => users::conversation(ctx, u, c).await,
        ["Users", u, "Conversations", c] if post => users::update_conversation(ctx, u, c, p).await,
        ["Users", u, "Conversations", c] if delete => users::leave(ctx, u, c).await,
        ["Roles"] if get => {
            let roles = shapes::ROLES.iter().map(|r| shapes::role(ctx, r)).collect();
            page::list(ctx, p, "roles", roles)
        }
        ["Roles", r] if get => shapes::ROLES
            .iter()
            .find(|def| shapes::role_sid(def) == *r)
            .map(|def| HttpResponse::Ok().json(shapes::role(ctx, def)))
            .ok_or_else(|| TwilioError::not_found(&format!("/Roles/{r}"))),
        ["Services"] if get && !service_tree => {
            page::list(ctx, p, "services", vec![shapes::service(ctx)])
        }
        ["Services", is] if get && !service_tree => {
            if *is != service_sid() {
                return Err(TwilioError::not_found(&format!("/Services/{is}")));
            }
            Ok(HttpResponse::Ok().json(shapes::service(ctx)))
        }
        ["Configuration"] if get => Ok(HttpResponse::Ok().json(configuration(ctx))),
        ["Credentials"] if get && !service_tree => page::list(ctx, p, "credentials", Vec::new()),
        ["Bindings"] if get && service_tree => page::list(ctx, p, "bindings", Vec::new()),
        _ => Err(TwilioError::NotEmulated(format!(
            "{method} {MOUNT}/v1{}",
            ctx.path
        ))),
    }
}

/// The account's (or the service's) configuration: the one service, no timers.
fn configuration(ctx: &Ctx) -> serde_json::Value {
    let url = ctx.url("/Configuration");
    if ctx.prefix.is_empty() {
        json!({
            "account_sid": ctx.account_sid, "default_chat_service_sid": service_sid(),
            "default_messaging_service_sid": null, "default_inactive_timer": null,
            "default_closed_timer": null, "url": url,
            "links": {"webhooks": format!("{url}/Webhooks")},
        })
    } else {
        json!({
            "chat_service_sid": service_sid(), "default_conversation_creator_role_sid": shapes::role_sid(&shapes::ROLES[0]),
            "default_conversation_role_sid": shapes::role_sid(&shapes::ROLES[1]),
            "default_chat_service_role_sid": shapes::role_sid(&shapes::ROLES[3]),
            "url": url, "links": {"notifications": format!("{url}/Notifications"), "webhooks": format!("{url}/Webhooks")},
            "reachability_enabled": true,
        })
    }
}
