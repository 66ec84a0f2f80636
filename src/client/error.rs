//! Errors of the client.

use std::time::Duration;

use crate::error::{Error, ErrorCode};

/// Why a client call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error of the contract.
    #[error(transparent)]
    Api(#[from] Error),
    /// No answer came within the request timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection dropped before the answer came (the request may or may not
    /// have run; `client_id` makes a resend of `message.send` safe).
    #[error("the connection dropped before the answer came")]
    Disconnected,
    /// The client was closed.
    #[error("the client is closed")]
    Closed,
    /// The connection could not be made (or was refused, with its HTTP status).
    #[error("could not connect: {0}")]
    Connect(String),
    /// The server answered something this client does not understand.
    #[error("unexpected answer: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The contract code, when the server answered with an error.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api(e) => Some(e.code()),
            _ => None,
        }
    }

    /// Maps a wire error object (`{"code":…,"message":…}`) to an error.
    pub(crate) fn from_wire(e: &serde_json::Value) -> ClientError {
        let message = e["message"].as_str().unwrap_or_default().to_string();
        ClientError::Api(match e["code"].as_str().unwrap_or_default() {
            "bad_request" => Error::BadRequest(message),
            "unauthorized" => Error::Unauthorized(message),
            "forbidden" => Error::Forbidden(message),
            "not_found" => Error::NotFound(message),
            "conflict" => Error::Conflict(message),
            "too_large" => Error::TooLarge(message),
            "rate_limited" => Error::RateLimited(message),
            _ => Error::Internal(message),
        })
    }
}

/// The result type of the client.
pub type ClientResult<T> = std::result::Result<T, ClientError>;
