//! Snapshots of the cluster's state, so that the log does not grow forever
//! and a starting node does not apply all of it.
//!
//! Every `snapshot_every` entries, the node that appended that entry takes
//! its engine's records between that entry and the next (`Engine::records`:
//! the same records `--data-dir` keeps) and puts them in a JetStream object
//! store, as an object named after the entry. A key in a JetStream KV bucket
//! names the latest one; it is moved only by compare-and-set on its revision,
//! and only forward. Then the node purges the log up to the snapshot the key
//! named before, and deletes the older objects. A node whose reader is less
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
/// How long deleting the replaced snapshots may take before it is left to
/// the next snapshot.
const SWEEP_WITHIN: Duration = Duration::from_secs(10);

fn object_name(position: u64) -> String {
    format!("{NAMED}{position}")
}

/// Where snapshots go: the objects, and the key naming the latest.
#[derive(Clone)]
pub(super) struct Shelf {
    objects: object_store::ObjectStore,
    latest: kv::Store,
    hold: SnapshotHold,
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
        let objects = until_ready("the snapshot bucket", ATTEMPT, || async {
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
        })
        .await?;
        let latest = until_ready("the snapshot key", ATTEMPT, || async {
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
        })
        .await?;
        Ok(Shelf {
            objects,
            latest,
            hold,
        })
    }

    /// The entry of the latest snapshot (none before the first), and the
    /// key's revision, for a compare-and-set (0: never written).
    async fn latest(&self) -> Result<(Option<u64>, u64), String> {
        match self.latest.entry(LATEST).await.map_err(|e| e.to_string())? {
            Some(e) if e.operation == kv::Operation::Put => {
                let position = std::str::from_utf8(&e.value)
                    .ok()
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| {
                        format!("the snapshot key holds {:?}, not a log entry", e.value)
                    })?;
                Ok((Some(position), e.revision))
            }
            Some(e) => Ok((None, e.revision)),
            None => Ok((None, 0)),
        }
    }

    /// Puts the snapshot after `position` and names it the latest, unless a
    /// later one is; then trims the log and deletes the snapshots it replaced.
    async fn put(&self, stream: &Stream, position: u64, bytes: Vec<u8>) -> Result<(), String> {
        let (mut before, mut revision) = self
            .latest()
            .await
            .map_err(|e| format!("not stored: {e}"))?;
        self.hold.pass().await;
        if before.is_some_and(|b| b >= position) {
            return Ok(());
        }
        let name = object_name(position);
        let size = bytes.len();
        self.objects
            .put(name.as_str(), &mut bytes.as_slice())
            .await
            .map_err(|e| format!("not stored: {e}"))?;
        // Named only over the revision read: a node that read the key, then
        // was held up while others named later snapshots and trimmed the log
        // behind them, must not name its older one.
        loop {
            let named = self
                .latest
                .update(LATEST, position.to_string().into(), revision)
                .await;
            match named {
                Ok(_) => break,
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                    (before, revision) = self.latest().await?;
                    if let Some(later) = before.filter(|&b| b >= position) {
                        ::log::info!(
                            "snapshot after log entry {position} dropped: the one after {later} \
                             was named while this node was held up"
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
        }
        ::log::info!("snapshot after log entry {position} ({size} bytes)");
        if let Some(before) = before {
            // Up to the snapshot this one replaced, never past this one.
            let purged = stream
                .purge()
                .sequence(before.min(position) + 1)
                .await
                .map_err(|e| format!("stored, but the log was not trimmed: {e}"))?;
            ::log::info!("trimmed {} log entries up to {before}", purged.purged);
        }
        match tokio::time::timeout(SWEEP_WITHIN, self.sweep(position)).await {
            Ok(swept) => {
                swept.map_err(|e| format!("stored, but the ones it replaced were not deleted: {e}"))
            }
            Err(_) => Err("stored, but the ones it replaced were not deleted in time".into()),
        }
    }

    /// Deletes every snapshot older than the one after `position`: the one it
    /// replaced, and any that a node put but stopped before naming.
    async fn sweep(&self, position: u64) -> Result<(), String> {
        let mut list = self.objects.list().await.map_err(|e| e.to_string())?;
        let mut old = Vec::new();
        while let Some(info) = list.next().await {
            let info = info.map_err(|e| e.to_string())?;
            let at = info.name.strip_prefix(NAMED).and_then(|p| p.parse().ok());
            if at.is_some_and(|at: u64| at < position) {
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
    // A later snapshot can replace (and delete) the one named while it is
    // read; then the key is read again.
    // A large snapshot takes a while to read: an attempt may take until the
    // node's whole wait is over.
    let read = until_ready("reading the cluster's snapshot", READY_WITHIN, || async {
        let (Some(position), _) = shelf.latest().await? else {
            return Ok(None);
        };
        let mut object = shelf
            .objects
            .get(object_name(position))
            .await
            .map_err(|e| format!("the snapshot after log entry {position}: {e}"))?;
        let mut bytes = Vec::with_capacity(object.info.size);
        match object.read_to_end(&mut bytes).await {
            Ok(_) => Ok(Some(bytes)),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;
    let Some(bytes) = read? else {
        return Ok((0, 0));
    };
    let window = engine.config().limits.replay_window;
    let s = snapshot::decode(&bytes, window)
        .map_err(|e| ClusterError::JetStream(format!("the cluster's snapshot: {e}")))?;
    let conversations = s.recovered.conversations.len();
    engine
        .recover(s.recovered)
        .await
        .map_err(|e| ClusterError::JetStream(format!("the cluster's snapshot: {e}")))?;
    ::log::info!(
        "started from the snapshot after log entry {} ({conversations} conversations, {} bytes)",
        s.position,
        bytes.len()
    );
    Ok((s.position, s.at))
}

/// Takes a snapshot after log entry `position` (of time `at`): reads the
/// engine's records now, then encodes and puts them and trims the log in the
/// background.
pub(super) async fn take(engine: &Engine, shelf: Shelf, stream: Stream, position: u64, at: u64) {
    let records = engine.records().await;
    tokio::spawn(async move {
        let bytes = snapshot::encode(position, at, &records);
        drop(records);
        if let Err(e) = shelf.put(&stream, position, bytes).await {
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

    async fn pass(&self) {
        self.0.send_modify(|h| h.reached += 1);
        let _ = self.0.subscribe().wait_for(|h| !h.on).await;
    }

    fn end(&self) {
        self.0.send_modify(|h| h.ended += 1);
    }
}
