//! Snapshots of the cluster's state, so that the log does not grow forever
//! and a starting node does not apply all of it.
//!
//! Every `snapshot_every` entries, the node that appended that entry takes
//! its engine's records between that entry and the next (`Engine::records`:
//! the same records `--data-dir` keeps) and puts them in a JetStream object
//! store, as an object named after the entry. Most snapshots are deltas on
//! the latest: only the records changed since (`Engine::records_since`), so
//! a snapshot's size follows the traffic, not the history. A chain is closed by a whole one
//! once its deltas hold as much as the whole one it starts from, or it is
//! [`MAX_CHAIN`] long. A key in a JetStream KV bucket names the latest chain
//! (each snapshot's entry and size, the latest first); it is moved only by
//! compare-and-set on its revision, and only forward. Then the node purges
//! the log up to the snapshot the key named before, and deletes the objects
//! the chain no longer needs. A node whose reader is less
//! than one interval behind still finds the entries it needs, and a starting
//! node finds every entry after the latest snapshot. A node that falls further
//! behind than that cannot go on (it would miss entries) and stops;
//! restarted, it starts from the snapshot.
//!
//! Exactly one node is due to take each snapshot, but a node can be held up
//! (stopped, cut off) between reading the key and writing it, while the
//! others take later snapshots and trim the log behind them. The
//! compare-and-set is why such a node, once it runs again, cannot make its
//! older snapshot the latest: its write fails, and it deletes what it put.
//! And before a node takes a snapshot it claims it, moving a second key
//! forward to its entry by compare-and-set: should two nodes ever both think
//! a snapshot is theirs (a test hook forces it), one claims it and the other
//! writes nothing, since both would write one object name, and the one
//! whose naming failed would delete the other's.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv, object_store, stream::Stream};
use futures_util::StreamExt;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use super::{until_ready, ClusterError, ATTEMPT, READY_WITHIN};
use crate::engine::Engine;
use crate::store::snapshot;

/// The object store bucket of the snapshots, each named after its entry.
const OBJECTS: &str = "COLLOQUY_SNAPSHOTS";
const NAMED: &str = "after-";
/// The KV bucket, and its one key: the entry of the latest snapshot.
const POINTER: &str = "COLLOQUY_SNAPSHOT";
const LATEST: &str = "latest";
/// The key beside it naming the latest snapshot a node has claimed to take.
const CLAIMED: &str = "claimed";
/// How long deleting the replaced snapshots may take before it is left to
/// the next snapshot.
const SWEEP_WITHIN: Duration = Duration::from_secs(10);
/// How long the taking node's reader waits to learn the latest chain, before
/// it leaves this snapshot to the next node due.
const LATEST_WITHIN: Duration = Duration::from_secs(2);
/// Snapshots in a chain at most, the whole one included: a starting node
/// reads every one.
const MAX_CHAIN: usize = 32;

/// The snapshots a starting node reads, the latest first, each with its
/// size in bytes; the last is whole, the others deltas each on the next.
/// Kept in the KV key as `entry:size` words; a key holding just an entry (as
/// colloquy wrote it before deltas) is a whole snapshot of unknown size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Chain(Vec<(u64, u64)>);

impl Chain {
    fn parse(text: &str) -> Option<Chain> {
        let links = text
            .split_whitespace()
            .map(|word| match word.split_once(':') {
                Some((at, size)) => Some((at.parse().ok()?, size.parse().ok()?)),
                None => Some((word.parse().ok()?, 0)),
            })
            .collect::<Option<Vec<_>>>()?;
        (!links.is_empty()).then_some(Chain(links))
    }

    fn text(&self) -> String {
        let words: Vec<String> = self.0.iter().map(|(at, n)| format!("{at}:{n}")).collect();
        words.join(" ")
    }

    /// The latest snapshot's entry.
    fn latest(&self) -> Option<u64> {
        self.0.first().map(|l| l.0)
    }

    /// What the next snapshot is a delta on: the latest, unless the chain is
    /// as long as it may be, or its deltas hold as much as its whole one
    /// (then reading the chain costs more than reading one whole snapshot).
    fn delta_base(&self) -> Option<u64> {
        let (whole, deltas) = self.0.split_last()?;
        let in_deltas: u64 = deltas.iter().map(|l| l.1).sum();
        (self.0.len() < MAX_CHAIN && in_deltas < whole.1).then(|| self.0[0].0)
    }

    /// The chain with a snapshot of `size` bytes after `position` added: on
    /// this one if it is a delta, else alone.
    fn with(&self, position: u64, size: u64, delta: bool) -> Chain {
        let rest = if delta { &self.0[..] } else { &[][..] };
        Chain(
            std::iter::once((position, size))
                .chain(rest.iter().copied())
                .collect(),
        )
    }

    fn holds(&self, position: u64) -> bool {
        self.0.iter().any(|l| l.0 == position)
    }
}

/// Whether a compare-and-set failed because the key had moved since its
/// revision was read. A replicated bucket (ours have 3 replicas) says so
/// with error 10164 (`JSStreamWrongLastSequenceConstantErr`), which
/// async-nats 0.51 knows only as 10071, as the Go and Python clients did
/// until nats-io/nats.go#2097 and nats-io/nats.py#782: without this, a lost
/// race reads as a failed write.
fn moved(e: &kv::UpdateError) -> bool {
    use std::error::Error as _;
    let code = (e.source())
        .and_then(|s| s.downcast_ref::<jetstream::context::PublishError>())
        .and_then(|p| p.source())
        .and_then(|s| s.downcast_ref::<jetstream::Error>())
        .map(jetstream::Error::error_code);
    e.kind() == kv::UpdateErrorKind::WrongLastRevision
        || code == Some(jetstream::ErrorCode::STREAM_WRONG_LAST_SEQUENCE_CONSTANT)
}

fn object_name(position: u64) -> String {
    format!("{NAMED}{position}")
}

/// Where snapshots go: the objects, and the key naming the latest.
#[derive(Clone)]
pub(super) struct Shelf {
    objects: object_store::ObjectStore,
    latest: kv::Store,
    hold: SnapshotHold,
    /// To make the buckets again, should they go.
    js: jetstream::Context,
    replicas: usize,
}

/// The object store bucket, made if it is not there.
async fn objects(
    js: &jetstream::Context,
    replicas: usize,
) -> Result<object_store::ObjectStore, String> {
    if let Ok(b) = js.get_object_store(OBJECTS).await {
        return Ok(b);
    }
    js.create_object_store(object_store::Config {
        bucket: OBJECTS.into(),
        description: Some("colloquy: the cluster's snapshots".into()),
        storage: jetstream::stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    })
    .await
    .map_err(|e| e.to_string())
}

/// The KV bucket of the key, made if it is not there.
async fn pointer(js: &jetstream::Context, replicas: usize) -> Result<kv::Store, String> {
    if let Ok(kv) = js.get_key_value(POINTER).await {
        return Ok(kv);
    }
    js.create_key_value(kv::Config {
        bucket: POINTER.into(),
        description: "colloquy: which snapshot is the latest".into(),
        history: 1,
        storage: jetstream::stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    })
    .await
    .map_err(|e| e.to_string())
}

/// Whether JetStream says the stream `name` is not there.
async fn missing(js: &jetstream::Context, name: &str) -> Result<bool, String> {
    match js.get_stream(name).await {
        Ok(_) => Ok(false),
        Err(e) => match e.kind() {
            jetstream::context::GetStreamErrorKind::JetStream(api)
                if api.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
            {
                Ok(true)
            }
            _ => Err(e.to_string()),
        },
    }
}

impl Shelf {
    /// The two buckets, made if they are not there, with as many replicas as
    /// the log.
    pub async fn open(
        js: &jetstream::Context,
        replicas: usize,
        hold: SnapshotHold,
    ) -> Result<Shelf, ClusterError> {
        // Another node may make either at the same time: then the next round gets it.
        let objects = until_ready("the snapshot bucket", ATTEMPT, || objects(js, replicas)).await?;
        let latest = until_ready("the snapshot key", ATTEMPT, || pointer(js, replicas)).await?;
        Ok(Shelf {
            objects,
            latest,
            hold,
            js: js.clone(),
            replicas,
        })
    }

    /// Makes either bucket again if it is gone (deleted by hand, say):
    /// without them, no node could start once the log is trimmed. Answers
    /// whether one was, since the chain the key names is then broken (its
    /// objects, or the key itself, are gone), and the next snapshot must be
    /// whole. The handles this shelf holds name the buckets, so they reach
    /// the new ones.
    async fn remake_missing(&self) -> Result<bool, String> {
        let objects_gone = missing(&self.js, &format!("OBJ_{OBJECTS}")).await?;
        if objects_gone {
            objects(&self.js, self.replicas).await?;
        }
        let key_gone = missing(&self.js, &format!("KV_{POINTER}")).await?;
        if key_gone {
            pointer(&self.js, self.replicas).await?;
        }
        if objects_gone || key_gone {
            ::log::warn!(
                "the snapshot buckets were gone (objects: {objects_gone}, key: {key_gone}): \
                 made again, and the next snapshot is whole"
            );
        }
        Ok(objects_gone || key_gone)
    }

    /// The test hook's [`SnapshotHold::take_every`].
    pub fn takes_every(&self) -> bool {
        self.hold.takes_every()
    }

    /// The bytes of the snapshot after `position`.
    async fn read(&self, position: u64) -> Result<Vec<u8>, String> {
        let mut object = self
            .objects
            .get(object_name(position))
            .await
            .map_err(|e| format!("the snapshot after log entry {position}: {e}"))?;
        let mut bytes = Vec::with_capacity(object.info.size);
        object
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| format!("the snapshot after log entry {position}: {e}"))?;
        Ok(bytes)
    }

    /// The latest chain (none before the first snapshot), and the key's
    /// revision, for a compare-and-set (0: never written).
    async fn latest(&self) -> Result<(Option<Chain>, u64), String> {
        let (value, revision) = self.key(LATEST).await?;
        let Some(value) = value else {
            return Ok((None, revision));
        };
        let chain = std::str::from_utf8(&value)
            .ok()
            .and_then(Chain::parse)
            .ok_or_else(|| {
                format!("the snapshot key holds {value:?}, not a chain of log entries")
            })?;
        Ok((Some(chain), revision))
    }

    /// The value of `key` in the snapshot bucket (none when it was never
    /// put, or deleted), and the revision a compare-and-set over it names.
    async fn key(&self, key: &str) -> Result<(Option<bytes::Bytes>, u64), String> {
        match self.latest.entry(key).await.map_err(|e| e.to_string())? {
            Some(e) if e.operation == kv::Operation::Put => Ok((Some(e.value), e.revision)),
            Some(e) => Ok((None, e.revision)),
            None => Ok((None, 0)),
        }
    }

    /// Claims the snapshot after `position` for this node: moves the claim
    /// key forward to it by compare-and-set. False when another node has
    /// claimed it, or a later one.
    async fn claim(&self, position: u64) -> Result<bool, String> {
        loop {
            let (value, revision) = self.key(CLAIMED).await?;
            let claimed = value
                .and_then(|v| std::str::from_utf8(&v).ok()?.parse::<u64>().ok())
                .unwrap_or_default();
            if claimed >= position {
                return Ok(false);
            }
            let update = (self.latest)
                .update(CLAIMED, position.to_string().into(), revision)
                .await;
            match update {
                Ok(_) => return Ok(true),
                Err(e) if moved(&e) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// Puts the snapshot after `position` (a delta on the latest of `chain`,
    /// or whole) and names it the latest, unless a later one is; then trims
    /// the log and deletes the snapshots the new chain does not need.
    /// `chain` and `revision` are what the key held when the snapshot's
    /// records were read.
    async fn put(&self, stream: &Stream, taken: Taken) -> Result<(), String> {
        let Taken {
            position,
            bytes,
            delta,
            chain: mut before,
            mut revision,
        } = taken;
        self.hold.pass().await;
        if before.as_ref().and_then(Chain::latest) >= Some(position) {
            return Ok(());
        }
        let name = object_name(position);
        let size = bytes.len() as u64;
        self.objects
            .put(name.as_str(), &mut bytes.as_slice())
            .await
            .map_err(|e| format!("not stored: {e}"))?;
        // Named only over the revision read: a node that read the key, then
        // was held up while others named later snapshots and trimmed the log
        // behind them, must not name its older one.
        let chain = loop {
            let chain = before
                .clone()
                .unwrap_or_default()
                .with(position, size, delta);
            let named = self
                .latest
                .update(LATEST, chain.text().into(), revision)
                .await;
            match named {
                Ok(_) => break chain,
                Err(e) if moved(&e) => {
                    (before, revision) = self.latest().await?;
                    let later = before.as_ref().and_then(Chain::latest);
                    // A delta is on the snapshot named when it was read, and
                    // on no other.
                    if delta || later >= Some(position) {
                        ::log::info!(
                            "snapshot after log entry {position} dropped: the one after {} \
                             was named while this node was held up",
                            later.unwrap_or_default()
                        );
                        return self
                            .objects
                            .delete(&name)
                            .await
                            .map_err(|e| format!("dropped, but not deleted: {e}"));
                    }
                }
                // The write may still have happened, so the object stays; the
                // next snapshot deletes it if it was not named.
                Err(e) => return Err(format!("not named the latest: {e}")),
            }
        };
        let kind = if delta { "a delta" } else { "whole" };
        ::log::info!("snapshot after log entry {position} ({size} bytes, {kind})");
        if let Some(before) = before.as_ref().and_then(Chain::latest) {
            // Up to the snapshot this one replaced, never past this one.
            let purged = stream
                .purge()
                .sequence(before.min(position) + 1)
                .await
                .map_err(|e| format!("stored, but the log was not trimmed: {e}"))?;
            ::log::info!("trimmed {} log entries up to {before}", purged.purged);
        }
        match tokio::time::timeout(SWEEP_WITHIN, self.sweep(&chain)).await {
            Ok(swept) => {
                swept.map_err(|e| format!("stored, but the ones it replaced were not deleted: {e}"))
            }
            Err(_) => Err("stored, but the ones it replaced were not deleted in time".into()),
        }
    }

    /// Deletes every snapshot older than the latest that `chain` does not
    /// hold: those it replaced, and any that a node put but stopped before
    /// naming.
    async fn sweep(&self, chain: &Chain) -> Result<(), String> {
        let position = chain.latest().unwrap_or_default();
        let mut list = self.objects.list().await.map_err(|e| e.to_string())?;
        let mut old = Vec::new();
        while let Some(info) = list.next().await {
            let info = info.map_err(|e| e.to_string())?;
            let at = info.name.strip_prefix(NAMED).and_then(|p| p.parse().ok());
            if at.is_some_and(|at: u64| at < position && !chain.holds(at)) {
                old.push(info.name);
            }
        }
        for name in old {
            match self.objects.delete(&name).await {
                Err(e) if e.kind() != object_store::DeleteErrorKind::NotFound => {
                    return Err(e.to_string())
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Starts `engine` (a fresh one) from the latest snapshot, if there is one.
/// Answers the log position it holds and that entry's time (0 and 0 without
/// one). A snapshot that cannot be read stops the node: starting without it
/// would miss what the log no longer holds.
pub(super) async fn load(engine: &Engine, shelf: &Shelf) -> Result<(u64, u64), ClusterError> {
    // A later snapshot can replace (and delete) the ones named while they
    // are read; then the key is read again.
    // A large snapshot takes a while to read: an attempt may take until the
    // node's whole wait is over.
    let read = until_ready("reading the cluster's snapshot", READY_WITHIN, || async {
        let (Some(chain), _) = shelf.latest().await? else {
            return Ok(None);
        };
        // The whole one first, then each delta on it.
        let mut objects = Vec::with_capacity(chain.0.len());
        for &(position, _) in chain.0.iter().rev() {
            objects.push(shelf.read(position).await?);
        }
        Ok::<_, String>(Some(objects))
    })
    .await;
    let Some(objects) = read? else {
        return Ok((0, 0));
    };
    let window = engine.config().limits.replay_window;
    let chain: Vec<&[u8]> = objects.iter().map(Vec::as_slice).collect();
    let s = snapshot::decode_chain(&chain, window)
        .map_err(|e| ClusterError::JetStream(format!("the cluster's snapshot: {e}")))?;
    let conversations = s.recovered.conversations.len();
    engine
        .recover(s.recovered)
        .await
        .map_err(|e| ClusterError::JetStream(format!("the cluster's snapshot: {e}")))?;
    ::log::info!(
        "started from the snapshot after log entry {} ({conversations} conversations, {} bytes \
         in {} objects)",
        s.position,
        objects.iter().map(Vec::len).sum::<usize>(),
        objects.len()
    );
    Ok((s.position, s.at))
}

/// A snapshot taken, on its way to the object store.
struct Taken {
    position: u64,
    bytes: Vec<u8>,
    /// A delta on the latest of `chain`, or whole.
    delta: bool,
    /// The key when the records were read, and its revision.
    chain: Option<Chain>,
    revision: u64,
}

/// Takes a snapshot after log entry `position` (of time `at`): learns the
/// latest chain and asks the engine for its records as they are now (all of
/// them, or those changed since the latest); the conversations write them
/// out, and the snapshot is encoded, put and the log trimmed, in the
/// background, while the reader goes on.
pub(super) async fn take(engine: &Engine, shelf: Shelf, stream: Stream, position: u64, at: u64) {
    let looked = async {
        let remade = shelf.remake_missing().await?;
        if !shelf.claim(position).await? {
            return Ok(None);
        }
        let (chain, revision) = shelf.latest().await?;
        // A chain whose objects are gone is no base: the key is moved over
        // its revision to a whole snapshot.
        Ok::<_, String>(Some((chain.filter(|_| !remade), revision)))
    };
    let (chain, revision) = match tokio::time::timeout(LATEST_WITHIN, looked).await {
        Ok(Ok(Some(latest))) => latest,
        Ok(Ok(None)) => {
            shelf.hold.declined();
            return ::log::warn!("no snapshot after log entry {position}: another node claimed it");
        }
        Ok(Err(e)) => return ::log::warn!("no snapshot after log entry {position}: {e}"),
        Err(_) => {
            return ::log::warn!(
                "no snapshot after log entry {position}: the latest was not known within \
                 {LATEST_WITHIN:?}"
            )
        }
    };
    let base = chain.as_ref().and_then(Chain::delta_base);
    let records = engine.records_since(base);
    tokio::spawn(async move {
        let Some((records, live)) = records.await else {
            return;
        };
        let on = base.map(|b| (b, live.as_deref()));
        let bytes = snapshot::encode_on(position, at, on, &records);
        drop(records);
        let taken = Taken {
            position,
            bytes,
            delta: base.is_some(),
            chain,
            revision,
        };
        if let Err(e) = shelf.put(&stream, taken).await {
            ::log::warn!("snapshot after log entry {position}: {e}");
        }
        shelf.hold.end();
    });
}

/// A test hook ([`Cluster::snapshot_hold`](super::Cluster::snapshot_hold)):
/// while held, a node's snapshot waits just after it has read which one is
/// the latest, as it would if the node were stopped there.
#[doc(hidden)]
#[derive(Debug, Clone, Default)]
pub struct SnapshotHold(Arc<watch::Sender<Held>>);

#[derive(Debug, Default)]
struct Held {
    on: bool,
    reached: u64,
    ended: u64,
    every: bool,
    declined: u64,
}

impl SnapshotHold {
    /// Holds (or lets go of) the snapshots this node takes.
    pub fn hold(&self, on: bool) {
        self.0.send_modify(|h| h.on = on);
    }

    /// Returns once `n` snapshots in all have reached the hold.
    pub async fn reached(&self, n: u64) {
        let _ = self.0.subscribe().wait_for(|h| h.reached >= n).await;
    }

    /// Returns once `n` snapshots in all have ended, kept or not.
    pub async fn ended(&self, n: u64) {
        let _ = self.0.subscribe().wait_for(|h| h.ended >= n).await;
    }

    /// Has this node take every snapshot due, whichever node appended its
    /// entry: with two such nodes, two nodes take each one.
    pub fn take_every(&self, on: bool) {
        self.0.send_modify(|h| h.every = on);
    }

    /// How many snapshots this node has not taken because another node had
    /// claimed them.
    pub fn declined_count(&self) -> u64 {
        self.0.borrow().declined
    }

    /// How many snapshots this node has taken to their end, kept or not.
    pub fn ended_count(&self) -> u64 {
        self.0.borrow().ended
    }

    pub(super) fn takes_every(&self) -> bool {
        self.0.borrow().every
    }

    fn declined(&self) {
        self.0.send_modify(|h| h.declined += 1);
    }

    async fn pass(&self) {
        self.0.send_modify(|h| h.reached += 1);
        let _ = self.0.subscribe().wait_for(|h| !h.on).await;
    }

    fn end(&self) {
        self.0.send_modify(|h| h.ended += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::Chain;
    use async_nats::jetstream::{context::PublishError, context::PublishErrorKind, kv};

    /// A write over a revision the key has moved past, as the server answers it.
    fn refused(err_code: u64) -> kv::UpdateError {
        let json =
            format!(r#"{{"code":400,"err_code":{err_code},"description":"wrong last sequence"}}"#);
        let api: async_nats::jetstream::Error = serde_json::from_str(&json).expect("an API error");
        let kind = match err_code {
            10071 => PublishErrorKind::WrongLastSequence,
            _ => PublishErrorKind::Other,
        };
        PublishError::with_source(kind, api).into()
    }

    #[test]
    fn a_key_moved_meanwhile_is_told_from_a_failed_write() {
        assert!(super::moved(&refused(10071)));
        assert!(super::moved(&refused(10164)), "as 2.15 answers it");
        assert!(!super::moved(&refused(10077)));
        let timed_out = kv::UpdateError::new(kv::UpdateErrorKind::TimedOut);
        assert!(!super::moved(&timed_out));
    }

    #[test]
    fn the_key_reads_back_as_written_and_as_colloquy_wrote_it_before_deltas() {
        let chain = Chain(vec![(30, 5), (20, 7), (10, 100)]);
        assert_eq!(Chain::parse(&chain.text()), Some(chain.clone()));
        assert_eq!(chain.text(), "30:5 20:7 10:100");
        // Before deltas, the key held one entry: a whole snapshot of unknown size.
        assert_eq!(Chain::parse("10000"), Some(Chain(vec![(10_000, 0)])));
        for junk in ["", "x", "10:", ":5", "10:5 y", "-1"] {
            assert_eq!(Chain::parse(junk), None, "{junk:?}");
        }
        assert!(chain.holds(20) && !chain.holds(25));
        assert_eq!(chain.latest(), Some(30));
    }

    #[test]
    fn a_chain_grows_by_deltas_until_they_hold_as_much_as_its_whole_one() {
        let whole = Chain(vec![(10, 100)]);
        assert_eq!(whole.delta_base(), Some(10));
        let grown = whole.with(20, 60, true);
        assert_eq!(grown, Chain(vec![(20, 60), (10, 100)]));
        assert_eq!(grown.delta_base(), Some(20), "60 bytes of deltas on 100");
        let full = grown.with(30, 40, true);
        assert_eq!(full.delta_base(), None, "100 bytes of deltas on 100");
        // A whole snapshot starts a chain of its own.
        assert_eq!(full.with(40, 120, false), Chain(vec![(40, 120)]));
        // Of unknown size (written before deltas): the next is whole.
        assert_eq!(Chain(vec![(10, 0)]).delta_base(), None);
        assert_eq!(Chain::default().delta_base(), None);
    }

    #[test]
    fn a_chain_is_closed_at_its_longest() {
        let mut chain = Chain(vec![(1, 1_000_000)]);
        for at in 2..=super::MAX_CHAIN as u64 {
            assert_eq!(chain.delta_base(), Some(at - 1));
            chain = chain.with(at, 1, true);
        }
        assert_eq!(chain.0.len(), super::MAX_CHAIN);
        assert_eq!(chain.delta_base(), None);
    }
}
