//! The journal table: each commit appends the whole group of batches as one
//! record, keyed by commit order, so that a commit dirties one leaf instead of
//! leaves all over the keyed tables. Records are folded into the keyed tables
//! later, many commits at a time, and read back at start if a fold did not
//! happen.
//!
//! A record is the batches' writes, one after another: a tag byte, then the
//! fields, integers little-endian, byte strings with a u32 length.

use redb::ReadableTable;

use super::{Key, Write};

const CONVERSATION: u8 = 1;
const COUNTERS: u8 = 2;
const DELETE: u8 = 3;
const PARTICIPANT: u8 = 4;
const MESSAGE: u8 = 5;
const EVENT: u8 = 6;
const USER: u8 = 7;
const NEW_USER: u8 = 8;

/// Appends `w` to `out`.
pub(super) fn encode(w: &Write, out: &mut Vec<u8>) {
    match w {
        Write::Conversation { id, record } => {
            out.push(CONVERSATION);
            out.extend_from_slice(id);
            bytes(record, out);
        }
        Write::Counters { id, counters: c } => {
            out.push(COUNTERS);
            out.extend_from_slice(id);
            for n in [c.0, c.1, c.2, c.3] {
                out.extend_from_slice(&n.to_le_bytes());
            }
        }
        Write::DeleteConversation { id } => {
            out.push(DELETE);
            out.extend_from_slice(id);
        }
        Write::Participant { key, record } | Write::Message { key, record } => {
            out.push(if matches!(w, Write::Participant { .. }) {
                PARTICIPANT
            } else {
                MESSAGE
            });
            self::key(key, out);
            match record {
                Some(r) => {
                    out.push(1);
                    bytes(r, out);
                }
                None => out.push(0),
            }
        }
        Write::Event {
            key,
            record,
            drop_below,
        } => {
            out.push(EVENT);
            self::key(key, out);
            bytes(record, out);
            out.extend_from_slice(&drop_below.to_le_bytes());
        }
        Write::User { identity, record } | Write::NewUser { identity, record } => {
            out.push(if matches!(w, Write::User { .. }) {
                USER
            } else {
                NEW_USER
            });
            bytes(identity.as_bytes(), out);
            bytes(record, out);
        }
    }
}

pub(super) fn bytes(b: &[u8], out: &mut Vec<u8>) {
    // Records are bounded far below 4 GiB by the contract's limits.
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

fn key(k: &Key, out: &mut Vec<u8>) {
    out.extend_from_slice(&k.0);
    out.extend_from_slice(&k.1.to_le_bytes());
}

/// Reads the records of a journal table from number `from` on, in order,
/// into `out`; answers the number of the last one read.
pub(super) fn read_from(
    t: &impl ReadableTable<u64, &'static [u8]>,
    from: u64,
    out: &mut Vec<Write>,
) -> Result<Option<u64>, String> {
    let mut last = None;
    for row in t.range(from..).map_err(|e| e.to_string())? {
        let (k, v) = row.map_err(|e| e.to_string())?;
        out.extend(decode(v.value())?);
        last = Some(k.value());
    }
    Ok(last)
}

/// Reads a record back; an error names what is wrong with it.
pub(super) fn decode(mut b: &[u8]) -> Result<Vec<Write>, String> {
    let mut out = Vec::new();
    while let Some((&tag, rest)) = b.split_first() {
        b = rest;
        let w = match tag {
            CONVERSATION => Write::Conversation {
                id: id(&mut b)?,
                record: vec_of(&mut b)?,
            },
            COUNTERS => Write::Counters {
                id: id(&mut b)?,
                counters: (
                    u64_of(&mut b)?,
                    u64_of(&mut b)?,
                    u64_of(&mut b)?,
                    u64_of(&mut b)?,
                ),
            },
            DELETE => Write::DeleteConversation { id: id(&mut b)? },
            PARTICIPANT | MESSAGE => {
                let key = (id(&mut b)?, u64_of(&mut b)?);
                let record = match take(&mut b, 1)? {
                    [0] => None,
                    _ => Some(vec_of(&mut b)?),
                };
                if tag == PARTICIPANT {
                    Write::Participant { key, record }
                } else {
                    Write::Message { key, record }
                }
            }
            EVENT => Write::Event {
                key: (id(&mut b)?, u64_of(&mut b)?),
                record: vec_of(&mut b)?,
                drop_below: u64_of(&mut b)?,
            },
            USER | NEW_USER => {
                let identity = String::from_utf8(vec_of(&mut b)?).map_err(|e| e.to_string())?;
                let record = vec_of(&mut b)?;
                if tag == USER {
                    Write::User { identity, record }
                } else {
                    Write::NewUser { identity, record }
                }
            }
            other => return Err(format!("a journal write of unknown kind {other}")),
        };
        out.push(w);
    }
    Ok(out)
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if b.len() < n {
        return Err("a record ends early".into());
    }
    let (head, rest) = b.split_at(n);
    *b = rest;
    Ok(head)
}

fn id(b: &mut &[u8]) -> Result<[u8; 16], String> {
    let mut id = [0; 16];
    id.copy_from_slice(take(b, 16)?);
    Ok(id)
}

pub(super) fn u64_of(b: &mut &[u8]) -> Result<u64, String> {
    let mut n = [0; 8];
    n.copy_from_slice(take(b, 8)?);
    Ok(u64::from_le_bytes(n))
}

pub(super) fn vec_of(b: &mut &[u8]) -> Result<Vec<u8>, String> {
    let mut n = [0; 4];
    n.copy_from_slice(take(b, 4)?);
    let len = u32::from_le_bytes(n) as usize;
    Ok(take(b, len)?.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_write_reads_back_as_written() {
        let id = [7; 16];
        let writes = vec![
            Write::Conversation {
                id,
                record: b"{}".to_vec(),
            },
            Write::Counters {
                id,
                counters: (1, 2, 3, u64::MAX),
            },
            Write::Participant {
                key: (id, 4),
                record: Some(b"p".to_vec()),
            },
            Write::Participant {
                key: (id, 5),
                record: None,
            },
            Write::Message {
                key: (id, 6),
                record: Some(vec![]),
            },
            Write::Message {
                key: (id, 7),
                record: None,
            },
            Write::Event {
                key: (id, 8),
                record: b"e".to_vec(),
                drop_below: 3,
            },
            Write::User {
                identity: "ünï".into(),
                record: b"u".to_vec(),
            },
            Write::NewUser {
                identity: "bob".into(),
                record: b"n".to_vec(),
            },
            Write::DeleteConversation { id },
        ];
        let mut buf = Vec::new();
        for w in &writes {
            encode(w, &mut buf);
        }
        let back = decode(&buf).expect("decodes");
        assert_eq!(format!("{back:?}"), format!("{writes:?}"));
        // A record cut short is an error at worst, never a panic.
        for cut in 1..buf.len() {
            let _ = decode(&buf[..cut]);
        }
        assert!(decode(&buf[..buf.len() - 1]).is_err());
    }
}
