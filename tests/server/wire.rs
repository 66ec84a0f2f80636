//! The contract over a real socket: ready, correlation, events, every op.

use colloquy::testing::TestServer;
use serde_json::{json, Value};

use crate::util::*;

#[actix_rt::test]
async fn ready_comes_first_with_the_session_and_limits() {
    let server = TestServer::start();
    let alice = Ws::connect(&server, "alice").await;
    let d = &alice.ready["data"];
    assert_eq!(d["identity"], "alice");
    assert!(d["session_id"].is_string());
    assert_eq!(d["heartbeat_ms"], 25_000);
    assert_eq!(d["limits"]["max_body_bytes"], 16 * 1024);
    assert_eq!(alice.ready.get("seq"), None);
}

#[actix_rt::test]
async fn answers_carry_the_request_id_back() {
    let server = TestServer::start();
    let mut alice = Ws::connect(&server, "alice").await;
    alice.send_text(r#"{"id":"abc","op":"ping"}"#).await;
    assert_eq!(
        alice.answer(json!("abc")).await,
        json!({"re": "abc", "ok": true, "data": {"pong": true}})
    );
    alice.send_text(r#"{"id":7.5,"op":"ping"}"#).await;
    assert_eq!(alice.answer(json!(7.5)).await["ok"], true);
}

#[actix_rt::test]
async fn malformed_frames_get_bad_request_and_the_session_stays_open() {
    let server = TestServer::start();
    let mut alice = Ws::connect(&server, "alice").await;
    for (frame, re) in [
        ("not json", Value::Null),
        ("[1,2]", Value::Null),
        (r#"{"id":1}"#, json!(1)),
        (r#"{"id":2,"op":"no.such.op"}"#, json!(2)),
        (
            r#"{"id":3,"op":"message.list","conversation":42}"#,
            json!(3),
        ),
        (
            r#"{"id":4,"op":"read.advance","conversation":"c","index":"x"}"#,
            json!(4),
        ),
        // An id of another type is refused, and the op does not run.
        (
            r#"{"id":{"n":5},"op":"conversation.create","unique_name":"not-made"}"#,
            Value::Null,
        ),
        (r#"{"id":true,"op":"ping"}"#, Value::Null),
    ] {
        alice.send_text(frame).await;
        let a = alice.answer(re.clone()).await;
        assert_eq!(
            (a["ok"].clone(), a["error"]["code"].clone()),
            (json!(false), json!("bad_request")),
            "{frame}"
        );
        assert!(a["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    alice
        .send_frame(awc::ws::Message::Binary(bytes::Bytes::from_static(b"{}")))
        .await;
    assert_eq!(
        alice.answer(Value::Null).await["error"]["code"],
        "bad_request"
    );
    assert_eq!(alice.ok(json!({"op": "ping"})).await, json!({"pong": true}));
    let get = json!({"op": "conversation.get", "conversation": "not-made"});
    assert_eq!(alice.fails(get).await, "not_found");
}

#[actix_rt::test]
async fn two_users_chat_over_the_wire() {
    let server = TestServer::start();
    let mut alice = Ws::connect(&server, "alice").await;
    let mut bob = Ws::connect(&server, "bob").await;
    let id = group(&mut alice, &["bob"]).await;
    assert_eq!(
        bob.event("conversationAdded").await["data"]["id"],
        json!(id)
    );
    let sent = alice
        .ok(json!({"op": "message.send", "conversation": id, "body": "hello"}))
        .await;
    let ev = bob.event("messageAdded").await;
    assert_eq!(ev["seq"], 1);
    assert_eq!(ev["conversation"], json!(id));
    assert_eq!(ev["data"]["id"], sent["id"]);
    assert_eq!(ev["data"]["body"], "hello");
    assert_eq!(alice.event("messageAdded").await["seq"], 1);
    bob.ok(json!({"op": "typing.start", "conversation": id}))
        .await;
    let t = alice.event("typingStarted").await;
    assert_eq!(t["data"], json!({"identity": "bob"}));
    assert!(t.get("seq").is_none());
    alice.event("typingEnded").await;
}

/// Every op of the contract once over the socket, with the events it causes.
#[actix_rt::test]
async fn every_op_over_the_wire() {
    let server = TestServer::start();
    let mut a = Ws::connect(&server, "alice").await;
    let mut b = Ws::connect(&server, "bob").await;
    let c = a.ok(json!({"op": "conversation.create", "friendly_name": "all", "unique_name": "all-ops", "participants": ["bob"]})).await;
    let id = c["id"].as_str().unwrap().to_string();
    b.event("conversationAdded").await;
    a.ok(json!({"op": "conversation.get", "conversation": "all-ops"}))
        .await;
    assert_eq!(
        a.ok(json!({"op": "conversation.list"})).await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    a.ok(json!({"op": "conversation.update", "conversation": id, "attributes": {"x": 1}}))
        .await;
    assert_eq!(
        b.event("conversationUpdated").await["data"]["update_reasons"],
        json!(["attributes"])
    );
    b.ok(
        json!({"op": "conversation.set_notification_level", "conversation": id, "level": "muted"}),
    )
    .await;
    let d = a
        .ok(json!({"op": "conversation.direct", "identity": "bob"}))
        .await;
    assert_eq!(d["direct"], true);
    a.ok(json!({"op": "participant.add", "conversation": id, "identity": "carol"}))
        .await;
    let nc = a.ok(json!({"op": "participant.add_non_chat", "conversation": id, "proxy_address": "+1", "address": "+2"})).await;
    assert_eq!(
        a.ok(json!({"op": "participant.count", "conversation": id}))
            .await["count"],
        4
    );
    a.ok(json!({"op": "participant.get", "conversation": id, "participant": "carol"}))
        .await;
    assert_eq!(
        a.ok(json!({"op": "participant.list", "conversation": id}))
            .await["items"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    a.ok(json!({"op": "participant.update", "conversation": id, "participant": "carol", "attributes": {"k": 1}})).await;
    a.ok(json!({"op": "participant.remove", "conversation": id, "participant": nc["id"]}))
        .await;
    let m = a
        .ok(json!({"op": "message.send", "conversation": id, "body": "one", "client_id": "k1"}))
        .await;
    a.ok(json!({"op": "message.get", "conversation": id, "message": m["index"]}))
        .await;
    a.ok(json!({"op": "message.edit", "conversation": id, "message": m["id"], "body": "uno"}))
        .await;
    assert!(
        a.ok(json!({"op": "message.count", "conversation": id}))
            .await["count"]
            .as_u64()
            .unwrap()
            >= 1
    );
    a.ok(json!({"op": "message.list", "conversation": id, "page_size": 2}))
        .await;
    a.ok(json!({"op": "message.feed", "limit": 5})).await;
    let r = b.ok(json!({"op": "reaction.add", "conversation": id, "message": m["index"], "reaction": "+1"})).await;
    b.ok(json!({"op": "reaction.remove", "reaction": r["id"]}))
        .await;
    b.ok(json!({"op": "read.advance", "conversation": id, "index": 0}))
        .await;
    b.ok(json!({"op": "read.set", "conversation": id, "index": null}))
        .await;
    b.ok(json!({"op": "read.all", "conversation": id})).await;
    b.ok(json!({"op": "read.none", "conversation": id})).await;
    b.ok(json!({"op": "read.mark", "conversation": id})).await;
    assert_eq!(
        b.ok(json!({"op": "unread.count", "conversation": id}))
            .await["unread_messages_count"],
        0
    );
    b.ok(json!({"op": "typing.start", "conversation": id}))
        .await;
    b.ok(json!({"op": "typing.stop", "conversation": id})).await;
    let p = a
        .ok(json!({"op": "presence.get", "identities": ["bob", "zed"]}))
        .await;
    assert_eq!(p["items"][0]["online"], true);
    assert_eq!(p["items"][1]["online"], false);
    a.ok(json!({"op": "user.update", "friendly_name": "Alice"}))
        .await;
    let replay = b
        .ok(json!({"op": "events.replay", "conversation": id, "since_seq": 0}))
        .await;
    assert_eq!(replay["recovered"], true);
    a.ok(json!({"op": "message.delete", "conversation": id, "message": m["id"]}))
        .await;
    b.ok(json!({"op": "conversation.leave", "conversation": id}))
        .await;
    b.ok(json!({"op": "conversation.join", "conversation": id}))
        .await;
    a.ok(json!({"op": "conversation.delete", "conversation": id}))
        .await;
    assert_eq!(
        b.event_skipping("conversationRemoved").await["data"]["reason"],
        "left"
    );
    let deleted = b.event_skipping("conversationRemoved").await;
    assert_eq!(deleted["data"], json!({"id": id, "reason": "deleted"}));
}

#[actix_rt::test]
async fn replay_after_reconnect_misses_nothing_and_repeats_nothing() {
    let server = TestServer::start();
    let mut alice = Ws::connect(&server, "alice").await;
    let mut bob = Ws::connect(&server, "bob").await;
    let id = group(&mut alice, &["bob"]).await;
    bob.event("conversationAdded").await;
    alice
        .ok(json!({"op": "message.send", "conversation": id, "body": "1"}))
        .await;
    let last_seen = bob.event("messageAdded").await["seq"].as_u64().unwrap();
    bob.close().await;
    for i in 2..=4 {
        alice
            .ok(json!({"op": "message.send", "conversation": id, "body": i.to_string()}))
            .await;
    }
    let mut bob = Ws::connect(&server, "bob").await;
    let r = bob
        .ok(json!({"op": "events.replay", "conversation": id, "since_seq": last_seen}))
        .await;
    assert_eq!(r, json!({"recovered": true, "last_seq": 4}));
    for (seq, body) in [(2, "2"), (3, "3"), (4, "4")] {
        let e = bob.event("messageAdded").await;
        assert_eq!(
            (e["seq"].as_u64(), e["data"]["body"].as_str()),
            (Some(seq), Some(body))
        );
    }
    bob.no_event().await;
}

#[actix_rt::test]
async fn non_members_are_refused_over_the_wire() {
    let server = TestServer::start();
    let mut alice = Ws::connect(&server, "alice").await;
    let mut eve = Ws::connect(&server, "eve").await;
    let id = group(&mut alice, &["bob"]).await;
    let d = alice
        .ok(json!({"op": "conversation.direct", "identity": "bob"}))
        .await;
    for op in [
        json!({"op": "message.send", "conversation": id, "body": "x"}),
        json!({"op": "message.list", "conversation": id}),
        json!({"op": "participant.list", "conversation": id}),
        json!({"op": "typing.start", "conversation": id}),
        json!({"op": "read.all", "conversation": id}),
        json!({"op": "conversation.get", "conversation": d["id"]}),
        json!({"op": "conversation.join", "conversation": d["id"]}),
    ] {
        assert_eq!(eve.fails(op.clone()).await, "forbidden", "{op}");
    }
    assert_eq!(
        eve.ok(json!({"op": "conversation.get", "conversation": id}))
            .await["status"],
        "not_participating"
    );
    eve.no_event().await;
}

/// Requests sent before the client's Close frame still run, though their
/// answers can no longer reach it. (The client completes the closing handshake:
/// one that drops its socket with unread data resets the connection, and TCP
/// then discards what the server had not read yet.)
#[actix_rt::test]
async fn requests_sent_just_before_closing_still_run() {
    let server = TestServer::start();
    let mut alice = Ws::connect(&server, "alice").await;
    let id = group(&mut alice, &[]).await;
    for i in 0..20 {
        alice
            .send_text(
                json!({"id": i, "op": "message.send", "conversation": id, "body": i.to_string()})
                    .to_string(),
            )
            .await;
    }
    alice.send_frame(awc::ws::Message::Close(None)).await;
    assert_eq!(alice.close_code(WAIT).await, Some(1000));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let count = loop {
        let c = server
            .engine()
            .request_as(
                colloquy::Caller::Service,
                json!({"op": "message.count", "conversation": id}),
            )
            .await
            .unwrap()["count"]
            .as_u64()
            .unwrap();
        if c == 20 || std::time::Instant::now() > deadline {
            break c;
        }
        actix_rt::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(count, 20);
}

#[actix_rt::test]
async fn fragmented_requests_are_joined_and_pings_are_answered() {
    use actix_http::ws::Item;
    use awc::ws::{Frame, Message};
    let server = TestServer::start();
    let mut alice = Ws::connect(&server, "alice").await;
    let parts = [r#"{"id": 7, "#, r#""op": "#, r#""ping"}"#];
    alice
        .send_frame(Message::Continuation(Item::FirstText(parts[0].into())))
        .await;
    alice
        .send_frame(Message::Continuation(Item::Continue(parts[1].into())))
        .await;
    alice
        .send_frame(Message::Continuation(Item::Last(parts[2].into())))
        .await;
    let answer = alice.answer(json!(7)).await;
    assert_eq!(answer["data"], json!({"pong": true}));

    alice.send_frame(Message::Ping("hi".into())).await;
    match alice.frame(WAIT).await {
        Some(Frame::Pong(p)) => assert_eq!(&p[..], b"hi"),
        other => panic!("expected a pong, got {other:?}"),
    }
    // Binary is refused, the session stays open.
    alice.send_frame(Message::Binary("{}".into())).await;
    let refused = alice.recv_json().await.expect("an answer");
    assert_eq!(refused["error"]["code"], "bad_request");
    alice.ok(json!({"op": "ping"})).await;
}

#[actix_rt::test]
async fn a_client_close_is_answered_1000_and_the_connection_ends() {
    let server = TestServer::start();
    let mut alice = Ws::connect(&server, "alice").await;
    alice
        .send_frame(awc::ws::Message::Close(Some(
            awc::ws::CloseCode::Normal.into(),
        )))
        .await;
    assert_eq!(alice.close_code(WAIT).await, Some(1000));
    // Then the server ends the TCP connection: the stream ends, no frame hangs.
    assert!(alice.frame(WAIT).await.is_none());
}

#[actix_rt::test]
async fn upgrades_elsewhere_and_plain_gets_get_json_errors() {
    let server = TestServer::start();
    let base = server.url();
    let ws_base = base.replacen("http://", "ws://", 1);
    let refused = connect_url(&format!("{ws_base}/v1/nowhere?identity=alice"), None)
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.status, 404);
    let mut res = awc::Client::new()
        .get(format!("{base}/v1/ws?identity=alice"))
        .send()
        .await
        .expect("a response");
    assert_eq!(res.status().as_u16(), 400);
    let body: Value = res.json().await.expect("a JSON body");
    assert_eq!(body["error"]["code"], "bad_request");
}

#[actix_rt::test]
async fn text_that_is_not_utf8_closes_1007() {
    use actix_http::ws::Item;
    use awc::ws::Message;
    let server = TestServer::start();
    let mut alice = Ws::connect(&server, "alice").await;
    // A text message, in fragments (whose payloads awc does not check).
    alice
        .send_frame(Message::Continuation(Item::FirstText(
            bytes::Bytes::from_static(b"{\"op\": \"\xff"),
        )))
        .await;
    alice
        .send_frame(Message::Continuation(Item::Last(
            bytes::Bytes::from_static(b"\"}"),
        )))
        .await;
    assert_eq!(alice.close_code(WAIT).await, Some(1007));
}

/// Nagle off on accepted sockets: pipelined fanout would otherwise stall on
/// delayed ACKs. The server runs in this process, so its end of the connection
/// is one of our own fds.
#[cfg(target_os = "linux")]
#[actix_rt::test]
async fn accepted_sockets_have_nagle_off() {
    use std::os::fd::BorrowedFd;
    let server = TestServer::start();
    let _alice = Ws::connect(&server, "alice").await;
    let port = server.addr().port();
    let mut checked = 0;
    for entry in std::fs::read_dir("/proc/self/fd").expect("fds") {
        let Some(fd) = entry
            .ok()
            .and_then(|e| e.file_name().to_str()?.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: only read through, for this loop's body; an fd another thread
        // closes meanwhile makes the calls fail (or read an unrelated socket,
        // which the port check below skips), nothing worse.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let sock = socket2::SockRef::from(&fd);
        let local = sock.local_addr().ok().and_then(|a| a.as_socket());
        if local.map(|a| a.port()) == Some(port) && sock.peer_addr().is_ok() {
            assert!(sock.tcp_nodelay().expect("TCP_NODELAY"), "Nagle is on");
            checked += 1;
        }
    }
    assert!(checked >= 1, "the server's end of the connection was found");
}
