//! What the tables of many records a row (`message_rows`, `event_rows`)
//! share: a fold's writes of one conversation split into changes to rows
//! already written and new records, and the error of a damaged row.

use std::collections::BTreeMap;

use redb::{ReadableTable, Table};

use super::Key;

/// Why a fold could not write a conversation's messages or events.
#[derive(Debug, thiserror::Error)]
pub(super) enum RowError {
    #[error(transparent)]
    Storage(#[from] redb::StorageError),
    #[error("a row of the tables is damaged: {0}")]
    Damaged(String),
}

/// Takes out of `writes` (keyed by index or seq) those above every row of
/// conversation `id`, which go in new rows; what is left changes rows
/// already written. Rows are keyed by the highest record they hold.
pub(super) fn take_new<V>(
    rows: &Table<Key, &[u8]>,
    id: [u8; 16],
    writes: &mut BTreeMap<u64, V>,
) -> Result<BTreeMap<u64, V>, redb::StorageError> {
    let top = rows
        .range((id, 0)..=(id, u64::MAX))?
        .next_back()
        .transpose()?
        .map(|(k, _)| k.value().1);
    Ok(match top {
        Some(top) => writes.split_off(&top.saturating_add(1)),
        None => std::mem::take(writes),
    })
}

/// Applies changes (in key order) to the rows already written that hold
/// them, one rewrite per row: `edit` gets a row's bytes and its changes and
/// answers the row's new bytes, or None when the row is left empty. A change
/// above every row has no row to go in and is dropped.
pub(super) fn rewrite<V>(
    rows: &mut Table<Key, &[u8]>,
    id: [u8; 16],
    changes: impl IntoIterator<Item = (u64, V)>,
    mut edit: impl FnMut(&[u8], Vec<(u64, V)>) -> Result<Option<Vec<u8>>, String>,
) -> Result<(), RowError> {
    let mut changes = changes.into_iter().peekable();
    while let Some(&(at, _)) = changes.peek() {
        let found = rows
            .range((id, at)..=(id, u64::MAX))?
            .next()
            .transpose()?
            .map(|(k, v)| (k.value().1, v.value().to_vec()));
        let Some((key, row)) = found else {
            changes.next();
            continue;
        };
        let its = std::iter::from_fn(|| changes.next_if(|(i, _)| *i <= key)).collect();
        match edit(&row, its).map_err(RowError::Damaged)? {
            Some(new) => rows.insert((id, key), new.as_slice()).map(drop)?,
            None => rows.remove((id, key)).map(drop)?,
        }
    }
    Ok(())
}
