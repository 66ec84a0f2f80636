//! Ops leave the engine's shared indexes (a user's conversations, reaction
//! ids, a deleted conversation's id and name) and its `ConvInfo` (members for
//! presence, activity for lists) to their effects, which the actor applies
//! once the op is committed: nothing another actor reads runs ahead of the
//! journal.

use super::*;
use crate::conversation::effects::deliver;
use crate::delivery::Fanout;

#[test]
fn the_shared_indexes_change_only_when_the_effects_are_delivered() {
    let sh = shared(|_| {});
    let mut st = group_in(sh.clone());
    let id = st.id;
    let dave = sh.hub(&Identity::from_stored("dave"));
    ok(&mut st, &user("dave"), json!({"op": "conversation.join"}));
    send(&mut st, "bob", "hi");
    let r = ok(
        &mut st,
        &user("carol"),
        json!({"op": "reaction.add", "message": 0, "reaction": "👍"}),
    );
    let rid = serde_json::from_value(r["id"].clone()).expect("a reaction id");
    for name in ["one", "two", "one", "two"] {
        ok(
            &mut st,
            &user("alice"),
            json!({"op": "conversation.update", "unique_name": name}),
        );
    }
    assert!(dave.conversations().is_empty(), "joined before its commit");
    assert!(!st.info.members().contains(&dave.identity));
    assert_eq!(st.info.last_activity(), T0, "active before its commit");
    assert!(
        sh.reactions.is_empty(),
        "a reaction found before its commit"
    );
    // Claiming a name decides the rename, so it is made at once, and the
    // old name let go with it: renamed back and forth, the last name holds.
    let name = |n: &str| sh.unique_names.get(n).map(|e| *e);
    assert_eq!((name("one"), name("two")), (None, Some(id)));

    let mut fanout = Fanout::default();
    deliver((id, &st.info), st.out.drain(..), &sh, &mut fanout);
    assert_eq!(dave.conversations(), vec![id]);
    assert!(st.info.members().contains(&dave.identity));
    assert_eq!(st.info.last_activity(), T0 + 1_000);
    assert_eq!(sh.reactions.get(&rid).map(|e| *e), Some(id));
    assert_eq!((name("one"), name("two")), (None, Some(id)));

    ok(
        &mut st,
        &user("alice"),
        json!({"op": "conversation.delete"}),
    );
    assert_eq!(dave.conversations(), vec![id], "left before its commit");
    assert_eq!(sh.reactions.len(), 1);
    deliver((id, &st.info), st.out.drain(..), &sh, &mut fanout);
    assert!(dave.conversations().is_empty());
    assert!(sh.reactions.is_empty() && sh.unique_names.is_empty());
}

#[test]
fn reactions_of_deleted_and_evicted_messages_are_let_go_with_the_commit() {
    let sh = shared(|c| c.limits.max_history = 2);
    let mut st = group_in(sh.clone());
    let id = st.id;
    for body in ["a", "b"] {
        send(&mut st, "bob", body);
    }
    let react = |st: &mut ConversationState, message: u64| -> ReactionId {
        let r = ok(
            st,
            &user("carol"),
            json!({"op": "reaction.add", "message": message, "reaction": "👍"}),
        );
        serde_json::from_value(r["id"].clone()).expect("a reaction id")
    };
    let (first, second) = (react(&mut st, 0), react(&mut st, 1));
    let mut fanout = Fanout::default();
    deliver((id, &st.info), st.out.drain(..), &sh, &mut fanout);
    assert_eq!(sh.reactions.len(), 2);

    ok(
        &mut st,
        &user("bob"),
        json!({"op": "message.delete", "message": 1}),
    );
    send(&mut st, "bob", "c");
    send(&mut st, "bob", "d"); // evicts message 0 (history of 2)
    assert_eq!(sh.reactions.len(), 2, "let go before the commit");
    deliver((id, &st.info), st.out.drain(..), &sh, &mut fanout);
    assert!(sh.reactions.get(&first).is_none() && sh.reactions.get(&second).is_none());
}
