//! Appending to the cluster's log: the ops asked on this node, gathered into
//! entries.
//!
//! JetStream's work, and every node's reading, is per entry (one stream
//! message), not per op. So while this node's appends are on their way, the
//! ops asked meanwhile queue, and the next append carries all of them: under
//! load a node appends a few large entries rather than many small ones; when
//! idle, each op goes at once, alone.

use std::collections::HashMap;
use std::future::IntoFuture;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};

use super::{version, SUBJECT};
use crate::conversation::Answer;
use crate::error::{Error, Result};

/// How long appending an entry may retry while NATS fails over; twice this,
/// and its callers get `internal` (the op may still be applied: a resend with
/// the same `client_id` then answers it).
pub(super) const APPLY_WITHIN: Duration = Duration::from_secs(15);
/// How long an append waits for its ack before it is sent again (the
/// stream keeps it once). JetStream drops what is published while the
/// log's stream has no leader (an election), and an ack comes back in a
/// millisecond or two here, so waiting the client's 5 s added up to 5 s to
/// the first acknowledgement after an election.
const ACK_WITHIN: Duration = Duration::from_secs(2);
/// Appends on their way at once, per node.
const APPENDS_IN_FLIGHT: usize = 2;
/// An entry's size at most: well under NATS's default 1 MiB message limit.
/// (One op larger than this still goes alone, if the servers' max_payload
/// takes it.)
const ENTRY_BYTES: usize = 256 * 1024;
/// Room kept in a NATS message for its subject and headers: an entry is at
/// most the server's `max_payload` less this.
const HEADROOM: usize = 1024;

/// The callers on this node waiting for their ops to be applied, by op number.
pub(super) type Waiting = Mutex<HashMap<u64, oneshot::Sender<Result<Answer>>>>;

pub(super) fn lock(w: &Waiting) -> MutexGuard<'_, HashMap<u64, oneshot::Sender<Result<Answer>>>> {
    // Inserts and removes leave the map whole: a poisoned lock still holds it.
    w.lock().unwrap_or_else(|p| p.into_inner())
}

/// What this node's appends have done: read by the applier (is the stream
/// ahead of what it applied?) and by the node's status.
#[derive(Default)]
pub(super) struct Appends {
    /// The last place in the stream this node appended to.
    pub last: AtomicU64,
    /// Entries appended since start, and the ops they held.
    pub entries: AtomicU64,
    pub ops: AtomicU64,
    /// When an attempt last failed, and why: the next success clears it.
    failing: Mutex<Option<(Instant, String)>>,
}

/// How long a failed append counts against the node's health: a node
/// whose appends stopped failing only because nothing asked for any must
/// not stay marked down (a load balancer would then never send it more).
const FAILING_FOR: Duration = Duration::from_secs(5);

impl Appends {
    fn failing(&self) -> MutexGuard<'_, Option<(Instant, String)>> {
        // A plain value: a poisoned lock still holds it whole.
        self.failing.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Why appends fail now, if an attempt failed within [`FAILING_FOR`].
    pub fn trouble(&self) -> Option<String> {
        let failing = self.failing();
        let (at, why) = failing.as_ref()?;
        (at.elapsed() < FAILING_FOR).then(|| why.clone())
    }

    fn succeeded(&self, seq: u64, ops: usize) {
        self.last.fetch_max(seq, Ordering::Relaxed);
        self.entries.fetch_add(1, Ordering::Relaxed);
        self.ops.fetch_add(ops as u64, Ordering::Relaxed);
        self.failing().take();
    }
}

/// An op waiting for the appender: its number here and its JSON.
pub(super) struct Queued {
    pub token: u64,
    pub json: Vec<u8>,
}

/// How long an op waits for others to share its entry. JetStream's work
/// (replicating, delivering to every node) and every node's reading are per
/// entry, so while ops keep coming each waits `wait` for the ones asked
/// after it; an op after a quiet spell (no entry sent for `wait`) goes at
/// once, and so does every op when `wait` is zero.
struct Pace {
    wait: Duration,
    last: Option<tokio::time::Instant>,
}

impl Pace {
    /// When the entry of an op taken `now` goes, if not at once.
    fn due(&self, now: tokio::time::Instant) -> Option<tokio::time::Instant> {
        let busy = now < self.last? + self.wait;
        busy.then(|| now + self.wait)
    }

    fn sent(&mut self, now: tokio::time::Instant) {
        self.last = Some(now);
    }
}

/// This node's appends to the log.
pub(super) struct Appender {
    js: jetstream::Context,
    origin: String,
    waiting: Arc<Waiting>,
    appends: Arc<Appends>,
    /// Counts the client's connections: an ack awaited from a server the
    /// client has left will never come.
    connections: watch::Receiver<u64>,
    /// This node's colloquy, named by every entry it appends.
    version: String,
    /// How long its ops wait for one another while they keep coming ([`Pace`]).
    wait: Duration,
}

impl Appender {
    pub fn new(
        js: jetstream::Context,
        origin: String,
        waiting: Arc<Waiting>,
        appends: Arc<Appends>,
        connections: watch::Receiver<u64>,
        version: &semver::Version,
        wait: Duration,
    ) -> Self {
        Appender {
            js,
            origin,
            waiting,
            appends,
            connections,
            version: version.to_string(),
            wait,
        }
    }

    /// Appends an entry of no ops: it only names this node's version.
    pub async fn hello(&self) -> std::result::Result<u64, String> {
        let id = format!("{}-hello", self.origin);
        let entry = Bytes::from_static(b"[]");
        let seq = self.append_retrying(&id, entry).await?;
        self.appends.succeeded(seq, 0);
        Ok(seq)
    }

    /// Appends what queues, as entries of as many ops as have queued, with at
    /// most [`APPENDS_IN_FLIGHT`] appends on their way, each op waiting for
    /// others as its [`Pace`] says. Ends with the log (when the queue closes).
    pub async fn run(self, mut queue: mpsc::UnboundedReceiver<Queued>) {
        let this = Arc::new(self);
        let permits = Arc::new(Semaphore::new(APPENDS_IN_FLIGHT));
        let mut next: Option<Queued> = None;
        // The servers' max_payload (1 MiB unless set otherwise) bounds an
        // entry. Read again only when the client connects anew (perhaps to a
        // server set otherwise), not for every entry.
        let mut connections = this.connections.clone();
        connections.borrow_and_update();
        let mut max_payload = this.js.client().server_info().max_payload;
        let mut pace = Pace {
            wait: this.wait,
            last: None,
        };
        loop {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let first = match next.take() {
                // What did not fit in a full entry goes at once.
                Some(op) => op,
                None => match queue.recv().await {
                    Some(op) => {
                        if let Some(at) = pace.due(tokio::time::Instant::now()) {
                            tokio::time::sleep_until(at).await;
                        }
                        op
                    }
                    None => return,
                },
            };
            if connections.has_changed().unwrap_or(false) {
                connections.borrow_and_update();
                max_payload = this.js.client().server_info().max_payload;
            }
            // An op that alone is over the limit could never be appended.
            let max = entry_limit(max_payload);
            if first.json.len() + 2 > max {
                this.refuse(first.token, max_payload);
                continue;
            }
            let (gathered, rest) = gather(first, &mut queue, max);
            pace.sent(tokio::time::Instant::now());
            next = rest;
            let this = this.clone();
            tokio::spawn(async move {
                this.append(gathered).await;
                drop(permit);
            });
        }
    }

    /// Answers `too_large` to an op that no entry can hold.
    fn refuse(&self, token: u64, max_payload: usize) {
        if let Some(tx) = lock(&self.waiting).remove(&token) {
            let _ = tx.send(Err(Error::TooLarge(format!(
                "the request is too large for the cluster's log: the NATS servers take \
                 messages of at most {max_payload} bytes (their max_payload)"
            ))));
        }
    }

    /// Appends one entry; on failure, answers its ops' callers `internal`.
    async fn append(&self, Gathered { tokens, entry }: Gathered) {
        // The first op's number names the entry: a retry is de-duplicated.
        let id = format!(
            "{}-{}",
            self.origin,
            tokens.first().copied().unwrap_or_default()
        );
        match self.append_retrying(&id, entry.into()).await {
            Ok(seq) => self.appends.succeeded(seq, tokens.len()),
            Err(why) => {
                let why = format!("not acknowledged: {why}");
                let mut waiting = lock(&self.waiting);
                for token in tokens {
                    if let Some(tx) = waiting.remove(&token) {
                        let _ = tx.send(Err(Error::Internal(why.clone())));
                    }
                }
            }
        }
    }
    /// Appends one entry, retrying (with the same message id, which
    /// JetStream de-duplicates) while the servers fail over. Answers the
    /// entry's place in the stream.
    async fn append_retrying(&self, id: &str, payload: Bytes) -> std::result::Result<u64, String> {
        let deadline = tokio::time::Instant::now() + APPLY_WITHIN;
        let mut connections = self.connections.clone();
        loop {
            connections.borrow_and_update();
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", id);
            headers.insert(version::HEADER, self.version.as_str());
            let published = self
                .js
                .publish_with_headers(SUBJECT, headers, payload.clone())
                .await;
            let (err, pause) = match published {
                // The client reconnecting means the server it published to is
                // gone, and its ack with it: retry at once rather than after
                // ACK_WITHIN (the stream keeps the entry once).
                Ok(ack) => {
                    let ack = tokio::time::timeout(ACK_WITHIN, ack.into_future());
                    match unless_reconnected(ack, &mut connections).await {
                        Some(Ok(Ok(ack))) => return Ok(ack.sequence),
                        Some(Ok(Err(e))) => (e.to_string(), true),
                        Some(Err(_)) => (format!("no ack within {ACK_WITHIN:?}"), false),
                        None => ("the client reconnected".to_string(), false),
                    }
                }
                // Checked before (`run`): only a server with a smaller limit
                // than the one that was asked gets here, and retrying would
                // meet it again.
                Err(e) if e.kind() == jetstream::context::PublishErrorKind::MaxPayloadExceeded => {
                    return Err(e.to_string())
                }
                Err(e) => (e.to_string(), true),
            };
            *self.appends.failing() = Some((Instant::now(), err.clone()));
            if tokio::time::Instant::now() > deadline {
                return Err(err);
            }
            ::log::warn!("appending to the log failed ({err}); retrying");
            if pause {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// The size of an entry at most, on servers that take messages of at most
/// `max_payload` bytes.
fn entry_limit(max_payload: usize) -> usize {
    ENTRY_BYTES.min(max_payload.saturating_sub(HEADROOM))
}

/// Ops gathered into one log entry: their numbers here, and the entry.
struct Gathered {
    tokens: Vec<u64>,
    entry: Vec<u8>,
}

/// Gathers `first` and the ops queued behind it into one entry of at most
/// `max` bytes (`first` goes whatever its size). Returns the entry, and the
/// op that did not fit in it, if one was taken.
fn gather(
    first: Queued,
    queue: &mut mpsc::UnboundedReceiver<Queued>,
    max: usize,
) -> (Gathered, Option<Queued>) {
    let mut tokens = vec![first.token];
    let mut entry = Vec::with_capacity(first.json.len() + 2);
    entry.push(b'[');
    entry.extend_from_slice(&first.json);
    let mut rest = None;
    while let Ok(op) = queue.try_recv() {
        if entry.len() + op.json.len() + 2 > max {
            rest = Some(op);
            break;
        }
        entry.push(b',');
        entry.extend_from_slice(&op.json);
        tokens.push(op.token);
    }
    entry.push(b']');
    (Gathered { tokens, entry }, rest)
}

/// `wait`'s output, or `None` once the client has connected again since
/// `connections` was last marked seen.
async fn unless_reconnected<F: std::future::Future>(
    wait: F,
    connections: &mut watch::Receiver<u64>,
) -> Option<F::Output> {
    tokio::select! {
        out = wait => Some(out),
        Ok(()) = connections.changed() => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_ack_is_given_up_on_when_the_client_reconnects() {
        let (reconnected, mut connections) = watch::channel(0);
        connections.borrow_and_update();
        // The reconnection comes while the publish is on its way, before the
        // ack is awaited: it still counts.
        reconnected.send_modify(|n| *n += 1);
        let never = std::future::pending::<()>();
        let waited = tokio::time::timeout(
            Duration::from_secs(60),
            unless_reconnected(never, &mut connections),
        );
        assert_eq!(waited.await, Ok(None), "given up on, not timed out");

        // With no reconnection, the ack is what is answered.
        connections.borrow_and_update();
        let ack = unless_reconnected(async { 7 }, &mut connections).await;
        assert_eq!(ack, Some(7));
    }

    #[test]
    fn an_op_waits_for_others_only_while_ops_keep_coming() {
        let ms = Duration::from_millis;
        let t0 = tokio::time::Instant::now();
        let mut pace = Pace {
            wait: ms(2),
            last: None,
        };
        assert_eq!(pace.due(t0), None, "the first goes at once");
        pace.sent(t0);
        // One was sent 1 ms ago: this one waits 2 ms for others.
        assert_eq!(pace.due(t0 + ms(1)), Some(t0 + ms(3)));
        assert_eq!(pace.due(t0 + ms(2)), None, "2 ms after: a quiet spell");
        pace.sent(t0 + ms(2));
        assert_eq!(pace.due(t0 + ms(50)), None, "after a quiet spell, at once");
        let mut unpaced = Pace {
            wait: Duration::ZERO,
            last: None,
        };
        unpaced.sent(t0);
        assert_eq!(unpaced.due(t0), None, "zero: whenever an op comes");
    }

    fn op(token: u64, len: usize) -> Queued {
        // A JSON string of `len` bytes, quotes included.
        let json = format!("\"{}\"", "x".repeat(len - 2)).into_bytes();
        Queued { token, json }
    }

    #[test]
    fn an_entry_carries_every_op_queued_in_order_up_to_its_size() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        for token in 1..=4 {
            tx.send(op(token, 100)).expect("queued");
        }
        // Room for four ops of 100 bytes (brackets and commas count), not five.
        let (entry, rest) = gather(op(0, 100), &mut rx, 405);
        assert_eq!(entry.tokens, [0, 1, 2, 3]);
        assert_eq!(entry.entry.len(), 405);
        let ops: Vec<String> = serde_json::from_slice(&entry.entry).expect("a JSON array");
        assert_eq!(ops.len(), 4);
        assert_eq!(rest.map(|op| op.token), Some(4));
        assert!(
            rx.try_recv().is_err(),
            "what did not fit is handed back, not lost"
        );
    }

    #[test]
    fn an_entry_fits_in_one_message_of_the_servers() {
        assert_eq!(entry_limit(1024 * 1024), ENTRY_BYTES, "the default 1 MiB");
        assert_eq!(entry_limit(64 * 1024), 64 * 1024 - HEADROOM);
        assert_eq!(entry_limit(100), 0, "nothing fits");
    }

    #[test]
    fn an_op_larger_than_an_entry_goes_alone() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        tx.send(op(1, 10)).expect("queued");
        let (entry, rest) = gather(op(0, 1000), &mut rx, 100);
        assert_eq!(entry.tokens, [0]);
        assert_eq!(entry.entry.len(), 1002);
        assert_eq!(rest.map(|op| op.token), Some(1));
    }

    #[test]
    fn an_idle_node_appends_an_op_at_once() {
        let (_tx, mut rx) = mpsc::unbounded_channel();
        let (entry, rest) = gather(op(7, 10), &mut rx, ENTRY_BYTES);
        assert_eq!(entry.tokens, [7]);
        assert_eq!(entry.entry, format!("[\"{}\"]", "x".repeat(8)).into_bytes());
        assert!(rest.is_none());
    }
}
