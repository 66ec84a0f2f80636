use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use colloquy::ErrorCode;
use serde_json::{json, Value};

use crate::util::*;

#[tokio::test]
async fn send_get_and_the_message_object() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let id = group(&alice, &["bob"]).await;
    quiet(&[&alice, &bob]);
    let a = alice
        .ok(
            json!({"op": "message.send", "conversation": id, "body": "hi", "attributes": {"a": 1},
                   "metadata": {"m": "x"}, "details": {"d": [1]}}),
        )
        .await;
    assert_eq!(a["index"], 0);
    assert!(a["created_at"].as_u64().unwrap() > 0);
    let ev = bob.event("messageAdded").await;
    assert_eq!(ev.seq, Some(1));
    assert_eq!(ev.conversation.as_deref(), Some(id.as_str()));
    let m = ev.data;
    assert_eq!(m["id"], a["id"]);
    assert_eq!(
        (m["author"].as_str(), m["body"].as_str()),
        (Some("alice"), Some("hi"))
    );
    assert_eq!(
        (m["type"].as_str(), m["subtype"].as_str()),
        (Some("message"), Some("chat"))
    );
    assert_eq!(m["kind"], Value::Null);
    assert_eq!(m["edited"], false);
    assert_eq!(m["metadata"], json!({"m": "x"}));
    assert_eq!(m["details"], json!({"d": [1]}));
    assert_eq!(m["reactions"], json!([]));
    let ts = m["ts"].as_f64().unwrap();
    assert!((ts * 1000.0 - m["created_at"].as_f64().unwrap()).abs() < 1.0);
    // The author's own sessions get it too.
    assert_eq!(alice.event("messageAdded").await.data["id"], a["id"]);
    let by_index = bob
        .ok(json!({"op": "message.get", "conversation": id, "message": 0}))
        .await;
    let by_id = bob
        .ok(json!({"op": "message.get", "conversation": id, "message": a["id"]}))
        .await;
    assert_eq!(by_index, by_id);
    assert_eq!(
        bob.fails(json!({"op": "message.get", "conversation": id, "message": 9}))
            .await,
        ErrorCode::NotFound
    );
    let c = bob
        .ok(json!({"op": "conversation.get", "conversation": id}))
        .await;
    assert_eq!(
        c["last_message"],
        json!({"index": 0, "created_at": a["created_at"]})
    );
    assert_eq!(c["last_message_at"], a["created_at"]);
}

#[tokio::test]
async fn a_message_needs_a_body_or_media() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let id = group(&alice, &[]).await;
    for bad in [json!({}), json!({"body": ""}), json!({"media": []})] {
        let mut req = json!({"op": "message.send", "conversation": id});
        req.as_object_mut()
            .unwrap()
            .extend(bad.as_object().unwrap().clone());
        assert_eq!(alice.fails(req).await, ErrorCode::BadRequest);
    }
    let png = STANDARD.encode(b"\x89PNG....");
    let a = alice
        .ok(json!({"op": "message.send", "conversation": id, "media": [{"content_type": "image/png", "filename": "a.png", "data": png}]}))
        .await;
    let m = alice
        .ok(json!({"op": "message.get", "conversation": id, "message": a["index"]}))
        .await;
    assert_eq!(m["media"][0]["content_type"], "image/png");
    assert_eq!(m["media"][0]["filename"], "a.png");
    assert_eq!(m["media"][0]["size"], 8);
    assert!(m["media"][0]["id"].is_string());
    assert_eq!(m["body"], Value::Null);
}

#[tokio::test]
async fn replies_point_at_their_message() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let id = group(&alice, &[]).await;
    let first = alice
        .ok(json!({"op": "message.send", "conversation": id, "body": "q"}))
        .await;
    let r = alice
        .ok(json!({"op": "message.send", "conversation": id, "body": "a", "reply_to": 0}))
        .await;
    let m = alice
        .ok(json!({"op": "message.get", "conversation": id, "message": r["id"]}))
        .await;
    assert_eq!(m["reply_to"], json!({"id": first["id"], "index": 0}));
    assert_eq!(
        alice
            .fails(json!({"op": "message.send", "conversation": id, "body": "a", "reply_to": 77}))
            .await,
        ErrorCode::NotFound
    );
}

#[tokio::test]
async fn only_the_author_edits_and_author_or_admin_deletes() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let id = group(&alice, &["bob", "carol"]).await;
    let carol = e.connect("carol").await.unwrap();
    let m = bob
        .ok(json!({"op": "message.send", "conversation": id, "body": "tpyo"}))
        .await;
    quiet(&[&alice, &bob]);
    assert_eq!(
        alice
            .fails(json!({"op": "message.edit", "conversation": id, "message": 0, "body": "x"}))
            .await,
        ErrorCode::Forbidden
    );
    let edited = bob.ok(json!({"op": "message.edit", "conversation": id, "message": 0, "body": "typo", "attributes": {"e": 1}})).await;
    assert_eq!(edited["body"], "typo");
    assert_eq!(edited["edited"], true);
    let ev = alice.event("messageUpdated").await;
    assert_eq!(ev.data["update_reasons"], json!(["body", "attributes"]));
    assert_eq!(ev.data["message"]["body"], "typo");
    assert_eq!(
        bob.fails(json!({"op": "message.edit", "conversation": id, "message": 0, "body": ""}))
            .await,
        ErrorCode::BadRequest
    );

    assert_eq!(
        carol
            .fails(json!({"op": "message.delete", "conversation": id, "message": 0}))
            .await,
        ErrorCode::Forbidden
    );
    alice
        .ok(json!({"op": "message.delete", "conversation": id, "message": m["id"]}))
        .await;
    assert_eq!(
        alice.event("messageRemoved").await.data,
        json!({"id": m["id"], "index": 0})
    );
    let mine = carol
        .ok(json!({"op": "message.send", "conversation": id, "body": "mine"}))
        .await;
    carol
        .ok(json!({"op": "message.delete", "conversation": id, "message": mine["index"]}))
        .await;
    // Deletes leave gaps: the next index is still new.
    assert_eq!(send(&bob, &id, "next").await, 2);
    assert_eq!(
        bob.ok(json!({"op": "message.count", "conversation": id}))
            .await["count"],
        1
    );
}

#[tokio::test]
async fn client_id_makes_send_idempotent() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let id = group(&alice, &["bob"]).await;
    quiet(&[&alice, &bob]);
    let req = json!({"op": "message.send", "conversation": id, "body": "once", "client_id": "c-1"});
    let a = alice.ok(req.clone()).await;
    let b = alice.ok(req.clone()).await;
    assert_eq!(a, b);
    bob.event("messageAdded").await;
    bob.no_event().await;
    // The same client_id from someone else is another message.
    let c = bob
        .ok(json!({"op": "message.send", "conversation": id, "body": "once", "client_id": "c-1"}))
        .await;
    assert_ne!(c["id"], a["id"]);
    assert_eq!(
        alice
            .ok(json!({"op": "message.count", "conversation": id}))
            .await["count"],
        2
    );
}

#[tokio::test]
async fn limits_are_enforced_and_change_nothing() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let id = group(&alice, &[]).await;
    let send = |extra: Value| {
        let mut req = json!({"op": "message.send", "conversation": id, "body": "x"});
        req.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        req
    };
    let cases = [
        (
            json!({"body": "x".repeat(16 * 1024 + 1)}),
            ErrorCode::TooLarge,
        ),
        (
            json!({"attributes": {"a": "x".repeat(16 * 1024)}}),
            ErrorCode::TooLarge,
        ),
        (
            json!({"details": {"a": "x".repeat(16 * 1024)}}),
            ErrorCode::TooLarge,
        ),
        (
            json!({"metadata": {"a": "x".repeat(16 * 1024)}}),
            ErrorCode::TooLarge,
        ),
        (json!({"metadata": {"a": [1]}}), ErrorCode::BadRequest),
        (
            json!({"media": vec![json!({"content_type": "text/plain", "data": "eA=="}); 11]}),
            ErrorCode::TooLarge,
        ),
        (
            json!({"media": [{"content_type": "text/plain", "data": STANDARD.encode(vec![1u8; 128 * 1024 + 1])}]}),
            ErrorCode::TooLarge,
        ),
        (
            json!({"media": [{"content_type": "text/plain", "data": "not base64!"}]}),
            ErrorCode::BadRequest,
        ),
        (
            json!({"media": [{"content_type": "", "data": "eA=="}]}),
            ErrorCode::BadRequest,
        ),
    ];
    for (extra, code) in cases {
        assert_eq!(
            alice.fails(send(extra.clone())).await,
            code,
            "{}",
            &extra.to_string()[..60.min(extra.to_string().len())]
        );
    }
    // Exactly at the limits is fine.
    alice.ok(send(json!({"body": "x".repeat(16 * 1024)}))).await;
    alice
        .ok(send(json!({"media": [{"content_type": "application/octet-stream", "data": STANDARD.encode(vec![1u8; 128 * 1024])}]})))
        .await;
    assert_eq!(
        alice
            .ok(json!({"op": "message.count", "conversation": id}))
            .await["count"],
        2
    );
    let long = "n".repeat(257);
    assert_eq!(
        alice
            .fails(json!({"op": "conversation.create", "friendly_name": long}))
            .await,
        ErrorCode::BadRequest
    );
    assert_eq!(
        alice
            .fails(json!({"op": "conversation.create", "unique_name": long}))
            .await,
        ErrorCode::BadRequest
    );
    assert_eq!(
        alice
            .fails(json!({"op": "participant.add", "conversation": id, "identity": long}))
            .await,
        ErrorCode::BadRequest
    );
    assert_eq!(
        alice
            .fails(json!({"op": "participant.add", "conversation": id, "identity": "a\u{7}b"}))
            .await,
        ErrorCode::BadRequest
    );
    assert_eq!(
        alice
            .fails(json!({"op": "participant.add", "conversation": id, "identity": ""}))
            .await,
        ErrorCode::BadRequest
    );
    assert_eq!(
        alice
            .ok(json!({"op": "participant.count", "conversation": id}))
            .await["count"],
        1
    );
}

#[tokio::test]
async fn history_is_capped_oldest_first() {
    let e = engine_with(|c| c.limits.max_history = 5);
    let alice = e.connect("alice").await.unwrap();
    let id = group(&alice, &[]).await;
    for i in 0..8 {
        send(&alice, &id, &format!("m{i}")).await;
    }
    assert_eq!(
        alice
            .ok(json!({"op": "message.count", "conversation": id}))
            .await["count"],
        5
    );
    assert_eq!(
        alice
            .fails(json!({"op": "message.get", "conversation": id, "message": 2}))
            .await,
        ErrorCode::NotFound
    );
    let page = alice
        .ok(json!({"op": "message.list", "conversation": id, "direction": "forward"}))
        .await;
    let idx: Vec<u64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["index"].as_u64().unwrap())
        .collect();
    assert_eq!(idx, vec![3, 4, 5, 6, 7]);
    assert_eq!(page["has_prev"], false);
}

#[tokio::test]
async fn reactions_once_per_user_and_removable() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let id = group(&alice, &["bob"]).await;
    let m = alice
        .ok(json!({"op": "message.send", "conversation": id, "body": "react"}))
        .await;
    quiet(&[&alice, &bob]);
    let r = bob
        .ok(json!({"op": "reaction.add", "conversation": id, "message": 0, "reaction": "👍"}))
        .await;
    let ev = alice.event("reactionAdded").await;
    assert_eq!(ev.data["message_id"], m["id"]);
    assert_eq!(ev.data["message_index"], 0);
    assert_eq!(ev.data["reaction"]["id"], r["id"]);
    assert_eq!(ev.data["reaction"]["identity"], "bob");
    assert_eq!(ev.data["reaction"]["reaction"], "👍");
    let up = alice.event("messageUpdated").await;
    assert_eq!(up.data["update_reasons"], json!(["reactions"]));
    assert_eq!(up.data["message"]["reactions"][0]["id"], r["id"]);
    quiet(&[&alice, &bob]);
    let again = bob
        .ok(json!({"op": "reaction.add", "conversation": id, "message": m["id"], "reaction": "👍"}))
        .await;
    assert_eq!(again, r);
    alice.no_event().await;
    for bad in [json!(""), json!("x".repeat(65))] {
        assert_eq!(
            bob.fails(
                json!({"op": "reaction.add", "conversation": id, "message": 0, "reaction": bad})
            )
            .await,
            ErrorCode::BadRequest
        );
    }
    assert_eq!(
        bob.fails(json!({"op": "reaction.add", "conversation": id, "message": 5, "reaction": "x"}))
            .await,
        ErrorCode::NotFound
    );
    // Only who reacted, or an admin, removes it.
    let alices = alice
        .ok(json!({"op": "reaction.add", "conversation": id, "message": 0, "reaction": "🎉"}))
        .await;
    assert_eq!(
        bob.fails(json!({"op": "reaction.remove", "reaction": alices["id"]}))
            .await,
        ErrorCode::Forbidden
    );
    bob.ok(json!({"op": "reaction.remove", "reaction": r["id"], "conversation": id}))
        .await;
    quiet(&[&alice]);
    alice
        .ok(json!({"op": "reaction.remove", "reaction": alices["id"]}))
        .await;
    let ev = alice.event("reactionRemoved").await;
    assert_eq!(
        ev.data,
        json!({"message_id": m["id"], "message_index": 0, "reaction_id": alices["id"]})
    );
    assert_eq!(
        bob.fails(json!({"op": "reaction.remove", "reaction": r["id"]}))
            .await,
        ErrorCode::NotFound
    );
    let msg = alice
        .ok(json!({"op": "message.get", "conversation": id, "message": 0}))
        .await;
    assert_eq!(msg["reactions"], json!([]));
}
