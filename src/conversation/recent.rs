//! Which records of a conversation changed at which cluster log position,
//! for a delta snapshot made of only those (`cluster/snapshots.rs`).
//!
//! Pure data. A cluster node notes every op's changed places here instead of
//! writing them to a journal, and forgets those older than the snapshot
//! before last: a delta is always on one of the last two snapshots unless
//! one failed, and for an older base the conversation is written whole.
//!
//! Noting is on every op of every node, and asking only on the node taking
//! a snapshot, once per snapshot: so changes are kept as a list in the order
//! of their positions (a push per place), not as a map by place (a B-tree
//! insert per place, 4-5 % of a node's CPU when it applied ops it held no
//! session of), and the asking sorts out each place once. A place changed
//! again is listed again, so the lists hold a few items per op of the last
//! two intervals (the map of kept events already held one per op).

use std::collections::VecDeque;

/// Changes by log position, oldest first: participants (by joining place),
/// messages (by index) and kept events (by seq), each as (position, place).
#[derive(Debug, Default)]
pub(crate) struct Recent {
    participants: VecDeque<(u64, u64)>,
    messages: VecDeque<(u64, u64)>,
    events: VecDeque<(u64, u64)>,
    /// Changes at or before this position are forgotten.
    forgotten: u64,
}

/// The places changed after a position: participants, messages, events.
pub(crate) type Changed = (Vec<u64>, Vec<u64>, Vec<u64>);

impl Recent {
    /// Notes the places an op applied at log `position` changed.
    pub fn note(&mut self, position: u64, participants: &[u64], messages: &[u64], events: &[u64]) {
        for (list, places) in [
            (&mut self.participants, participants),
            (&mut self.messages, messages),
            (&mut self.events, events),
        ] {
            for &place in places {
                // A conversation applies its ops in log order, so this is a
                // push; a position behind the last still goes in its place.
                match list.back() {
                    Some(&(last, _)) if last > position => {
                        let at = list.partition_point(|&(at, _)| at <= position);
                        list.insert(at, (position, place));
                    }
                    _ => list.push_back((position, place)),
                }
            }
        }
    }

    /// Forgets the changes at or before `position`.
    pub fn forget_upto(&mut self, position: u64) {
        if position <= self.forgotten {
            return;
        }
        self.forgotten = position;
        for list in [&mut self.participants, &mut self.messages, &mut self.events] {
            let old = list.partition_point(|&(at, _)| at <= position);
            list.drain(..old);
        }
    }

    /// The places changed after `position`, in order, each once; None if
    /// some of them may be forgotten.
    pub fn since(&self, position: u64) -> Option<Changed> {
        if position < self.forgotten {
            return None;
        }
        let after = |list: &VecDeque<(u64, u64)>| {
            let from = list.partition_point(|&(at, _)| at <= position);
            let mut places: Vec<u64> = list.range(from..).map(|&(_, place)| place).collect();
            places.sort_unstable();
            places.dedup();
            places
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
    fn an_older_place_changed_later_is_after_the_later_position() {
        let mut r = Recent::default();
        r.note(10, &[], &[7], &[]);
        r.note(11, &[], &[8], &[]);
        // An edit of message 3 at 12: listed in order, after 11.
        r.note(12, &[], &[3], &[]);
        assert_eq!(r.since(11), Some((vec![], vec![3], vec![])));
        assert_eq!(r.since(9), Some((vec![], vec![3, 7, 8], vec![])));
    }

    #[test]
    fn a_position_noted_behind_the_last_still_counts_in_its_place() {
        let mut r = Recent::default();
        r.note(10, &[], &[1], &[]);
        r.note(20, &[], &[2], &[]);
        r.note(15, &[], &[3], &[]);
        assert_eq!(r.since(12), Some((vec![], vec![2, 3], vec![])));
        assert_eq!(r.since(17), Some((vec![], vec![2], vec![])));
        r.forget_upto(15);
        assert_eq!(r.since(15), Some((vec![], vec![2], vec![])));
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
        assert!(r.participants.is_empty() && r.messages.is_empty() && r.events.is_empty());
    }
}
