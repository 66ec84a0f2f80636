//! A NATS server that stalls: it stops answering without closing its
//! connections, as a stopped process, a paused machine or a network that
//! drops packets without a reset do.
//!
//! Here the stalled server leads the log's stream, the one owner this
//! cluster has of where an entry goes. The other two elect another leader
//! meanwhile; let go, the stalled one still takes itself for the leader
//! (it was stopped as one) until it hears of the election, with the ops
//! published to it during the stall to decide: a forced double owner.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use colloquy::client::Client;
use futures_util::future::join_all;
use serde_json::json;

use super::harness::*;
use super::ONE_AT_A_TIME;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_log_leader_loses_nothing_and_doubles_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    let nats = Nats::start();
    let (a, b, c) = (node(&nats, "a"), node(&nats, "b"), node(&nats, "c"));
    let alice = connect(&a, "alice").await;
    let bob = connect(&b, "bob").await;
    let carol = connect(&c, "carol").await;
    let conv = alice
        .request_json(json!({"op": "conversation.create", "participants": ["bob", "carol"]}))
        .await
        .expect("created");
    let cid = conv["id"].as_str().expect("id").to_string();
    let mut seen: Vec<_> = [&alice, &bob, &carol].map(Client::subscribe).into();
    let mut acked = Vec::new();
    for who in [&alice, &bob, &carol] {
        acked.extend(sends(who, &cid, "before ", 5).await);
    }

    // The server node a is connected to leads the log, and stalls.
    let stalled = nats.serving("colloquy a").await;
    nats.lead_the_log(stalled).await;
    signal("-STOP", nats.pid(stalled));
    let since = Instant::now();
    // Alice's send goes to a server that neither answers nor hangs up. Her
    // node must notice by itself and fail over, and her one request (not
    // resent) be acknowledged within 15 s, while bob and carol go on.
    let once = json!({"op": "message.send", "conversation": cid, "body": "alice stalled"});
    let (answer, others) = tokio::join!(alice.request_json(once), async {
        let mut ids = Vec::new();
        for n in 0..10 {
            ids.push(send(&bob, &cid, &format!("bob stalled {n}")).await);
            ids.push(send(&carol, &cid, &format!("carol stalled {n}")).await);
        }
        ids
    });
    let took = since.elapsed();
    let answer = answer.expect("alice's send through the stalled server is acknowledged");
    eprintln!("alice acknowledged {took:?} after her server stalled");
    assert!(took < Duration::from_secs(15), "acknowledged within 15 s");
    acked.push(answer["id"].as_str().expect("an id").to_string());
    acked.extend(others);
    // Two owners: the others have elected another leader, and the stalled
    // server, stopped as the leader, cannot have heard of it.
    let stalled_name = format!("n{stalled}");
    for leader in nats.log_leaders(Some(stalled)).await {
        assert!(leader.is_some_and(|l| l != stalled_name), "another leads");
    }

    // Let go while all three send at once.
    let first_view = tokio::spawn(nats.log_leader_seen_by(stalled));
    tokio::time::sleep(Duration::from_millis(100)).await;
    signal("-CONT", nats.pid(stalled));
    let senders = [&alice, &bob, &carol].map(|who| sends(who, &cid, "after ", 15));
    acked.extend(join_all(senders).await.into_iter().flatten());
    // Illustration only: whether its monitor answered before it stepped down.
    let first_view = first_view.await.expect("asked");
    eprintln!("the leader as {stalled_name} saw it once let go: {first_view:?}");

    // One order for everyone, every acknowledged message in it once, and
    // nothing else.
    let orders = join_all(seen.iter_mut().map(|s| messages(s, &cid, acked.len()))).await;
    for order in &orders {
        assert_gap_free(order);
        assert_eq!(order, &orders[0], "one order on every node");
    }
    let ids: HashSet<&String> = orders[0].iter().map(|(_, id)| id).collect();
    assert_eq!(ids.len(), acked.len(), "no message twice");
    assert!(acked.iter().all(|id| ids.contains(id)), "every ack kept");
    let mut sends = HashMap::new();
    for who in [&alice, &bob, &carol] {
        let page = who
            .request_json(json!({"op": "message.list", "conversation": cid, "page_size": 100}))
            .await
            .expect("listed");
        let items = page["items"].as_array().expect("items");
        assert_eq!(
            items.len(),
            acked.len(),
            "one message per acknowledged send"
        );
        for m in items {
            let key = (m["author"].to_string(), m["body"].to_string());
            *sends.entry(key).or_insert(0) += 1;
        }
    }
    assert!(sends.values().all(|&n| n == 3), "no send applied twice");

    // The log itself: every place holds an entry, and no entry (named by
    // its Nats-Msg-Id, the same on a resend) holds a place twice.
    let js = nats.jetstream().await;
    let mut log = js.get_stream("COLLOQUY").await.expect("the log");
    let state = log.info().await.expect("its state").state.clone();
    let places = state.first_sequence..=state.last_sequence;
    let mut named = HashSet::new();
    for place in places {
        let entry = entry_at(&log, place).await;
        let id = entry.headers.get("Nats-Msg-Id").expect("named").to_string();
        assert!(named.insert(id), "entry {place} appended twice");
    }
}

/// The log's entry at `place`, asked of the stream's leader: retried for a
/// while, as the leader may still be moving after the stall.
async fn entry_at(
    log: &async_nats::jetstream::stream::Stream,
    place: u64,
) -> async_nats::jetstream::message::StreamMessage {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match log.get_raw_message(place).await {
            Ok(entry) => return entry,
            Err(e) if Instant::now() < deadline => {
                eprintln!("entry {place}: {e}; asking again");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("no entry at {place}: {e}"),
        }
    }
}
