//! The wire format: client requests, answers and event frames (`PROTOCOL.md` §3-§5).
//!
//! This is the only module that knows the JSON shape of requests and frames.
//! [`parse_request`] turns a client's text frame into a typed [`Request`];
//! [`encode_event`] and [`encode_answer`] produce [`Frame`]s, serialized once and
//! shared by reference count with every recipient.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::Error;
use crate::model::{
    Conversation, ConversationId, Message, MessageId, Millis, NotificationLevel, Page, Participant,
    ReactionId, Role, State, User,
};

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
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A media item as sent: base64 content.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MediaIn {
    /// MIME type.
    pub content_type: String,
    /// File name.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default)]
    pub filename: Option<String>,
    /// Base64 content.
    pub data: String,
}

/// Fields of `conversation.create`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreateConversation {
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
    /// Second key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unique_name: Option<String>,
    /// Free JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub attributes: Option<Value>,
    /// Flat object.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// Picture.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    /// Identities to add as members.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(default)]
    pub participants: Vec<String>,
}

/// Fields of `conversation.update`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UpdateConversation {
    /// The conversation.
    #[schema(ignore)]
    pub conversation: ConversationRef,
    /// New display name (null removes).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, deserialize_with = "present")]
    pub friendly_name: Option<Option<String>>,
    /// New unique name (null removes).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, deserialize_with = "present")]
    pub unique_name: Option<Option<String>>,
    /// Replaces the attributes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Value>,
    /// Merged into the metadata; a key set to null is removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// New picture (null removes).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, deserialize_with = "present")]
    pub avatar_url: Option<Option<String>>,
    /// New state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
}

/// Fields of `participant.add`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddParticipant {
    /// The conversation.
    #[schema(ignore)]
    pub conversation: ConversationRef,
    /// Who.
    pub identity: String,
    /// Free JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub attributes: Option<Value>,
    /// Role; `member` by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

/// Fields of `participant.add_non_chat`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddNonChat {
    /// The conversation.
    #[schema(ignore)]
    pub conversation: ConversationRef,
    /// The service's address.
    pub proxy_address: String,
    /// The participant's address.
    pub address: String,
    /// Free JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub attributes: Option<Value>,
}

/// Fields of `participant.update`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UpdateParticipant {
    /// The conversation.
    #[schema(ignore)]
    pub conversation: ConversationRef,
    /// Who.
    #[schema(ignore)]
    pub participant: ParticipantRef,
    /// Replaces the attributes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Value>,
    /// New role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

/// Fields of `message.send`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SendMessage {
    /// The conversation.
    #[schema(ignore)]
    pub conversation: ConversationRef,
    /// Text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Free JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub attributes: Option<Value>,
    /// Flat object.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// Free JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub details: Option<Value>,
    /// Attachments.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(default)]
    pub media: Vec<MediaIn>,
    /// The message replied to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<MessageRef>,
    /// Idempotency key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The author, when the service sends (ignored for a user).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

impl SendMessage {
    /// A plain text message to `conversation`, every other field unset.
    pub fn text(conversation: &str, body: &str) -> Self {
        SendMessage {
            conversation: conversation.to_string(),
            body: Some(body.to_string()),
            attributes: None,
            metadata: None,
            details: None,
            media: Vec::new(),
            reply_to: None,
            client_id: None,
            author: None,
        }
    }
}

/// Fields of `message.edit`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EditMessage {
    /// The conversation.
    #[schema(ignore)]
    pub conversation: ConversationRef,
    /// The message.
    #[schema(ignore)]
    pub message: MessageRef,
    /// New text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// New attributes (replace).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Value>,
}

/// Paging direction of `message.list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Newest first from the anchor (the default).
    #[default]
    Backwards,
    /// Oldest first from the anchor.
    Forward,
}

/// Fields of `message.list`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListMessages {
    /// The conversation.
    #[schema(ignore)]
    pub conversation: ConversationRef,
    /// 1 to 100, default 30.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u64>,
    /// Index to start from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor: Option<u64>,
    /// Which way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// Window start, ms inclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<Millis>,
    /// Window end, ms inclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Millis>,
    /// A cursor from an earlier page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Fields of `message.feed`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Feed {
    /// 1 to 100, default 50.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Window start, ms inclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<Millis>,
    /// Window end, ms inclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Millis>,
    /// A cursor from an earlier page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Whose feed, when the service asks (ignored for a user).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
}

/// Fields of `user.update`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UpdateUser {
    /// Display name (null removes).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, deserialize_with = "present")]
    pub friendly_name: Option<Option<String>>,
    /// Picture (null removes).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, deserialize_with = "present")]
    pub avatar_url: Option<Option<String>>,
    /// Replaces the attributes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Value>,
}

/// The operations of `PROTOCOL.md` §4, typed. The `op` field picks the variant.
#[allow(missing_docs)] // each variant is documented by its op name in the contract
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op")]
pub enum Request {
    #[serde(rename = "ping")]
    Ping {},
    #[serde(rename = "conversation.create")]
    ConversationCreate(CreateConversation),
    #[serde(rename = "conversation.direct")]
    ConversationDirect { identity: String },
    #[serde(rename = "conversation.get")]
    ConversationGet { conversation: ConversationRef },
    #[serde(rename = "conversation.list")]
    ConversationList {
        #[serde(skip_serializing_if = "Option::is_none")]
        page_size: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cursor: Option<String>,
        /// Whose conversations, when the service asks (ignored for a user).
        #[serde(skip_serializing_if = "Option::is_none")]
        identity: Option<String>,
    },
    #[serde(rename = "conversation.update")]
    ConversationUpdate(UpdateConversation),
    #[serde(rename = "conversation.delete")]
    ConversationDelete { conversation: ConversationRef },
    #[serde(rename = "conversation.join")]
    ConversationJoin { conversation: ConversationRef },
    #[serde(rename = "conversation.leave")]
    ConversationLeave { conversation: ConversationRef },
    #[serde(rename = "conversation.set_notification_level")]
    SetNotificationLevel {
        conversation: ConversationRef,
        level: NotificationLevel,
    },
    #[serde(rename = "participant.add")]
    ParticipantAdd(AddParticipant),
    #[serde(rename = "participant.add_non_chat")]
    ParticipantAddNonChat(AddNonChat),
    #[serde(rename = "participant.remove")]
    ParticipantRemove {
        conversation: ConversationRef,
        participant: ParticipantRef,
    },
    #[serde(rename = "participant.get")]
    ParticipantGet {
        conversation: ConversationRef,
        participant: ParticipantRef,
    },
    #[serde(rename = "participant.list")]
    ParticipantList {
        conversation: ConversationRef,
        #[serde(skip_serializing_if = "Option::is_none")]
        page_size: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cursor: Option<String>,
    },
    #[serde(rename = "participant.count")]
    ParticipantCount { conversation: ConversationRef },
    #[serde(rename = "participant.update")]
    ParticipantUpdate(UpdateParticipant),
    #[serde(rename = "message.send")]
    MessageSend(SendMessage),
    #[serde(rename = "message.get")]
    MessageGet {
        conversation: ConversationRef,
        message: MessageRef,
    },
    #[serde(rename = "message.edit")]
    MessageEdit(EditMessage),
    #[serde(rename = "message.delete")]
    MessageDelete {
        conversation: ConversationRef,
        message: MessageRef,
    },
    #[serde(rename = "message.list")]
    MessageList(ListMessages),
    #[serde(rename = "message.count")]
    MessageCount { conversation: ConversationRef },
    #[serde(rename = "message.feed")]
    MessageFeed(Feed),
    #[serde(rename = "reaction.add")]
    ReactionAdd {
        conversation: ConversationRef,
        message: MessageRef,
        reaction: String,
        /// Who reacts, when the service acts (ignored for a user).
        #[serde(skip_serializing_if = "Option::is_none")]
        identity: Option<String>,
    },
    #[serde(rename = "reaction.remove")]
    ReactionRemove {
        reaction: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        conversation: Option<ConversationRef>,
    },
    #[serde(rename = "read.advance")]
    ReadAdvance {
        conversation: ConversationRef,
        index: u64,
    },
    #[serde(rename = "read.set")]
    ReadSet {
        conversation: ConversationRef,
        #[serde(skip_serializing_if = "Option::is_none")]
        index: Option<u64>,
    },
    #[serde(rename = "read.all")]
    ReadAll { conversation: ConversationRef },
    #[serde(rename = "read.none")]
    ReadNone { conversation: ConversationRef },
    #[serde(rename = "read.mark")]
    ReadMark {
        conversation: ConversationRef,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<MessageRef>,
    },
    #[serde(rename = "unread.count")]
    UnreadCount { conversation: ConversationRef },
    #[serde(rename = "typing.start")]
    TypingStart { conversation: ConversationRef },
    #[serde(rename = "typing.stop")]
    TypingStop { conversation: ConversationRef },
    #[serde(rename = "presence.get")]
    PresenceGet { identities: Vec<String> },
    #[serde(rename = "events.replay")]
    EventsReplay {
        conversation: ConversationRef,
        since_seq: u64,
    },
    #[serde(rename = "user.update")]
    UserUpdate(UpdateUser),
}

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

/// Where a request runs, and what it asks there: made by [`Request::route`],
/// an exhaustive match, so an op that is not routed does not compile.
#[derive(Debug, Clone)]
pub enum Route {
    /// Runs in the engine itself (the registry, lists over conversations, users).
    Engine(EngineOp),
    /// Runs in the actor of the conversation named by id or unique name.
    Conversation(ConversationRef, ConversationOp),
    /// `reaction.remove`: its conversation is the reaction's (checked against
    /// `conversation` when the request names one).
    Reaction {
        /// The reaction id, as sent.
        reaction: String,
        /// The conversation the request names, if any.
        conversation: Option<ConversationRef>,
    },
}

/// An op the engine runs itself.
#[derive(Debug, Clone)]
pub enum EngineOp {
    /// `ping`.
    Ping,
    /// `conversation.create`.
    Create(CreateConversation),
    /// `conversation.direct` with this identity.
    Direct(String),
    /// `conversation.list` (`identity`: whose, when the service asks).
    List {
        /// Page size.
        page_size: Option<u64>,
        /// Page cursor.
        cursor: Option<String>,
        /// Whose conversations, when the service asks.
        identity: Option<String>,
    },
    /// `message.feed`.
    Feed(Feed),
    /// `presence.get` for these identities.
    Presence(Vec<String>),
    /// `user.update`.
    UpdateUser(UpdateUser),
}

/// An op on one conversation, without the reference that found it: what a
/// conversation actor runs.
#[derive(Debug, Clone)]
pub enum ConversationOp {
    /// `conversation.get`.
    Get,
    /// `conversation.update`.
    Update(UpdateConversation),
    /// `conversation.delete`.
    Delete,
    /// `conversation.join`.
    Join,
    /// `conversation.leave`.
    Leave,
    /// `conversation.set_notification_level`.
    SetNotificationLevel(NotificationLevel),
    /// `participant.add`.
    AddParticipant(AddParticipant),
    /// `participant.add_non_chat`.
    AddNonChat(AddNonChat),
    /// `participant.remove`.
    RemoveParticipant(ParticipantRef),
    /// `participant.get`.
    GetParticipant(ParticipantRef),
    /// `participant.list`.
    ListParticipants {
        /// Page size.
        page_size: Option<u64>,
        /// Page cursor.
        cursor: Option<String>,
    },
    /// `participant.count`.
    CountParticipants,
    /// `participant.update`.
    UpdateParticipant(UpdateParticipant),
    /// `message.send`.
    Send(SendMessage),
    /// `message.get`.
    GetMessage(MessageRef),
    /// `message.edit`.
    Edit(EditMessage),
    /// `message.delete`.
    DeleteMessage(MessageRef),
    /// `message.list`.
    ListMessages(ListMessages),
    /// `message.count`.
    CountMessages,
    /// `reaction.add` (`identity`: who, when the service acts).
    AddReaction {
        /// The message.
        message: MessageRef,
        /// The reaction.
        reaction: String,
        /// Who reacts, when the service acts.
        identity: Option<String>,
    },
    /// `reaction.remove`, once routed to the reaction's conversation.
    RemoveReaction(String),
    /// `read.advance` to this index.
    ReadAdvance(u64),
    /// `read.set` to this index (None: all unread).
    ReadSet(Option<u64>),
    /// `read.all`.
    ReadAll,
    /// `read.none`.
    ReadNone,
    /// `read.mark` up to this message (None: the last).
    ReadMark(Option<MessageRef>),
    /// `unread.count`.
    UnreadCount,
    /// `typing.start`.
    TypingStart,
    /// `typing.stop`.
    TypingStop,
    /// `events.replay` after this seq.
    Replay(u64),
}

impl Request {
    /// Where this request runs, and what it asks there.
    pub fn route(self) -> Route {
        use ConversationOp as C;
        use Request::*;
        let on = |c: ConversationRef, op: ConversationOp| Route::Conversation(c, op);
        match self {
            Ping {} => Route::Engine(EngineOp::Ping),
            ConversationCreate(c) => Route::Engine(EngineOp::Create(c)),
            ConversationDirect { identity } => Route::Engine(EngineOp::Direct(identity)),
            ConversationList {
                page_size,
                cursor,
                identity,
            } => Route::Engine(EngineOp::List {
                page_size,
                cursor,
                identity,
            }),
            MessageFeed(f) => Route::Engine(EngineOp::Feed(f)),
            PresenceGet { identities } => Route::Engine(EngineOp::Presence(identities)),
            UserUpdate(u) => Route::Engine(EngineOp::UpdateUser(u)),
            ReactionRemove {
                reaction,
                conversation,
            } => Route::Reaction {
                reaction,
                conversation,
            },
            ConversationGet { conversation } => on(conversation, C::Get),
            ConversationUpdate(u) => on(u.conversation.clone(), C::Update(u)),
            ConversationDelete { conversation } => on(conversation, C::Delete),
            ConversationJoin { conversation } => on(conversation, C::Join),
            ConversationLeave { conversation } => on(conversation, C::Leave),
            SetNotificationLevel {
                conversation,
                level,
            } => on(conversation, C::SetNotificationLevel(level)),
            ParticipantAdd(a) => on(a.conversation.clone(), C::AddParticipant(a)),
            ParticipantAddNonChat(a) => on(a.conversation.clone(), C::AddNonChat(a)),
            ParticipantRemove {
                conversation,
                participant,
            } => on(conversation, C::RemoveParticipant(participant)),
            ParticipantGet {
                conversation,
                participant,
            } => on(conversation, C::GetParticipant(participant)),
            ParticipantList {
                conversation,
                page_size,
                cursor,
            } => on(conversation, C::ListParticipants { page_size, cursor }),
            ParticipantCount { conversation } => on(conversation, C::CountParticipants),
            ParticipantUpdate(u) => on(u.conversation.clone(), C::UpdateParticipant(u)),
            MessageSend(m) => on(m.conversation.clone(), C::Send(m)),
            MessageGet {
                conversation,
                message,
            } => on(conversation, C::GetMessage(message)),
            MessageEdit(e) => on(e.conversation.clone(), C::Edit(e)),
            MessageDelete {
                conversation,
                message,
            } => on(conversation, C::DeleteMessage(message)),
            MessageList(l) => on(l.conversation.clone(), C::ListMessages(l)),
            MessageCount { conversation } => on(conversation, C::CountMessages),
            ReactionAdd {
                conversation,
                message,
                reaction,
                identity,
            } => on(
                conversation,
                C::AddReaction {
                    message,
                    reaction,
                    identity,
                },
            ),
            ReadAdvance {
                conversation,
                index,
            } => on(conversation, C::ReadAdvance(index)),
            ReadSet {
                conversation,
                index,
            } => on(conversation, C::ReadSet(index)),
            ReadAll { conversation } => on(conversation, C::ReadAll),
            ReadNone { conversation } => on(conversation, C::ReadNone),
            ReadMark {
                conversation,
                message,
            } => on(conversation, C::ReadMark(message)),
            UnreadCount { conversation } => on(conversation, C::UnreadCount),
            TypingStart { conversation } => on(conversation, C::TypingStart),
            TypingStop { conversation } => on(conversation, C::TypingStop),
            EventsReplay {
                conversation,
                since_seq,
            } => on(conversation, C::Replay(since_seq)),
        }
    }

    /// Whether the op can change what the engine holds (or send conversation
    /// events); a cluster puts these through its log and runs the rest where
    /// they are asked.
    pub fn changes_state(&self) -> bool {
        use Request::*;
        match self {
            Ping {} | ConversationGet { .. } | ConversationList { .. } => false,
            ParticipantGet { .. } | ParticipantList { .. } | ParticipantCount { .. } => false,
            MessageGet { .. } | MessageList(_) | MessageCount { .. } | MessageFeed(_) => false,
            UnreadCount { .. } | PresenceGet { .. } | EventsReplay { .. } => false,
            ConversationCreate(_)
            | ConversationDirect { .. }
            | ConversationUpdate(_)
            | ConversationDelete { .. }
            | ConversationJoin { .. }
            | ConversationLeave { .. }
            | SetNotificationLevel { .. }
            | ParticipantAdd(_)
            | ParticipantAddNonChat(_)
            | ParticipantRemove { .. }
            | ParticipantUpdate(_)
            | MessageSend(_)
            | MessageEdit(_)
            | MessageDelete { .. }
            | ReactionAdd { .. }
            | ReactionRemove { .. }
            | ReadAdvance { .. }
            | ReadSet { .. }
            | ReadAll { .. }
            | ReadNone { .. }
            | ReadMark { .. }
            | TypingStart { .. }
            | TypingStop { .. }
            | UserUpdate(_) => true,
        }
    }

    /// Parses a request from a JSON object that carries `op` and its fields.
    pub fn from_json(value: &Value) -> Result<Request, Error> {
        let Value::Object(map) = value else {
            return Err(Error::bad("a request must be a JSON object"));
        };
        match map.get("op") {
            None => return Err(Error::bad("missing field `op`")),
            Some(Value::String(_)) => {}
            Some(_) => return Err(Error::bad("`op` must be a string")),
        }
        Request::deserialize(value).map_err(|e| Error::bad(e.to_string()))
    }
}

/// A request's `id` exactly as the client wrote it: a number of any size or
/// precision, or a string. Echoed as `re` byte for byte; None answers `re: null`.
pub type RequestId = Option<Box<RawValue>>;

/// The `id` of a client frame, when it has a number or string one.
pub fn request_id(text: &[u8]) -> RequestId {
    #[derive(Deserialize)]
    struct IdOf<'a> {
        #[serde(borrow, default)]
        id: Option<&'a RawValue>,
    }
    // Only an object has an `id` (serde would also read a struct from an array).
    if text.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    let id = serde_json::from_slice::<IdOf>(text).ok()?.id?;
    match id.get().as_bytes().first()? {
        b'"' | b'-' | b'0'..=b'9' => Some(id.to_owned()),
        _ => None,
    }
}

/// Parses one client text frame into its correlation id and request.
///
/// On failure the error carries the `id` when one could be read, so the answer
/// can still name it (`re`), or null.
pub fn parse_request(text: &[u8]) -> Result<(RequestId, Request), (RequestId, Error)> {
    let id = request_id(text);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ops_and_keeps_id() {
        let (id, req) = parse_request(
            br#"{"id":7,"op":"message.send","conversation":"c","body":"hi","extra":1}"#,
        )
        .unwrap();
        assert_eq!(id.unwrap().get(), "7");
        assert!(
            matches!(req, Request::MessageSend(SendMessage { body: Some(ref b), .. }) if b == "hi")
        );
        let (_, req) = parse_request(br#"{"op":"ping"}"#).unwrap();
        assert!(matches!(req, Request::Ping {}));
    }

    #[test]
    fn bad_frames_are_bad_requests() {
        for bad in [
            &br#"nope"#[..],
            br#"[1]"#,
            br#"{"id":1}"#,
            br#"{"id":1,"op":"nope"}"#,
            br#"{"id":1,"op":5}"#,
            br#"{"id":"x","op":"read.advance","conversation":"c","index":"a"}"#,
        ] {
            let (_, e) = parse_request(bad).unwrap_err();
            assert_eq!(
                e.code(),
                crate::error::ErrorCode::BadRequest,
                "{:?}",
                std::str::from_utf8(bad)
            );
        }
        let (id, _) = parse_request(br#"{"id":"x","op":"nope"}"#).unwrap_err();
        assert_eq!(id.unwrap().get(), r#""x""#);
    }

    #[test]
    fn ids_are_echoed_exactly() {
        for id in [
            "123456789012345678901234567890",
            "-1.50",
            "1e300",
            r#""a\"b""#,
            "18446744073709551617",
        ] {
            let text = format!(r#"{{"id":{id},"op":"ping"}}"#);
            let (re, _) = parse_request(text.as_bytes()).unwrap();
            let answer = encode_answer(&re, &Ok(Reply::Pong { pong: true }));
            assert!(
                answer.starts_with(&format!(r#"{{"re":{id},"ok":true"#)),
                "{answer}"
            );
        }
        for not_an_id in [
            r#"{"id":null,"op":"ping"}"#,
            r#"{"id":[1],"op":"ping"}"#,
            "[1]",
        ] {
            assert!(request_id(not_an_id.as_bytes()).is_none(), "{not_an_id}");
        }
        let answer = encode_answer(&None, &Err(Error::bad("no")));
        assert!(
            answer.starts_with(r#"{"re":null,"ok":false,"error":{"#),
            "{answer}"
        );
    }

    /// The direct parse and the one through a `Value` read every request alike.
    #[test]
    fn direct_parse_reads_as_the_value_one() {
        for text in [
            r#"{"op":"ping","id":1}"#,
            r#"{"op":"conversation.create","friendly_name":"a\u00e9\"b","attributes":{"x":[1,2.5,{"y":null}]},"metadata":{"k":"v"},"participants":["bob"]}"#,
            r#"{"op":"conversation.update","conversation":"c","unique_name":null,"avatar_url":"u"}"#,
            r#"{"op":"conversation.list","page_size":5,"cursor":"z"}"#,
            r#"{"op":"participant.add","conversation":"c","identity":"bob","role":"admin","attributes":{}}"#,
            r#"{"op":"message.send","conversation":"c","body":"hi","client_id":"k","reply_to":3,"media":[{"content_type":"image/png","data":"AA=="}]}"#,
            r#"{"op":"message.edit","conversation":"c","message":"m1","body":"b"}"#,
            r#"{"op":"message.list","conversation":"c","anchor":7,"page_size":2,"direction":"forward","since":1500}"#,
            r#"{"op":"reaction.add","conversation":"c","message":0,"reaction":"\ud83d\ude00"}"#,
            r#"{"op":"read.advance","conversation":"c","index":18446744073709551615}"#,
            r#"{"op":"events.replay","conversation":"c","since_seq":1}"#,
            r#"{"op":"presence.get","identities":["a","b"]}"#,
            r#"{"op":"user.update","friendly_name":"x","attributes":{"deep":{"a":[true,false]}}}"#,
        ] {
            let direct = parse_request(text.as_bytes()).map(|(_, r)| format!("{r:?}"));
            assert!(direct.is_ok(), "{text}: {:?}", direct.map_err(|e| e.1));
            let value: Value = serde_json::from_str(text).unwrap();
            let via_value = Request::from_json(&value).map(|r| format!("{r:?}"));
            assert_eq!(
                direct.map_err(|(_, e)| e.to_string()),
                via_value.map_err(|e| e.to_string()),
                "{text}"
            );
        }
        // A key written twice is read as its last value, as before.
        let (_, req) = parse_request(
            br#"{"op":"message.send","conversation":"a","conversation":"b","body":"x"}"#,
        )
        .unwrap();
        assert!(
            matches!(req, Request::MessageSend(SendMessage { ref conversation, .. }) if conversation == "b")
        );
        // A tagged array is not a request.
        assert!(parse_request(br#"["ping"]"#).is_err());
    }

    #[test]
    fn absent_and_null_differ() {
        let (_, req) =
            parse_request(br#"{"op":"conversation.update","conversation":"c","unique_name":null}"#)
                .unwrap();
        let Request::ConversationUpdate(u) = req else {
            panic!()
        };
        assert_eq!(u.unique_name, Some(None));
        assert_eq!(u.friendly_name, None);
    }

    #[test]
    fn message_ref_forms() {
        for index in ["3", "3.0"] {
            let text = format!(r#"{{"op":"message.get","conversation":"c","message":{index}}}"#);
            let (_, req) = parse_request(text.as_bytes()).unwrap();
            assert!(matches!(
                req,
                Request::MessageGet {
                    message: MessageRef::Index(3),
                    ..
                }
            ));
        }
        for bad in ["3.5", "-1", "true", "null"] {
            let text = format!(r#"{{"op":"message.get","conversation":"c","message":{bad}}}"#);
            assert!(parse_request(text.as_bytes()).is_err(), "{bad}");
        }
        let (_, req) =
            parse_request(br#"{"op":"message.get","conversation":"c","message":"abc"}"#).unwrap();
        assert!(matches!(
            req,
            Request::MessageGet {
                message: MessageRef::Id(_),
                ..
            }
        ));
    }
}
