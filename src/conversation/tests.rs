//! The contract's conversation ops and rules on the pure state: no actor, no
//! runtime, no clock. Each op is driven through [`ConversationState::apply`]
//! and judged by its answer, the effects it appended and the changes it leaves
//! for the journal.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::effects::Effect;
use super::{Answer, ConversationState, Shared};
use crate::config::Config;
use crate::delivery::Outbox;
use crate::error::{ErrorCode, Result};
use crate::model::{Caller, ConversationId, Identity};
use crate::protocol::{ConversationOp, CreateConversation, Request, Route};
use crate::store::{RecoveredConversation, Write};

const T0: u64 = 1_700_000_000_000;

fn shared(f: impl FnOnce(&mut Config)) -> Arc<Shared> {
    let mut config = Config::for_tests();
    f(&mut config);
    Arc::new(Shared::new(config))
}

fn user(s: &str) -> Caller {
    Caller::User(Identity::from_stored(s))
}

/// A group made by alice with bob and carol, its creation effects taken.
fn group() -> ConversationState {
    group_in(shared(|_| {}))
}

fn group_in(sh: Arc<Shared>) -> ConversationState {
    let req = CreateConversation {
        friendly_name: Some("g".into()),
        participants: vec!["bob".into(), "carol".into()],
        ..Default::default()
    };
    let mut st = ConversationState::create(
        sh,
        ConversationId::new(),
        Some(Identity::from_stored("alice")),
        req,
        false,
        T0,
    )
    .expect("created");
    st.announce_created();
    st.out.clear();
    st.discard_changes();
    st
}

/// A request as the wire gives it, routed: it must be a conversation op.
fn conversation_op(json: &Value) -> ConversationOp {
    match Request::from_json(json).expect("a valid request").route() {
        Route::Conversation(_, op) => op,
        Route::Reaction { reaction, .. } => ConversationOp::RemoveReaction(reaction),
        Route::Engine(op) => panic!("{op:?} is not a conversation op"),
    }
}

/// Runs `op` (JSON, without `conversation`) as `who`.
fn answer(st: &mut ConversationState, who: &Caller, mut op: Value) -> Result<Answer> {
    op["conversation"] = json!(st.id.to_string());
    st.apply(
        who,
        conversation_op(&op),
        None,
        (T0 + 1_000, Duration::from_secs(1)),
    )
}

fn run(st: &mut ConversationState, who: &Caller, op: Value) -> Result<Value> {
    answer(st, who, op).map(|a| a.data.to_json())
}

/// Sends a chat message as `who`; answers the send's answer.
fn send(st: &mut ConversationState, who: &str, body: &str) -> Value {
    ok(st, &user(who), json!({"op": "message.send", "body": body}))
}

/// Runs an op that must answer that it repeated an earlier one.
fn repeated(st: &mut ConversationState, who: &Caller, op: Value) -> Value {
    let a = answer(st, who, op.clone()).unwrap_or_else(|e| panic!("{op} failed: {e}"));
    assert!(a.repeated, "{op} should repeat an earlier op");
    a.data.to_json()
}

fn ok(st: &mut ConversationState, who: &Caller, op: Value) -> Value {
    run(st, who, op.clone()).unwrap_or_else(|e| panic!("{op} failed: {e}"))
}

fn code(st: &mut ConversationState, who: &Caller, op: Value) -> ErrorCode {
    match run(st, who, op.clone()) {
        Ok(v) => panic!("{op} should fail, answered {v}"),
        Err(e) => e.code(),
    }
}

/// The names of the events the last ops appended (taking them).
fn events(st: &mut ConversationState) -> Vec<String> {
    std::mem::take(&mut st.out)
        .iter()
        .map(|e| {
            let frame = match e {
                Effect::Event(f, _)
                | Effect::EventTo(_, f)
                | Effect::Membership(_, f)
                | Effect::Typing(f, _, _) => f.to_string(),
                Effect::Replay(_, _) => return "replay".into(),
            };
            let v: Value = serde_json::from_str(&frame).unwrap_or_default();
            v["event"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

#[test]
fn creation_checks_everything_and_announces_to_each_member() {
    let sh = shared(|c| c.limits.max_participants = 2);
    let too_many = CreateConversation {
        participants: vec!["bob".into(), "carol".into()],
        ..Default::default()
    };
    let err = ConversationState::create(
        sh.clone(),
        ConversationId::new(),
        Some(Identity::from_stored("alice")),
        too_many,
        false,
        T0,
    )
    .err()
    .map(|e| e.code());
    assert_eq!(err, Some(ErrorCode::Conflict));
    let empty_name = CreateConversation {
        unique_name: Some(String::new()),
        ..Default::default()
    };
    let err = ConversationState::create(sh, ConversationId::new(), None, empty_name, false, T0)
        .err()
        .map(|e| e.code());
    assert_eq!(err, Some(ErrorCode::BadRequest));

    let sh = shared(|_| {});
    let req = CreateConversation {
        participants: vec!["bob".into(), "bob".into(), "alice".into()],
        ..Default::default()
    };
    let mut st = ConversationState::create(
        sh,
        ConversationId::new(),
        Some(Identity::from_stored("alice")),
        req,
        false,
        T0,
    )
    .expect("created");
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
fn participants_follow_roles() {
    let mut st = group();
    assert_eq!(
        code(
            &mut st,
            &user("bob"),
            json!({"op": "participant.add", "identity": "dave", "role": "admin"})
        ),
        ErrorCode::Forbidden
    );
    ok(
        &mut st,
        &user("bob"),
        json!({"op": "participant.add", "identity": "dave"}),
    );
    assert_eq!(
        events(&mut st),
        ["conversationAdded", "participantJoined", "messageAdded"]
    );
    assert_eq!(
        code(
            &mut st,
            &user("bob"),
            json!({"op": "participant.add", "identity": "dave"})
        ),
        ErrorCode::Conflict
    );
    assert_eq!(
        code(
            &mut st,
            &user("bob"),
            json!({"op": "participant.remove", "participant": "carol"})
        ),
        ErrorCode::Forbidden
    );
    ok(
        &mut st,
        &user("bob"),
        json!({"op": "participant.remove", "participant": "bob"}),
    );
    assert_eq!(
        events(&mut st),
        ["participantLeft", "conversationRemoved", "messageAdded"]
    );
    assert_eq!(
        ok(&mut st, &user("alice"), json!({"op": "participant.count"}))["count"],
        3
    );
    let u = ok(
        &mut st,
        &user("alice"),
        json!({"op": "participant.update", "participant": "carol", "attributes": {"a": 1}}),
    );
    assert_eq!(u["attributes"]["a"], 1);
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
            .apply(&user("bob"), req, Some(&outbox), (T0, Duration::ZERO))
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
    st.meta_changed = true;
    for seq in st.members.seqs() {
        st.members.get_mut(seq);
    }
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

#[test]
fn joining_and_leaving_follow_the_conversation_kind() {
    let mut st = group();
    let c = ok(&mut st, &user("dave"), json!({"op": "conversation.join"}));
    assert_eq!(c["status"], "joined");
    assert_eq!(
        events(&mut st),
        ["conversationAdded", "participantJoined", "messageAdded"]
    );
    let again = ok(&mut st, &user("dave"), json!({"op": "conversation.join"}));
    assert_eq!(again["status"], "joined");
    assert!(events(&mut st).is_empty(), "joining twice is a no-op");
    assert_eq!(
        code(
            &mut st,
            &Caller::Service,
            json!({"op": "conversation.join"})
        ),
        ErrorCode::BadRequest
    );
    ok(&mut st, &user("dave"), json!({"op": "conversation.leave"}));
    assert_eq!(
        events(&mut st),
        ["participantLeft", "conversationRemoved", "messageAdded"]
    );
    assert_eq!(
        code(&mut st, &user("dave"), json!({"op": "conversation.leave"})),
        ErrorCode::Forbidden
    );
    let sh = shared(|_| {});
    let mut direct = ConversationState::create(
        sh,
        ConversationId::new(),
        Some(Identity::from_stored("alice")),
        CreateConversation {
            participants: vec!["bob".into()],
            ..Default::default()
        },
        true,
        T0,
    )
    .expect("direct");
    assert_eq!(
        code(
            &mut direct,
            &user("carol"),
            json!({"op": "conversation.join"})
        ),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(
            &mut direct,
            &user("carol"),
            json!({"op": "conversation.get"})
        ),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(
            &mut direct,
            &user("alice"),
            json!({"op": "participant.add", "identity": "carol"})
        ),
        ErrorCode::Forbidden
    );
    assert_eq!(
        direct.meta.direct_pair.as_ref().map(|p| p.0.as_str()),
        Some("alice")
    );
}

#[test]
fn notification_levels_and_non_chat_participants() {
    let mut st = group();
    let c = ok(
        &mut st,
        &user("bob"),
        json!({"op": "conversation.set_notification_level", "level": "muted"}),
    );
    assert_eq!(c["notification_level"], "muted");
    assert!(events(&mut st).is_empty(), "a level is private: no event");
    assert_eq!(
        code(
            &mut st,
            &Caller::Service,
            json!({"op": "conversation.set_notification_level", "level": "muted"})
        ),
        ErrorCode::BadRequest
    );
    let sms = json!({"op": "participant.add_non_chat", "proxy_address": "+15550001", "address": "+15550002"});
    let p = ok(&mut st, &user("alice"), sms.clone());
    assert_eq!(
        (p["kind"].clone(), p["identity"].clone()),
        (json!("non_chat"), Value::Null)
    );
    assert_eq!(code(&mut st, &user("alice"), sms), ErrorCode::Conflict);
    assert_eq!(
        code(
            &mut st,
            &user("alice"),
            json!({"op": "participant.add_non_chat", "proxy_address": "", "address": "x"})
        ),
        ErrorCode::BadRequest
    );
    let id = p["id"].as_str().expect("id").to_string();
    let got = ok(
        &mut st,
        &user("carol"),
        json!({"op": "participant.get", "participant": id}),
    );
    assert_eq!(got["messaging_binding"]["address"], "+15550002");
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
