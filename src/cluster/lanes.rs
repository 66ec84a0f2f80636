//! Applying a log entry's ops to the same end as one after another, without
//! waiting for each op's answer before starting the next.
//!
//! Each op is a round trip to its conversation's actor, on another thread.
//! Applied strictly one at a time, a node spent more time waiting and waking
//! up than applying. But most ops (sends, edits, reads, typing) change one
//! conversation and nothing another op reads. A run of such ops is started
//! at once: each joins its conversation's mailbox as it is started, so a
//! conversation (its lane) takes them in entry order, and different
//! conversations, which do not depend on each other, go side by side. An op
//! that may touch more (create, rename, membership, profiles) waits for
//! everything before it, and everything after it waits for it.

use std::future::Future;

use futures_util::future::join_all;

/// Applies `ops` and answers whether any answered true. `start` starts an op
/// and gives the future of its end; for an op that `at_once` accepts, `start`
/// must begin it then and there (in the order of the calls), as the op is
/// started before the ones before it have ended. `at_once` is asked only once
/// every op before the last lone one has ended, so it may look at the state
/// they made.
pub(super) async fn apply<T, F>(
    ops: Vec<T>,
    mut at_once: impl FnMut(&T) -> bool,
    start: impl Fn(T) -> F,
) -> bool
where
    F: Future<Output = bool>,
{
    let mut any = false;
    let mut started = Vec::new();
    for op in ops {
        if at_once(&op) {
            started.push(start(op));
        } else {
            any |= ended(std::mem::take(&mut started)).await;
            any |= start(op).await;
        }
    }
    any | ended(started).await
}

async fn ended<F: Future<Output = bool>>(started: Vec<F>) -> bool {
    join_all(started).await.into_iter().any(|a| a)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// An op: whether it goes at once, and its name.
    type Op = (bool, &'static str);

    /// Applies `ops`, each started when `start` is called for it and ended
    /// after yielding once, and answers what happened, in order: "+name" at a
    /// start, "-name" at an end, "?name" when `at_once` was asked.
    async fn trace(ops: Vec<Op>) -> (Vec<String>, bool) {
        let seen = RefCell::new(Vec::new());
        let any = apply(
            ops,
            |(at_once, name)| {
                seen.borrow_mut().push(format!("?{name}"));
                *at_once
            },
            |(_, name)| {
                let seen = &seen;
                seen.borrow_mut().push(format!("+{name}"));
                async move {
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
    async fn a_run_starts_at_once_in_order() {
        let (seen, _) = trace(vec![(true, "a1"), (true, "b1"), (true, "a2")]).await;
        let starts: Vec<&str> = seen
            .iter()
            .filter(|s| s.starts_with('+'))
            .map(String::as_str)
            .collect();
        assert_eq!(starts, ["+a1", "+b1", "+a2"]);
        // All started before any ended.
        assert!(at(&seen, "+a2") < at(&seen, "-a1"), "{seen:?}");
    }

    #[tokio::test]
    async fn a_lone_op_runs_between_what_comes_before_and_after() {
        let (seen, _) = trace(vec![
            (true, "a1"),
            (true, "b1"),
            (false, "create"),
            (true, "a2"),
            (true, "c1"),
        ])
        .await;
        let create = at(&seen, "+create");
        assert!(
            at(&seen, "-a1") < create && at(&seen, "-b1") < create,
            "{seen:?}"
        );
        let created = at(&seen, "-create");
        assert_eq!(created, create + 1, "nothing ran beside it: {seen:?}");
        // The ops after it are looked at only once it has run: an op may
        // name a conversation that it made.
        assert!(
            created < at(&seen, "?a2") && created < at(&seen, "?c1"),
            "{seen:?}"
        );
        assert!(at(&seen, "+c1") < at(&seen, "-a2"), "{seen:?}");
    }

    #[tokio::test]
    async fn answers_whether_any_op_answered_true() {
        let (seen, any) = trace(vec![(true, "a1"), (true, "a2!"), (false, "x")]).await;
        assert!(any);
        assert_eq!(seen.iter().filter(|s| s.starts_with('-')).count(), 3);
        let (_, any) = trace(vec![(true, "a1"), (false, "x")]).await;
        assert!(!any);
        let (_, any) = trace(vec![(false, "x!")]).await;
        assert!(any);
    }
}
