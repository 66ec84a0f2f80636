use colloquy::ErrorCode;
use serde_json::json;

use crate::util::*;

#[tokio::test]
async fn create_shows_the_callers_view_and_announces_to_everyone() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let c = alice
        .ok(
            json!({"op": "conversation.create", "friendly_name": "office", "unique_name": "hq",
                   "attributes": {"topic": 1}, "metadata": {"team": "x", "n": 2, "ok": true},
                   "participants": ["bob"]}),
        )
        .await;
    assert_eq!(c["friendly_name"], "office");
    assert_eq!(c["unique_name"], "hq");
    assert_eq!(c["created_by"], "alice");
    assert_eq!(c["direct"], false);
    assert_eq!(c["participants_count"], 2);
    assert_eq!(c["messages_count"], 0);
    assert_eq!(c["status"], "joined");
    assert_eq!(c["notification_level"], "default");
    assert_eq!(c["last_read_message_index"], serde_json::Value::Null);
    assert_eq!(c["unread_messages_count"], 0);
    assert_eq!(c["last_message"], serde_json::Value::Null);
    assert_eq!(c["state"]["current"], "active");
    assert_eq!(c["metadata"]["n"], 2);
    let added = bob.event("conversationAdded").await;
    assert_eq!(added.data["id"], c["id"]);
    assert_eq!(added.seq, None);
    alice.event("conversationAdded").await;

    // The creator is admin, the named participant a member, in that order.
    let list = alice
        .ok(json!({"op": "participant.list", "conversation": "hq"}))
        .await;
    let roles: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["identity"].clone(), p["role"].clone()))
        .collect();
    assert_eq!(
        roles,
        vec![
            (json!("alice"), json!("admin")),
            (json!("bob"), json!("member"))
        ]
    );
    // The named participants are not logged.
    assert_eq!(
        alice
            .ok(json!({"op": "message.count", "conversation": "hq"}))
            .await["count"],
        0
    );
}

#[tokio::test]
async fn unique_names_are_unique_and_addressable() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let c = alice
        .ok(json!({"op": "conversation.create", "unique_name": "room"}))
        .await;
    assert_eq!(
        alice
            .fails(json!({"op": "conversation.create", "unique_name": "room"}))
            .await,
        ErrorCode::Conflict
    );
    let got = alice
        .ok(json!({"op": "conversation.get", "conversation": "room"}))
        .await;
    assert_eq!(got["id"], c["id"]);
    // Renaming frees the old name; null removes it.
    alice
        .ok(json!({"op": "conversation.update", "conversation": "room", "unique_name": "room2"}))
        .await;
    assert_eq!(
        alice
            .fails(json!({"op": "conversation.get", "conversation": "room"}))
            .await,
        ErrorCode::NotFound
    );
    alice
        .ok(json!({"op": "conversation.create", "unique_name": "room"}))
        .await;
    let u = alice
        .ok(json!({"op": "conversation.update", "conversation": "room2", "unique_name": null}))
        .await;
    assert_eq!(u["unique_name"], serde_json::Value::Null);
    assert_eq!(
        alice
            .fails(json!({"op": "conversation.get", "conversation": "room2"}))
            .await,
        ErrorCode::NotFound
    );
    // Taking a name that is in use changes nothing.
    let other = alice
        .ok(json!({"op": "conversation.create", "friendly_name": "x"}))
        .await;
    let id = other["id"].as_str().unwrap();
    assert_eq!(
        alice.fails(json!({"op": "conversation.update", "conversation": id, "unique_name": "room", "friendly_name": "y"})).await,
        ErrorCode::Conflict
    );
    assert_eq!(
        alice
            .ok(json!({"op": "conversation.get", "conversation": id}))
            .await["friendly_name"],
        "x"
    );
}

#[tokio::test]
async fn update_merges_metadata_and_names_its_reasons() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let c = alice.ok(json!({"op": "conversation.create", "metadata": {"a": 1, "b": "x"}, "participants": ["bob"]})).await;
    let id = c["id"].as_str().unwrap();
    quiet(&[&alice, &bob]);
    let u = bob
        .ok(
            json!({"op": "conversation.update", "conversation": id, "friendly_name": "renamed",
                   "metadata": {"a": null, "c": false}, "attributes": {"k": [1, 2]}}),
        )
        .await;
    assert_eq!(u["metadata"], json!({"b": "x", "c": false}));
    assert_eq!(u["attributes"], json!({"k": [1, 2]}));
    for s in [&alice, &bob] {
        let ev = s.event("conversationUpdated").await;
        assert_eq!(ev.seq, Some(1));
        assert_eq!(ev.data["conversation"]["friendly_name"], "renamed");
        assert_eq!(ev.data["conversation"]["status"], "joined");
        let reasons = ev.data["update_reasons"].as_array().unwrap();
        for r in ["friendly_name", "attributes", "metadata"] {
            assert!(reasons.contains(&json!(r)), "{reasons:?}");
        }
    }
    // Nothing changed: no event.
    bob.ok(json!({"op": "conversation.update", "conversation": id, "friendly_name": "renamed"}))
        .await;
    bob.no_event().await;
    // Bad values change nothing.
    assert_eq!(
        bob.fails(
            json!({"op": "conversation.update", "conversation": id, "metadata": {"n": {"deep": 1}}})
        )
        .await,
        ErrorCode::BadRequest
    );
    assert_eq!(
        bob.fails(json!({"op": "conversation.update", "conversation": id, "state": "gone"}))
            .await,
        ErrorCode::BadRequest
    );
}

/// `conversationUpdated` shows each member its own read horizon, unread
/// count and notification level (members alike share a frame, members not
/// alike do not), and a replay of it shows the replaying member its own.
#[tokio::test]
async fn an_update_shows_each_member_its_own_fields_live_and_replayed() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let id = group(&alice, &["bob", "carol", "dave"]).await;
    for n in 0..3 {
        alice
            .ok(json!({"op": "message.send", "conversation": id, "body": format!("m{n}")}))
            .await;
    }
    let (bob, carol, dave) = (
        e.connect("bob").await.unwrap(),
        e.connect("carol").await.unwrap(),
        e.connect("dave").await.unwrap(),
    );
    bob.ok(json!({"op": "read.set", "conversation": id, "index": 0}))
        .await;
    dave.ok(
        json!({"op": "conversation.set_notification_level", "conversation": id, "level": "muted"}),
    )
    .await;
    quiet(&[&alice, &bob, &carol, &dave]);
    let update = json!({"op": "conversation.update", "conversation": id,
                        "attributes": {"status": "open", "n": 1}});
    alice.ok(update).await;
    // The fields that are each member's own, as its event shows them.
    let own = |c: &serde_json::Value| {
        json!({"status": c["status"], "horizon": c["last_read_message_index"],
               "unread": c["unread_messages_count"], "level": c["notification_level"]})
    };
    let mine = |horizon: serde_json::Value, unread: u64, level: &str| json!({"status": "joined", "horizon": horizon, "unread": unread, "level": level});
    let want = [
        (&alice, mine(json!(null), 0, "default")),
        (&bob, mine(json!(0), 2, "default")),
        (&carol, mine(json!(null), 3, "default")),
        (&dave, mine(json!(null), 3, "muted")),
    ];
    let mut seq = None;
    for (s, fields) in &want {
        let ev = s.event("conversationUpdated").await;
        let c = &ev.data["conversation"];
        assert_eq!(own(c), *fields);
        assert_eq!(c["attributes"], json!({"status": "open", "n": 1}));
        assert_eq!(ev.data["update_reasons"], json!(["attributes"]));
        seq = ev.seq;
    }
    let since = seq.unwrap() - 1;
    for (s, fields) in &want {
        s.ok(json!({"op": "events.replay", "conversation": id, "since_seq": since}))
            .await;
        let ev = s.event("conversationUpdated").await;
        assert_eq!(ev.seq, seq);
        assert_eq!(own(&ev.data["conversation"]), *fields);
    }
}

#[tokio::test]
async fn closing_logs_refuses_messages_and_joins() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let carol = e.connect("carol").await.unwrap();
    let id = group(&alice, &[]).await;
    quiet(&[&alice]);
    alice
        .ok(json!({"op": "conversation.update", "conversation": id, "state": "closed"}))
        .await;
    let ev = alice.event("conversationUpdated").await;
    assert_eq!(ev.data["conversation"]["state"]["current"], "closed");
    let log = alice.event("messageAdded").await;
    assert_eq!(
        (log.data["subtype"].as_str(), log.data["kind"].as_str()),
        (Some("log"), Some("conversation_closed"))
    );
    assert_eq!(log.data["details"], json!({"identity": "alice"}));
    assert_eq!(log.data["author"], serde_json::Value::Null);
    assert_eq!(
        alice
            .fails(json!({"op": "message.send", "conversation": id, "body": "hi"}))
            .await,
        ErrorCode::Conflict
    );
    assert_eq!(
        carol
            .fails(json!({"op": "conversation.join", "conversation": id}))
            .await,
        ErrorCode::Forbidden
    );
    // The log message does not move last_message.
    let c = alice
        .ok(json!({"op": "conversation.get", "conversation": id}))
        .await;
    assert_eq!(c["last_message"], serde_json::Value::Null);
    assert_eq!(c["messages_count"], 1);
}

#[tokio::test]
async fn join_and_leave_announce_in_order() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let id = group(&alice, &[]).await;
    quiet(&[&alice]);
    let c = bob
        .ok(json!({"op": "conversation.join", "conversation": id}))
        .await;
    assert_eq!(c["status"], "joined");
    assert_eq!(bob.event("conversationAdded").await.data["id"], json!(id));
    let joined = bob.event("participantJoined").await;
    assert_eq!(joined.data["identity"], "bob");
    let log = bob.event("messageAdded").await;
    assert_eq!(log.data["kind"], "participant_joined");
    assert_eq!(log.data["details"]["identity"], "bob");
    assert_eq!(log.data["details"]["participant_id"], joined.data["id"]);
    assert_eq!(alice.event("participantJoined").await.seq, joined.seq);
    alice.event("messageAdded").await;
    // Joining again changes nothing.
    bob.ok(json!({"op": "conversation.join", "conversation": id}))
        .await;
    bob.no_event().await;

    bob.ok(json!({"op": "conversation.leave", "conversation": id}))
        .await;
    assert_eq!(bob.event("participantLeft").await.data["identity"], "bob");
    let removed = bob.event("conversationRemoved").await;
    assert_eq!(removed.data, json!({"id": id, "reason": "left"}));
    bob.no_event().await;
    alice.event("participantLeft").await;
    assert_eq!(
        alice.event("messageAdded").await.data["kind"],
        "participant_left"
    );
    // Bob no longer sees the conversation's events.
    send(&alice, &id, "after").await;
    bob.no_event().await;
    assert_eq!(
        bob.fails(json!({"op": "message.list", "conversation": id}))
            .await,
        ErrorCode::Forbidden
    );
    let view = bob
        .ok(json!({"op": "conversation.get", "conversation": id}))
        .await;
    assert_eq!(view["status"], "not_participating");
    assert_eq!(view["unread_messages_count"], 0);
}

#[tokio::test]
async fn delete_needs_admin_and_tells_everyone() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let id = group(&alice, &["bob"]).await;
    quiet(&[&alice, &bob]);
    assert_eq!(
        bob.fails(json!({"op": "conversation.delete", "conversation": id}))
            .await,
        ErrorCode::Forbidden
    );
    alice
        .ok(json!({"op": "conversation.delete", "conversation": id}))
        .await;
    for s in [&alice, &bob] {
        assert_eq!(
            s.event("conversationRemoved").await.data,
            json!({"id": id, "reason": "deleted"})
        );
    }
    assert_eq!(
        alice
            .fails(json!({"op": "conversation.get", "conversation": id}))
            .await,
        ErrorCode::NotFound
    );
    let list = bob.ok(json!({"op": "conversation.list"})).await;
    assert_eq!(list["items"], json!([]));
    assert_eq!(e.metrics().conversations, 0);
}

#[tokio::test]
async fn list_is_most_recent_activity_first_and_pages() {
    let (e, clock) = engine_on_manual_clock();
    let tick = || clock.advance(std::time::Duration::from_millis(2));
    let alice = e.connect("alice").await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(group(&alice, &[]).await);
        tick();
    }
    // A message makes the oldest the most recent.
    tick();
    send(&alice, &ids[0], "bump").await;
    let expected = [&ids[0], &ids[4], &ids[3], &ids[2], &ids[1]];
    let p1 = alice
        .ok(json!({"op": "conversation.list", "page_size": 2}))
        .await;
    let got: Vec<_> = p1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, vec![expected[0].clone(), expected[1].clone()]);
    assert_eq!(
        (p1["has_prev"].as_bool(), p1["has_next"].as_bool()),
        (Some(false), Some(true))
    );
    let p2 = alice
        .ok(json!({"op": "conversation.list", "cursor": p1["next_cursor"]}))
        .await;
    let p3 = alice
        .ok(json!({"op": "conversation.list", "cursor": p2["next_cursor"]}))
        .await;
    assert_eq!(p3["items"].as_array().unwrap().len(), 1);
    assert_eq!(p3["items"][0]["id"].as_str(), Some(ids[1].as_str()));
    assert_eq!(p3["has_next"], false);
    let back = alice
        .ok(json!({"op": "conversation.list", "cursor": p3["prev_cursor"]}))
        .await;
    assert_eq!(back["items"], p2["items"]);
    assert_eq!(
        alice
            .fails(json!({"op": "conversation.list", "page_size": 101}))
            .await,
        ErrorCode::BadRequest
    );
    assert_eq!(
        alice
            .fails(json!({"op": "conversation.list", "cursor": "garbage"}))
            .await,
        ErrorCode::BadRequest
    );
}

/// The ids of `who`'s conversations, in the order `conversation.list` gives.
async fn listed(who: &colloquy::Session) -> Vec<String> {
    let list = who.ok(json!({"op": "conversation.list"})).await;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    items
        .iter()
        .map(|c| c["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Two conversations of alice's, the older made the more recent by a
/// message: answers (older, newer).
async fn older_bumped(
    alice: &colloquy::Session,
    clock: &colloquy::ManualClock,
) -> (String, String) {
    let tick = || clock.advance(std::time::Duration::from_millis(2));
    let older = group(alice, &[]).await;
    tick();
    let newer = group(alice, &[]).await;
    tick();
    send(alice, &older, "bump").await;
    assert_eq!(listed(alice).await, [older.clone(), newer.clone()]);
    tick();
    (older, newer)
}

/// `older` has no chat message left: it has no last message and lists by
/// its creation, after `newer`.
async fn back_to_creation(alice: &colloquy::Session, older: &str, newer: &str) {
    let view = alice
        .ok(json!({"op": "conversation.get", "conversation": older}))
        .await;
    assert_eq!(view["last_message"], serde_json::Value::Null);
    assert_eq!(view["last_message_at"], serde_json::Value::Null);
    assert_eq!(listed(alice).await, [newer.to_string(), older.to_string()]);
}

/// Found by the random walk (`walk/`): a conversation whose only chat message
/// was deleted kept that message's time as its activity, until a restart
/// sorted it by its creation.
#[tokio::test]
async fn activity_goes_back_to_creation_once_no_chat_message_is_left() {
    let (e, clock) = engine_on_manual_clock();
    let alice = e.connect("alice").await.unwrap();
    let (older, newer) = older_bumped(&alice, &clock).await;
    alice
        .ok(json!({"op": "message.delete", "conversation": older, "message": 0}))
        .await;
    back_to_creation(&alice, &older, &newer).await;
}

/// The same when log messages evict the last chat message.
#[tokio::test]
async fn activity_goes_back_when_the_last_chat_message_is_evicted() {
    let (clock, hand) = colloquy::Clock::manual(1_700_000_000_000);
    let e = engine_with(|c| {
        c.clock = clock;
        c.limits.max_history = 2;
    });
    let alice = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let (older, newer) = older_bumped(&alice, &hand).await;
    // Bob's join and leave are two log messages: the chat message is evicted.
    bob.ok(json!({"op": "conversation.join", "conversation": older}))
        .await;
    bob.ok(json!({"op": "conversation.leave", "conversation": older}))
        .await;
    back_to_creation(&alice, &older, &newer).await;
}

#[tokio::test]
async fn notification_level_is_the_callers_own() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let id = group(&alice, &["bob"]).await;
    let c = bob.ok(json!({"op": "conversation.set_notification_level", "conversation": id, "level": "muted"})).await;
    assert_eq!(c["notification_level"], "muted");
    let a = alice
        .ok(json!({"op": "conversation.get", "conversation": id}))
        .await;
    assert_eq!(a["notification_level"], "default");
    assert_eq!(
        bob.fails(json!({"op": "conversation.set_notification_level", "conversation": id, "level": "loud"})).await,
        ErrorCode::BadRequest
    );
}

#[tokio::test]
async fn direct_conversations_are_one_per_pair_and_private() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let carol = e.connect("carol").await.unwrap();
    let d1 = alice
        .ok(json!({"op": "conversation.direct", "identity": "bob"}))
        .await;
    let d2 = bob
        .ok(json!({"op": "conversation.direct", "identity": "alice"}))
        .await;
    assert_eq!(d1["id"], d2["id"]);
    assert_eq!(d1["direct"], true);
    assert_eq!(d1["participants_count"], 2);
    let id = d1["id"].as_str().unwrap();
    assert_eq!(bob.event("conversationAdded").await.data["id"], d1["id"]);
    assert_eq!(
        carol
            .fails(json!({"op": "conversation.get", "conversation": id}))
            .await,
        ErrorCode::Forbidden
    );
    assert_eq!(
        carol
            .fails(json!({"op": "conversation.join", "conversation": id}))
            .await,
        ErrorCode::Forbidden
    );
    assert_eq!(
        alice
            .fails(json!({"op": "participant.add", "conversation": id, "identity": "carol"}))
            .await,
        ErrorCode::Forbidden
    );
    assert_eq!(
        alice
            .fails(json!({"op": "conversation.direct", "identity": "alice"}))
            .await,
        ErrorCode::BadRequest
    );
    // One who left is brought back by asking again.
    bob.ok(json!({"op": "conversation.leave", "conversation": id}))
        .await;
    let again = bob
        .ok(json!({"op": "conversation.direct", "identity": "alice"}))
        .await;
    assert_eq!(again["id"], d1["id"]);
    assert_eq!(again["status"], "joined");
}
