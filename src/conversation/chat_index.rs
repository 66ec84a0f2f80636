//! Where the chat messages of a log are, in all and per author: what an
//! unread count and `last_message` are computed from.
//!
//! A member's unread count is asked for every view of a conversation, and a
//! `conversationUpdated` renders one for each connected member: counting
//! messages one by one made a rename in a room of 100 with 10,000 unread
//! messages cost 12 times one without (BENCHMARKS.md, "Unread counts").
//! Here a count is two binary searches. Indexes only grow, so a new message
//! goes at the back; a delete or an eviction takes one out.

use std::collections::{HashMap, VecDeque};

use crate::model::Identity;

#[derive(Debug, Default)]
pub(crate) struct ChatIndex {
    /// The indexes of the chat messages held, ascending.
    all: VecDeque<u64>,
    /// The same, per author; an author with none held has no entry.
    by_author: HashMap<Identity, VecDeque<u64>>,
}

impl ChatIndex {
    pub fn insert(&mut self, index: u64, author: Option<&Identity>) {
        put(&mut self.all, index);
        if let Some(a) = author {
            put(self.by_author.entry(a.clone()).or_default(), index);
        }
    }

    pub fn remove(&mut self, index: u64, author: Option<&Identity>) {
        take(&mut self.all, index);
        if let Some(a) = author {
            if let Some(own) = self.by_author.get_mut(a) {
                take(own, index);
                if own.is_empty() {
                    self.by_author.remove(a);
                }
            }
        }
    }

    /// Chat messages with index `from` or above not written by `who`.
    pub fn unread(&self, who: &Identity, from: u64) -> u64 {
        let own = self.by_author.get(who).map_or(0, |d| from_on(d, from));
        (from_on(&self.all, from) - own) as u64
    }

    /// The index of the newest chat message.
    pub fn last(&self) -> Option<u64> {
        self.all.back().copied()
    }
}

fn put(d: &mut VecDeque<u64>, index: u64) {
    match d.back() {
        Some(&last) if last >= index => {
            // Only when a store is read back out of order.
            let at = d.partition_point(|&i| i < index);
            if d.get(at) != Some(&index) {
                d.insert(at, index);
            }
        }
        _ => d.push_back(index),
    }
}

fn take(d: &mut VecDeque<u64>, index: u64) {
    if d.front() == Some(&index) {
        d.pop_front();
    } else if let Ok(at) = d.binary_search(&index) {
        d.remove(at);
    }
}

/// How many of `d` are `from` or above.
fn from_on(d: &VecDeque<u64>, from: u64) -> usize {
    d.len() - d.partition_point(|&i| i < from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Identity {
        Identity::parse(s, 256).unwrap()
    }

    /// The count as the contract words it, message by message.
    fn counted(held: &[(u64, &str)], who: &str, from: u64) -> u64 {
        held.iter().filter(|(i, a)| *i >= from && *a != who).count() as u64
    }

    #[test]
    fn counts_what_others_wrote_from_an_index_through_deletes_and_evictions() {
        let (alice, bob) = (id("alice"), id("bob"));
        let mut x = ChatIndex::default();
        let mut held: Vec<(u64, &str)> = Vec::new();
        for i in 0..40u64 {
            let who = if i % 3 == 0 { "alice" } else { "bob" };
            x.insert(i, Some(&id(who)));
            held.push((i, who));
        }
        // A delete in the middle, one at either end, and the oldest evicted.
        for gone in [17u64, 39, 0, 1, 2] {
            let at = held.iter().position(|(i, _)| *i == gone).unwrap();
            let (_, who) = held.remove(at);
            x.remove(gone, Some(&id(who)));
        }
        for from in 0..45 {
            assert_eq!(x.unread(&alice, from), counted(&held, "alice", from));
            assert_eq!(x.unread(&bob, from), counted(&held, "bob", from));
            assert_eq!(x.unread(&id("carol"), from), counted(&held, "carol", from));
        }
        assert_eq!(x.last(), Some(38));
    }

    #[test]
    fn an_author_with_nothing_left_is_forgotten_and_order_holds_read_back_out_of_order() {
        let (alice, bob) = (id("alice"), id("bob"));
        let mut x = ChatIndex::default();
        for i in [5u64, 2, 9, 2] {
            x.insert(i, Some(&alice));
        }
        x.insert(7, Some(&bob));
        assert_eq!(x.unread(&bob, 0), 3);
        assert_eq!(x.unread(&bob, 6), 1);
        for i in [2u64, 5, 9] {
            x.remove(i, Some(&alice));
        }
        assert!(!x.by_author.contains_key(&alice));
        assert_eq!(x.unread(&alice, 0), 1);
        assert_eq!(x.last(), Some(7));
        x.remove(7, Some(&bob));
        assert_eq!(x.last(), None);
        assert_eq!(x.unread(&alice, 0), 0);
    }
}
