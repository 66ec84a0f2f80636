//! Who is typing in one conversation, and until when.
//!
//! Each typist has a deadline that `typing.start` pushes forward. One timer per
//! typist is armed at a time: when it fires early (the deadline moved), it is
//! armed again for the rest, so refreshes cost no extra timers.
//!
//! On a cluster node, a `typing.start` asked on another node comes as a
//! signal beside the log, not in it (`cluster/signals.rs`), and may come
//! after the message its typist sent next, which ended that typing: the
//! signal names the last log entry its node had started, and a start from
//! before the entry of the typist's last message is stale.

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
    /// On a cluster node: the log entry of each member's last message.
    sent_at: HashMap<Identity, u64>,
}

/// What a `start` did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Started {
    /// The user was not typing: announce it and arm a timer for this long.
    New(Duration),
    /// Already typing: the deadline moved, the armed timer will see it.
    Refreshed,
    /// A signal from before the user's last message: nothing to do.
    Stale,
}

impl Typing {
    /// `after`: for a signal from another node, the last log entry that node
    /// had started.
    pub fn start(
        &mut self,
        who: &Identity,
        now: Duration,
        timeout: Duration,
        after: Option<u64>,
    ) -> Started {
        if let (Some(after), Some(&sent)) = (after, self.sent_at.get(who)) {
            if sent > after {
                return Started::Stale;
            }
        }
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

    /// The user sent a message: typing ends, and on a cluster node (`entry`
    /// given) signals from before that entry are stale. True if the user was
    /// typing.
    pub fn sent(&mut self, who: &Identity, entry: Option<u64>) -> bool {
        if let Some(entry) = entry {
            self.sent_at.insert(who.clone(), entry);
        }
        self.stop(who)
    }

    /// The user left: typing ends, and nothing of it is kept. True if the
    /// user was typing.
    pub fn forget(&mut self, who: &Identity) -> bool {
        self.sent_at.remove(who);
        self.stop(who)
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
        assert_eq!(t.start(&alice, t0, to, None), Started::New(to));
        assert_eq!(
            t.start(&alice, t0 + Duration::from_millis(60), to, None),
            Started::Refreshed
        );
        assert_eq!(t.fire(&alice, t0 + to), Err(Duration::from_millis(60)));
        assert_eq!(t.fire(&alice, t0 + Duration::from_millis(160)), Ok(true));
        assert_eq!(t.fire(&alice, t0 + Duration::from_millis(200)), Ok(false));
        t.start(&alice, t0, to, None);
        assert!(t.stop(&alice));
        assert!(!t.is_typing(&alice));
    }

    #[test]
    fn a_signal_from_before_the_typists_last_message_is_stale() {
        let alice = Identity::parse("alice", 256).unwrap();
        let (t0, to) = (Duration::from_secs(7), Duration::from_millis(100));
        let mut t = Typing::default();
        assert_eq!(t.start(&alice, t0, to, Some(9)), Started::New(to));
        assert!(t.sent(&alice, Some(10)));
        // Typed before the message of entry 10 (its node had started 9).
        assert_eq!(t.start(&alice, t0, to, Some(9)), Started::Stale);
        assert!(!t.is_typing(&alice));
        // Typed after it, and a start asked here, are not.
        assert_eq!(t.start(&alice, t0, to, Some(10)), Started::New(to));
        assert!(t.stop(&alice));
        assert_eq!(t.start(&alice, t0, to, None), Started::New(to));
        // Gone and back, nothing of before is held against the user.
        assert!(t.forget(&alice));
        assert_eq!(t.start(&alice, t0, to, Some(3)), Started::New(to));
    }
}
