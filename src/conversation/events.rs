//! The conversation's event sequence and the window kept for replay.
//!
//! `seq` counts conversation events from 1 without gaps. The last `window`
//! events are kept as encoded frames so that `events.replay` resends the very
//! bytes that were first delivered.

use std::collections::VecDeque;

use crate::model::Conversation;
use crate::protocol::Frame;

/// One kept event.
#[derive(Debug, Clone)]
pub(crate) enum Stored {
    /// The same frame for every recipient.
    Shared(Frame),
    /// A `messageAdded`, the same frame for every recipient, whose `data`
    /// (from byte `at`) is message `index` as it was sent. While that
    /// message is unchanged, its record is those very bytes, so a snapshot
    /// holds the event as a reference to it (`persist.rs`).
    Added { frame: Frame, index: u64, at: usize },
    /// `conversationUpdated`, whose conversation carries each recipient's own
    /// fields (status, read horizon, unread count): rendered per user.
    ConversationUpdated {
        conversation: Box<Conversation>,
        reasons: Vec<&'static str>,
    },
}

#[derive(Debug)]
pub(crate) struct EventLog {
    seq: u64,
    kept: VecDeque<(u64, Stored)>,
    window: usize,
    /// Seqs kept since the journal last looked.
    touched: Vec<u64>,
}

impl EventLog {
    pub fn new(window: usize) -> Self {
        EventLog {
            seq: 0,
            kept: VecDeque::new(),
            window,
            touched: Vec::new(),
        }
    }

    /// Restores the sequence and the kept events (reading a store back; oldest first).
    pub fn restore(&mut self, seq: u64, kept: impl IntoIterator<Item = (u64, Stored)>) {
        self.seq = seq;
        for (s, e) in kept {
            self.keep_quietly(s, e);
        }
    }

    /// How many events are kept.
    pub fn window(&self) -> usize {
        self.window
    }

    /// A kept event, by seq.
    pub fn get(&self, seq: u64) -> Option<&Stored> {
        let first = self.kept.front()?.0;
        let (s, e) = self
            .kept
            .get(usize::try_from(seq.checked_sub(first)?).ok()?)?;
        (*s == seq).then_some(e)
    }

    /// The kept events, oldest first.
    pub fn kept(&self) -> impl Iterator<Item = &(u64, Stored)> + '_ {
        self.kept.iter()
    }

    /// The seqs of the kept events, oldest first.
    pub fn seqs(&self) -> impl Iterator<Item = u64> + '_ {
        self.kept.iter().map(|(s, _)| *s)
    }

    /// The seqs kept since the last call.
    pub fn take_touched(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.touched)
    }

    /// The seqs changed since the journal last looked.
    pub fn touched(&self) -> &[u64] {
        &self.touched
    }

    /// Forgets the changed seqs, keeping the buffer.
    pub fn clear_touched(&mut self) {
        self.touched.clear();
    }

    /// The seq of the last event.
    pub fn last_seq(&self) -> u64 {
        self.seq
    }

    /// Takes the next seq. The caller encodes the event with it and then [`keep`]s it.
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn keep(&mut self, seq: u64, e: Stored) {
        if self.window > 0 {
            self.touched.push(seq);
        }
        self.keep_quietly(seq, e);
    }

    fn keep_quietly(&mut self, seq: u64, e: Stored) {
        if self.window == 0 {
            return;
        }
        if self.kept.len() == self.window {
            self.kept.pop_front();
        }
        self.kept.push_back((seq, e));
    }

    /// Every kept event after `since`, or None when some of them are no longer kept
    /// (or `since` is beyond the last seq, which this conversation never issued).
    pub fn since(&self, since: u64) -> Option<impl Iterator<Item = &(u64, Stored)>> {
        if since > self.seq {
            return None;
        }
        if since < self.seq {
            let first = self.kept.front().map_or(self.seq + 1, |(s, _)| *s);
            if first > since + 1 {
                return None;
            }
        }
        Some(self.kept.iter().filter(move |(s, _)| *s > since))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_with(n: u64, window: usize) -> EventLog {
        let mut l = EventLog::new(window);
        for _ in 0..n {
            let s = l.next_seq();
            l.keep(s, Stored::Shared(Frame::from(s.to_string())));
        }
        l
    }

    #[test]
    fn replays_exactly_the_window() {
        let l = log_with(10, 4);
        assert_eq!(l.since(6).unwrap().count(), 4);
        assert_eq!(l.since(10).unwrap().count(), 0);
        assert!(l.since(5).is_none());
        assert!(l.since(11).is_none());
        let seqs: Vec<u64> = l.since(7).unwrap().map(|(s, _)| *s).collect();
        assert_eq!(seqs, vec![8, 9, 10]);
    }

    #[test]
    fn zero_window_recovers_only_when_current() {
        let l = log_with(3, 0);
        assert_eq!(l.since(3).unwrap().count(), 0);
        assert!(l.since(2).is_none());
    }
}
