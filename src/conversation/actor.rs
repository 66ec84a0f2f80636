//! The conversation actor: runs ops on its [`ConversationState`] one at a time,
//! commits their changes, and only then answers and delivers.
//!
//! Without a store (the in-memory engine) an op's effects go out as soon as it
//! has run. With one, each op's [`Batch`] goes to the store thread and the op
//! waits in `waiting`, in order, with its answer and its encoded effects; an op
//! that changed nothing waits behind the ones before it, so that nothing it
//! read leaves before it is on disk. Commits are released from the front:
//! answers and events leave in the order the ops ran.

use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use actix::dev::{MessageResponse, OneshotSender};
use actix::prelude::*;
use tokio::sync::oneshot;

use super::effects::{deliver, Effect};
use super::state::ConversationState;
use super::{Answer, FeedPart, FeedQuery};
use crate::delivery::{Fanout, Outbox};
use crate::error::{Error, Result};
use crate::model::{with_stamp, Caller, Conversation, Identity, Stamp};
use crate::protocol::{ConversationOp, Reply};
use crate::store::{Batch, Store, StoreError};

/// Requests waiting in one conversation's mailbox before senders wait their turn
/// (`Addr::send` is backpressured past it): a burst of this many ops queues
/// without blocking anyone; memory per conversation stays bounded.
const MAILBOX_CAPACITY: usize = 1024;

/// Sends an op's answer once its commit is known: `None` committed, else why not.
type OnCommit = Box<dyn FnOnce(Option<&StoreError>)>;

/// An op that ran and waits for its commit (or for the ones before it).
struct Waiting {
    ticket: u64,
    committed: bool,
    effects: Vec<Effect>,
    reply: Option<OnCommit>,
}

/// The actor around a [`ConversationState`].
pub(crate) struct ConversationActor {
    state: ConversationState,
    store: Option<Arc<Store>>,
    waiting: VecDeque<Waiting>,
    next_ticket: u64,
    /// A commit failed: nothing more is acknowledged.
    failed: Option<StoreError>,
    /// The answer to `conversation.create`, sent once the new conversation is committed.
    created: Option<OnCommit>,
    /// Where its events go: its members' sessions, flat.
    fanout: Fanout,
}

impl ConversationActor {
    /// An actor for a conversation; `created` answers its creation once committed.
    pub fn new(
        state: ConversationState,
        store: Option<Arc<Store>>,
        created: Option<oneshot::Sender<Result<Reply>>>,
        answer: Result<Reply>,
    ) -> Self {
        ConversationActor {
            state,
            store,
            waiting: VecDeque::new(),
            next_ticket: 0,
            failed: None,
            created: created.map(|tx| reply_with(answer, tx)),
            fanout: Fanout::default(),
        }
    }

    /// Arms the typing timers the last op asked for.
    fn arm_timers(&mut self, ctx: &mut Context<Self>) {
        let clock = self.state.shared.config.clock.clone();
        for (who, after) in std::mem::take(&mut self.state.timers) {
            ctx.spawn(clock.sleep(after).into_actor(self).map(move |_, act, ctx| {
                let now = act.state.shared.config.clock.elapsed();
                act.state.typing_timer(&who, now);
                act.settle(ctx, None);
            }));
        }
    }

    /// Whether what the last op did can go out now: no store, or nothing to
    /// commit and nothing waiting ahead of it.
    fn immediate(&mut self) -> bool {
        if self.store.is_none() {
            self.state.discard_changes();
            return true;
        }
        false
    }

    /// Answers an op: at once when nothing needs committing, else once committed.
    fn finish<T: 'static>(
        &mut self,
        ctx: &mut Context<Self>,
        answer: T,
        unstored: fn(&StoreError) -> T,
    ) -> Deferred<T> {
        self.arm_timers(ctx);
        if self.immediate() {
            self.deliver_now(ctx);
            return Deferred::Now(answer);
        }
        let batch = self.state.take_changes();
        if batch.is_none() && self.waiting.is_empty() && self.failed.is_none() {
            self.deliver_now(ctx);
            return Deferred::Now(answer);
        }
        let slot: Slot<T> = Rc::new(Cell::new(None));
        let to = slot.clone();
        let reply: OnCommit = Box::new(move |e| {
            if let Some(tx) = to.take() {
                let _ = tx.send(match e {
                    None => answer,
                    Some(e) => unstored(e),
                });
            }
        });
        self.enqueue(ctx, batch, Some(reply));
        Deferred::Later(slot)
    }

    /// Sends what ops without an asker did (a typing timer, a user going offline).
    fn settle(&mut self, ctx: &mut Context<Self>, reply: Option<OnCommit>) {
        self.arm_timers(ctx);
        if self.immediate() {
            self.deliver_now(ctx);
            if let Some(r) = reply {
                r(None);
            }
            return;
        }
        let batch = self.state.take_changes();
        if batch.is_none() && self.waiting.is_empty() && self.failed.is_none() {
            self.deliver_now(ctx);
            if let Some(r) = reply {
                r(None);
            }
            return;
        }
        self.enqueue(ctx, batch, reply);
    }

    fn deliver_now(&mut self, ctx: &mut Context<Self>) {
        // Drained, not taken: the buffer keeps its capacity for the next op.
        let st = &mut self.state;
        deliver(
            (st.id, &st.info),
            st.out.drain(..),
            &st.shared,
            &mut self.fanout,
        );
        if self.state.deleted {
            ctx.stop();
        }
    }

    fn enqueue(&mut self, ctx: &mut Context<Self>, batch: Option<Batch>, reply: Option<OnCommit>) {
        let effects = std::mem::take(&mut self.state.out);
        if let Some(e) = &self.failed {
            if let Some(r) = reply {
                r(Some(e));
            }
            return;
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        let committed = batch.is_none();
        self.waiting.push_back(Waiting {
            ticket,
            committed,
            effects,
            reply,
        });
        if let (Some(b), Some(store)) = (batch, &self.store) {
            let done = store.submit(b);
            ctx.spawn(
                async move {
                    done.await
                        .unwrap_or_else(|_| Err(StoreError::Commit("the store stopped".into())))
                }
                .into_actor(self)
                .map(move |r, act, ctx| act.committed(ticket, r, ctx)),
            );
        }
        self.release(ctx);
    }

    /// A commit came back: release every op at the front that is committed.
    fn committed(
        &mut self,
        ticket: u64,
        r: std::result::Result<(), StoreError>,
        ctx: &mut Context<Self>,
    ) {
        if let Err(e) = r {
            // Nothing waiting is acknowledged: its changes may not be on disk.
            for w in self.waiting.drain(..) {
                if let Some(reply) = w.reply {
                    reply(Some(&e));
                }
            }
            self.failed = Some(e);
            return;
        }
        if let Some(w) = self.waiting.iter_mut().find(|w| w.ticket == ticket) {
            w.committed = true;
        }
        self.release(ctx);
    }

    fn release(&mut self, ctx: &mut Context<Self>) {
        while self.waiting.front().is_some_and(|w| w.committed) {
            let Some(w) = self.waiting.pop_front() else {
                break;
            };
            let st = &self.state;
            deliver((st.id, &st.info), w.effects, &st.shared, &mut self.fanout);
            if let Some(reply) = w.reply {
                reply(None);
            }
        }
        if self.waiting.is_empty() && self.state.deleted {
            ctx.stop();
        }
    }
}

/// Where an asker's channel waits for its answer.
type Slot<T> = Rc<Cell<Option<OneshotSender<T>>>>;

/// An op's answer: now, or once its changes are committed.
///
/// A deferred answer goes straight into the asker's channel: actix's
/// `Response::fut` would spawn a task per op to wait on a channel of our own,
/// one more task, wake-up and two allocations per durable acknowledgement.
/// Actix hands a handler's result its channel right after the handler
/// returns, in the same turn, so the channel is in the slot long before any
/// commit can come back.
pub(crate) enum Deferred<T> {
    Now(T),
    Later(Slot<T>),
}

impl<M> MessageResponse<ConversationActor, M> for Deferred<M::Result>
where
    M: Message,
    M::Result: 'static,
{
    fn handle(self, _: &mut Context<ConversationActor>, tx: Option<OneshotSender<M::Result>>) {
        match (self, tx) {
            (Deferred::Now(answer), Some(tx)) => {
                let _ = tx.send(answer);
            }
            (Deferred::Later(slot), tx) => slot.set(tx),
            (Deferred::Now(_), None) => {}
        }
    }
}

/// A reply that sends `answer` once committed, `internal` if not.
fn reply_with(answer: Result<Reply>, tx: oneshot::Sender<Result<Reply>>) -> OnCommit {
    Box::new(move |e| {
        let _ = tx.send(match e {
            None => answer,
            Some(e) => Err(unstored(e)),
        });
    })
}

fn unstored(e: &StoreError) -> Error {
    Error::Internal(format!("not acknowledged: {e}"))
}

fn unstored_result<T>(e: &StoreError) -> Result<T> {
    Err(unstored(e))
}

impl Actor for ConversationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        // A new conversation: commit it and announce it before its first op.
        let created = self.created.take();
        if created.is_some() || !self.state.out.is_empty() {
            self.settle(ctx, created);
        }
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        // The engine shutting down before their commits came back: they may
        // not be on disk, so they are not acknowledged.
        let gone = StoreError::Commit("the engine stopped".into());
        for w in self.waiting.drain(..) {
            if let Some(reply) = w.reply {
                reply(Some(&gone));
            }
        }
        // An arbiter shutting down stops us without a delete: still forget us.
        if let Some(gone) = self.state.forget() {
            let st = &self.state;
            gone.apply(st.id, &st.info, &st.shared);
        }
        ::log::debug!("conversation {} stopped", self.state.id);
    }
}

/// Any conversation-scoped op of the contract, on behalf of a caller.
#[derive(Message)]
#[rtype(result = "Result<Answer>")]
pub(crate) struct Ask {
    pub caller: Caller,
    pub op: ConversationOp,
    /// The asking session's outbox (for `events.replay`).
    pub outbox: Option<Arc<Outbox>>,
    /// The op's time and ids, when it comes from a cluster's log.
    pub stamp: Option<Stamp>,
}

impl Handler<Ask> for ConversationActor {
    type Result = Deferred<Result<Answer>>;

    fn handle(&mut self, msg: Ask, ctx: &mut Context<Self>) -> Self::Result {
        if self.state.deleted {
            return Deferred::Now(Err(Error::not_found("conversation not found")));
        }
        let clock = &self.state.shared.config.clock;
        let at = msg.stamp.map_or_else(|| clock.now_ms(), |s| s.at);
        let now = (at, clock.elapsed());
        let state = &mut self.state;
        let r = with_stamp(msg.stamp, || {
            let entry = msg.stamp.map(|s| s.entry);
            state.apply(&msg.caller, msg.op, msg.outbox.as_ref(), now, entry)
        });
        self.finish(ctx, r, unstored_result)
    }
}

/// An [`Ask`] from a cluster's log. Sent with `do_send`, it joins the
/// mailbox when it is sent, not when its future is first polled (nor later,
/// as `send` defers a message to a full mailbox), so asks sent one after
/// another are handled in that order without waiting for each answer: a
/// cluster node applying a log entry (`cluster/lanes.rs`).
///
/// The answer goes straight to the session that asked the op, when it was
/// asked on this node: through the node's applier it came a hop later than
/// the op's events, so the two left in separate writes. `done` then tells the
/// applier that the op is applied.
pub(crate) struct AskInOrder {
    pub ask: Ask,
    pub reply: Answering,
    pub done: Applied,
}

impl Message for AskInOrder {
    type Result = ();
}

impl Handler<AskInOrder> for ConversationActor {
    type Result = ();

    fn handle(&mut self, mut msg: AskInOrder, ctx: &mut Context<Self>) {
        let answer = Handler::<Ask>::handle(self, msg.ask, ctx);
        MessageResponse::<Self, Ask>::handle(answer, ctx, msg.reply.0.take());
        msg.done.now();
    }
}

/// What to do once an op from a cluster's log is applied, called on the
/// thread that applied it, so that the log's reader is not woken for each
/// op. Dropped unapplied (its conversation stopped before the op reached
/// it), it is called then: the op is as applied as it will be.
pub(crate) struct Applied(Option<Box<dyn FnOnce() + Send>>);

impl Applied {
    pub fn then(f: impl FnOnce() + Send + 'static) -> Applied {
        Applied(Some(Box::new(f)))
    }

    /// One that the returned receiver hears from, for a caller that waits.
    pub fn awaited() -> (Applied, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        let applied = Applied::then(move || {
            let _ = tx.send(());
        });
        (applied, rx)
    }

    /// Calls it now (dropping it does).
    pub fn now(self) {
        drop(self);
    }
}

impl Drop for Applied {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// Who hears an op's answer: its asker, or no one (an op asked on another
/// node). Dropped unanswered, as when the conversation stopped before the op
/// reached it, it answers as a closed mailbox does for [`Ask`].
pub(crate) struct Answering(pub Option<OneshotSender<Result<Answer>>>);

impl Answering {
    pub fn answer(mut self, answer: Result<Answer>) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(answer);
        }
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(Err(Error::from(MailboxError::Closed)));
        }
    }
}

/// The conversation as a caller sees it (for `conversation.list`).
#[derive(Message)]
#[rtype(result = "Option<Conversation>")]
pub(crate) struct ViewFor(pub Caller);

impl Handler<ViewFor> for ConversationActor {
    type Result = Deferred<Option<Conversation>>;
    fn handle(&mut self, msg: ViewFor, ctx: &mut Context<Self>) -> Self::Result {
        let view = (!self.state.deleted).then(|| self.state.view(&msg.0));
        self.finish(ctx, view, |_| None)
    }
}

impl Handler<FeedQuery> for ConversationActor {
    type Result = Deferred<FeedPart>;
    fn handle(&mut self, q: FeedQuery, ctx: &mut Context<Self>) -> Self::Result {
        let part = self
            .state
            .feed(&q.identity, q.side, q.bound, q.limit, q.window);
        self.finish(ctx, part, |_| FeedPart::default())
    }
}

/// Every record of the conversation, for a cluster's snapshot: whole, or
/// (given `since`, a log position) only if it changed after that entry.
/// Sent with `do_send`, which queues it at once whatever the mailbox holds,
/// so that it is answered after the ops queued before it and before any
/// queued after: the records are those of the moment it was sent.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Records {
    pub since: Option<u64>,
    pub reply: oneshot::Sender<Kept>,
}

/// A conversation's part of a snapshot.
pub(crate) enum Kept {
    /// Deleted: none.
    Gone,
    /// Not changed since the position asked about.
    Unchanged,
    /// The records changed since the position asked about.
    Changed(Batch),
    /// Every record of it.
    Whole(Batch),
}

impl Handler<Records> for ConversationActor {
    type Result = ();
    fn handle(&mut self, r: Records, _: &mut Context<Self>) {
        let s = &self.state;
        let kept = match r.since.filter(|_| !(s.deleted || s.erased)) {
            Some(since) if s.changed_at <= since => Kept::Unchanged,
            since => match since.and_then(|since| s.records_since(since)) {
                Some(changed) => Kept::Changed(changed),
                None => s.records().map_or(Kept::Gone, Kept::Whole),
            },
        };
        // The engine is stopping if no one waits.
        let _ = r.reply.send(kept);
    }
}

/// A user's last session closed: end its typing here.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct UserOffline(pub Identity);

impl Handler<UserOffline> for ConversationActor {
    type Result = ();
    fn handle(&mut self, msg: UserOffline, ctx: &mut Context<Self>) {
        self.state.user_offline(&msg.0);
        self.settle(ctx, None);
    }
}

/// Re-adds the users of a direct conversation who had left it.
#[derive(Message)]
#[rtype(result = "Result<Reply>")]
pub(crate) struct EnsureMembers {
    pub caller: Caller,
    pub identities: Vec<Identity>,
    pub stamp: Option<Stamp>,
}

impl Handler<EnsureMembers> for ConversationActor {
    type Result = Deferred<Result<Reply>>;
    fn handle(&mut self, msg: EnsureMembers, ctx: &mut Context<Self>) -> Self::Result {
        if self.state.deleted {
            return Deferred::Now(Err(Error::not_found("conversation not found")));
        }
        let now = msg
            .stamp
            .map_or_else(|| self.state.shared.config.clock.now_ms(), |s| s.at);
        let state = &mut self.state;
        with_stamp(msg.stamp, || state.ensure_members(&msg.identities, now));
        let r = Ok(Reply::Conversation(Box::new(self.state.view(&msg.caller))));
        self.finish(ctx, r, unstored_result)
    }
}
