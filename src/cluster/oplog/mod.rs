//! The cluster's log: an op asked here goes to the appender (`appender.rs`),
//! and every entry is applied here in order, its ops to the same end as one
//! after another (`lanes.rs`).

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_nats::jetstream::{self, stream::Stream};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

mod gone;
mod reader;
mod reads;

use self::reads::Reads;
use super::ahead::Ahead;
use super::appender::{lock, Appender, Appends, Queued, Waiting, APPLY_WITHIN};
use super::signals::{self, Signals};
use super::version::{self, Verdict};
use super::{lanes, snapshots};
use super::{ClusterError, READY_WITHIN};
use crate::conversation::{Answer, Answering, Applied};
use crate::engine::{Engine, Replicator};
use crate::error::{Error, Result};
use crate::metrics::ClusterStatus;
use crate::model::{Caller, Stamp};
use crate::protocol::Request;

/// How many entries the reader may start ahead of the last one applied (their
/// ops wait in their conversations' mailboxes).
const AHEAD: usize = 64;

/// One op, as the log holds it. A log entry (one stream message) holds one or
/// more, as a JSON array ([`decode`]).
#[derive(Serialize, Deserialize)]
struct Op {
    /// The process that appended it (node id and a random suffix), and its
    /// number there: how that process finds its caller when it applies it.
    /// (Every op of an entry has the same origin.)
    origin: String,
    token: u64,
    caller: Caller,
    request: Request,
    /// The seed of the ids the op makes, the same on every node.
    seed: u64,
}

/// This node's end of the log.
pub(super) struct Log {
    origin: String,
    next: AtomicU64,
    waiting: Arc<Waiting>,
    /// Ops for the [`Appender`]. Unbounded, but it holds at most one op per
    /// caller waiting for its answer: a session asks one at a time.
    queue: mpsc::UnboundedSender<Queued>,
    /// The last place in the stream this node applied.
    applied: watch::Receiver<u64>,
    reads: Reads,
    /// For the node's status: its appends, its client and how often it
    /// connected.
    appends: Arc<Appends>,
    client: async_nats::Client,
    connections: watch::Receiver<u64>,
    log_missing: Arc<AtomicBool>,
    /// Typing, beside the log.
    signals: Signals,
}

impl Log {
    /// Starts applying the log to `engine` from its first entry and returns
    /// once every entry that was there at start is applied.
    pub async fn start(
        engine: Engine,
        js: jetstream::Context,
        stream: Stream,
        connections: watch::Receiver<u64>,
        snapshots: Snapshots,
        appending: Appending,
    ) -> Result<Log, ClusterError> {
        let Appending {
            origin,
            version,
            wait,
        } = appending;
        let waiting: Arc<Waiting> = Arc::default();
        let appends: Arc<Appends> = Arc::default();
        let (from, last_at) = snapshots::load(&engine, &snapshots.shelf).await?;
        if snapshots.every > 0 {
            // Before any entry is applied: a delta on a snapshot after `from`
            // is made of what each conversation noted since.
            engine.shared().note_changes();
        }
        let state = super::until_ready("the log's state", super::ATTEMPT, || {
            let stream = stream.clone();
            async move { stream.get_info().await.map(|i| i.state) }
        })
        .await?;
        // (An empty stream starts at 0; one emptied by a purge, past its last.)
        if state.first_sequence > from + 1 {
            return Err(ClusterError::JetStream(format!(
                "the log starts at entry {}, but the latest snapshot holds only up to {from}",
                state.first_sequence
            )));
        }
        let last = state.last_sequence;
        let (applied_tx, mut applied) = watch::channel(from);
        let log_missing = Arc::<AtomicBool>::default();
        let (gone_tx, gone) = watch::channel(false);
        let applier = Applier {
            engine,
            origin: origin.clone(),
            waiting: waiting.clone(),
            appends: appends.clone(),
            last_at,
            started: from,
            progress: Arc::new(Progress {
                ahead: Mutex::default(),
                applied: applied_tx,
                read: Mutex::default(),
            }),
            snapshots,
            version: version.clone(),
            version_text: version.to_string(),
            older_seen: false,
            rechecked: false,
            gone,
        };
        let watch = gone::Watch {
            made: stream.cached_info().created.unix_timestamp_nanos(),
            missing: log_missing.clone(),
            gone: gone_tx,
        };
        let failed = applier.engine.clone();
        let progress = applier.progress.clone();
        let watched = watch.run(
            stream.clone(),
            progress,
            connections.clone(),
            failed.clone(),
        );
        tokio::spawn(watched);
        tokio::spawn(applier.run(stream.clone(), connections.clone()));
        let caught_up = applied.wait_for(|&seq| seq >= last);
        tokio::select! {
            caught_up = tokio::time::timeout(READY_WITHIN, caught_up) => {
                if !matches!(caught_up, Ok(Ok(_))) {
                    return Err(ClusterError::JetStream(format!(
                        "could not apply the {last} entries of the log within {READY_WITHIN:?}"
                    )));
                }
            }
            why = failed.failed() => return Err(ClusterError::Stopped(why)),
        }
        ::log::info!("applied the log's {last} entries");
        let client = js.client();
        let appender = Appender::new(
            js,
            origin.clone(),
            waiting.clone(),
            appends.clone(),
            connections.clone(),
            &version,
            wait,
        );
        // An empty entry naming this node's version, so that nodes of an
        // older colloquy stop now, not at this node's first op.
        if let Err(e) = appender.hello().await {
            ::log::warn!("could not tell the other nodes this node's version: {e}");
        }
        let (queue, queued) = mpsc::unbounded_channel();
        tokio::spawn(appender.run(queued));
        let signals = signals::start(&failed, client.clone(), &origin, applied.clone()).await;
        Ok(Log {
            origin,
            next: AtomicU64::new(0),
            waiting,
            queue,
            reads: Reads::start(stream, applied.clone()),
            applied,
            appends,
            client,
            connections,
            log_missing,
            signals,
        })
    }
}

impl Replicator for Log {
    fn caught_up(&self) -> BoxFuture<'static, ()> {
        let caught_up = self.reads.caught_up();
        Box::pin(async move {
            let _ = caught_up.await;
        })
    }

    fn status(&self) -> ClusterStatus {
        let connected = self.client.connection_state() == async_nats::connection::State::Connected;
        let unavailable = if !connected {
            Some("not connected to NATS (reconnecting)".into())
        } else if self.log_missing.load(Ordering::Relaxed) {
            Some(gone::not_there())
        } else {
            self.appends
                .trouble()
                .map(|why| format!("appends to the log fail: {why}"))
        };
        ClusterStatus {
            unavailable,
            connected,
            entries_applied: *self.applied.borrow(),
            entries_appended: self.appends.entries.load(Ordering::Relaxed),
            ops_appended: self.appends.ops.load(Ordering::Relaxed),
            // The first connection is not a reconnection.
            reconnections: self.connections.borrow().saturating_sub(1),
        }
    }

    fn signal(&self, caller: Caller, request: Request) {
        self.signals.send(caller, request);
    }

    fn propose(&self, caller: Caller, request: Request) -> BoxFuture<'static, Result<Answer>> {
        if self.log_missing.load(Ordering::Relaxed) {
            // Appending would only retry until it gives up: say why now.
            let why = format!(
                "{}: this node takes no writes until it is back",
                gone::not_there()
            );
            return Box::pin(async move { Err(Error::Internal(why)) });
        }
        let token = self.next.fetch_add(1, Ordering::Relaxed);
        let op = Op {
            origin: self.origin.clone(),
            token,
            caller,
            request,
            seed: uuid::Uuid::new_v4().as_u64_pair().0,
        };
        let (tx, rx) = oneshot::channel();
        let waiting = self.waiting.clone();
        match serde_json::to_vec(&op) {
            Ok(json) => {
                lock(&waiting).insert(token, tx);
                if self.queue.send(Queued { token, json }).is_err() {
                    if let Some(tx) = lock(&waiting).remove(&token) {
                        let _ = tx.send(Err(Error::Internal("the cluster stopped".into())));
                    }
                }
            }
            Err(e) => {
                let _ = tx.send(Err(Error::Internal(format!("cannot encode the op: {e}"))));
            }
        }
        Box::pin(async move {
            match tokio::time::timeout(2 * APPLY_WITHIN, rx).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(_)) => Err(Error::Internal("the cluster stopped".into())),
                Err(_) => {
                    lock(&waiting).remove(&token);
                    Err(Error::Internal(
                        "not acknowledged: appended, but not applied here in time".into(),
                    ))
                }
            }
        })
    }
}

/// The ops of a log entry: a JSON array of them, or (as a colloquy before
/// entries held several wrote it) one op alone.
fn decode(entry: &[u8]) -> serde_json::Result<Vec<Op>> {
    match entry.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => serde_json::from_slice(entry),
        _ => serde_json::from_slice(entry).map(|op| vec![op]),
    }
}

/// How this node appends: the name its ops carry (node id and a random
/// suffix), the version its entries name (and against which it judges the
/// others'), and how long its ops wait for one another while they keep
/// coming.
pub(super) struct Appending {
    pub origin: String,
    pub version: semver::Version,
    pub wait: Duration,
}

/// Where snapshots go, and how often (every so many log entries; 0: never).
pub(super) struct Snapshots {
    pub shelf: snapshots::Shelf,
    pub every: u64,
}

/// Applies the log's entries to this node's engine, in order.
struct Applier {
    snapshots: Snapshots,
    engine: Engine,
    origin: String,
    waiting: Arc<Waiting>,
    appends: Arc<Appends>,
    /// The time of the last entry: times never go back, on any node.
    last_at: u64,
    /// The last entry started, applied or not.
    started: u64,
    progress: Arc<Progress>,
    /// This node's colloquy, and whether it has met (and said so) an entry
    /// from an older one.
    version: semver::Version,
    version_text: String,
    older_seen: bool,
    /// Whether the entry last read has been read again, as it was, since
    /// the reader was last opened (`reader.rs`).
    rechecked: bool,
    /// Set once the log this node joined is gone (`gone.rs`).
    gone: watch::Receiver<bool>,
}

/// The last entry applied, and the entries started ahead of it.
struct Progress {
    ahead: Mutex<Ahead>,
    applied: watch::Sender<u64>,
    /// The last entry read, by which the log is checked for having gone
    /// back (`gone.rs`); none yet after a start from a snapshot.
    read: Mutex<Option<Read>>,
}

/// An entry read from the log: its place, and when the stream stored it,
/// which tells it from another entry at that place in another history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Read {
    seq: u64,
    published: u64,
}

impl Progress {
    fn ahead(&self) -> MutexGuard<'_, Ahead> {
        // Each change leaves it whole: a poisoned lock still holds it.
        self.ahead.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn applied(&self) -> u64 {
        *self.applied.borrow()
    }

    fn read(&self) -> Option<Read> {
        *self.read.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_read(&self, read: Read) {
        *self.read.lock().unwrap_or_else(|p| p.into_inner()) = Some(read);
    }

    /// An op of entry `seq`, started ahead, was applied.
    fn one_applied(&self, seq: u64) {
        let mut ahead = self.ahead();
        // Under the lock, so that ops ending on two threads at once cannot
        // move the last place applied back.
        if let Some(applied) = ahead.one_applied(seq) {
            self.applied.send_replace(applied);
        }
    }

    /// Waits until the last place applied is at least `seq`.
    async fn reached(&self, seq: u64) {
        let _ = self.applied.subscribe().wait_for(|&a| a >= seq).await;
    }
}

/// A log entry, as a reader or a direct get hands it over.
struct Entry {
    seq: u64,
    /// When the stream stored it, in ms since the epoch.
    published: u64,
    headers: Option<async_nats::HeaderMap>,
    payload: bytes::Bytes,
}

/// Whether the reader goes on after an entry.
enum Flow {
    Go,
    Stop,
}

impl Applier {
    async fn handle(&mut self, entry: Entry, stream: &Stream) -> Flow {
        let Entry {
            seq,
            published,
            headers,
            payload,
        } = entry;
        let started = self.started;
        // A reopened reader can repeat an entry: each is applied once. The
        // entry last read comes again first: the log must hold it as it was.
        if seq <= started {
            let read = self.progress.read();
            if read.is_some_and(|r| r.seq == seq && r.published != published) {
                self.engine
                    .fail(gone::ahead_of_the_log(&gone::another_entry(seq)));
                return Flow::Stop;
            }
            self.rechecked |= read.is_some_and(|r| r.seq == seq);
            return Flow::Go;
        }
        self.rechecked = true;
        if seq > started + 1 {
            // The entries between were trimmed behind a snapshot while this
            // node was away: applying on would leave it unlike the others.
            self.engine.fail(format!(
                "copy of the cluster's state fell behind the log (entry {seq} came after {started}; \
                 the ones between were trimmed behind a snapshot): restart it to start from the snapshot"
            ));
            return Flow::Stop;
        }
        let theirs = headers
            .as_ref()
            .and_then(|h| h.get(version::HEADER))
            .map(|v| v.as_str());
        // Nearly every entry is this version's: parse only what differs.
        let verdict = match theirs {
            Some(v) if v == self.version_text => Verdict::Same,
            _ => version::judge(&self.version, theirs),
        };
        match verdict {
            Verdict::Same => {}
            Verdict::Older(whose) => {
                if !std::mem::replace(&mut self.older_seen, true) {
                    ::log::warn!(
                        "log entry {seq} was appended by {whose}, older than this node's {}: \
                         applied by this node's rules (nodes of one version agree; run one \
                         version in a cluster)",
                        self.version
                    );
                }
            }
            Verdict::Newer(why) => {
                self.engine.fail(why);
                return Flow::Stop;
            }
        }
        self.last_at = self.last_at.max(published);
        let every = self.snapshots.every;
        let snapshot_here = every > 0 && seq % every == 0;
        let ops = match decode(&payload) {
            Ok(ops) => ops,
            // Every node skips the same entry, so they stay alike.
            Err(e) => {
                ::log::error!("log entry {seq} cannot be read ({e}); skipped");
                Vec::new()
            }
        };
        self.started = seq;
        self.progress.set_read(Read { seq, published });
        // Before any of its ops runs: what they change is marked changed at
        // this entry (or a later one), for the next delta snapshot.
        self.engine.shared().enter_log_position(seq);
        let confined = |op: &Op| op.request.confined_to().is_some();
        if !snapshot_here && !ops.is_empty() && ops.iter().all(confined) {
            if self.progress.ahead().len() >= AHEAD {
                self.progress
                    .reached(seq.saturating_sub(1 + AHEAD as u64 / 2))
                    .await;
            }
            self.start_ahead(seq, ops);
            return Flow::Go;
        }
        // Anything else runs after every entry before it.
        self.progress.reached(seq - 1).await;
        let ours = self.apply_all(ops).await;
        if snapshot_here && (ours || self.snapshots.shelf.takes_every()) {
            // Between this entry and the next: the reader waits to learn the
            // latest chain and to ask each conversation for its records,
            // which it answers before the ops of the next entries.
            snapshots::take(
                &self.engine,
                self.snapshots.shelf.clone(),
                stream.clone(),
                seq,
                self.last_at,
            )
            .await;
        }
        if snapshot_here {
            // The next delta is on this snapshot, or (if it is not named) on
            // the one before; changes before that one are not needed.
            let before = seq.saturating_sub(every);
            self.engine.shared().forget_changes_upto(before);
        }
        // send_replace: the value must change even when no one waits for it.
        self.progress.applied.send_replace(seq);
        Flow::Go
    }

    /// Starts every op of entry `seq` (each confined to its conversation) and
    /// returns: each reports its end to [`Progress`] from the conversation's
    /// thread.
    fn start_ahead(&self, seq: u64, ops: Vec<Op>) {
        self.progress.ahead().started(seq, ops.len());
        for op in ops {
            let progress = self.progress.clone();
            let done = Applied::then(move || progress.one_applied(seq));
            if let Some(left) = self.begin(op, done) {
                // Every op here is confined to its conversation and leaves
                // nothing to drive; anything that did would still run to
                // its end and report it.
                tokio::spawn(left);
            }
        }
    }

    /// Applies an entry's ops, those [confined](Request::confined_to) to
    /// one conversation started at once (`lanes.rs`). Answers whether this
    /// node appended any.
    async fn apply_all(&self, ops: Vec<Op>) -> bool {
        let at_once = |op: &Op| op.request.confined_to().is_some();
        lanes::apply(ops, at_once, |op| self.start(op)).await
    }

    /// Starts applying an op (at once, if it is confined to its
    /// conversation); the future ends once it is applied, answering whether
    /// this node appended it. Such an op's answer goes to its asker from the
    /// conversation's actor, in the same turn as its events.
    fn start(&self, op: Op) -> impl Future<Output = bool> + 'static {
        let ours = op.origin == self.origin;
        let (done, applied) = Applied::awaited();
        let left = self.begin(op, done);
        async move {
            if let Some(left) = left {
                left.await;
            }
            let _ = applied.await;
            ours
        }
    }

    /// Starts applying an op as [`Engine::apply_in_order`] does, with its
    /// stamp and, if it was asked here, its asker.
    fn begin(&self, op: Op, done: Applied) -> Option<BoxFuture<'static, ()>> {
        let stamp = Stamp {
            at: self.last_at,
            seed: op.seed,
            entry: self.started,
        };
        let asker = (op.origin == self.origin)
            .then(|| lock(&self.waiting).remove(&op.token))
            .flatten();
        self.engine
            .apply_in_order(op.caller, op.request, stamp, Answering(asker), done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(token: u64) -> Op {
        let request = Request::from_json(&serde_json::json!({"op": "ping"})).expect("an op");
        Op {
            origin: "a/1234".into(),
            token,
            caller: Caller::Service,
            request,
            seed: 9,
        }
    }

    fn tokens(entry: &[u8]) -> Vec<u64> {
        decode(entry)
            .expect("decodes")
            .iter()
            .map(|op| op.token)
            .collect()
    }

    #[test]
    fn an_entry_holds_its_ops_in_order_or_one_op_as_earlier_nodes_wrote_it() {
        let json = |token| serde_json::to_string(&op(token)).expect("encodes");
        assert_eq!(
            tokens(format!("[{},{}]", json(3), json(4)).as_bytes()),
            [3, 4]
        );
        assert_eq!(tokens(json(5).as_bytes()), [5]);
        assert!(decode(b"[{\"origin\":1}]").is_err());
        assert!(decode(b"").is_err());
    }
}
