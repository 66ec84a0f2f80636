//! Event and answer frames: serialized once, into an allocation of exactly
//! their size.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::Error;
use crate::model::{CallerFields, Conversation, ConversationId};

use super::{Frame, Reply, RequestId};

/// Encodes an event frame. Conversation events carry `conversation` and `seq`;
/// personal events carry neither, except the conversation they concern when any.
pub fn encode_event<T: Serialize>(
    event: &str,
    conversation: Option<ConversationId>,
    seq: Option<u64>,
    data: &T,
) -> Frame {
    encode_event_at(event, conversation, seq, data).0
}

/// [`encode_event`], and where the frame's `data` starts in it (it runs to
/// the closing brace): a journal that stores a new message takes its record
/// from the `messageAdded` frame, rather than serializing the message twice.
///
/// The frame is `{"event":…,"conversation":…,"seq":…,"data":…}`, written a
/// field at a time so that the place of `data` is known.
pub fn encode_event_at<T: Serialize>(
    event: &str,
    conversation: Option<ConversationId>,
    seq: Option<u64>,
    data: &T,
) -> (Frame, usize) {
    let mut at = 0;
    let json = exact(|buf| {
        head(buf, event, conversation, seq)?;
        at = buf.len();
        serde_json::to_writer(&mut *buf, data)?;
        buf.push(b'}');
        Ok(())
    });
    (utf8_frame(json), at)
}

/// The frame [`encode_event_at`] made, given the bytes its `data` had: how a
/// store that kept a `messageAdded` event as a reference to its message
/// gives back the very bytes first delivered, and where `data` starts in
/// them. None if `data` is not UTF-8.
pub fn event_around(
    event: &str,
    conversation: Option<ConversationId>,
    seq: Option<u64>,
    data: &[u8],
) -> Option<(Frame, usize)> {
    let data = std::str::from_utf8(data).ok()?;
    let mut at = 0;
    let json = exact(|buf| {
        head(buf, event, conversation, seq)?;
        at = buf.len();
        buf.extend_from_slice(data.as_bytes());
        buf.push(b'}');
        Ok(())
    });
    Some((utf8_frame(json), at))
}

/// An event frame up to its `data`: `{"event":…,"conversation":…,"seq":…,"data":`.
fn head(
    buf: &mut Vec<u8>,
    event: &str,
    conversation: Option<ConversationId>,
    seq: Option<u64>,
) -> serde_json::Result<()> {
    buf.extend_from_slice(b"{\"event\":");
    serde_json::to_writer(&mut *buf, event)?;
    if let Some(c) = conversation {
        buf.extend_from_slice(b",\"conversation\":");
        serde_json::to_writer(&mut *buf, &c)?;
    }
    if let Some(seq) = seq {
        buf.extend_from_slice(b",\"seq\":");
        serde_json::to_writer(&mut *buf, &seq)?;
    }
    buf.extend_from_slice(b",\"data\":");
    Ok(())
}

/// A `conversationAdded` or `conversationUpdated` for each recipient, whose
/// conversation carries the recipient's own fields. Those come last in a
/// Conversation, so everything before them is written once and each
/// recipient's frame is that, its own fields, and the rest: a copy, not a
/// serialization of the whole conversation (attributes and metadata of up to
/// 16 KiB each) per member. Recipients one after another whose fields are
/// alike (all of them at creation, those that have read nothing) share one
/// frame; a map of every frame made cost more than it saved when each
/// recipient's fields differ (BENCHMARKS.md, "Unread counts").
pub(crate) struct ConversationFrames<'a> {
    /// The frame's bytes before the caller fields, and after them.
    split: Option<(Vec<u8>, Vec<u8>)>,
    last: Option<(CallerFields, Frame)>,
    conversation: &'a Conversation,
    updated: Option<(u64, &'a [&'a str])>,
}

impl<'a> ConversationFrames<'a> {
    /// `conversationAdded` of `conversation`.
    pub fn added(conversation: &'a Conversation) -> Self {
        Self::new(conversation, None)
    }

    /// Event `seq` of `conversation`, a `conversationUpdated` for `reasons`.
    pub fn updated(conversation: &'a Conversation, seq: u64, reasons: &'a [&'a str]) -> Self {
        Self::new(conversation, Some((seq, reasons)))
    }

    fn new(conversation: &'a Conversation, updated: Option<(u64, &'a [&'a str])>) -> Self {
        ConversationFrames {
            split: split(conversation, updated),
            last: None,
            conversation,
            updated,
        }
    }

    /// The frame for a recipient with these fields of its own.
    pub fn frame(&mut self, own: CallerFields) -> Frame {
        match &self.last {
            Some((o, f)) if *o == own => f.clone(),
            _ => {
                let f = self.make(own);
                self.last = Some((own, f.clone()));
                f
            }
        }
    }

    fn make(&self, own: CallerFields) -> Frame {
        let Some((before, after)) = &self.split else {
            let mut c = self.conversation.clone();
            c.set_caller_fields(own);
            return match self.updated {
                None => encode_event("conversationAdded", Some(c.id), None, &c),
                Some((seq, reasons)) => {
                    let data = serde_json::json!({"conversation": c, "update_reasons": reasons});
                    encode_event("conversationUpdated", Some(c.id), Some(seq), &data)
                }
            };
        };
        let own = json_exact(&own);
        let own = own.get(1..own.len().saturating_sub(1)).unwrap_or_default();
        let mut json = Vec::with_capacity(before.len() + own.len() + after.len() + 1);
        json.extend_from_slice(before);
        json.push(b',');
        json.extend_from_slice(own);
        json.extend_from_slice(after);
        utf8_frame(json)
    }
}

/// The bytes of the frame before the caller fields, and after them.
fn split(c: &Conversation, updated: Option<(u64, &[&str])>) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut before = Vec::new();
    let mut after = b"}".to_vec();
    match updated {
        None => head(&mut before, "conversationAdded", Some(c.id), None).ok()?,
        Some((seq, reasons)) => {
            head(&mut before, "conversationUpdated", Some(c.id), Some(seq)).ok()?;
            before.extend_from_slice(b"{\"conversation\":");
            after.extend_from_slice(b",\"update_reasons\":");
            serde_json::to_writer(&mut after, reasons).ok()?;
            after.push(b'}');
        }
    }
    after.push(b'}');
    serde_json::to_writer(&mut before, c).ok()?;
    // The caller fields are the last four, after every field a user sets,
    // and a string's quotes are escaped: the last `,"status":` is theirs.
    let at = memrchr(&before, b",\"status\":")?;
    before.truncate(at);
    Some((before, after))
}

/// Where `needle` last starts in `hay`.
fn memrchr(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// The `data` of a frame made by [`encode_event_at`], given where it starts.
pub fn event_data(frame: &Frame, at: usize) -> Option<&[u8]> {
    let bytes = frame.as_str().as_bytes();
    bytes.get(at..bytes.len().checked_sub(1)?)
}

/// A frame of exactly its bytes: spare capacity would stay allocated as long
/// as any outbox holds the frame, beyond what outbox budgets count.
fn frame<T: Serialize>(v: &T) -> Frame {
    utf8_frame(json_exact(v))
}

fn utf8_frame(json: Vec<u8>) -> Frame {
    // serde_json writes UTF-8 only.
    Frame::from(String::from_utf8(json).unwrap_or_default())
}

/// The JSON of `v`, in an allocation of exactly its size.
pub(crate) fn json_exact<T: Serialize>(v: &T) -> Vec<u8> {
    exact(|buf| serde_json::to_writer(buf, v))
}

/// What `write` puts in a buffer, copied into an allocation of exactly its
/// size (empty if writing failed, which serializing our own types cannot:
/// they have no non-string map keys).
///
/// It is written into a buffer each thread keeps, then copied once. A fresh
/// buffer grew 128 → 256 → 512 → 1,024 bytes for a typical event, and glibc
/// serves a request of 1 KiB or more only after merging all its small free
/// chunks, which slows every small allocation after it.
fn exact(write: impl FnOnce(&mut Vec<u8>) -> serde_json::Result<()>) -> Vec<u8> {
    /// A buffer grown past this by a large frame is let go, not kept.
    const KEEP: usize = 64 * 1024;
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            let out = match write(&mut buf) {
                Ok(()) => buf.to_vec(),
                Err(_) => Vec::new(),
            };
            if buf.capacity() > KEEP {
                *buf = Vec::new();
            }
            out
        }
        // The scratch buffer is in use further up this thread's stack.
        Err(_) => {
            let mut buf = Vec::new();
            match write(&mut buf) {
                Ok(()) => buf,
                Err(_) => Vec::new(),
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Identity, LastMessage, NotificationLevel, State, StateInfo, Status};
    use serde_json::json;

    fn conversation() -> Conversation {
        let attributes = json!({"status": "x\",\"status\":1", "nested": {"status": [1, 2]}});
        let metadata = json!({"status": "open", "n": 3});
        Conversation {
            id: ConversationId::new(),
            unique_name: Some(",\"status\":".into()),
            friendly_name: Some("office".into()),
            avatar_url: None,
            attributes,
            metadata: metadata.as_object().cloned().unwrap_or_default(),
            created_by: Identity::parse("alice", 256).ok(),
            direct: false,
            created_at: 1,
            updated_at: 2,
            last_message_at: Some(3),
            last_message: Some(LastMessage {
                index: 4,
                created_at: 3,
            }),
            state: StateInfo {
                current: State::Active,
                updated_at: 1,
            },
            participants_count: 2,
            messages_count: 5,
            status: Status::NotParticipating,
            notification_level: NotificationLevel::Default,
            last_read_message_index: None,
            unread_messages_count: 0,
        }
    }

    /// Each recipient's frame reads as the whole event serialized for it,
    /// though its conversation's attributes, metadata and unique name hold
    /// `"status"` keys and text.
    #[test]
    fn conversation_frames_read_as_the_event_made_for_each_recipient() {
        let base = conversation();
        let reasons = ["friendly_name", "attributes"];
        for own in [
            CallerFields {
                status: Status::Joined,
                notification_level: NotificationLevel::Muted,
                last_read_message_index: Some(2),
                unread_messages_count: 2,
            },
            CallerFields {
                status: Status::Joined,
                notification_level: NotificationLevel::Default,
                last_read_message_index: None,
                unread_messages_count: 5,
            },
        ] {
            let mut c = base.clone();
            c.set_caller_fields(own);
            let updated = json!({"event": "conversationUpdated", "conversation": base.id, "seq": 9,
                                 "data": {"conversation": c, "update_reasons": reasons}});
            let added = json!({"event": "conversationAdded", "conversation": base.id, "data": c});
            for (mut frames, want) in [
                (ConversationFrames::updated(&base, 9, &reasons), updated),
                (ConversationFrames::added(&base), added),
            ] {
                assert!(frames.split.is_some());
                let got: Value = serde_json::from_str(frames.frame(own).as_str()).unwrap();
                assert_eq!(got, want);
                let whole = ConversationFrames {
                    split: None,
                    ..frames
                };
                let got: Value = serde_json::from_str(whole.make(own).as_str()).unwrap();
                assert_eq!(got, want);
            }
        }
    }
}
