//! Which records of a conversation changed at which cluster log position,
//! for a delta snapshot made of only those (`cluster/snapshots.rs`).
//!
//! Pure data. A cluster node notes every op's changed places here instead of
//! writing them to a journal, and forgets those older than the snapshot
//! before last: a delta is always on one of the last two snapshots unless
//! one failed, and for an older base the conversation is written whole.

use std::collections::BTreeMap;

/// Changed places by log position: participants (by joining place),
/// messages (by index) and kept events (by seq).
#[derive(Debug, Default)]
pub(crate) struct Recent {
    participants: BTreeMap<u64, u64>,
    messages: BTreeMap<u64, u64>,
    events: BTreeMap<u64, u64>,
    /// Changes at or before this position are forgotten.
    forgotten: u64,
}

/// The places changed after a position: participants, messages, events.
pub(crate) type Changed = (Vec<u64>, Vec<u64>, Vec<u64>);

impl Recent {
    /// Notes the places an op applied at log `position` changed.
    pub fn note(&mut self, position: u64, participants: &[u64], messages: &[u64], events: &[u64]) {
        for (map, places) in [
            (&mut self.participants, participants),
            (&mut self.messages, messages),
            (&mut self.events, events),
        ] {
            for &place in places {
                map.insert(place, position);
            }
        }
    }

    /// Forgets the changes at or before `position`.
    pub fn forget_upto(&mut self, position: u64) {
        if position <= self.forgotten {
            return;
        }
        self.forgotten = position;
        for map in [&mut self.participants, &mut self.messages, &mut self.events] {
            map.retain(|_, at| *at > position);
        }
    }

    /// The places changed after `position`, in order; None if some of them
    /// may be forgotten.
    pub fn since(&self, position: u64) -> Option<Changed> {
        if position < self.forgotten {
            return None;
        }
        let after = |map: &BTreeMap<u64, u64>| {
            map.iter()
                .filter(|(_, at)| **at > position)
                .map(|(place, _)| *place)
                .collect()
        };
        Some((
            after(&self.participants),
            after(&self.messages),
            after(&self.events),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_the_places_changed_after_a_position_each_once() {
        let mut r = Recent::default();
        r.note(10, &[0], &[5, 6], &[20]);
        r.note(12, &[], &[6, 7], &[21, 22]);
        r.note(15, &[1], &[], &[23]);
        assert_eq!(
            r.since(0),
            Some((vec![0, 1], vec![5, 6, 7], vec![20, 21, 22, 23]))
        );
        // Message 6 changed again at 12: it is there, once.
        assert_eq!(r.since(10), Some((vec![1], vec![6, 7], vec![21, 22, 23])));
        assert_eq!(r.since(15), Some((vec![], vec![], vec![])));
    }

    #[test]
    fn a_position_older_than_what_is_forgotten_has_no_answer() {
        let mut r = Recent::default();
        r.note(10, &[0], &[5], &[20]);
        r.note(20, &[], &[6], &[21]);
        r.forget_upto(10);
        assert_eq!(r.since(10), Some((vec![], vec![6], vec![21])));
        assert_eq!(r.since(9), None, "what changed at 10 is forgotten");
        // Forgetting goes forward only.
        r.forget_upto(5);
        assert_eq!(r.since(9), None);
        r.forget_upto(20);
        assert_eq!(r.since(20), Some((vec![], vec![], vec![])));
        assert!(r.messages.is_empty() && r.events.is_empty());
    }
}
