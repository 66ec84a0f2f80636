//! The participants of one conversation, in joining order.
//!
//! Pure data: no actor, no runtime. Each chat member carries its user's hub, the
//! way its sessions are reached. Every place changed is noted for the journal
//! ([`Members::take_touched`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::effects::Recipients;
use crate::delivery::UserHub;
use crate::model::{Identity, Participant, ParticipantId};

/// A participant and, for a chat participant, its user's hub.
#[derive(Debug)]
pub(crate) struct Member {
    pub p: Participant,
    pub hub: Option<Arc<UserHub>>,
}

/// Participants keyed by their place in joining order.
#[derive(Debug, Default)]
pub(crate) struct Members {
    by_seq: BTreeMap<u64, Member>,
    by_id: HashMap<ParticipantId, u64>,
    by_identity: HashMap<Identity, u64>,
    bindings: HashSet<(String, String)>,
    next_seq: u64,
    /// The chat members' hubs, rebuilt after a membership change.
    recipients: Option<Recipients>,
    /// Places inserted, changed or removed since the journal last looked.
    touched: Vec<u64>,
}

impl Members {
    pub fn len(&self) -> usize {
        self.by_seq.len()
    }

    /// Adds a participant at the end of the joining order; returns its place.
    pub fn insert(&mut self, p: Participant, hub: Option<Arc<UserHub>>) -> u64 {
        let seq = self.next_seq;
        self.restore(seq, p, hub);
        seq
    }

    /// Puts a participant back at its place (reading a store back).
    pub fn restore(&mut self, seq: u64, p: Participant, hub: Option<Arc<UserHub>>) {
        self.next_seq = self.next_seq.max(seq + 1);
        self.touched.push(seq);
        self.recipients = None;
        self.by_id.insert(p.id, seq);
        if let Some(i) = &p.identity {
            self.by_identity.insert(i.clone(), seq);
        }
        if let Some(b) = &p.messaging_binding {
            self.bindings
                .insert((b.proxy_address.clone(), b.address.clone()));
        }
        self.by_seq.insert(seq, Member { p, hub });
    }

    /// The place the next participant gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Keeps places unused even if the participants there were removed.
    pub fn set_next_seq(&mut self, next: u64) {
        self.next_seq = self.next_seq.max(next);
    }

    /// The places changed since the last call.
    pub fn take_touched(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.touched)
    }

    /// The places changed since the journal last looked.
    pub fn touched(&self) -> &[u64] {
        &self.touched
    }

    /// Forgets the changed places, keeping the buffer.
    pub fn clear_touched(&mut self) {
        self.touched.clear();
    }

    pub fn remove(&mut self, seq: u64) -> Option<Member> {
        let m = self.by_seq.remove(&seq)?;
        self.touched.push(seq);
        self.recipients = None;
        self.by_id.remove(&m.p.id);
        if let Some(i) = &m.p.identity {
            self.by_identity.remove(i);
        }
        if let Some(b) = &m.p.messaging_binding {
            self.bindings
                .remove(&(b.proxy_address.clone(), b.address.clone()));
        }
        Some(m)
    }

    pub fn seq_of(&self, identity: &Identity) -> Option<u64> {
        self.by_identity.get(identity).copied()
    }

    /// Finds a participant by id, else by identity.
    pub fn resolve(&self, r: &str) -> Option<u64> {
        ParticipantId::parse(r)
            .and_then(|id| self.by_id.get(&id).copied())
            .or_else(|| self.by_identity.get(r).copied())
    }

    pub fn get(&self, seq: u64) -> Option<&Member> {
        self.by_seq.get(&seq)
    }

    /// A participant to change: noted for the journal.
    pub fn get_mut(&mut self, seq: u64) -> Option<&mut Member> {
        let m = self.by_seq.get_mut(&seq)?;
        self.touched.push(seq);
        Some(m)
    }

    pub fn by_identity(&self, identity: &Identity) -> Option<&Member> {
        self.seq_of(identity).and_then(|s| self.by_seq.get(&s))
    }

    pub fn has_binding(&self, proxy: &str, address: &str) -> bool {
        self.bindings
            .contains(&(proxy.to_string(), address.to_string()))
    }

    pub fn seqs(&self) -> Vec<u64> {
        self.by_seq.keys().copied().collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Member> {
        self.by_seq.values()
    }

    /// The hubs of chat participants, for fanout: shared until membership changes.
    pub fn recipients(&mut self) -> Recipients {
        if let Some(r) = &self.recipients {
            return r.clone();
        }
        let r: Recipients = self.by_seq.values().filter_map(|m| m.hub.clone()).collect();
        self.recipients = Some(r.clone());
        r
    }
}
