//! The compact form of a v1 frame, made in one pass over its text.
//!
//! Every member whose value is `null`, `[]` or `{}` (once its own members are
//! compacted) is left out. The others stay in the order v1 has them, with
//! their bytes as v1 wrote them. The members in [`FREE_JSON`] are the user's
//! own JSON: they are kept as they are, and left out only when they are `{}`.
//!
//! Why a pass over the bytes rather than a tree: building a tree of owned
//! values and writing it out again cost 4.25 µs for a 570-byte
//! `messageAdded` (`cargo bench --bench fanout -- compact_frame`). In rooms of
//! five that one copy is shared by only five deliveries, and a compact
//! delivery cost more CPU than a v1 one. Here a member is written as it is
//! read and taken back when it turns out to be empty.
//!
//! Text that is not JSON (never one of ours) is passed on as it is, as is
//! JSON nested deeper than [`MAX_DEPTH`] (the limit serde_json reads to).

use std::ops::Range;

/// Members whose value is free JSON of the user's: a `null` inside, or a
/// `null` attributes, means something.
const FREE_JSON: [&[u8]; 3] = [b"attributes", b"metadata", b"details"];

/// Objects and arrays nested deeper than this are not compacted.
const MAX_DEPTH: usize = 128;

/// The compact form of `v1`, or `v1` itself when it is not JSON.
pub fn compact(v1: &str) -> String {
    let mut c = Compactor {
        src: v1.as_bytes(),
        at: 0,
        out: Vec::with_capacity(v1.len()),
    };
    let whole = c.value(true, 0).is_some() && {
        c.skip_space();
        c.at == c.src.len()
    };
    if !whole {
        return v1.to_string();
    }
    // Cut only at ASCII bytes of valid UTF-8: always valid, checked anyway.
    String::from_utf8(c.out).unwrap_or_else(|_| v1.to_string())
}

struct Compactor<'a> {
    src: &'a [u8],
    at: usize,
    out: Vec<u8>,
}

/// What the compactor says of text that is not JSON: nothing more to do.
type Parsed<T = ()> = Option<T>;

impl Compactor<'_> {
    fn peek(&self) -> Parsed<u8> {
        self.src.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Writes the value here, its empty members left out when `strip`;
    /// answers whether what it wrote is empty (`null`, `[]` or `{}`).
    fn value(&mut self, strip: bool, depth: usize) -> Parsed<bool> {
        self.skip_space();
        match self.peek()? {
            b'{' => self.object(strip, depth + 1),
            b'[' => self.array(strip, depth + 1),
            b'"' => {
                let s = self.string()?;
                self.out.extend_from_slice(&self.src[s]);
                Some(false)
            }
            b'n' => self.literal(b"null").map(|()| true),
            b't' => self.literal(b"true").map(|()| false),
            b'f' => self.literal(b"false").map(|()| false),
            b'-' | b'0'..=b'9' => self.number().map(|()| false),
            _ => None,
        }
    }

    fn object(&mut self, strip: bool, depth: usize) -> Parsed<bool> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.at += 1;
        self.out.push(b'{');
        let first = self.out.len();
        self.skip_space();
        if self.peek()? == b'}' {
            self.at += 1;
            self.out.push(b'}');
            return Some(true);
        }
        loop {
            self.skip_space();
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            self.skip_space();
            if self.peek()? != b':' {
                return None;
            }
            self.at += 1;
            let member = self.out.len();
            if member > first {
                self.out.push(b',');
            }
            self.out.extend_from_slice(&self.src[key.clone()]);
            self.out.push(b':');
            let value = self.out.len();
            let free = FREE_JSON.contains(&&self.src[key.start + 1..key.end - 1]);
            let empty = self.value(strip && !free, depth)?;
            let left_out = strip
                && if free {
                    &self.out[value..] == b"{}"
                } else {
                    empty
                };
            if left_out {
                self.out.truncate(member);
            }
            self.skip_space();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    break;
                }
                _ => return None,
            }
        }
        self.out.push(b'}');
        Some(self.out.len() == first + 1)
    }

    /// An array's items are compacted, never left out: their places count.
    fn array(&mut self, strip: bool, depth: usize) -> Parsed<bool> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.at += 1;
        self.out.push(b'[');
        self.skip_space();
        if self.peek()? == b']' {
            self.at += 1;
            self.out.push(b']');
            return Some(true);
        }
        loop {
            self.value(strip, depth)?;
            self.skip_space();
            match self.peek()? {
                b',' => {
                    self.at += 1;
                    self.out.push(b',');
                }
                b']' => {
                    self.at += 1;
                    break;
                }
                _ => return None,
            }
        }
        self.out.push(b']');
        Some(false)
    }

    /// The string here, quotes included, as it is in the text.
    fn string(&mut self) -> Parsed<Range<usize>> {
        let start = self.at;
        self.at += 1;
        loop {
            let rest = self.src.get(self.at..)?;
            let n = rest
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
            self.at += n;
            match rest[n] {
                b'"' => {
                    self.at += 1;
                    return Some(start..self.at);
                }
                b'\\' => match self.src.get(self.at + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 2,
                    b'u' => {
                        let hex = self.src.get(self.at + 2..self.at + 6)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        self.at += 6;
                    }
                    _ => return None,
                },
                // A control character must be escaped.
                _ => return None,
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Parsed {
        if !self.src.get(self.at..)?.starts_with(word) {
            return None;
        }
        self.at += word.len();
        self.out.extend_from_slice(word);
        Some(())
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Parsed {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.digits().then_some(())?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.digits().then_some(())?;
        }
        self.out.extend_from_slice(&self.src[start..self.at]);
        Some(())
    }

    /// Skips digits; answers whether there was one.
    fn digits(&mut self) -> bool {
        let from = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        self.at > from
    }
}

#[cfg(test)]
mod tests;
