//! A stale node asked to send, a colloquy node and a NATS server dying, and
//! a node leaving with SIGTERM.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::harness::*;
use super::ONE_AT_A_TIME;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_when_a_node_or_a_nats_server_dies() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut nats = Nats::start();
    let (a, b) = (node(&nats, "a"), node(&nats, "b"));
    let c = node(&nats, "c");
    let alice = connect(&a, "alice").await;
    let carol = connect(&b, "carol").await;
    let bob = connect(&c, "bob").await;
    let conv = alice
        .request_json(json!({"op": "conversation.create", "participants": ["bob", "carol"]}))
        .await
        .expect("created");
    let cid = conv["id"].as_str().expect("id").to_string();
    let (mut bobs, mut bob_messages) = (bob.subscribe(), bob.subscribe());
    let mut carols = carol.subscribe();
    let mut acked = Vec::new();
    for n in 0..20 {
        acked.push(send(&alice, &cid, &format!("before {n}")).await);
    }
    messages(&mut carols, &cid, 20).await;

    // Where another design would have two owners of a conversation: a node
    // whose view is stale (stopped while alice's messages go on) is asked to
    // send. What it is asked is decided where it lands in the log, never from
    // its view: carol's message comes after alice's, with the next index and
    // seq, the same for everyone, and nothing else claims that seq.
    signal("-STOP", b.proc.0.id());
    for n in 0..10 {
        acked.push(send(&alice, &cid, &format!("while b is stopped {n}")).await);
    }
    let req = json!({"op": "message.send", "conversation": cid, "body": "from the stale node"});
    let (answer, ()) = tokio::join!(carol.request_json(req), async {
        // Time for the request to reach b's socket while b cannot read it.
        tokio::time::sleep(Duration::from_millis(300)).await;
        signal("-CONT", b.proc.0.id());
    });
    let answer = answer.expect("the stale node's send is acknowledged");
    assert_eq!(answer["index"], json!(30), "decided after alice's 30");
    let stale_id = answer["id"].as_str().expect("an id").to_string();
    acked.push(stale_id.clone());
    let carol_saw = messages(&mut carols, &cid, 11).await;
    let bob_saw_now = messages(&mut bobs, &cid, 31).await;
    assert_gap_free(&bob_saw_now);
    assert_eq!(
        &bob_saw_now[20..],
        &carol_saw[..],
        "one order on both nodes"
    );
    assert_eq!(carol_saw.last().map(|m| &m.1), Some(&stale_id));

    // Node b dies: the others go on, and its user goes offline for them.
    drop(b);
    drop(carol);
    let gone = Instant::now();
    for n in 0..20 {
        acked.push(send(&alice, &cid, &format!("during {n}")).await);
    }
    let offline = expect(
        &mut bobs,
        Duration::from_secs(20),
        "carol offline",
        status_of("carol"),
    )
    .await;
    assert_eq!(offline, "offline");
    assert!(
        gone.elapsed() < Duration::from_secs(15),
        "b's users offline within 15 s"
    );
    // Carol comes back on another node and replays from her last seq.
    let carol = connect(&c, "carol").await;
    let mut s = carol.subscribe();
    let since = carol_saw.last().expect("messages").0;
    let replay = carol
        .request_json(json!({"op": "events.replay", "conversation": cid, "since_seq": since}))
        .await
        .expect("replayed");
    assert_eq!(replay["recovered"], json!(true));
    assert_gap_free(&messages(&mut s, &cid, 20).await);

    // The NATS server alice's node is connected to dies: the node fails over
    // to another listed server, alice's session stays open (her client does
    // not reconnect), and every message she had acknowledged is kept.
    nats.kill(nats.serving("colloquy a").await);
    let killed = Instant::now();
    acked.push(send(&alice, &cid, "after the kill").await);
    let back = killed.elapsed();
    eprintln!("first acknowledgement after a NATS server died: {back:?}");
    assert!(back < Duration::from_secs(15), "service back within 15 s");
    for n in 0..40 {
        acked.push(send(&alice, &cid, &format!("after {n}")).await);
    }
    let bob_saw = messages(&mut bob_messages, &cid, acked.len()).await;
    assert_gap_free(&bob_saw);
    let mut stored = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let page = carol
            .request_json(json!({"op": "message.list", "conversation": cid,
                                 "page_size": 100, "direction": "forward", "cursor": cursor}))
            .await
            .expect("listed");
        for m in page["items"].as_array().expect("items") {
            stored.push(m["id"].as_str().expect("id").to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = json!(next),
            None => break,
        }
    }
    let stored: HashMap<&String, ()> = stored.iter().map(|id| (id, ())).collect();
    for id in &acked {
        assert!(
            stored.contains_key(id),
            "acknowledged message {id} was lost"
        );
    }

    // A node that joins now reads the whole log: the same messages, the same ids.
    let d = node(&nats, "d");
    let dave_view = connect(&d, "bob").await;
    let count = dave_view
        .request_json(json!({"op": "message.count", "conversation": cid}))
        .await
        .expect("counted on the new node");
    assert_eq!(count["count"], json!(stored.len()));
    let last = dave_view
        .request_json(json!({"op": "message.list", "conversation": cid, "page_size": 1}))
        .await
        .expect("listed on the new node");
    assert_eq!(
        last["items"][0]["id"].as_str(),
        acked.last().map(String::as_str)
    );

    // SIGTERM: the node says goodbye (its users are offline for the others at
    // once, not after the silence) and exits 0 within 10 s.
    alice
        .request_json(json!({"op": "conversation.create", "participants": ["erin"]}))
        .await
        .expect("created with erin");
    let mut alices = alice.subscribe();
    let erin = connect(&d, "erin").await;
    let wait = Duration::from_secs(10);
    assert_eq!(
        expect(&mut alices, wait, "online", status_of("erin")).await,
        "online"
    );
    let mut d = d;
    // SAFETY: kill(2) on our own child's pid has no memory effects.
    unsafe { libc::kill(d.proc.0.id() as i32, libc::SIGTERM) };
    let code = exit_code_within(&mut d.proc.0, wait, "SIGTERM").await;
    assert_eq!(code, Some(0));
    let quick = Duration::from_secs(5);
    assert_eq!(
        expect(&mut alices, quick, "offline", status_of("erin")).await,
        "offline"
    );
    drop(erin);
}
