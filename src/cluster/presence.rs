//! Presence across nodes, on the plain NATS subject `colloquy.presence`.
//!
//! A node says when its first session of a user opens or its last one
//! closes, repeats the whole list of its users every [`BEAT`] (which repairs a
//! lost message; in parts when it is more than a NATS message takes,
//! `beats.rs`), and says goodbye when it stops. A node not heard from for
//! [`SILENT`] is taken for dead: its users are offline unless another node
//! holds them. Each node feeds what it hears to its registry, which tells its
//! own sessions (`registry/presence.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::beats;
use crate::engine::Engine;
use crate::registry::{Heartbeat, JoinCluster, LocalPresence, NodePresence, Remote};

const SUBJECT: &str = "colloquy.presence";
/// How often a node repeats the list of its users.
const BEAT: Duration = Duration::from_secs(2);
/// How long a node may stay silent before the others take it for dead.
const SILENT: Duration = Duration::from_secs(10);
/// Changes waiting to be published; past this they are dropped, and the next
/// beat repairs them.
const QUEUE: usize = 4096;

/// Says goodbye for the node.
pub(super) struct Handle {
    client: async_nats::Client,
    node: Arc<str>,
    engine: Engine,
}

impl Handle {
    pub async fn leave(&self) {
        let at = self.engine.config().clock.now_ms();
        let bye = NodePresence::Gone {
            node: self.node.clone(),
            at,
        };
        publish(&self.client, &bye).await;
        let _ = self.client.flush().await;
    }
}

async fn publish(client: &async_nats::Client, said: &NodePresence) {
    match serde_json::to_vec(said) {
        Ok(bytes) => {
            if let Err(e) = client.publish(SUBJECT, bytes.into()).await {
                ::log::warn!("publishing presence: {e}");
            }
        }
        Err(e) => ::log::error!("encoding presence: {e}"),
    }
}

/// Starts sharing presence: this node's changes out, the others' in.
pub(super) async fn start(engine: &Engine, client: async_nats::Client, node: Arc<str>) -> Handle {
    let registry = engine.registry().clone();
    let (tx, mut changes) = mpsc::channel::<NodePresence>(QUEUE);
    let me = node.clone();
    let sizes = client.clone();
    let tell = move |local: LocalPresence| {
        let node = me.clone();
        let said = match local {
            LocalPresence::One {
                identity,
                holds,
                at,
            } => vec![NodePresence::One {
                node,
                identity,
                holds,
                at,
            }],
            LocalPresence::All { users, since, at } => {
                let max_payload = sizes.server_info().max_payload;
                beats::split(&node, users, since, at, max_payload)
            }
        };
        for said in said {
            // A beat that does not fit is dropped like a change: the next one repairs both.
            if tx.try_send(said).is_err() {
                ::log::warn!(
                    "presence changes are queued past {QUEUE}; the next beat repairs them"
                );
                break;
            }
        }
    };
    let _ = registry.send(JoinCluster(Box::new(tell))).await;
    let out = client.clone();
    tokio::spawn(async move {
        while let Some(said) = changes.recv().await {
            publish(&out, &said).await;
        }
    });
    match client.subscribe(SUBJECT).await {
        Ok(mut heard) => {
            let (node, engine) = (node.clone(), engine.clone());
            tokio::spawn(async move {
                let mut last_heard: HashMap<Arc<str>, Instant> = HashMap::new();
                let mut parts = beats::Parts::default();
                let mut beat = tokio::time::interval(BEAT);
                loop {
                    tokio::select! {
                        m = heard.next() => {
                            let Some(m) = m else { break };
                            let said: NodePresence = match serde_json::from_slice(&m.payload) {
                                Ok(s) => s,
                                Err(e) => {
                                    ::log::warn!("unreadable presence message: {e}");
                                    continue;
                                }
                            };
                            if said.node() == &*node {
                                continue;
                            }
                            let from: Arc<str> = Arc::from(said.node());
                            if matches!(said, NodePresence::Gone { .. }) {
                                last_heard.remove(&from);
                            } else {
                                last_heard.insert(from, Instant::now());
                            }
                            let Some(said) = parts.hear(said) else { continue };
                            let _ = registry.send(Remote(said)).await;
                        }
                        _ = beat.tick() => {
                            let at = engine.config().clock.now_ms();
                            let _ = registry.send(Heartbeat).await;
                            let silent: Vec<Arc<str>> = last_heard
                                .iter()
                                .filter(|(_, t)| t.elapsed() > SILENT)
                                .map(|(n, _)| n.clone())
                                .collect();
                            for gone in silent {
                                ::log::warn!("node {gone} is silent: its users are offline here");
                                last_heard.remove(&gone);
                                let _ = registry.send(Remote(NodePresence::Gone { node: gone, at })).await;
                            }
                        }
                    }
                }
            });
        }
        Err(e) => ::log::error!("cannot hear other nodes' presence: {e}"),
    }
    Handle {
        client,
        node,
        engine: engine.clone(),
    }
}
