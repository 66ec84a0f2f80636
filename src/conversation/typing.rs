//! Who is typing in one conversation, and until when.
//!
//! Each typist has a deadline that `typing.start` pushes forward. One timer per
//! typist is armed at a time: when it fires early (the deadline moved), it is
//! armed again for the rest, so refreshes cost no extra timers.

use std::collections::HashMap;
use std::time::Duration;

use crate::model::Identity;

#[derive(Debug)]
struct Typist {
    /// On the engine clock ([`Clock::elapsed`](crate::Clock::elapsed)).
    until: Duration,
}

#[derive(Debug, Default)]
pub(crate) struct Typing {
    active: HashMap<Identity, Typist>,
}

/// What a `start` did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Started {
    /// The user was not typing: announce it and arm a timer for this long.
    New(Duration),
    /// Already typing: the deadline moved, the armed timer will see it.
    Refreshed,
}

impl Typing {
    pub fn start(&mut self, who: &Identity, now: Duration, timeout: Duration) -> Started {
        match self.active.get_mut(who) {
            Some(t) => {
                t.until = now + timeout;
                Started::Refreshed
            }
            None => {
                self.active.insert(
                    who.clone(),
                    Typist {
                        until: now + timeout,
                    },
                );
                Started::New(timeout)
            }
        }
    }

    /// Ends typing now; true if the user was typing.
    pub fn stop(&mut self, who: &Identity) -> bool {
        self.active.remove(who).is_some()
    }

    /// A timer fired. `Ok(true)`: typing ended now. `Err(d)`: still typing, arm again for `d`.
    /// `Ok(false)`: nothing to do (typing already ended).
    pub fn fire(&mut self, who: &Identity, now: Duration) -> Result<bool, Duration> {
        match self.active.get(who) {
            None => Ok(false),
            Some(t) if t.until > now => Err(t.until - now),
            Some(_) => {
                self.active.remove(who);
                Ok(true)
            }
        }
    }

    #[cfg(test)]
    pub fn is_typing(&self, who: &Identity) -> bool {
        self.active.contains_key(who)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_pushes_the_deadline() {
        let alice = Identity::parse("alice", 256).unwrap();
        let t0 = Duration::from_secs(7);
        let to = Duration::from_millis(100);
        let mut t = Typing::default();
        assert_eq!(t.start(&alice, t0, to), Started::New(to));
        assert_eq!(
            t.start(&alice, t0 + Duration::from_millis(60), to),
            Started::Refreshed
        );
        assert_eq!(t.fire(&alice, t0 + to), Err(Duration::from_millis(60)));
        assert_eq!(t.fire(&alice, t0 + Duration::from_millis(160)), Ok(true));
        assert_eq!(t.fire(&alice, t0 + Duration::from_millis(200)), Ok(false));
        t.start(&alice, t0, to);
        assert!(t.stop(&alice));
        assert!(!t.is_typing(&alice));
    }
}
