//! The wire format: client requests, answers and event frames (`PROTOCOL.md` §3-§5).
//!
//! This is the only module that knows the JSON shape of requests and frames.
//! [`parse_request`] turns a client's text frame into a typed [`Request`] (the
//! ops in `ops.rs`, their fields in `fields.rs`), and [`Request::route`] says
//! where it runs; an op answers a typed [`Reply`] (`reply.rs`).
//! [`encode_event`] and [`encode_answer`] (`encode.rs`) produce [`Frame`]s,
//! serialized once and shared by reference count with every recipient.

mod encode;
mod fields;
mod ops;
mod reply;
#[cfg(test)]
mod tests;

pub use encode::{encode_answer, encode_event};
pub(crate) use encode::{
    encode_event_at, event_around, event_data, json_exact, ConversationFrames,
};
pub use fields::*;
pub use ops::*;
pub use reply::*;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::Error;

pub use crate::frame::{Encoding, Frame};

/// `conversation`: an id or a unique name.
pub type ConversationRef = String;
/// `participant`: a participant id or an identity.
pub type ParticipantRef = String;

/// `message`: a message id (string) or index (integer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum MessageRef {
    /// By index.
    Index(u64),
    /// By id.
    Id(String),
}

impl<'de> Deserialize<'de> for MessageRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(MessageRef::Id(s)),
            n => whole_number(&n).map(MessageRef::Index).ok_or_else(|| {
                serde::de::Error::custom("a message is an index (integer) or an id (string)")
            }),
        }
    }
}

/// A non-negative integer, written as JSON writes integers: `7`, or `7.0`
/// (JSON has one number type; JSON Schema counts `7.0` as an integer).
pub fn whole_number(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let f = v.as_f64()?;
    // Below 2^53 every whole f64 is exact.
    (f >= 0.0 && f.fract() == 0.0 && f < 9_007_199_254_740_992.0).then_some(f as u64)
}

/// Deserializes a field that is present (null included) into `Some(..)`, so that
/// `Option<Option<T>>` tells "absent" from "null".
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A request's `id` exactly as the client wrote it: a number of any size or
/// precision, or a string. Echoed as `re` byte for byte; None answers `re: null`.
pub type RequestId = Option<Box<RawValue>>;

/// The `id` of a client frame, when it has a number or string one.
pub fn request_id(text: &[u8]) -> RequestId {
    read_id(text).ok().flatten()
}

/// The `id` of a client frame: none when absent or null (or when the frame is
/// not an object); an error when it is there with another type (`true`, `{}`).
fn read_id(text: &[u8]) -> Result<RequestId, ()> {
    #[derive(Deserialize)]
    struct IdOf<'a> {
        #[serde(borrow, default)]
        id: Option<&'a RawValue>,
    }
    // Only an object has an `id` (serde would also read a struct from an array).
    if text.trim_ascii_start().first() != Some(&b'{') {
        return Ok(None);
    }
    let Some(id) = serde_json::from_slice::<IdOf>(text).ok().and_then(|f| f.id) else {
        return Ok(None);
    };
    match id.get().as_bytes().first() {
        Some(b'"' | b'-' | b'0'..=b'9') => Ok(Some(id.to_owned())),
        _ => Err(()),
    }
}

/// Parses one client text frame into its correlation id and request.
///
/// On failure the error carries the `id` when one could be read, so the answer
/// can still name it (`re`), or null.
pub fn parse_request(text: &[u8]) -> Result<(RequestId, Request), (RequestId, Error)> {
    let Ok(id) = read_id(text) else {
        return Err((None, Error::bad("`id` must be a number or a string")));
    };
    // Straight from the bytes first: through a `Value` costs eight more
    // allocations per request. Only what this refuses takes the way below,
    // which words the error (and reads a key written twice as its last value,
    // as a `Value` does). Only an object: serde would also read a tagged enum
    // from an array.
    if text.trim_ascii_start().first() == Some(&b'{') {
        if let Ok(req) = serde_json::from_slice::<Request>(text) {
            return Ok((id, req));
        }
    }
    let value: Value = match serde_json::from_slice(text) {
        Ok(v) => v,
        Err(e) => return Err((id, Error::bad(format!("not JSON: {e}")))),
    };
    match Request::from_json(&value) {
        Ok(req) => Ok((id, req)),
        Err(e) => Err((id, e)),
    }
}

/// An event as a client sees it, parsed back from a frame.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Event {
    /// The event name, e.g. `messageAdded`.
    pub event: String,
    /// The conversation it concerns (conversation events, typing).
    #[serde(default)]
    pub conversation: Option<String>,
    /// Its place in the conversation's sequence (conversation events only).
    #[serde(default)]
    pub seq: Option<u64>,
    /// Its payload (`{}` when a compact frame left it out).
    #[serde(default = "crate::model::empty_object")]
    pub data: Value,
}

impl Event {
    /// Parses an event frame.
    pub fn parse(frame: &str) -> Result<Event, Error> {
        serde_json::from_str(frame).map_err(|e| Error::Internal(format!("bad event frame: {e}")))
    }
}
