//! A cluster's snapshot: every record of an engine as one byte string, in the
//! journal's encoding, and read back through the same code as a store
//! (`recover.rs`), so a node started from one holds what `--data-dir` would.
//!
//! A snapshot is whole, or a delta on an earlier one (its base): the records
//! changed since the base, with an erase for each conversation deleted since
//! (or written whole after one), or else the ids of every conversation still
//! there, when which were deleted is not known. So its size follows what
//! changed, not what the cluster holds; a chain of them, read from the whole
//! one up, holds what a whole snapshot of the last would.
//!
//! Layout: 8 magic bytes, the snapshot's format, the log position it was taken
//! after and that entry's time (u64 little-endian each); from format 3 on, the
//! base's position (0: whole) and the count of conversation ids that follow
//! (16 bytes each: a delta's live conversations; [`NO_LIST`]: none, every
//! conversation not written stays); then the writes.

use super::recover::Image;
use super::{journal, Recovered, Write};

const MAGIC: &[u8; 8] = b"CLQSNAP\0";
/// The count of a delta that lists no conversations.
const NO_LIST: u64 = u64::MAX;

/// The version of the layout below. It was the store's format number, 2, when
/// snapshots began (the store's tables have changed since, the journal's
/// encoding that a snapshot holds has not); 3 added deltas.
const FORMAT: u64 = 3;

/// A snapshot read back.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// The last entry of the log it holds.
    pub position: u64,
    /// That entry's time.
    pub at: u64,
    pub recovered: Recovered,
}

/// The head of a snapshot's bytes.
#[derive(Debug, Clone, Copy)]
struct Head {
    pub position: u64,
    pub at: u64,
    /// The position of the snapshot this one is a delta on; None when whole.
    pub base: Option<u64>,
}

/// What a delta holds beside its writes: the conversations still there.
type Live = Vec<[u8; 16]>;

/// The bytes of a whole snapshot taken after log entry `position` (of time `at`).
#[cfg(test)]
pub(crate) fn encode(position: u64, at: u64, writes: &[Write]) -> Vec<u8> {
    encode_on(position, at, None, writes)
}

/// The bytes of a snapshot after `position`: whole, or (with `base`) a delta
/// on the snapshot after `base.0` whose `writes` hold what changed since,
/// with (`base.1`) every conversation still there or (None) an erase of each
/// one deleted since.
pub(crate) fn encode_on(
    position: u64,
    at: u64,
    base: Option<(u64, Option<&[[u8; 16]]>)>,
    writes: &[Write],
) -> Vec<u8> {
    let (on, live) = base.unwrap_or((0, Some(&[])));
    let ids = live.unwrap_or_default();
    let mut out = Vec::with_capacity(48 + ids.len() * 16 + writes.len() * 64);
    out.extend_from_slice(MAGIC);
    let count = live.map_or(NO_LIST, |l| l.len() as u64);
    for n in [FORMAT, position, at, on, count] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    for id in ids {
        out.extend_from_slice(id);
    }
    for w in writes {
        journal::encode(w, &mut out);
    }
    out
}

/// Reads a snapshot back, keeping the last `window` events of each
/// conversation; an error says what is wrong with the bytes.
#[cfg(test)]
pub(crate) fn decode(bytes: &[u8], window: usize) -> Result<Snapshot, String> {
    decode_chain(&[bytes], window)
}

/// Reads a chain of snapshots back as one: a whole one first, then each
/// delta on the one before it.
pub(crate) fn decode_chain(chain: &[&[u8]], window: usize) -> Result<Snapshot, String> {
    let mut image = Image::default();
    let mut last: Option<Head> = None;
    for bytes in chain {
        let (head, live, writes) = parse(bytes)?;
        match (head.base, last) {
            (None, None) => {}
            (Some(base), Some(before)) if base == before.position => {
                if let Some(live) = live {
                    let live: std::collections::HashSet<[u8; 16]> = live.into_iter().collect();
                    image.retain_conversations(|id| live.contains(id));
                }
            }
            (base, before) => {
                return Err(format!(
                    "the snapshot after entry {} is on {base:?}, not on {:?}",
                    head.position,
                    before.map(|b| b.position)
                ))
            }
        }
        for w in journal::decode(writes)? {
            image.apply(w);
        }
        last = Some(head);
    }
    let last = last.ok_or("no snapshot")?;
    Ok(Snapshot {
        position: last.position,
        at: last.at,
        recovered: image.finish(window),
    })
}

/// A snapshot's head, its live conversations (if it lists them), and the
/// bytes of its writes.
fn parse(bytes: &[u8]) -> Result<(Head, Option<Live>, &[u8]), String> {
    let word = |i: usize| -> Result<u64, String> {
        let b = bytes
            .get(8 * i..8 * i + 8)
            .ok_or("a snapshot cut short in its head")?;
        let mut w = [0; 8];
        w.copy_from_slice(b);
        Ok(u64::from_le_bytes(w))
    };
    if !bytes.starts_with(MAGIC) {
        return Err("not a colloquy snapshot".into());
    }
    let (format, position, at) = (word(1)?, word(2)?, word(3)?);
    if format > FORMAT {
        return Err(format!(
            "written in snapshot format {format}; this colloquy reads format {FORMAT} (upgrade colloquy)"
        ));
    }
    if format < 3 {
        let head = Head {
            position,
            at,
            base: None,
        };
        return Ok((head, None, &bytes[32..]));
    }
    let (base, count) = (word(4)?, word(5)?);
    let head = Head {
        position,
        at,
        base: (base != 0).then_some(base),
    };
    if count == NO_LIST {
        return Ok((head, None, &bytes[48..]));
    }
    let ids_end = usize::try_from(count)
        .ok()
        .and_then(|n| n.checked_mul(16))
        .and_then(|n| n.checked_add(48))
        .filter(|&end| end <= bytes.len())
        .ok_or("a snapshot cut short in its conversation ids")?;
    let live = bytes[48..ids_end]
        .chunks_exact(16)
        .map(|c| {
            let mut id = [0; 16];
            id.copy_from_slice(c);
            id
        })
        .collect();
    Ok((head, Some(live), &bytes[ids_end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delta_replaces_what_changed_and_drops_what_is_gone() {
        let (kept, changed, gone) = ([1; 16], [2; 16], [3; 16]);
        let conv = |id, record: &[u8]| Write::Conversation {
            id,
            record: record.to_vec(),
        };
        let message = |id, index, body: &[u8]| Write::Message {
            key: (id, index),
            record: Some(body.to_vec()),
        };
        let whole = encode(
            10,
            1,
            &[
                conv(kept, b"k"),
                message(kept, 0, b"k0"),
                conv(changed, b"c"),
                message(changed, 0, b"c0"),
                message(changed, 1, b"c1"),
                conv(gone, b"g"),
            ],
        );
        // `changed` lost message 1 and gained message 2; `gone` was deleted:
        // said by the conversations still there, or by an erase.
        let changes = || {
            vec![
                Write::DeleteConversation { id: changed },
                conv(changed, b"c'"),
                message(changed, 0, b"c0"),
                message(changed, 2, b"c2"),
            ]
        };
        let delta = encode_on(20, 2, Some((10, Some(&[kept, changed][..]))), &changes());
        let mut erasing = changes();
        erasing.push(Write::DeleteConversation { id: gone });
        let erased = encode_on(20, 2, Some((10, None)), &erasing);
        for delta in [&delta, &erased] {
            let s = decode_chain(&[&whole, delta], 10).expect("reads back");
            assert_eq!((s.position, s.at), (20, 2));
            let convs: Vec<_> = s
                .recovered
                .conversations
                .iter()
                .map(|c| (c.id, c.messages.clone()))
                .collect();
            assert_eq!(
                convs,
                vec![
                    (kept, vec![(0, b"k0".to_vec())]),
                    (changed, vec![(0, b"c0".to_vec()), (2, b"c2".to_vec())]),
                ]
            );
        }
        assert!(erased.len() < delta.len(), "no list of ids");
        // A delta alone, or on another base, is refused; so are cut ids.
        assert!(decode(&delta, 10).is_err());
        let other = encode_on(30, 3, Some((15, None)), &[]);
        assert!(decode_chain(&[&whole, &other], 10).is_err());
        assert!(decode_chain(&[&whole, &delta[..60]], 10).is_err());
    }

    #[test]
    fn a_snapshot_of_format_2_reads_back() {
        // As colloquy wrote them before deltas: no base, no ids.
        let mut old = MAGIC.to_vec();
        for n in [2u64, 7, 70] {
            old.extend_from_slice(&n.to_le_bytes());
        }
        journal::encode(
            &Write::User {
                identity: "ana".into(),
                record: b"{}".to_vec(),
            },
            &mut old,
        );
        let s = decode(&old, 10).expect("reads back");
        assert_eq!((s.position, s.at), (7, 70));
        assert_eq!(s.recovered.users, vec![("ana".into(), b"{}".to_vec())]);
    }

    #[test]
    fn reads_back_what_it_holds_and_refuses_what_it_cannot_read() {
        let id = [3; 16];
        let writes = vec![
            Write::User {
                identity: "ana".into(),
                record: b"{}".to_vec(),
            },
            // A first record: kept for bo, not over ana's profile.
            Write::NewUser {
                identity: "ana".into(),
                record: b"first".to_vec(),
            },
            Write::NewUser {
                identity: "bo".into(),
                record: b"first".to_vec(),
            },
            Write::Conversation {
                id,
                record: b"c".to_vec(),
            },
            Write::Counters {
                id,
                counters: (9, 2, 1, 77),
            },
            Write::Message {
                key: (id, 1),
                record: Some(b"m".to_vec()),
            },
        ]
        .into_iter()
        .chain((1..=9).map(|seq| Write::Event {
            key: (id, seq),
            record: vec![seq as u8],
            drop_below: 0,
        }))
        .collect::<Vec<_>>();
        let bytes = encode(42, 1_700, &writes);
        let s = decode(&bytes, 3).expect("reads back");
        assert_eq!((s.position, s.at), (42, 1_700));
        let users = vec![
            ("ana".into(), b"{}".to_vec()),
            ("bo".into(), b"first".to_vec()),
        ];
        assert_eq!(s.recovered.users, users);
        let [c] = &s.recovered.conversations[..] else {
            panic!("one conversation: {:?}", s.recovered.conversations)
        };
        assert_eq!((c.id, c.counters), (id, (9, 2, 1, 77)));
        assert_eq!(c.messages, vec![(1, b"m".to_vec())]);
        // Only the window's worth of events, the newest.
        let seqs: Vec<u64> = c.events.iter().map(|e| e.0).collect();
        assert_eq!(seqs, vec![7, 8, 9]);

        assert!(decode(b"junk", 3).is_err());
        assert!(decode(&bytes[..bytes.len() - 1], 3).is_err());
        let mut newer = bytes.clone();
        newer[8..16].copy_from_slice(&(FORMAT + 1).to_le_bytes());
        let e = decode(&newer, 3).expect_err("a newer format is refused");
        assert!(e.contains("upgrade colloquy"), "{e}");
    }
}
