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
            /// A fresh random (v4) id.
            pub fn new() -> Self {
                $name(Uuid::new_v4())
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
    fn ids_round_trip() {
        let id = MessageId::new();
        assert_eq!(MessageId::parse(&id.to_string()), Some(id));
        assert_eq!(MessageId::parse("nope"), None);
    }
}
