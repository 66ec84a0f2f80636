//! The state of one conversation, and where its ops are dispatched.
//!
//! A [`ConversationState`] is plain data: every op is a synchronous method that
//! checks everything first, changes state only when all checks pass, and
//! appends what it sends to `out` as encoded [`Effect`]s. The actor commits the
//! op's changes (`persist.rs`) and only then delivers them. Ops on the
//! conversation itself live in `ops.rs`, participant ops in `participants.rs`;
//! message, reaction, read and typing ops in `messages.rs`.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::effects::{Effect, Index};
use super::event_records::AddedRefs;
use super::events::{EventLog, Stored};
use super::log::MessageLog;
use super::members::{Member, Members};
use super::recent::Recent;
use super::typing::Typing;
use super::Answer;
use super::ConvInfo;
use super::Shared;
use crate::delivery::Outbox;
use crate::error::{Error, Result};
use crate::model::Caller;
use crate::model::{
    CallerFields, Conversation, ConversationId, Identity, LogKind, Message, MessageId, MessageType,
    Millis, NotificationLevel, Participant, ParticipantId, ParticipantKind, Role, State, StateInfo,
    Status, Subtype,
};
use crate::protocol::{
    encode_event, encode_event_at, ConversationFrames, ConversationOp, CreateConversation, Frame,
};
use crate::validate;

/// Longest `avatar_url`, in characters: long enough for signed URLs.
const MAX_URL_CHARS: usize = 2048;

/// What the caller may do here.
pub(crate) enum Access {
    Service,
    Member {
        seq: u64,
        identity: Identity,
        admin: bool,
    },
}

impl Access {
    pub fn is_admin(&self) -> bool {
        match self {
            Access::Service => true,
            Access::Member { admin, .. } => *admin,
        }
    }
    pub fn identity(&self) -> Option<&Identity> {
        match self {
            Access::Service => None,
            Access::Member { identity, .. } => Some(identity),
        }
    }
}

/// The editable description of a conversation.
#[derive(Debug)]
pub(crate) struct Meta {
    pub unique_name: Option<String>,
    pub friendly_name: Option<String>,
    pub avatar_url: Option<String>,
    pub attributes: Value,
    pub metadata: Map<String, Value>,
    pub created_by: Option<Identity>,
    pub direct: bool,
    /// A direct conversation's two users, in order: the registry's key for it.
    pub direct_pair: Option<(Identity, Identity)>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub state: StateInfo,
}

pub(crate) struct ConversationState {
    pub id: ConversationId,
    pub meta: Meta,
    pub members: Members,
    pub log: MessageLog,
    pub events: EventLog,
    pub typing: Typing,
    pub shared: Arc<Shared>,
    pub info: Arc<ConvInfo>,
    /// Set once the conversation is gone (deleted, or its engine stopping).
    pub deleted: bool,
    /// Set by `conversation.delete`: the journal erases the conversation.
    pub erased: bool,
    /// The description changed: the journal writes it.
    pub meta_changed: bool,
    /// Typing timers the actor must arm after the op.
    pub timers: Vec<(Identity, std::time::Duration)>,
    /// What the ops since the actor last looked send, in order.
    pub out: Vec<Effect>,
    /// `messageAdded` events the store holds as a reference to their message.
    pub added_refs: AddedRefs,
    /// Users the ops since the journal last looked made participants, and
    /// when: each gets a first record if the store has none for it.
    pub joined_users: Vec<(Identity, Millis)>,
    /// On a cluster node taking snapshots, the log position of its last
    /// change (0 for a conversation read back and unchanged since).
    pub changed_at: u64,
    /// In a cluster taking snapshots, which records changed at which log
    /// position, for a delta made of those alone.
    pub recent: Recent,
}

pub(crate) fn empty() -> Value {
    Value::Object(Map::new())
}

/// `conversationAdded` (`left` false) or `conversationRemoved`: personal
/// events, no seq.
pub(super) fn membership_frame<T: Serialize>(c: ConversationId, left: bool, data: &T) -> Frame {
    let event = if left {
        "conversationRemoved"
    } else {
        "conversationAdded"
    };
    encode_event(event, Some(c), None, data)
}

pub(super) fn check_url(u: &str) -> Result<()> {
    if u.chars().count() > MAX_URL_CHARS {
        return Err(Error::bad(format!(
            "avatar_url is longer than {MAX_URL_CHARS} characters"
        )));
    }
    Ok(())
}

impl ConversationState {
    /// Builds a new conversation after checking every field of the request.
    /// `creator` becomes admin; `others` join as members, in order.
    pub fn create(
        shared: Arc<Shared>,
        id: ConversationId,
        creator: Option<Identity>,
        req: CreateConversation,
        direct: bool,
        now: Millis,
    ) -> Result<Self> {
        let limits = &shared.config.limits;
        if let Some(n) = &req.friendly_name {
            validate::name("friendly_name", n, limits)?;
        }
        if let Some(n) = &req.unique_name {
            validate::name("unique_name", n, limits)?;
            if n.is_empty() {
                return Err(Error::bad("unique_name must not be empty"));
            }
        }
        if let Some(a) = &req.attributes {
            validate::json_field("attributes", a, limits)?;
        }
        if let Some(m) = &req.metadata {
            validate::metadata(m, false, limits)?;
        }
        if let Some(u) = &req.avatar_url {
            check_url(u)?;
        }
        let mut others = Vec::new();
        for p in &req.participants {
            let i = validate::identity(p, limits)?;
            if Some(&i) != creator.as_ref() && !others.contains(&i) {
                others.push(i);
            }
        }
        if others.len() + usize::from(creator.is_some()) > limits.max_participants {
            return Err(Error::conflict(format!(
                "a conversation holds at most {} participants",
                limits.max_participants
            )));
        }
        if let Some(n) = &req.unique_name {
            shared.reserve_unique_name(n, id)?;
        }
        let direct_pair = match (direct, &creator, others.first()) {
            (true, Some(a), Some(b)) if a <= b => Some((a.clone(), b.clone())),
            (true, Some(a), Some(b)) => Some((b.clone(), a.clone())),
            _ => None,
        };
        let changed_at = shared.log_position();
        let mut st = ConversationState {
            id,
            meta: Meta {
                unique_name: req.unique_name,
                friendly_name: req.friendly_name,
                avatar_url: req.avatar_url,
                attributes: req.attributes.unwrap_or_else(empty),
                metadata: req.metadata.unwrap_or_default(),
                created_by: creator.clone(),
                direct,
                direct_pair,
                created_at: now,
                updated_at: now,
                state: StateInfo {
                    current: State::Active,
                    updated_at: now,
                },
            },
            members: Members::default(),
            log: MessageLog::new(limits.max_history, limits.max_history_bytes),
            events: EventLog::new(limits.replay_window),
            typing: Typing::default(),
            info: Arc::new(ConvInfo::new(now)),
            shared,
            deleted: false,
            erased: false,
            meta_changed: true,
            timers: Vec::new(),
            out: Vec::new(),
            added_refs: AddedRefs::default(),
            joined_users: Vec::new(),
            changed_at,
            recent: Recent::default(),
        };
        if let Some(c) = creator {
            st.insert_chat(c, Role::Admin, None, now);
        }
        for i in others {
            st.insert_chat(i, Role::Member, None, now);
        }
        Ok(st)
    }

    /// Announces the new conversation to its participants (`conversationAdded`).
    /// Called once, before the conversation can be reached by anyone else.
    pub fn announce_created(&mut self) {
        let base = self.view_neutral();
        let mut frames = ConversationFrames::added(&base);
        for m in self.members.iter() {
            if let Some(hub) = &m.hub {
                let frame = frames.frame(self.caller_fields(m));
                self.out.push(Effect::Membership(hub.clone(), frame));
            }
        }
    }

    // ----- views and access -------------------------------------------------

    /// The conversation with the caller fields of a non-participant.
    pub fn view_neutral(&self) -> Conversation {
        let last = self.log.last_chat();
        Conversation {
            id: self.id,
            unique_name: self.meta.unique_name.clone(),
            friendly_name: self.meta.friendly_name.clone(),
            avatar_url: self.meta.avatar_url.clone(),
            attributes: self.meta.attributes.clone(),
            metadata: self.meta.metadata.clone(),
            created_by: self.meta.created_by.clone(),
            direct: self.meta.direct,
            created_at: self.meta.created_at,
            updated_at: self.meta.updated_at,
            last_message_at: last.map(|l| l.created_at),
            last_message: last,
            state: self.meta.state,
            participants_count: self.members.len(),
            messages_count: self.log.len(),
            status: Status::NotParticipating,
            notification_level: NotificationLevel::Default,
            last_read_message_index: None,
            unread_messages_count: 0,
        }
    }

    /// The fields of the conversation that are member `m`'s own.
    fn caller_fields(&self, m: &Member) -> CallerFields {
        let horizon = m.p.last_read_message_index;
        CallerFields {
            status: Status::Joined,
            notification_level: m.p.notification_level,
            last_read_message_index: horizon,
            unread_messages_count: m
                .p
                .identity
                .as_ref()
                .map_or(0, |i| self.log.unread(i, horizon)),
        }
    }

    fn view_for(&self, m: &Member) -> Conversation {
        let mut c = self.view_neutral();
        c.set_caller_fields(self.caller_fields(m));
        c
    }

    /// The conversation as the caller sees it.
    pub fn view(&self, caller: &Caller) -> Conversation {
        match caller.identity().and_then(|i| self.members.by_identity(i)) {
            Some(m) => self.view_for(m),
            None => self.view_neutral(),
        }
    }

    pub fn access(&self, caller: &Caller) -> Result<Access> {
        match caller {
            Caller::Service => Ok(Access::Service),
            Caller::User(i) => match self
                .members
                .seq_of(i)
                .and_then(|s| self.members.get(s).map(|m| (s, m)))
            {
                Some((seq, m)) => Ok(Access::Member {
                    seq,
                    identity: i.clone(),
                    admin: m.p.role == Role::Admin,
                }),
                None => Err(Error::forbidden(
                    "you are not a participant of this conversation",
                )),
            },
        }
    }

    pub fn participant(&self, seq: u64) -> Result<&Participant> {
        self.members
            .get(seq)
            .map(|m| &m.p)
            .ok_or_else(|| Error::not_found("participant not found"))
    }

    // ----- events -------------------------------------------------------------

    /// Emits a conversation event: next seq, encoded once, sent to every chat
    /// member, kept for replay.
    pub fn emit<T: Serialize>(&mut self, event: &'static str, data: &T) {
        let seq = self.events.next_seq();
        let frame = encode_event(event, Some(self.id), Some(seq), data);
        self.publish(event, seq, frame.clone(), Stored::Shared(frame));
    }

    /// Sends an encoded conversation event and keeps it for replay.
    fn publish(&mut self, event: &'static str, seq: u64, frame: Frame, kept: Stored) {
        let to = self.members.recipients();
        self.out.push(Effect::Event(frame, to, event, seq));
        self.events.keep(seq, kept);
    }

    /// Renders a kept `conversationUpdated` for one participant.
    pub fn render_updated(
        &self,
        seq: u64,
        conversation: &Conversation,
        reasons: &[&str],
        m: &Member,
    ) -> Frame {
        ConversationFrames::updated(conversation, seq, reasons).frame(self.caller_fields(m))
    }

    pub(super) fn emit_updated(&mut self, reasons: Vec<&'static str>) {
        let seq = self.events.next_seq();
        let base = self.view_neutral();
        let mut frames = ConversationFrames::updated(&base, seq, &reasons);
        for m in self.members.iter() {
            if let Some(hub) = &m.hub {
                let frame = frames.frame(self.caller_fields(m));
                self.out.push(Effect::EventTo(hub.clone(), frame));
            }
        }
        self.events.keep(
            seq,
            Stored::ConversationUpdated {
                conversation: Box::new(base),
                reasons,
            },
        );
    }

    /// Appends a message, keeps the engine's counters and indexes in step, and
    /// emits `messageAdded`.
    pub fn append(&mut self, m: Message) {
        // Encoded from the message before it moves into the log: no copy of it.
        let seq = self.events.next_seq();
        let (frame, at) = encode_event_at("messageAdded", Some(self.id), Some(seq), &m);
        let index = m.index;
        let is_log = m.is_log();
        self.out.push(Effect::Index(Index::Added {
            at: m.created_at,
            chat: !is_log,
        }));
        let evicted = self.log.append(m, (seq, frame.clone(), at));
        self.log.forget_evicted(&evicted);
        // A log message that evicts the last chat message moves activity back.
        if is_log && evicted.iter().any(|old| !old.is_log()) {
            let back = self.log.last_chat().map(|l| l.created_at);
            self.out.push(Effect::Index(Index::ActivityBack(back)));
        }
        let gone: Vec<_> = evicted
            .iter()
            .flat_map(|old| old.reactions.iter().map(|r| r.id))
            .collect();
        if !gone.is_empty() {
            self.out.push(Effect::Index(Index::ReactionsGone(gone)));
        }
        self.shared.metrics.messages_add(1 - evicted.len() as i64);
        let kept = Stored::Added {
            frame: frame.clone(),
            index,
            at,
        };
        self.publish("messageAdded", seq, frame, kept);
    }

    /// Records a log message (`subtype: log`).
    pub fn log_event(&mut self, kind: LogKind, details: Value, now: Millis) {
        let at = self.log.stamp(now);
        let m = Message {
            id: MessageId::new(),
            index: self.log.next_index(),
            conversation_id: self.id,
            author: None,
            body: None,
            attributes: empty(),
            metadata: Map::new(),
            details,
            type_: MessageType::Message,
            subtype: Subtype::Log,
            kind: Some(kind),
            media: Vec::new(),
            reply_to: None,
            reactions: Vec::new(),
            client_id: None,
            created_at: at,
            updated_at: at,
            edited: false,
            ts: at as f64 / 1000.0,
        };
        self.append(m);
    }

    // ----- membership ---------------------------------------------------------

    pub(super) fn insert_chat(
        &mut self,
        identity: Identity,
        role: Role,
        attributes: Option<Value>,
        now: Millis,
    ) -> u64 {
        let hub = self.shared.hub_at(&identity, now);
        self.out
            .push(Effect::Index(Index::Member(hub.clone(), true)));
        self.joined_users.push((identity.clone(), now));
        let p = Participant {
            id: ParticipantId::new(),
            identity: Some(identity),
            conversation_id: self.id,
            role,
            kind: ParticipantKind::Chat,
            attributes: attributes.unwrap_or_else(empty),
            joined_at: now,
            updated_at: now,
            last_read_message_index: None,
            last_read_at: None,
            messaging_binding: None,
            notification_level: NotificationLevel::Default,
        };
        self.members.insert(p, Some(hub))
    }

    pub(super) fn check_room(&self) -> Result<()> {
        let max = self.shared.config.limits.max_participants;
        if self.members.len() >= max {
            return Err(Error::conflict(format!(
                "a conversation holds at most {max} participants"
            )));
        }
        Ok(())
    }

    /// Announces a participant added after creation: participantJoined, the log
    /// message, and conversationAdded to the new user.
    pub(super) fn announce_joined(&mut self, seq: u64, now: Millis) {
        let Some(m) = self.members.get(seq) else {
            return;
        };
        let p = m.p.clone();
        if let Some(hub) = &m.hub {
            let frame = membership_frame(self.id, false, &self.view_for(m));
            self.out.push(Effect::Membership(hub.clone(), frame));
        }
        self.emit("participantJoined", &p);
        self.log_event(
            LogKind::ParticipantJoined,
            json!({"participant_id": p.id, "identity": p.identity}),
            now,
        );
    }

    /// Removes a participant: its own participantLeft first, then
    /// conversationRemoved to it, then the log message for the others.
    pub fn remove_member(&mut self, seq: u64, reason: &'static str, now: Millis) {
        let Some(m) = self.members.get(seq) else {
            return;
        };
        let p = m.p.clone();
        self.emit("participantLeft", &p);
        let Some(m) = self.members.remove(seq) else {
            return;
        };
        if let Some(identity) = &p.identity {
            if self.typing.forget(identity) {
                self.typing_event("typingEnded", identity);
            }
        }
        if let Some(b) = &p.messaging_binding {
            let gone = Index::Address {
                address: b.address.clone(),
                proxy: b.proxy_address.clone(),
                came: false,
            };
            self.out.push(Effect::Index(gone));
        }
        if let Some(hub) = &m.hub {
            self.out
                .push(Effect::Index(Index::Member(hub.clone(), false)));
            let frame = membership_frame(self.id, true, &json!({"id": self.id, "reason": reason}));
            self.out.push(Effect::Membership(hub.clone(), frame));
        }
        self.log_event(
            LogKind::ParticipantLeft,
            json!({"participant_id": p.id, "identity": p.identity}),
            now,
        );
    }

    /// Sends typingStarted/typingEnded to everyone but the typist.
    pub fn typing_event(&mut self, event: &str, who: &Identity) {
        let frame = encode_event(event, Some(self.id), None, &json!({"identity": who}));
        let to = self.members.recipients();
        self.out.push(Effect::Typing(frame, to, who.clone()));
    }

    /// Runs one conversation-scoped op at `now` (wall-clock milliseconds, and
    /// the clock's elapsed time for typing deadlines), from cluster log entry
    /// `entry` if it comes from one: checks, changes state, appends what it
    /// sends to `out`, answers. No I/O.
    pub fn apply(
        &mut self,
        c: &Caller,
        op: ConversationOp,
        outbox: Option<&Arc<Outbox>>,
        (now, elapsed): (Millis, std::time::Duration),
        entry: Option<u64>,
    ) -> Result<Answer> {
        use ConversationOp as Op;
        let r = match op {
            // The two ops that can repeat an earlier one say so in their answer.
            Op::Send(s) => return self.send(c, s, now, entry),
            Op::AddReaction {
                message,
                reaction,
                identity,
            } => return self.add_reaction(c, &message, reaction, identity.as_deref(), now),
            Op::Get => self.get(c),
            Op::Update(u) => self.update(c, u, now),
            Op::Delete => self.delete(c),
            Op::Join => self.join(c, now),
            Op::Leave => self.leave(c, now),
            Op::SetNotificationLevel(level) => self.set_notification_level(c, level),
            Op::AddParticipant(a) => self.add_participant(c, a, now),
            Op::AddNonChat(a) => self.add_non_chat(c, a, now),
            Op::RemoveParticipant(p) => self.remove_participant(c, &p, now),
            Op::GetParticipant(p) => self.get_participant(c, &p),
            Op::ListParticipants { page_size, cursor } => {
                self.list_participants(c, page_size, cursor.as_deref())
            }
            Op::CountParticipants => self.count_participants(c),
            Op::UpdateParticipant(u) => self.update_participant(c, u, now),
            Op::GetMessage(m) => self.get_message(c, &m),
            Op::Edit(e) => self.edit(c, e, now),
            Op::DeleteMessage(m) => self.delete_message(c, &m),
            Op::ListMessages(l) => self.list_messages(c, l),
            Op::CountMessages => self.count_messages(c),
            Op::RemoveReaction(reaction) => super::messages::reaction_id(&reaction)
                .and_then(|id| self.remove_reaction(c, id, now)),
            Op::ReadAdvance(index) => self.read_advance(c, index, now),
            Op::ReadSet(index) => self.read_set(c, index, now),
            Op::ReadAll => self.read_all(c, now),
            Op::ReadNone => self.read_none(c, now),
            Op::ReadMark(message) => self.read_mark(c, message.as_ref(), now),
            Op::UnreadCount => self.unread_count(c),
            Op::TypingStart { after } => self.typing_start(c, elapsed, after),
            Op::TypingStop => self.typing_stop(c),
            Op::Replay(since_seq) => self.replay(c, since_seq, outbox),
        };
        r.map(Answer::from)
    }
}
