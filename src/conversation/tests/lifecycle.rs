//! A conversation's life: creation, updates, deletion, replay, what is
//! recorded, and reads as each caller sees them.

use super::*;

#[test]
fn creation_checks_everything_and_announces_to_each_member() {
    let sh = shared(|c| c.limits.max_participants = 2);
    let too_many = CreateConversation {
        participants: vec!["bob".into(), "carol".into()],
        ..Default::default()
    };
    let err = create(sh.clone(), Some("alice"), too_many, false)
        .err()
        .map(|e| e.code());
    assert_eq!(err, Some(ErrorCode::Conflict));
    let empty_name = CreateConversation {
        unique_name: Some(String::new()),
        ..Default::default()
    };
    let err = create(sh, None, empty_name, false).err().map(|e| e.code());
    assert_eq!(err, Some(ErrorCode::BadRequest));

    let sh = shared(|_| {});
    let req = CreateConversation {
        participants: vec!["bob".into(), "bob".into(), "alice".into()],
        ..Default::default()
    };
    let mut st = create(sh, Some("alice"), req, false).expect("created");
    assert_eq!(st.members.len(), 2, "duplicates and the creator collapse");
    st.announce_created();
    assert_eq!(events(&mut st), ["conversationAdded", "conversationAdded"]);
    let batch = st.take_changes().expect("a new conversation is recorded");
    assert!(matches!(batch.0[0], Write::Conversation { .. }));
    let alice = ok(
        &mut st,
        &user("alice"),
        json!({"op": "participant.get", "participant": "alice"}),
    );
    assert_eq!(alice["role"], "admin");
}

#[test]
fn updates_render_per_member_and_closing_logs() {
    let mut st = group();
    let c = ok(
        &mut st,
        &user("bob"),
        json!({"op": "conversation.update", "friendly_name": "new", "state": "closed"}),
    );
    assert_eq!(c["friendly_name"], "new");
    assert_eq!(
        events(&mut st),
        [
            "conversationUpdated",
            "conversationUpdated",
            "conversationUpdated",
            "messageAdded"
        ]
    );
    assert_eq!(
        code(&mut st, &user("dave"), json!({"op": "conversation.join"})),
        ErrorCode::Forbidden
    );
    assert!(st.meta_changed);
}

#[test]
fn only_an_admin_deletes_and_the_journal_erases_it() {
    let mut st = group();
    assert_eq!(
        code(&mut st, &user("bob"), json!({"op": "conversation.delete"})),
        ErrorCode::Forbidden
    );
    ok(
        &mut st,
        &user("alice"),
        json!({"op": "conversation.delete"}),
    );
    assert_eq!(events(&mut st).len(), 3);
    let batch = st.take_changes().expect("changes");
    assert!(matches!(
        batch.0.as_slice(),
        [Write::DeleteConversation { .. }]
    ));
}

#[test]
fn replay_resends_the_kept_events_or_says_it_cannot() {
    let mut st = group_in(shared(|c| c.limits.replay_window = 2));
    for _ in 0..3 {
        send(&mut st, "alice", "m");
    }
    st.out.clear();
    let outbox = Arc::new(Outbox::new(1 << 20));
    let mut replay = |since: u64| {
        let req = conversation_op(
            &json!({"op": "events.replay", "conversation": st.id.to_string(), "since_seq": since}),
        );
        let r = st
            .apply(&user("bob"), req, Some(&outbox), (T0, Duration::ZERO), None)
            .expect("replay");
        let frames = match st.out.pop() {
            Some(Effect::Replay(_, frames)) => frames.map(|f| f.len()),
            other => panic!("expected a replay, got {other:?}"),
        };
        (r.data.to_json()["recovered"].clone(), frames)
    };
    assert_eq!(replay(1), (json!(true), Some(2)));
    assert_eq!(replay(0), (json!(false), None));
}

#[test]
fn what_is_recorded_reads_back_as_the_same_conversation() {
    let mut st = group();
    ok(
        &mut st,
        &user("alice"),
        json!({"op": "message.send", "body": "one", "client_id": "k"}),
    );
    ok(
        &mut st,
        &user("bob"),
        json!({"op": "reaction.add", "message": 0, "reaction": "👍"}),
    );
    ok(
        &mut st,
        &user("bob"),
        json!({"op": "read.advance", "index": 0}),
    );
    ok(
        &mut st,
        &user("bob"),
        json!({"op": "conversation.set_notification_level", "level": "muted"}),
    );
    // Everything, as a store would hold it after these commits.
    touch_all(&mut st);
    let mut rec = RecoveredConversation {
        id: *st.id.0.as_bytes(),
        ..Default::default()
    };
    for w in st.take_changes().expect("changes").0 {
        match w {
            Write::Conversation { record, .. } => rec.record = record,
            Write::Counters { counters, .. } => rec.counters = counters,
            Write::Participant {
                key,
                record: Some(r),
            } => rec.participants.push((key.1, r)),
            Write::Message {
                key,
                record: Some(r),
            } => rec.messages.push((key.1, r)),
            _ => {}
        }
    }
    let mut back = ConversationState::restore(shared(|_| {}), rec).expect("restores");
    for who in ["alice", "bob"] {
        let a = ok(&mut st, &user(who), json!({"op": "conversation.get"}));
        let b = ok(&mut back, &user(who), json!({"op": "conversation.get"}));
        assert_eq!(a, b);
    }
    repeated(
        &mut back,
        &user("alice"),
        json!({"op": "message.send", "body": "one", "client_id": "k"}),
    );
    let next = send(&mut back, "alice", "two");
    assert_eq!(next["index"], 1);
}

#[test]
fn reads_answer_as_the_caller_sees_them() {
    let mut st = group();
    send(&mut st, "alice", "m0");
    send(&mut st, "alice", "m1");
    let c = ok(&mut st, &user("bob"), json!({"op": "conversation.get"}));
    assert_eq!(
        (c["status"].clone(), c["unread_messages_count"].clone()),
        (json!("joined"), json!(2))
    );
    let c = ok(&mut st, &user("mallory"), json!({"op": "conversation.get"}));
    assert_eq!(c["status"], "not_participating");
    let m = ok(
        &mut st,
        &user("bob"),
        json!({"op": "message.get", "message": 1}),
    );
    assert_eq!(m["body"], "m1");
    assert_eq!(
        code(
            &mut st,
            &user("mallory"),
            json!({"op": "message.get", "message": 1})
        ),
        ErrorCode::Forbidden
    );
    assert_eq!(
        ok(&mut st, &user("bob"), json!({"op": "message.count"}))["count"],
        2
    );
    let page = ok(
        &mut st,
        &user("bob"),
        json!({"op": "message.list", "page_size": 1}),
    );
    assert_eq!(
        (page["items"][0]["index"].clone(), page["has_prev"].clone()),
        (json!(1), json!(true))
    );
    let prev = ok(
        &mut st,
        &user("bob"),
        json!({"op": "message.list", "cursor": page["prev_cursor"]}),
    );
    assert_eq!(prev["items"][0]["index"], 0);
    assert_eq!(
        code(
            &mut st,
            &user("bob"),
            json!({"op": "message.list", "page_size": 101})
        ),
        ErrorCode::BadRequest
    );
    let ps = ok(
        &mut st,
        &user("bob"),
        json!({"op": "participant.list", "page_size": 2}),
    );
    assert_eq!(
        (ps["items"].as_array().map(Vec::len), ps["has_next"].clone()),
        (Some(2), json!(true))
    );
    assert!(
        events(&mut st).len() == 2 && st.take_changes().is_some(),
        "only the sends changed anything"
    );
    for op in [
        "conversation.get",
        "message.count",
        "participant.count",
        "unread.count",
    ] {
        ok(&mut st, &user("bob"), json!({"op": op}));
    }
    assert!(
        events(&mut st).is_empty() && st.take_changes().is_none(),
        "reads change nothing"
    );
}
