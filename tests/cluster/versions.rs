//! Nodes of different colloquy versions: every node decides every op, so a
//! node never applies an entry a newer colloquy appended; it stops instead.

use std::time::{Duration, Instant};

use colloquy::cluster::{Cluster, ClusterConfig};
use serde_json::json;

use super::harness::*;
use super::ONE_AT_A_TIME;

/// The version after this build's: its minor number up by one.
fn newer() -> String {
    let ours = semver::Version::parse(env!("CARGO_PKG_VERSION")).expect("our version");
    semver::Version::new(ours.major, ours.minor + 1, 0).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stops_at_the_first_entry_of_a_newer_colloquy() {
    let _one = ONE_AT_A_TIME.lock().await;
    let nats = Nats::single(&[]);

    // A node of this build works, and its entries are in the log.
    let mut old = node(&nats, "old");
    let alice = connect(&old, "alice").await;
    let made = alice
        .request_json(json!({"op": "conversation.create", "unique_name": "upgrade"}))
        .await
        .expect("created");
    let cid = made["id"].as_str().expect("an id").to_string();
    alice
        .request_json(json!({"op": "message.send", "conversation": cid, "body": "before"}))
        .await
        .expect("sent");

    // A node of a newer colloquy joins: it applies the older node's entries
    // by its own rules and holds what they made.
    let newer = newer();
    let engine = colloquy::Engine::start(colloquy::Config::default()).expect("engine");
    let config = ClusterConfig {
        urls: nats.urls.clone(),
        node_id: "new".into(),
        snapshot_every: ClusterConfig::SNAPSHOT_EVERY,
        append_wait: ClusterConfig::APPEND_WAIT,
        tls: Default::default(),
        key_file: None,
    };
    let _cluster = Cluster::join_as(&engine, config, &newer).expect("the newer node joins");
    let ask = |op| engine.request_as(colloquy::Caller::Service, op);
    let count = ask(json!({"op": "message.count", "conversation": "upgrade"}))
        .await
        .expect("counted");
    assert_eq!(count["count"], 1);

    // The older node stops (exit 1) without being asked anything: the newer
    // one's first entry, which it appends as it joins, is enough.
    let within = Duration::from_secs(10);
    let why = "the older node went on beside a newer one";
    let code = exit_code_within(&mut old.proc.0, within, why).await;
    assert_eq!(code, Some(1), "the older node stops with exit 1");

    // The newer node goes on.
    let sent = ask(json!({"op": "message.send", "conversation": "upgrade", "body": "after", "author": "alice"}))
        .await
        .expect("the newer node takes ops");
    assert_eq!(sent["index"], 1);

    // A node of the older version can no longer join: it stops while it
    // catches up, at once and saying why, and never listens.
    let started = Instant::now();
    let err = refused(&nats, &["--node-id", "late"]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.contains(&newer) && err.contains(env!("CARGO_PKG_VERSION")),
        "{err}"
    );
}
