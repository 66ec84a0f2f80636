//! Folding: bringing the keyed tables (`colloquy.redb`) up to date from the
//! journal (`journal.redb`), on a thread of its own.
//!
//! The two live in separate files because redb has one writer per file: a
//! fold dirties pages all over the keyed B-trees (milliseconds of page work),
//! and in one file every commit queued behind it waited, which put the fold
//! on the acknowledgement path. Now the store thread only ever appends to the
//! journal, and this thread folds what it committed, many ops at a time, with
//! an fsync of its own. The tables record the last journal record folded
//! (`meta.folded`); only once that is durable does the store thread delete
//! those records from the journal. A crash anywhere in between leaves
//! records that are in both, which the start skips by that number.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::{
    event_rows, journal, message_rows, Batch, Health, StoreError, Write, CONVERSATIONS, COUNTERS,
    EVENTS, EVENT_ROWS, JOURNAL, MESSAGE_ROWS, META, PARTICIPANTS, USERS,
};

/// Ops folded at once at most: bounds a fold's transaction and memory.
const FOLD_MAX: usize = 4096;

/// How long a fold waits for more commits once it has one: folding many at
/// once is what makes it cheap (one page of a table holds many records).
const FOLD_WAIT: Duration = Duration::from_millis(50);

/// The key in `meta` of the last journal record folded into the tables.
pub(super) const FOLDED: &str = "folded";

/// Journal records the fold thread is handed: the record's number and its
/// batches, in commit order.
pub(super) type Committed = (u64, Vec<Batch>);

/// The fold thread: takes what the store thread committed, folds it in
/// groups, and publishes in `folded` the number below which every record is
/// durably in the tables.
pub(super) fn run(db: Database, rx: Receiver<Committed>, folded: Arc<AtomicU64>, health: Health) {
    // Folding is background work: when the cores are busy, the
    // acknowledgement path (store thread, actors, sockets) goes first. This
    // took p99 acknowledgement latency at 5,000 msg/s from 5.9 to 4.4 ms.
    if let Err(e) =
        thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min)
    {
        log::debug!("the fold thread keeps its priority: {e:?}");
    }
    // Once the store thread is gone, the last group is folded and recv ends.
    while let Ok(first) = rx.recv() {
        let deadline = Instant::now() + FOLD_WAIT;
        let mut ops = first.1.len();
        let mut groups = vec![first];
        while ops < FOLD_MAX {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(g) => {
                    ops += g.1.len();
                    groups.push(g);
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        if health.broken().is_none() {
            let last = groups.last().map_or(0, |g| g.0);
            let writes = groups
                .iter()
                .flat_map(|g| g.1.iter().flat_map(|b| b.0.iter()));
            match fold(&db, writes, last) {
                Ok(()) => folded.store(last + 1, Relaxed),
                Err(e) => health.fail(e),
            }
        }
    }
    log::debug!("fold closed");
}

/// Applies writes to the tables and records `last` as folded, durably.
fn fold<'a>(
    db: &Database,
    writes: impl Iterator<Item = &'a Write>,
    last: u64,
) -> Result<(), StoreError> {
    let fail = |e: &dyn std::fmt::Display| StoreError::Commit(e.to_string());
    let txn = db.begin_write().map_err(|e| fail(&e))?;
    apply(&txn, writes)?;
    txn.open_table(META)
        .and_then(|mut t| t.insert(FOLDED, last).map(drop).map_err(Into::into))
        .map_err(|e| fail(&e))?;
    txn.commit().map_err(|e| fail(&e))
}

/// At start, before the store takes commits: folds into the tables whatever
/// a crash left in a journal (the in-file one of format 1, then the journal
/// file past `meta.folded`), durably, then empties both journals. Returns the
/// number the next journal record gets.
pub(super) fn at_start(tables: &Database, log: &Database, path: &Path) -> Result<u64, StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let txn = tables.begin_write().map_err(|e| corrupt(&e))?;
    let folded = txn
        .open_table(META)
        .and_then(|t| Ok(t.get(FOLDED)?.map(|v| v.value())))
        .map_err(|e| corrupt(&e))?;
    let mut writes = Vec::new();
    {
        let t = txn.open_table(JOURNAL).map_err(|e| corrupt(&e))?;
        journal::read_from(&t, 0, &mut writes).map_err(|e| corrupt(&e))?;
    }
    let mut last = folded;
    let r = log.begin_read().map_err(|e| corrupt(&e))?;
    match r.open_table(JOURNAL) {
        Ok(t) => {
            let from = folded.map_or(0, |f| f + 1);
            let read = journal::read_from(&t, from, &mut writes).map_err(|e| corrupt(&e))?;
            last = read.or(last);
        }
        Err(redb::TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(corrupt(&e)),
    }
    drop(r);
    if !writes.is_empty() || last != folded {
        apply(&txn, writes.iter()).map_err(|e| corrupt(&e))?;
        txn.open_table(JOURNAL)
            .and_then(|mut t| t.retain(|_, _| false).map_err(Into::into))
            .map_err(|e| corrupt(&e))?;
        if let Some(last) = last {
            txn.open_table(META)
                .and_then(|mut t| t.insert(FOLDED, last).map(drop).map_err(Into::into))
                .map_err(|e| corrupt(&e))?;
        }
        txn.commit().map_err(|e| corrupt(&e))?;
    } else {
        txn.abort().map_err(|e| corrupt(&e))?;
    }
    // The tables hold it all now (durably): the journal can go.
    let w = log.begin_write().map_err(|e| corrupt(&e))?;
    w.open_table(JOURNAL)
        .and_then(|mut t| t.retain(|_, _| false).map_err(Into::into))
        .map_err(|e| corrupt(&e))?;
    w.commit().map_err(|e| corrupt(&e))?;
    Ok(last.map_or(0, |l| l + 1))
}

/// Applies writes to the keyed tables.
///
/// A group holds many ops of the same conversations, so most of its writes
/// are replaced by a later one of the group (the counters change with every
/// op): only the last write of each record is applied. Likewise, a
/// conversation's new events go in as one row (`event_rows.rs`), and those that
/// left the replay window are dropped once per conversation, at the end,
/// rather than once per event; its new messages go in rows of many
/// (`message_rows.rs`).
pub(super) fn apply<'a>(
    txn: &redb::WriteTransaction,
    writes: impl Iterator<Item = &'a Write>,
) -> Result<(), StoreError> {
    let writes: Vec<&Write> = writes.collect();
    let last = last_of_each(&writes);
    let mut drop_below: HashMap<[u8; 16], u64> = HashMap::new();
    let mut new_events: HashMap<[u8; 16], BTreeMap<u64, &[u8]>> = HashMap::new();
    let mut messages: HashMap<[u8; 16], BTreeMap<u64, Option<&[u8]>>> = HashMap::new();
    let fail = |e: &dyn std::fmt::Display| StoreError::Commit(e.to_string());
    let mut convs = txn.open_table(CONVERSATIONS).map_err(|e| fail(&e))?;
    let mut counters = txn.open_table(COUNTERS).map_err(|e| fail(&e))?;
    let mut parts = txn.open_table(PARTICIPANTS).map_err(|e| fail(&e))?;
    let mut msgs = txn.open_table(MESSAGE_ROWS).map_err(|e| fail(&e))?;
    // Rows of one event each, as store format 2 wrote them: only ever
    // dropped now, as the window moves past them.
    let mut old_events = txn.open_table(EVENTS).map_err(|e| fail(&e))?;
    // Once they are all gone (or never were), no fold need look there again.
    let old_left = !old_events.is_empty().map_err(|e| fail(&e))?;
    let mut events = txn.open_table(EVENT_ROWS).map_err(|e| fail(&e))?;
    let mut users = txn.open_table(USERS).map_err(|e| fail(&e))?;
    for (w, last) in writes.into_iter().zip(last) {
        if !last {
            continue;
        }
        let r = match w {
            Write::Conversation { id, record } => convs.insert(id, record.as_slice()).map(drop),
            Write::Counters { id, counters: c } => counters.insert(id, c).map(drop),
            Write::DeleteConversation { id } => {
                drop_below.remove(id);
                new_events.remove(id);
                messages.remove(id);
                let all = (*id, 0)..=(*id, u64::MAX);
                convs
                    .remove(id)
                    .and_then(|_| counters.remove(id))
                    .and_then(|_| parts.retain_in(all.clone(), |_, _| false))
                    .and_then(|_| msgs.retain_in(all.clone(), |_, _| false))
                    .and_then(|_| old_events.retain_in(all.clone(), |_, _| false))
                    .and_then(|_| events.retain_in(all, |_, _| false))
            }
            Write::Participant { key, record } => put(&mut parts, key, record),
            Write::Message { key, record } => {
                messages
                    .entry(key.0)
                    .or_default()
                    .insert(key.1, record.as_deref());
                Ok(())
            }
            Write::Event {
                key,
                record,
                drop_below: below,
            } => {
                if *below > 0 {
                    let d = drop_below.entry(key.0).or_default();
                    *d = (*d).max(*below);
                }
                new_events
                    .entry(key.0)
                    .or_default()
                    .insert(key.1, record.as_slice());
                Ok(())
            }
            Write::User { identity, record } => {
                users.insert(identity.as_str(), record.as_slice()).map(drop)
            }
            Write::NewUser { identity, record } => {
                let held = users.get(identity.as_str()).map(|r| r.is_some());
                match held {
                    Ok(true) => Ok(()),
                    Ok(false) => users.insert(identity.as_str(), record.as_slice()).map(drop),
                    Err(e) => Err(e),
                }
            }
        };
        r.map_err(|e| fail(&e))?;
    }
    for (id, writes) in messages {
        message_rows::apply(&mut msgs, id, writes).map_err(|e| fail(&e))?;
    }
    for (id, writes) in new_events {
        let below = drop_below.get(&id).copied().unwrap_or(0);
        event_rows::apply(&mut events, id, writes, below).map_err(|e| fail(&e))?;
    }
    for (id, below) in drop_below {
        // A row goes once its last event has left the window.
        events
            .retain_in((id, 0)..(id, below), |_, _| false)
            .map_err(|e| fail(&e))?;
        if old_left {
            old_events
                .retain_in((id, 0)..(id, below), |_, _| false)
                .map_err(|e| fail(&e))?;
        }
    }
    Ok(())
}

/// The record a write replaces. Writes that add (an event, a user's first
/// record) or delete (a conversation) replace none and always apply.
#[derive(PartialEq, Eq, Hash)]
enum Record<'a> {
    Conversation(&'a [u8; 16]),
    Counters(&'a [u8; 16]),
    Participant(&'a super::Key),
    Message(&'a super::Key),
    User(&'a str),
}

/// For each write, whether no later write of the group replaces its record.
fn last_of_each(writes: &[&Write]) -> Vec<bool> {
    let mut seen = HashSet::new();
    let mut last: Vec<bool> = writes
        .iter()
        .rev()
        .map(|w| {
            let record = match w {
                Write::Conversation { id, .. } => Record::Conversation(id),
                Write::Counters { id, .. } => Record::Counters(id),
                Write::Participant { key, .. } => Record::Participant(key),
                Write::Message { key, .. } => Record::Message(key),
                Write::User { identity, .. } => Record::User(identity),
                Write::DeleteConversation { .. } | Write::Event { .. } | Write::NewUser { .. } => {
                    return true
                }
            };
            seen.insert(record)
        })
        .collect();
    last.reverse();
    last
}

fn put(
    t: &mut redb::Table<super::Key, &[u8]>,
    key: &super::Key,
    record: &Option<Vec<u8>>,
) -> Result<(), redb::StorageError> {
    match record {
        Some(r) => t.insert(key, r.as_slice()).map(drop),
        None => t.remove(key).map(drop),
    }
}
