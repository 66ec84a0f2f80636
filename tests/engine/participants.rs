use colloquy::ErrorCode;
use serde_json::{json, Value};

use crate::util::*;

#[tokio::test]
async fn members_add_members_and_only_admins_add_admins() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let carol = e.connect("carol").await.unwrap();
    let id = group(&alice, &["bob"]).await;
    quiet(&[&alice, &bob]);
    let p = bob.ok(json!({"op": "participant.add", "conversation": id, "identity": "carol", "attributes": {"x": 1}})).await;
    assert_eq!(
        (
            p["identity"].as_str(),
            p["role"].as_str(),
            p["kind"].as_str()
        ),
        (Some("carol"), Some("member"), Some("chat"))
    );
    assert_eq!(p["attributes"], json!({"x": 1}));
    assert_eq!(p["conversation_id"].as_str(), Some(id.as_str()));
    assert_eq!(
        carol.event("conversationAdded").await.data["status"],
        "joined"
    );
    assert_eq!(
        carol.event("participantJoined").await.data["identity"],
        "carol"
    );
    assert_eq!(
        carol.event("messageAdded").await.data["kind"],
        "participant_joined"
    );
    assert_eq!(
        bob.fails(json!({"op": "participant.add", "conversation": id, "identity": "carol"}))
            .await,
        ErrorCode::Conflict
    );
    assert_eq!(
        bob.fails(json!({"op": "participant.add", "conversation": id, "identity": "dave", "role": "admin"})).await,
        ErrorCode::Forbidden
    );
    let d = alice.ok(json!({"op": "participant.add", "conversation": id, "identity": "dave", "role": "admin"})).await;
    assert_eq!(d["role"], "admin");
    assert_eq!(
        alice
            .ok(json!({"op": "participant.count", "conversation": id}))
            .await["count"],
        4
    );
}

#[tokio::test]
async fn non_chat_participants_count_but_get_no_events() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let id = group(&alice, &[]).await;
    let p = alice
        .ok(json!({"op": "participant.add_non_chat", "conversation": id, "proxy_address": "+15550001", "address": "+15550002"}))
        .await;
    assert_eq!(p["identity"], Value::Null);
    assert_eq!(p["kind"], "non_chat");
    assert_eq!(
        p["messaging_binding"],
        json!({"proxy_address": "+15550001", "address": "+15550002"})
    );
    assert_eq!(
        alice.fails(json!({"op": "participant.add_non_chat", "conversation": id, "proxy_address": "+15550001", "address": "+15550002"})).await,
        ErrorCode::Conflict
    );
    let c = alice
        .ok(json!({"op": "conversation.get", "conversation": id}))
        .await;
    assert_eq!(c["participants_count"], 2);
    let pid = p["id"].as_str().unwrap();
    quiet(&[&alice]);
    alice
        .ok(json!({"op": "participant.remove", "conversation": id, "participant": pid}))
        .await;
    assert_eq!(
        alice.event("participantLeft").await.data["kind"],
        "non_chat"
    );
    let log = alice.event("messageAdded").await;
    assert_eq!(log.data["kind"], "participant_left");
    assert_eq!(
        log.data["details"],
        json!({"participant_id": pid, "identity": null})
    );
}

/// An address's conversations: each where a participant is bound to it,
/// while one is (two proxies for one address count once, until both go).
#[tokio::test]
async fn an_address_finds_its_conversations_while_a_participant_is_bound_to_it() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let (a, b, c) = three_groups(&alice).await;
    let bind = |conv: &str, proxy: &str| {
        json!({"op": "participant.add_non_chat", "conversation": conv,
               "proxy_address": proxy, "address": "+15550002"})
    };
    // Made in one millisecond, they list in id order: compared as sets.
    let bound = || async {
        let keys = e.conversations_bound_to("+15550002").await;
        let mut ids: Vec<String> = keys.iter().map(|k| k.1.to_string()).collect();
        ids.sort();
        ids
    };
    let sorted = |v: &[&String]| {
        let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    let first = alice.ok(bind(&a, "+15550001")).await;
    let second = alice.ok(bind(&a, "+15550009")).await;
    alice.ok(bind(&b, "+15550001")).await;
    alice.ok(bind(&c, "+15550001")).await;
    assert_eq!(bound().await, sorted(&[&a, &b, &c]));
    assert!(e.conversations_bound_to("+15550001").await.is_empty());
    let remove =
        |p: &Value| json!({"op": "participant.remove", "conversation": a, "participant": p["id"]});
    alice.ok(remove(&first)).await;
    assert_eq!(bound().await, sorted(&[&a, &b, &c]));
    alice.ok(remove(&second)).await;
    assert_eq!(bound().await, sorted(&[&b, &c]));
    alice
        .ok(json!({"op": "conversation.delete", "conversation": b}))
        .await;
    assert_eq!(bound().await, [c.as_str()]);
}

/// An exclusive binding (Twilio's rule for SMS): a pair is bound in one
/// conversation that is not closed. Another proxy is another pair; closing
/// the holder, or removing its participant, frees the pair; an add that is
/// not exclusive keeps only the per-conversation rule.
#[tokio::test]
async fn an_exclusive_binding_is_in_one_open_conversation() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let (a, b, c) = three_groups(&alice).await;
    let bind = |conv: &str, proxy: &str| {
        json!({"op": "participant.add_non_chat", "conversation": conv, "exclusive": true,
               "proxy_address": proxy, "address": "+15550002"})
    };
    let held = alice.ok(bind(&a, "+15550001")).await;
    assert_eq!(
        e.binding_holder("+15550002", "+15550001")
            .await
            .map(|h| h.to_string()),
        Some(a.clone())
    );
    // Refused in another conversation, and in its own, naming the holder;
    // nothing is added.
    for conv in [&b, &a] {
        let err = alice
            .request_json(bind(conv, "+15550001"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Conflict);
        assert!(err.message().contains(&a), "{}", err.message());
    }
    let count = |conv: &str| json!({"op": "participant.count", "conversation": conv});
    assert_eq!(alice.ok(count(&b)).await["count"], 1);
    // The same address through another proxy is another binding; without
    // `exclusive` the rule across conversations does not apply.
    alice.ok(bind(&b, "+15550009")).await;
    let plain = json!({"op": "participant.add_non_chat", "conversation": c,
                       "proxy_address": "+15550001", "address": "+15550002"});
    let shared = alice.ok(plain).await;
    // Closing the holders frees the pair; reopened, `a` holds it again
    // beside `b`, and either is named (the older: made in one millisecond,
    // the lower id).
    let state = |conv: &str, s: &str| json!({"op": "conversation.update", "conversation": conv, "state": s});
    alice.ok(state(&a, "closed")).await;
    assert_eq!(
        e.binding_holder("+15550002", "+15550001")
            .await
            .map(|h| h.to_string()),
        Some(c.clone())
    );
    alice
        .ok(json!({"op": "participant.remove", "conversation": c, "participant": shared["id"]}))
        .await;
    assert_eq!(e.binding_holder("+15550002", "+15550001").await, None);
    alice.ok(bind(&b, "+15550001")).await;
    alice.ok(state(&a, "active")).await;
    let holder = e.binding_holder("+15550002", "+15550001").await;
    let holder = holder.map(|h| h.to_string()).unwrap_or_default();
    assert!(holder == a || holder == b, "{holder}");
    let err = alice.request_json(bind(&c, "+15550001")).await.unwrap_err();
    assert!(err.message().contains(&holder), "{}", err.message());
    assert_eq!(held["messaging_binding"]["proxy_address"], "+15550001");
}

/// Of many exclusive adds of one pair into different conversations at once,
/// one is added and the others are refused.
#[tokio::test]
async fn of_many_exclusive_adds_of_a_pair_at_once_one_wins() {
    let e = engine_with(|c| c.arbiters = 4);
    let alice = e.connect("alice").await.unwrap();
    let mut convs = Vec::new();
    for _ in 0..12 {
        convs.push(group(&alice, &[]).await);
    }
    let adds = convs.iter().map(|conv| {
        alice.request_json(
            json!({"op": "participant.add_non_chat", "conversation": conv,
            "exclusive": true, "proxy_address": "+15550001", "address": "+15550002"}),
        )
    });
    let answers = futures_util::future::join_all(adds).await;
    let won = answers.iter().filter(|a| a.is_ok()).count();
    assert_eq!(won, 1, "{answers:?}");
    let mut counts = 0;
    for conv in &convs {
        counts += alice
            .ok(json!({"op": "participant.count", "conversation": conv}))
            .await["count"]
            .as_u64()
            .unwrap();
    }
    assert_eq!(counts, 12 + 1);
}

#[tokio::test]
async fn removal_needs_admin_but_anyone_may_remove_themselves() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let id = group(&alice, &["bob", "carol"]).await;
    quiet(&[&alice, &bob]);
    assert_eq!(
        bob.fails(json!({"op": "participant.remove", "conversation": id, "participant": "carol"}))
            .await,
        ErrorCode::Forbidden
    );
    assert_eq!(
        bob.fails(json!({"op": "participant.remove", "conversation": id, "participant": "nobody"}))
            .await,
        ErrorCode::NotFound
    );
    alice
        .ok(json!({"op": "participant.remove", "conversation": id, "participant": "carol"}))
        .await;
    bob.ok(json!({"op": "participant.remove", "conversation": id, "participant": "bob"}))
        .await;
    bob.event_skipping("participantLeft").await;
    let removed = bob.event_skipping("conversationRemoved").await;
    assert_eq!(removed.data["reason"], "left");
    assert_eq!(
        alice
            .ok(json!({"op": "participant.count", "conversation": id}))
            .await["count"],
        1
    );
}

#[tokio::test]
async fn removed_participant_hears_participant_left_then_removed() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let id = group(&alice, &["bob"]).await;
    quiet(&[&alice, &bob]);
    alice
        .ok(json!({"op": "participant.remove", "conversation": id, "participant": "bob"}))
        .await;
    assert_eq!(bob.event("participantLeft").await.data["identity"], "bob");
    assert_eq!(
        bob.event("conversationRemoved").await.data["reason"],
        "removed"
    );
    bob.no_event().await;
}

#[tokio::test]
async fn get_by_id_or_identity_and_list_in_joining_order() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let names: Vec<String> = (0..7).map(|i| format!("user{i}")).collect();
    let id = group(
        &alice,
        &names.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    let by_identity = alice
        .ok(json!({"op": "participant.get", "conversation": id, "participant": "user3"}))
        .await;
    let by_id = alice
        .ok(json!({"op": "participant.get", "conversation": id, "participant": by_identity["id"]}))
        .await;
    assert_eq!(by_id, by_identity);
    let p1 = alice
        .ok(json!({"op": "participant.list", "conversation": id, "page_size": 3}))
        .await;
    let p2 = alice
        .ok(json!({"op": "participant.list", "conversation": id, "cursor": p1["next_cursor"]}))
        .await;
    let p3 = alice
        .ok(json!({"op": "participant.list", "conversation": id, "cursor": p2["next_cursor"]}))
        .await;
    let order: Vec<String> = [&p1, &p2, &p3]
        .iter()
        .flat_map(|p| {
            p["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["identity"].as_str().unwrap().to_string())
        })
        .collect();
    let mut expected = vec!["alice".to_string()];
    expected.extend(names);
    assert_eq!(order, expected);
    assert_eq!(p3["has_next"], false);
    assert_eq!(p3["next_cursor"], Value::Null);
    assert_eq!(p2["has_prev"], true);
    let back = alice
        .ok(json!({"op": "participant.list", "conversation": id, "cursor": p2["prev_cursor"]}))
        .await;
    assert_eq!(back["items"], p1["items"]);
    assert_eq!(
        alice
            .fails(json!({"op": "participant.list", "conversation": id, "page_size": 1001}))
            .await,
        ErrorCode::BadRequest
    );
    assert_eq!(
        alice
            .fails(json!({"op": "participant.list", "conversation": id, "page_size": 0}))
            .await,
        ErrorCode::BadRequest
    );
}

#[tokio::test]
async fn update_rules_for_attributes_and_roles() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let id = group(&alice, &["bob", "carol"]).await;
    quiet(&[&alice, &bob]);
    let p = bob.ok(json!({"op": "participant.update", "conversation": id, "participant": "bob", "attributes": {"mood": "ok"}})).await;
    assert_eq!(p["attributes"], json!({"mood": "ok"}));
    let ev = alice.event("participantUpdated").await;
    assert_eq!(ev.data["update_reasons"], json!(["attributes"]));
    assert_eq!(ev.data["participant"]["identity"], "bob");
    assert_eq!(
        bob.fails(json!({"op": "participant.update", "conversation": id, "participant": "carol", "attributes": {}})).await,
        ErrorCode::Forbidden
    );
    assert_eq!(
        bob.fails(json!({"op": "participant.update", "conversation": id, "participant": "bob", "role": "admin"})).await,
        ErrorCode::Forbidden
    );
    let p = alice.ok(json!({"op": "participant.update", "conversation": id, "participant": "bob", "role": "admin"})).await;
    assert_eq!(p["role"], "admin");
    assert_eq!(
        alice.event("participantUpdated").await.data["update_reasons"],
        json!(["role"])
    );
    // Now an admin, bob may remove carol.
    bob.ok(json!({"op": "participant.remove", "conversation": id, "participant": "carol"}))
        .await;
}

#[tokio::test]
async fn participant_cap_is_a_conflict_and_changes_nothing() {
    let e = engine_with(|c| c.limits.max_participants = 3);
    let alice = e.connect("alice").await.unwrap();
    let before = alice.ok(json!({"op": "conversation.list"})).await;
    assert_eq!(
        alice
            .fails(json!({"op": "conversation.create", "participants": ["b", "c", "d"]}))
            .await,
        ErrorCode::Conflict
    );
    assert_eq!(alice.ok(json!({"op": "conversation.list"})).await, before);
    let id = group(&alice, &["b", "c"]).await;
    assert_eq!(
        alice
            .fails(json!({"op": "participant.add", "conversation": id, "identity": "d"}))
            .await,
        ErrorCode::Conflict
    );
    let dave = e.connect("d").await.unwrap();
    assert_eq!(
        dave.fails(json!({"op": "conversation.join", "conversation": id}))
            .await,
        ErrorCode::Conflict
    );
    assert_eq!(
        alice
            .ok(json!({"op": "participant.count", "conversation": id}))
            .await["count"],
        3
    );
}

/// Three conversations of `alice`'s, no one else in them.
async fn three_groups(alice: &colloquy::Session) -> (String, String, String) {
    (
        group(alice, &[]).await,
        group(alice, &[]).await,
        group(alice, &[]).await,
    )
}
