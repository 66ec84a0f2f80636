//! Kept events as the store writes them, and the `messageAdded` events it
//! holds as a reference to their message rather than a copy of it.
//!
//! A `messageAdded` frame is its head (event, conversation, seq) around the
//! message's JSON, and the message's record is that same JSON. Written out
//! whole, every new message went to disk twice: the data dir was twice its
//! size, and the fold spent a fifth of its work on the copy
//! (`docs/BENCHMARKS.md`, "Each message written once"). So the event is
//! written as the message's index, and read back as the head around the
//! message's record.
//!
//! That holds only while the record is what the event announced. When a
//! message changes, is deleted or is evicted while its `messageAdded` is
//! still in the replay window, the same batch writes the event out whole
//! ([`AddedRefs`] says which events need it). A reference that still does not
//! match its record when read back (it cannot happen unless the files were
//! altered) ends the replay window after it rather than replaying wrong bytes.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::events::Stored;
use crate::model::{Conversation, ConversationId};
use crate::protocol::{event_around, Frame};

/// A frame, as first delivered.
const SHARED_FRAME: u8 = 0;
/// A `conversationUpdated`, rendered per user on replay.
const UPDATED: u8 = 1;
/// A `messageAdded` whose message is its record: the index, then the
/// record's length (little-endian u64, u32).
const ADDED: u8 = 2;

/// A kept `conversationUpdated`, as stored.
#[derive(Serialize, Deserialize)]
struct Updated {
    conversation: Conversation,
    reasons: Vec<String>,
}

/// The update reasons of `conversationUpdated`, as the static strings events carry.
const REASONS: [&str; 6] = [
    "friendly_name",
    "unique_name",
    "attributes",
    "metadata",
    "avatar_url",
    "state",
];

/// The record of a kept event, whole.
pub(super) fn encode(e: &Stored) -> Vec<u8> {
    match e {
        Stored::Shared(f) | Stored::Added { frame: f, .. } => {
            let mut v = Vec::with_capacity(f.len() + 1);
            v.push(SHARED_FRAME);
            v.extend_from_slice(f.as_bytes());
            v
        }
        Stored::ConversationUpdated {
            conversation,
            reasons,
        } => {
            let mut v = vec![UPDATED];
            v.extend(crate::protocol::json_exact(&Updated {
                conversation: (**conversation).clone(),
                reasons: reasons.iter().map(|r| r.to_string()).collect(),
            }));
            v
        }
    }
}

/// The record of a `messageAdded` whose message `index` is stored as
/// `message` (the JSON its frame carries).
pub(super) fn encode_added(index: u64, message: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(13);
    v.push(ADDED);
    v.extend_from_slice(&index.to_le_bytes());
    v.extend_from_slice(&(message.len() as u32).to_le_bytes());
    v
}

/// An event record read back.
pub(super) enum Decoded {
    Event(Stored),
    /// A `messageAdded` rebuilt around its message's record.
    Added(u64, Stored),
    /// A `messageAdded` whose message's record is gone or is not what the
    /// event announced.
    Unmatched(u64),
}

/// Reads back the record of event `seq` of conversation `id`; `message`
/// finds a message's record by index.
pub(super) fn decode<'a>(
    b: &[u8],
    id: ConversationId,
    seq: u64,
    message: impl Fn(u64) -> Option<&'a [u8]>,
) -> Result<Decoded, String> {
    match b.split_first() {
        Some((&SHARED_FRAME, rest)) => {
            let s = std::str::from_utf8(rest).map_err(|e| e.to_string())?;
            Ok(Decoded::Event(Stored::Shared(Frame::from(s))))
        }
        Some((&UPDATED, rest)) => {
            let u: Updated = serde_json::from_slice(rest).map_err(|e| e.to_string())?;
            Ok(Decoded::Event(Stored::ConversationUpdated {
                conversation: Box::new(u.conversation),
                reasons: u
                    .reasons
                    .iter()
                    .filter_map(|r| REASONS.iter().find(|k| *k == r).copied())
                    .collect(),
            }))
        }
        Some((&ADDED, rest)) => {
            let (index, len) = rest
                .split_first_chunk::<8>()
                .and_then(|(i, r)| Some((u64::from_le_bytes(*i), r.first_chunk::<4>()?)))
                .ok_or("a messageAdded record cut short")?;
            let len = u32::from_le_bytes(*len) as usize;
            let frame = message(index)
                .filter(|m| m.len() == len)
                .and_then(|m| event_around("messageAdded", Some(id), Some(seq), m));
            Ok(match frame {
                Some((frame, at)) => Decoded::Added(index, Stored::Added { frame, index, at }),
                None => Decoded::Unmatched(index),
            })
        }
        _ => Err("an event record of unknown kind".into()),
    }
}

/// The `messageAdded` events in the replay window that the store holds as a
/// reference to their message, as (seq, message index), oldest first. Both
/// rise together: a later event announces a later message.
#[derive(Debug, Default)]
pub(crate) struct AddedRefs(VecDeque<(u64, u64)>);

impl AddedRefs {
    pub fn push(&mut self, seq: u64, index: u64) {
        self.0.push_back((seq, index));
    }

    /// Forgets the events below `seq`: they left the replay window.
    pub fn forget_below(&mut self, seq: u64) {
        while self.0.front().is_some_and(|(s, _)| *s < seq) {
            self.0.pop_front();
        }
    }

    /// The seq of the event stored as a reference to message `index`, which
    /// is now to be written out whole; forgotten here.
    pub fn take(&mut self, index: u64) -> Option<u64> {
        let at = self.0.binary_search_by_key(&index, |(_, i)| *i).ok()?;
        self.0.remove(at).map(|(seq, _)| seq)
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> ConversationId {
        ConversationId(uuid::Uuid::nil())
    }

    #[test]
    fn a_reference_reads_back_as_the_frame_first_delivered() {
        let message = serde_json::json!({"index": 4, "body": "hi"});
        let (frame, at) =
            crate::protocol::encode_event_at("messageAdded", Some(id()), Some(9), &message);
        let json = crate::protocol::event_data(&frame, at).unwrap().to_vec();
        let record = encode_added(4, &json);
        assert_eq!(record.len(), 13);
        let read = decode(&record, id(), 9, |i| (i == 4).then_some(&json[..]));
        match read {
            Ok(Decoded::Added(
                4,
                Stored::Added {
                    frame: f,
                    index,
                    at: a,
                },
            )) => {
                assert_eq!(f.as_str(), frame.as_str());
                assert_eq!((index, a), (4, at));
            }
            _ => panic!("not read back as the frame"),
        }
    }

    #[test]
    fn a_reference_to_a_missing_or_changed_message_is_unmatched() {
        let record = encode_added(4, br#"{"index":4,"body":"hi"}"#);
        let gone = decode(&record, id(), 9, |_| None);
        assert!(matches!(gone, Ok(Decoded::Unmatched(4))));
        let changed = br#"{"index":4,"body":"edited"}"#;
        let other = decode(&record, id(), 9, |_| Some(&changed[..]));
        assert!(matches!(other, Ok(Decoded::Unmatched(4))));
        for cut in 1..record.len() {
            assert!(decode(&record[..cut], id(), 9, |_| None).is_err(), "{cut}");
        }
        assert!(decode(&[], id(), 9, |_| None).is_err());
    }

    #[test]
    fn refs_are_found_by_index_taken_once_and_forgotten_with_the_window() {
        let mut r = AddedRefs::default();
        for (seq, index) in [(3, 0), (5, 1), (6, 2), (9, 3)] {
            r.push(seq, index);
        }
        assert_eq!(r.take(1), Some(5));
        assert_eq!(r.take(1), None, "taken once");
        r.forget_below(7);
        assert_eq!(r.take(0), None, "left the window");
        assert_eq!(r.take(2), None, "left the window");
        assert_eq!(r.take(3), Some(9));
    }
}
