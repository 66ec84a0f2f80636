//! Cluster mode: colloquy nodes sharing every conversation through NATS
//! JetStream (`--nats`, `--node-id`; `docs/CLUSTER.md`).
//!
//! Each node keeps the whole engine state and applies one log: a JetStream
//! stream (3 replicas) that holds every op that changes state, in the one
//! order the stream gives them. An op asked on any node is appended there and
//! answered once this node has applied it; every node applies every entry with
//! the time and id seed of the entry, so each makes the same change, the same
//! `seq`, and sends its own sessions the same events. Every so many entries a
//! snapshot of the state goes to a JetStream object store, a KV key names the
//! latest (moved by compare-and-set), and the log is trimmed behind it
//! (`snapshots.rs`). Presence crosses nodes on a plain NATS
//! subject (`presence.rs`). Each entry names the colloquy that appended it,
//! and a node stops rather than apply one from a newer version
//! (`version.rs`).
//!
//! The NATS client runs on this module's own thread and tokio runtime; the
//! engine and the transports do not know NATS is there.

mod ahead;
mod appender;
mod beats;
mod connect;
mod credentials;
mod lanes;
mod oplog;
mod presence;
mod signals;
#[cfg(test)]
mod snapshot_tests;
mod snapshots;
#[cfg(test)]
mod tests;
mod version;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::stream::{Config as StreamConfig, StorageType};
use oplog::Log;
#[doc(hidden)]
pub use snapshots::SnapshotHold;
use tokio::sync::{oneshot, watch};

use crate::engine::Engine;

/// How long a node waits at start for NATS and JetStream to be ready.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// How long one JetStream request at start (making or finding the log and
/// buckets) may go unanswered before it is asked again.
const ATTEMPT: Duration = Duration::from_secs(2);
/// The stream that is the cluster's log, and its one subject.
const STREAM: &str = "COLLOQUY";
const SUBJECT: &str = "colloquy.log";
/// The stream's metadata key for the limits every node must share.
const RULES: &str = "colloquy.limits";

/// Where the cluster is and who this node is.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// NATS server URLs (`nats://host:port` or `tls://host:port`, with
    /// `user:password@` or `token@` before the host where the servers want
    /// credentials); the client fails over between them.
    pub urls: Vec<String>,
    /// This node's name, unique in the cluster.
    pub node_id: String,
    /// Take a snapshot every so many log entries and trim the log behind it
    /// (0: never; see `docs/CLUSTER.md`).
    pub snapshot_every: u64,
    /// While ops keep coming (an entry was sent less than this ago), each
    /// waits this long for the ones asked after it, to share its log entry;
    /// zero: each goes as soon as it can (see `docs/CLUSTER.md`).
    pub append_wait: std::time::Duration,
    /// TLS to the NATS servers, beyond what `tls://` URLs ask for.
    pub tls: Tls,
    /// Who this node is to NATS, from a file, where the URLs carry no
    /// credentials.
    pub key_file: Option<KeyFile>,
}

/// A file that says who a node is to NATS.
#[derive(Debug, Clone)]
pub enum KeyFile {
    /// A `.creds` file: a user's JWT and its NKey seed, as servers in
    /// operator mode (Synadia Cloud among them) want.
    Creds(std::path::PathBuf),
    /// A file holding a user's NKey seed (`SU…`), for servers that list
    /// their users by public key.
    NKey(std::path::PathBuf),
}

/// TLS to the NATS servers. `tls://` URLs, and servers that require it, get
/// TLS with the system's trusted authorities and nothing else set.
#[derive(Debug, Clone, Default)]
pub struct Tls {
    /// A PEM file of authorities to trust besides the system's (a private
    /// CA). Given, every connection is TLS, `nats://` URLs too.
    pub ca: Option<std::path::PathBuf>,
    /// This node's certificate and its key (PEM files), for servers that
    /// verify their clients.
    pub client: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

impl ClusterConfig {
    /// The snapshot interval of the dev server's default.
    pub const SNAPSHOT_EVERY: u64 = 10_000;
    /// The dev server's default of [`append_wait`](Self::append_wait).
    /// Zero: an op goes as soon as it can (a cluster of many small, busy
    /// rooms may trade a few milliseconds for a fifth of its CPU; see
    /// `docs/CLUSTER.md`).
    pub const APPEND_WAIT: std::time::Duration = std::time::Duration::ZERO;
}

/// Why a node could not join its cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No NATS server answered.
    #[error("cannot connect to NATS at {urls}: {reason}")]
    Connect {
        /// The URLs tried.
        urls: String,
        /// What the client said.
        reason: String,
    },
    /// JetStream did not give us the log stream or its reader.
    #[error("JetStream is not ready: {0}")]
    JetStream(String),
    /// No server the node can reach runs JetStream for its account.
    #[error(
        "{0}: the cluster keeps its log in JetStream (start nats-server with -js, \
         and give the account JetStream)"
    )]
    NoJetStream(String),
    /// This node's limits are not the ones the cluster's log was made with.
    #[error(
        "this node's limits differ from the cluster's, and nodes with different limits would \
         decide the same ops differently: give every node the same flags \
         (this node: {ours}; the cluster: {theirs})"
    )]
    Limits {
        /// This node's limits.
        ours: String,
        /// The limits recorded with the cluster's log.
        theirs: String,
    },
    /// This node stopped before it was ready: it met an entry it must not
    /// apply (one appended by a newer colloquy), or its version is not one.
    #[error("this node's {0}")]
    Stopped(String),
    /// The node's own thread could not start.
    #[error("cannot start the cluster thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// A node's membership in a cluster: while it lives, `engine` puts its
/// state-changing ops through the cluster's log. Dropping it (or
/// [`Cluster::leave`]) says goodbye to the other nodes and stops its thread.
pub struct Cluster {
    snapshot_hold: SnapshotHold,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").finish_non_exhaustive()
    }
}

impl Cluster {
    /// Connects to NATS, makes the log stream if it is not there, applies every
    /// entry already in it to `engine` (a fresh one), then routes the engine's
    /// state-changing ops through it. Returns once this node is caught up.
    /// Blocks the calling thread meanwhile; works from any thread, inside an
    /// async runtime or not (the cluster runs on a thread of its own).
    pub fn join(engine: &Engine, config: ClusterConfig) -> Result<Cluster, ClusterError> {
        Cluster::join_as(engine, config, env!("CARGO_PKG_VERSION"))
    }

    /// A test hook: joins as a node of colloquy `version` would, appending
    /// entries that name it (`docs/CLUSTER.md`, "Failure modes").
    #[doc(hidden)]
    pub fn join_as(
        engine: &Engine,
        config: ClusterConfig,
        version: &str,
    ) -> Result<Cluster, ClusterError> {
        let version = semver::Version::parse(version)
            .map_err(|e| ClusterError::Stopped(format!("version, {version:?}, is not one: {e}")))?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let engine = engine.clone();
        let snapshot_hold = SnapshotHold::default();
        let hold = snapshot_hold.clone();
        let thread = std::thread::Builder::new()
            .name("colloquy-nats".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("colloquy-nats")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(ClusterError::Thread(e)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match start(&engine, &config, hold, version).await {
                        Ok(presence) => {
                            let _ = ready_tx.send(Ok(()));
                            // Until Cluster::leave or drop (or its Cluster is gone).
                            let _ = stopped.await;
                            presence.leave().await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(2));
            })?;
        let joined = ready_rx
            .recv()
            .unwrap_or_else(|_| Err(ClusterError::JetStream("the cluster thread stopped".into())));
        match joined {
            Ok(()) => Ok(Cluster {
                snapshot_hold,
                stop: Some(stop),
                thread: Some(thread),
            }),
            Err(e) => {
                let _ = thread.join();
                Err(e)
            }
        }
    }

    /// A test hook: holds this node's snapshots at the point where a node
    /// stopped at the wrong moment would hold them (`docs/CLUSTER.md`,
    /// "Snapshots").
    #[doc(hidden)]
    pub fn snapshot_hold(&self) -> &SnapshotHold {
        &self.snapshot_hold
    }

    /// Tells the other nodes this node's users are gone from it, and stops.
    pub fn leave(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Joins on the cluster's runtime: NATS, the log stream, catching up, then
/// the engine's ops through the log and presence shared.
async fn start(
    engine: &Engine,
    config: &ClusterConfig,
    hold: SnapshotHold,
    version: semver::Version,
) -> Result<presence::Handle, ClusterError> {
    let node = config.node_id.as_str();
    // This process among the cluster's: a node restarted under the same id,
    // or two given one id by mistake, never pass for each other.
    let instance: Arc<str> = Arc::from(format!(
        "{node}/{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    let (reconnected, connections) = watch::channel(0);
    let client = connect::connect(config, reconnected).await?;
    let js = jetstream::new(client.clone());
    jetstream_enabled(&client, &js).await?;
    let rules = format!("{:?}", engine.config().limits);
    let stream = log_stream(&js, &rules).await?;
    let replicas = stream.cached_info().config.num_replicas;
    let snapshots = oplog::Snapshots {
        shelf: snapshots::Shelf::open(&js, replicas, hold).await?,
        every: config.snapshot_every,
    };
    let appending = oplog::Appending {
        origin: instance.to_string(),
        version,
        wait: config.append_wait,
    };
    let log = Log::start(
        engine.clone(),
        js,
        stream,
        connections,
        snapshots,
        appending,
    )
    .await?;
    let presence = presence::start(engine, client, instance).await;
    engine.replicate_through(Arc::new(log));
    ::log::info!(
        "node {node} joined the cluster at {}",
        credentials::shown_all(&config.urls)
    );
    Ok(presence)
}

/// Runs `ask` until it answers, for at most [`READY_WITHIN`]: while a
/// cluster starts (or elects a leader), JetStream answers "temporarily
/// unavailable" for a while, or not at all. An attempt that has no answer
/// within `attempt` is given up and made again: a JetStream request sent
/// before the servers agreed on a leader can go unanswered, and the client's
/// own timeout for it is 10 s.
async fn until_ready<T, E: std::fmt::Display, F: std::future::Future<Output = Result<T, E>>>(
    what: &str,
    attempt: Duration,
    mut ask: impl FnMut() -> F,
) -> Result<T, ClusterError> {
    let deadline = tokio::time::Instant::now() + READY_WITHIN;
    loop {
        let err = match tokio::time::timeout(attempt, ask()).await {
            Ok(Ok(t)) => return Ok(t),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {attempt:?}"),
        };
        if tokio::time::Instant::now() > deadline {
            return Err(ClusterError::JetStream(format!("{what}: {err}")));
        }
        ::log::debug!("{what}: JetStream not ready yet: {err}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Fails at once where JetStream is off, rather than after [`READY_WITHIN`]
/// of asking: a server started without `-js` has no one to answer a
/// JetStream request (unless another server of its cluster runs JetStream,
/// hence both signs are wanted), and a server whose account lacks JetStream
/// says so. Any other answer, or none yet, is left to the requests that
/// follow, which wait for a cluster still starting.
async fn jetstream_enabled(
    client: &async_nats::Client,
    js: &jetstream::Context,
) -> Result<(), ClusterError> {
    use jetstream::context::AccountErrorKind as Kind;
    use jetstream::ErrorCode;
    let server = client.server_info();
    let named = match &server.server_name {
        // A server not given --name is named by its long id.
        name if *name == server.server_id => {
            format!("the NATS server at {}:{}", server.host, server.port)
        }
        name => format!("the NATS server {name} ({}:{})", server.host, server.port),
    };
    match tokio::time::timeout(ATTEMPT, js.query_account()).await {
        Ok(Err(e)) if e.kind() == Kind::JetStreamUnavailable && !server.jetstream => {
            Err(ClusterError::NoJetStream(format!(
                "{named} does not run JetStream, nor does any server of its cluster"
            )))
        }
        Ok(Err(e))
            if matches!(e.kind(), Kind::JetStream(ref api)
                if [ErrorCode::JETSTREAM_NOT_ENABLED_FOR_ACCOUNT, ErrorCode::JETSTREAM_NOT_ENABLED]
                    .contains(&api.error_code())) =>
        {
            Err(ClusterError::NoJetStream(format!(
                "{named} does not enable JetStream for this node's account"
            )))
        }
        _ => Ok(()),
    }
}

/// The log stream: three replicas on file storage, or one on a server that is
/// not clustered (a single `nats-server -js`, for trying it out).
///
/// The stream records the limits of the node that made it (`rules`); a node
/// with other limits is refused, since the same op would be decided
/// differently on it.
async fn log_stream(
    js: &jetstream::Context,
    rules: &str,
) -> Result<jetstream::stream::Stream, ClusterError> {
    let stream = made_or_found(js, rules).await?;
    let config = &stream.cached_info().config;
    if let Some(theirs) = config.metadata.get(RULES).filter(|t| *t != rules) {
        return Err(ClusterError::Limits {
            ours: rules.to_string(),
            theirs: theirs.clone(),
        });
    }
    if !config.allow_direct {
        // Made by an earlier colloquy: reading on through direct gets is
        // all it lacks, and the log works without it.
        let config = StreamConfig {
            allow_direct: true,
            ..config.clone()
        };
        if let Err(e) = js.update_stream(config).await {
            ::log::warn!("could not allow direct gets on the log ({e})");
        }
    }
    Ok(stream)
}

async fn made_or_found(
    js: &jetstream::Context,
    rules: &str,
) -> Result<jetstream::stream::Stream, ClusterError> {
    let config = |replicas| StreamConfig {
        name: STREAM.into(),
        subjects: vec![SUBJECT.into()],
        storage: StorageType::File,
        num_replicas: replicas,
        duplicate_window: Duration::from_secs(120),
        // Direct gets: a node whose reader died with a NATS server reads
        // on through any server while a new reader cannot be made.
        allow_direct: true,
        metadata: [(RULES.to_string(), rules.to_string())].into(),
        ..Default::default()
    };
    // All nodes may start at once, before JetStream has elected a leader.
    until_ready("the log stream", ATTEMPT, || async {
        match js.get_or_create_stream(config(3)).await {
            Err(e)
                if e.to_string().contains("non-clustered")
                    || e.to_string().contains("not supported") =>
            {
                ::log::warn!("NATS is a single server: the log has one replica");
                js.get_or_create_stream(config(1)).await
            }
            made => made,
        }
    })
    .await
}

pub use async_nats::ServerAddr;
