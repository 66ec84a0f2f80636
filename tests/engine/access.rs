use colloquy::{Caller, CloseReason, ErrorCode};
use serde_json::{json, Value};

use crate::util::*;

#[tokio::test]
async fn non_members_are_refused_everything_but_get_and_join() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let eve = e.connect("eve").await.unwrap();
    let id = group(&alice, &["bob"]).await;
    let m = alice
        .ok(json!({"op": "message.send", "conversation": id, "body": "private"}))
        .await;
    let r = alice
        .ok(json!({"op": "reaction.add", "conversation": id, "message": 0, "reaction": "x"}))
        .await;
    let c = json!(id);
    let ops = [
        json!({"op": "conversation.update", "conversation": c, "friendly_name": "pwned"}),
        json!({"op": "conversation.delete", "conversation": c}),
        json!({"op": "conversation.leave", "conversation": c}),
        json!({"op": "conversation.set_notification_level", "conversation": c, "level": "muted"}),
        json!({"op": "participant.add", "conversation": c, "identity": "eve"}),
        json!({"op": "participant.add_non_chat", "conversation": c, "proxy_address": "a", "address": "b"}),
        json!({"op": "participant.remove", "conversation": c, "participant": "bob"}),
        json!({"op": "participant.get", "conversation": c, "participant": "bob"}),
        json!({"op": "participant.list", "conversation": c}),
        json!({"op": "participant.count", "conversation": c}),
        json!({"op": "participant.update", "conversation": c, "participant": "bob", "attributes": {}}),
        json!({"op": "message.send", "conversation": c, "body": "hi"}),
        json!({"op": "message.get", "conversation": c, "message": 0}),
        json!({"op": "message.edit", "conversation": c, "message": 0, "body": "x"}),
        json!({"op": "message.delete", "conversation": c, "message": m["id"]}),
        json!({"op": "message.list", "conversation": c}),
        json!({"op": "message.count", "conversation": c}),
        json!({"op": "reaction.add", "conversation": c, "message": 0, "reaction": "x"}),
        json!({"op": "reaction.remove", "reaction": r["id"]}),
        json!({"op": "read.advance", "conversation": c, "index": 0}),
        json!({"op": "read.set", "conversation": c, "index": 0}),
        json!({"op": "read.all", "conversation": c}),
        json!({"op": "read.none", "conversation": c}),
        json!({"op": "read.mark", "conversation": c}),
        json!({"op": "unread.count", "conversation": c}),
        json!({"op": "typing.start", "conversation": c}),
        json!({"op": "typing.stop", "conversation": c}),
        json!({"op": "events.replay", "conversation": c, "since_seq": 0}),
    ];
    for op in ops {
        assert_eq!(eve.fails(op.clone()).await, ErrorCode::Forbidden, "{op}");
    }
    let view = eve
        .ok(json!({"op": "conversation.get", "conversation": id}))
        .await;
    assert_eq!(view["status"], "not_participating");
    assert_eq!(view["friendly_name"], "group");
    assert_eq!(
        alice
            .ok(json!({"op": "message.count", "conversation": id}))
            .await["count"],
        1
    );
    // Eve saw nothing of it.
    assert!(eve.drain().is_empty());
    eve.ok(json!({"op": "conversation.join", "conversation": id}))
        .await;
    eve.ok(json!({"op": "message.list", "conversation": id}))
        .await;
}

#[tokio::test]
async fn unknown_things_are_not_found() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let id = group(&alice, &[]).await;
    let missing = "00000000-0000-4000-8000-000000000000";
    assert_eq!(
        alice
            .fails(json!({"op": "conversation.get", "conversation": missing}))
            .await,
        ErrorCode::NotFound
    );
    assert_eq!(
        alice
            .fails(json!({"op": "message.send", "conversation": "no-such-name", "body": "x"}))
            .await,
        ErrorCode::NotFound
    );
    assert_eq!(
        alice
            .fails(json!({"op": "message.get", "conversation": id, "message": missing}))
            .await,
        ErrorCode::NotFound
    );
    assert_eq!(
        alice
            .fails(json!({"op": "participant.get", "conversation": id, "participant": missing}))
            .await,
        ErrorCode::NotFound
    );
    assert_eq!(
        alice
            .fails(json!({"op": "reaction.remove", "reaction": missing}))
            .await,
        ErrorCode::NotFound
    );
    assert_eq!(
        alice
            .fails(json!({"op": "reaction.remove", "reaction": "junk"}))
            .await,
        ErrorCode::NotFound
    );
}

#[tokio::test]
async fn the_service_has_every_right_and_names_users() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let c = e
        .request_as(
            Caller::Service,
            json!({"op": "conversation.create", "friendly_name": "svc"}),
        )
        .await
        .unwrap();
    assert_eq!(c["created_by"], Value::Null);
    assert_eq!(c["status"], "not_participating");
    let id = c["id"].as_str().unwrap();
    let p = e
        .request_as(Caller::Service, json!({"op": "participant.add", "conversation": id, "identity": "alice", "role": "admin"}))
        .await
        .unwrap();
    assert_eq!(p["role"], "admin");
    let no_author = e
        .request_as(
            Caller::Service,
            json!({"op": "message.send", "conversation": id, "body": "x"}),
        )
        .await;
    assert_eq!(no_author.unwrap_err().code(), ErrorCode::BadRequest);
    let m = e
        .request_as(
            Caller::Service,
            json!({"op": "message.send", "conversation": id, "body": "x", "author": "system-bot"}),
        )
        .await
        .unwrap();
    let got = alice
        .ok(json!({"op": "message.get", "conversation": id, "message": m["id"]}))
        .await;
    assert_eq!(got["author"], "system-bot");
    e.request_as(Caller::Service, json!({"op": "reaction.add", "conversation": id, "message": 0, "reaction": "ok", "identity": "bot"}))
        .await
        .unwrap();
    let all = e
        .request_as(Caller::Service, json!({"op": "conversation.list"}))
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    e.request_as(
        Caller::Service,
        json!({"op": "conversation.delete", "conversation": id}),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn hostile_values_get_errors_and_the_session_lives_on() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let id = group(&alice, &["bob"]).await;
    send(&alice, &id, "seed").await;
    let weird = [
        json!(null),
        json!(true),
        json!(-1),
        json!(1.5),
        json!(u64::MAX),
        json!(""),
        json!("\u{0000}"),
        json!("x".repeat(70_000)),
        json!([]),
        json!({}),
        json!({"$gt": ""}),
        json!(["00000000-0000-4000-8000-000000000000"]),
    ];
    let ops = crate::walk::ask::OPS.iter().copied();
    let fields = [
        "conversation",
        "identity",
        "identities",
        "message",
        "participant",
        "body",
        "index",
        "anchor",
        "page_size",
        "limit",
        "cursor",
        "since",
        "until",
        "direction",
        "reaction",
        "since_seq",
        "attributes",
        "metadata",
        "details",
        "media",
        "reply_to",
        "client_id",
        "level",
        "role",
        "state",
        "unique_name",
        "friendly_name",
        "participants",
        "proxy_address",
        "address",
        "avatar_url",
    ];
    for op in ops {
        for v in &weird {
            // Every field at once with the same hostile value, and the real conversation for context.
            // Delete and leave act on the conversation alone: for them only the lone form.
            let destructive = matches!(op, "conversation.delete" | "conversation.leave");
            let mut req =
                json!({"op": op, "conversation": if destructive { v.clone() } else { json!(id) }});
            for f in fields {
                if f != "conversation" {
                    req[f] = v.clone();
                }
            }
            let _ = alice.request_json(req).await;
            let mut lone = json!({"op": op});
            lone["conversation"] = v.clone();
            let _ = alice.request_json(lone).await;
        }
    }
    // The engine still answers, and the conversation is intact.
    assert_eq!(alice.ok(json!({"op": "ping"})).await, json!({"pong": true}));
    let c = alice
        .ok(json!({"op": "conversation.get", "conversation": id}))
        .await;
    assert_eq!(c["participants_count"], 2);
    assert_eq!(
        alice
            .ok(json!({"op": "message.get", "conversation": id, "message": 0}))
            .await["body"],
        "seed"
    );
}

#[tokio::test]
async fn malformed_frames_answer_bad_request_with_their_id() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let answer = |f: colloquy::Frame| serde_json::from_str::<Value>(&f).unwrap();
    let a = answer(alice.handle_frame(b"{not json").await);
    assert_eq!(
        (a["re"].clone(), a["ok"].clone(), a["error"]["code"].clone()),
        (Value::Null, json!(false), json!("bad_request"))
    );
    let a = answer(alice.handle_frame(br#"{"id": 3}"#).await);
    assert_eq!(
        (a["re"].clone(), a["error"]["code"].clone()),
        (json!(3), json!("bad_request"))
    );
    let a = answer(
        alice
            .handle_frame(br#"{"id": "q", "op": "warp.drive"}"#)
            .await,
    );
    assert_eq!(
        (a["re"].clone(), a["error"]["code"].clone()),
        (json!("q"), json!("bad_request"))
    );
    let a = answer(
        alice
            .handle_frame(br#"{"id": 4, "op": "message.list", "conversation": 12}"#)
            .await,
    );
    assert_eq!(a["error"]["code"], "bad_request");
    let a = answer(
        alice
            .handle_frame(br#"{"id": 5, "op": "ping", "junk": [1]}"#)
            .await,
    );
    assert_eq!(a, json!({"re": 5, "ok": true, "data": {"pong": true}}));
}

#[tokio::test]
async fn a_slow_consumer_is_dropped_and_its_memory_freed() {
    let e = engine_with(|c| c.limits.max_outbox_bytes = 64 * 1024);
    let alice = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let id = group(&alice, &["bob"]).await;
    // Alice reads; bob never does.
    for i in 0..400 {
        send(&alice, &id, &format!("{i:0>200}")).await;
        alice.drain();
    }
    assert_eq!(bob.outbox().closed(), Some(CloseReason::SlowConsumer));
    assert_eq!(bob.outbox().queued_bytes(), 0);
    assert!(e.metrics().frames_dropped > 0);
    assert_eq!(bob.outbox().closed(), Some(CloseReason::SlowConsumer));
    // Alice was never affected.
    assert_eq!(alice.outbox().closed(), None);
    bob.close(CloseReason::ClientClosed).await;
    let m = e.metrics();
    assert_eq!(
        m.sessions_closed
            .iter()
            .find(|(r, _)| *r == "slow_consumer")
            .map(|x| x.1),
        Some(1)
    );
}

#[tokio::test]
async fn two_engines_share_a_process_but_nothing_else() {
    let one = engine();
    let two = engine();
    let a1 = one.connect("alice").await.unwrap();
    let a2 = two.connect("alice").await.unwrap();
    group(&a1, &[]).await;
    assert_eq!(
        a1.ok(json!({"op": "conversation.list"})).await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        a2.ok(json!({"op": "conversation.list"})).await["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    drop((a1, a2));
    one.shutdown();
    two.shutdown();
}
