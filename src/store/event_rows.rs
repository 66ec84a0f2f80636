//! The replay window in the tables: each fold writes the new events of a
//! conversation as one row of `event_rows`, keyed by the last one's seq.
//!
//! One row per event (store format 2) cost each durable ack about 6 µs of
//! B-tree work in the fold, most of a redb insert being per row rather than
//! per byte; a row per conversation per fold costs about half of that
//! (`docs/BENCHMARKS.md`, "Which of the fold's writes cost what").
//!
//! Keyed by its last seq, a row leaves the table when that event leaves the
//! window, so a row can outlive some of its events. It therefore carries the
//! conversation's `drop_below` as it was written, and reading back skips the
//! events below the highest one of the conversation's rows: what was dropped
//! stays dropped, whatever window the next start has.
//!
//! An event already in a row is written again when the conversation layer
//! replaces its record (a `messageAdded` kept as a reference to its message,
//! written out whole once the message changes: `conversation/event_records.rs`):
//! that rewrites the one row that holds it, found as the first row keyed at or
//! above its seq.
//!
//! A row: `drop_below`, then each event's seq and bytes, in the journal's
//! encoding (`journal.rs`: u64, then a u32 length and the bytes; integers
//! little-endian).

use std::collections::BTreeMap;

use redb::Table;

use super::journal::{bytes, u64_of, vec_of};
use super::rows::{rewrite, take_new, RowError};
use super::Key;

/// Applies a fold's event writes of one conversation (seq to its record,
/// each the last of its seq), `below` being the conversation's `drop_below`:
/// new events go in as one row, events already in a row replace theirs there.
pub(super) fn apply(
    rows: &mut Table<Key, &[u8]>,
    id: [u8; 16],
    mut writes: BTreeMap<u64, &[u8]>,
    below: u64,
) -> Result<(), RowError> {
    let new = take_new(rows, id, &mut writes)?;
    let kept = || {
        new.iter()
            .map(|(s, r)| (*s, *r))
            .filter(|(s, _)| *s >= below)
    };
    if let Some((last, _)) = kept().next_back() {
        rows.insert((id, last), encode(below, kept()).as_slice())?;
    }
    // Events already in a row: one rewrite per row touched. One that left
    // the window is not written; it is dropped on reading back.
    let changes = writes.into_iter().filter(|(s, _)| *s >= below);
    rewrite(rows, id, changes, |row, changes| {
        let (row_below, mut events) = decode(row)?;
        for (s, record) in changes {
            // Only an event the row holds: one the window dropped stays out.
            if let Some(e) = events.iter_mut().find(|(held, _)| *held == s) {
                e.1 = record.to_vec();
            }
        }
        Ok(Some(encode(
            row_below,
            events.iter().map(|(s, r)| (*s, r.as_slice())),
        )))
    })?;
    Ok(())
}

/// Encodes a row of events (in seq order) under a conversation's `drop_below`.
pub(super) fn encode<'a>(
    drop_below: u64,
    events: impl Iterator<Item = (u64, &'a [u8])>,
) -> Vec<u8> {
    let mut row = drop_below.to_le_bytes().to_vec();
    for (seq, record) in events {
        row.extend_from_slice(&seq.to_le_bytes());
        bytes(record, &mut row);
    }
    row
}

/// A row read back: its `drop_below` and its events.
pub(super) type Decoded = (u64, Vec<(u64, Vec<u8>)>);

/// Reads a row back; an error says what is wrong with it.
pub(super) fn decode(mut b: &[u8]) -> Result<Decoded, String> {
    let drop_below = u64_of(&mut b)?;
    let mut events = Vec::new();
    while !b.is_empty() {
        events.push((u64_of(&mut b)?, vec_of(&mut b)?));
    }
    Ok((drop_below, events))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_reads_back_as_written_and_a_cut_one_is_an_error() {
        let events = [(7, &b"seven"[..]), (8, &b""[..]), (9, &b"nine"[..])];
        let row = encode(5, events.iter().copied());
        let (below, back) = decode(&row).expect("reads back");
        assert_eq!(below, 5);
        let back: Vec<(u64, &[u8])> = back.iter().map(|(s, r)| (*s, r.as_slice())).collect();
        assert_eq!(back, events);
        for cut in 0..row.len() {
            let r = decode(&row[..cut]);
            // Cut between two events, a row is shorter but still a row.
            let at_boundary = cut == 8 || cut == 8 + 12 + 5 || cut == 8 + 12 + 5 + 12;
            assert_eq!(r.is_ok(), at_boundary, "cut at {cut}");
        }
    }
}
