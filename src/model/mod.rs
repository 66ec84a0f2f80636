//! The domain objects of the contract (`PROTOCOL.md` §2), as plain data.
//!
//! These are what the engine stores and what goes on the wire: their serde form
//! is the contract's JSON form.

mod ids;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub(crate) use ids::check_name;
pub(crate) use ids::with_stamp;
pub use ids::{
    ConversationId, Identity, MediaId, MessageId, ParticipantId, ReactionId, SessionId, Stamp,
};

/// Milliseconds since the Unix epoch.
pub type Millis = u64;

/// The wall clock, in milliseconds since the Unix epoch.
pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A participant's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May add admins, remove others, change roles and delete the conversation.
    Admin,
    /// Everyone else.
    Member,
}

/// Whether a participant takes part in realtime chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParticipantKind {
    /// A user with an identity and sessions.
    Chat,
    /// An SMS-style binding: no identity, no realtime events.
    NonChat,
}

/// The address pair of a non-chat participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessagingBinding {
    /// The address the service sends from.
    pub proxy_address: String,
    /// The participant's own address.
    pub address: String,
}

/// A participant of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Participant {
    /// Its id.
    pub id: ParticipantId,
    /// The user; null for a non-chat participant.
    pub identity: Option<Identity>,
    /// The conversation it belongs to.
    pub conversation_id: ConversationId,
    /// Its role.
    pub role: Role,
    /// Chat or non-chat.
    pub kind: ParticipantKind,
    /// Free JSON.
    #[schema(value_type = Value)]
    #[serde(default = "empty_object")]
    pub attributes: Value,
    /// When it joined.
    pub joined_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
    /// Its read horizon.
    pub last_read_message_index: Option<u64>,
    /// When its read horizon last moved.
    pub last_read_at: Option<Millis>,
    /// For a non-chat participant, its addresses.
    pub messaging_binding: Option<MessagingBinding>,
    /// Its own notification level (shown on the Conversation, not here).
    #[serde(skip)]
    pub notification_level: NotificationLevel,
}

/// A participant's notification level for a conversation.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum NotificationLevel {
    /// Notified as usual.
    #[default]
    Default,
    /// Not notified.
    Muted,
}

/// A conversation's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// In use.
    Active,
    /// Idle, still usable.
    Inactive,
    /// Refuses new messages and joins.
    Closed,
}

/// `state` of a Conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StateInfo {
    /// The state.
    pub current: State,
    /// When it was set.
    pub updated_at: Millis,
}

/// `last_message` of a Conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LastMessage {
    /// Index of the last chat message.
    pub index: u64,
    /// When it was sent.
    pub created_at: Millis,
}

/// The caller's part in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A participant.
    Joined,
    /// Not a participant (or the service).
    NotParticipating,
}

/// `type` of a Message: always `message` (the field is kept for SDK compatibility).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    /// The only type.
    #[default]
    Message,
}

/// A Conversation as seen by one caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Conversation {
    /// Its id.
    pub id: ConversationId,
    /// Its optional second key.
    pub unique_name: Option<String>,
    /// Its display name.
    pub friendly_name: Option<String>,
    /// Its picture.
    pub avatar_url: Option<String>,
    /// Free JSON.
    #[schema(value_type = Value)]
    #[serde(default = "empty_object")]
    pub attributes: Value,
    /// A flat object of strings, numbers and booleans.
    #[schema(value_type = Object)]
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// Who created it; null when the service did.
    pub created_by: Option<Identity>,
    /// Whether it is the one 1:1 conversation of two users.
    pub direct: bool,
    /// When it was created.
    pub created_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
    /// When its last chat message was sent.
    pub last_message_at: Option<Millis>,
    /// Its last chat message.
    pub last_message: Option<LastMessage>,
    /// Its state.
    pub state: StateInfo,
    /// Participants, chat and non-chat.
    pub participants_count: usize,
    /// Messages held, log messages included.
    pub messages_count: usize,
    /// The caller's status.
    pub status: Status,
    /// The caller's notification level.
    pub notification_level: NotificationLevel,
    /// The caller's read horizon.
    pub last_read_message_index: Option<u64>,
    /// The caller's unread count.
    pub unread_messages_count: u64,
}

/// The fields of a [`Conversation`] that are the caller's own, in the order
/// it has them (last).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub(crate) struct CallerFields {
    pub status: Status,
    pub notification_level: NotificationLevel,
    pub last_read_message_index: Option<u64>,
    pub unread_messages_count: u64,
}

impl Conversation {
    pub(crate) fn set_caller_fields(&mut self, f: CallerFields) {
        self.status = f.status;
        self.notification_level = f.notification_level;
        self.last_read_message_index = f.last_read_message_index;
        self.unread_messages_count = f.unread_messages_count;
    }
}

/// `subtype` of a Message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Subtype {
    /// Sent by a user.
    Chat,
    /// Recorded by the engine.
    Log,
}

/// `kind` of a log message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    /// A join, or an add after creation.
    ParticipantJoined,
    /// A leave or a removal.
    ParticipantLeft,
    /// The state was set to `closed`.
    ConversationClosed,
}

/// A media item of a message. The content is kept beside the description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Media {
    /// Its id.
    pub id: MediaId,
    /// Its MIME type.
    pub content_type: String,
    /// Its file name, if given.
    pub filename: Option<String>,
    /// Decoded size in bytes.
    pub size: usize,
    /// The decoded content.
    #[serde(skip)]
    #[schema(ignore)]
    pub data: Bytes,
}

/// `reply_to` of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessageRefOut {
    /// The replied-to message's id.
    pub id: MessageId,
    /// Its index.
    pub index: u64,
}

/// A reaction on a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reaction {
    /// Its id.
    pub id: ReactionId,
    /// The reaction text, e.g. an emoji.
    pub reaction: String,
    /// Who reacted.
    pub identity: Identity,
    /// When.
    pub created_at: Millis,
}

/// A message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Message {
    /// Its id.
    pub id: MessageId,
    /// Its index in the conversation, from 0, never reused.
    pub index: u64,
    /// Its conversation.
    pub conversation_id: ConversationId,
    /// Who sent it; null for a log message.
    pub author: Option<Identity>,
    /// Its text; null for a log message.
    pub body: Option<String>,
    /// Free JSON.
    #[schema(value_type = Value)]
    #[serde(default = "empty_object")]
    pub attributes: Value,
    /// A flat object of strings, numbers and booleans.
    #[schema(value_type = Object)]
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// Free JSON; for a log message, who it is about.
    #[schema(value_type = Value)]
    #[serde(default = "empty_object")]
    pub details: Value,
    /// Always `message`.
    #[serde(rename = "type")]
    pub type_: MessageType,
    /// Chat or log.
    pub subtype: Subtype,
    /// For a log message, what it records.
    pub kind: Option<LogKind>,
    /// Attached media.
    #[serde(default)]
    pub media: Vec<Media>,
    /// The message it replies to.
    pub reply_to: Option<MessageRefOut>,
    /// Reactions, oldest first.
    #[serde(default)]
    pub reactions: Vec<Reaction>,
    /// The sender's idempotency key.
    pub client_id: Option<String>,
    /// When it was sent.
    pub created_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
    /// Whether it was edited.
    pub edited: bool,
    /// `created_at` as float seconds.
    pub ts: f64,
}

impl Message {
    /// Whether the engine recorded it (a log message).
    pub fn is_log(&self) -> bool {
        self.subtype == Subtype::Log
    }

    /// Bytes of content it holds, for the history budget.
    pub(crate) fn content_bytes(&self) -> usize {
        self.body.as_ref().map_or(0, String::len) + self.media.iter().map(|m| m.size).sum::<usize>()
    }
}

/// A user's presence and profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    /// The identity.
    pub identity: Identity,
    /// Display name.
    pub friendly_name: Option<String>,
    /// Picture.
    pub avatar_url: Option<String>,
    /// Free JSON.
    #[schema(value_type = Value)]
    #[serde(default = "empty_object")]
    pub attributes: Value,
    /// Whether it has at least one session.
    pub online: bool,
    /// When its last session ended; null if never seen or online since start.
    pub last_seen_at: Option<Millis>,
}

/// A user as the engine's directory holds it: its User object and when the
/// engine came to know it and last changed its profile.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownUser {
    /// Profile and presence.
    pub user: User,
    /// When the engine first knew it (connected, updated, made a participant).
    pub created_at: Millis,
    /// When its profile last changed (else `created_at`).
    pub updated_at: Millis,
}

/// A page of a list answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items, in the list's order.
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
    /// Whether items exist after the last one.
    pub has_next: bool,
    /// Whether items exist before the first one.
    pub has_prev: bool,
    /// The cursor of the next page.
    pub next_cursor: Option<String>,
    /// The cursor of the previous page.
    pub prev_cursor: Option<String>,
}

/// Who a request acts for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Caller {
    /// The service itself (REST without `X-Identity`): every right, no identity.
    Service,
    /// A user, under the participation rules of the contract.
    User(Identity),
}

impl Caller {
    /// The user's identity, if the caller is a user.
    pub fn identity(&self) -> Option<&Identity> {
        match self {
            Caller::Service => None,
            Caller::User(i) => Some(i),
        }
    }
}

/// What a free-JSON field left out of a compact frame stands for.
pub(crate) fn empty_object() -> Value {
    Value::Object(Map::new())
}
