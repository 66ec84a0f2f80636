//! Which arbiter a session's socket runs on: the one running most of its
//! user's conversations.
//!
//! A conversation fans out to the sessions of its members, and each session
//! sends its requests to the conversation. When the two run on different
//! arbiters, every message crosses threads twice and the other thread writes
//! its sockets in smaller batches: a room of ten spent 2.5× the CPU per
//! delivery with its sessions spread over two arbiters (docs/BENCHMARKS.md,
//! "A session with its user's conversations"). Conversations themselves take
//! the arbiters in turn, so many rooms still spread over every thread. A
//! session placed before its user joined anything moves once it has
//! (`server/ws/moving.rs`, with `Engine::better_place`).

use std::sync::atomic::Ordering;

use actix::prelude::*;

use super::Engine;
use crate::model::Identity;

/// Where a session runs: an engine arbiter and its index among them.
#[derive(Clone)]
pub(crate) struct Place {
    pub index: usize,
    pub arbiter: ArbiterHandle,
}

impl Engine {
    /// Where a transport should run a new session of `user`: the arbiter
    /// that runs most of the user's conversations; a user in none (or in as
    /// many on several) takes the arbiters in turn.
    pub(crate) fn session_place(&self, user: &Identity) -> Place {
        self.place(self.placement(user))
    }

    /// Where a session of `user` running on arbiter `current` should move
    /// once its user's conversations changed: an arbiter that runs strictly
    /// more of them than `current` does (the first such, among equals), or
    /// None to stay.
    pub(crate) fn better_place(&self, user: &Identity, current: usize) -> Option<Place> {
        let held = self.held(user);
        let here = held.get(current).copied().unwrap_or(0);
        let best = busiest(&held, current);
        (held.get(best).copied().unwrap_or(0) > here).then(|| self.place(best))
    }

    fn place(&self, index: usize) -> Place {
        let index = index.min(self.inner.arbiters.len().saturating_sub(1));
        Place {
            index,
            arbiter: self.inner.arbiters[index].clone(),
        }
    }

    fn placement(&self, user: &Identity) -> usize {
        busiest(
            &self.held(user),
            self.inner.next_arbiter.fetch_add(1, Ordering::Relaxed),
        )
    }

    /// How many of `user`'s conversations each arbiter runs.
    fn held(&self, user: &Identity) -> Vec<usize> {
        let shared = self.shared();
        let mut held = vec![0usize; self.inner.arbiters.len()];
        if let Some(hub) = shared.users.get(user) {
            for c in hub.conversations() {
                if let Some(n) = shared
                    .conversations
                    .get(&c)
                    .and_then(|h| held.get_mut(h.arbiter))
                {
                    *n += 1;
                }
            }
        }
        held
    }
}

/// The index with the most `held`; among equals, the first from `turn` on.
fn busiest(held: &[usize], turn: usize) -> usize {
    let n = held.len().max(1);
    let turn = turn % n;
    let mut best = turn;
    for i in (1..n).map(|k| (turn + k) % n) {
        if held.get(i) > held.get(best) {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::ConversationId;
    use crate::Config;

    #[test]
    fn the_most_conversations_win_and_ties_take_turns() {
        assert_eq!(busiest(&[0, 3, 1], 0), 1);
        assert_eq!(busiest(&[2, 0, 2], 1), 2);
        assert_eq!(busiest(&[2, 0, 2], 0), 0);
        let turns: Vec<usize> = (0..4).map(|t| busiest(&[0, 0], t)).collect();
        assert_eq!(turns, [0, 1, 0, 1]);
        assert_eq!(busiest(&[5], 7), 0);
    }

    #[tokio::test]
    async fn a_session_goes_where_its_users_conversations_run() {
        let engine = Engine::start(Config {
            arbiters: 2,
            ..Config::default()
        })
        .expect("engine");
        let alice = Identity::parse("alice", 64).expect("identity");
        let bob = Identity::parse("bob", 64).expect("identity");
        let carol = Identity::parse("carol", 64).expect("identity");
        // Nobody in a conversation yet: the arbiters in turn.
        let first = engine.placement(&carol);
        assert_ne!(engine.placement(&carol), first);

        let creator = engine.connect("alice").await.expect("connect");
        let mut made = Vec::new();
        for _ in 0..3 {
            let c = creator
                .request_json(json!({"op": "conversation.create", "participants": ["bob"]}))
                .await
                .expect("create");
            let id = c["id"]
                .as_str()
                .and_then(ConversationId::parse)
                .expect("id");
            made.push(
                engine
                    .shared()
                    .conversations
                    .get(&id)
                    .expect("handle")
                    .arbiter,
            );
        }
        // Three conversations over two arbiters: one runs two of them.
        let most = if made.iter().filter(|&&a| a == 0).count() >= 2 {
            0
        } else {
            1
        };
        for _ in 0..4 {
            assert_eq!(engine.placement(&alice), most);
            assert_eq!(engine.placement(&bob), most);
        }
        // Carol is in none of them: still in turn.
        assert_ne!(engine.placement(&carol), engine.placement(&carol));
        // A session of alice's on the other arbiter should move; one where
        // most of them run, or carol's anywhere, stays.
        let moved = engine.better_place(&alice, 1 - most).map(|p| p.index);
        assert_eq!(moved, Some(most));
        assert!(engine.better_place(&alice, most).is_none());
        assert!(engine.better_place(&carol, 0).is_none());
        assert!(engine.better_place(&carol, 1).is_none());
        engine.shutdown();
    }
}
