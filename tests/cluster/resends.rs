//! A message resent through another node: a client whose first send was not
//! answered (its node stopped, its socket gone) sends it again, with the
//! same `client_id`, through another node. Both sends land in the log; the
//! later one answers the first's message on every node, and no client sees
//! a second message.

use std::time::Duration;

use serde_json::{json, Value};

use super::harness::*;
use super::ONE_AT_A_TIME;

async fn ask(
    on: &colloquy::client::Client,
    cid: &str,
    client_id: &str,
    body: &str,
) -> Result<Value, colloquy::client::ClientError> {
    on.request_json(json!({"op": "message.send", "conversation": cid,
        "body": body, "client_id": client_id}))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_resent_through_another_node_is_one_message() {
    let _one = ONE_AT_A_TIME.lock().await;
    let nats = Nats::start();
    let (a, b, c) = (node(&nats, "a"), node(&nats, "b"), node(&nats, "c"));
    let (alice_a, alice_b) = (connect(&a, "alice").await, connect(&b, "alice").await);
    let dave = connect(&c, "dave").await;
    let made = alice_a
        .request_json(json!({"op": "conversation.create", "participants": ["dave"]}))
        .await
        .expect("created");
    let cid = made["id"].as_str().expect("an id").to_string();
    let mut daves = dave.subscribe();
    let mut ids = Vec::new();

    // Asked through two nodes at the same instant, with different bodies.
    for round in 0..5 {
        let client_id = format!("round-{round}");
        let (x, y) = tokio::join!(
            ask(&alice_a, &cid, &client_id, "through a"),
            ask(&alice_b, &cid, &client_id, "through b"),
        );
        let (x, y) = (x.expect("answered on a"), y.expect("answered on b"));
        assert_eq!(
            (&x["id"], &x["index"]),
            (&y["id"], &y["index"]),
            "round {round}"
        );
        ids.push(x["id"].as_str().expect("an id").to_string());
    }

    // Asked through a node that is stopped while the first send is
    // acknowledged through another: once it runs, it answers the first.
    let b_pid = b.proc.0.id();
    signal("-STOP", b_pid);
    let first = ask(&alice_a, &cid, "stale", "first")
        .await
        .expect("answered on a");
    let (again, ()) = tokio::join!(ask(&alice_b, &cid, "stale", "again"), async {
        // Time for the request to reach b's socket while b cannot read it.
        tokio::time::sleep(Duration::from_millis(300)).await;
        signal("-CONT", b_pid);
    });
    let again = again.expect("answered on b");
    assert_eq!(again["id"], first["id"]);
    ids.push(first["id"].as_str().expect("an id").to_string());

    // dave saw each message once, in order, and nothing after them; every
    // node lists the same six, each body the one of the send that landed.
    let seen = messages(&mut daves, &cid, ids.len()).await;
    assert_gap_free(&seen);
    let seen_ids: Vec<&str> = seen.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(seen_ids, ids.iter().map(String::as_str).collect::<Vec<_>>());
    let marker = alice_a
        .request_json(json!({"op": "message.send", "conversation": cid, "body": "last"}))
        .await
        .expect("answered");
    let next = messages(&mut daves, &cid, 1).await;
    assert_eq!(next[0].1, marker["id"].as_str().expect("an id"));
    assert_eq!(next[0].0, seen[seen.len() - 1].0 + 1, "nothing in between");
    let list = json!({"op": "message.list", "conversation": cid, "limit": 50});
    let mut lists = Vec::new();
    for on in [&alice_a, &alice_b, &dave] {
        let page: Value = on.request_json(list.clone()).await.expect("listed");
        let bodies: Vec<Value> = (page["items"].as_array().expect("items").iter())
            .filter(|m| m["body"] != "last" && m["type"] != "log")
            .map(|m| json!([m["id"], m["body"]]))
            .collect();
        lists.push(bodies);
    }
    assert_eq!(lists[0].len(), ids.len(), "{:?}", lists[0]);
    assert_eq!(lists[0], lists[1]);
    assert_eq!(lists[0], lists[2]);
    assert_eq!(lists[0][5][1], "first");
}
