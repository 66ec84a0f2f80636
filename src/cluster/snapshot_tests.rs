//! Snapshots without NATS: an engine started from a snapshot, or from a
//! chain of a whole one and deltas on it, goes on as the engine it was
//! taken from.

use serde_json::{json, Value};

use super::tests::{apply, user};
use crate::config::Config;
use crate::engine::Engine;
use crate::model::Stamp;
use crate::protocol::Request;
use crate::store::snapshot;

#[tokio::test]
async fn a_node_started_from_a_snapshot_goes_on_like_the_others() {
    let before = vec![
        (
            user("alice"),
            json!({"op": "conversation.create", "friendly_name": "x", "participants": ["bob"],
                   "attributes": {"topic": "snapshots"}}),
        ),
        (
            user("bob"),
            json!({"op": "message.send", "conversation": "$conv", "body": "hi", "client_id": "b1"}),
        ),
        (
            user("alice"),
            json!({"op": "message.send", "conversation": "$conv", "body": "yo"}),
        ),
        (
            user("bob"),
            json!({"op": "reaction.add", "conversation": "$conv", "message": 0, "reaction": "👍"}),
        ),
        (
            user("alice"),
            json!({"op": "message.edit", "conversation": "$conv", "message": 1, "body": "yo!"}),
        ),
        (
            user("alice"),
            json!({"op": "message.send", "conversation": "$conv", "body": "gone"}),
        ),
        (
            user("alice"),
            json!({"op": "message.delete", "conversation": "$conv", "message": 2}),
        ),
        (
            user("bob"),
            json!({"op": "read.set", "conversation": "$conv", "index": 0}),
        ),
        (
            user("alice"),
            json!({"op": "conversation.direct", "identity": "dave"}),
        ),
        (
            user("carol"),
            json!({"op": "user.update", "friendly_name": "Carol"}),
        ),
    ];
    let after = vec![
        // A resend answers the first message; indexes and ids go on alike.
        (
            user("bob"),
            json!({"op": "message.send", "conversation": "$conv", "body": "hi", "client_id": "b1"}),
        ),
        (
            user("bob"),
            json!({"op": "message.send", "conversation": "$conv", "body": "after"}),
        ),
        (
            user("alice"),
            json!({"op": "conversation.direct", "identity": "dave"}),
        ),
        (
            user("bob"),
            json!({"op": "unread.count", "conversation": "$conv"}),
        ),
        (
            user("alice"),
            json!({"op": "conversation.get", "conversation": "$conv"}),
        ),
        (
            user("alice"),
            json!({"op": "message.list", "conversation": "$conv"}),
        ),
        (
            user("alice"),
            json!({"op": "participant.list", "conversation": "$conv"}),
        ),
        (user("alice"), json!({"op": "conversation.list"})),
    ];
    let old = Engine::start(Config::default()).expect("engine");
    let mut conv = Value::Null;
    let made = apply(&old, &before, 0, &mut conv).await;
    assert!(made.iter().all(|a| a.get("error").is_none()), "{made:?}");

    let bytes = snapshot::encode(before.len() as u64, 0, &old.records().await);
    let window = old.config().limits.replay_window;
    let taken = snapshot::decode(&bytes, window).expect("reads back");
    assert_eq!(taken.position, before.len() as u64);
    let new = Engine::start(Config::default()).expect("engine");
    new.recover(taken.recovered).await.expect("starts from it");

    let first = before.len();
    let here = apply(&old, &after, first, &mut conv.clone()).await;
    let there = apply(&new, &after, first, &mut conv.clone()).await;
    assert_eq!(here, there);
    // What was compared is the conversation, not a row of errors.
    assert_eq!(here[0]["id"], made[1]["id"], "the resend answers the first");
    assert_eq!(
        here[1]["index"],
        json!(3),
        "indexes go on after the deleted one"
    );
    assert_eq!(here[2]["id"], made[8]["id"], "the same direct conversation");
    // Past bob's horizon (0): alice's "yo!"; the deleted one and his own do not count.
    assert_eq!(here[3]["unread_messages_count"], json!(1), "{}", here[3]);
    assert_eq!(here[4]["attributes"], json!({"topic": "snapshots"}));
    let bodies: Vec<&str> = here[5]["items"]
        .as_array()
        .expect("a page")
        .iter()
        .filter_map(|m| m["body"].as_str())
        .collect();
    assert_eq!(bodies, ["hi", "yo!", "after"]);
    assert_eq!(here[6]["items"].as_array().map(Vec::len), Some(2));
    old.shutdown();
    new.shutdown();
}

/// A whole snapshot, then deltas on it each holding only the records changed
/// since the one before: a conversation changed (a message sent, one
/// deleted, one edited), one deleted, one made, one left alone; and last a
/// delta on a snapshot older than what its changed conversation still knows,
/// which holds that conversation whole.
#[tokio::test]
async fn a_node_started_from_a_chain_of_deltas_goes_on_like_the_others() {
    let send = |who: &str, conv: &str, body: &str| {
        (
            user(who),
            json!({"op": "message.send", "conversation": conv, "body": body}),
        )
    };
    let create = |name: &str| {
        (
            user("alice"),
            json!({"op": "conversation.create", "unique_name": name, "participants": ["bob"]}),
        )
    };
    let whole_ops = vec![
        create("main"),
        send("bob", "main", "hi"),
        send("alice", "main", "doomed message"),
        create("quiet"),
        send("bob", "quiet", "quiet body"),
        create("doomed"),
        send("bob", "doomed", "doomed body"),
    ];
    let first_delta = vec![
        // (Not last: a profile changed by an entry counts as changed after it.)
        (
            user("carol"),
            json!({"op": "user.update", "friendly_name": "Carol"}),
        ),
        send("alice", "main", "after"),
        (
            user("alice"),
            json!({"op": "message.delete", "conversation": "main", "message": 1}),
        ),
        (
            user("alice"),
            json!({"op": "conversation.delete", "conversation": "doomed"}),
        ),
        create("new"),
        send("bob", "new", "new body"),
    ];
    let second_delta = vec![(
        user("alice"),
        json!({"op": "message.edit", "conversation": "main", "message": 2, "body": "edited"}),
    )];
    let third_delta = vec![send("bob", "main", "late")];
    let old = Engine::start(Config::default()).expect("engine");
    old.shared().note_changes();
    let mut at = 0;
    let mut chain = Vec::new();
    let mut base = None;
    let mut replay_at_second = Vec::new();
    for ops in [&whole_ops, &first_delta, &second_delta, &third_delta] {
        if std::ptr::eq(ops, &third_delta) {
            // As a node does two snapshots on: what changed up to the next
            // entry is forgotten.
            old.shared().forget_changes_upto(at as u64 + 1);
        }
        let made = apply(&old, ops, at, &mut json!("main")).await;
        assert!(made.iter().all(|a| a.get("error").is_none()), "{made:?}");
        at += ops.len();
        let (records, live) = old.records_since(base).await.expect("every one answers");
        let on = base.map(|b| (b, live.as_deref()));
        chain.push(snapshot::encode_on(at as u64, 0, on, &records));
        base = Some(at as u64);
        if std::ptr::eq(ops, &second_delta) {
            replay_at_second = replayed(&old, "main").await;
        }
    }
    let holds = |bytes: &[u8], text: &str| bytes.windows(text.len()).any(|w| w == text.as_bytes());
    let times = |bytes: &[u8], text: &str| {
        let text = text.as_bytes();
        bytes.windows(text.len()).filter(|w| *w == text).count()
    };
    // A message as it was sent is held once: its messageAdded refers to it.
    assert_eq!(times(&chain[0], "quiet body"), 1);
    assert_eq!(times(&chain[1], "new body"), 1);
    // Each delta holds what changed, not what stayed.
    assert!(holds(&chain[0], "quiet body") && holds(&chain[0], "doomed body"));
    assert!(!holds(&chain[1], "quiet body"), "an unchanged conversation");
    assert!(!holds(&chain[1], "doomed body"), "a deleted conversation");
    assert!(holds(&chain[1], "new body") && holds(&chain[1], "after"));
    assert!(
        holds(&chain[1], "Carol") && !holds(&chain[2], "Carol"),
        "a profile changed once"
    );
    assert!(!holds(&chain[2], "new body") && holds(&chain[2], "edited"));
    assert!(
        !holds(&chain[2], "\"hi\""),
        "a message unchanged in a changed conversation"
    );
    assert!(chain[2].len() < chain[0].len());
    assert!(
        holds(&chain[3], "late") && holds(&chain[3], "\"hi\""),
        "written whole"
    );
    assert!(!holds(&chain[3], "quiet body"));

    let window = old.config().limits.replay_window;
    let links: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
    // The first delta alone erases the deleted conversation.
    let first = snapshot::decode_chain(&links[..2], window).expect("reads back");
    assert_eq!(
        first.recovered.conversations.len(),
        3,
        "main, quiet and new"
    );
    let skipped = snapshot::decode_chain(&[links[0], links[2], links[3]], window);
    assert!(skipped.is_err(), "a delta read on another base");
    // Up to the second delta: "after" was sent in the first (held once,
    // its messageAdded a reference) and edited in the second, which holds
    // its messageAdded whole again; replay resends what was first delivered.
    assert_eq!(times(&chain[1], "\"after\""), 1);
    let second = snapshot::decode_chain(&links[..3], window).expect("reads back");
    let then = Engine::start(Config::default()).expect("engine");
    then.recover(second.recovered)
        .await
        .expect("starts from it");
    let resent = replayed(&then, "main").await;
    assert_eq!(resent, replay_at_second);
    let added: Vec<_> = resent
        .iter()
        .filter(|e| e.event == "messageAdded")
        .collect();
    let bodies: Vec<_> = added.iter().map(|e| e.data["body"].clone()).collect();
    assert_eq!(
        bodies,
        [json!("hi"), json!("doomed message"), json!("after")]
    );
    then.shutdown();
    let taken = snapshot::decode_chain(&links, window).expect("reads back");
    assert_eq!(taken.position, at as u64);
    let new = Engine::start(Config::default()).expect("engine");
    new.recover(taken.recovered).await.expect("starts from it");

    let by = |who: &str, op: Value| (user(who), op);
    let list = |who: &str, conv: &str| by(who, json!({"op": "message.list", "conversation": conv}));
    let after = vec![
        by("alice", json!({"op": "conversation.list"})),
        list("alice", "main"),
        list("bob", "quiet"),
        by(
            "bob",
            json!({"op": "conversation.get", "conversation": "doomed"}),
        ),
        list("bob", "new"),
        by(
            "bob",
            json!({"op": "presence.get", "identities": ["carol"]}),
        ),
        send("bob", "main", "next"),
        send("bob", "quiet", "next"),
    ];
    let here = apply(&old, &after, at, &mut json!("main")).await;
    let there = apply(&new, &after, at, &mut json!("main")).await;
    assert_eq!(here, there);
    for conv in ["main", "quiet", "new"] {
        assert_eq!(
            replayed(&old, conv).await,
            replayed(&new, conv).await,
            "{conv}"
        );
    }
    // What was compared holds what the ops made.
    let bodies = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["body"].as_str().map(String::from))
            .collect()
    };
    assert_eq!(here[0]["items"].as_array().map(Vec::len), Some(3));
    assert_eq!(bodies(&here[1]), ["hi", "edited", "late"]);
    assert_eq!(bodies(&here[2]), ["quiet body"]);
    assert_eq!(here[3]["error"], json!("not_found"));
    assert_eq!(bodies(&here[4]), ["new body"]);
    assert_eq!(here[5]["items"][0]["friendly_name"], json!("Carol"));
    assert_eq!(
        here[6]["index"],
        json!(4),
        "indexes go on after the deleted one"
    );
    assert_eq!(here[7]["index"], json!(1));
    old.shutdown();
    new.shutdown();
}

/// A snapshot holds the records of the moment it was asked for: a cluster's
/// reader goes on applying entries while the conversations write them out,
/// and what those entries change is not in it.
#[tokio::test]
async fn a_snapshot_holds_the_records_of_the_moment_it_was_asked_for() {
    let send = |body: &str| {
        (
            user("bob"),
            json!({"op": "message.send", "conversation": "main", "body": body}),
        )
    };
    let before = vec![
        (
            user("alice"),
            json!({"op": "conversation.create", "unique_name": "main", "participants": ["bob"]}),
        ),
        send("before"),
    ];
    let after = vec![
        send("after"),
        (
            user("carol"),
            json!({"op": "user.update", "friendly_name": "Carol"}),
        ),
        (
            user("alice"),
            json!({"op": "conversation.create", "unique_name": "later"}),
        ),
    ];
    let old = Engine::start(Config::default()).expect("engine");
    apply(&old, &before, 0, &mut json!("main")).await;
    let asked = old.records_since(None);
    let made = apply(&old, &after, before.len(), &mut json!("main")).await;
    assert!(made.iter().all(|a| a.get("error").is_none()), "{made:?}");
    let (records, _) = asked.await.expect("every one answers");
    let bytes = snapshot::encode(before.len() as u64, 0, &records);
    let holds = |text: &str| bytes.windows(text.len()).any(|w| w == text.as_bytes());
    assert!(holds("\"before\""));
    assert!(!holds("\"after\"") && !holds("Carol") && !holds("later"));

    let window = old.config().limits.replay_window;
    let taken = snapshot::decode(&bytes, window).expect("reads back");
    let new = Engine::start(Config::default()).expect("engine");
    new.recover(taken.recovered).await.expect("starts from it");
    apply(&new, &after, before.len(), &mut json!("main")).await;
    let list = |conv: &str| {
        (
            user("alice"),
            json!({"op": "message.list", "conversation": conv}),
        )
    };
    let reads = vec![list("main"), list("later")];
    let first = before.len() + after.len();
    let here = apply(&old, &reads, first, &mut json!("main")).await;
    let there = apply(&new, &reads, first, &mut json!("main")).await;
    assert_eq!(here, there);
    assert_eq!(here[0]["items"].as_array().map(Vec::len), Some(2));
    old.shutdown();
    new.shutdown();
}

/// Every event of conversation `conv` that `events.replay` from the start
/// resends to bob, in order.
async fn replayed(engine: &Engine, conv: &str) -> Vec<crate::protocol::Event> {
    let bob = engine.connect("bob").await.expect("bob");
    let asked = json!({"op": "events.replay", "conversation": conv, "since_seq": 0});
    let answer = bob.request_json(asked).await.expect("replayed");
    assert_eq!(answer["recovered"], json!(true), "{conv}: {answer}");
    let mut events = Vec::new();
    while let Some(e) = bob.try_next_event() {
        events.push(e);
    }
    assert!(!events.is_empty(), "{conv}: nothing replayed");
    bob.close(crate::delivery::CloseReason::ClientClosed).await;
    events
}

/// What a snapshot costs (a measurement, not a check of speed; figures in
/// docs/BENCHMARKS.md): `cargo test --release --lib snapshot_cost -- --ignored
/// --nocapture`. 100 conversations of 1,000 messages of 100 bytes.
#[tokio::test]
#[ignore = "a measurement: run it with --release"]
async fn snapshot_cost() {
    let engine = Engine::start(Config::default()).expect("engine");
    engine.shared().note_changes();
    let op = |v: Value| Request::from_json(&v).expect("an op");
    let mut seed = 0;
    let mut stamp = || {
        seed += 1;
        Stamp {
            at: 1,
            seed,
            entry: 1,
        }
    };
    for _ in 0..100 {
        let made = engine
            .apply(
                user("ana"),
                op(json!({"op": "conversation.create"})),
                stamp(),
            )
            .await
            .expect("created");
        let id = made.data.to_json()["id"].clone();
        for _ in 0..1000 {
            let send = json!({"op": "message.send", "conversation": id, "body": "x".repeat(100)});
            engine
                .apply(user("ana"), op(send), stamp())
                .await
                .expect("sent");
        }
    }
    let window = engine.config().limits.replay_window;
    // Everything so far as log entry 1; then one message into one
    // conversation as entry n: a delta on the snapshot before holds it alone.
    engine.shared().enter_log_position(1);
    engine.shared().forget_changes_upto(1);
    let one = json!({"op": "conversation.list", "page_size": 1});
    let listed = engine.apply(user("ana"), op(one), stamp()).await;
    let last = listed.expect("listed").data.to_json()["items"][0]["id"].clone();
    for n in 2..5 {
        engine.shared().enter_log_position(n);
        let send = json!({"op": "message.send", "conversation": last, "body": "x".repeat(100)});
        engine
            .apply(user("ana"), op(send), stamp())
            .await
            .expect("sent");
        let t = std::time::Instant::now();
        let asked = engine.records_since(Some(n - 1));
        let paused = t.elapsed();
        let (records, live) = asked.await.expect("read");
        let read = t.elapsed();
        let bytes = snapshot::encode_on(n, 1, Some((n - 1, live.as_deref())), &records);
        let encoded = t.elapsed() - read;
        eprintln!(
            "a delta of one changed conversation: the reader's pause {paused:?}, records \
             {read:?}, encoding {encoded:?}, {} bytes",
            bytes.len()
        );
    }
    for round in 0..3 {
        let t = std::time::Instant::now();
        let asked = engine.records_since(None);
        let paused = t.elapsed();
        // As the reader's next entry would: a message into one conversation
        // while the conversations write their records out.
        let send = json!({"op": "message.send", "conversation": last, "body": "x".repeat(100)});
        let next = engine.apply(user("ana"), op(send), stamp()).await;
        next.expect("sent");
        let answered = t.elapsed();
        let records = asked.await.expect("read").0;
        let read = t.elapsed();
        let bytes = snapshot::encode(1, 1, &records);
        let encoded = t.elapsed() - read;
        let t = std::time::Instant::now();
        let taken = snapshot::decode(&bytes, window).expect("reads back");
        let fresh = Engine::start(Config::default()).expect("engine");
        fresh.recover(taken.recovered).await.expect("starts");
        let started = t.elapsed();
        assert_eq!(fresh.metrics().messages_stored, 100_003 + round);
        eprintln!(
            "the reader's pause {paused:?}, the next op answered after {answered:?}, records \
             {read:?}, encoding {encoded:?}, {} bytes; a node started from it in {started:?}",
            bytes.len()
        );
        fresh.shutdown();
    }
    engine.shutdown();
}

/// What noting changes costs a cluster node per op (a measurement, not a
/// check of speed; figures in docs/BENCHMARKS.md): `cargo test --release
/// --lib noting_cost -- --ignored --nocapture`. 20,000 sends into one of
/// 100 conversations each, applied as log entries, with and without noting.
#[tokio::test]
#[ignore = "a measurement: run it with --release"]
async fn noting_cost() {
    let op = |v: Value| Request::from_json(&v).expect("an op");
    for round in 0..6 {
        let noting = round % 2 == 1;
        let engine = Engine::start(Config::default()).expect("engine");
        if noting {
            engine.shared().note_changes();
        }
        let mut seed = 0;
        let mut ids = Vec::new();
        for _ in 0..100 {
            seed += 1;
            let made = engine
                .apply(
                    user("ana"),
                    op(json!({"op": "conversation.create"})),
                    Stamp {
                        at: 1,
                        seed,
                        entry: 1,
                    },
                )
                .await
                .expect("created");
            ids.push(made.data.to_json()["id"].clone());
        }
        let t = std::time::Instant::now();
        for n in 0..20_000u64 {
            engine.shared().enter_log_position(n + 1);
            let send =
                json!({"op": "message.send", "conversation": ids[n as usize % 100], "body": "x"});
            seed += 1;
            engine
                .apply(
                    user("ana"),
                    op(send),
                    Stamp {
                        at: 1,
                        seed,
                        entry: 1,
                    },
                )
                .await
                .expect("sent");
        }
        let per_op = t.elapsed() / 20_000;
        eprintln!("noting {noting}: {per_op:?} per op, applied one after another");
        engine.shutdown();
    }
}

/// A snapshot comes from the network: bytes cut short or changed are refused
/// or read back, and an engine started from what reads back answers, but
/// nothing panics (a conversation's actor that did would answer `internal`).
#[tokio::test]
async fn damaged_snapshots_are_refused_or_read_without_a_panic() {
    let by = |who: &str, op: Value| (user(who), op);
    let ops = vec![
        by(
            "alice",
            json!({"op": "conversation.create", "unique_name": "main", "participants": ["bob"]}),
        ),
        by(
            "bob",
            json!({"op": "message.send", "conversation": "main", "body": "hi"}),
        ),
        by(
            "alice",
            json!({"op": "message.send", "conversation": "main", "body": "yo"}),
        ),
        by(
            "alice",
            json!({"op": "message.edit", "conversation": "main", "message": 1, "body": "yo!"}),
        ),
        by(
            "bob",
            json!({"op": "reaction.add", "conversation": "main", "message": 0, "reaction": "x"}),
        ),
        by("carol", json!({"op": "user.update", "friendly_name": "C"})),
    ];
    let old = Engine::start(Config::default()).expect("engine");
    apply(&old, &ops, 0, &mut json!("main")).await;
    let bytes = snapshot::encode(6, 0, &old.records().await);
    old.shutdown();
    let window = Config::default().limits.replay_window;
    let reads = vec![
        by("bob", json!({"op": "message.list", "conversation": "main"})),
        by("bob", json!({"op": "conversation.list"})),
        by(
            "bob",
            json!({"op": "message.send", "conversation": "main", "body": "on"}),
        ),
    ];
    // A fixed sequence of damage: cuts, a few bytes changed, one bit.
    let mut x: u64 = 987_654_321;
    let mut next = move || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 33) as usize
    };
    let (mut refused, mut read) = (0, 0);
    for round in 0..600 {
        let mut b = bytes.clone();
        match round % 3 {
            0 => b.truncate(next() % b.len()),
            1 => {
                for _ in 0..1 + next() % 4 {
                    let at = next() % b.len();
                    b[at] = next() as u8;
                }
            }
            _ => {
                let at = next() % b.len();
                b[at] ^= 1 << (next() % 8);
            }
        }
        let Ok(taken) = snapshot::decode(&b, window) else {
            refused += 1;
            continue;
        };
        let engine = Engine::start(Config::default()).expect("engine");
        if engine.recover(taken.recovered).await.is_ok() {
            read += 1;
            let answers = apply(&engine, &reads, 6, &mut json!("main")).await;
            assert!(
                answers.iter().all(|a| a["error"] != json!("internal")),
                "round {round}: {answers:?}"
            );
        } else {
            refused += 1;
        }
        engine.shutdown();
    }
    assert!(refused > 0 && read > 0, "{refused} refused, {read} read");
}
