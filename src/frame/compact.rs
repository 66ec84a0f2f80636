//! The compact form of a v1 frame, made in one pass over its text.
//!
//! Every member whose value is `null`, `[]` or `{}` (once its own members are
//! compacted) is left out. The others stay in the order v1 has them, with
//! their bytes as v1 wrote them. The members in [`FREE_JSON`] are the user's
//! own JSON: they are kept as they are, and left out only when they are `{}`.
//!
//! Why a pass over the bytes rather than a tree: building a tree of owned
//! values and writing it out again cost 2.3-4.3 µs for a 570-byte
//! `messageAdded` (`cargo bench --bench fanout -- compact_frame`; 0.8 µs
//! now). In rooms of five that one copy is shared by only five deliveries,
//! and a compact delivery cost more CPU than a v1 one. Here a member is
//! written as it is read and taken back when it turns out to be empty. The
//! reading is `jiter`'s (the JSON iterator under pydantic): serde_json has no
//! token stream to walk, and `jiter` hands out each scalar's place in the
//! text, so it is copied byte for byte.
//!
//! Text that is not JSON (never one of ours) is passed on as it is, as is
//! JSON nested deeper than [`MAX_DEPTH`] (the limit serde_json reads to).

use jiter::{Jiter, Peek};

/// Members whose value is free JSON of the user's: a `null` inside, or a
/// `null` attributes, means something.
const FREE_JSON: [&[u8]; 3] = [b"attributes", b"metadata", b"details"];

/// Objects and arrays nested deeper than this are not compacted.
const MAX_DEPTH: usize = 128;

/// The compact form of `v1`, or `v1` itself when it is not JSON.
pub fn compact(v1: &str) -> String {
    let mut c = Compactor {
        json: Jiter::new(v1.as_bytes()),
        out: Vec::with_capacity(v1.len()),
    };
    let whole = c
        .json
        .peek()
        .ok()
        .and_then(|peek| c.value(peek, true, 0))
        .is_some()
        && c.json.finish().is_ok();
    if !whole {
        return v1.to_string();
    }
    // Cut only between the tokens of valid UTF-8: always valid, checked anyway.
    String::from_utf8(c.out).unwrap_or_else(|_| v1.to_string())
}

struct Compactor<'a> {
    json: Jiter<'a>,
    out: Vec<u8>,
}

/// What the compactor says of text that is not JSON: nothing more to do.
type Parsed<T> = Option<T>;

impl Compactor<'_> {
    /// Writes the value `peek` starts, its empty members left out when
    /// `strip`; answers whether what it wrote is empty (`null`, `[]` or `{}`).
    fn value(&mut self, peek: Peek, strip: bool, depth: usize) -> Parsed<bool> {
        match peek {
            Peek::Object => self.object(strip, depth + 1),
            Peek::Array => self.array(strip, depth + 1),
            scalar => {
                let start = self.json.current_index();
                self.json.known_skip(scalar).ok()?;
                self.out
                    .extend_from_slice(self.json.slice_to_current(start));
                Some(scalar == Peek::Null)
            }
        }
    }

    fn object(&mut self, strip: bool, depth: usize) -> Parsed<bool> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.out.push(b'{');
        let first = self.out.len();
        let mut key = self.json.next_object_bytes().ok()?;
        while let Some(name) = key {
            let member = self.out.len();
            if member > first {
                self.out.push(b',');
            }
            self.out.push(b'"');
            self.out.extend_from_slice(name);
            self.out.extend_from_slice(b"\":");
            let value = self.out.len();
            let free = FREE_JSON.contains(&name);
            let peek = self.json.peek().ok()?;
            let empty = self.value(peek, strip && !free, depth)?;
            let left_out = strip
                && if free {
                    &self.out[value..] == b"{}"
                } else {
                    empty
                };
            if left_out {
                self.out.truncate(member);
            }
            key = self.json.next_key_bytes().ok()?;
        }
        self.out.push(b'}');
        Some(self.out.len() == first + 1)
    }

    /// An array's items are compacted, never left out: their places count.
    fn array(&mut self, strip: bool, depth: usize) -> Parsed<bool> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.out.push(b'[');
        let mut item = self.json.known_array().ok()?;
        let empty = item.is_none();
        while let Some(peek) = item {
            self.value(peek, strip, depth)?;
            item = self.json.array_step().ok()?;
            if item.is_some() {
                self.out.push(b',');
            }
        }
        self.out.push(b']');
        Some(empty)
    }
}

#[cfg(test)]
mod tests;
