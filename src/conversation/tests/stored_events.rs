//! The replay window as the journal records it: a `messageAdded` is written
//! as a reference to its message, and written out whole when the message
//! changes, is deleted or is evicted while the event is in the window. Read
//! back, every kept event is the very frame first delivered.

use std::collections::BTreeMap;

use super::*;
use crate::conversation::events::Stored;
use crate::store::Batch;

/// What a store holds of one conversation after the batches so far.
#[derive(Default)]
struct Shelf {
    record: Vec<u8>,
    counters: (u64, u64, u64, u64),
    participants: BTreeMap<u64, Vec<u8>>,
    messages: BTreeMap<u64, Vec<u8>>,
    events: BTreeMap<u64, Vec<u8>>,
}

impl Shelf {
    /// Records an op's changes; answers the seqs of the events it wrote
    /// and their records' lengths.
    fn put(&mut self, batch: Batch) -> Vec<(u64, usize)> {
        let mut events = Vec::new();
        for w in batch.0 {
            match w {
                Write::Conversation { record, .. } => self.record = record,
                Write::Counters { counters, .. } => self.counters = counters,
                Write::Participant { key, record } => put(&mut self.participants, key.1, record),
                Write::Message { key, record } => put(&mut self.messages, key.1, record),
                Write::Event { key, record, .. } => {
                    events.push((key.1, record.len()));
                    self.events.insert(key.1, record);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        events
    }

    fn take(&mut self, st: &mut ConversationState) -> Vec<(u64, usize)> {
        self.put(st.take_changes().expect("changes"))
    }

    fn restore(&self, id: ConversationId, window: usize) -> ConversationState {
        let skip = self.events.len().saturating_sub(window);
        let rec = RecoveredConversation {
            id: *id.0.as_bytes(),
            record: self.record.clone(),
            counters: self.counters,
            participants: self.participants.clone().into_iter().collect(),
            messages: self.messages.clone().into_iter().collect(),
            events: self.events.clone().into_iter().skip(skip).collect(),
        };
        ConversationState::restore(shared(limits), rec).expect("restores")
    }
}

fn put(t: &mut BTreeMap<u64, Vec<u8>>, k: u64, record: Option<Vec<u8>>) {
    match record {
        Some(r) => t.insert(k, r),
        None => t.remove(&k),
    };
}

const WINDOW: usize = 50;

fn limits(c: &mut Config) {
    c.limits.replay_window = WINDOW;
    c.limits.max_history = 4;
}

/// A group, and a store holding it.
fn shelved() -> (ConversationState, Shelf) {
    let mut st = group_in(shared(limits));
    let mut shelf = Shelf::default();
    touch_all(&mut st);
    shelf.take(&mut st);
    (st, shelf)
}

/// Every kept event's seq and frame.
fn kept(st: &ConversationState) -> Vec<(u64, String)> {
    kept_after(st, 0)
}

#[test]
fn every_kept_event_reads_back_as_first_delivered_though_its_message_changed() {
    let (mut st, mut shelf) = shelved();
    // A new message's event is a reference: 13 bytes, not its frame.
    let mut added = BTreeMap::new();
    for i in 0..6 {
        send(&mut st, "alice", &format!("m{i}"));
        let written = shelf.take(&mut st);
        let (seq, len) = written.iter().max().copied().expect("an event");
        assert_eq!(len, 13, "message {i}: {written:?}");
        added.insert(i, seq);
    }
    let added = |index: u64| added[&index];
    // Messages 0 and 1 were evicted (a history of 4) as 4 and 5 came: their
    // events were written out whole then; the others' are references.
    for i in 0..6 {
        let len = shelf.events[&added(i)].len();
        assert_eq!(len > 100, i < 2, "message {i}: {len} bytes");
    }
    // An edit writes the event of the message out whole, once.
    ok(
        &mut st,
        &user("alice"),
        json!({"op": "message.edit", "message": 3, "body": "m3, edited"}),
    );
    let written = shelf.take(&mut st);
    assert!(written.iter().any(|(s, len)| *s == added(3) && *len > 100));
    ok(
        &mut st,
        &user("alice"),
        json!({"op": "message.edit", "message": 3, "body": "m3, again"}),
    );
    let written = shelf.take(&mut st);
    assert!(!written.iter().any(|(s, _)| *s == added(3)), "{written:?}");
    // Several ops in one batch: a reaction, a delete, a send then its edit.
    ok(
        &mut st,
        &user("bob"),
        json!({"op": "reaction.add", "message": 4, "reaction": "👍"}),
    );
    ok(
        &mut st,
        &user("alice"),
        json!({"op": "message.delete", "message": 5}),
    );
    send(&mut st, "bob", "m6");
    ok(
        &mut st,
        &user("bob"),
        json!({"op": "message.edit", "message": 6, "body": "m6, edited"}),
    );
    shelf.take(&mut st);
    let before = kept(&st);

    let mut back = shelf.restore(st.id, WINDOW);
    assert_eq!(kept(&back), before);
    // After the restart, the references read back are still followed: an
    // edit of message 2 writes its event out whole.
    back.discard_changes();
    ok(
        &mut back,
        &user("alice"),
        json!({"op": "message.edit", "message": 2, "body": "m2, edited"}),
    );
    let written = shelf.take(&mut back);
    assert!(written.iter().any(|(s, len)| *s == added(2) && *len > 100));
    let before = kept(&back);
    assert_eq!(kept(&shelf.restore(st.id, WINDOW)), before);
}

#[test]
fn a_reference_whose_message_is_not_as_announced_ends_the_window_after_it() {
    let (mut st, mut shelf) = shelved();
    for i in 0..3 {
        send(&mut st, "alice", &format!("m{i}"));
    }
    shelf.take(&mut st);
    let all = kept(&st);
    // As if the files had been altered: message 1's record is not what its
    // event announced.
    let mut altered: Value = serde_json::from_slice(&shelf.messages[&1]).expect("json");
    altered["body"] = json!("m1, altered");
    shelf
        .messages
        .insert(1, serde_json::to_vec(&altered).expect("json"));
    let back = shelf.restore(st.id, WINDOW);
    let added: Vec<u64> = all
        .iter()
        .filter(|(_, f)| f.starts_with(r#"{"event":"messageAdded""#))
        .map(|(s, _)| *s)
        .collect();
    let seq_of_1 = added[1];
    let after: Vec<_> = all.iter().filter(|(s, _)| *s > seq_of_1).cloned().collect();
    assert_eq!(after.len(), 1);
    assert_eq!(kept_after(&back, seq_of_1), after);
    assert!(
        back.events.since(seq_of_1 - 1).is_none(),
        "replay from before it is refused"
    );
}

/// The kept events after `seq`.
fn kept_after(st: &ConversationState, seq: u64) -> Vec<(u64, String)> {
    let after = st.events.since(seq).expect("kept");
    after
        .filter_map(|(s, e)| match e {
            Stored::Shared(f) | Stored::Added { frame: f, .. } => {
                Some((*s, f.as_str().to_string()))
            }
            Stored::ConversationUpdated { .. } => None,
        })
        .collect()
}
