//! Two nodes at one snapshot's work.

use std::time::{Duration, Instant};

use colloquy::cluster::{Cluster, ClusterConfig};
use serde_json::{json, Value};

use super::harness::*;
use super::ONE_AT_A_TIME;

/// Two nodes at one snapshot's work: node a reads which snapshot is the
/// latest and is held up there (a test hook) while node b takes two later
/// snapshots and trims the log behind them. Let go, node a must not name its
/// older snapshot the latest: a node starting afterwards would find the log
/// trimmed past it. Exactly one snapshot per place is named, the newest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_held_up_at_a_snapshot_never_replaces_a_later_one() {
    let _one = ONE_AT_A_TIME.lock().await;
    let nats = Nats::start();
    const EVERY: u64 = 10;
    let join = |id: &str| {
        let engine = colloquy::Engine::start(colloquy::Config::default()).expect("engine");
        let config = ClusterConfig {
            urls: nats.urls.clone(),
            node_id: id.into(),
            snapshot_every: EVERY,
            tls: Default::default(),
            key_file: None,
        };
        let cluster = Cluster::join(&engine, config).expect("joins");
        (engine, cluster)
    };
    let ask = |engine: &colloquy::Engine, op: Value| {
        let engine = engine.clone();
        async move {
            engine
                .request_as(colloquy::Caller::Service, op)
                .await
                .expect("answered")
        }
    };
    let (a, a_cluster) = join("a");
    let (b, b_cluster) = join("b");
    let js = nats.jetstream().await;
    let mut log = js.get_stream("COLLOQUY").await.expect("the log");
    let hold = a_cluster.snapshot_hold();
    hold.hold(true);

    // Node a asks one op at a time, an entry each, up to entry 10: its
    // snapshot there reads the key and waits.
    let created = ask(
        &a,
        json!({"op": "conversation.create", "participants": ["ann"]}),
    )
    .await;
    let cid = created["id"].as_str().expect("an id").to_string();
    let send = |engine: &colloquy::Engine, body: String| {
        ask(
            engine,
            json!({"op": "message.send", "conversation": cid, "body": body, "author": "ann"}),
        )
    };
    let mut n = 0;
    while log.info().await.expect("its state").state.last_sequence < EVERY {
        send(&a, format!("from a {n}")).await;
        n += 1;
    }
    tokio::time::timeout(Duration::from_secs(20), hold.reached(1))
        .await
        .expect("node a's snapshot reached the hold");

    // Node b sends past two more snapshots: the one at 30 trims the log up
    // to the one at 20.
    let deadline = Instant::now() + Duration::from_secs(60);
    while log.info().await.expect("its state").state.first_sequence <= 2 * EVERY {
        assert!(Instant::now() < deadline, "the log was not trimmed");
        send(&b, format!("from b {n}")).await;
        n += 1;
    }
    hold.hold(false);
    tokio::time::timeout(Duration::from_secs(20), hold.ended(1))
        .await
        .expect("node a's snapshot ended");

    let latest = snapshot_chain(&js).await[0];
    assert!(
        latest >= 3 * EVERY,
        "the latest snapshot went back to {latest}"
    );

    // A node starting now starts from the latest snapshot and the log after
    // it, and holds what the others hold.
    let (c, c_cluster) = join("c");
    let count = json!({"op": "message.count", "conversation": cid});
    let counts = [
        ask(&a, count.clone()).await,
        ask(&b, count.clone()).await,
        ask(&c, count).await,
    ];
    assert_eq!(counts[0]["count"].as_u64(), Some(n));
    assert_eq!(counts[0], counts[1]);
    assert_eq!(counts[0], counts[2]);
    for (engine, cluster) in [(a, a_cluster), (b, b_cluster), (c, c_cluster)] {
        cluster.leave();
        engine.shutdown();
    }
}
