//! Counters of the engine, read by `/metrics` and by tests.
//!
//! Plain atomics, bumped once per event or per session, never per recipient, so
//! that counting costs nothing on the fanout path.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use crate::delivery::CloseReason;

const REASONS: [CloseReason; 9] = [
    CloseReason::ClientClosed,
    CloseReason::SlowConsumer,
    CloseReason::IdleTimeout,
    CloseReason::ProtocolError,
    CloseReason::InvalidText,
    CloseReason::FrameTooLarge,
    CloseReason::RateLimited,
    CloseReason::WriteTimeout,
    CloseReason::Shutdown,
];

/// The engine's counters and gauges.
#[derive(Debug, Default)]
pub struct Metrics {
    sessions_open: AtomicI64,
    conversations: AtomicI64,
    messages_stored: AtomicI64,
    events_delivered: AtomicU64,
    frames_dropped: AtomicU64,
    twilio_requests: AtomicU64,
    sessions_moved: AtomicU64,
    closed: [AtomicU64; REASONS.len()],
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Sessions open now.
    pub sessions_open: i64,
    /// Conversations that exist now.
    pub conversations: i64,
    /// Messages held now, over all conversations.
    pub messages_stored: i64,
    /// Frames handed to sessions since start.
    pub events_delivered: u64,
    /// Frames refused because a session's outbox was full or closed.
    pub frames_dropped: u64,
    /// Requests the Twilio face answered (any status) since start.
    pub twilio_requests: u64,
    /// WebSocket sessions moved since start to the thread that runs most of
    /// their user's conversations (after a join).
    pub sessions_moved: u64,
    /// Sessions closed since start, by reason.
    pub sessions_closed: Vec<(&'static str, u64)>,
    /// Store transactions committed (one fsync each); 0 in memory.
    pub store_commits: u64,
    /// Ops' change sets committed in them: over `store_commits`, the group size.
    pub store_batches: u64,
    /// This node's view of its cluster's log; `None` off a cluster.
    pub cluster: Option<ClusterStatus>,
}

/// A cluster node's view of its log (`--nats`, `docs/CLUSTER.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterStatus {
    /// Why this node cannot take writes now (not connected to NATS, or its
    /// appends failing), if it cannot.
    pub unavailable: Option<String>,
    /// Whether it is connected to a NATS server now.
    pub connected: bool,
    /// The last log entry it applied (and every one before).
    pub entries_applied: u64,
    /// Entries it appended since start.
    pub entries_appended: u64,
    /// Ops this node appended since start, in those entries.
    pub ops_appended: u64,
    /// Times its NATS client connected again after losing a server.
    pub reconnections: u64,
}

impl Metrics {
    pub(crate) fn session_opened(&self) {
        self.sessions_open.fetch_add(1, Relaxed);
    }
    pub(crate) fn session_closed(&self, reason: CloseReason) {
        self.sessions_open.fetch_sub(1, Relaxed);
        if let Some(i) = REASONS.iter().position(|r| *r == reason) {
            self.closed[i].fetch_add(1, Relaxed);
        }
    }
    pub(crate) fn conversations_add(&self, n: i64) {
        self.conversations.fetch_add(n, Relaxed);
    }
    pub(crate) fn messages_add(&self, n: i64) {
        self.messages_stored.fetch_add(n, Relaxed);
    }
    pub(crate) fn delivered(&self, delivered: usize, dropped: usize) {
        if delivered > 0 {
            self.events_delivered.fetch_add(delivered as u64, Relaxed);
        }
        if dropped > 0 {
            self.frames_dropped.fetch_add(dropped as u64, Relaxed);
        }
    }

    pub(crate) fn session_moved(&self) {
        self.sessions_moved.fetch_add(1, Relaxed);
    }

    pub(crate) fn twilio_request(&self) {
        self.twilio_requests.fetch_add(1, Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            sessions_open: self.sessions_open.load(Relaxed),
            conversations: self.conversations.load(Relaxed),
            messages_stored: self.messages_stored.load(Relaxed),
            events_delivered: self.events_delivered.load(Relaxed),
            frames_dropped: self.frames_dropped.load(Relaxed),
            twilio_requests: self.twilio_requests.load(Relaxed),
            sessions_moved: self.sessions_moved.load(Relaxed),
            sessions_closed: REASONS
                .iter()
                .zip(&self.closed)
                .map(|(r, c)| (r.as_str(), c.load(Relaxed)))
                .collect(),
            store_commits: 0,
            store_batches: 0,
            cluster: None,
        }
    }
}
