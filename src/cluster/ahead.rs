//! Entries started ahead of the last one applied.
//!
//! An entry whose ops are all [confined](crate::protocol::Request::confined_to)
//! to their conversations is started at once, and the reader goes on to the
//! next entry without waiting: a conversation takes its ops in log order
//! whatever the entries around them. What the reader must not do is say an
//! entry is applied (reads wait for that) before it and every entry before it
//! are. Its ops end on the conversations' threads, in any order; each ending
//! op reports here, and the last place applied moves only past a whole prefix
//! of the log. Waiting for each entry instead woke the reader's thread for
//! every op and kept it asleep while the entry was applied.

use std::collections::VecDeque;

/// The entries started and not yet applied, oldest first, each with how many
/// of its ops are still on their way.
#[derive(Debug, Default)]
pub(super) struct Ahead {
    entries: VecDeque<(u64, usize)>,
}

impl Ahead {
    /// Entry `seq` (after every entry already here) started `ops` ops.
    pub fn started(&mut self, seq: u64, ops: usize) {
        self.entries.push_back((seq, ops));
    }

    /// One op of entry `seq` was applied. Answers the new last place applied
    /// when that moved: the end of the prefix of entries now wholly applied.
    pub fn one_applied(&mut self, seq: u64) -> Option<u64> {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.0 == seq) {
            entry.1 = entry.1.saturating_sub(1);
        }
        let mut applied = None;
        while let Some(&(s, 0)) = self.entries.front() {
            self.entries.pop_front();
            applied = Some(s);
        }
        applied
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_place_applied_moves_past_whole_entries_only() {
        let mut ahead = Ahead::default();
        ahead.started(7, 2);
        ahead.started(8, 1);
        ahead.started(9, 1);
        // Entry 8 ends first: 7 is not applied yet, so nothing moves.
        assert_eq!(ahead.one_applied(8), None);
        assert_eq!(ahead.one_applied(7), None);
        // 7's last op: 7 and 8 are applied.
        assert_eq!(ahead.one_applied(7), Some(8));
        assert_eq!(ahead.len(), 1);
        assert_eq!(ahead.one_applied(9), Some(9));
        assert_eq!(ahead.len(), 0);
        // A report for an entry no longer here changes nothing.
        assert_eq!(ahead.one_applied(9), None);
    }
}
