//! Presence across nodes when a node holds more users than one NATS message
//! can name.

use std::time::{Duration, Instant};

use colloquy::client::Client;
use serde_json::json;

use super::harness::*;
use super::ONE_AT_A_TIME;

/// On NATS servers that take messages of at most 4 KiB, a node holding 150
/// users sends its heartbeat in parts; a node started afterwards, which
/// heard none of their sessions open, learns from the beat that every one
/// of them is online.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_beat_larger_than_a_message_goes_in_parts_and_is_heard_whole() {
    let _one = ONE_AT_A_TIME.lock().await;
    let nats = Nats::taking_at_most(4096);
    let a = node(&nats, "a");
    let users: Vec<String> = (0..150)
        .map(|i| format!("a-user-with-a-longer-name-{i:04}"))
        .collect();
    let mut sessions: Vec<Client> = Vec::new();
    for u in &users {
        sessions.push(connect(&a, u).await);
    }
    let b = node(&nats, "b");
    let observer = connect(&b, "observer").await;
    let asked = json!({"op": "presence.get", "identities": users});
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = observer
            .request_json(asked.clone())
            .await
            .expect("presence");
        let items = seen["items"].as_array().cloned().unwrap_or_default();
        let online = items.iter().filter(|u| u["online"] == json!(true)).count();
        if online == users.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node b sees {online} of node a's {} users online",
            users.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(sessions);
}
