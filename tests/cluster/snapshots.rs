//! Two nodes at one snapshot's work.

use std::time::{Duration, Instant};

use colloquy::cluster::{Cluster, ClusterConfig};
use serde_json::{json, Value};

use super::harness::*;
use super::ONE_AT_A_TIME;

/// An engine in this process, joined as node `id`, taking a snapshot every
/// `every` entries.
fn join(nats: &Nats, id: &str, every: u64) -> (colloquy::Engine, Cluster) {
    let engine = colloquy::Engine::start(colloquy::Config::default()).expect("engine");
    let config = ClusterConfig {
        urls: nats.urls.clone(),
        node_id: id.into(),
        snapshot_every: every,
        append_wait: ClusterConfig::APPEND_WAIT,
        tls: Default::default(),
        key_file: None,
    };
    let cluster = Cluster::join(&engine, config).expect("joins");
    (engine, cluster)
}

/// `op`, asked of `engine` as the service.
fn ask(engine: &colloquy::Engine, op: Value) -> impl std::future::Future<Output = Value> {
    let engine = engine.clone();
    async move {
        engine
            .request_as(colloquy::Caller::Service, op)
            .await
            .expect("answered")
    }
}

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
    let join = |id: &str| join(&nats, id, EVERY);
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
    a_third_node_holds_the_same(&nats, EVERY, [(a, a_cluster), (b, b_cluster)], &cid, n).await;
}

/// A forced double owner of every snapshot: nodes a and b each take every
/// snapshot due (a test hook), whichever node appended its entry. Of each,
/// one node claims it and takes it, the other declines it and writes
/// nothing; a node joining afterwards starts from the chain they named and
/// holds what they hold. (Without the claim both wrote one object name, and
/// the node whose naming failed deleted the object the other had named.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_taking_every_snapshot_take_each_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    let nats = Nats::start();
    const EVERY: u64 = 10;
    let (a, a_cluster) = join(&nats, "a", EVERY);
    let (b, b_cluster) = join(&nats, "b", EVERY);
    let holds = [a_cluster.snapshot_hold(), b_cluster.snapshot_hold()];
    for hold in holds {
        hold.take_every(true);
    }
    let js = nats.jetstream().await;
    let mut log = js.get_stream("COLLOQUY").await.expect("the log");
    let created = ask(
        &a,
        json!({"op": "conversation.create", "participants": ["ann"]}),
    )
    .await;
    let cid = created["id"].as_str().expect("an id").to_string();
    let (mut sent, mut past) = (0, 0);
    for round in 0..4 {
        let engine = if round % 2 == 0 { &a } else { &b };
        past = send_until_named_past(engine, &js, &mut log, &cid, &mut sent, past).await;
    }

    // Each snapshot due was taken by one node and declined by the other.
    let due = log.info().await.expect("its state").state.last_sequence / EVERY;
    let counts = || {
        let taken: u64 = holds.iter().map(|h| h.ended_count()).sum();
        let declined: u64 = holds.iter().map(|h| h.declined_count()).sum();
        (taken, declined)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while counts() != (due, due) {
        assert!(
            Instant::now() < deadline,
            "{:?} taken and declined of {due}",
            counts()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(snapshot_chain(&js).await[0] >= past);

    // A node starting now reads the chain (the log is trimmed behind it).
    let nodes = [(a, a_cluster), (b, b_cluster)];
    a_third_node_holds_the_same(&nats, EVERY, nodes, &cid, sent).await;
}

/// Node c joins now, from the snapshots and the log after them: it and the
/// two `nodes` count `sent` messages in `cid`. Then all three leave.
async fn a_third_node_holds_the_same(
    nats: &Nats,
    every: u64,
    nodes: [(colloquy::Engine, Cluster); 2],
    cid: &str,
    sent: u64,
) {
    let [a, b] = nodes;
    let c = join(nats, "c", every);
    let count = json!({"op": "message.count", "conversation": cid});
    let counts = [
        ask(&a.0, count.clone()).await,
        ask(&b.0, count.clone()).await,
        ask(&c.0, count).await,
    ];
    assert_eq!(counts[0]["count"].as_u64(), Some(sent));
    assert_eq!(counts[0], counts[1]);
    assert_eq!(counts[0], counts[2]);
    for (engine, cluster) in [a, b, c] {
        cluster.leave();
        engine.shutdown();
    }
}

/// The snapshot buckets deleted under a running cluster (by hand here): the
/// node due to take the next snapshot makes them again and takes it whole,
/// so a node started afterwards still finds what the trimmed log no longer
/// holds. First the objects alone (the key then names snapshots that are
/// gone), then both buckets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_buckets_deleted_by_hand_are_made_again() {
    let _one = ONE_AT_A_TIME.lock().await;
    let nats = Nats::single(&[]);
    const EVERY: u64 = 5;
    let (a, _a_cluster) = join(&nats, "a", EVERY);
    let js = nats.jetstream().await;
    let mut log = js.get_stream("COLLOQUY").await.expect("the log");
    let made = ask(
        &a,
        json!({"op": "conversation.create", "unique_name": "kept"}),
    )
    .await;
    let cid = made["id"].as_str().expect("an id").to_string();
    let mut sent = 0;
    let first = send_until_named_past(&a, &js, &mut log, &cid, &mut sent, 2 * EVERY).await;

    js.delete_object_store("COLLOQUY_SNAPSHOTS")
        .await
        .expect("deleted");
    let past = first + 2 * EVERY;
    let second = send_until_named_past(&a, &js, &mut log, &cid, &mut sent, past).await;
    let (b, _b_cluster) = join(&nats, "b", EVERY);
    let count = ask(&b, json!({"op": "message.count", "conversation": "kept"})).await;
    assert_eq!(
        count["count"], sent,
        "node b started from the snapshot made whole again"
    );

    js.delete_object_store("COLLOQUY_SNAPSHOTS")
        .await
        .expect("deleted");
    js.delete_key_value("COLLOQUY_SNAPSHOT")
        .await
        .expect("deleted");
    let past = second + 2 * EVERY;
    send_until_named_past(&a, &js, &mut log, &cid, &mut sent, past).await;
    let (c, _c_cluster) = join(&nats, "c", EVERY);
    let count = ask(&c, json!({"op": "message.count", "conversation": "kept"})).await;
    assert_eq!(
        count["count"], sent,
        "node c started from the buckets made again"
    );
}

/// Sends one message at a time (an entry each) until a snapshot after entry
/// `past` is named and the log is trimmed; answers that snapshot's entry.
async fn send_until_named_past(
    engine: &colloquy::Engine,
    js: &async_nats::jetstream::Context,
    log: &mut async_nats::jetstream::stream::Stream,
    cid: &str,
    sent: &mut u64,
    past: u64,
) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = format!("m{sent}");
        let op = json!({"op": "message.send", "conversation": cid, "body": body, "author": "ann"});
        ask(engine, op).await;
        *sent += 1;
        let first = log.info().await.expect("its state").state.first_sequence;
        let latest = match js.get_key_value("COLLOQUY_SNAPSHOT").await {
            Ok(kv) => kv.get("latest").await.ok().flatten(),
            Err(_) => None,
        };
        let at = latest.and_then(|v| {
            let text = String::from_utf8_lossy(&v).into_owned();
            text.split([':', ' ']).next()?.parse::<u64>().ok()
        });
        if let Some(at) = at.filter(|&at| at > past && first > 1) {
            return at;
        }
        assert!(Instant::now() < deadline, "no snapshot named past {past}");
    }
}
