//! A conversation's records in the store: what an op changed, as a [`Batch`],
//! and a conversation rebuilt from what was stored.
//!
//! The description, each participant and each message is one JSON record;
//! kept events are the frames first delivered (or, for `conversationUpdated`,
//! what renders them per user). Counters are stored apart, with every change,
//! so that indexes, places and seqs continue after a restart and are never
//! reused.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::event_records::{self, AddedRefs, Decoded};
use super::events::{EventLog, Stored};
use super::log::{Announced, MessageLog};
use super::members::Members;
use super::state::{ConversationState, Meta};
use super::typing::Typing;
use super::{ConvInfo, Shared};
use crate::delivery::Profile;
use crate::model::{
    ConversationId, Identity, Message, Millis, NotificationLevel, Participant, State, StateInfo,
};
use crate::protocol::event_data;
use crate::store::{Batch, RecoveredConversation, Write};

/// The description of a conversation as stored.
#[derive(Serialize, Deserialize)]
struct Record {
    unique_name: Option<String>,
    friendly_name: Option<String>,
    avatar_url: Option<String>,
    attributes: Value,
    metadata: Map<String, Value>,
    created_by: Option<Identity>,
    direct: bool,
    direct_pair: Option<(Identity, Identity)>,
    created_at: Millis,
    updated_at: Millis,
    state: StateInfo,
}

/// A participant as stored: with its notification level, which the wire
/// shows on the conversation rather than on the participant.
#[derive(Serialize, Deserialize)]
struct StoredParticipant {
    participant: Participant,
    notification_level: NotificationLevel,
}

/// Our own model types always serialize; an empty record would be caught on reading.
fn json<T: Serialize>(v: &T) -> Vec<u8> {
    crate::protocol::json_exact(v)
}

/// The record of kept event `seq`: given `added` (a message's index and
/// record, which the event's frame carries), a reference to that message;
/// otherwise the event whole.
fn event_row(
    id: [u8; 16],
    seq: u64,
    e: &Stored,
    added: Option<(u64, &[u8])>,
    window: u64,
) -> Write {
    let record = match added {
        Some((index, json)) => event_records::encode_added(index, json),
        None => event_records::encode(e),
    };
    Write::Event {
        key: (id, seq),
        record,
        drop_below: (seq + 1).saturating_sub(window),
    }
}

/// A user's first record, first known at `at`: kept by the store only while
/// it holds none for the user, so that the user stays known across restarts.
pub(crate) fn first_record(identity: &Identity, at: Millis) -> Write {
    Write::NewUser {
        identity: identity.to_string(),
        record: json(&Profile {
            created_at: Some(at),
            ..Profile::default()
        }),
    }
}

impl ConversationState {
    /// The changes of the ops since the last call, or None when nothing changed.
    pub fn take_changes(&mut self) -> Option<Batch> {
        let id = *self.id.0.as_bytes();
        let participants = self.members.take_touched();
        let messages = self.log.take_touched();
        let events = self.events.take_touched();
        let announced = self.log.take_announced();
        let users = self.joined_users.drain(..);
        let users: Vec<Write> = users.map(|(i, at)| first_record(&i, at)).collect();
        if self.erased {
            self.meta_changed = false;
            let mut b = users;
            b.push(Write::DeleteConversation { id });
            return Some(Batch(b));
        }
        if participants.is_empty() && messages.is_empty() && events.is_empty() && !self.meta_changed
        {
            return None;
        }
        let meta = std::mem::take(&mut self.meta_changed);
        let mut refs = std::mem::take(&mut self.added_refs);
        let mut batch = self.writes(
            meta,
            dedup(participants),
            dedup(messages),
            events,
            Some((&announced, &mut refs)),
        );
        self.added_refs = refs;
        batch.0.extend(users);
        Some(batch)
    }

    /// The records changed after log `position` (its description and
    /// counters always), for a delta snapshot; None if what changed then is
    /// no longer known (then [`records`](Self::records) holds it whole).
    pub fn records_since(&self, position: u64) -> Option<Batch> {
        if self.deleted || self.erased {
            return None;
        }
        let (participants, messages, events) = self.recent.since(position)?;
        Some(self.writes(true, participants, messages, events, None))
    }

    /// Every record of the conversation, as a store that holds it has them
    /// (a cluster's snapshot); None once it is deleted.
    pub fn records(&self) -> Option<Batch> {
        if self.deleted || self.erased {
            return None;
        }
        let indexes = self.log.indexes().collect();
        let events = self.events.seqs().collect();
        Some(self.writes(true, self.members.seqs(), indexes, events, None))
    }

    /// The records of the description (with `meta`), the counters, and the
    /// participants, messages and events given (each once, in order); a
    /// participant or message that is gone is written as removed. For the
    /// journal, with what it announced and holds as references; for a
    /// snapshot, without.
    fn writes(
        &self,
        meta: bool,
        participants: Vec<u64>,
        messages: Vec<u64>,
        events: Vec<u64>,
        journal: Option<(&Announced, &mut AddedRefs)>,
    ) -> Batch {
        let id = *self.id.0.as_bytes();
        let mut b = Vec::with_capacity(participants.len() + messages.len() + events.len() + 2);
        if meta {
            b.push(Write::Conversation {
                id,
                record: json(&self.record()),
            });
        }
        let (next_index, last_at) = self.log.counters();
        b.push(Write::Counters {
            id,
            counters: (
                self.events.last_seq(),
                next_index,
                self.members.next_seq(),
                last_at,
            ),
        });
        for seq in participants {
            let record = self.members.get(seq).map(|m| {
                json(&StoredParticipant {
                    participant: m.p.clone(),
                    notification_level: m.p.notification_level,
                })
            });
            b.push(Write::Participant {
                key: (id, seq),
                record,
            });
        }
        match journal {
            Some((announced, refs)) => self.journal_rows(&mut b, messages, events, announced, refs),
            None => self.snapshot_rows(&mut b, messages, events),
        }
        Batch(b)
    }

    /// An op's messages and events, for the journal. A message among
    /// `announced` is written as its frame carried it, and its
    /// `messageAdded` as a reference to that record; an event `refs` says
    /// was written so is written out whole once its message changes
    /// (`event_records.rs`).
    fn journal_rows(
        &self,
        b: &mut Vec<Write>,
        messages: Vec<u64>,
        events: Vec<u64>,
        announced: &Announced,
        refs: &mut AddedRefs,
    ) {
        let id = *self.id.0.as_bytes();
        let window = self.events.window() as u64;
        let below = (self.events.last_seq() + 1).saturating_sub(window);
        refs.forget_below(below);
        for index in messages {
            let m = self.log.get(index);
            let as_announced = m.and(announced.json(index));
            let record = m.map(|m| as_announced.map_or_else(|| json(m), <[u8]>::to_vec));
            b.push(Write::Message {
                key: (id, index),
                record,
            });
            if as_announced.is_none() {
                let event = refs
                    .take(index)
                    .and_then(|seq| Some((seq, self.events.get(seq)?)));
                if let Some((seq, e)) = event {
                    b.push(Write::Event {
                        key: (id, seq),
                        record: event_records::encode(e),
                        drop_below: below,
                    });
                }
            }
        }
        for seq in events {
            let Some(e) = self.events.get(seq) else {
                continue;
            };
            let message = announced
                .index_of(seq)
                .filter(|i| self.log.get(*i).is_some())
                .and_then(|i| Some((i, announced.json(i)?)));
            if let Some((index, _)) = message {
                refs.push(seq, index);
            }
            b.push(event_row(id, seq, e, message, window));
        }
    }

    /// A snapshot's messages and events, whole or changed since a delta's
    /// base. As in the journal, a message still as its kept `messageAdded`
    /// announced it is written as that frame's data (not serialized again)
    /// and the event as a reference to it, so each message is held once. A
    /// message changed or gone since has its kept `messageAdded` written
    /// whole: an earlier snapshot of the chain may hold it as a reference.
    /// (The journal knows which events it wrote as references, op by op; a
    /// snapshot finds them from the kept events, once per conversation.)
    fn snapshot_rows(&self, b: &mut Vec<Write>, messages: Vec<u64>, events: Vec<u64>) {
        let id = *self.id.0.as_bytes();
        let window = self.events.window() as u64;
        let mut sent = HashMap::new();
        let mut rows = Vec::with_capacity(events.len());
        for &seq in &events {
            let Some(e) = self.events.get(seq) else {
                continue;
            };
            let data = match e {
                Stored::Added { frame, index, at } if self.log.as_sent(*index).is_some() => {
                    event_data(frame, *at).map(|data| (*index, data))
                }
                _ => None,
            };
            if let Some((index, data)) = data {
                sent.insert(index, data);
            }
            rows.push(event_row(id, seq, e, data, window));
        }
        let mut changed = HashSet::new();
        for index in messages {
            let record = match (self.log.get(index), sent.get(&index)) {
                (Some(_), Some(data)) => Some(data.to_vec()),
                (m, _) => {
                    if self.log.as_sent(index).is_none() {
                        changed.insert(index);
                    }
                    m.map(json)
                }
            };
            b.push(Write::Message {
                key: (id, index),
                record,
            });
        }
        b.extend(rows);
        if changed.is_empty() {
            return;
        }
        let below = (self.events.last_seq() + 1).saturating_sub(window);
        for (seq, e) in self.events.kept() {
            let Stored::Added { index, .. } = e else {
                continue;
            };
            if changed.contains(index) && events.binary_search(seq).is_err() {
                b.push(Write::Event {
                    key: (id, *seq),
                    record: event_records::encode(e),
                    drop_below: below,
                });
            }
        }
    }

    /// Forgets the changes of the ops since the last call (no journal to
    /// write); on a cluster node taking snapshots, notes them first.
    pub fn discard_changes(&mut self) {
        if self.shared.noting_changes() {
            self.note_changes();
        }
        // Cleared, not taken: no allocation per op in memory.
        self.members.clear_touched();
        self.log.clear_touched();
        self.events.clear_touched();
        self.meta_changed = false;
        self.joined_users.clear();
    }

    /// Notes what the ops since the last call changed, at the cluster's log
    /// position (the entry being applied, or one after it), for the next
    /// delta snapshot: which records, and that the conversation changed.
    fn note_changes(&mut self) {
        let position = self.shared.log_position();
        let (members, log, events) = (&self.members, &self.log, &self.events);
        let touched = [members.touched(), log.touched(), events.touched()];
        // Deleted (erased) too: a delta erases it.
        let changed = touched.iter().any(|t| !t.is_empty())
            || self.meta_changed
            || !self.joined_users.is_empty()
            || self.erased;
        self.recent
            .forget_upto(self.shared.changes_forgotten_upto());
        let [participants, messages, events] = touched;
        self.recent.note(position, participants, messages, events);
        if changed {
            self.changed_at = position;
            self.shared.conversation_changed(self.id, position);
        }
    }

    fn record(&self) -> Record {
        let m = &self.meta;
        Record {
            unique_name: m.unique_name.clone(),
            friendly_name: m.friendly_name.clone(),
            avatar_url: m.avatar_url.clone(),
            attributes: m.attributes.clone(),
            metadata: m.metadata.clone(),
            created_by: m.created_by.clone(),
            direct: m.direct,
            direct_pair: m.direct_pair.clone(),
            created_at: m.created_at,
            updated_at: m.updated_at,
            state: m.state,
        }
    }

    /// Rebuilds a conversation from its records. Its members' hubs learn of it;
    /// the engine's indexes are the caller's to fill.
    pub fn restore(shared: Arc<Shared>, c: RecoveredConversation) -> Result<Self, String> {
        let id = ConversationId(uuid::Uuid::from_bytes(c.id));
        let bad = |what: &str, e: &dyn std::fmt::Display| format!("conversation {id}: {what}: {e}");
        let r: Record = serde_json::from_slice(&c.record).map_err(|e| bad("description", &e))?;
        let limits = &shared.config.limits;
        let (last_seq, next_index, next_place, last_at) = c.counters;
        let mut members = Members::default();
        for (place, bytes) in c.participants {
            let stored: StoredParticipant =
                serde_json::from_slice(&bytes).map_err(|e| bad("participant", &e))?;
            let mut p = stored.participant;
            p.notification_level = stored.notification_level;
            let hub = p.identity.as_ref().map(|i| {
                let hub = shared.hub_at(i, p.joined_at);
                hub.join(id);
                hub
            });
            members.restore(place, p, hub);
        }
        members.set_next_seq(next_place);
        members.take_touched();
        let mut log = MessageLog::new(limits.max_history, limits.max_history_bytes);
        for (_, bytes) in &c.messages {
            let m: Message = serde_json::from_slice(bytes).map_err(|e| bad("message", &e))?;
            log.restore(m);
        }
        log.set_counters(next_index, last_at);
        let mut events = EventLog::new(limits.replay_window);
        let mut kept = Vec::with_capacity(c.events.len());
        let mut added_refs = AddedRefs::default();
        let message = |index| {
            let at = c.messages.binary_search_by_key(&index, |(i, _)| *i).ok()?;
            Some(c.messages[at].1.as_slice())
        };
        for (seq, bytes) in &c.events {
            match event_records::decode(bytes, id, *seq, message).map_err(|e| bad("event", &e))? {
                Decoded::Event(e) => kept.push((*seq, e)),
                Decoded::Added(index, e) => {
                    added_refs.push(*seq, index);
                    kept.push((*seq, e));
                }
                Decoded::Unmatched(index) => {
                    // Never replay bytes that were not delivered: the
                    // window starts after this event.
                    log::warn!(
                        "conversation {id}: event {seq} refers to message {index}, which \
                         is not stored as announced; events.replay starts after it"
                    );
                    kept.clear();
                    added_refs.clear();
                }
            }
        }
        events.restore(last_seq, kept);
        let info = Arc::new(ConvInfo::new(r.created_at));
        for m in members.iter() {
            if let Some(i) = &m.p.identity {
                info.add_member(i);
            }
            if let Some(b) = &m.p.messaging_binding {
                info.bind(&b.address, &b.proxy_address, true);
            }
        }
        info.set_closed(r.state.current == State::Closed);
        info.added(log.counters().1, false);
        if let Some(last) = log.last_chat() {
            info.added(last.created_at, true);
        }
        Ok(ConversationState {
            id,
            meta: Meta {
                unique_name: r.unique_name,
                friendly_name: r.friendly_name,
                avatar_url: r.avatar_url,
                attributes: r.attributes,
                metadata: r.metadata,
                created_by: r.created_by,
                direct: r.direct,
                direct_pair: r.direct_pair,
                created_at: r.created_at,
                updated_at: r.updated_at,
                state: r.state,
            },
            members,
            log,
            events,
            typing: Typing::default(),
            shared,
            info,
            deleted: false,
            erased: false,
            meta_changed: false,
            timers: Vec::new(),
            out: Vec::new(),
            added_refs,
            joined_users: Vec::new(),
            changed_at: 0,
            recent: Default::default(),
        })
    }
}

/// Each seq once, in order.
fn dedup(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v.dedup();
    v
}
