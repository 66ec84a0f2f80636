//! One conversation used from three nodes: order, ids, typing, presence,
//! moving between nodes, snapshots, an embedded node and a node left behind.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use colloquy::client::{Client, EventStream};
use colloquy::cluster::{Cluster, ClusterConfig};
use serde_json::json;

use super::harness::*;
use super::ONE_AT_A_TIME;

/// Snapshots this often here: the 1,200 messages cross two.
const SNAPSHOT_EVERY: u64 = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_sees_the_same_conversation() {
    let _one = ONE_AT_A_TIME.lock().await;
    let nats = Nats::start();
    let every = SNAPSHOT_EVERY.to_string();
    // All three at once, on NATS servers just started: each makes the log,
    // buckets and key, or finds them made by another.
    let mut nodes: Vec<Node> = std::thread::scope(|s| {
        let starting: Vec<_> = ["a", "b", "c"]
            .map(|id| s.spawn(|| node_with(&nats, id, &["--snapshot-every", &every])))
            .into_iter()
            .collect();
        starting
            .into_iter()
            .map(|node| node.join().expect("a node started"))
            .collect()
    });
    // A node whose limits differ would decide ops differently: refused.
    let err = refused(&nats, &["--max-participants", "5"]);
    assert!(err.contains("limits differ from the cluster's"), "{err}");

    let users = ["u0", "u1", "u2", "u3", "u4", "u5"];
    let mut clients = Vec::new();
    for (i, u) in users.iter().enumerate() {
        clients.push(connect(&nodes[i % 3], u).await);
    }
    let conv = clients[0]
        .request_json(json!({"op": "conversation.create", "friendly_name": "all",
                             "participants": users[1..]}))
        .await
        .expect("created");
    let cid = conv["id"].as_str().expect("id").to_string();
    // Every node made the same conversation: the same ids on each.
    for (i, c) in clients.iter().enumerate().take(3) {
        let parts = c
            .request_json(json!({"op": "participant.list", "conversation": cid}))
            .await
            .unwrap_or_else(|e| panic!("participants on node {i}: {e}"));
        assert_eq!(parts["items"].as_array().map(Vec::len), Some(6));
    }

    // A read on another node sees what was just acknowledged on this one.
    for round in 0..20 {
        let made = clients[0]
            .request_json(json!({"op": "conversation.create", "participants": ["u2"]}))
            .await
            .expect("created");
        let got = clients[2]
            .request_json(json!({"op": "conversation.get", "conversation": made["id"]}))
            .await
            .unwrap_or_else(|e| panic!("round {round}: not yet on another node: {e}"));
        assert_eq!(got["id"], made["id"]);
        let made = made["id"].as_str().expect("id");
        let sent = send(&clients[0], made, &format!("read-your-writes {round}")).await;
        let read = clients[2]
            .request_json(json!({"op": "message.get", "conversation": made, "message": sent}))
            .await
            .unwrap_or_else(|e| panic!("round {round}: message not yet on another node: {e}"));
        assert_eq!(read["id"].as_str(), Some(sent.as_str()));
    }

    // Six sessions on three nodes send 200 messages each, all at once.
    let mut streams: Vec<EventStream> = clients.iter().map(Client::subscribe).collect();
    let labels: Vec<String> = (0..clients.len()).map(|i| format!("{i}-")).collect();
    let senders = clients
        .iter()
        .zip(&labels)
        .map(|(c, label)| sends(c, &cid, label, 200));
    let acked: Vec<String> = futures_util::future::join_all(senders)
        .await
        .into_iter()
        .flatten()
        .collect();
    let mut orders = Vec::new();
    for s in &mut streams {
        orders.push(messages(s, &cid, 1200).await);
    }
    assert_gap_free(&orders[0]);
    for o in &orders[1..] {
        assert_eq!(o, &orders[0], "every subscriber sees one order");
    }
    let seen: HashSet<&String> = orders[0].iter().map(|(_, id)| id).collect();
    assert_eq!(seen.len(), 1200);
    assert!(acked.iter().all(|id| seen.contains(id)));

    // Typing crosses nodes, beside the log: it appends nothing to it.
    let js = nats.jetstream().await;
    let log_length = || async {
        let mut stream = js.get_stream("COLLOQUY").await.expect("the log");
        stream.info().await.expect("its state").state.last_sequence
    };
    let before = log_length().await;
    let typing_op = |op: &str| json!({"op": op, "conversation": cid});
    clients[0]
        .request_json(typing_op("typing.start"))
        .await
        .expect("typing");
    let wait = Duration::from_secs(10);
    let typist = expect(&mut streams[1], wait, "typingStarted", typing(true)).await;
    assert_eq!(typist, "u0");
    clients[0]
        .request_json(typing_op("typing.stop"))
        .await
        .expect("typing stopped");
    // At once, not at the typing timeout (5 s).
    let stopped = Instant::now();
    let wait = Duration::from_secs(4);
    let ended = expect(&mut streams[1], wait, "typingEnded", typing(false)).await;
    assert_eq!(ended, "u0", "ended after {:?}", stopped.elapsed());
    assert_eq!(log_length().await, before, "typing appended to the log");

    // Presence crosses nodes, once per change of the user: zed on two nodes
    // is online once, and offline only when both sessions are closed.
    clients[0]
        .request_json(json!({"op": "conversation.create", "participants": ["zed"]}))
        .await
        .expect("created with zed");
    let zed_c = connect(&nodes[2], "zed").await;
    let wait = Duration::from_secs(15);
    let s0 = &mut streams[0];
    assert_eq!(expect(s0, wait, "online", status_of("zed")).await, "online");
    let zed_b = connect(&nodes[1], "zed").await;
    zed_c.close();
    drop(zed_c);
    zed_b.close();
    drop(zed_b);
    assert_eq!(
        expect(s0, wait, "offline", status_of("zed")).await,
        "offline"
    );
    let zed_a = connect(&nodes[0], "zed").await;
    // Nothing in between: the next change of zed is this one.
    assert_eq!(expect(s0, wait, "online", status_of("zed")).await, "online");
    drop(zed_a);

    // A session that moves to another node replays what it missed, once.
    let last = orders[1].last().expect("messages").0;
    clients[1].close();
    for n in 0..5 {
        send(&clients[2], &cid, &format!("missed {n}")).await;
    }
    let moved = connect(&nodes[2], "u1").await;
    let mut s = moved.subscribe();
    let replay = moved
        .request_json(json!({"op": "events.replay", "conversation": cid, "since_seq": last}))
        .await
        .expect("replayed");
    assert_eq!(replay["recovered"], json!(true));
    let missed = messages(&mut s, &cid, 5).await;
    assert_eq!(missed.first().map(|m| m.0), Some(last + 1));
    assert_gap_free(&missed);
    send(&clients[0], &cid, "live").await;
    let live = messages(&mut s, &cid, 1).await;
    assert_eq!(live[0].0, last + 6, "the live one next, nothing twice");

    // An append retried with its Nats-Msg-Id (a node whose acknowledgement
    // from JetStream was lost) is stored, and applied, once.
    let entry = json!({"origin": "test/0", "token": 0, "caller": {"User": "u0"}, "seed": 42,
                       "request": {"op": "message.send", "conversation": cid, "body": "retried"}});
    for _ in 0..2 {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", "test-retried-append");
        js.publish_with_headers("colloquy.log", headers, entry.to_string().into())
            .await
            .expect("published")
            .await
            .expect("stored");
    }
    for (i, c) in clients.iter().enumerate().skip(2).take(3) {
        let page = c
            .request_json(json!({"op": "message.list", "conversation": cid, "page_size": 3}))
            .await
            .expect("listed");
        let retried = page["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|m| m["body"] == "retried")
            .count();
        assert_eq!(retried, 1, "node {} applied the retried append once", i % 3);
    }

    // The sends above took fewer entries the more of them queued together:
    // one at a time, each takes one, until the log is past the snapshot at
    // 1,000.
    let mut stream = js.get_stream("COLLOQUY").await.expect("the log");
    while stream.info().await.expect("its state").state.last_sequence <= 2 * SNAPSHOT_EVERY {
        send(&clients[0], &cid, "on to the snapshot").await;
    }
    // The log was trimmed behind the snapshots: after the one at 1,000, it
    // starts past the one at 500.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let first = stream.info().await.expect("its state").state.first_sequence;
        if first == SNAPSHOT_EVERY + 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the log starts at {first}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The snapshot at 1,000 is a delta on the whole one at 500: the key
    // names both, the latest first.
    assert_eq!(
        snapshot_chain(&js).await,
        [2 * SNAPSHOT_EVERY, SNAPSHOT_EVERY]
    );

    // Embedded: an engine in this process joins the cluster (from inside an
    // async runtime) and holds the same conversation, started from the
    // snapshot and the delta on it, as what it lacks is no longer in the log.
    let engine = colloquy::Engine::start(colloquy::Config::default()).expect("engine");
    let config = ClusterConfig {
        urls: nats.urls.clone(),
        node_id: "embedded".into(),
        snapshot_every: SNAPSHOT_EVERY,
        append_wait: ClusterConfig::APPEND_WAIT,
        tls: Default::default(),
        key_file: None,
    };
    let cluster = Cluster::join(&engine, config).expect("joins");
    let count = engine
        .request_as(
            colloquy::Caller::Service,
            json!({"op": "message.count", "conversation": cid}),
        )
        .await
        .expect("counted");
    let elsewhere = clients[0]
        .request_json(json!({"op": "message.count", "conversation": cid}))
        .await
        .expect("counted");
    assert_eq!(count, elsewhere);

    // Ops asked at once on one node share log entries: fifty sends at once
    // grow the log by fewer entries than that, and each op is applied once,
    // on every node, with its own answer.
    let before = stream.info().await.expect("its state").state.last_sequence;
    let burst = (0..50).map(|n| {
        engine.request_as(
            colloquy::Caller::Service,
            json!({"op": "message.send", "conversation": cid, "body": format!("burst {n}"), "author": "bot"}),
        )
    });
    let ids: HashSet<String> = futures_util::future::join_all(burst)
        .await
        .into_iter()
        .map(|sent| {
            sent.expect("sent")["id"]
                .as_str()
                .expect("an id")
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), 50);
    let after = stream.info().await.expect("its state").state.last_sequence;
    assert!(
        after - before < 50,
        "50 ops took {} entries",
        after - before
    );
    let before_burst = count["count"].as_u64();
    for client in [&clients[0], &clients[4], &clients[2]] {
        let there = client
            .request_json(json!({"op": "message.count", "conversation": cid}))
            .await
            .expect("counted");
        assert_eq!(there["count"].as_u64(), before_burst.map(|c| c + 50));
    }
    cluster.leave();
    engine.shutdown();

    // A node that falls more than a snapshot interval behind (stopped here
    // while the others go on) stops once it runs again, with exit 1: applying
    // on would skip what was trimmed behind the snapshots meanwhile.
    let behind = stream.info().await.expect("its state").state.last_sequence;
    let c = &mut nodes[2].proc.0;
    signal("-STOP", c.id());
    // Its reader's consumer goes, as the server drops an idle one: nothing
    // more is pushed to it meanwhile. (The other nodes reopen theirs.)
    let names: Vec<String> = futures_util::TryStreamExt::try_collect(stream.consumer_names())
        .await
        .expect("the log's readers");
    for name in names {
        stream.delete_consumer(&name).await.expect("dropped");
    }
    // The others send until the log is trimmed past what node c may have had
    // in its socket when stopped (a reader pulls 200 entries at a time). In
    // rounds: an entry may hold several ops, so ops do not count entries.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut round = 0;
    while stream.info().await.expect("its state").state.first_sequence <= behind + SNAPSHOT_EVERY {
        assert!(
            Instant::now() < deadline,
            "the log was not trimmed past node c"
        );
        let sends = [0, 3].map(|i| {
            let (client, cid) = (&clients[i], cid.clone());
            async move {
                for n in 0..SNAPSHOT_EVERY / 5 {
                    send(client, &cid, &format!("while c is stopped {i}-{round}-{n}")).await;
                }
            }
        });
        futures_util::future::join_all(sends).await;
        round += 1;
    }
    signal("-CONT", c.id());
    let within = Duration::from_secs(20);
    let code = exit_code_within(c, within, "node c went on after the gap").await;
    assert_eq!(code, Some(1), "node c stops with exit 1");

    // A log trimmed past its snapshot (by hand here) is refused at start: the
    // node would miss what is in neither.
    let last = stream.info().await.expect("its state").state.last_sequence;
    stream.purge().sequence(last).await.expect("trimmed");
    let err = refused(&nats, &[]);
    assert!(
        err.contains("the latest snapshot holds only up to"),
        "{err}"
    );
}
