//! Who is typing, across nodes, on the plain NATS subject `colloquy.signals`
//! rather than through the log.
//!
//! Typing is never kept and no other op reads it, and clients repeat
//! `typing.start` every few seconds while their user types: through the log,
//! each would be a JetStream entry, stored on three servers and applied by
//! every node in order. So the node asked applies it at once and publishes it;
//! every other node applies it when it hears it. A signal that is lost (a node
//! reconnecting) costs only an indicator: a start not shown, or a typing that
//! ends at the typing timeout instead of at once.
//!
//! Ordering with the log: a signal names the last log entry its node had
//! started. Another node applies it only once it has applied that entry (so
//! the typist is a member there too), and a start from before the entry of
//! the typist's next message, come late, is not shown (`conversation/typing.rs`).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::engine::Engine;
use crate::model::Caller;
use crate::protocol::Request;

const SUBJECT: &str = "colloquy.signals";
/// Signals waiting to be published; past this they are dropped.
const QUEUE: usize = 4096;
/// How long a signal waits for this node to apply the entry it names.
const WAIT: Duration = Duration::from_secs(2);

#[derive(Serialize, Deserialize)]
struct Signal {
    /// The process that applied it first (as the log's `origin`).
    origin: Arc<str>,
    /// The last log entry that process had started.
    after: u64,
    caller: Caller,
    request: Request,
}

/// This node's way out for its signals.
pub(super) struct Signals {
    origin: Arc<str>,
    engine: Engine,
    out: mpsc::Sender<Signal>,
}

impl Signals {
    /// Publishes a signal this node has just applied.
    pub fn send(&self, caller: Caller, request: Request) {
        let signal = Signal {
            origin: self.origin.clone(),
            after: self.engine.shared().log_position(),
            caller,
            request,
        };
        if self.out.try_send(signal).is_err() {
            ::log::debug!("typing signals are queued past {QUEUE}; this one is dropped");
        }
    }
}

/// Starts publishing this node's signals and applying the other nodes'.
/// `applied`: the last log entry this node has applied.
pub(super) async fn start(
    engine: &Engine,
    client: async_nats::Client,
    origin: &str,
    applied: watch::Receiver<u64>,
) -> Signals {
    let origin: Arc<str> = Arc::from(origin);
    let (out, mut queued) = mpsc::channel::<Signal>(QUEUE);
    let publisher = client.clone();
    tokio::spawn(async move {
        while let Some(signal) = queued.recv().await {
            match serde_json::to_vec(&signal) {
                Ok(bytes) => {
                    if let Err(e) = publisher.publish(SUBJECT, bytes.into()).await {
                        ::log::debug!("publishing a typing signal: {e}");
                    }
                }
                Err(e) => ::log::error!("encoding a typing signal: {e}"),
            }
        }
    });
    match client.subscribe(SUBJECT).await {
        Ok(heard) => {
            tokio::spawn(apply_heard(heard, engine.clone(), origin.clone(), applied));
        }
        Err(e) => ::log::error!("cannot hear other nodes' typing: {e}"),
    }
    Signals {
        origin,
        engine: engine.clone(),
        out,
    }
}

/// Applies the other nodes' signals, one after another: a user's start and
/// stop from one node stay in their order.
async fn apply_heard(
    mut heard: async_nats::Subscriber,
    engine: Engine,
    origin: Arc<str>,
    mut applied: watch::Receiver<u64>,
) {
    while let Some(m) = heard.next().await {
        let signal: Signal = match serde_json::from_slice(&m.payload) {
            Ok(s) => s,
            Err(e) => {
                ::log::warn!("unreadable typing signal: {e}");
                continue;
            }
        };
        if signal.origin == origin {
            continue;
        }
        let after = signal.after;
        let caught_up = applied.wait_for(|&a| a >= after);
        if !matches!(tokio::time::timeout(WAIT, caught_up).await, Ok(Ok(_))) {
            ::log::debug!("a typing signal after entry {after}, not applied here in time: dropped");
            continue;
        }
        // Refused (the conversation deleted, the typist gone since): nothing to show.
        if let Err(e) = engine
            .apply_signal(signal.caller, signal.request, after)
            .await
        {
            ::log::debug!("a typing signal refused here: {e}");
        }
    }
}
