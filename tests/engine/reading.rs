use colloquy::ErrorCode;
use serde_json::{json, Value};

use crate::util::*;

async fn unread(s: &colloquy::Session, id: &str) -> u64 {
    s.ok(json!({"op": "unread.count", "conversation": id}))
        .await["unread_messages_count"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn unread_counts_others_chat_messages_above_the_horizon() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let id = group(&alice, &["bob"]).await;
    for i in 0..3 {
        send(&alice, &id, &format!("a{i}")).await;
    }
    send(&bob, &id, "mine").await;
    // A log message never counts as unread.
    alice
        .ok(json!({"op": "participant.add", "conversation": id, "identity": "carol"}))
        .await;
    assert_eq!(
        unread(&bob, &id).await,
        3,
        "no horizon: all of the others' messages"
    );
    assert_eq!(unread(&alice, &id).await, 1);
    let c = bob
        .ok(json!({"op": "conversation.get", "conversation": id}))
        .await;
    assert_eq!(c["unread_messages_count"], 3);
    assert_eq!(c["last_read_message_index"], Value::Null);
    assert_eq!(c["messages_count"], 5);
}

#[tokio::test]
async fn advance_only_moves_forward_and_announces() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let id = group(&alice, &["bob"]).await;
    for i in 0..5 {
        send(&alice, &id, &format!("a{i}")).await;
    }
    quiet(&[&alice, &bob]);
    let r = bob
        .ok(json!({"op": "read.advance", "conversation": id, "index": 2}))
        .await;
    assert_eq!(r, json!({"unread_messages_count": 2}));
    let ev = alice.event("participantUpdated").await;
    assert_eq!(
        ev.data["update_reasons"],
        json!(["last_read_message_index"])
    );
    assert_eq!(ev.data["participant"]["last_read_message_index"], 2);
    assert!(ev.data["participant"]["last_read_at"].is_u64());
    let r = bob
        .ok(json!({"op": "read.advance", "conversation": id, "index": 1}))
        .await;
    assert_eq!(r, json!({"unread_messages_count": 2}), "never backwards");
    alice.no_event().await;
    // Past the end: clamped to the last message.
    let r = bob
        .ok(json!({"op": "read.advance", "conversation": id, "index": 99}))
        .await;
    assert_eq!(r, json!({"unread_messages_count": 0}));
    let p = bob
        .ok(json!({"op": "participant.get", "conversation": id, "participant": "bob"}))
        .await;
    assert_eq!(p["last_read_message_index"], 4);
    assert_eq!(
        bob.fails(json!({"op": "read.advance", "conversation": id, "index": -1}))
            .await,
        ErrorCode::BadRequest
    );
    assert_eq!(
        bob.fails(json!({"op": "read.advance", "conversation": id}))
            .await,
        ErrorCode::BadRequest
    );
}

#[tokio::test]
async fn set_all_none_and_mark() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let id = group(&alice, &["bob"]).await;
    for i in 0..5 {
        send(&alice, &id, &format!("a{i}")).await;
    }
    assert_eq!(
        bob.ok(json!({"op": "read.all", "conversation": id})).await,
        json!({"unread_messages_count": 0})
    );
    // read.set may move back.
    assert_eq!(
        bob.ok(json!({"op": "read.set", "conversation": id, "index": 1}))
            .await,
        json!({"unread_messages_count": 3})
    );
    // null: everything unread again.
    assert_eq!(
        bob.ok(json!({"op": "read.set", "conversation": id, "index": null}))
            .await,
        json!({"unread_messages_count": 5})
    );
    let p = bob
        .ok(json!({"op": "participant.get", "conversation": id, "participant": "bob"}))
        .await;
    assert_eq!(p["last_read_message_index"], Value::Null);
    assert_eq!(
        bob.ok(json!({"op": "read.mark", "conversation": id, "message": 2}))
            .await,
        json!({"unread_messages_count": 2})
    );
    assert_eq!(
        bob.ok(json!({"op": "read.none", "conversation": id})).await,
        json!({"unread_messages_count": 5})
    );
    // read.mark with no message: the last one.
    assert_eq!(
        bob.ok(json!({"op": "read.mark", "conversation": id})).await,
        json!({"unread_messages_count": 0})
    );
    let c = bob
        .ok(json!({"op": "conversation.get", "conversation": id}))
        .await;
    assert_eq!(c["last_read_message_index"], 4);
    send(&alice, &id, "new").await;
    assert_eq!(unread(&bob, &id).await, 1);
    assert_eq!(
        bob.fails(json!({"op": "read.mark", "conversation": id, "message": 77}))
            .await,
        ErrorCode::NotFound
    );
}

#[tokio::test]
async fn empty_conversation_has_nothing_to_read() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let id = group(&alice, &[]).await;
    assert_eq!(
        alice
            .ok(json!({"op": "read.advance", "conversation": id, "index": 3}))
            .await,
        json!({"unread_messages_count": 0})
    );
    assert_eq!(
        alice
            .ok(json!({"op": "read.all", "conversation": id}))
            .await,
        json!({"unread_messages_count": 0})
    );
    let c = alice
        .ok(json!({"op": "conversation.get", "conversation": id}))
        .await;
    assert_eq!(c["last_read_message_index"], Value::Null);
}
