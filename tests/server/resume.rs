//! The resume promise under load: a user reconnecting over and over while a
//! publisher keeps sending, catching up with `events.replay` each time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use colloquy::testing::TestServer;
use serde_json::json;

use crate::raw::Raw;

const RECONNECTS: usize = 1_000;

#[actix_rt::test]
async fn a_thousand_reconnects_while_a_publisher_sends_lose_and_repeat_nothing() {
    let server = TestServer::start();
    let alice = server.engine().connect("alice").await.unwrap();
    let conv = alice
        .request_json(json!({"op": "conversation.create", "participants": ["bob"]}))
        .await
        .unwrap();
    let id = conv["id"].as_str().unwrap().to_string();

    let stop = Arc::new(AtomicBool::new(false));
    let mut publisher = Some(actix_rt::spawn({
        let (stop, id) = (stop.clone(), id.clone());
        async move {
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let send = json!({"op": "message.send", "conversation": id, "body": "x"});
                alice.request_json(send).await.unwrap();
                sent += 1;
                // About a thousand a second: a reconnect misses a few, well
                // inside the replay window.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            sent
        }
    }));

    let mut last_seen = 0u64;
    let (mut replayed, mut live) = (0usize, 0usize);
    let check = |seq: u64, last: &mut u64| {
        assert_eq!(seq, *last + 1, "after seq {last}, got {seq}");
        *last = seq;
    };
    for round in 0..=RECONNECTS {
        // The last round stops the publisher first and catches up with all of it.
        let sent = match (round == RECONNECTS, publisher.take()) {
            (true, Some(p)) => {
                stop.store(true, Ordering::Relaxed);
                Some(p.await.unwrap())
            }
            (_, p) => {
                publisher = p;
                None
            }
        };
        let mut bob = Raw::connect(server.addr(), "bob").await;
        bob.request(&format!(
            r#"{{"id": 1, "op": "events.replay", "conversation": "{id}", "since_seq": {last_seen}}}"#
        ))
        .await;
        loop {
            let f = bob.json().await.expect("a frame");
            if f.get("re").is_some() {
                assert_eq!(f["data"]["recovered"], true, "round {round}: {f}");
                break;
            }
            check(f["seq"].as_u64().unwrap(), &mut last_seen);
            replayed += 1;
        }
        if let Some(sent) = sent {
            assert_eq!(last_seen, sent, "every message was seen");
            break;
        }
        // A little live traffic, then the connection drops.
        for _ in 0..2 {
            let f = bob.json().await.expect("a live event");
            check(f["seq"].as_u64().unwrap(), &mut last_seen);
            live += 1;
        }
    }
    assert!(replayed > 0 && live > 0, "replayed {replayed}, live {live}");
}
