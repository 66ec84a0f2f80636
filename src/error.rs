//! The one error type of the engine, and its mapping to the contract's codes.
//!
//! Every failure a client can see is an [`Error`]; its [`ErrorCode`] is the
//! `code` of the wire answer and decides the HTTP status. Nothing else in the
//! crate maps errors to codes.

use serde::Serialize;

/// The error codes of `PROTOCOL.md` §6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed or a value is out of range.
    BadRequest,
    /// No valid credential.
    Unauthorized,
    /// The caller may not do this.
    Forbidden,
    /// The named thing does not exist.
    NotFound,
    /// The request clashes with the current state.
    Conflict,
    /// A size limit was exceeded.
    TooLarge,
    /// The caller sent too many requests.
    RateLimited,
    /// The server failed.
    Internal,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status that REST answers with for this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::TooLarge => 413,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal => 500,
        }
    }
}

/// A failed request: a contract code and a message for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// See [`ErrorCode::BadRequest`].
    #[error("bad request: {0}")]
    BadRequest(String),
    /// See [`ErrorCode::Unauthorized`].
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// See [`ErrorCode::Forbidden`].
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// See [`ErrorCode::NotFound`].
    #[error("not found: {0}")]
    NotFound(String),
    /// See [`ErrorCode::Conflict`].
    #[error("conflict: {0}")]
    Conflict(String),
    /// A conflict of one kind: the conversation is closed. On the wire it is a
    /// `conflict` like any other; the Twilio face tells it apart (50377).
    #[error("conflict: {0}")]
    Closed(String),
    /// A conflict of one kind: an exclusive binding's pair is bound in a
    /// conversation that is not closed (this one or another), the one named.
    /// On the wire a `conflict`; the Twilio face answers 50416 naming it.
    #[error("conflict: {0}")]
    BindingHeld(String, uuid::Uuid),
    /// See [`ErrorCode::TooLarge`].
    #[error("too large: {0}")]
    TooLarge(String),
    /// See [`ErrorCode::RateLimited`].
    #[error("rate limited: {0}")]
    RateLimited(String),
    /// See [`ErrorCode::Internal`].
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    /// The contract code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::BadRequest(_) => ErrorCode::BadRequest,
            Error::Unauthorized(_) => ErrorCode::Unauthorized,
            Error::Forbidden(_) => ErrorCode::Forbidden,
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::Conflict(_) | Error::Closed(_) | Error::BindingHeld(..) => ErrorCode::Conflict,
            Error::TooLarge(_) => ErrorCode::TooLarge,
            Error::RateLimited(_) => ErrorCode::RateLimited,
            Error::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The message for a person, without the code.
    pub fn message(&self) -> &str {
        match self {
            Error::BadRequest(m)
            | Error::Unauthorized(m)
            | Error::Forbidden(m)
            | Error::NotFound(m)
            | Error::Conflict(m)
            | Error::Closed(m)
            | Error::BindingHeld(m, _)
            | Error::TooLarge(m)
            | Error::RateLimited(m)
            | Error::Internal(m) => m,
        }
    }

    pub(crate) fn bad(m: impl Into<String>) -> Self {
        Error::BadRequest(m.into())
    }
    pub(crate) fn forbidden(m: impl Into<String>) -> Self {
        Error::Forbidden(m.into())
    }
    pub(crate) fn not_found(m: impl Into<String>) -> Self {
        Error::NotFound(m.into())
    }
    pub(crate) fn conflict(m: impl Into<String>) -> Self {
        Error::Conflict(m.into())
    }
    pub(crate) fn closed() -> Self {
        Error::Closed("the conversation is closed".into())
    }
    pub(crate) fn too_large(m: impl Into<String>) -> Self {
        Error::TooLarge(m.into())
    }

    /// The `{"code":…,"message":…}` object of wire answers and REST bodies.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"code": self.code().as_str(), "message": self.message()})
    }
}

/// A conversation actor went away between lookup and answer: it was deleted.
impl From<actix::MailboxError> for Error {
    fn from(_: actix::MailboxError) -> Self {
        Error::NotFound("conversation not found (it was deleted)".into())
    }
}

/// The result type of the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;
