//! Which arbiter a session's socket runs on: the one running most of its
//! user's conversations.
//!
//! A conversation fans out to the sessions of its members, and each session
//! sends its requests to the conversation. When the two run on different
//! arbiters, every message crosses threads twice and the other thread writes
//! its sockets in smaller batches: a room of ten spent 2.5× the CPU per
//! delivery with its sessions spread over two arbiters (docs/BENCHMARKS.md,
//! "A session with its user's conversations"). Conversations themselves take
//! the arbiters in turn, so many rooms still spread over every thread.

use std::sync::atomic::Ordering;

use actix::prelude::*;

use super::Engine;
use crate::model::Identity;

impl Engine {
    /// The arbiter for a transport to run a session of `user` on.
    pub(crate) fn session_arbiter(&self, user: &Identity) -> ArbiterHandle {
        self.inner.arbiters[self.placement(user)].clone()
    }

    /// The index of that arbiter: the one that runs most of the user's
    /// conversations; a user in none (or in as many on several) takes the
    /// arbiters in turn.
    fn placement(&self, user: &Identity) -> usize {
        let n = self.inner.arbiters.len();
        let shared = self.shared();
        let mut held = vec![0usize; n];
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
        busiest(
            &held,
            self.inner.next_arbiter.fetch_add(1, Ordering::Relaxed),
        )
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
        engine.shutdown();
    }
}
