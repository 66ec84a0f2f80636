//! The conversation actor: one per conversation, owning its members, message
//! log, read horizons, typing timers and event sequence.
//!
//! Accepts [`Ask`] (any conversation-scoped op), [`ViewFor`], [`FeedQuery`],
//! [`UserOffline`] and [`EnsureMembers`]. All state lives in
//! [`ConversationState`]; the actor only runs ops one at a time, arms typing
//! timers and stops itself after a delete. Callers use [`ConversationHandle`].

mod events;
mod log;
mod members;
mod messages;
mod shared;
mod state;
mod typing;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use actix::prelude::*;
use serde_json::Value;

pub(crate) use log::Window;
pub(crate) use messages::{FeedKey, FeedPart, FeedSide};
pub(crate) use shared::{RecentEvents, Shared};
pub(crate) use state::ConversationState;

use crate::delivery::Outbox;
use crate::error::{Error, Result};
use crate::model::Caller;
use crate::model::{Conversation, ConversationId, Identity};
use crate::protocol::Request;

/// Requests waiting in one conversation's mailbox before senders wait their turn
/// (`Addr::send` is backpressured past it): a burst of this many ops queues
/// without blocking anyone; memory per conversation stays bounded.
const MAILBOX_CAPACITY: usize = 1024;

/// What other threads may read of a conversation without asking its actor:
/// its chat members (for presence) and its last activity (to sort lists).
#[derive(Debug)]
pub(crate) struct ConvInfo {
    members: RwLock<HashSet<Identity>>,
    last_activity: AtomicU64,
}

impl ConvInfo {
    pub fn new(created_at: u64) -> Self {
        ConvInfo {
            members: RwLock::new(HashSet::new()),
            last_activity: AtomicU64::new(created_at),
        }
    }
    pub fn add_member(&self, i: &Identity) {
        self.members
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(i.clone());
    }
    pub fn remove_member(&self, i: &Identity) {
        self.members
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(i);
    }
    pub fn members(&self) -> Vec<Identity> {
        self.members
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }
    /// A chat message arrived at `at`.
    pub fn touch(&self, at: u64) {
        self.last_activity.fetch_max(at, Ordering::Relaxed);
    }
    /// The last chat message changed (a delete): activity is that message's time.
    pub fn touch_to(&self, at: Option<u64>) {
        if let Some(at) = at {
            self.last_activity.store(at, Ordering::Relaxed);
        }
    }
    /// `last_message_at`, else `created_at`.
    pub fn last_activity(&self) -> u64 {
        self.last_activity.load(Ordering::Relaxed)
    }
}

/// The actor around a [`ConversationState`].
pub(crate) struct ConversationActor {
    state: ConversationState,
}

impl ConversationActor {
    pub fn new(state: ConversationState) -> Self {
        ConversationActor { state }
    }

    /// Arms the typing timers the last op asked for.
    fn arm_timers(&mut self, ctx: &mut Context<Self>) {
        let clock = self.state.shared.config.clock.clone();
        for (who, after) in std::mem::take(&mut self.state.timers) {
            ctx.spawn(clock.sleep(after).into_actor(self).map(move |_, act, ctx| {
                let now = act.state.shared.config.clock.elapsed();
                act.state.typing_timer(&who, now);
                act.arm_timers(ctx);
            }));
        }
    }

    fn after_op(&mut self, ctx: &mut Context<Self>) {
        self.arm_timers(ctx);
        if self.state.deleted {
            ctx.stop();
        }
    }
}

impl Actor for ConversationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        // An arbiter shutting down stops us without a delete: still forget us.
        self.state.forget_everywhere();
        ::log::debug!("conversation {} stopped", self.state.id);
    }
}

/// Any conversation-scoped op of the contract, on behalf of a caller.
#[derive(Message)]
#[rtype(result = "Result<Value>")]
pub(crate) struct Ask {
    pub caller: Caller,
    pub req: Request,
    /// The asking session's outbox (for `events.replay`).
    pub outbox: Option<Arc<Outbox>>,
}

impl Handler<Ask> for ConversationActor {
    type Result = Result<Value>;

    fn handle(&mut self, msg: Ask, ctx: &mut Context<Self>) -> Result<Value> {
        let now = self.state.shared.config.clock.now_ms();
        let c = &msg.caller;
        let st = &mut self.state;
        let r = match msg.req {
            Request::ConversationGet { .. } => st.get(c),
            Request::ConversationUpdate(u) => st.update(c, u, now),
            Request::ConversationDelete { .. } => st.delete(c),
            Request::ConversationJoin { .. } => st.join(c, now),
            Request::ConversationLeave { .. } => st.leave(c, now),
            Request::SetNotificationLevel { level, .. } => st.set_notification_level(c, level),
            Request::ParticipantAdd(a) => st.add_participant(c, a, now),
            Request::ParticipantAddNonChat(a) => st.add_non_chat(c, a, now),
            Request::ParticipantRemove { participant, .. } => {
                st.remove_participant(c, &participant, now)
            }
            Request::ParticipantGet { participant, .. } => st.get_participant(c, &participant),
            Request::ParticipantList {
                page_size, cursor, ..
            } => st.list_participants(c, page_size, cursor.as_deref()),
            Request::ParticipantCount { .. } => st.count_participants(c),
            Request::ParticipantUpdate(u) => st.update_participant(c, u, now),
            Request::MessageSend(s) => st.send(c, s, now),
            Request::MessageGet { message, .. } => st.get_message(c, &message),
            Request::MessageEdit(e) => st.edit(c, e, now),
            Request::MessageDelete { message, .. } => st.delete_message(c, &message),
            Request::MessageList(l) => st.list_messages(c, l),
            Request::MessageCount { .. } => st.count_messages(c),
            Request::ReactionAdd {
                message,
                reaction,
                identity,
                ..
            } => st.add_reaction(c, &message, reaction, identity.as_deref(), now),
            Request::ReactionRemove { reaction, .. } => {
                messages::reaction_id(&reaction).and_then(|id| st.remove_reaction(c, id, now))
            }
            Request::ReadAdvance { index, .. } => st.read_advance(c, index, now),
            Request::ReadSet { index, .. } => st.read_set(c, index, now),
            Request::ReadAll { .. } => st.read_all(c, now),
            Request::ReadNone { .. } => st.read_none(c, now),
            Request::ReadMark { message, .. } => st.read_mark(c, message.as_ref(), now),
            Request::UnreadCount { .. } => st.unread_count(c),
            Request::TypingStart { .. } => {
                let now = st.shared.config.clock.elapsed();
                st.typing_start(c, now)
            }
            Request::TypingStop { .. } => st.typing_stop(c),
            Request::EventsReplay { since_seq, .. } => st.replay(c, since_seq, msg.outbox.as_ref()),
            other => Err(Error::Internal(format!("not a conversation op: {other:?}"))),
        };
        self.after_op(ctx);
        r
    }
}

/// The conversation as a caller sees it (for `conversation.list`).
#[derive(Message)]
#[rtype(result = "Conversation")]
pub(crate) struct ViewFor(pub Caller);

impl Handler<ViewFor> for ConversationActor {
    type Result = MessageResult<ViewFor>;
    fn handle(&mut self, msg: ViewFor, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.state.view(&msg.0))
    }
}

/// This conversation's part of a `message.feed` page.
#[derive(Message)]
#[rtype(result = "FeedPart")]
pub(crate) struct FeedQuery {
    pub identity: Identity,
    pub side: FeedSide,
    pub bound: Option<FeedKey>,
    pub limit: usize,
    pub window: Window,
}

impl Handler<FeedQuery> for ConversationActor {
    type Result = MessageResult<FeedQuery>;
    fn handle(&mut self, q: FeedQuery, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.state
                .feed(&q.identity, q.side, q.bound, q.limit, q.window),
        )
    }
}

/// A user's last session closed: end its typing here.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct UserOffline(pub Identity);

impl Handler<UserOffline> for ConversationActor {
    type Result = ();
    fn handle(&mut self, msg: UserOffline, _: &mut Context<Self>) {
        self.state.user_offline(&msg.0);
    }
}

/// Re-adds the users of a direct conversation who had left it.
#[derive(Message)]
#[rtype(result = "Result<Value>")]
pub(crate) struct EnsureMembers {
    pub caller: Caller,
    pub identities: Vec<Identity>,
}

impl Handler<EnsureMembers> for ConversationActor {
    type Result = Result<Value>;
    fn handle(&mut self, msg: EnsureMembers, ctx: &mut Context<Self>) -> Result<Value> {
        let now = self.state.shared.config.clock.now_ms();
        self.state.ensure_members(&msg.identities, now);
        self.after_op(ctx);
        state::to_json(&self.state.view(&msg.caller))
    }
}

/// How the rest of the engine reaches one conversation.
#[derive(Clone)]
pub(crate) struct ConversationHandle {
    pub id: ConversationId,
    pub addr: Addr<ConversationActor>,
    pub info: Arc<ConvInfo>,
}

impl ConversationHandle {
    /// Runs a conversation-scoped op; a conversation deleted meanwhile is `not_found`.
    pub async fn ask(
        &self,
        caller: Caller,
        req: Request,
        outbox: Option<Arc<Outbox>>,
    ) -> Result<Value> {
        self.addr
            .send(Ask {
                caller,
                req,
                outbox,
            })
            .await?
    }

    pub async fn view(&self, caller: Caller) -> Result<Conversation> {
        Ok(self.addr.send(ViewFor(caller)).await?)
    }

    pub async fn feed(&self, q: FeedQuery) -> Result<FeedPart> {
        Ok(self.addr.send(q).await?)
    }

    pub async fn ensure_members(&self, caller: Caller, identities: Vec<Identity>) -> Result<Value> {
        self.addr.send(EnsureMembers { caller, identities }).await?
    }
}
