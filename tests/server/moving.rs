//! A session moves to the arbiter that runs its user's conversations once it
//! joins one, without its client noticing: nothing lost, nothing twice,
//! nothing out of order, requests in flight answered.

use std::time::Duration;

use colloquy::testing::{RestResponse, TestServer};
use serde_json::{json, Value};

use crate::util::*;

fn moved(server: &TestServer) -> u64 {
    server.engine().metrics().sessions_moved
}

/// Waits (bounded) until the engine has counted `want` moves.
async fn moves(server: &TestServer, want: u64) -> u64 {
    for _ in 0..250 {
        if moved(server) >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    moved(server)
}

/// The service makes a conversation with alice and bob in it.
async fn alice_and_bob_added(server: &TestServer) -> RestResponse {
    let c = server
        .rest()
        .post(
            "/v1/conversations",
            json!({"participants": ["alice", "bob"]}),
        )
        .await
        .expect("create");
    assert_eq!(c.status, 201, "{:?}", c.body);
    c
}

/// The `seq` of every `messageAdded` in `events`, and their bodies.
fn added(events: &[Value]) -> (Vec<u64>, Vec<String>) {
    events
        .iter()
        .filter(|e| e["event"] == "messageAdded")
        .map(|e| {
            (
                e["seq"].as_u64().expect("a seq"),
                e["data"]["body"].as_str().unwrap_or_default().to_string(),
            )
        })
        .unzip()
}

/// Reads frames until `n` answers have come, keeping the events.
async fn answers_and_events(ws: &mut Ws, n: usize) -> (Vec<Value>, Vec<Value>) {
    let (mut answers, mut events) = (Vec::new(), Vec::new());
    while answers.len() < n {
        let f = ws.recv_json().await.expect("a frame");
        if f.get("event").is_some() {
            events.push(f);
        } else {
            answers.push(f);
        }
    }
    (answers, events)
}

#[actix_rt::test]
async fn a_session_follows_its_new_conversation_while_messages_flow() {
    // Two arbiters (the test configuration); users in no conversation take
    // them in turn, so bob and alice start on different ones, and one of them
    // runs on the other arbiter from the conversation alice makes.
    let server = TestServer::start();
    let mut bob = Ws::connect(&server, "bob").await;
    let mut alice = Ws::connect(&server, "alice").await;
    assert_eq!(moved(&server), 0, "nobody moves before joining anything");

    let c = alice
        .ok(json!({"op": "conversation.create", "participants": ["bob"]}))
        .await["id"]
        .as_str()
        .expect("an id")
        .to_string();
    // Alice sends at once, pipelined, while one of the two sessions moves.
    const N: usize = 200;
    for i in 0..N {
        let m = json!({"id": i, "op": "message.send", "conversation": c, "body": format!("m{i}")});
        alice.send_text(m.to_string()).await;
    }
    let (answers, mut alice_events) = answers_and_events(&mut alice, N).await;
    let res: Vec<u64> = answers
        .iter()
        .map(|a| a["re"].as_u64().expect("re"))
        .collect();
    assert_eq!(res, (0..N as u64).collect::<Vec<_>>(), "answers in order");
    assert!(answers.iter().all(|a| a["ok"] == true));

    let want: Vec<String> = (0..N).map(|i| format!("m{i}")).collect();
    let mut bob_events = Vec::new();
    while added(&bob_events).0.len() < N {
        bob_events.push(bob.recv_json().await.expect("bob's events"));
    }
    while added(&alice_events).0.len() < N {
        alice_events.push(alice.recv_json().await.expect("alice's events"));
    }
    for events in [&bob_events, &alice_events] {
        let (seqs, bodies) = added(events);
        assert_eq!(bodies, want, "every message once, in order");
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "seq without a gap: {seqs:?}"
        );
    }
    assert_eq!(moves(&server, 1).await, 1, "one of the two sessions moved");

    // Both sessions still work both ways after the move.
    let sent = bob
        .ok(json!({"op": "message.send", "conversation": c, "body": "after"}))
        .await;
    let e = alice.event_skipping("messageAdded").await;
    assert_eq!(e["data"]["id"], sent["id"]);
    assert_eq!(e["data"]["body"], "after");
    assert_eq!(alice.ok(json!({"op": "ping"})).await["pong"], true);
    // And each is still one session: online, one `userStatus` per change.
    let p = alice
        .ok(json!({"op": "presence.get", "identities": ["bob"]}))
        .await;
    assert_eq!(p["items"][0]["online"], true);
    assert_eq!(server.engine().metrics().sessions_open, 2);
}

#[actix_rt::test]
async fn clients_pipelining_requests_through_a_move_get_every_answer_in_order() {
    let server = TestServer::start();
    let mut alice = Ws::connect(&server, "alice").await;
    let mut bob = Ws::connect(&server, "bob").await;
    // Both ping without waiting, and the service adds both to a conversation
    // midway: the one of the two on the other arbiter from it moves while
    // its pings are in flight.
    const N: usize = 300;
    for i in 0..N / 2 {
        for ws in [&mut alice, &mut bob] {
            ws.send_text(json!({"id": i, "op": "ping"}).to_string())
                .await;
        }
    }
    let c = alice_and_bob_added(&server).await;
    for i in N / 2..N {
        for ws in [&mut alice, &mut bob] {
            ws.send_text(json!({"id": i, "op": "ping"}).to_string())
                .await;
        }
    }
    for ws in [&mut alice, &mut bob] {
        let (answers, events) = answers_and_events(ws, N).await;
        let res: Vec<u64> = answers
            .iter()
            .map(|a| a["re"].as_u64().expect("re"))
            .collect();
        assert_eq!(res, (0..N as u64).collect::<Vec<_>>(), "answers in order");
        assert!(answers.iter().all(|a| a["data"]["pong"] == true));
        let mut added: Vec<Value> = events
            .into_iter()
            .filter(|e| e["event"] == "conversationAdded")
            .collect();
        if added.is_empty() {
            added.push(ws.event_skipping("conversationAdded").await);
        }
        assert_eq!(added.len(), 1, "conversationAdded once");
        assert_eq!(added[0]["data"]["id"], c.body["id"]);
    }
    assert_eq!(moves(&server, 1).await, 1, "alice or bob moved");
    let sent = alice
        .ok(json!({"op": "message.send", "conversation": c.body["id"], "body": "hi"}))
        .await;
    assert_eq!(
        bob.event_skipping("messageAdded").await["data"]["id"],
        sent["id"]
    );
    assert_eq!(bob.ok(json!({"op": "ping"})).await["pong"], true);
}

#[actix_rt::test]
async fn a_move_waits_for_a_fragmented_message_and_carries_half_a_frame() {
    use crate::raw::*;
    let server = TestServer::start();
    let mut alice = Raw::connect(server.addr(), "alice").await;
    let mut bob = Raw::connect(server.addr(), "bob").await;
    // Each starts a fragmented request, then both are added to a
    // conversation: the one to move must not while the message is half read.
    for c in [&mut alice, &mut bob] {
        c.send(&frame(false, 0, TEXT, br#"{"id":1,"#)).await;
        // A ping between fragments: its pong says the fragment was read.
        c.send(&frame(true, 0, PING, b"read?")).await;
        assert_eq!(c.next(WAIT).await, Some(Got::Pong(b"read?".to_vec())));
    }
    alice_and_bob_added(&server).await;
    // Both have been told (the session that may move has looked by now, or
    // will: either way it must not move until the message is whole).
    for c in [&mut alice, &mut bob] {
        let added = c.json().await.expect("conversationAdded");
        assert_eq!(added["event"], "conversationAdded", "{added}");
    }
    assert_eq!(moved(&server), 0, "no move in the middle of a message");
    let second = frame(true, 0, TEXT, br#"{"id":2,"op":"ping"}"#);
    for c in [&mut alice, &mut bob] {
        c.send(&frame(true, 0, CONTINUATION, br#""op":"ping"}"#))
            .await;
        // Half of the next frame: read, not yet decodable, when the session moves.
        c.send(&second[..5]).await;
    }
    assert_eq!(moves(&server, 1).await, 1, "alice or bob moved");
    for c in [&mut alice, &mut bob] {
        c.send(&second[5..]).await;
        let mut answers = Vec::new();
        while answers.len() < 2 {
            let f = c.json().await.expect("a frame");
            if f.get("re").is_some() {
                assert_eq!(f["data"]["pong"], true, "{f}");
                answers.push(f["re"].clone());
            }
        }
        assert_eq!(answers, [json!(1), json!(2)]);
    }
}
