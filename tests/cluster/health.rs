//! What a node tells a load balancer (`/healthz`) and a scraper (`/metrics`)
//! about its part in the cluster.

use std::time::{Duration, Instant};

use colloquy::testing::{Rest, RestResponse};
use serde_json::json;

use super::harness::*;
use super::ONE_AT_A_TIME;

/// Asks `/healthz` until it answers 503, for at most 20 s: answers the reason.
async fn unavailable(rest: &Rest, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let RestResponse { status, body } = rest.get("/healthz").await.expect("answers");
        if status == 503 {
            assert_eq!(body["status"], "unavailable");
            return body["reason"].as_str().expect("a reason").to_string();
        }
        assert_eq!(status, 200, "{body}");
        assert!(Instant::now() < deadline, "still healthy: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of the `/metrics` series `name`.
async fn metric(rest: &Rest, name: &str) -> u64 {
    let text = rest.get("/metrics").await.expect("answers").body;
    let text = text.as_str().expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_says_when_a_node_cannot_take_writes() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut nats = Nats::start();
    let a = node(&nats, "a");
    let rest = Rest::new(&a.url);
    let alice = connect(&a, "alice").await;
    alice
        .request_json(json!({"op": "conversation.create", "unique_name": "health"}))
        .await
        .expect("created");
    let healthy = rest.get("/healthz").await.expect("answers");
    assert_eq!(
        (healthy.status, healthy.body),
        (200, json!({"status": "ok"}))
    );
    assert_eq!(metric(&rest, "colloquy_cluster_connected").await, 1);
    assert_eq!(metric(&rest, "colloquy_cluster_available").await, 1);
    // The entry naming its version as it joined, and the create.
    assert_eq!(
        metric(&rest, "colloquy_cluster_entries_appended_total").await,
        2
    );
    assert_eq!(
        metric(&rest, "colloquy_cluster_ops_appended_total").await,
        1
    );
    assert!(metric(&rest, "colloquy_cluster_entries_applied").await >= 2);

    // The two NATS servers the node is not connected to die: still
    // connected, it cannot append (no quorum), and says so once it tries.
    let serving = nats.serving("colloquy a").await;
    for i in (0..3).filter(|&i| i != serving) {
        nats.kill(i);
    }
    let sending = tokio::spawn(async move {
        alice
            .request_json(json!({"op": "message.send", "conversation": "health", "body": "hi"}))
            .await
    });
    let reason = unavailable(&rest, "with no quorum").await;
    assert!(reason.contains("appends to the log fail"), "{reason}");
    assert_eq!(metric(&rest, "colloquy_cluster_connected").await, 1);
    assert_eq!(metric(&rest, "colloquy_cluster_available").await, 0);

    // The last one dies too: not connected.
    nats.kill(serving);
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric(&rest, "colloquy_cluster_connected").await == 1 {
        assert!(Instant::now() < deadline, "still connected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reason = unavailable(&rest, "with no NATS server").await;
    assert!(reason.contains("not connected to NATS"), "{reason}");
    sending.abort();
}
