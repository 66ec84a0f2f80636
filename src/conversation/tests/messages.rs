//! Messages, reactions, read horizons and typing.

use super::*;

#[test]
fn send_answers_emits_once_and_records_the_message() {
    let mut st = group();
    let a = ok(
        &mut st,
        &user("alice"),
        json!({"op": "message.send", "body": "hi", "client_id": "c1"}),
    );
    assert_eq!(a["index"], 0);
    assert_eq!(events(&mut st), ["messageAdded"]);
    let batch = st.take_changes().expect("changes");
    assert!(batch
        .0
        .iter()
        .any(|w| matches!(w, Write::Message { key, record: Some(_) } if key.1 == 0)));
    assert!(batch
        .0
        .iter()
        .any(|w| matches!(w, Write::Event { key, .. } if key.1 == 1)));
    // The same client_id answers the first message and changes nothing.
    let again = repeated(
        &mut st,
        &user("alice"),
        json!({"op": "message.send", "body": "hi", "client_id": "c1"}),
    );
    assert_eq!(again["id"], a["id"]);
    assert!(events(&mut st).is_empty());
    assert!(st.take_changes().is_none());
    // Rules.
    assert_eq!(
        code(
            &mut st,
            &user("mallory"),
            json!({"op": "message.send", "body": "x"})
        ),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(
            &mut st,
            &user("bob"),
            json!({"op": "message.send", "body": ""})
        ),
        ErrorCode::BadRequest
    );
    assert_eq!(
        code(
            &mut st,
            &Caller::Service,
            json!({"op": "message.send", "body": "x"})
        ),
        ErrorCode::BadRequest
    );
    assert_eq!(
        code(
            &mut st,
            &user("bob"),
            json!({"op": "message.send", "body": "x", "reply_to": 9})
        ),
        ErrorCode::NotFound
    );
    let big = "x".repeat(16 * 1024 + 1);
    assert_eq!(
        code(
            &mut st,
            &user("bob"),
            json!({"op": "message.send", "body": big})
        ),
        ErrorCode::TooLarge
    );
    ok(
        &mut st,
        &user("alice"),
        json!({"op": "conversation.update", "state": "closed"}),
    );
    assert_eq!(
        code(
            &mut st,
            &user("bob"),
            json!({"op": "message.send", "body": "x"})
        ),
        ErrorCode::Conflict
    );
}

#[test]
fn edits_and_deletes_belong_to_authors_and_admins() {
    let mut st = group();
    send(&mut st, "bob", "b");
    assert_eq!(
        code(
            &mut st,
            &user("carol"),
            json!({"op": "message.edit", "message": 0, "body": "c"})
        ),
        ErrorCode::Forbidden
    );
    let m = ok(
        &mut st,
        &user("bob"),
        json!({"op": "message.edit", "message": 0, "body": "b2"}),
    );
    assert_eq!(
        (m["body"].clone(), m["edited"].clone()),
        (json!("b2"), json!(true))
    );
    events(&mut st);
    assert_eq!(
        code(
            &mut st,
            &user("carol"),
            json!({"op": "message.delete", "message": 0})
        ),
        ErrorCode::Forbidden
    );
    st.discard_changes();
    ok(
        &mut st,
        &user("alice"),
        json!({"op": "message.delete", "message": 0}),
    );
    assert_eq!(events(&mut st), ["messageRemoved"]);
    let batch = st.take_changes().expect("changes");
    assert!(batch
        .0
        .iter()
        .any(|w| matches!(w, Write::Message { key, record: None } if key.1 == 0)));
    // The index stays used.
    let next = send(&mut st, "bob", "again");
    assert_eq!(next["index"], 1);
}

#[test]
fn reactions_are_unique_per_user_and_removable_by_their_author_or_an_admin() {
    let mut st = group();
    send(&mut st, "alice", "m");
    let r = ok(
        &mut st,
        &user("bob"),
        json!({"op": "reaction.add", "message": 0, "reaction": "👍"}),
    );
    events(&mut st);
    let dup = repeated(
        &mut st,
        &user("bob"),
        json!({"op": "reaction.add", "message": 0, "reaction": "👍"}),
    );
    assert_eq!(dup["id"], r["id"]);
    let rid = r["id"].as_str().expect("id").to_string();
    assert_eq!(
        code(
            &mut st,
            &user("carol"),
            json!({"op": "reaction.remove", "reaction": rid})
        ),
        ErrorCode::Forbidden
    );
    ok(
        &mut st,
        &user("bob"),
        json!({"op": "reaction.remove", "reaction": rid}),
    );
    assert_eq!(events(&mut st), ["reactionRemoved", "messageUpdated"]);
    let long = "x".repeat(65);
    assert_eq!(
        code(
            &mut st,
            &user("bob"),
            json!({"op": "reaction.add", "message": 0, "reaction": long})
        ),
        ErrorCode::BadRequest
    );
}

#[test]
fn read_horizons_clamp_and_unread_counts_skip_own_messages() {
    let mut st = group();
    for who in ["alice", "alice", "bob"] {
        send(&mut st, who, "m");
    }
    assert_eq!(
        ok(&mut st, &user("bob"), json!({"op": "unread.count"}))["unread_messages_count"],
        2
    );
    let r = ok(
        &mut st,
        &user("bob"),
        json!({"op": "read.advance", "index": 99}),
    );
    assert_eq!(r["unread_messages_count"], 0);
    let p = ok(
        &mut st,
        &user("bob"),
        json!({"op": "participant.get", "participant": "bob"}),
    );
    assert_eq!(
        p["last_read_message_index"], 2,
        "clamped to the last message"
    );
    ok(
        &mut st,
        &user("bob"),
        json!({"op": "read.advance", "index": 0}),
    );
    let p = ok(
        &mut st,
        &user("bob"),
        json!({"op": "participant.get", "participant": "bob"}),
    );
    assert_eq!(p["last_read_message_index"], 2, "advance never goes back");
    ok(&mut st, &user("bob"), json!({"op": "read.none"}));
    assert_eq!(
        ok(&mut st, &user("bob"), json!({"op": "unread.count"}))["unread_messages_count"],
        2
    );
    assert_eq!(
        code(&mut st, &Caller::Service, json!({"op": "read.all"})),
        ErrorCode::BadRequest
    );
}

#[test]
fn read_set_all_and_mark() {
    let mut st = group();
    for _ in 0..3 {
        send(&mut st, "alice", "m");
    }
    let horizon = |st: &mut ConversationState| {
        ok(
            st,
            &user("bob"),
            json!({"op": "participant.get", "participant": "bob"}),
        )["last_read_message_index"]
            .clone()
    };
    ok(&mut st, &user("bob"), json!({"op": "read.set", "index": 1}));
    assert_eq!(horizon(&mut st), 1);
    ok(&mut st, &user("bob"), json!({"op": "read.set", "index": 0}));
    assert_eq!(horizon(&mut st), 0, "read.set may go back");
    ok(&mut st, &user("bob"), json!({"op": "read.all"}));
    assert_eq!(horizon(&mut st), 2);
    ok(
        &mut st,
        &user("bob"),
        json!({"op": "read.mark", "message": 1}),
    );
    assert_eq!(horizon(&mut st), 2, "read.mark never goes back");
    ok(
        &mut st,
        &user("bob"),
        json!({"op": "read.set", "index": null}),
    );
    assert_eq!(horizon(&mut st), Value::Null);
    assert_eq!(
        code(
            &mut st,
            &user("bob"),
            json!({"op": "read.mark", "message": 7})
        ),
        ErrorCode::NotFound
    );
    events(&mut st);
    ok(
        &mut st,
        &user("bob"),
        json!({"op": "read.set", "index": null}),
    );
    assert!(
        events(&mut st).is_empty(),
        "an unchanged horizon says nothing"
    );
}

#[test]
fn typing_goes_to_the_others_and_ends_on_its_timer() {
    let mut st = group();
    ok(&mut st, &user("bob"), json!({"op": "typing.start"}));
    match st.out.first() {
        Some(Effect::Typing(_, to, typist)) => {
            assert_eq!(typist.as_str(), "bob");
            assert_eq!(to.len(), 3, "the typist is skipped at delivery");
        }
        other => panic!("expected typingStarted, got {other:?}"),
    }
    events(&mut st);
    assert_eq!(st.timers.len(), 1);
    let (who, after) = st.timers.remove(0);
    st.typing_timer(&who, Duration::from_secs(1) + after);
    assert_eq!(events(&mut st), ["typingEnded"]);
    assert!(st.take_changes().is_none(), "typing is never stored");
}

#[test]
fn typing_stop_and_going_offline_end_typing_once() {
    let mut st = group();
    ok(&mut st, &user("bob"), json!({"op": "typing.start"}));
    ok(&mut st, &user("bob"), json!({"op": "typing.start"}));
    assert_eq!(events(&mut st), ["typingStarted"], "a refresh says nothing");
    ok(&mut st, &user("bob"), json!({"op": "typing.stop"}));
    ok(&mut st, &user("bob"), json!({"op": "typing.stop"}));
    assert_eq!(events(&mut st), ["typingEnded"]);
    ok(&mut st, &user("carol"), json!({"op": "typing.start"}));
    st.user_offline(&Identity::from_stored("carol"));
    assert_eq!(events(&mut st), ["typingStarted", "typingEnded"]);
    ok(&mut st, &user("carol"), json!({"op": "typing.start"}));
    send(&mut st, "carol", "done");
    assert_eq!(
        events(&mut st),
        ["typingStarted", "typingEnded", "messageAdded"],
        "sending ends typing"
    );
    assert_eq!(
        code(&mut st, &Caller::Service, json!({"op": "typing.start"})),
        ErrorCode::BadRequest
    );
}

/// On a cluster node: a typing signal from another node that comes after
/// the typist's next message (from a later log entry) is not shown.
#[test]
fn a_typing_signal_from_before_the_typists_message_is_stale() {
    let mut st = group();
    let at = (T0 + 1_000, Duration::from_secs(1));
    let bob = user("bob");
    let apply = |st: &mut ConversationState, op: Value, entry| {
        st.apply(&bob, conversation_op(&op), None, at, entry)
            .expect("applied");
        events(st)
    };
    let c = st.id.to_string();
    let signal = |after| ConversationOp::TypingStart { after: Some(after) };
    let send = json!({"op": "message.send", "conversation": c, "body": "hi"});
    // Bob's message from entry 8, then a signal of a node that had started 7.
    assert_eq!(apply(&mut st, send.clone(), Some(8)), ["messageAdded"]);
    st.apply(&bob, signal(7), None, at, None).expect("applied");
    assert!(
        events(&mut st).is_empty(),
        "typed before the message: stale"
    );
    st.apply(&bob, signal(8), None, at, None).expect("applied");
    assert_eq!(events(&mut st), ["typingStarted"]);
    // A message from the log ends it, as a local one does.
    assert_eq!(
        apply(&mut st, send, Some(9)),
        ["typingEnded", "messageAdded"]
    );
    let typing = json!({"op": "typing.start", "conversation": c});
    assert_eq!(
        apply(&mut st, typing, None),
        ["typingStarted"],
        "asked here"
    );
}
