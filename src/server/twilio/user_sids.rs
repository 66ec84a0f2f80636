//! Which identity a `US` sid names. A sid is a hash of its identity, so it
//! cannot be read back; without this index a fetch by sid hashed every user
//! the engine knows (3 ms at 5,000 users, BENCHMARKS.md "Users").

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use super::wire::user_sid;
use crate::engine::Engine;
use crate::model::Identity;

/// The sids of the users seen so far. The engine never forgets a user, so the
/// index only grows, and a sid it lacks is looked for among the users it has
/// not seen yet: each identity is hashed once.
#[derive(Debug, Default)]
pub(crate) struct UserSids(Mutex<Seen>);

#[derive(Debug, Default)]
struct Seen {
    by_sid: HashMap<String, Identity>,
    hashed: HashSet<Identity>,
}

impl UserSids {
    /// The identity whose sid is `sid`, if the engine knows one.
    pub fn identity(&self, engine: &Engine, sid: &str) -> Option<Identity> {
        if !sid.starts_with("US") {
            return None;
        }
        // Poisoning cannot leave the maps inconsistent (each insert pairs
        // with its own), so a panic elsewhere does not lock the face out.
        let mut seen = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(identity) = seen.by_sid.get(sid) {
            return Some(identity.clone());
        }
        if seen.hashed.len() < engine.user_count() {
            let Seen { by_sid, hashed } = &mut *seen;
            engine.each_identity(|identity| {
                if hashed.insert(identity.clone()) {
                    by_sid.insert(user_sid(identity.as_str()), identity.clone());
                }
            });
        }
        seen.by_sid.get(sid).cloned()
    }
}
