//! A node that cannot make a reader of the log reads it on by direct gets.

use async_nats::jetstream::stream::{Config, StorageType};
use serde_json::json;

use super::harness::*;
use super::ONE_AT_A_TIME;

/// A reader is a JetStream consumer, and making one needs JetStream's
/// metadata leader; for seconds after a NATS server dies there may be none,
/// while the stream goes on taking entries. Here no reader can ever be made
/// for node b: the log (made by the test) allows one consumer, and node a
/// holds it. Node b must still start, answer its users' sends and deliver
/// every message, in the one order, by reading the log with direct gets.
/// The log is made as an earlier colloquy made it, without direct gets: the
/// first node to start allows them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_cannot_make_a_reader_reads_the_log_by_direct_gets() {
    let _one = ONE_AT_A_TIME.lock().await;
    let nats = Nats::single(&[]);
    let js = nats.jetstream().await;
    js.create_stream(Config {
        name: "COLLOQUY".into(),
        subjects: vec!["colloquy.log".into()],
        storage: StorageType::File,
        max_consumers: 1,
        ..Default::default()
    })
    .await
    .expect("the log, made with room for one reader");
    let a = node(&nats, "a");
    let b = node(&nats, "b");
    let alice = connect(&a, "alice").await;
    let bob = connect(&b, "bob").await;
    let (mut alices, mut bobs) = (alice.subscribe(), bob.subscribe());
    let conv = alice
        .request_json(json!({"op": "conversation.create", "participants": ["bob"]}))
        .await
        .expect("created");
    let cid = conv["id"].as_str().expect("an id").to_string();
    let mut sent = Vec::new();
    for n in 0..10 {
        sent.push(send(&bob, &cid, &format!("bob {n}")).await);
        sent.push(send(&alice, &cid, &format!("alice {n}")).await);
    }
    let alice_saw = messages(&mut alices, &cid, 20).await;
    let bob_saw = messages(&mut bobs, &cid, 20).await;
    assert_gap_free(&bob_saw);
    assert_eq!(alice_saw, bob_saw, "one order on both nodes");
    let ids: Vec<String> = bob_saw.into_iter().map(|(_, id)| id).collect();
    assert_eq!(ids, sent, "every acknowledged message, in the order sent");
    // The same messages to the byte, times included: an entry's time is the
    // stream's, whether a reader or a direct get brought it.
    let list = json!({"op": "message.list", "conversation": cid, "page_size": 100});
    let on_a = alice.request_json(list.clone()).await.expect("listed on a");
    let on_b = bob.request_json(list).await.expect("listed on b");
    assert_eq!(on_a["items"].as_array().map(Vec::len), Some(20));
    assert_eq!(on_a, on_b, "both nodes hold the same messages");
    let info = js
        .get_stream("COLLOQUY")
        .await
        .expect("the log")
        .info()
        .await
        .expect("its info")
        .clone();
    assert_eq!(info.state.consumer_count, 1, "node b never had a reader");
    assert!(info.config.allow_direct);
}
