//! Snapshots of the cluster's state, so that the log does not grow forever
//! and a starting node does not apply all of it.
//!
//! Every `snapshot_every` entries, the node that appended that entry (exactly
//! one node, the same on all of them) takes its engine's records between that
//! entry and the next (`Engine::records`: the same records `--data-dir`
//! keeps), and puts them in a JetStream object store as the object `latest`,
//! replacing the one before. Then it purges the log up to that previous
//! snapshot's position: a node whose reader is less than one interval behind
//! still finds the entries it needs, and a starting node finds every entry
//! after the latest snapshot. A node that falls further behind than that
//! cannot go on (it would miss entries) and stops; restarted, it starts from
//! the snapshot.

use std::collections::HashMap;

use async_nats::jetstream::{self, object_store, stream::Stream};
use tokio::io::AsyncReadExt;

use super::{until_ready, ClusterError};
use crate::engine::Engine;
use crate::store::snapshot;

/// The object store bucket, and the one object in it.
const BUCKET: &str = "COLLOQUY_SNAPSHOTS";
const LATEST: &str = "latest";
/// The object's metadata key for the log position it holds.
const POSITION: &str = "position";

/// The bucket, with as many replicas as the log.
pub(super) async fn bucket(
    js: &jetstream::Context,
    replicas: usize,
) -> Result<object_store::ObjectStore, ClusterError> {
    until_ready("the snapshot bucket", || async {
        if let Ok(b) = js.get_object_store(BUCKET).await {
            return Ok(b);
        }
        // Another node may make it at the same time: then the next round gets it.
        js.create_object_store(object_store::Config {
            bucket: BUCKET.into(),
            description: Some("colloquy: the cluster's latest snapshot".into()),
            storage: jetstream::stream::StorageType::File,
            num_replicas: replicas,
            ..Default::default()
        })
        .await
    })
    .await
}

/// Starts `engine` (a fresh one) from the latest snapshot, if there is one.
/// Answers the log position it holds and that entry's time (0 and 0 without
/// one). A snapshot that cannot be read stops the node: starting without it
/// would miss what the log no longer holds.
pub(super) async fn load(
    engine: &Engine,
    bucket: &object_store::ObjectStore,
) -> Result<(u64, u64), ClusterError> {
    // The object can be replaced while it is read; then it is read again.
    let read = until_ready("reading the cluster's snapshot", || async {
        let mut object = match bucket.get(LATEST).await {
            Ok(object) => object,
            Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
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
pub(super) async fn take(
    engine: &Engine,
    bucket: object_store::ObjectStore,
    stream: Stream,
    position: u64,
    at: u64,
) {
    let records = engine.records().await;
    tokio::spawn(async move {
        let bytes = snapshot::encode(position, at, &records);
        drop(records);
        if let Err(e) = put(&bucket, &stream, position, bytes).await {
            ::log::warn!("no snapshot after log entry {position}: {e}");
        }
    });
}

async fn put(
    bucket: &object_store::ObjectStore,
    stream: &Stream,
    position: u64,
    bytes: Vec<u8>,
) -> Result<(), String> {
    let before = match bucket.info(LATEST).await {
        Ok(info) => info.metadata.get(POSITION).and_then(|p| p.parse().ok()),
        Err(e) if e.kind() == object_store::InfoErrorKind::NotFound => None,
        Err(e) => return Err(e.to_string()),
    };
    if before.is_some_and(|b: u64| b >= position) {
        return Ok(());
    }
    let meta = object_store::ObjectMetadata {
        name: LATEST.into(),
        metadata: HashMap::from([(POSITION.to_string(), position.to_string())]),
        ..Default::default()
    };
    let size = bytes.len();
    bucket
        .put(meta, &mut bytes.as_slice())
        .await
        .map_err(|e| e.to_string())?;
    ::log::info!("snapshot after log entry {position} ({size} bytes)");
    if let Some(before) = before {
        // Up to the snapshot this one replaced, never past this one.
        let purged = stream
            .purge()
            .sequence(before.min(position) + 1)
            .await
            .map_err(|e| format!("the log was not trimmed: {e}"))?;
        ::log::info!("trimmed {} log entries up to {before}", purged.purged);
    }
    Ok(())
}
