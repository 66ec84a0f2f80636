//! The engine: its threads, its shared indexes, and the one place where an op
//! is routed to whoever executes it.
//!
//! [`Engine::start`] spawns a system thread hosting the registry actor and
//! `config.arbiters` arbiter threads hosting conversation actors. An engine owns
//! no globals: two engines can run in one process. Every transport (in-process
//! `Session`, WebSocket, REST) calls [`Engine::execute`]. The ops the engine
//! runs itself over many conversations are in `lists.rs`, those about users in
//! `users.rs`, the rule that reaches across conversations' bindings in
//! `bindings.rs`; its records, for a cluster's snapshots, in `records.rs`.

mod bindings;
mod feed;
mod lists;
mod placement;
mod records;
mod users;

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use actix::prelude::*;
use futures_util::future::{join_all, BoxFuture};
use serde_json::{json, Value};

use crate::config::Config;
use crate::conversation::{Answer, Answering, Applied, ConversationHandle};
use crate::delivery::Outbox;
use crate::error::{Error, Result};
use crate::metrics::{ClusterStatus, MetricsSnapshot};
use crate::model::{ReactionId, Stamp};
use crate::protocol::{ConversationOp, EngineOp, Reply, Request, Route};
use crate::registry::{self, Create, Direct, Registry};
use crate::store::Store;
use crate::validate;

pub(crate) use crate::conversation::Shared;
pub use crate::model::Caller;
pub use lists::Created;
pub(crate) use placement::Place;

struct Threads {
    system: System,
    thread: Option<JoinHandle<()>>,
}

/// What a cluster gives its engine: a log that every node applies in one
/// order. `propose` appends an op and answers once this node has applied it
/// (through [`Engine::apply`]).
pub(crate) trait Replicator: Send + Sync + 'static {
    fn propose(&self, caller: Caller, req: Request) -> BoxFuture<'static, Result<Answer>>;
    /// Tells the other nodes of a [signal](Request::is_signal) this node has
    /// just applied; they apply it with [`Engine::apply_signal`]. Not
    /// waited for: a signal that is lost ends at the typing timeout.
    fn signal(&self, caller: Caller, req: Request);
    /// Resolves once this node has applied every entry the log held when it
    /// was called, so that a read here sees every write acknowledged anywhere.
    fn caught_up(&self) -> BoxFuture<'static, ()>;
    /// Where the log stands, for `/metrics` and `/healthz`.
    fn status(&self) -> ClusterStatus;
}

struct Inner {
    shared: Arc<Shared>,
    /// Set in cluster mode: ops that change state go through it.
    replicator: OnceLock<Arc<dyn Replicator>>,
    registry: Addr<Registry>,
    /// Why the engine cannot go on, once it cannot ([`Engine::fail`]).
    fatal: tokio::sync::watch::Sender<Option<String>>,
    /// The arbiters conversations run on; transports run their sockets there too.
    arbiters: Vec<ArbiterHandle>,
    next_arbiter: AtomicUsize,
    threads: Mutex<Threads>,
    /// Held while an exclusive binding is checked and added (`bindings.rs`).
    bindings: tokio::sync::Mutex<()>,
}

impl Inner {
    /// Stops the actors, joins the threads, then closes the store (every
    /// acknowledged op is already committed).
    fn stop(&self) {
        let mut t = self.threads.lock().unwrap_or_else(|p| p.into_inner());
        t.system.stop();
        if let Some(th) = t.thread.take() {
            let _ = th.join();
        }
        if let Some(s) = self.shared.store.get() {
            s.close();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A running engine. Cheap to clone; the engine stops when [`Engine::shutdown`]
/// is called or the last clone is dropped.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("conversations", &self.inner.shared.conversations.len())
            .finish()
    }
}

impl Engine {
    /// Starts an engine on its own threads. Works from any thread and any async
    /// runtime (or none).
    ///
    /// With `config.data_dir` it first opens the store there and reads it back
    /// (an unreadable one is an error, and is left as it was); every op is then
    /// committed to it before it is answered or delivered.
    pub fn start(config: Config) -> std::io::Result<Engine> {
        let arbiters = config.arbiters.max(1);
        let shared = Arc::new(Shared::new(config));
        let mut recovered = Vec::new();
        if let Some(dir) = &shared.config.data_dir {
            let (store, states) = Store::open(dir, shared.config.limits.replay_window, |r| {
                registry::restore(&shared, r)
            })
            .map_err(std::io::Error::other)?;
            let _ = shared.store.set(Arc::new(store));
            recovered = states;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name("colloquy-engine".into())
            .spawn(move || {
                let sys = System::new();
                let workers: Vec<Arbiter> = sys.block_on(async move {
                    let workers: Vec<Arbiter> = (0..arbiters).map(|_| Arbiter::new()).collect();
                    let handles: Vec<ArbiterHandle> = workers.iter().map(Arbiter::handle).collect();
                    let mut registry = Registry::new(sh, handles.clone());
                    registry.recover(recovered);
                    let _ = tx.send((System::current(), registry.start(), handles));
                    workers
                });
                let _ = sys.run();
                for w in workers {
                    w.stop();
                    let _ = w.join();
                }
            })?;
        let (system, registry, arbiters) = rx
            .recv()
            .map_err(|_| std::io::Error::other("engine thread failed to start"))?;
        Ok(Engine {
            inner: Arc::new(Inner {
                shared,
                replicator: OnceLock::new(),
                registry,
                fatal: tokio::sync::watch::channel(None).0,
                arbiters,
                next_arbiter: AtomicUsize::new(0),
                threads: Mutex::new(Threads {
                    system,
                    thread: Some(thread),
                }),
                bindings: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// Stops every actor and joins the engine's threads. Sessions still open see
    /// their requests fail; their outboxes stay readable.
    pub fn shutdown(&self) {
        self.inner.stop();
    }

    /// Resolves if the engine cannot go on: its store failed (a commit or
    /// fsync that did not happen), or in a cluster it fell behind what the
    /// log still holds. Nothing is acknowledged after it, and a server should
    /// stop. Never resolves for an engine that keeps working.
    pub async fn failed(&self) -> String {
        let mut fatal = self.inner.fatal.subscribe();
        let store = async {
            let Some(store) = self.inner.shared.store.get() else {
                return std::future::pending().await;
            };
            let mut rx = store.failed();
            let failed = match rx.wait_for(Option::is_some).await {
                Ok(e) => e.as_ref().map(ToString::to_string),
                Err(_) => None,
            };
            match failed {
                Some(e) => e,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            e = store => e,
            Ok(e) = fatal.wait_for(Option::is_some) => e.clone().unwrap_or_default(),
        }
    }

    /// Marks the engine as unable to go on (see [`failed`](Engine::failed)).
    pub(crate) fn fail(&self, why: String) {
        ::log::error!("{why}");
        self.inner.fatal.send_if_modified(|now| {
            let first = now.is_none();
            if first {
                *now = Some(why);
            }
            first
        });
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.inner.shared.config
    }

    /// Its counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        let mut m = self.inner.shared.metrics.snapshot();
        if let Some(s) = self.inner.shared.store.get() {
            (m.store_commits, m.store_batches) = s.counts();
        }
        m.cluster = self.inner.replicator.get().map(|r| r.status());
        m
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    pub(crate) fn registry(&self) -> &Addr<Registry> {
        &self.inner.registry
    }

    /// A snapshot for the inspector: conversations (members, counts), users
    /// (sessions, presence) and the last conversation events.
    pub async fn inspect(&self) -> Value {
        let shared = self.shared();
        let handles: Vec<ConversationHandle> =
            shared.conversations.iter().map(|h| h.clone()).collect();
        let views = join_all(handles.iter().map(|h| h.view(Caller::Service))).await;
        let conversations: Vec<Value> = handles
            .iter()
            .zip(views)
            .filter_map(|(h, v)| {
                let v = v.ok()?;
                let mut members = h.info.members();
                members.sort();
                let members: Vec<Value> = members
                    .iter()
                    .map(|m| {
                        let sessions = shared.users.get(m).map_or(0, |u| u.session_count());
                        json!({"identity": m, "sessions": sessions})
                    })
                    .collect();
                Some(json!({
                    "id": v.id, "name": v.friendly_name.or(v.unique_name), "direct": v.direct,
                    "state": v.state.current, "participants_count": v.participants_count,
                    "messages_count": v.messages_count, "last_message_at": v.last_message_at, "members": members,
                }))
            })
            .collect();
        let mut users: Vec<Value> = shared
            .users
            .iter()
            .map(|u| json!({"identity": u.identity, "sessions": u.session_count(), "online": u.online()}))
            .collect();
        users.sort_by(|a, b| a["identity"].as_str().cmp(&b["identity"].as_str()));
        json!({"conversations": conversations, "users": users, "recent_events": shared.recent.list(), "metrics": {
            "sessions_open": self.metrics().sessions_open, "events_delivered": self.metrics().events_delivered,
            "messages_stored": self.metrics().messages_stored, "frames_dropped": self.metrics().frames_dropped,
        }})
    }

    /// Runs a request given as JSON (`{"op": …, …}`) for a caller; answers
    /// JSON, as the wire would.
    pub async fn request_as(&self, caller: Caller, request: Value) -> Result<Value> {
        let reply = self
            .execute(caller, Request::from_json(&request)?, None)
            .await?;
        Ok(reply.to_json())
    }

    /// Runs one op for a caller. `outbox` is the asking session's, when there is one.
    pub async fn execute(
        &self,
        caller: Caller,
        req: Request,
        outbox: Option<Arc<Outbox>>,
    ) -> Result<Reply> {
        Ok(self.execute_outcome(caller, req, outbox).await?.0)
    }

    /// Like [`Engine::execute`], and also says whether the op created nothing
    /// because it repeated an earlier one (a resent `client_id`, a repeated
    /// reaction), which REST answers with 200 instead of 201.
    pub async fn execute_outcome(
        &self,
        caller: Caller,
        req: Request,
        outbox: Option<Arc<Outbox>>,
    ) -> Result<(Reply, bool)> {
        let a = match self.inner.replicator.get() {
            Some(log) if req.is_signal() => {
                let a = self
                    .route(caller.clone(), req.clone(), outbox, None)
                    .await?;
                let by_id = req
                    .confined_to()
                    .and_then(|c| self.shared().resolve(c).ok());
                if let Some(signal) = by_id.and_then(|h| req.signal_in(h.id.to_string())) {
                    log.signal(caller, signal);
                }
                a
            }
            Some(log) if req.changes_state() => log.propose(caller, req).await?,
            Some(log) if !matches!(req, Request::Ping {}) => {
                log.caught_up().await;
                self.route(caller, req, outbox, None).await?
            }
            _ => self.route(caller, req, outbox, None).await?,
        };
        Ok((a.data, a.repeated))
    }

    /// In cluster mode, waits as a read op does until this node has applied
    /// what the log held when asked, so that what is read next on this node
    /// ([`Engine::user`], [`Engine::user_order`] …) holds every write
    /// acknowledged before, on any node. At once on a single node.
    pub async fn caught_up(&self) {
        if let Some(log) = self.inner.replicator.get() {
            log.caught_up().await;
        }
    }

    /// From now on, ops that change state go through `log` (cluster mode).
    pub(crate) fn replicate_through(&self, log: Arc<dyn Replicator>) {
        let _ = self.inner.replicator.set(log);
    }

    /// Applies one op of a cluster's log, with the time and ids its entry was
    /// given, so that every node makes the same change.
    pub(crate) async fn apply(&self, caller: Caller, req: Request, stamp: Stamp) -> Result<Answer> {
        self.route(caller, req, None, Some(stamp)).await
    }

    /// Applies a [signal](Request::is_signal) from another cluster node,
    /// which had started log entry `after` when its user typed.
    pub(crate) async fn apply_signal(
        &self,
        caller: Caller,
        req: Request,
        after: u64,
    ) -> Result<Answer> {
        let (r, op) = match req.route() {
            Route::Conversation(r, ConversationOp::TypingStart { .. }) => {
                let after = Some(after);
                (r, ConversationOp::TypingStart { after })
            }
            Route::Conversation(r, ConversationOp::TypingStop) => (r, ConversationOp::TypingStop),
            _ => return Err(Error::bad("not a signal")),
        };
        self.shared().resolve(&r)?.ask(caller, op, None, None).await
    }

    /// Like [`apply`](Engine::apply), for an op of a log entry. One
    /// [confined](Request::confined_to) to its conversation joins that
    /// conversation's mailbox now, so ops started one after another are
    /// applied in that order, without waiting for each other, and nothing is
    /// left to drive (`None`). Any other op is the future returned, which
    /// starts when first polled. The answer goes to `reply` (from a
    /// conversation's actor straight to its asker), and `done` is called once
    /// the op is applied.
    pub(crate) fn apply_in_order(
        &self,
        caller: Caller,
        req: Request,
        stamp: Stamp,
        reply: Answering,
        done: Applied,
    ) -> Option<BoxFuture<'static, ()>> {
        if req.confined_to().is_none() {
            let engine = self.clone();
            return Some(Box::pin(async move {
                reply.answer(engine.apply(caller, req, stamp).await);
                done.now();
            }));
        }
        let started = match req.route() {
            Route::Conversation(r, op) => self.shared().resolve(&r).map(|h| (h, op)),
            _ => Err(Error::Internal(
                "an op confined to a conversation routes to it".into(),
            )),
        };
        match started {
            Ok((h, op)) => h.ask_in_order(caller, op, stamp, reply, done),
            Err(e) => {
                reply.answer(Err(e));
                done.now();
            }
        }
        None
    }

    async fn route(
        &self,
        caller: Caller,
        req: Request,
        outbox: Option<Arc<Outbox>>,
        stamp: Option<Stamp>,
    ) -> Result<Answer> {
        let shared = self.shared();
        let op = match req.route() {
            Route::Conversation(r, op) => {
                let handle = shared.resolve(&r)?;
                if matches!(&op, ConversationOp::AddNonChat(a) if a.exclusive) {
                    return self
                        .add_exclusive(handle, (caller, op), outbox, stamp)
                        .await;
                }
                return handle.ask(caller, op, outbox, stamp).await;
            }
            Route::Reaction {
                reaction,
                conversation,
            } => {
                let unknown = || Error::not_found("reaction not found");
                let rid = ReactionId::parse(&reaction).ok_or_else(unknown)?;
                let cid = *shared.reactions.get(&rid).ok_or_else(unknown)?;
                let handle = match &conversation {
                    Some(c) => shared.resolve(c)?,
                    None => shared
                        .conversations
                        .get(&cid)
                        .map(|h| h.clone())
                        .ok_or_else(unknown)?,
                };
                if handle.id != cid {
                    return Err(unknown());
                }
                let op = ConversationOp::RemoveReaction(reaction);
                return handle.ask(caller, op, outbox, stamp).await;
            }
            Route::Engine(op) => op,
        };
        let engine_op = match op {
            EngineOp::Ping => Ok(Reply::Pong { pong: true }),
            EngineOp::Create(req) => self
                .registry()
                .send(Create { caller, req, stamp })
                .await
                .map_err(stopped)?,
            EngineOp::Direct(identity) => {
                let Caller::User(me) = caller else {
                    return Err(Error::bad("conversation.direct needs a user"));
                };
                let other = validate::identity(&identity, &self.config().limits)?;
                if other == me {
                    return Err(Error::bad(
                        "a direct conversation needs two different users",
                    ));
                }
                self.registry()
                    .send(Direct { me, other, stamp })
                    .await
                    .map_err(stopped)?
            }
            EngineOp::List {
                page_size,
                cursor,
                identity,
            } => {
                let subject = self.subject(&caller, identity.as_deref())?;
                self.list_conversations(caller, subject, page_size, cursor)
                    .await
            }
            EngineOp::Feed(f) => self.feed(caller, f).await,
            EngineOp::Presence(identities) => self.presence(&identities),
            EngineOp::UpdateUser(u) => self.update_user(caller, u, stamp).await,
        };
        engine_op.map(Answer::from)
    }
}

fn stopped(_: MailboxError) -> Error {
    Error::Internal("the engine is shutting down".into())
}
