//! What cluster mode rests on, without NATS: the same entries, applied in the
//! same order with the same stamps, make the same answers on every engine.

use serde_json::{json, Value};

use crate::config::Config;
use crate::engine::Engine;
use crate::model::{Caller, Identity, Stamp};
use crate::protocol::Request;

fn user(name: &str) -> Caller {
    Caller::User(Identity::from_stored(name))
}

/// Applies `ops` in order to a fresh engine; answers every answer as JSON
/// (errors by their code), after a round trip through the log's encoding.
async fn apply_all(ops: &[(Caller, Value)]) -> Vec<Value> {
    let engine = Engine::start(Config::default()).expect("engine");
    let mut answers = Vec::new();
    let mut conversation = Value::Null;
    for (n, (caller, op)) in ops.iter().enumerate() {
        // Later ops name the first conversation made.
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
            conversation = answer["id"].clone();
        }
        answers.push(answer);
    }
    engine.shutdown();
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
