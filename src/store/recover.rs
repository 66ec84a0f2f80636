//! Reading a store back at start: its format, then every record, as bytes for
//! the conversation layer to decode.

use std::collections::BTreeMap;
use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError};

use super::{
    Key, StoreError, CONVERSATIONS, COUNTERS, EVENTS, FORMAT, MESSAGES, META, PARTICIPANTS, USERS,
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
        Some(_) => Ok(()),
        None => {
            let w = db.begin_write().map_err(|e| corrupt(&e))?;
            {
                let mut t = w.open_table(META).map_err(|e| corrupt(&e))?;
                t.insert("format", FORMAT).map_err(|e| corrupt(&e))?;
                // Create every table, so that reading an empty store finds them.
                w.open_table(CONVERSATIONS).map_err(|e| corrupt(&e))?;
                w.open_table(COUNTERS).map_err(|e| corrupt(&e))?;
                w.open_table(PARTICIPANTS).map_err(|e| corrupt(&e))?;
                w.open_table(MESSAGES).map_err(|e| corrupt(&e))?;
                w.open_table(EVENTS).map_err(|e| corrupt(&e))?;
                w.open_table(USERS).map_err(|e| corrupt(&e))?;
            }
            w.commit().map_err(|e| corrupt(&e))
        }
    }
}

/// Reads every record. Of each conversation's events only the last `window`
/// are returned.
pub(super) fn read_all(
    db: &impl ReadableDatabase,
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
    let mut convs: BTreeMap<[u8; 16], RecoveredConversation> = BTreeMap::new();
    for row in r
        .open_table(CONVERSATIONS)
        .map_err(|e| corrupt(&e))?
        .iter()
        .map_err(|e| corrupt(&e))?
    {
        let (k, v) = row.map_err(|e| corrupt(&e))?;
        let id = k.value();
        convs.insert(
            id,
            RecoveredConversation {
                id,
                record: v.value().to_vec(),
                ..Default::default()
            },
        );
    }
    for row in r
        .open_table(COUNTERS)
        .map_err(|e| corrupt(&e))?
        .iter()
        .map_err(|e| corrupt(&e))?
    {
        let (k, v) = row.map_err(|e| corrupt(&e))?;
        if let Some(c) = convs.get_mut(&k.value()) {
            c.counters = v.value();
        }
    }
    let rows = |def: TableDefinition<Key, &[u8]>| -> Result<Vec<(Key, Vec<u8>)>, StoreError> {
        let t = r.open_table(def).map_err(|e| corrupt(&e))?;
        let mut out = Vec::new();
        for row in t.iter().map_err(|e| corrupt(&e))? {
            let (k, v) = row.map_err(|e| corrupt(&e))?;
            out.push((k.value(), v.value().to_vec()));
        }
        Ok(out)
    };
    for ((id, place), v) in rows(PARTICIPANTS)? {
        if let Some(c) = convs.get_mut(&id) {
            c.participants.push((place, v));
        }
    }
    for ((id, index), v) in rows(MESSAGES)? {
        if let Some(c) = convs.get_mut(&id) {
            c.messages.push((index, v));
        }
    }
    for ((id, seq), v) in rows(EVENTS)? {
        if let Some(c) = convs.get_mut(&id) {
            c.events.push((seq, v));
        }
    }
    for c in convs.values_mut() {
        // Rows come in key order: the last `window` are the newest.
        let extra = c.events.len().saturating_sub(window);
        c.events.drain(..extra);
    }
    let mut users = Vec::new();
    for row in r
        .open_table(USERS)
        .map_err(|e| corrupt(&e))?
        .iter()
        .map_err(|e| corrupt(&e))?
    {
        let (k, v) = row.map_err(|e| corrupt(&e))?;
        users.push((k.value().to_string(), v.value().to_vec()));
    }
    Ok(Recovered {
        conversations: convs.into_values().collect(),
        users,
    })
}
