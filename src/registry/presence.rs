//! Presence: a user is online while a session of theirs is open, on this node
//! or (in a cluster) on another; `userStatus` goes out once per change.
//!
//! Other nodes' sessions arrive as [`Remote`] messages from the cluster layer,
//! which also hears of this node's changes through the [`PresenceOut`] it
//! gives with [`JoinCluster`]. Every node sees the same changes, so each one
//! tells its own sessions, once.

use std::collections::HashSet;
use std::sync::Arc;

use actix::prelude::*;

use super::{Registry, UserHub};
use crate::conversation::{ConversationHandle, UserOffline};
use crate::delivery::Outbox;
use crate::model::{Identity, Millis, SessionId};

/// What this node tells the others, in the order its registry saw it.
#[derive(Debug)]
pub(crate) enum LocalPresence {
    /// Its first session of a user opened (true) or its last one closed (false).
    One {
        identity: Identity,
        holds: bool,
        at: Millis,
    },
    /// Its heartbeat: the users it holds sessions of, and since when it knows
    /// each (its first-seen time, for a node that did not hear it then).
    All {
        users: Vec<Identity>,
        since: Vec<Millis>,
        at: Millis,
    },
}

/// Where this node's presence goes (the cluster's queue to NATS). Called from
/// the registry's mailbox, so a heartbeat never overtakes a change before it.
pub(crate) type PresenceOut = Box<dyn Fn(LocalPresence) + Send>;

/// Cluster mode: report this node's presence changes to `0`.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct JoinCluster(pub PresenceOut);

/// What a node says about the users it holds sessions of: the registry's
/// message, and (as JSON) what nodes publish to each other.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum NodePresence {
    /// It holds (or no longer holds) a session of one user.
    One {
        node: Arc<str>,
        identity: Identity,
        holds: bool,
        at: Millis,
    },
    /// Its heartbeat: exactly these users, no others, and each one's
    /// first-seen time there (absent from a node before it said them).
    All {
        node: Arc<str>,
        users: Vec<Identity>,
        #[serde(default)]
        since: Vec<Millis>,
        at: Millis,
        /// A beat too large for one NATS message goes in parts
        /// (`cluster/beats.rs`), this one being number `part` of `parts`;
        /// the registry hears only whole beats (0 parts).
        #[serde(default, skip_serializing_if = "is_zero")]
        part: u32,
        #[serde(default, skip_serializing_if = "is_zero")]
        parts: u32,
    },
    /// It stopped, or went silent: it holds no one.
    Gone { node: Arc<str>, at: Millis },
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Another node's presence, for this node's registry.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Remote(pub NodePresence);

/// Time for this node's heartbeat: tell the cluster every user it holds.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Heartbeat;

/// A session opened.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Connect {
    pub identity: Identity,
    pub session: SessionId,
    pub outbox: Arc<Outbox>,
}

/// A session closed.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Disconnect {
    pub identity: Identity,
    pub session: SessionId,
}

impl Registry {
    /// Whether another node holds a session of `identity`.
    fn held_elsewhere(&self, identity: &Identity) -> bool {
        self.remote.contains_key(identity)
    }

    /// This node's first session of a user opened (`holds`) or its last one
    /// closed: the cluster hears of it, and the user's peers do too unless
    /// another node holds a session of theirs.
    fn local_change(&mut self, hub: &Arc<UserHub>, holds: bool) {
        let now = self.shared.config.clock.now_ms();
        if holds {
            self.here.insert(hub.identity.clone(), hub.clone());
        } else {
            self.here.remove(&hub.identity);
        }
        if let Some(tell) = &self.cluster {
            tell(LocalPresence::One {
                identity: hub.identity.clone(),
                holds,
                at: now,
            });
        }
        if !self.held_elsewhere(&hub.identity) {
            self.changed(hub, holds, now);
        }
    }

    /// Notes that `node` holds (or not) a session of `identity`, and tells
    /// this node's sessions if that changes whether the user is online.
    fn set_remote(&mut self, node: &Arc<str>, identity: &Identity, holds: bool, at: Millis) {
        // Known since that node's first session of the user, as there.
        let hub = if holds {
            self.shared.hub_at(identity, at)
        } else {
            self.shared.hub(identity)
        };
        let was = hub.online();
        let nodes = self.remote.entry(identity.clone()).or_default();
        let by_node = self.by_node.entry(node.clone()).or_default();
        if holds {
            nodes.insert(node.clone());
            by_node.insert(identity.clone());
        } else {
            nodes.remove(node);
            by_node.remove(identity);
        }
        hub.set_remote_nodes(nodes.len());
        if nodes.is_empty() {
            self.remote.remove(identity);
        }
        if hub.online() != was {
            self.changed(&hub, !was, at);
        }
    }

    /// Has a user first known by a connection kept by the store, if there is
    /// one, so that it is still known after a restart. Not waited for: the
    /// record is kept only while the store has none for the user, so it
    /// cannot undo a profile written after it, and nothing is acknowledged.
    fn keep_user(&self, hub: &UserHub) {
        if let Some(store) = self.shared.store.get() {
            let now = self.shared.config.clock.now_ms();
            let at = hub.profile().created_at.unwrap_or(now);
            let record = crate::conversation::first_record(&hub.identity, at);
            drop(store.submit(crate::store::Batch(vec![record])));
        }
    }

    /// The user went online or offline: note when, say it once to everyone who
    /// shares a conversation with them, and end their typing when offline.
    fn changed(&self, hub: &Arc<UserHub>, online: bool, at: Millis) {
        hub.profile_mut().last_seen_at = Some(at);
        self.announce_presence(hub, online, at);
        if online {
            return;
        }
        let handles: Vec<ConversationHandle> = hub
            .conversations()
            .iter()
            .filter_map(|c| self.shared.conversations.get(c).map(|h| h.clone()))
            .collect();
        let who = hub.identity.clone();
        // Awaited sends, off the registry's own mailbox: backpressured, never unbounded.
        actix::spawn(async move {
            for h in handles {
                let _ = h.addr.send(UserOffline(who.clone())).await;
            }
        });
    }
}

impl Handler<Connect> for Registry {
    type Result = ();
    fn handle(&mut self, msg: Connect, _: &mut Context<Self>) {
        let known = self.shared.users.contains_key(&msg.identity);
        let hub = self.shared.hub(&msg.identity);
        if !known {
            self.keep_user(&hub);
        }
        if hub.add_session(msg.session, msg.outbox) != 1 {
            return;
        }
        self.local_change(&hub, true);
    }
}

impl Handler<Disconnect> for Registry {
    type Result = ();
    fn handle(&mut self, msg: Disconnect, _: &mut Context<Self>) {
        let Some(hub) = self.shared.users.get(&msg.identity).map(|h| h.clone()) else {
            return;
        };
        if hub.remove_session(msg.session) != Some(0) {
            return;
        }
        self.local_change(&hub, false);
    }
}

impl Handler<JoinCluster> for Registry {
    type Result = ();
    fn handle(&mut self, msg: JoinCluster, _: &mut Context<Self>) {
        self.cluster = Some(msg.0);
    }
}

impl NodePresence {
    /// The node that says it.
    pub fn node(&self) -> &str {
        match self {
            NodePresence::One { node, .. }
            | NodePresence::All { node, .. }
            | NodePresence::Gone { node, .. } => node,
        }
    }
}

impl Handler<Remote> for Registry {
    type Result = ();
    fn handle(&mut self, msg: Remote, _: &mut Context<Self>) {
        match msg.0 {
            NodePresence::One {
                node,
                identity,
                holds,
                at,
            } => self.set_remote(&node, &identity, holds, at),
            NodePresence::All {
                node,
                users,
                since,
                at,
                ..
            } => {
                let now: HashSet<Identity> = users.iter().cloned().collect();
                let before = self.by_node.get(&node).cloned().unwrap_or_default();
                for gone in before.difference(&now) {
                    self.set_remote(&node, gone, false, at);
                }
                for new in now.difference(&before) {
                    self.set_remote(&node, new, true, at);
                }
                // A node that started later, or missed a change, learns when
                // each user was first seen from the beat.
                for (identity, since) in users.iter().zip(since) {
                    if let Some(hub) = self.shared.users.get(identity) {
                        hub.known_since(since);
                    }
                }
            }
            NodePresence::Gone { node, at } => {
                let before = self.by_node.remove(&node).unwrap_or_default();
                for gone in &before {
                    self.set_remote(&node, gone, false, at);
                }
                self.by_node.remove(&node);
            }
        }
    }
}

impl Handler<Heartbeat> for Registry {
    type Result = ();
    fn handle(&mut self, _: Heartbeat, _: &mut Context<Self>) {
        let Some(tell) = &self.cluster else { return };
        let at = self.shared.config.clock.now_ms();
        let (users, since) = self
            .here
            .values()
            .map(|h| (h.identity.clone(), h.profile().created_at.unwrap_or(at)))
            .unzip();
        tell(LocalPresence::All { users, since, at });
    }
}
