//! Reading a store back at start: its format, then every record, as bytes for
//! the conversation layer to decode.

use std::collections::BTreeMap;
use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableError};

use super::fold::FOLDED;
use super::{
    event_rows, journal, message_rows, StoreError, Write, CONVERSATIONS, COUNTERS, EVENTS,
    EVENT_ROWS, FORMAT, JOURNAL, MESSAGES, MESSAGE_ROWS, META, PARTICIPANTS, USERS,
};

/// One conversation as it was stored.
#[derive(Debug, Default)]
pub(crate) struct RecoveredConversation {
    pub id: [u8; 16],
    pub record: Vec<u8>,
    /// Last seq, next message index, next participant place, last message time.
    pub counters: (u64, u64, u64, u64),
    pub participants: Vec<(u64, Vec<u8>)>,
    pub messages: Vec<(u64, Vec<u8>)>,
    /// The last `replay_window` events, oldest first.
    pub events: Vec<(u64, Vec<u8>)>,
}

/// Everything a store held.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    pub conversations: Vec<RecoveredConversation>,
    pub users: Vec<(String, Vec<u8>)>,
}

/// The store's format; a newer one than ours is refused.
fn format(db: &impl ReadableDatabase, path: &Path) -> Result<Option<u64>, StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let r = db.begin_read().map_err(|e| corrupt(&e))?;
    let found = match r.open_table(META) {
        Ok(t) => t.get("format").map_err(|e| corrupt(&e))?.map(|v| v.value()),
        Err(TableError::TableDoesNotExist(_)) => None,
        Err(e) => return Err(corrupt(&e)),
    };
    match found {
        Some(f) if f > FORMAT => Err(StoreError::NewerFormat {
            path: path.to_path_buf(),
            found: f,
        }),
        f => Ok(f),
    }
}

/// Stamps a fresh store with our format and creates its tables.
pub(super) fn stamp_format(db: &Database, path: &Path) -> Result<(), StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    match format(db, path)? {
        Some(FORMAT) => Ok(()),
        Some(_older) => {
            // Format 1's in-file journal is folded at start like the journal
            // file's, format 2's event rows are read beside the new ones,
            // messages of one a row move into rows of many; from now on an
            // older reader must not open this store.
            let w = db.begin_write().map_err(|e| corrupt(&e))?;
            w.open_table(META)
                .and_then(|mut t| t.insert("format", FORMAT).map(drop).map_err(Into::into))
                .map_err(|e| corrupt(&e))?;
            w.open_table(EVENT_ROWS).map_err(|e| corrupt(&e))?;
            move_messages_into_rows(&w).map_err(|e| corrupt(&e))?;
            w.commit().map_err(|e| corrupt(&e))
        }
        None => {
            let w = db.begin_write().map_err(|e| corrupt(&e))?;
            {
                let mut t = w.open_table(META).map_err(|e| corrupt(&e))?;
                t.insert("format", FORMAT).map_err(|e| corrupt(&e))?;
                // Create every table, so that reading an empty store finds them.
                w.open_table(CONVERSATIONS).map_err(|e| corrupt(&e))?;
                w.open_table(COUNTERS).map_err(|e| corrupt(&e))?;
                w.open_table(PARTICIPANTS).map_err(|e| corrupt(&e))?;
                w.open_table(MESSAGE_ROWS).map_err(|e| corrupt(&e))?;
                w.open_table(EVENTS).map_err(|e| corrupt(&e))?;
                w.open_table(EVENT_ROWS).map_err(|e| corrupt(&e))?;
                w.open_table(USERS).map_err(|e| corrupt(&e))?;
                w.open_table(JOURNAL).map_err(|e| corrupt(&e))?;
            }
            w.commit().map_err(|e| corrupt(&e))
        }
    }
}

/// Moves the messages of store format 3 and before (one a row, in `messages`)
/// into rows of many, as the fold writes new ones: each conversation's in
/// index order, so that each row covers the indexes up to its key.
fn move_messages_into_rows(w: &redb::WriteTransaction) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| e.to_string();
    let mut old = w.open_table(MESSAGES).map_err(|e| fail(&e))?;
    let mut rows = w.open_table(MESSAGE_ROWS).map_err(|e| fail(&e))?;
    let mut by_conversation: BTreeMap<[u8; 16], BTreeMap<u64, Vec<u8>>> = BTreeMap::new();
    for row in old.iter().map_err(|e| fail(&e))? {
        let (k, v) = row.map_err(|e| fail(&e))?;
        let (id, index) = k.value();
        by_conversation
            .entry(id)
            .or_default()
            .insert(index, v.value().to_vec());
    }
    for (id, messages) in &by_conversation {
        let writes = messages
            .iter()
            .map(|(i, r)| (*i, Some(r.as_slice())))
            .collect();
        message_rows::apply(&mut rows, *id, writes).map_err(|e| fail(&e))?;
    }
    old.retain(|_, _| false).map_err(|e| fail(&e))
}

/// Reads every record: the tables, then on top of them the journal records
/// they do not hold yet (the in-file journal of format 1, then those of the
/// journal file `log` past `meta.folded`). Of each conversation's events only
/// the last `window` are returned.
pub(super) fn read_all(
    db: &impl ReadableDatabase,
    log: Option<&impl ReadableDatabase>,
    path: &Path,
    window: usize,
) -> Result<Recovered, StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    if format(db, path)?.is_none() {
        return Ok(Recovered::default());
    }
    let r = db.begin_read().map_err(|e| corrupt(&e))?;
    let mut convs: BTreeMap<[u8; 16], Rows> = BTreeMap::new();
    for row in r
        .open_table(CONVERSATIONS)
        .map_err(|e| corrupt(&e))?
        .iter()
        .map_err(|e| corrupt(&e))?
    {
        let (k, v) = row.map_err(|e| corrupt(&e))?;
        convs.entry(k.value()).or_default().record = Some(v.value().to_vec());
    }
    for row in r
        .open_table(COUNTERS)
        .map_err(|e| corrupt(&e))?
        .iter()
        .map_err(|e| corrupt(&e))?
    {
        let (k, v) = row.map_err(|e| corrupt(&e))?;
        convs.entry(k.value()).or_default().counters = v.value();
    }
    match r.open_table(MESSAGE_ROWS) {
        Ok(t) => {
            for row in t.iter().map_err(|e| corrupt(&e))? {
                let (k, v) = row.map_err(|e| corrupt(&e))?;
                let messages = message_rows::decode(v.value()).map_err(|e| corrupt(&e))?;
                convs
                    .entry(k.value().0)
                    .or_default()
                    .messages
                    .extend(messages);
            }
        }
        // A store of an older format, read before its first start as 4.
        Err(TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(corrupt(&e)),
    }
    // Rows of one message each (format 3 and before), and of one participant
    // or one event each; an older store may lack the table of messages.
    for (def, which) in [(PARTICIPANTS, 0), (MESSAGES, 1), (EVENTS, 2)] {
        let t = match r.open_table(def) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) if which == 1 => continue,
            Err(e) => return Err(corrupt(&e)),
        };
        for row in t.iter().map_err(|e| corrupt(&e))? {
            let (k, v) = row.map_err(|e| corrupt(&e))?;
            let (id, n) = k.value();
            convs
                .entry(id)
                .or_default()
                .table(which)
                .insert(n, v.value().to_vec());
        }
    }
    match r.open_table(EVENT_ROWS) {
        Ok(t) => {
            for row in t.iter().map_err(|e| corrupt(&e))? {
                let (k, v) = row.map_err(|e| corrupt(&e))?;
                let (below, events) = event_rows::decode(v.value()).map_err(|e| corrupt(&e))?;
                let rows = convs.entry(k.value().0).or_default();
                rows.drop_below = rows.drop_below.max(below);
                rows.events.extend(events);
            }
        }
        // A store of an older format, read before its first start as 3.
        Err(TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(corrupt(&e)),
    }
    let mut users = BTreeMap::new();
    for row in r
        .open_table(USERS)
        .map_err(|e| corrupt(&e))?
        .iter()
        .map_err(|e| corrupt(&e))?
    {
        let (k, v) = row.map_err(|e| corrupt(&e))?;
        users.insert(k.value().to_string(), v.value().to_vec());
    }
    // Commits the tables do not hold yet, in order.
    let mut journal = Vec::new();
    let mut records = |t: Result<redb::ReadOnlyTable<u64, &[u8]>, TableError>, from: u64| {
        let t = match t {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(corrupt(&e)),
        };
        journal::read_from(&t, from, &mut journal)
            .map(drop)
            .map_err(|e| corrupt(&e))
    };
    records(r.open_table(JOURNAL), 0)?;
    if let Some(log) = log {
        let folded = r
            .open_table(META)
            .and_then(|t| Ok(t.get(FOLDED)?.map(|v| v.value())))
            .map_err(|e| corrupt(&e))?;
        let lr = log.begin_read().map_err(|e| corrupt(&e))?;
        records(lr.open_table(JOURNAL), folded.map_or(0, |f| f + 1))?;
    }
    let mut image = Image { convs, users };
    for w in journal {
        image.apply(w);
    }
    Ok(image.finish(window))
}

/// Everything a store holds, as read so far: the tables, then on top of them
/// each journal write (or a cluster snapshot's) in order.
#[derive(Default)]
pub(super) struct Image {
    convs: BTreeMap<[u8; 16], Rows>,
    users: BTreeMap<String, Vec<u8>>,
}

impl Image {
    /// Forgets every conversation `keep` refuses (a delta's deleted ones).
    pub(super) fn retain_conversations(&mut self, mut keep: impl FnMut(&[u8; 16]) -> bool) {
        self.convs.retain(|id, _| keep(id));
    }

    pub(super) fn apply(&mut self, w: Write) {
        let convs = &mut self.convs;
        match w {
            Write::Conversation { id, record } => {
                convs.entry(id).or_default().record = Some(record)
            }
            Write::Counters { id, counters } => convs.entry(id).or_default().counters = counters,
            Write::DeleteConversation { id } => {
                convs.remove(&id);
            }
            Write::Participant { key, record } => {
                put(convs.entry(key.0).or_default().table(0), key.1, record)
            }
            Write::Message { key, record } => {
                put(convs.entry(key.0).or_default().table(1), key.1, record)
            }
            Write::Event {
                key,
                record,
                drop_below,
            } => {
                let rows = convs.entry(key.0).or_default();
                rows.drop_below = rows.drop_below.max(drop_below);
                rows.events.insert(key.1, record);
                // Keeps a long journal's events to the window as it goes.
                while let Some(e) = rows.events.first_entry() {
                    if *e.key() >= rows.drop_below {
                        break;
                    }
                    e.remove();
                }
            }
            Write::User { identity, record } => {
                self.users.insert(identity, record);
            }
            Write::NewUser { identity, record } => {
                self.users.entry(identity).or_insert(record);
            }
        }
    }

    /// What was read, with the last `window` events of each conversation.
    pub(super) fn finish(self, window: usize) -> Recovered {
        let conversations = self
            .convs
            .into_iter()
            .filter_map(|(id, rows)| {
                let mut events: Vec<(u64, Vec<u8>)> = rows
                    .events
                    .into_iter()
                    .filter(|(seq, _)| *seq >= rows.drop_below)
                    .collect();
                // In key order: the last `window` are the newest.
                let extra = events.len().saturating_sub(window);
                events.drain(..extra);
                Some(RecoveredConversation {
                    id,
                    record: rows.record?,
                    counters: rows.counters,
                    participants: rows.participants.into_iter().collect(),
                    messages: rows.messages.into_iter().collect(),
                    events,
                })
            })
            .collect();
        Recovered {
            conversations,
            users: self.users.into_iter().collect(),
        }
    }
}

/// One conversation's rows while reading: the tables, then the journal on top.
#[derive(Default)]
struct Rows {
    record: Option<Vec<u8>>,
    counters: (u64, u64, u64, u64),
    participants: BTreeMap<u64, Vec<u8>>,
    messages: BTreeMap<u64, Vec<u8>>,
    events: BTreeMap<u64, Vec<u8>>,
    /// Events below this left the replay window (an event row may still hold
    /// some of them: `event_rows.rs`).
    drop_below: u64,
}

impl Rows {
    fn table(&mut self, which: u8) -> &mut BTreeMap<u64, Vec<u8>> {
        match which {
            0 => &mut self.participants,
            1 => &mut self.messages,
            _ => &mut self.events,
        }
    }
}

fn put(t: &mut BTreeMap<u64, Vec<u8>>, k: u64, record: Option<Vec<u8>>) {
    match record {
        Some(r) => t.insert(k, r),
        None => t.remove(&k),
    };
}
