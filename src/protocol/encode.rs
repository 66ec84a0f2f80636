//! Event and answer frames: serialized once, into an allocation of exactly
//! their size.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::Error;
use crate::model::ConversationId;

use super::{Frame, Reply, RequestId};

#[derive(Serialize)]
struct EventOut<'a, T: Serialize> {
    event: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    conversation: Option<ConversationId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    data: &'a T,
}

/// Encodes an event frame. Conversation events carry `conversation` and `seq`;
/// personal events carry neither, except the conversation they concern when any.
pub fn encode_event<T: Serialize>(
    event: &str,
    conversation: Option<ConversationId>,
    seq: Option<u64>,
    data: &T,
) -> Frame {
    let out = EventOut {
        event,
        conversation,
        seq,
        data,
    };
    frame(&out)
}

/// A frame of exactly its bytes: spare capacity would stay allocated as long
/// as any outbox holds the frame, beyond what outbox budgets count.
fn frame<T: Serialize>(v: &T) -> Frame {
    let json = json_exact(v);
    // serde_json writes UTF-8 only.
    Frame::from(String::from_utf8(json).unwrap_or_default())
}

/// The JSON of `v`, in an allocation of exactly its size.
///
/// It is written into a buffer each thread keeps, then copied once. A fresh
/// buffer grew 128 → 256 → 512 → 1,024 bytes for a typical event, and glibc
/// serves a request of 1 KiB or more only after merging all its small free
/// chunks, which slows every small allocation after it.
pub(crate) fn json_exact<T: Serialize>(v: &T) -> Vec<u8> {
    /// A buffer grown past this by a large frame is let go, not kept.
    const KEEP: usize = 64 * 1024;
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    // Serializing our own types cannot fail (no non-string map keys).
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            if serde_json::to_writer(&mut *buf, v).is_err() {
                buf.clear();
            }
            let out = buf.to_vec();
            if buf.capacity() > KEEP {
                *buf = Vec::new();
            }
            out
        }
        Err(_) => serde_json::to_vec(v).unwrap_or_default(),
    })
}

#[derive(Serialize)]
struct AnswerOut<'a> {
    re: Option<&'a RawValue>,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Reply>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Value>,
}

/// Encodes the answer to a request: `{"re":…,"ok":true,"data":…}` or the error form.
pub fn encode_answer(re: &RequestId, result: &Result<Reply, Error>) -> Frame {
    let out = AnswerOut {
        re: re.as_deref(),
        ok: result.is_ok(),
        data: result.as_ref().ok(),
        error: result.as_ref().err().map(Error::to_json),
    };
    frame(&out)
}
