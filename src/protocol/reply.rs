//! What an op answers, typed.

use serde::Serialize;
use serde_json::Value;

use crate::model::{Conversation, Message, MessageId, Millis, Page, Participant, ReactionId, User};

/// What an op answers, typed: the `data` of its wire answer and REST's body,
/// serialized as the contract's objects (`PROTOCOL.md` §4).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Reply {
    /// `{}`: done, nothing more to say.
    Done(Done),
    /// `ping`.
    Pong {
        /// Always true.
        pong: bool,
    },
    /// A Conversation as the caller sees it.
    Conversation(Box<Conversation>),
    /// `conversation.list`.
    Conversations(Page<Conversation>),
    /// A Participant.
    Participant(Box<Participant>),
    /// `participant.list`.
    Participants(Page<Participant>),
    /// A Message.
    Message(Box<Message>),
    /// `message.list` and `message.feed`.
    Messages(Page<Message>),
    /// `message.send`: the message's id, index and time.
    Sent {
        /// Its id.
        id: MessageId,
        /// Its index.
        index: u64,
        /// When it was stored.
        created_at: Millis,
    },
    /// `participant.count` and `message.count`.
    Count {
        /// How many.
        count: usize,
    },
    /// The read ops and `unread.count`.
    Unread {
        /// The caller's exact unread count.
        unread_messages_count: u64,
    },
    /// `reaction.add`: the reaction's id.
    Reaction {
        /// Its id.
        id: ReactionId,
    },
    /// `events.replay`.
    Replayed {
        /// Whether every event after `since_seq` was held (and sent again).
        recovered: bool,
        /// The conversation's last seq.
        last_seq: u64,
    },
    /// `presence.get`.
    Presence {
        /// One User per identity asked for.
        items: Vec<User>,
    },
    /// `user.update`: the caller's User.
    User(Box<User>),
}

/// The empty answer `{}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Done {}

impl Reply {
    /// `{}`.
    pub const DONE: Reply = Reply::Done(Done {});

    /// The answer as JSON, as the wire carries it.
    pub fn to_json(&self) -> Value {
        // Our own types always serialize (no non-string map keys).
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}
