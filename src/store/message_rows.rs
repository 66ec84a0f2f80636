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

use redb::Table;

use super::journal::{bytes, u64_of, vec_of};
use super::rows::{rewrite, take_new, RowError};
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

/// Applies a fold's message writes of one conversation (index to its record,
/// `None` for a message that is gone), each the last of its message.
pub(super) fn apply(
    rows: &mut Table<Key, &[u8]>,
    id: [u8; 16],
    mut writes: BTreeMap<u64, Option<&[u8]>>,
) -> Result<(), RowError> {
    let new = take_new(rows, id, &mut writes)?;
    // Changes to messages already in a row: one rewrite per row touched (a
    // removal above every row is of a message that is not stored).
    rewrite(rows, id, writes, |row, changes| {
        let mut row: BTreeMap<u64, Vec<u8>> = decode(row)?.into_iter().collect();
        for (i, record) in changes {
            match record {
                Some(r) => row.insert(i, r.to_vec()),
                None => row.remove(&i),
            };
        }
        Ok((!row.is_empty()).then(|| encode(row.iter().map(|(i, r)| (*i, r.as_slice())))))
    })?;
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
