//! Twilio's wire rules (`TWILIO.md` §3): form parameters, SIDs, dates, the
//! error body, and list pages with absolute paging URLs.

use std::sync::OnceLock;

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::model::Millis;

/// Twilio's error codes that colloquy answers with.
pub(crate) mod code {
    pub const AUTHENTICATE: u32 = 20003;
    pub const NOT_FOUND: u32 = 20404;
    pub const RATE_LIMITED: u32 = 20429;
    pub const INTERNAL: u32 = 20500;
    pub const BAD_REQUEST: u32 = 400;
    pub const USER_EXISTS: u32 = 50201;
    pub const BAD_CONVERSATION_ATTRIBUTES: u32 = 50304;
    pub const UNIQUE_NAME_TAKEN: u32 = 50353;
    pub const CONVERSATION_CLOSED: u32 = 50377;
    pub const BINDING_EXISTS: u32 = 50416;
    pub const PARTICIPANT_EXISTS: u32 = 50433;
    pub const MESSAGE_EMPTY: u32 = 50503;
}

/// A refused Twilio request. Every one is answered before anything changed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TwilioError {
    /// A Twilio error: HTTP status, Twilio code, a message for a person.
    #[error("{status} ({code}): {message}")]
    Api {
        status: u16,
        code: u32,
        message: String,
    },
    /// Something Twilio has that colloquy does not emulate: 501 without a code.
    #[error("{0} is not emulated by colloquy")]
    NotEmulated(String),
}

pub(crate) type TwResult<T> = Result<T, TwilioError>;

impl TwilioError {
    pub fn new(status: u16, code: u32, message: impl Into<String>) -> Self {
        TwilioError::Api {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad(message: impl Into<String>) -> Self {
        Self::new(400, code::BAD_REQUEST, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            404,
            code::NOT_FOUND,
            format!("The requested resource {what} was not found"),
        )
    }

    /// Twilio's refusal of an SMS binding that conversation `holder` has:
    /// backends read the holder's sid from the message.
    pub fn binding_held(holder: impl std::fmt::Display) -> Self {
        Self::new(
            409,
            code::BINDING_EXISTS,
            format!(
                "A binding for this participant and proxy address already exists in Conversation {}",
                sid("CH", holder)
            ),
        )
    }

    pub fn unauthenticated() -> Self {
        Self::new(401, code::AUTHENTICATE, "Authenticate")
    }

    /// An engine error, where a `conflict` means `conflict_code` (the one
    /// clash the op can have: unique name taken, participant already there …).
    pub fn engine(e: Error, conflict_code: u32) -> Self {
        match e {
            Error::NotFound(m) | Error::Forbidden(m) => Self::new(404, code::NOT_FOUND, m),
            Error::Conflict(m) => Self::new(409, conflict_code, m),
            Error::Closed(m) => Self::new(409, code::CONVERSATION_CLOSED, m),
            Error::BindingHeld(_, holder) => Self::binding_held(holder),
            Error::BadRequest(m) | Error::TooLarge(m) => Self::bad(m),
            Error::Unauthorized(_) => Self::unauthenticated(),
            Error::RateLimited(m) => Self::new(429, code::RATE_LIMITED, m),
            Error::Internal(m) => Self::new(500, code::INTERNAL, m),
        }
    }

    /// The HTTP answer: Twilio's error JSON.
    pub fn response(&self) -> HttpResponse {
        let (status, body) = match self {
            TwilioError::Api {
                status,
                code,
                message,
            } => (
                *status,
                json!({"code": code, "message": message, "status": status,
                       "more_info": format!("https://www.twilio.com/docs/errors/{code}")}),
            ),
            TwilioError::NotEmulated(what) => (
                501,
                json!({"message": format!("{what} is not emulated by colloquy"), "status": 501}),
            ),
        };
        let mut r = HttpResponse::build(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        );
        if status == 401 {
            r.insert_header(("WWW-Authenticate", "Basic realm=\"Twilio API\""));
        }
        r.json(body)
    }
}

/// The parameters of one request: the query, then a form body. Repeated keys
/// stay repeated (`Participant`), dotted names are literal (`Timers.Closed`).
#[derive(Debug, Default)]
pub(crate) struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn parse(query: &str, body: &[u8]) -> TwResult<Params> {
        let mut all: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| TwilioError::bad(format!("the query string is not form-encoded: {e}")))?;
        if !body.iter().all(u8::is_ascii_whitespace) {
            let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
                .map_err(|e| TwilioError::bad(format!("the body is not form-encoded: {e}")))?;
            all.extend(form);
        }
        Ok(Params(all))
    }

    /// The last value of `name` (a repeated scalar: the last one wins).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// Every value of a repeated key, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Refuses the first parameter that colloquy does not emulate.
    pub fn refuse(&self, names: &[&str]) -> TwResult<()> {
        match names.iter().find(|n| self.has(n)) {
            Some(n) => Err(TwilioError::NotEmulated(format!("the parameter {n}"))),
            None => Ok(()),
        }
    }

    /// `Attributes` as JSON (any JSON value), if given.
    pub fn attributes(&self, bad_code: u32) -> TwResult<Option<Value>> {
        self.get("Attributes")
            .map(|a| {
                serde_json::from_str(a).map_err(|e| {
                    TwilioError::new(400, bad_code, format!("Attributes is not valid JSON: {e}"))
                })
            })
            .transpose()
    }

    /// An integer parameter, if given.
    pub fn number(&self, name: &str) -> TwResult<Option<u64>> {
        self.get(name)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| TwilioError::bad(format!("{name} must be a whole number")))
            })
            .transpose()
    }
}

/// `attributes` as Twilio writes them: a string of compact JSON.
pub(crate) fn attributes_out(v: &Value) -> String {
    v.to_string()
}

/// A date parameter (`name`) as whole seconds since the epoch: an instant
/// (RFC 3339, `YYYY-MM-DDTHH:MM:SSZ`), or a day (`YYYY-MM-DD`), read as its
/// first second, or its last when `end_of_day`.
pub(crate) fn seconds(name: &str, value: &str, end_of_day: bool) -> TwResult<u64> {
    use time::format_description::well_known::Rfc3339;
    let day = time::macros::format_description!("[year]-[month]-[day]");
    let at = match time::OffsetDateTime::parse(value, &Rfc3339) {
        Ok(t) => t.unix_timestamp(),
        Err(_) => {
            let d = time::Date::parse(value, &day).map_err(|_| {
                TwilioError::bad(format!(
                    "{name} must be a date (YYYY-MM-DD) or a time (YYYY-MM-DDTHH:MM:SSZ), not {value:?}"
                ))
            })?;
            let first = d.midnight().assume_utc().unix_timestamp();
            if end_of_day {
                first + 86_399
            } else {
                first
            }
        }
    };
    Ok(u64::try_from(at).unwrap_or(0))
}

/// A date as Twilio writes it: UTC, whole seconds, `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn date(ms: Millis) -> Value {
    let secs = i64::try_from(ms / 1000).unwrap_or(i64::MAX);
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .map_or(Value::Null, Value::String)
}

/// `prefix` + the 32 hex digits of a UUID: CH, MB, IM and ME sids.
pub(crate) fn sid(prefix: &str, uuid: impl std::fmt::Display) -> String {
    let hex: String = uuid.to_string().chars().filter(|c| *c != '-').collect();
    format!("{prefix}{hex}")
}

/// The UUID a `prefix` sid stands for, dashed as colloquy writes it; None when
/// `s` is not such a sid (then it may be a unique name or an identity).
pub(crate) fn uuid_of(prefix: &str, s: &str) -> Option<String> {
    let hex = s.strip_prefix(prefix)?;
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let h = hex.to_ascii_lowercase();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

/// `prefix` + 32 hex digits of SHA-256 of `seed`: stable sids for users
/// (seeded by identity), the service and the roles.
pub(crate) fn hashed_sid(prefix: &str, seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{hex}")
}

/// Whether `s` looks like an account sid: `AC` + 32 hex digits.
pub(crate) fn is_account_sid(s: &str) -> bool {
    s.len() == 34 && s.starts_with("AC") && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The one chat service colloquy has.
pub(crate) fn service_sid() -> &'static str {
    static SID: OnceLock<String> = OnceLock::new();
    SID.get_or_init(|| hashed_sid("IS", "colloquy default chat service"))
}

/// A US sid for an identity.
pub(crate) fn user_sid(identity: &str) -> String {
    hashed_sid("US", &format!("user:{identity}"))
}
