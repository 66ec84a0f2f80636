//! Participants: roles, joining and leaving, notification levels, non-chat.

use super::*;

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
    let req = CreateConversation {
        participants: vec!["bob".into()],
        ..Default::default()
    };
    let mut direct = create(sh, Some("alice"), req, true).expect("direct");
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
