//! A cluster's snapshot: every record of an engine as one byte string, in the
//! journal's encoding, and read back through the same code as a store
//! (`recover.rs`), so a node started from one holds what `--data-dir` would.
//!
//! Layout: 8 magic bytes, the snapshot's format, the log position it was taken
//! after and that entry's time (u64 little-endian each), then the writes.

use super::recover::Image;
use super::{journal, Recovered, Write};

const MAGIC: &[u8; 8] = b"CLQSNAP\0";

/// The version of the layout below. It was the store's format number, 2, when
/// snapshots began; the store's tables have changed since, the journal's
/// encoding that a snapshot holds has not.
const FORMAT: u64 = 2;

/// A snapshot read back.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// The last entry of the log it holds.
    pub position: u64,
    /// That entry's time.
    pub at: u64,
    pub recovered: Recovered,
}

/// The bytes of a snapshot taken after log entry `position` (of time `at`).
pub(crate) fn encode(position: u64, at: u64, writes: &[Write]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + writes.len() * 64);
    out.extend_from_slice(MAGIC);
    for n in [FORMAT, position, at] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    for w in writes {
        journal::encode(w, &mut out);
    }
    out
}

/// Reads a snapshot back, keeping the last `window` events of each
/// conversation; an error says what is wrong with the bytes.
pub(crate) fn decode(bytes: &[u8], window: usize) -> Result<Snapshot, String> {
    let head = bytes
        .get(..32)
        .filter(|h| h.starts_with(MAGIC))
        .ok_or("not a colloquy snapshot")?;
    let n = |i: usize| {
        let mut b = [0; 8];
        b.copy_from_slice(&head[8 * i..8 * i + 8]);
        u64::from_le_bytes(b)
    };
    let (format, position, at) = (n(1), n(2), n(3));
    if format > FORMAT {
        return Err(format!(
            "written in snapshot format {format}; this colloquy reads format {FORMAT} (upgrade colloquy)"
        ));
    }
    let mut image = Image::default();
    for w in journal::decode(&bytes[32..])? {
        image.apply(w);
    }
    Ok(Snapshot {
        position,
        at,
        recovered: image.finish(window),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
