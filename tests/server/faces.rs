//! The walk's other ways in (`walk::face`): the REST face acting as the
//! asking user (`X-Identity`) or as the service naming it, and the Twilio
//! face acting as the service, each asking an op of the walk in its own
//! form. An answer is read back into a session's form, and its HTTP status
//! must be the one its face gives that outcome.

use colloquy::testing::Rest;
use fastrand::Rng;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::twilio::{uuid_of, Twilio};
use crate::walk::face::{Asked, Asking, Face};

/// The contract's code for a refusal's HTTP status (PROTOCOL §8; TWILIO §3).
fn code_of(status: u16) -> Option<&'static str> {
    Some(match status {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        409 => "conflict",
        413 => "too_large",
        429 => "rate_limited",
        _ => return None,
    })
}

fn escaped(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// A path segment naming `v`: a string, or a number where an index may stand.
fn segment(v: &Value, index: bool) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(escaped(s)),
        Value::Number(n) if index => n.as_u64().map(|n| n.to_string()),
        _ => None,
    }
}

pub struct RestFace {
    pub rest: Rest,
    pub rng: Rng,
}

/// A REST request.
struct Call {
    method: Method,
    path: String,
    body: Option<Value>,
    as_service: bool,
}

impl RestFace {
    /// The op as a REST request: method, path and body, acting as `user`
    /// or (one time in four) as the service naming `user` where the op
    /// needs someone.
    fn form(&mut self, user: &str, request: &Value) -> Option<Call> {
        let op = request["op"].as_str()?;
        let mut body: Map<String, Value> = request.as_object()?.clone();
        for k in ["id", "op", "conversation", "participant", "message"] {
            body.remove(k);
        }
        let c = || segment(&request["conversation"], false);
        let conv = |c: String| format!("/v1/conversations/{c}");
        let (method, path) = match op {
            "conversation.create" => (Method::POST, "/v1/conversations".into()),
            "conversation.get" | "conversation.update" | "conversation.delete" => {
                on_record(op, conv(c()?), Method::PATCH)
            }
            "participant.add" | "participant.add_non_chat" => {
                (Method::POST, format!("{}/participants", conv(c()?)))
            }
            "participant.get" | "participant.update" | "participant.remove" => {
                let p = segment(&request["participant"], false)?;
                on_record(
                    op,
                    format!("{}/participants/{p}", conv(c()?)),
                    Method::PATCH,
                )
            }
            "message.send" => (Method::POST, format!("{}/messages", conv(c()?))),
            "message.get" | "message.edit" | "message.delete" => {
                let m = segment(&request["message"], true)?;
                on_record(op, format!("{}/messages/{m}", conv(c()?)), Method::PATCH)
            }
            "reaction.add" => {
                let m = segment(&request["message"], true)?;
                let path = format!("{}/messages/{m}/reactions", conv(c()?));
                (Method::POST, path)
            }
            "reaction.remove" => {
                let r = segment(&request["reaction"], false)?;
                (Method::DELETE, format!("/v1/reactions/{r}"))
            }
            _ => return None,
        };
        let as_service = self.rng.u8(..4) == 0;
        let writes = method == Method::POST || method == Method::PATCH;
        let body = writes.then_some(body).map(|mut b| {
            if as_service && op == "message.send" {
                b.insert("author".into(), json!(user));
            }
            if as_service && op == "reaction.add" {
                b.insert("identity".into(), json!(user));
            }
            Value::Object(b)
        });
        Some(Call {
            method,
            path,
            body,
            as_service,
        })
    }
}

impl Face for RestFace {
    fn name(&self) -> &'static str {
        "rest"
    }

    fn ask<'a>(&'a mut self, user: &'a str, request: &'a Value) -> Asking<'a> {
        Box::pin(async move {
            let Call {
                method,
                path,
                body,
                as_service,
            } = self.form(user, request)?;
            let op = request["op"].as_str().unwrap_or_default();
            let rest = if as_service {
                self.rest.as_service()
            } else {
                self.rest.as_user(user)
            };
            let sent = format!(
                "{method} {path} {} as {}",
                body.as_ref().map(Value::to_string).unwrap_or_default(),
                if as_service { "the service" } else { user }
            );
            let answer = match rest.call(method.clone(), &path, body.as_ref()).await {
                Ok(r) => rest_answer(op, &method, request, r.status, r.body),
                Err(e) => Err(format!("{sent} failed: {e}")),
            };
            Some(Asked { sent, answer })
        })
    }
}

/// A REST answer in a session's form, if its status is the one PROTOCOL §8
/// gives: 201 for a POST that creates (200 for a repeat that creates
/// nothing), 204 for a DELETE, 200 otherwise; a refusal's status that of
/// its code.
fn rest_answer(
    op: &str,
    method: &Method,
    request: &Value,
    status: u16,
    body: Value,
) -> Result<Value, String> {
    if (200..300).contains(&status) {
        let repeat_allowed =
            (op == "message.send" && request.get("client_id").is_some()) || op == "reaction.add";
        let right = match *method {
            Method::DELETE => status == 204,
            Method::POST => status == 201 || (status == 200 && repeat_allowed),
            _ => status == 200,
        };
        if !right {
            return Err(format!("REST answered {op} with {status}"));
        }
        let data = if body.is_null() { json!({}) } else { body };
        return Ok(json!({"ok": true, "data": data}));
    }
    let code = body["error"]["code"].as_str().unwrap_or_default();
    if code_of(status) != Some(code) {
        return Err(format!("REST refused {op} with {status} and {body}"));
    }
    Ok(json!({"ok": false, "error": body["error"]}))
}

/// A form body: its pairs in order, repeated keys as lists.
type Form = Vec<(String, String)>;

pub struct TwilioFace {
    pub twilio: Twilio,
    /// The role sids of `admin` and `member` (`channel admin`, `channel user`).
    pub roles: [String; 2],
}

impl TwilioFace {
    pub async fn new(twilio: Twilio) -> TwilioFace {
        let roles = twilio.all("/Roles").await;
        let sid = |name: &str| {
            roles
                .iter()
                .find(|r| r["friendly_name"] == name)
                .and_then(|r| r["sid"].as_str())
                .expect("the role is listed")
                .to_string()
        };
        TwilioFace {
            roles: [sid("channel admin"), sid("channel user")],
            twilio,
        }
    }

    /// The op as a Twilio request, done as the service: method, path and
    /// form. Fields Twilio has no form of are left out; an op it has none of
    /// is None.
    fn form(&self, user: &str, request: &Value) -> Option<(Method, String, Form)> {
        let op = request["op"].as_str()?;
        let mut form = Form::new();
        let mut text = |k: &str, name: &str| -> Option<()> {
            match &request[k] {
                Value::Null => {}
                Value::String(s) => form.push((name.into(), s.clone())),
                _ => return None,
            }
            Some(())
        };
        text_fields(op, &mut text)?;
        // Twilio's `Attributes` is a string holding any JSON.
        if let Some(a) = request.get("attributes") {
            form.push(("Attributes".into(), a.to_string()));
        }
        if let Some(role) = request.get("role") {
            let sid = match role.as_str()? {
                "admin" => &self.roles[0],
                "member" => &self.roles[1],
                _ => return None,
            };
            form.push(("RoleSid".into(), sid.clone()));
        }
        let key = |v: &Value, prefix: &str| -> Option<String> {
            match v {
                Value::String(s) => match uuid::Uuid::parse_str(s) {
                    Ok(u) => Some(format!("{prefix}{}", u.simple())),
                    Err(_) => segment(v, false),
                },
                _ => segment(v, true),
            }
        };
        let c = key(&request["conversation"], "CH");
        let conv = |c: Option<String>| c.map(|c| format!("/Conversations/{c}"));
        let me = escaped(user);
        let mine = |c: Option<String>| c.map(|c| format!("/Users/{me}/Conversations/{c}"));
        let (method, path) = match op {
            "conversation.create" => match request.get("participants") {
                Some(Value::Array(named)) => {
                    for n in named {
                        form.push(("Participant".into(), json!({"identity": n}).to_string()));
                    }
                    (Method::POST, "/ConversationWithParticipants".to_string())
                }
                Some(_) => return None,
                None => (Method::POST, "/Conversations".to_string()),
            },
            "conversation.get" | "conversation.update" | "conversation.delete" => {
                on_record(op, conv(c)?, Method::POST)
            }
            "conversation.leave" => (Method::DELETE, mine(c)?),
            "conversation.set_notification_level" => {
                form.push((
                    "NotificationLevel".into(),
                    request["level"].as_str()?.to_string(),
                ));
                (Method::POST, mine(c)?)
            }
            "read.set" | "read.advance" => {
                let index = request["index"].as_u64()?;
                form.push(("LastReadMessageIndex".into(), index.to_string()));
                (Method::POST, mine(c)?)
            }
            "participant.add" => {
                form.push(("Identity".into(), request["identity"].as_str()?.to_string()));
                (Method::POST, format!("{}/Participants", conv(c)?))
            }
            "participant.add_non_chat" => {
                let binding = |k: &str| request[k].as_str().map(str::to_string);
                form.push(("MessagingBinding.Address".into(), binding("address")?));
                form.push((
                    "MessagingBinding.ProxyAddress".into(),
                    binding("proxy_address")?,
                ));
                (Method::POST, format!("{}/Participants", conv(c)?))
            }
            "participant.get" | "participant.update" | "participant.remove" => {
                let p = key(&request["participant"], "MB")?;
                on_record(op, format!("{}/Participants/{p}", conv(c)?), Method::POST)
            }
            "message.send" => {
                form.push(("Author".into(), user.to_string()));
                (Method::POST, format!("{}/Messages", conv(c)?))
            }
            "message.get" | "message.edit" | "message.delete" => {
                let m = key(&request["message"], "IM")?;
                on_record(op, format!("{}/Messages/{m}", conv(c)?), Method::POST)
            }
            "user.update" => (Method::POST, format!("/Users/{me}")),
            _ => return None,
        };
        Some((method, path, form))
    }
}

/// A fetch, update or delete of the record at `path`, an update asked
/// with `update` (REST's PATCH, Twilio's POST).
fn on_record(op: &str, path: String, update: Method) -> (Method, String) {
    let method = match op.rsplit('.').next() {
        Some("get") => Method::GET,
        Some("update" | "edit") => update,
        _ => Method::DELETE,
    };
    (method, path)
}

/// Calls `text(field, Twilio name)` for each text field of `op` that Twilio has.
fn text_fields(op: &str, text: &mut impl FnMut(&str, &str) -> Option<()>) -> Option<()> {
    match op {
        "conversation.create" | "conversation.update" => {
            text("friendly_name", "FriendlyName")?;
            text("unique_name", "UniqueName")?;
            if op == "conversation.update" {
                text("state", "State")?;
            }
        }
        "message.send" | "message.edit" => text("body", "Body")?,
        "user.update" => text("friendly_name", "FriendlyName")?,
        _ => {}
    }
    Some(())
}

impl TwilioFace {
    /// Whether the binding `request` adds is held by an open conversation
    /// other than the one at `path` (`/Conversations/{key}/Participants`):
    /// the Twilio face refuses that (50416, one open conversation per address
    /// and proxy), a session's op does not, so such an op goes in a frame.
    async fn bound_elsewhere(&self, path: &str, request: &Value) -> bool {
        let (Some(address), Some(proxy)) = (
            request["address"].as_str(),
            request["proxy_address"].as_str(),
        ) else {
            return false;
        };
        let target = path.split('/').nth(2).unwrap_or_default();
        let url = format!("/ParticipantConversations?Address={}", escaped(address));
        self.twilio.all(&url).await.iter().any(|r| {
            let there = r["conversation_sid"] == target
                || r["conversation_unique_name"].as_str() == Some(target);
            r["participant_messaging_binding"]["proxy_address"] == proxy
                && r["conversation_state"] != "closed"
                && !there
        })
    }
}

impl Face for TwilioFace {
    fn name(&self) -> &'static str {
        "twilio"
    }

    fn ask<'a>(&'a mut self, user: &'a str, request: &'a Value) -> Asking<'a> {
        Box::pin(async move {
            let (method, path, form) = self.form(user, request)?;
            let op = request["op"].as_str().unwrap_or_default();
            if op == "participant.add_non_chat" && self.bound_elsewhere(&path, request).await {
                return None;
            }
            let sent = format!("{method} {path} {form:?}");
            let pairs: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let (status, body) = self.twilio.send(method.clone(), &path, &pairs).await;
            Some(Asked {
                sent,
                answer: twilio_answer(op, &method, status, body),
            })
        })
    }
}

/// A Twilio answer in a session's form, if its status is the one TWILIO §3
/// gives (201 for a create, 204 for a delete, 200 otherwise) and a refusal
/// has Twilio's error body. A created conversation's data names it as a
/// session's answer would.
fn twilio_answer(op: &str, method: &Method, status: u16, body: Value) -> Result<Value, String> {
    let creates = matches!(
        op,
        "conversation.create" | "participant.add" | "participant.add_non_chat" | "message.send"
    );
    if (200..300).contains(&status) {
        let want = match *method {
            Method::DELETE => 204,
            Method::POST if creates => 201,
            _ => 200,
        };
        if status != want {
            return Err(format!("Twilio answered {op} with {status}, not {want}"));
        }
        let data = match (op, body["sid"].as_str()) {
            ("conversation.create", Some(sid)) => {
                json!({"id": uuid_of(sid), "unique_name": body["unique_name"]})
            }
            _ => json!({}),
        };
        return Ok(json!({"ok": true, "data": data}));
    }
    let shaped = body["status"] == status
        && body["code"].is_u64()
        && body["message"].is_string()
        && body["more_info"]
            .as_str()
            .is_some_and(|m| m.ends_with(&body["code"].to_string()));
    // Twilio folds `too_large` into its 400 for other bad input.
    let code = match status {
        400 => Some("bad_request"),
        s => code_of(s),
    };
    match code {
        Some(code) if shaped => {
            Ok(json!({"ok": false, "error": {"code": code, "message": body["message"]}}))
        }
        _ => Err(format!("Twilio refused {op} with {status} and {body}")),
    }
}
