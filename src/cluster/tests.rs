//! What cluster mode rests on, without NATS: the same entries, applied in the
//! same order with the same stamps, make the same answers on every engine.

use serde_json::{json, Value};

use crate::config::Config;
use crate::conversation::{Answering, Applied};
use crate::engine::Engine;
use crate::model::{Caller, Identity, Stamp};
use crate::protocol::Request;
use crate::store::{snapshot, Write};

pub(super) fn user(name: &str) -> Caller {
    Caller::User(Identity::from_stored(name))
}

/// Applies `ops` in order to a fresh engine; answers every answer as JSON
/// (errors by their code), after a round trip through the log's encoding.
async fn apply_all(ops: &[(Caller, Value)]) -> Vec<Value> {
    let engine = Engine::start(Config::default()).expect("engine");
    let mut answers = apply(&engine, ops, 0, &mut Value::Null).await;
    // Who the engine knows, and since when (the Twilio face's date_created).
    let users: Vec<_> = engine
        .users()
        .into_iter()
        .map(|u| (u.user.identity.to_string(), u.created_at))
        .collect();
    answers.push(json!(users));
    engine.shutdown();
    answers
}

/// Applies `ops` to `engine` as log entries `first + 1`, `first + 2`, …; the
/// first conversation made (or `conversation`, if given) stands for "$conv".
pub(super) async fn apply(
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
            entry: n as u64 + 1,
        };
        // As a node applying entry n + 1 of its log.
        engine.shared().enter_log_position(n as u64 + 1);
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
    // Users are first known at the time of the entry that named them, not at
    // each node's own clock's.
    assert_eq!(
        here[ops.len()],
        json!([
            ["alice", 1_700_000_000_000u64],
            ["bob", 1_700_000_000_000u64],
            ["carol", 1_700_000_000_006u64],
            ["dave", 1_700_000_000_008u64]
        ])
    );
}

/// An entry's ops applied in lanes (`lanes.rs`) leave the engine as applied
/// one by one: answers, messages and every event's `seq`.
#[tokio::test]
async fn ops_applied_in_lanes_end_as_one_after_another() {
    let setup = [
        (
            user("alice"),
            json!({"op": "conversation.create", "friendly_name": "a", "participants": ["bob"]}),
        ),
        (
            user("alice"),
            json!({"op": "conversation.create", "unique_name": "bee", "participants": ["bob"]}),
        ),
    ];
    let send = |who: &str, to: &Value, body: &str| {
        (
            user(who),
            json!({"op": "message.send", "conversation": to, "body": body}),
        )
    };
    let one_by_one = Engine::start(Config::default()).expect("engine");
    let in_lanes = Engine::start(Config::default()).expect("engine");
    let mut ids = Vec::new();
    for engine in [&one_by_one, &in_lanes] {
        let made = apply(engine, &setup, 0, &mut json!("none")).await;
        ids = made.iter().map(|m| m["id"].clone()).collect();
    }
    let (a, bee) = (&ids[0], &json!("bee"));
    let entry = vec![
        send("alice", a, "a1"),
        send("bob", bee, "b1"),
        send("bob", a, "a2"),
        (
            user("alice"),
            json!({"op": "message.edit", "conversation": a, "message": 0, "body": "a1!"}),
        ),
        (
            user("bob"),
            json!({"op": "reaction.add", "conversation": bee, "message": 0, "reaction": "👍"}),
        ),
        (
            user("bob"),
            json!({"op": "typing.start", "conversation": a}),
        ),
        (
            user("alice"),
            json!({"op": "read.advance", "conversation": bee, "index": 0}),
        ),
        // Alone: the name moves, and the sends after it follow it.
        (
            user("alice"),
            json!({"op": "conversation.update", "conversation": bee, "unique_name": "cee"}),
        ),
        send("alice", &json!("cee"), "b2"),
        send("alice", bee, "nowhere"),
        (
            Caller::Service,
            json!({"op": "participant.add", "conversation": a, "identity": "carol"}),
        ),
        send("carol", a, "a3"),
        send("mallory", a, "refused"),
    ];
    let requests = |entry: &[(Caller, Value)]| -> Vec<(usize, Caller, Request)> {
        entry
            .iter()
            .enumerate()
            .map(|(n, (c, op))| (n, c.clone(), Request::from_json(op).expect("an op")))
            .collect()
    };
    let stamp = |n: usize| Stamp {
        at: 1_700_000_000_100,
        seed: 100 + n as u64,
        entry: n as u64 + 1,
    };
    let answer = |a: Result<crate::conversation::Answer, crate::error::Error>| match a {
        Ok(a) => a.data.to_json(),
        Err(e) => json!({"error": e.code()}),
    };
    let mut here = Vec::new();
    for (n, caller, request) in requests(&entry) {
        here.push(answer(one_by_one.apply(caller, request, stamp(n)).await));
    }
    let there = std::sync::Mutex::new(vec![Value::Null; entry.len()]);
    super::lanes::apply(
        requests(&entry),
        |(_, _, request)| request.confined_to().is_some(),
        |(n, caller, request)| {
            let (reply, answered) = tokio::sync::oneshot::channel();
            let (done, applied) = Applied::awaited();
            let left =
                in_lanes.apply_in_order(caller, request, stamp(n), Answering(Some(reply)), done);
            let (there, later) = (&there, entry.len() - n);
            async move {
                // The later an op, the sooner its end is awaited: the order
                // of applying must come from the starts alone.
                for _ in 0..later {
                    tokio::task::yield_now().await;
                }
                if let Some(left) = left {
                    left.await;
                }
                applied.await.expect("told once applied");
                let answered = answered.await.expect("answered once applied");
                there.lock().expect("answers")[n] = answer(answered);
                false
            }
        },
    )
    .await;
    let there = there.into_inner().expect("answers");
    assert_eq!(here, there);
    // What was compared went somewhere: the name moved, the stranger was refused.
    assert_eq!(here[8]["index"], json!(1), "{}", here[8]);
    assert_eq!(here[9], json!({"error": "not_found"}));
    // Index 2 is carol's add, logged.
    assert_eq!(here[11]["index"], json!(3), "{}", here[11]);
    assert_eq!(here[12], json!({"error": "forbidden"}));

    // The conversations' whole state alike, their replay windows (every
    // event and its seq) with it. Records come conversation by conversation
    // in no set order, so they are compared as sets of encoded writes.
    // (Users are left out: an engine stamps a user it first meets with its
    // own clock.)
    let state = |records: Vec<Write>| {
        let mut kept: Vec<Vec<u8>> = records
            .iter()
            .filter(|w| !matches!(w, Write::User { .. }))
            .map(|w| snapshot::encode(0, 0, std::slice::from_ref(w)))
            .collect();
        kept.sort();
        kept
    };
    let (here, there) = (
        state(one_by_one.records().await),
        state(in_lanes.records().await),
    );
    assert!(here.len() > 10, "{} records", here.len());
    assert!(here == there, "the two engines' states differ");
    let lists = [a, &json!("cee")].map(|c| {
        (
            user("alice"),
            json!({"op": "message.list", "conversation": c}),
        )
    });
    let bodies: Vec<Vec<Value>> = apply(&in_lanes, &lists, 50, &mut json!("none"))
        .await
        .iter()
        .map(|page| {
            page["items"]
                .as_array()
                .expect("a page")
                .iter()
                .map(|m| m["body"].clone())
                .collect()
        })
        .collect();
    assert_eq!(
        bodies,
        [
            vec![json!("a1!"), json!("a2"), Value::Null, json!("a3")],
            vec![json!("b1"), json!("b2")]
        ]
    );
    one_by_one.shutdown();
    in_lanes.shutdown();
}

/// A user known only by another node's session is first known when that node
/// says its first session opened, or (for a node that did not hear that) when
/// its heartbeat says it was first seen, not when this node heard of it.
#[tokio::test]
async fn a_user_of_another_node_is_known_since_that_nodes_first_session() {
    use crate::registry::{NodePresence, Remote};
    let engine = Engine::start(Config::default()).expect("engine");
    let at = 1_700_000_000_000;
    let said = NodePresence::One {
        node: "b".into(),
        identity: Identity::from_stored("zed"),
        holds: true,
        at,
    };
    engine.registry().send(Remote(said)).await.expect("heard");
    let zed = engine.user("zed").expect("zed is known");
    assert_eq!((zed.created_at, zed.user.online), (at, true));
    let beat = NodePresence::All {
        node: "c".into(),
        users: vec![Identity::from_stored("yan"), Identity::from_stored("zed")],
        since: vec![at - 5, at - 9],
        at: at + 2_000,
        part: 0,
        parts: 0,
    };
    engine.registry().send(Remote(beat)).await.expect("heard");
    let seen = |i: &str| engine.user(i).map(|u| (u.created_at, u.user.online));
    assert_eq!(seen("yan"), Some((at - 5, true)));
    assert_eq!(seen("zed"), Some((at - 9, true)));
    engine.shutdown();
}

/// A node's heartbeat names the users it holds a session of, and none of
/// the others it knows (a participant who never connected here).
#[tokio::test]
async fn a_heartbeat_names_the_users_with_a_session_here() {
    use crate::registry::{Heartbeat, JoinCluster, LocalPresence};
    let engine = Engine::start(Config::default()).expect("engine");
    let (tx, heard) = std::sync::mpsc::channel();
    let tell = move |said: LocalPresence| {
        if let LocalPresence::All { users, .. } = said {
            let _ = tx.send(users);
        }
    };
    let registry = engine.registry();
    registry
        .send(JoinCluster(Box::new(tell)))
        .await
        .expect("joined");
    let beat = || async {
        registry.send(Heartbeat).await.expect("a beat");
        let users = heard.try_recv().expect("the beat said");
        users.iter().map(|u| u.to_string()).collect::<Vec<_>>()
    };
    let ana = engine.connect("ana").await.expect("ana");
    let made = serde_json::json!({"op": "conversation.create", "participants": ["bo"]});
    ana.request_json(made).await.expect("made");
    assert_eq!(beat().await, ["ana"]);
    ana.close(crate::session::CloseReason::ClientClosed).await;
    assert!(beat().await.is_empty());
}
