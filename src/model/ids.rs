//! Identifiers: UUID newtypes and the user identity.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::Error;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh id: random (v4), or drawn from the op's stamp while
            /// one is applied (see [`Stamp`]).
            pub fn new() -> Self {
                $name(fresh())
            }

            /// Parses the hyphenated UUID form; `None` for anything else.
            pub fn parse(s: &str) -> Option<Self> {
                Uuid::try_parse(s).ok().map($name)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(
    /// A conversation's `id`.
    ConversationId
);
uuid_id!(
    /// A participant's `id`.
    ParticipantId
);
uuid_id!(
    /// A message's `id` (its `index` is separate).
    MessageId
);
uuid_id!(
    /// A reaction's `id`.
    ReactionId
);
uuid_id!(
    /// A media item's `id`.
    MediaId
);
uuid_id!(
    /// One connected session of a user.
    SessionId
);

/// When an op happens, and the seed of the ids it makes.
///
/// An op replayed from a cluster's log carries the stamp its log entry was
/// given, so every node that applies it makes the same ids and the same times.
/// A local op has none: it reads the clock and draws random ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// The op's time (Unix ms).
    pub at: u64,
    /// Where its ids come from.
    pub seed: u64,
    /// The log entry it comes from.
    #[serde(default)]
    pub entry: u64,
}

impl Stamp {
    /// A stamp for a later step of the same op, whose ids must not repeat the first step's.
    pub fn step(self, n: u64) -> Stamp {
        Stamp {
            seed: mix(self.seed ^ mix(n.wrapping_add(1))),
            ..self
        }
    }
}

thread_local! {
    /// The seed and the count of ids drawn from it, while a stamped op runs on this thread.
    static SEEDED: std::cell::Cell<Option<(u64, u64)>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with ids drawn from `stamp` (random ones without a stamp).
pub(crate) fn with_stamp<R>(stamp: Option<Stamp>, f: impl FnOnce() -> R) -> R {
    let Some(stamp) = stamp else { return f() };
    let before = SEEDED.with(|s| s.replace(Some((stamp.seed, 0))));
    let r = f();
    SEEDED.with(|s| s.set(before));
    r
}

fn fresh() -> Uuid {
    match SEEDED.with(|s| s.get()) {
        None => Uuid::new_v4(),
        Some((seed, n)) => {
            SEEDED.with(|s| s.set(Some((seed, n + 1))));
            let hi = mix(seed ^ mix(n));
            let lo = mix(hi ^ seed.rotate_left(32));
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&hi.to_le_bytes());
            bytes[8..].copy_from_slice(&lo.to_le_bytes());
            // Shaped as a v4 UUID, like the random ones.
            uuid::Builder::from_random_bytes(bytes).into_uuid()
        }
    }
}

/// splitmix64's finalizer: a bijection that spreads every input bit.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A user's identity: 1 to 256 characters, no control characters.
///
/// Cheap to clone (a shared string), since every participant, message and
/// session carries one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String)]
pub struct Identity(Arc<str>);

impl Identity {
    /// Checks the contract's form and wraps the string.
    pub fn parse(s: &str, max_chars: usize) -> Result<Self, Error> {
        check_name("identity", s, max_chars)?;
        if s.is_empty() {
            return Err(Error::bad("identity must not be empty"));
        }
        Ok(Identity(Arc::from(s)))
    }

    /// An identity read back from a store, which holds only checked ones.
    pub(crate) fn from_stored(s: &str) -> Self {
        Identity(Arc::from(s))
    }

    /// The identity as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Reads an identity from a server's answer as it is (the server checked it).
impl<'de> Deserialize<'de> for Identity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| Identity(Arc::from(s)))
    }
}

// `Arc<str>` hashes and compares as `str`, so maps keyed by Identity can be
// searched with a plain `&str`.
impl std::borrow::Borrow<str> for Identity {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a name's length (in characters) and that it has no control characters.
pub(crate) fn check_name(field: &str, s: &str, max_chars: usize) -> Result<(), Error> {
    // Byte length bounds the char count from above: skip counting for short names.
    if s.len() > max_chars && s.chars().count() > max_chars {
        return Err(Error::bad(format!(
            "{field} is longer than {max_chars} characters"
        )));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::bad(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_form() {
        assert!(Identity::parse("alice", 256).is_ok());
        assert!(Identity::parse("", 256).is_err());
        assert!(Identity::parse("a\nb", 256).is_err());
        assert!(Identity::parse(&"é".repeat(256), 256).is_ok());
        assert!(Identity::parse(&"é".repeat(257), 256).is_err());
    }

    #[test]
    fn stamped_ids_repeat_and_differ_by_step() {
        let stamp = Stamp {
            at: 1,
            seed: 42,
            entry: 1,
        };
        let draw = |s| with_stamp(Some(s), || (MessageId::new(), MessageId::new()));
        let (a, b) = draw(stamp);
        assert_eq!(draw(stamp), (a, b));
        assert_ne!(a, b);
        assert_ne!(draw(stamp.step(0)).0, a);
        assert_eq!(a.0.get_version_num(), 4);
        // Outside the stamped op, ids are random again.
        assert_ne!(MessageId::new(), a);
    }

    #[test]
    fn ids_round_trip() {
        let id = MessageId::new();
        assert_eq!(MessageId::parse(&id.to_string()), Some(id));
        assert_eq!(MessageId::parse("nope"), None);
    }
}
