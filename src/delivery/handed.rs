//! Which conversation events a session has been handed, so that none is
//! handed twice (see [`Outbox`](super::Outbox)).
//!
//! Live events of one conversation come in seq order from its one actor, so
//! per conversation they form one run `[first, last]`. Every delivery updates
//! the record, so the conversation pushed last is kept apart from the map:
//! a burst of one room's events, the common case, hashes nothing.

use std::collections::HashMap;

use crate::model::ConversationId;

type Run = (u64, u64);

#[derive(Debug, Default)]
pub(super) struct Handed {
    recent: Option<(ConversationId, Run)>,
    /// Boxed: most sessions never need it, and every outbox carries the record
    /// (an empty map is still 40 bytes inline; the box is 8).
    #[allow(clippy::box_collection)]
    others: Option<Box<HashMap<ConversationId, Run, foldhash::fast::RandomState>>>,
}

impl Handed {
    fn run(&self, c: ConversationId) -> Option<Run> {
        match self.recent {
            Some((rc, run)) if rc == c => Some(run),
            _ => self.others.as_ref()?.get(&c).copied(),
        }
    }

    /// Whether event `seq` of `c` was handed already.
    pub fn has(&self, c: ConversationId, seq: u64) -> bool {
        self.run(c)
            .is_some_and(|(first, last)| (first..=last).contains(&seq))
    }

    /// Records event `seq` of `c` as handed.
    pub fn note(&mut self, c: ConversationId, seq: u64) {
        let run = match self.recent {
            Some((rc, run)) if rc == c => Some(run),
            _ => {
                if let Some((rc, run)) = self.recent.take() {
                    self.others.get_or_insert_default().insert(rc, run);
                }
                self.others.as_mut().and_then(|o| o.remove(&c))
            }
        };
        let run = match run {
            Some((first, last)) if seq == last + 1 => (first, seq),
            Some(run) if seq <= run.1 => run,
            // New, or after a gap (the user left and came back): a new run.
            _ => (seq, seq),
        };
        self.recent = Some((c, run));
    }

    /// Forgets `c` (the session no longer follows it).
    pub fn forget(&mut self, c: ConversationId) {
        if self.recent.is_some_and(|(rc, _)| rc == c) {
            self.recent = None;
        }
        if let Some(o) = self.others.as_mut() {
            o.remove(&c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_per_conversation() {
        let (a, b) = (ConversationId::new(), ConversationId::new());
        let mut h = Handed::default();
        for seq in 3..=5 {
            h.note(a, seq);
        }
        h.note(b, 1);
        h.note(a, 6);
        assert!(h.has(a, 3) && h.has(a, 6) && !h.has(a, 2) && !h.has(a, 7));
        assert!(h.has(b, 1) && !h.has(b, 2));
        // A gap starts a new run.
        h.note(a, 9);
        assert!(h.has(a, 9) && !h.has(a, 6));
        h.forget(a);
        assert!(!h.has(a, 9) && h.has(b, 1));
    }
}
