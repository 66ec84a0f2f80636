//! What every conversation actor shares with the rest of its engine: the
//! indexes it keeps in step (id and unique name to actor, identity to hub,
//! reaction to conversation), the metrics, and the inspector's recent events.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use serde_json::{json, Value};

use super::ConversationHandle;
use crate::config::Config;
use crate::delivery::UserHub;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::model::{ConversationId, Identity, Millis, ReactionId};
use crate::store::Store;

/// What every actor and transport of one engine shares.
pub(crate) struct Shared {
    pub config: Config,
    pub conversations: DashMap<ConversationId, ConversationHandle>,
    pub unique_names: DashMap<String, ConversationId>,
    pub users: DashMap<Identity, Arc<UserHub>>,
    pub reactions: DashMap<ReactionId, ConversationId>,
    /// Each address a non-chat participant is bound to, with the
    /// conversations where one is (each once): an address's conversations,
    /// and an exclusive binding's holder, are found without reading every
    /// conversation.
    pub addresses: DashMap<String, Vec<ConversationId>>,
    pub metrics: Metrics,
    /// The last conversation events of every conversation, for the inspector.
    pub recent: RecentEvents,
    /// The durable journal (`--data-dir`), set once it is read back; unset
    /// keeps everything in memory.
    pub store: std::sync::OnceLock<Arc<Store>>,
    /// Session changes in any hub, counted (what tells a conversation's
    /// fanout list to be built again).
    sessions_epoch: Arc<std::sync::atomic::AtomicU64>,
    /// In a cluster, the log entry being applied (or one after it, while
    /// entries run ahead); 0 off a cluster.
    log_position: Arc<std::sync::atomic::AtomicU64>,
    /// In a cluster taking snapshots: conversations note which records each
    /// op changed (`recent.rs`), and forget those at or before this entry.
    noting_changes: std::sync::atomic::AtomicBool,
    changes_forgotten_upto: std::sync::atomic::AtomicU64,
    /// Then, too, the log position of each conversation's last change, so
    /// that a delta asks only those changed since its base.
    changed_conversations: DashMap<ConversationId, u64>,
}

/// How many recent events the inspector sees.
const RECENT_EVENTS: usize = 100;

/// A small ring of the last conversation events (name, conversation, seq, time).
/// One short lock per event (not per delivery).
#[derive(Default)]
pub(crate) struct RecentEvents(
    Mutex<std::collections::VecDeque<(&'static str, ConversationId, u64, Millis)>>,
);

impl RecentEvents {
    pub fn note(&self, event: &'static str, conversation: ConversationId, seq: u64, at: Millis) {
        let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() == RECENT_EVENTS {
            q.pop_front();
        }
        q.push_back((event, conversation, seq, at));
    }

    pub fn list(&self) -> Vec<Value> {
        let q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        q.iter()
            .rev()
            .map(|(e, c, s, at)| json!({"event": e, "conversation": c, "seq": s, "at": at}))
            .collect()
    }
}

impl Shared {
    /// Conversation `c` has (true) or no longer has a participant bound to
    /// `address`.
    pub fn address_in(&self, address: &str, c: ConversationId, came: bool) {
        if came {
            let mut held = self.addresses.entry(address.to_string()).or_default();
            if !held.contains(&c) {
                held.push(c);
            }
        } else {
            self.addresses.remove_if_mut(address, |_, held| {
                held.retain(|x| *x != c);
                held.is_empty()
            });
        }
    }

    /// The conversations where a participant is bound to `address`.
    pub fn bound_to(&self, address: &str) -> Vec<ConversationId> {
        (self.addresses.get(address)).map_or_else(Vec::new, |held| held.clone())
    }

    /// Empty indexes for an engine with this configuration (no store yet).
    pub fn new(config: Config) -> Self {
        Shared {
            config,
            conversations: DashMap::new(),
            unique_names: DashMap::new(),
            users: DashMap::new(),
            reactions: DashMap::new(),
            addresses: DashMap::new(),
            metrics: Metrics::default(),
            recent: RecentEvents::default(),
            store: std::sync::OnceLock::new(),
            sessions_epoch: Arc::default(),
            log_position: Default::default(),
            noting_changes: Default::default(),
            changes_forgotten_upto: Default::default(),
            changed_conversations: DashMap::new(),
        }
    }

    /// Whether conversations note which records each op changed.
    pub fn noting_changes(&self) -> bool {
        self.noting_changes
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// From now on, conversations note which records each op changed (a
    /// cluster node that takes snapshots).
    pub fn note_changes(&self) {
        self.noting_changes
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Entries whose changes conversations may forget: no delta snapshot
    /// will be on one of them or an earlier one.
    pub fn changes_forgotten_upto(&self) -> u64 {
        self.changes_forgotten_upto
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Notes that conversation `id` changed at log `position`.
    pub fn conversation_changed(&self, id: ConversationId, position: u64) {
        self.changed_conversations.insert(id, position);
    }

    /// The conversations changed after log `position`; None if some may be
    /// forgotten (then every conversation knows whether it changed).
    pub fn changed_after(&self, position: u64) -> Option<HashSet<ConversationId>> {
        let forgotten = self.changes_forgotten_upto();
        self.changed_conversations.retain(|_, at| *at > forgotten);
        (position >= forgotten).then(|| {
            let changed = self.changed_conversations.iter();
            changed
                .filter(|e| *e.value() > position)
                .map(|e| *e.key())
                .collect()
        })
    }

    /// Lets conversations forget the changes at or before `position`.
    pub fn forget_changes_upto(&self, position: u64) {
        self.changes_forgotten_upto
            .fetch_max(position, std::sync::atomic::Ordering::Relaxed);
    }

    /// In a cluster, the log entry being applied; 0 off a cluster.
    pub fn log_position(&self) -> u64 {
        self.log_position.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A cluster node is about to apply log entry `position` (entries come
    /// in order, so it only grows).
    pub fn enter_log_position(&self, position: u64) {
        self.log_position
            .fetch_max(position, std::sync::atomic::Ordering::Relaxed);
    }

    /// The user's hub, made on first mention.
    pub fn hub(&self, i: &Identity) -> Arc<UserHub> {
        if let Some(h) = self.users.get(i) {
            return h.clone();
        }
        self.hub_at(i, self.config.clock.now_ms())
    }

    /// The user's hub, known since `at` at the latest: made then, or moved
    /// back to then. An op names its own time (the same on every cluster
    /// node), and a store read back names when each participant joined, so a
    /// user's first-seen time (the Twilio face's `date_created`) does not
    /// follow a node's clock or a restart.
    pub fn hub_at(&self, i: &Identity, at: Millis) -> Arc<UserHub> {
        let hub = self
            .users
            .entry(i.clone())
            .or_insert_with(|| {
                let (epoch, position) = (self.sessions_epoch.clone(), self.log_position.clone());
                Arc::new(UserHub::new(i.clone(), at, epoch, position))
            })
            .clone();
        hub.known_since(at);
        hub
    }

    /// Claims a unique name for a conversation, atomically.
    pub fn reserve_unique_name(&self, name: &str, id: ConversationId) -> Result<()> {
        match self.unique_names.entry(name.to_string()) {
            Entry::Occupied(e) if *e.get() != id => {
                Err(Error::conflict(format!("unique_name {name:?} is taken")))
            }
            Entry::Occupied(_) => Ok(()),
            Entry::Vacant(v) => {
                v.insert(id);
                Ok(())
            }
        }
    }

    /// Finds a conversation by id, else by unique name.
    pub fn resolve(&self, r: &str) -> Result<ConversationHandle> {
        let by_id =
            ConversationId::parse(r).and_then(|id| self.conversations.get(&id).map(|h| h.clone()));
        by_id
            .or_else(|| {
                let id = *self.unique_names.get(r)?;
                self.conversations.get(&id).map(|h| h.clone())
            })
            .ok_or_else(|| Error::not_found("conversation not found"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delta_asks_only_the_conversations_changed_since_its_base() {
        let shared = Shared::new(Config::default());
        let (a, b, c) = (
            ConversationId::new(),
            ConversationId::new(),
            ConversationId::new(),
        );
        shared.conversation_changed(a, 10);
        shared.conversation_changed(b, 20);
        shared.conversation_changed(a, 30);
        shared.conversation_changed(c, 5);
        assert_eq!(shared.changed_after(10), Some(HashSet::from([a, b])));
        assert_eq!(shared.changed_after(30), Some(HashSet::new()));
        // What is forgotten goes; a base before it gets no answer.
        shared.forget_changes_upto(20);
        assert_eq!(shared.changed_after(25), Some(HashSet::from([a])));
        assert_eq!(shared.changed_after(15), None);
        assert_eq!(shared.changed_conversations.len(), 1, "c and b are gone");
    }
}
