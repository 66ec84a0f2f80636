use std::time::Duration;

use colloquy::client::{ClientError, EventKind};
use colloquy::model::Conversation;
use colloquy::testing::TestServer;
use colloquy::Limits;
use serde_json::json;

use crate::*;

#[tokio::test]
async fn subscribe_sees_typed_events_in_order() {
    let (_s, alice, bob) = pair().await;
    let mut events = bob.subscribe();
    let id = group(&alice).await;
    let e = events.next_within(WAIT).await.unwrap();
    assert!(
        matches!(e.kind, EventKind::ConversationAdded(ref c) if c.id.to_string() == id),
        "{e:?}"
    );
    alice.conversation(&id).send_message("hi").await.unwrap();
    let e = next(&mut events).await;
    assert_eq!(
        (e.conversation.as_deref(), e.seq),
        (Some(id.as_str()), Some(1))
    );
    let EventKind::MessageAdded(m) = e.kind else {
        panic!("{e:?}")
    };
    assert_eq!(m.body.as_deref(), Some("hi"));
}

#[tokio::test]
async fn conversation_subscribe_filters_and_cancel_ends() {
    let (_s, alice, bob) = pair().await;
    let a = group(&alice).await;
    let b = group(&alice).await;
    let mut only_b = bob.conversation(&b).subscribe().await.unwrap();
    alice
        .conversation(&a)
        .send_message("not this")
        .await
        .unwrap();
    alice.conversation(&b).send_message("this").await.unwrap();
    let e = next(&mut only_b).await;
    let EventKind::MessageAdded(m) = e.kind else {
        panic!("{e:?}")
    };
    assert_eq!(m.body.as_deref(), Some("this"));
    only_b.cancel();
    assert!(only_b.next().await.is_none());
}

#[tokio::test]
async fn event_stream_is_a_stream() {
    use futures_util::StreamExt;
    let (_s, alice, bob) = pair().await;
    let id = group(&alice).await;
    let events = bob.conversation(&id).subscribe().await.unwrap();
    for i in 0..3 {
        alice
            .conversation(&id)
            .send_message(&i.to_string())
            .await
            .unwrap();
    }
    let seqs: Vec<u64> = events
        .filter_map(|e| async move { e.seq })
        .take(3)
        .collect()
        .await;
    assert_eq!(seqs, vec![1, 2, 3]);
}

#[tokio::test]
async fn typing_start_and_stop() {
    let (_s, alice, bob) = pair().await;
    let id = group(&alice).await;
    let mut events = bob.conversation(&id).subscribe().await.unwrap();
    alice.conversation(&id).typing().start().await.unwrap();
    assert!(
        matches!(next(&mut events).await.kind, EventKind::TypingStarted { ref identity } if identity.as_str() == "alice")
    );
    alice.conversation(&id).typing().stop().await.unwrap();
    assert!(matches!(
        next(&mut events).await.kind,
        EventKind::TypingEnded { .. }
    ));
}

#[tokio::test]
async fn errors_carry_contract_codes() {
    let (_s, alice, _bob) = pair().await;
    let e = alice.conversation("nope").get().await.unwrap_err();
    assert_eq!(e.code(), Some(colloquy::ErrorCode::NotFound));
    let e = alice.request_json(json!({"op": "warp"})).await.unwrap_err();
    assert_eq!(e.code(), Some(colloquy::ErrorCode::BadRequest));
    assert!(matches!(e, ClientError::Api(_)));
}

/// A server that sends `ready` and then never answers: requests time out.
#[tokio::test]
async fn requests_time_out() {
    use futures_util::{SinkExt, StreamExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let ready = r#"{"event":"ready","data":{"session_id":"s","identity":"alice"}}"#;
        ws.send(tokio_tungstenite::tungstenite::Message::Text(ready.into()))
            .await
            .unwrap();
        while ws.next().await.is_some() {}
    });
    let config = colloquy::client::ClientConfig::new(&format!("http://{addr}"))
        .identity("alice")
        .request_timeout(Duration::from_millis(100));
    let alice = colloquy::client::Client::connect(config).await.unwrap();
    let r = alice.ping().await;
    assert_eq!(r, Err(ClientError::Timeout(Duration::from_millis(100))));
}

#[tokio::test]
async fn close_fails_later_requests() {
    let (_s, alice, _bob) = pair().await;
    alice.ping().await.unwrap();
    alice.close();
    assert_eq!(alice.ping().await, Err(ClientError::Closed));
}

#[tokio::test]
async fn connect_refused_is_a_connect_error() {
    let server = TestServer::builder().jwt_secret("s").start();
    let config = colloquy::client::ClientConfig::new(&server.url()).identity("alice");
    let err = colloquy::client::Client::connect(config).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Connect(ref m) if m.contains("401")),
        "{err}"
    );
    let alice = server.connect("alice").await.unwrap();
    assert_eq!(alice.identity(), "alice");
}

/// The server drops alice's socket (an oversized frame closes it 1009); the
/// client reconnects, says so, and replays what it missed: every seq once.
#[tokio::test]
async fn reconnects_and_replays_what_was_missed() {
    let (_s, alice, bob) = pair().await;
    let conv: Conversation = bob
        .create_conversation(colloquy::protocol::CreateConversation {
            participants: vec!["alice".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let id = conv.id.to_string();
    let mut events = alice.conversation(&id).subscribe().await.unwrap();
    bob.conversation(&id).send_message("before").await.unwrap();
    assert_eq!(next(&mut events).await.seq, Some(1));
    let huge = json!({"op": "ping", "pad": "x".repeat(300 * 1024)});
    assert_eq!(
        alice.request_json(huge).await,
        Err(ClientError::Disconnected)
    );
    for i in 0..3 {
        bob.conversation(&id)
            .send_message(&format!("while away {i}"))
            .await
            .unwrap();
    }
    let mut seqs = Vec::new();
    let mut reconnected = false;
    while seqs.len() < 3 {
        let e = next(&mut events).await;
        match e.kind {
            EventKind::Reconnected => reconnected = true,
            EventKind::MessageAdded(_) => seqs.push(e.seq.unwrap()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(reconnected);
    assert_eq!(seqs, vec![2, 3, 4]);
    assert_eq!(
        alice.conversation(&id).message_count().await.unwrap(),
        4,
        "requests work again"
    );
    assert!(
        events
            .next_within(Duration::from_millis(200))
            .await
            .is_none(),
        "nothing twice"
    );
}

#[tokio::test]
async fn resync_when_the_server_no_longer_holds_what_was_missed() {
    let server = TestServer::builder()
        .limits(Limits {
            replay_window: 2,
            ..Limits::default()
        })
        .start();
    let alice = server.connect("alice").await.unwrap();
    let bob = server.connect("bob").await.unwrap();
    let c = bob
        .create_conversation(colloquy::protocol::CreateConversation {
            participants: vec!["alice".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let id = c.id.to_string();
    let mut events = alice.conversation(&id).subscribe().await.unwrap();
    bob.conversation(&id).send_message("seen").await.unwrap();
    assert_eq!(next(&mut events).await.seq, Some(1));
    let _ = alice
        .request_json(json!({"op": "ping", "pad": "x".repeat(300 * 1024)}))
        .await;
    for i in 0..5 {
        bob.conversation(&id)
            .send_message(&i.to_string())
            .await
            .unwrap();
    }
    loop {
        let e = next(&mut events).await;
        if matches!(e.kind, EventKind::Resync) {
            assert_eq!(e.conversation.as_deref(), Some(id.as_str()));
            break;
        }
    }
}

#[tokio::test]
async fn a_compact_client_reads_the_same_typed_events_and_answers() {
    use colloquy::Encoding;
    let server = TestServer::start();
    let alice = server.connect("alice").await.unwrap();
    let v1 = server.connect("bob").await.unwrap();
    let config = server
        .client_config("carol")
        .unwrap()
        .encoding(Encoding::Compact);
    let compact = colloquy::client::Client::connect(config).await.unwrap();
    let c = alice
        .create_conversation(colloquy::protocol::CreateConversation {
            participants: vec!["bob".into(), "carol".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let id = c.id.to_string();
    let (mut on_v1, mut on_compact) = (
        v1.conversation(&id).subscribe().await.unwrap(),
        compact.conversation(&id).subscribe().await.unwrap(),
    );
    let conv = alice.conversation(&id);
    conv.send_message("plain").await.unwrap();
    conv.send_message("edited").await.unwrap();
    conv.edit_message("1", "now edited").await.unwrap();
    conv.react("1", "👍").await.unwrap();
    conv.delete_message("0").await.unwrap();
    for _ in 0..5 {
        let (a, b) = (next(&mut on_v1).await, next(&mut on_compact).await);
        assert_eq!((&a.kind, a.seq), (&b.kind, b.seq));
    }
    // Typed answers read the same through either encoding.
    let (a, b) = (
        v1.conversation(&id).messages().fetch().await.unwrap(),
        compact.conversation(&id).messages().fetch().await.unwrap(),
    );
    assert_eq!(a.items, b.items);
    assert_eq!(
        v1.conversation(&id).get().await.unwrap().attributes,
        compact.conversation(&id).get().await.unwrap().attributes
    );
}
