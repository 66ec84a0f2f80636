//! Applying a log entry's ops to the same end as one after another, without
//! waiting for a conversation's answer before starting on the next
//! conversation's op.
//!
//! Each op costs a round trip to its conversation's actor, on another thread.
//! Applied strictly one at a time, a node spent more time waiting and waking
//! up than applying. But most ops (sends, edits, reads, typing) change one
//! conversation and nothing another op reads, so such ops of different
//! conversations may be applied at once: every node ends in the same state
//! whichever finishes first. An op that may touch more (create, rename,
//! membership, profiles) waits for everything before it, and everything
//! after it waits for it.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;

use futures_util::future::join_all;

/// Applies `ops` in lanes and answers whether `apply` answered true for any.
/// `lane` names the lane of an op, or None for an op that must run alone; it
/// is asked only once every op before the last lone one has been applied, so
/// it may look at the state they made (a conversation created just before).
/// Ops of one lane are applied in their order.
pub(super) async fn apply<T, K, F>(
    ops: Vec<T>,
    mut lane: impl FnMut(&T) -> Option<K>,
    apply: impl Fn(T) -> F,
) -> bool
where
    K: Hash + Eq,
    F: Future<Output = bool>,
{
    let mut any = false;
    let mut lanes = Lanes::default();
    for op in ops {
        match lane(&op) {
            Some(k) => lanes.push(k, op),
            None => {
                any |= lanes.take().run(&apply).await;
                any |= apply(op).await;
            }
        }
    }
    any | lanes.run(&apply).await
}

/// Ops waiting to be applied together, a list per lane.
struct Lanes<K, T> {
    of: HashMap<K, usize>,
    ops: Vec<Vec<T>>,
}

impl<K, T> Default for Lanes<K, T> {
    fn default() -> Self {
        Lanes {
            of: HashMap::new(),
            ops: Vec::new(),
        }
    }
}

impl<K: Hash + Eq, T> Lanes<K, T> {
    fn push(&mut self, k: K, op: T) {
        let lane = *self.of.entry(k).or_insert_with(|| {
            self.ops.push(Vec::new());
            self.ops.len() - 1
        });
        self.ops[lane].push(op);
    }

    fn take(&mut self) -> Self {
        std::mem::take(self)
    }

    async fn run<F: Future<Output = bool>>(self, apply: &impl Fn(T) -> F) -> bool {
        let lanes = self.ops.into_iter().map(|ops| async move {
            let mut any = false;
            for op in ops {
                any |= apply(op).await;
            }
            any
        });
        join_all(lanes).await.into_iter().any(|a| a)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// An op: its lane (None: alone) and its name.
    type Op = (Option<char>, &'static str);

    /// Applies `ops`, each yielding once between its start and its end, and
    /// answers what happened, in order: "+name" at a start, "-name" at an end,
    /// "?name" when its lane was asked.
    async fn trace(ops: Vec<Op>) -> (Vec<String>, bool) {
        let seen = RefCell::new(Vec::new());
        let any = apply(
            ops,
            |(lane, name)| {
                seen.borrow_mut().push(format!("?{name}"));
                *lane
            },
            |(_, name)| {
                let seen = &seen;
                async move {
                    seen.borrow_mut().push(format!("+{name}"));
                    tokio::task::yield_now().await;
                    seen.borrow_mut().push(format!("-{name}"));
                    name.ends_with('!')
                }
            },
        )
        .await;
        (seen.into_inner(), any)
    }

    fn at(seen: &[String], what: &str) -> usize {
        seen.iter()
            .position(|s| s == what)
            .unwrap_or_else(|| panic!("{what} never happened: {seen:?}"))
    }

    #[tokio::test]
    async fn lanes_overlap_and_each_keeps_its_order() {
        let (seen, _) = trace(vec![
            (Some('a'), "a1"),
            (Some('b'), "b1"),
            (Some('a'), "a2"),
            (Some('b'), "b2"),
        ])
        .await;
        // Both lanes start before either lane's first op ends.
        assert!(at(&seen, "+b1") < at(&seen, "-a1"), "{seen:?}");
        // Within a lane, an op starts only once the one before it ended.
        assert!(at(&seen, "-a1") < at(&seen, "+a2"), "{seen:?}");
        assert!(at(&seen, "-b1") < at(&seen, "+b2"), "{seen:?}");
    }

    #[tokio::test]
    async fn an_op_without_a_lane_runs_alone_between_what_comes_before_and_after() {
        let (seen, _) = trace(vec![
            (Some('a'), "a1"),
            (Some('b'), "b1"),
            (None, "create"),
            (Some('a'), "a2"),
            (Some('c'), "c1"),
        ])
        .await;
        let create = at(&seen, "+create");
        assert!(
            at(&seen, "-a1") < create && at(&seen, "-b1") < create,
            "{seen:?}"
        );
        let created = at(&seen, "-create");
        assert_eq!(created, create + 1, "nothing ran beside it: {seen:?}");
        // The lanes after it are named only once it has run: an op may name
        // a conversation that it made.
        assert!(
            created < at(&seen, "?a2") && created < at(&seen, "?c1"),
            "{seen:?}"
        );
        assert!(at(&seen, "+c1") < at(&seen, "-a2"), "{seen:?}");
    }

    #[tokio::test]
    async fn answers_whether_any_op_answered_true() {
        let (seen, any) = trace(vec![(Some('a'), "a1"), (Some('a'), "a2!"), (None, "x")]).await;
        assert!(any);
        assert_eq!(seen.iter().filter(|s| s.starts_with('+')).count(), 3);
        let (_, any) = trace(vec![(Some('a'), "a1"), (None, "x")]).await;
        assert!(!any);
        let (_, any) = trace(vec![(None, "x!")]).await;
        assert!(any);
    }
}
