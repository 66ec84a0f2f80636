//! An encoded frame, in the encoding every client gets by default (v1 JSON)
//! and, made on first need and then shared, the compact one (`docs/PROTOCOL.md`,
//! "Compact frames").
//!
//! An event is serialized once however many sessions get it: cloning a
//! [`Frame`] bumps a reference count. A session that asked for compact frames
//! takes [`Frame::encoded`]`(Encoding::Compact)`; the first such session
//! makes that form from the v1 bytes and every later one shares it, so an
//! event costs one extra encoding only when some recipient wants it.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use bytestring::ByteString;

mod compact;
use compact::compact;

/// How a session wants its frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Encoding {
    /// The contract's JSON, every field present.
    #[default]
    V1,
    /// The same JSON, members in the same order, without those whose value
    /// is `null`, `[]` or `{}`.
    Compact,
}

impl Encoding {
    /// Parses `?encoding=`: `v1` or `compact`.
    pub fn parse(s: &str) -> Option<Encoding> {
        match s {
            "v1" => Some(Encoding::V1),
            "compact" => Some(Encoding::Compact),
            _ => None,
        }
    }
}

/// An encoded text frame, shared by every recipient.
#[derive(Clone)]
pub struct Frame(Arc<Forms>);

struct Forms {
    v1: ByteString,
    compact: OnceLock<ByteString>,
}

impl Frame {
    /// The frame in the given encoding.
    pub fn encoded(&self, e: Encoding) -> ByteString {
        match e {
            Encoding::V1 => self.0.v1.clone(),
            Encoding::Compact => self.compact().clone(),
        }
    }

    /// The frame's text in the given encoding, borrowed: a writer copies it
    /// into its batch from here, without a reference count to bump and drop.
    pub fn text(&self, e: Encoding) -> &str {
        match e {
            Encoding::V1 => &self.0.v1,
            Encoding::Compact => self.compact(),
        }
    }

    fn compact(&self) -> &ByteString {
        self.0
            .compact
            .get_or_init(|| ByteString::from(compact(&self.0.v1)))
    }

    /// The v1 text.
    pub fn as_str(&self) -> &str {
        &self.0.v1
    }
}

impl From<String> for Frame {
    fn from(s: String) -> Frame {
        Frame(Arc::new(Forms {
            v1: ByteString::from(s),
            compact: OnceLock::new(),
        }))
    }
}

impl From<&str> for Frame {
    fn from(s: &str) -> Frame {
        Frame::from(s.to_string())
    }
}

impl Deref for Frame {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0.v1
    }
}

impl AsRef<str> for Frame {
    fn as_ref(&self) -> &str {
        &self.0.v1
    }
}

impl PartialEq for Frame {
    fn eq(&self, other: &Frame) -> bool {
        self.0.v1 == other.0.v1
    }
}

impl Eq for Frame {}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0.v1, f)
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.v1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compact_form_is_made_once_and_shared() {
        let f = Frame::from(r#"{"a":null,"b":1}"#);
        let g = f.clone();
        assert_eq!(&*f.encoded(Encoding::Compact), r#"{"b":1}"#);
        assert_eq!(&*f.encoded(Encoding::V1), r#"{"a":null,"b":1}"#);
        let (x, y) = (f.encoded(Encoding::Compact), g.encoded(Encoding::Compact));
        assert_eq!(x.as_bytes().as_ptr(), y.as_bytes().as_ptr());
        assert_eq!(compact("not json"), "not json");
        // Members keep v1's order: `event` (or `re`) still comes first.
        assert_eq!(
            compact(r#"{"event":"x","z":null,"data":{"b":1,"a":[]},"conversation":"c"}"#),
            r#"{"event":"x","data":{"b":1},"conversation":"c"}"#
        );
    }
}
