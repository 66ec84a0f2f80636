//! Messages in the tables: several messages of a conversation a row of
//! `message_rows`, keyed by the highest index the row covers.
//!
//! A row a message (store format 3 and before) cost each durable ack a B-tree
//! insert of its own in the fold, the largest part of a redb insert being per
//! row, not per byte (`docs/BENCHMARKS.md`, "Which of the fold's writes cost
//! what"). Now the new messages of a conversation in one fold go in as rows of
//! up to [`ROW_MESSAGES`] messages or [`ROW_BYTES`] bytes.
//!
//! The rows of a conversation split its indexes into ranges: the row keyed
//! `k` covers the indexes above the previous row's key, up to `k`. So a
//! message lives in the first row whose key is at or above its index, and a
//! change to it (an edit, a reaction, a delete, eviction) rewrites that row;
//! a row left empty goes. New messages always have higher indexes than every
//! key so far and go in new rows. Rows are bounded, so an edit or the
//! eviction of the oldest message rewrites at most one row's bytes.
//!
//! A row: each message's index and bytes, in index order, in the journal's
//! encoding (`journal.rs`: u64, then a u32 length and the bytes; integers
//! little-endian).

use std::collections::BTreeMap;

use redb::{ReadableTable, Table};

use super::journal::{bytes, u64_of, vec_of};
use super::Key;

/// Messages a new row holds at most.
pub(super) const ROW_MESSAGES: usize = 64;
/// Bytes of messages past which a new row is closed (a row may pass it by
/// its last message).
pub(super) const ROW_BYTES: usize = 64 * 1024;

/// Encodes a row of messages (in index order).
pub(super) fn encode<'a>(messages: impl Iterator<Item = (u64, &'a [u8])>) -> Vec<u8> {
    let mut row = Vec::new();
    for (index, record) in messages {
        row.extend_from_slice(&index.to_le_bytes());
        bytes(record, &mut row);
    }
    row
}

/// Reads a row back; an error says what is wrong with it.
pub(super) fn decode(mut b: &[u8]) -> Result<Vec<(u64, Vec<u8>)>, String> {
    let mut messages = Vec::new();
    while !b.is_empty() {
        messages.push((u64_of(&mut b)?, vec_of(&mut b)?));
    }
    Ok(messages)
}

/// Why a fold could not write a conversation's messages or events.
#[derive(Debug, thiserror::Error)]
pub(super) enum RowError {
    #[error(transparent)]
    Storage(#[from] redb::StorageError),
    #[error("a row of the tables is damaged: {0}")]
    Damaged(String),
}

/// Applies a fold's message writes of one conversation (index to its record,
/// `None` for a message that is gone), each the last of its message.
pub(super) fn apply(
    rows: &mut Table<Key, &[u8]>,
    id: [u8; 16],
    mut writes: BTreeMap<u64, Option<&[u8]>>,
) -> Result<(), RowError> {
    let top = rows
        .range((id, 0)..=(id, u64::MAX))?
        .next_back()
        .transpose()?
        .map(|(k, _)| k.value().1);
    let new = match top {
        Some(top) => writes.split_off(&top.saturating_add(1)),
        None => std::mem::take(&mut writes),
    };
    // Changes to messages already in a row: one rewrite per row touched.
    let mut changes = writes.into_iter().peekable();
    while let Some(&(index, _)) = changes.peek() {
        let found = rows
            .range((id, index)..=(id, u64::MAX))?
            .next()
            .transpose()?
            .map(|(k, v)| (k.value().1, decode(v.value())));
        let Some((key, row)) = found else {
            // Above every row: a message that is not stored (nothing to do
            // for a removal; `top` rules out anything else).
            changes.next();
            continue;
        };
        let mut row: BTreeMap<u64, Vec<u8>> = row.map_err(RowError::Damaged)?.into_iter().collect();
        while let Some((i, record)) = changes.next_if(|(i, _)| *i <= key) {
            match record {
                Some(r) => row.insert(i, r.to_vec()),
                None => row.remove(&i),
            };
        }
        if row.is_empty() {
            rows.remove((id, key))?;
        } else {
            let encoded = encode(row.iter().map(|(i, r)| (*i, r.as_slice())));
            rows.insert((id, key), encoded.as_slice())?;
        }
    }
    // New messages (a removed one was added and gone within the fold).
    let mut chunk: Vec<(u64, &[u8])> = Vec::new();
    let mut size = 0;
    for (index, record) in new {
        let Some(record) = record else { continue };
        chunk.push((index, record));
        size += record.len();
        if chunk.len() >= ROW_MESSAGES || size >= ROW_BYTES {
            put_new(rows, id, &chunk)?;
            chunk.clear();
            size = 0;
        }
    }
    if !chunk.is_empty() {
        put_new(rows, id, &chunk)?;
    }
    Ok(())
}

fn put_new(
    rows: &mut Table<Key, &[u8]>,
    id: [u8; 16],
    chunk: &[(u64, &[u8])],
) -> Result<(), redb::StorageError> {
    if let Some(&(last, _)) = chunk.last() {
        rows.insert((id, last), encode(chunk.iter().copied()).as_slice())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_reads_back_as_written_and_a_cut_one_is_an_error() {
        let messages = [(3, &b"three"[..]), (4, &b""[..]), (9, &b"nine"[..])];
        let row = encode(messages.iter().copied());
        let back = decode(&row).expect("reads back");
        let back: Vec<(u64, &[u8])> = back.iter().map(|(i, r)| (*i, r.as_slice())).collect();
        assert_eq!(back, messages);
        for cut in 0..row.len() {
            let at_boundary = cut == 0 || cut == 12 + 5 || cut == 12 + 5 + 12;
            assert_eq!(decode(&row[..cut]).is_ok(), at_boundary, "cut at {cut}");
        }
    }
}
