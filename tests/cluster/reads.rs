//! Reads on a cluster node wait until it has applied what the log held when
//! they came: one question to JetStream answers every read that came before
//! it was asked.

use colloquy::client::Client;
use futures_util::future::join_all;
use serde_json::json;

use super::harness::*;
use super::ONE_AT_A_TIME;

/// Many sessions reading at once (clients reconnecting to a node and
/// listing what they missed) cost JetStream far fewer questions than reads,
/// and each read still sees what was acknowledged before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_at_once_share_their_questions_to_jetstream() {
    let _one = ONE_AT_A_TIME.lock().await;
    let nats = Nats::start();
    let (a, b) = (node(&nats, "a"), node(&nats, "b"));
    const SESSIONS: usize = 50;
    const READS: usize = 4;
    let users: Vec<String> = (0..SESSIONS).map(|i| format!("r{i}")).collect();
    let writer = connect(&a, "r0").await;
    let conv = writer
        .request_json(json!({"op": "conversation.create", "participants": users}))
        .await
        .expect("created");
    let cid = conv["id"].as_str().expect("id").to_string();
    let mut readers: Vec<Client> = Vec::new();
    for u in &users {
        readers.push(connect(&b, u).await);
    }
    let sent = send(&writer, &cid, "before the reads").await;
    let before = nats.api_requests().await;
    let list = json!({"op": "message.list", "conversation": cid});
    let reads = readers
        .iter()
        .flat_map(|r| (0..READS).map(|_| r.request_json(list.clone())));
    let pages = join_all(reads).await;
    let asked = nats.api_requests().await - before;
    for page in pages {
        let page = page.expect("a read answered");
        let last = page["items"].as_array().and_then(|i| i.last()).cloned();
        assert_eq!(last.map(|m| m["id"].clone()), Some(json!(sent)));
    }
    let reads = SESSIONS * READS;
    assert!(
        asked < reads as u64 / 2,
        "{reads} reads at once asked JetStream {asked} questions"
    );
}
