//! The ops of `PROTOCOL.md` §4 as one typed enum, and where each runs.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::NotificationLevel;

use crate::error::Error;

use super::{
    AddNonChat, AddParticipant, ConversationRef, CreateConversation, EditMessage, Feed,
    ListMessages, MessageRef, ParticipantRef, SendMessage, UpdateConversation, UpdateParticipant,
    UpdateUser,
};

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
    TypingStart {
        /// From another cluster node: the last log entry that node had
        /// started when its user typed (see [`Request::is_signal`]).
        after: Option<u64>,
    },
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
            TypingStart { conversation } => on(conversation, C::TypingStart { after: None }),
            TypingStop { conversation } => on(conversation, C::TypingStop),
            EventsReplay {
                conversation,
                since_seq,
            } => on(conversation, C::Replay(since_seq)),
        }
    }

    /// Whether the op can change what the engine holds (or send conversation
    /// events); a cluster puts these through its log (but for
    /// [signals](Request::is_signal)) and runs the rest where they are asked.
    pub fn changes_state(&self) -> bool {
        !matches!(self.reach(), Reach::Nothing)
    }

    /// Whether the op only says who is typing: nothing of it is kept and no
    /// other op reads it, so a cluster node runs it where it is asked and
    /// tells the other nodes on a plain NATS subject, not through its log.
    pub fn is_signal(&self) -> bool {
        matches!(self.reach(), Reach::Signal(_))
    }

    /// The same signal, naming its conversation by `id` (which a rename
    /// cannot move, as it can a unique name).
    pub fn signal_in(&self, id: ConversationRef) -> Option<Request> {
        match self {
            Request::TypingStart { .. } => Some(Request::TypingStart { conversation: id }),
            Request::TypingStop { .. } => Some(Request::TypingStop { conversation: id }),
            _ => None,
        }
    }

    /// The conversation a state-changing op changes, when it changes nothing
    /// beyond it but entries keyed by ids the op makes (reactions) and
    /// counters: two such ops of different conversations end the same
    /// whichever is applied first, so a cluster node may apply them at once.
    /// None for every op that can touch more (creating, deleting or renaming
    /// a conversation, membership, user profiles, a reaction found by its id).
    pub fn confined_to(&self) -> Option<&ConversationRef> {
        match self.reach() {
            Reach::Conversation(c) | Reach::Signal(c) => Some(c),
            Reach::Nothing | Reach::Beyond => None,
        }
    }

    /// What the op can change. One match, exhaustive: a new op is placed by
    /// a person, not by a default.
    fn reach(&self) -> Reach<'_> {
        use Request::*;
        match self {
            Ping {} | ConversationGet { .. } | ConversationList { .. } => Reach::Nothing,
            ParticipantGet { .. } | ParticipantList { .. } | ParticipantCount { .. } => {
                Reach::Nothing
            }
            MessageGet { .. } | MessageList(_) | MessageCount { .. } | MessageFeed(_) => {
                Reach::Nothing
            }
            UnreadCount { .. } | PresenceGet { .. } | EventsReplay { .. } => Reach::Nothing,
            MessageSend(m) => Reach::Conversation(&m.conversation),
            MessageEdit(e) => Reach::Conversation(&e.conversation),
            MessageDelete { conversation, .. }
            | ReactionAdd { conversation, .. }
            | ReadAdvance { conversation, .. }
            | ReadSet { conversation, .. }
            | ReadAll { conversation }
            | ReadNone { conversation }
            | ReadMark { conversation, .. } => Reach::Conversation(conversation),
            TypingStart { conversation } | TypingStop { conversation } => {
                Reach::Signal(conversation)
            }
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
            | ReactionRemove { .. }
            | UserUpdate(_) => Reach::Beyond,
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

/// What an op can change ([`Request::changes_state`], [`Request::confined_to`]).
enum Reach<'a> {
    /// Nothing: it only reads.
    Nothing,
    /// Its conversation, and nothing another op reads.
    Conversation(&'a ConversationRef),
    /// Who is typing in its conversation: a passing state, never kept.
    Signal(&'a ConversationRef),
    /// More than its conversation, or what other ops read.
    Beyond,
}
