//! What a node tells a load balancer (`/healthz`) and a scraper (`/metrics`)
//! about its part in the cluster.

use std::time::{Duration, Instant};

use colloquy::client::EventKind;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_says_when_a_node_cannot_take_writes() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut nats = Nats::start();
    let (a, b) = (node(&nats, "a"), node(&nats, "b"));
    let rest = Rest::new(&a.url);
    let alice = connect(&a, "alice").await;
    let bob = connect(&b, "bob").await;
    let mut bobs = bob.subscribe();
    alice
        .request_json(
            json!({"op": "conversation.create", "unique_name": "health", "participants": ["bob"]}),
        )
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
    let sender = alice.clone();
    let sending = tokio::spawn(async move {
        sender
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
    // (Whether that first send outlasted its retries is not asked here.)
    sending.abort();

    // Every server starts again on its storage, as in a restart of the
    // whole NATS cluster. The nodes reconnect by themselves; alice's and
    // bob's sessions stay open (their clients do not reconnect); a send
    // alice asks as they start, long before JetStream has its leaders
    // again, is acknowledged once the log takes writes, and reaches bob on
    // the other node.
    let sender = alice.clone();
    let during = tokio::spawn(async move {
        let req = json!({"op": "message.send", "conversation": "health", "body": "during"});
        sender.request_json(req).await
    });
    for i in 0..3 {
        nats.restart(i);
    }
    let sent = during.await.expect("joined");
    let sent = sent.expect("the send asked during the outage is acknowledged");
    let id = sent["id"].as_str().expect("an id").to_string();
    let wait = Duration::from_secs(20);
    let seen = expect(&mut bobs, wait, "the send from the outage", |e| {
        match &e.kind {
            EventKind::MessageAdded(m) if m.id.to_string() == id => Some(m.body.clone()),
            _ => None,
        }
    })
    .await;
    assert_eq!(seen.as_deref(), Some("during"));
    let healthy = rest.get("/healthz").await.expect("answers");
    assert_eq!(
        (healthy.status, healthy.body),
        (200, json!({"status": "ok"}))
    );
    assert_eq!(metric(&rest, "colloquy_cluster_connected").await, 1);
    let after = json!({"op": "message.send", "conversation": "health", "body": "after"});
    alice
        .request_json(after)
        .await
        .expect("sent after the restart");
}

/// The log deleted under a running node (by hand here; as when the NATS
/// servers lose their storage): the node says so on `/healthz` and waits.
/// A node started then makes a new, empty log, and the first node, whose
/// state is of the old one, stops with exit 1 rather than apply the new
/// log's entries on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stops_when_its_log_is_made_again() {
    let _one = ONE_AT_A_TIME.lock().await;
    let nats = Nats::single(&[]);
    let mut a = node(&nats, "a");
    let alice = connect(&a, "alice").await;
    alice
        .request_json(json!({"op": "conversation.create", "unique_name": "old"}))
        .await
        .expect("made");
    let js = nats.jetstream().await;
    js.delete_stream("COLLOQUY").await.expect("deleted");
    let why = unavailable(&Rest::new(&a.url), "the log was deleted").await;
    assert!(why.contains("the cluster's log"), "{why}");
    assert!(a.proc.0.try_wait().expect("waits").is_none(), "a waits");
    // A write meanwhile is refused at once, saying why, not after the
    // appender's 15 s of retrying.
    let started = Instant::now();
    let refused = alice
        .request_json(json!({"op": "conversation.create", "unique_name": "meanwhile"}))
        .await
        .expect_err("no log to append to");
    assert!(refused.to_string().contains("is not there"), "{refused}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    let b = node(&nats, "b");
    let within = Duration::from_secs(10);
    let code = exit_code_within(&mut a.proc.0, within, "node a went on with the new log").await;
    assert_eq!(code, Some(1), "node a stops with exit 1");
    // The new log holds nothing of the old, and works.
    let bob = connect(&b, "bob").await;
    let old = bob
        .request_json(json!({"op": "conversation.get", "conversation": "old"}))
        .await;
    assert!(old.is_err(), "{old:?}");
    bob.request_json(json!({"op": "conversation.create", "unique_name": "new"}))
        .await
        .expect("made on the new log");
}

/// The NATS server's storage put back from a copy taken earlier (a backup
/// restored): the log is the same log, made at the same time, but it ends
/// before what the nodes applied, and what was acknowledged since is lost.
/// Each node stops with exit 1, rather than skip the entries appended next
/// up to where it was (its own among them) and apply the ones after on a
/// state they were not appended on; a node started afterwards holds the log
/// as it is. Node b finds the log shorter than what it applied; node a,
/// stopped meanwhile, finds it grown again past that, with other entries in
/// the places of those it applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_stop_when_their_log_goes_back() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut nats = Nats::single(&[]);
    let mut a = node(&nats, "a");
    let mut b = node(&nats, "b");
    let alice = connect(&a, "alice").await;
    let mut alices = alice.subscribe();
    let bob = connect(&b, "bob").await;
    let mut bobs = bob.subscribe();
    let create =
        json!({"op": "conversation.create", "unique_name": "back", "participants": ["bob"]});
    let made = alice.request_json(create).await.expect("made");
    let id = made["id"].as_str().expect("an id").to_string();
    send(&alice, "back", "kept").await;

    // A backup, taken while the server is down.
    nats.kill(0);
    nats.copy_storage(0);
    nats.restart(0);
    let mut lost = Vec::new();
    for body in ["lost 1", "lost 2", "lost 3"] {
        lost.push(send(&alice, "back", body).await);
    }
    let seen = messages(&mut bobs, &id, 4).await;
    let seen: Vec<String> = seen.into_iter().skip(1).map(|(_, id)| id).collect();
    assert_eq!(seen, lost, "bob saw them, acknowledged");

    // Restored, while node a is stopped.
    signal("-STOP", a.proc.0.id());
    nats.kill(0);
    nats.put_storage_back(0);
    nats.restart(0);
    let within = Duration::from_secs(15);
    let code = exit_code_within(&mut b.proc.0, within, "node b went on").await;
    assert_eq!(code, Some(1), "node b stops with exit 1");

    // A node started now joins the log as it is: what it held, and not
    // what was lost. Its sends take the places of the lost ones and more.
    let c = node(&nats, "c");
    let bob = connect(&c, "bob").await;
    let listed = bob
        .request_json(json!({"op": "message.list", "conversation": "back"}))
        .await
        .expect("listed");
    let bodies: Vec<&str> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|m| m["body"].as_str())
        .collect();
    assert_eq!(bodies, ["kept"]);
    for body in ["after 1", "after 2", "after 3", "after 4"] {
        send(&bob, "back", body).await;
    }
    signal("-CONT", a.proc.0.id());
    let code = exit_code_within(&mut a.proc.0, within, "node a went on").await;
    assert_eq!(code, Some(1), "node a stops with exit 1");
    // Before it stopped, it applied nothing of the log's new history: alice,
    // on it, was sent none of the messages after the restore.
    let mut sent_to_alice = Vec::new();
    while let Some(e) = alices.next_within(Duration::from_millis(100)).await {
        if let EventKind::MessageAdded(m) = &e.kind {
            sent_to_alice.push(m.body.clone().unwrap_or_default());
        }
    }
    assert_eq!(sent_to_alice, ["kept", "lost 1", "lost 2", "lost 3"]);
    send(&bob, "back", "still").await;
}
