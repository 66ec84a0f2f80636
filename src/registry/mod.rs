//! The registry actor: creates conversations, keeps the direct-pair index, and
//! routes presence changes.
//!
//! Accepts [`Create`], [`Direct`], [`Connect`] and [`Disconnect`]. Creation and
//! presence go through this one mailbox so that they are serialized: two racing
//! `conversation.direct` calls make one conversation, and each user's
//! online/offline change is announced exactly once. Hot lookups (id → actor,
//! unique name → id, identity → hub) do not come here: they are shared maps.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use serde_json::json;

pub(crate) use crate::delivery::UserHub;

use crate::conversation::Shared;
use crate::conversation::{ConversationActor, ConversationHandle, ConversationState};
use crate::error::{Error, Result};
use crate::model::Caller;
use crate::model::{with_stamp, ConversationId, Identity, Millis, Stamp};
use crate::protocol::{encode_event, CreateConversation, Reply};
use crate::store::Recovered;
use tokio::sync::oneshot;

mod presence;
use presence::PresenceOut;
pub(crate) use presence::{
    Connect, Disconnect, Heartbeat, JoinCluster, LocalPresence, NodePresence, Remote,
};

/// Requests queued for the registry before senders wait: creation and presence
/// are rare next to messages, so a modest mailbox absorbs bursts.
const MAILBOX_CAPACITY: usize = 4096;

/// A new conversation's mailbox until its actor sets its own: actix's default.
const MAILBOX: usize = 16;

pub(crate) struct Registry {
    shared: Arc<Shared>,
    arbiters: Vec<ArbiterHandle>,
    next_arbiter: AtomicUsize,
    direct: HashMap<(Identity, Identity), ConversationId>,
    /// Cluster mode: the other nodes holding a session of each user, and the
    /// users each node holds (see `presence.rs`).
    remote: HashMap<Identity, HashSet<Arc<str>>>,
    by_node: HashMap<Arc<str>, HashSet<Identity>>,
    /// The users this node holds a session of: what its heartbeat names,
    /// without going over every user it knows.
    here: HashMap<Identity, Arc<UserHub>>,
    cluster: Option<PresenceOut>,
}

impl Registry {
    pub fn new(shared: Arc<Shared>, arbiters: Vec<ArbiterHandle>) -> Self {
        Registry {
            shared,
            arbiters,
            next_arbiter: AtomicUsize::new(0),
            direct: HashMap::new(),
            remote: HashMap::new(),
            by_node: HashMap::new(),
            here: HashMap::new(),
            cluster: None,
        }
    }

    /// Starts the conversations read back from a store ([`restore`]), with the
    /// engine's indexes as they were.
    pub fn recover(&mut self, states: Vec<ConversationState>) {
        for state in states {
            let id = state.id;
            if let Some(n) = &state.meta.unique_name {
                self.shared.unique_names.insert(n.clone(), id);
            }
            if let Some(pair) = &state.meta.direct_pair {
                self.direct.insert(pair.clone(), id);
            }
            for r in state.log.reaction_ids() {
                self.shared.reactions.insert(*r, id);
            }
            self.shared.metrics.messages_add(state.log.len() as i64);
            self.start(state, None, Ok(Reply::DONE));
        }
    }

    /// Starts a conversation's actor on the next arbiter and makes it reachable.
    fn start(
        &mut self,
        state: ConversationState,
        created: Option<oneshot::Sender<Result<Reply>>>,
        answer: Result<Reply>,
    ) -> ConversationHandle {
        let (id, info) = (state.id, state.info.clone());
        let store = self.shared.store.get().cloned();
        let arbiter = self.next_arbiter.fetch_add(1, Ordering::Relaxed) % self.arbiters.len();
        // What `start_in_arbiter` does, with the handle made reachable before
        // the actor runs: a session that the announcement moves to where its
        // user's conversations run (`server/ws/moving.rs`) must find this one.
        let (tx, rx) = actix::dev::channel::channel(MAILBOX);
        let handle = ConversationHandle {
            id,
            addr: Addr::new(tx),
            info,
            arbiter,
        };
        for address in handle.info.addresses() {
            self.shared.address_in(&address, id, true);
        }
        self.shared.conversations.insert(id, handle.clone());
        self.shared.metrics.conversations_add(1);
        self.arbiters[arbiter].spawn_fn(move || {
            let ctx = Context::with_receiver(rx);
            actix_rt::spawn(ctx.into_future(ConversationActor::new(state, store, created, answer)));
        });
        handle
    }

    /// Builds and starts a conversation; its actor commits and announces it
    /// first. Answers its handle and, once committed, the creator's view of it.
    fn create(
        &mut self,
        caller: &Caller,
        req: CreateConversation,
        direct: bool,
        stamp: Option<Stamp>,
    ) -> Result<(ConversationHandle, oneshot::Receiver<Result<Reply>>)> {
        let now = stamp.map_or_else(|| self.shared.config.clock.now_ms(), |s| s.at);
        let creator = caller.identity().cloned();
        let shared = self.shared.clone();
        let mut state = with_stamp(stamp, || {
            let id = ConversationId::new();
            ConversationState::create(shared, id, creator, req, direct, now)
        })?;
        state.announce_created();
        let view = Ok(Reply::Conversation(Box::new(state.view(caller))));
        let (tx, rx) = oneshot::channel();
        Ok((self.start(state, Some(tx), view), rx))
    }

    /// Sends `userStatus` once to every user who shares a conversation with `hub`'s user.
    fn announce_presence(&self, hub: &UserHub, online: bool, at: Millis) {
        let mut peers: HashSet<Identity> = HashSet::new();
        for c in hub.conversations() {
            if let Some(h) = self.shared.conversations.get(&c) {
                peers.extend(h.info.members());
            }
        }
        peers.remove(&hub.identity);
        let frame = encode_event(
            "userStatus",
            None,
            None,
            &json!({"identity": hub.identity, "status": if online { "online" } else { "offline" }, "last_seen_at": at}),
        );
        let (mut took, mut refused) = (0, 0);
        for p in peers {
            if let Some(peer) = self.shared.users.get(&p) {
                let (t, r) = peer.deliver(&frame);
                took += t;
                refused += r;
            }
        }
        self.shared.metrics.delivered(took, refused);
    }
}

impl Actor for Registry {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

/// `conversation.create`.
#[derive(Message)]
#[rtype(result = "Result<Reply>")]
pub(crate) struct Create {
    pub caller: Caller,
    pub req: CreateConversation,
    pub stamp: Option<Stamp>,
}

impl Handler<Create> for Registry {
    type Result = ResponseFuture<Result<Reply>>;
    fn handle(&mut self, msg: Create, _: &mut Context<Self>) -> Self::Result {
        let created = self.create(&msg.caller, msg.req, false, msg.stamp);
        Box::pin(async move {
            let (_, answer) = created?;
            answer
                .await
                .unwrap_or_else(|_| Err(Error::Internal("the engine stopped".into())))
        })
    }
}

/// Starts conversations read back from a cluster's snapshot ([`restore`]).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Recover(pub Vec<ConversationState>);

impl Handler<Recover> for Registry {
    type Result = ();
    fn handle(&mut self, msg: Recover, _: &mut Context<Self>) {
        self.recover(msg.0);
    }
}

/// `conversation.direct`: the one 1:1 conversation of two users.
#[derive(Message)]
#[rtype(result = "Result<Reply>")]
pub(crate) struct Direct {
    pub me: Identity,
    pub other: Identity,
    pub stamp: Option<Stamp>,
}

impl Handler<Direct> for Registry {
    type Result = ResponseFuture<Result<Reply>>;
    fn handle(&mut self, msg: Direct, _: &mut Context<Self>) -> Self::Result {
        let key = if msg.me <= msg.other {
            (msg.me.clone(), msg.other.clone())
        } else {
            (msg.other.clone(), msg.me.clone())
        };
        let existing = self
            .direct
            .get(&key)
            .and_then(|id| self.shared.conversations.get(id).map(|h| h.clone()));
        let caller = Caller::User(msg.me.clone());
        let handle = match existing {
            Some(h) => h,
            None => {
                let req = CreateConversation {
                    participants: vec![msg.other.to_string()],
                    ..Default::default()
                };
                match self.create(&caller, req, true, msg.stamp) {
                    Ok((h, _)) => {
                        self.direct.insert(key, h.id);
                        h
                    }
                    Err(e) => return Box::pin(async move { Err(e) }),
                }
            }
        };
        let both = vec![msg.me, msg.other];
        // Its ids must differ from the creation's, which drew from the same stamp.
        let stamp = msg.stamp.map(|s| s.step(1));
        Box::pin(async move { handle.ensure_members(caller, both, stamp).await })
    }
}

/// Decodes what a store held: users' profiles go to their hubs, conversations
/// come back as states for [`Registry::recover`]. A record that cannot be read
/// is an error.
pub(crate) fn restore(
    shared: &Arc<Shared>,
    r: Recovered,
) -> std::result::Result<Vec<ConversationState>, String> {
    for (identity, bytes) in r.users {
        let mut profile: crate::delivery::Profile =
            serde_json::from_slice(&bytes).map_err(|e| format!("user {identity:?}: {e}"))?;
        let hub = shared.hub(&Identity::from_stored(&identity));
        let mut held = hub.profile_mut();
        // A profile stored before it had a creation time keeps the hub's.
        profile.created_at = profile.created_at.or(held.created_at);
        *held = profile;
    }
    r.conversations
        .into_iter()
        .map(|c| ConversationState::restore(shared.clone(), c))
        .collect()
}
