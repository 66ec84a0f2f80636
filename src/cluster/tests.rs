//! What cluster mode rests on, without NATS: the same entries, applied in the
//! same order with the same stamps, make the same answers on every engine.

use serde_json::{json, Value};

use crate::config::Config;
use crate::engine::Engine;
use crate::model::{Caller, Identity, Stamp};
use crate::protocol::Request;
use crate::store::snapshot;

fn user(name: &str) -> Caller {
    Caller::User(Identity::from_stored(name))
}

/// Applies `ops` in order to a fresh engine; answers every answer as JSON
/// (errors by their code), after a round trip through the log's encoding.
async fn apply_all(ops: &[(Caller, Value)]) -> Vec<Value> {
    let engine = Engine::start(Config::default()).expect("engine");
    let answers = apply(&engine, ops, 0, &mut Value::Null).await;
    engine.shutdown();
    answers
}

/// Applies `ops` to `engine` as log entries `first`, `first + 1`, …; the
/// first conversation made (or `conversation`, if given) stands for "$conv".
async fn apply(
    engine: &Engine,
    ops: &[(Caller, Value)],
    first: usize,
    conversation: &mut Value,
) -> Vec<Value> {
    let mut answers = Vec::new();
    for (n, (caller, op)) in ops.iter().enumerate() {
        let n = first + n;
        let op = serde_json::to_string(op)
            .expect("json")
            .replace("\"$conv\"", &conversation.to_string());
        let request = Request::from_json(&serde_json::from_str(&op).expect("json")).expect("op");
        let logged = serde_json::to_vec(&request).expect("encodes");
        let request: Request = serde_json::from_slice(&logged).expect("decodes");
        let stamp = Stamp {
            at: 1_700_000_000_000 + n as u64,
            seed: 7 + n as u64,
        };
        let answer = match engine.apply(caller.clone(), request, stamp).await {
            Ok(a) => a.data.to_json(),
            Err(e) => json!({"error": e.code()}),
        };
        if conversation.is_null() {
            *conversation = answer["id"].clone();
        }
        answers.push(answer);
    }
    answers
}

#[tokio::test]
async fn the_same_entries_make_the_same_answers_everywhere() {
    let ops = vec![
        (
            user("alice"),
            json!({"op": "conversation.create", "friendly_name": "x", "participants": ["bob"]}),
        ),
        (
            user("bob"),
            json!({"op": "message.send", "conversation": "$conv", "body": "hi",
                               "media": [{"content_type": "text/plain", "data": "aGk="}]}),
        ),
        (
            user("alice"),
            json!({"op": "message.send", "conversation": "$conv", "body": "yo", "client_id": "c1"}),
        ),
        (
            user("alice"),
            json!({"op": "message.send", "conversation": "$conv", "body": "yo", "client_id": "c1"}),
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
            Caller::Service,
            json!({"op": "participant.add", "conversation": "$conv", "identity": "carol"}),
        ),
        (
            user("carol"),
            json!({"op": "read.all", "conversation": "$conv"}),
        ),
        (
            user("alice"),
            json!({"op": "conversation.direct", "identity": "dave"}),
        ),
        (
            user("mallory"),
            json!({"op": "message.send", "conversation": "$conv", "body": "no"}),
        ),
        (
            user("alice"),
            json!({"op": "message.list", "conversation": "$conv"}),
        ),
        (
            user("alice"),
            json!({"op": "participant.list", "conversation": "$conv"}),
        ),
    ];
    let here = apply_all(&ops).await;
    let there = apply_all(&ops).await;
    assert_eq!(here, there);
    // It is a real conversation, not a row of errors.
    assert_eq!(
        here[3]["id"], here[2]["id"],
        "a resent client_id answers the first"
    );
    assert_eq!(here[9], json!({"error": "forbidden"}));
    let bodies: Vec<&str> = here[10]["items"]
        .as_array()
        .expect("a page")
        .iter()
        .filter_map(|m| m["body"].as_str())
        .collect();
    assert!(
        bodies.contains(&"hi") && bodies.contains(&"yo!"),
        "{bodies:?}"
    );
    assert_eq!(here[1]["created_at"], json!(1_700_000_000_001u64));
}

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

/// What a snapshot costs (a measurement, not a check of speed; figures in
/// docs/BENCHMARKS.md): `cargo test --release --lib snapshot_cost -- --ignored
/// --nocapture`. 100 conversations of 1,000 messages of 100 bytes.
#[tokio::test]
#[ignore = "a measurement: run it with --release"]
async fn snapshot_cost() {
    let engine = Engine::start(Config::default()).expect("engine");
    let op = |v: Value| Request::from_json(&v).expect("an op");
    let mut seed = 0;
    let mut stamp = || {
        seed += 1;
        Stamp { at: 1, seed }
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
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let records = engine.records().await;
        let read = t.elapsed();
        let bytes = snapshot::encode(1, 1, &records);
        let encoded = t.elapsed() - read;
        let t = std::time::Instant::now();
        let taken = snapshot::decode(&bytes, window).expect("reads back");
        let fresh = Engine::start(Config::default()).expect("engine");
        fresh.recover(taken.recovered).await.expect("starts");
        let started = t.elapsed();
        assert_eq!(fresh.metrics().messages_stored, 100_000);
        eprintln!(
            "records {read:?} (the reader's pause), encoding {encoded:?}, {} bytes; \
             a node started from it in {started:?}",
            bytes.len()
        );
        fresh.shutdown();
    }
    engine.shutdown();
}
