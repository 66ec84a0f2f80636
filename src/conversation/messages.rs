//! Message, reaction, read-horizon, typing and replay ops of a conversation.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::effects::{Effect, Index};
use super::events::Stored;
use super::log::Window;
use super::state::{Access, ConversationState};
use super::typing::Started;
use super::Answer;
use crate::delivery::Outbox;
use crate::error::{Error, Result};
use crate::model::Caller;
use crate::model::{
    ConversationId, Identity, Message, MessageId, MessageRefOut, MessageType, Millis, Page,
    Reaction, ReactionId, State, Subtype,
};
use crate::paging::{decode_cursor, encode_cursor, page_size};
use crate::protocol::{Direction, EditMessage, ListMessages, MessageRef, Reply, SendMessage};
use crate::validate;

/// Longest `client_id`, in characters.
const MAX_CLIENT_ID_CHARS: usize = 256;

/// The cursor of `message.list`: a whole request, minus the conversation.
#[derive(Debug, Serialize, Deserialize)]
struct MessageCursor {
    list: String,
    dir: Direction,
    anchor: u64,
    size: usize,
    since: Option<Millis>,
    until: Option<Millis>,
}

/// A feed position: `(created_at, conversation id, index)`.
pub(crate) type FeedKey = (Millis, ConversationId, u64);

/// What one conversation contributes to a `message.feed` page.
#[derive(Debug, Default)]
pub(crate) struct FeedPart {
    /// Up to `limit + 1` messages nearest to the bound, in index order.
    pub messages: Vec<Message>,
    /// Whether messages in the window exist on the other side of the bound.
    pub beyond: bool,
}

/// Which side of a feed key a page takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum FeedSide {
    /// The newest messages with key < bound (no bound: the newest of all).
    Before,
    /// The oldest messages with key > bound.
    After,
}

/// `message.send`'s answer.
fn sent(m: &Message) -> Reply {
    Reply::Sent {
        id: m.id,
        index: m.index,
        created_at: m.created_at,
    }
}

impl ConversationState {
    fn author_of(&self, caller: &Caller, given: Option<&str>, field: &str) -> Result<Identity> {
        match caller {
            Caller::User(i) => {
                self.access(caller)?;
                Ok(i.clone())
            }
            Caller::Service => match given {
                Some(a) => validate::identity(a, &self.shared.config.limits),
                None => Err(Error::bad(format!(
                    "{field} is required when the service acts"
                ))),
            },
        }
    }

    fn resolve_message(&self, r: &MessageRef) -> Result<u64> {
        self.log
            .resolve(r)
            .ok_or_else(|| Error::not_found("message not found"))
    }

    /// `entry`: the cluster log entry the send comes from, if it does.
    pub fn send(
        &mut self,
        caller: &Caller,
        s: SendMessage,
        now: Millis,
        entry: Option<u64>,
    ) -> Result<Answer> {
        let author = self.author_of(caller, s.author.as_deref(), "author")?;
        let limits = &self.shared.config.limits;
        if let Some(b) = &s.body {
            validate::body(b, limits)?;
        }
        if let Some(a) = &s.attributes {
            validate::json_field("attributes", a, limits)?;
        }
        if let Some(d) = &s.details {
            validate::json_field("details", d, limits)?;
        }
        if let Some(m) = &s.metadata {
            validate::metadata(m, false, limits)?;
        }
        if let Some(c) = &s.client_id {
            validate::name(
                "client_id",
                c,
                &crate::config::Limits {
                    max_name_chars: MAX_CLIENT_ID_CHARS,
                    ..limits.clone()
                },
            )?;
            if let Some(m) = self.log.by_client_id(&author, c) {
                return Ok(Answer {
                    data: sent(m),
                    repeated: true,
                });
            }
        }
        let media = validate::media(&s.media, limits)?;
        if s.body.as_deref().is_none_or(str::is_empty) && media.is_empty() {
            return Err(Error::bad(
                "a message needs a non-empty body or at least one media item",
            ));
        }
        if self.meta.state.current == State::Closed {
            return Err(Error::closed());
        }
        let reply_to = match &s.reply_to {
            None => None,
            Some(r) => {
                let idx = self.resolve_message(r)?;
                self.log.get(idx).map(|m| MessageRefOut {
                    id: m.id,
                    index: m.index,
                })
            }
        };
        let at = self.log.stamp(now);
        let m = Message {
            id: MessageId::new(),
            index: self.log.next_index(),
            conversation_id: self.id,
            author: Some(author.clone()),
            body: s.body,
            attributes: s.attributes.unwrap_or_else(|| json!({})),
            metadata: s.metadata.unwrap_or_default(),
            details: s.details.unwrap_or_else(|| json!({})),
            type_: MessageType::Message,
            subtype: Subtype::Chat,
            kind: None,
            media,
            reply_to,
            reactions: Vec::new(),
            client_id: s.client_id,
            created_at: at,
            updated_at: at,
            edited: false,
            ts: at as f64 / 1000.0,
        };
        let answer = sent(&m);
        if self.typing.sent(&author, entry) {
            self.typing_event("typingEnded", &author);
        }
        self.append(m);
        Ok(answer.into())
    }

    pub fn get_message(&self, caller: &Caller, r: &MessageRef) -> Result<Reply> {
        self.access(caller)?;
        let idx = self.resolve_message(r)?;
        self.log
            .get(idx)
            .map(|m| Reply::Message(Box::new(m.clone())))
            .ok_or_else(|| Error::not_found("message not found"))
    }

    pub fn edit(&mut self, caller: &Caller, e: EditMessage, now: Millis) -> Result<Reply> {
        let access = self.access(caller)?;
        let idx = self.resolve_message(&e.message)?;
        let limits = &self.shared.config.limits;
        if let Some(b) = &e.body {
            validate::body(b, limits)?;
        }
        if let Some(a) = &e.attributes {
            validate::json_field("attributes", a, limits)?;
        }
        let Some(m) = self.log.get_mut(idx) else {
            return Err(Error::not_found("message not found"));
        };
        if m.is_log() {
            return Err(Error::forbidden("log messages cannot be edited"));
        }
        if let Access::Member { identity, .. } = &access {
            if m.author.as_ref() != Some(identity) {
                return Err(Error::forbidden("only the author may edit a message"));
            }
        }
        if e.body.as_deref() == Some("") && m.media.is_empty() {
            return Err(Error::bad(
                "a message needs a non-empty body or at least one media item",
            ));
        }
        let size_before = m.content_bytes();
        let mut reasons = Vec::new();
        if let Some(b) = e.body {
            if m.body.as_deref() != Some(b.as_str()) {
                m.body = Some(b);
                reasons.push("body");
            }
        }
        if let Some(a) = e.attributes {
            if a != m.attributes {
                m.attributes = a;
                reasons.push("attributes");
            }
        }
        if !reasons.is_empty() {
            m.updated_at = now.max(m.created_at);
            m.edited = true;
        }
        let m = m.clone();
        self.log.resized(size_before, m.content_bytes());
        if !reasons.is_empty() {
            self.emit(
                "messageUpdated",
                &json!({"message": m, "update_reasons": reasons}),
            );
        }
        Ok(Reply::Message(Box::new(m)))
    }

    pub fn delete_message(&mut self, caller: &Caller, r: &MessageRef) -> Result<Reply> {
        let access = self.access(caller)?;
        let idx = self.resolve_message(r)?;
        let Some(m) = self.log.get(idx) else {
            return Err(Error::not_found("message not found"));
        };
        let is_author = access.identity().is_some() && m.author.as_ref() == access.identity();
        if !is_author && !access.is_admin() {
            return Err(Error::forbidden(
                "only the author or an admin may delete a message",
            ));
        }
        let Some(m) = self.log.remove(idx) else {
            return Err(Error::not_found("message not found"));
        };
        if !m.reactions.is_empty() {
            let gone = m.reactions.iter().map(|r| r.id).collect();
            self.out.push(Effect::Index(Index::ReactionsGone(gone)));
        }
        self.shared.metrics.messages_add(-1);
        let back = self.log.last_chat().map(|l| l.created_at);
        self.out.push(Effect::Index(Index::ActivityBack(back)));
        self.emit("messageRemoved", &json!({"id": m.id, "index": m.index}));
        Ok(Reply::DONE)
    }

    pub fn list_messages(&self, caller: &Caller, l: ListMessages) -> Result<Reply> {
        self.access(caller)?;
        // Checked even when a cursor overrides it: out of range is bad_request.
        let asked = page_size(l.page_size, 30, 100, "page_size")?;
        let (dir, anchor, size, w) = match &l.cursor {
            Some(c) => {
                let c: MessageCursor = decode_cursor(c)?;
                if c.list != "messages" || c.size == 0 || c.size > 100 {
                    return Err(Error::bad("invalid cursor"));
                }
                (
                    c.dir,
                    Some(c.anchor),
                    c.size,
                    Window {
                        since: c.since,
                        until: c.until,
                    },
                )
            }
            None => (
                l.direction.unwrap_or_default(),
                l.anchor,
                asked,
                Window {
                    since: l.since,
                    until: l.until,
                },
            ),
        };
        let slice = self.log.page(dir, anchor, size, w);
        let cursor = |dir, anchor| {
            encode_cursor(&MessageCursor {
                list: "messages".into(),
                dir,
                anchor,
                size,
                since: w.since,
                until: w.until,
            })
        };
        // Neighbours of an empty page are named by the anchor it was asked for.
        let first = slice.items.first().map(|m| m.index).or(anchor);
        let last = slice.items.last().map(|m| m.index).or(anchor);
        let page = Page {
            next_cursor: if slice.has_next {
                last.map(|i| cursor(Direction::Forward, i.saturating_add(1)))
            } else {
                None
            },
            prev_cursor: if slice.has_prev {
                first
                    .and_then(|i| i.checked_sub(1))
                    .map(|i| cursor(Direction::Backwards, i))
            } else {
                None
            },
            has_next: slice.has_next,
            has_prev: slice.has_prev,
            items: slice.items.into_iter().cloned().collect(),
        };
        Ok(Reply::Messages(page))
    }

    pub fn count_messages(&self, caller: &Caller) -> Result<Reply> {
        self.access(caller)?;
        Ok(Reply::Count {
            count: self.log.len(),
        })
    }

    /// This conversation's part of a feed page (see [`FeedPart`]).
    pub fn feed(
        &self,
        identity: &Identity,
        side: FeedSide,
        bound: Option<FeedKey>,
        limit: usize,
        w: Window,
    ) -> FeedPart {
        if self.members.seq_of(identity).is_none() {
            return FeedPart::default();
        }
        let key = |m: &Message| (m.created_at, self.id, m.index);
        let mut part = FeedPart::default();
        match side {
            FeedSide::Before => {
                let mut v: Vec<Message> = self
                    .log
                    .scan(w)
                    .rev()
                    .filter(|m| bound.is_none_or(|b| key(m) < b))
                    .take(limit + 1)
                    .cloned()
                    .collect();
                v.reverse();
                part.messages = v;
                part.beyond = bound.is_some_and(|b| self.log.scan(w).rev().any(|m| key(m) >= b));
            }
            FeedSide::After => {
                part.messages = self
                    .log
                    .scan(w)
                    .filter(|m| bound.is_none_or(|b| key(m) > b))
                    .take(limit + 1)
                    .cloned()
                    .collect();
                part.beyond = bound.is_some_and(|b| self.log.scan(w).any(|m| key(m) <= b));
            }
        }
        part
    }

    // ----- reactions ----------------------------------------------------------

    pub fn add_reaction(
        &mut self,
        caller: &Caller,
        r: &MessageRef,
        reaction: String,
        who: Option<&str>,
        now: Millis,
    ) -> Result<Answer> {
        let identity = self.author_of(caller, who, "identity")?;
        let n = reaction.chars().count();
        let max = self.shared.config.limits.max_reaction_chars;
        if n == 0 || n > max {
            return Err(Error::bad(format!(
                "reaction must be 1 to {max} characters"
            )));
        }
        let idx = self.resolve_message(r)?;
        let Some(m) = self.log.get_mut(idx) else {
            return Err(Error::not_found("message not found"));
        };
        if let Some(existing) = m
            .reactions
            .iter()
            .find(|x| x.identity == identity && x.reaction == reaction)
        {
            return Ok(Answer {
                data: Reply::Reaction { id: existing.id },
                repeated: true,
            });
        }
        let rx = Reaction {
            id: ReactionId::new(),
            reaction,
            identity,
            created_at: now,
        };
        m.reactions.push(rx.clone());
        m.updated_at = now.max(m.updated_at);
        let (mid, midx) = (m.id, m.index);
        let message = m.clone();
        self.log.note_reaction(rx.id, idx);
        self.out.push(Effect::Index(Index::Reaction(rx.id, true)));
        self.emit(
            "reactionAdded",
            &json!({"message_id": mid, "message_index": midx, "reaction": rx}),
        );
        self.emit(
            "messageUpdated",
            &json!({"message": message, "update_reasons": ["reactions"]}),
        );
        Ok(Reply::Reaction { id: rx.id }.into())
    }

    pub fn remove_reaction(
        &mut self,
        caller: &Caller,
        id: ReactionId,
        now: Millis,
    ) -> Result<Reply> {
        let access = self.access(caller)?;
        let idx = self
            .log
            .reaction_message(id)
            .ok_or_else(|| Error::not_found("reaction not found"))?;
        let Some(m) = self.log.get_mut(idx) else {
            return Err(Error::not_found("reaction not found"));
        };
        let Some(pos) = m.reactions.iter().position(|x| x.id == id) else {
            return Err(Error::not_found("reaction not found"));
        };
        if access
            .identity()
            .is_some_and(|i| *i != m.reactions[pos].identity)
            && !access.is_admin()
        {
            return Err(Error::forbidden(
                "only who reacted (or an admin) may remove a reaction",
            ));
        }
        m.reactions.remove(pos);
        m.updated_at = now.max(m.updated_at);
        let (mid, midx) = (m.id, m.index);
        let message = m.clone();
        self.log.drop_reaction(id);
        self.out.push(Effect::Index(Index::Reaction(id, false)));
        self.emit(
            "reactionRemoved",
            &json!({"message_id": mid, "message_index": midx, "reaction_id": id}),
        );
        self.emit(
            "messageUpdated",
            &json!({"message": message, "update_reasons": ["reactions"]}),
        );
        Ok(Reply::DONE)
    }

    // ----- read horizons ------------------------------------------------------

    fn reader(&self, caller: &Caller) -> Result<u64> {
        match self.access(caller)? {
            Access::Member { seq, .. } => Ok(seq),
            Access::Service => Err(Error::bad(
                "read state belongs to a user; act as one (X-Identity)",
            )),
        }
    }

    fn unread_of(&self, seq: u64) -> u64 {
        self.members.get(seq).map_or(0, |m| {
            m.p.identity
                .as_ref()
                .map_or(0, |i| self.log.unread(i, m.p.last_read_message_index))
        })
    }

    /// Moves a reader's horizon to `to`, announcing the change; answers the unread count.
    fn set_horizon(&mut self, seq: u64, to: Option<u64>, now: Millis) -> Result<Reply> {
        let Some(m) = self.members.get_mut(seq) else {
            return Err(Error::not_found("participant not found"));
        };
        if m.p.last_read_message_index != to {
            m.p.last_read_message_index = to;
            m.p.last_read_at = Some(now);
            m.p.updated_at = now;
            let p = m.p.clone();
            self.emit(
                "participantUpdated",
                &json!({"participant": p, "update_reasons": ["last_read_message_index"]}),
            );
        }
        Ok(Reply::Unread {
            unread_messages_count: self.unread_of(seq),
        })
    }

    fn horizon(&self, seq: u64) -> Option<u64> {
        self.members
            .get(seq)
            .and_then(|m| m.p.last_read_message_index)
    }

    /// An index as a horizon: clamped to the last message (none without messages).
    fn clamp(&self, index: u64) -> Option<u64> {
        self.log.last_index().map(|last| index.min(last))
    }

    pub fn read_advance(&mut self, caller: &Caller, index: u64, now: Millis) -> Result<Reply> {
        let seq = self.reader(caller)?;
        let to = match (self.clamp(index), self.horizon(seq)) {
            (Some(new), Some(old)) if new <= old => Some(old),
            (Some(new), _) => Some(new),
            (None, old) => old,
        };
        self.set_horizon(seq, to, now)
    }

    pub fn read_set(&mut self, caller: &Caller, index: Option<u64>, now: Millis) -> Result<Reply> {
        let seq = self.reader(caller)?;
        let to = index.and_then(|i| self.clamp(i));
        self.set_horizon(seq, to, now)
    }

    pub fn read_all(&mut self, caller: &Caller, now: Millis) -> Result<Reply> {
        let seq = self.reader(caller)?;
        let to = self.log.last_index().or(self.horizon(seq));
        self.set_horizon(seq, to, now)
    }

    pub fn read_none(&mut self, caller: &Caller, now: Millis) -> Result<Reply> {
        let seq = self.reader(caller)?;
        self.set_horizon(seq, None, now)
    }

    pub fn read_mark(
        &mut self,
        caller: &Caller,
        r: Option<&MessageRef>,
        now: Millis,
    ) -> Result<Reply> {
        let seq = self.reader(caller)?;
        let target = match r {
            Some(r) => Some(self.resolve_message(r)?),
            None => self.log.last_index(),
        };
        let to = match (target, self.horizon(seq)) {
            (Some(t), Some(old)) if t <= old => Some(old),
            (Some(t), _) => Some(t),
            (None, old) => old,
        };
        self.set_horizon(seq, to, now)
    }

    pub fn unread_count(&self, caller: &Caller) -> Result<Reply> {
        let seq = self.reader(caller)?;
        Ok(Reply::Unread {
            unread_messages_count: self.unread_of(seq),
        })
    }

    // ----- typing -------------------------------------------------------------

    fn typist(&self, caller: &Caller) -> Result<Identity> {
        match self.access(caller)? {
            Access::Member { identity, .. } => Ok(identity),
            Access::Service => Err(Error::bad("typing belongs to a user; act as one")),
        }
    }

    /// `after`: for a signal from another cluster node, the last log entry
    /// that node had started (`typing.rs`).
    pub fn typing_start(
        &mut self,
        caller: &Caller,
        now: Duration,
        after: Option<u64>,
    ) -> Result<Reply> {
        let who = self.typist(caller)?;
        let timeout = self.shared.config.typing_timeout;
        if let Started::New(ends_in) = self.typing.start(&who, now, timeout, after) {
            self.typing_event("typingStarted", &who);
            self.timers.push((who, ends_in));
        }
        Ok(Reply::DONE)
    }

    pub fn typing_stop(&mut self, caller: &Caller) -> Result<Reply> {
        let who = self.typist(caller)?;
        if self.typing.stop(&who) {
            self.typing_event("typingEnded", &who);
        }
        Ok(Reply::DONE)
    }

    /// A typing timer fired.
    pub fn typing_timer(&mut self, who: &Identity, now: Duration) {
        match self.typing.fire(who, now) {
            Ok(true) => self.typing_event("typingEnded", who),
            Ok(false) => {}
            Err(rest) => self.timers.push((who.clone(), rest)),
        }
    }

    /// The user's last session went away.
    pub fn user_offline(&mut self, who: &Identity) {
        if self.typing.stop(who) {
            self.typing_event("typingEnded", who);
        }
    }

    // ----- replay -------------------------------------------------------------

    pub fn replay(
        &mut self,
        caller: &Caller,
        since: u64,
        outbox: Option<&Arc<Outbox>>,
    ) -> Result<Reply> {
        let Access::Member { seq, .. } = self.access(caller)? else {
            return Err(Error::bad("events.replay needs a session"));
        };
        let Some(outbox) = outbox else {
            return Err(Error::bad("events.replay needs a session"));
        };
        let last_seq = self.events.last_seq();
        let Some(member) = self.members.get(seq) else {
            return Err(Error::not_found("participant not found"));
        };
        let Some(events) = self.events.since(since) else {
            self.out.push(Effect::Replay(outbox.clone(), None));
            return Ok(Reply::Replayed {
                recovered: false,
                last_seq,
            });
        };
        let frames = events
            .map(|(s, e)| match e {
                Stored::Shared(f) | Stored::Added { frame: f, .. } => f.clone(),
                Stored::ConversationUpdated {
                    conversation,
                    reasons,
                } => self.render_updated(*s, conversation, reasons, member),
            })
            .collect();
        self.out.push(Effect::Replay(outbox.clone(), Some(frames)));
        Ok(Reply::Replayed {
            recovered: true,
            last_seq,
        })
    }
}

/// Parses a reaction id given by a client.
pub(crate) fn reaction_id(s: &str) -> Result<ReactionId> {
    ReactionId::parse(s).ok_or_else(|| Error::not_found("reaction not found"))
}
