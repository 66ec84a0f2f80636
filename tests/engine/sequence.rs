use colloquy::ErrorCode;
use serde_json::json;

use crate::util::*;

#[tokio::test]
async fn seq_has_no_gaps_and_latecomers_continue_it() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let id = group(&alice, &[]).await;
    quiet(&[&alice]);
    send(&alice, &id, "one").await;
    alice
        .ok(json!({"op": "message.edit", "conversation": id, "message": 0, "body": "uno"}))
        .await;
    alice
        .ok(json!({"op": "typing.start", "conversation": id}))
        .await; // personal: not counted
    alice
        .ok(json!({"op": "conversation.update", "conversation": id, "friendly_name": "n"}))
        .await;
    let bob = e.connect("bob").await.unwrap();
    bob.ok(json!({"op": "conversation.join", "conversation": id}))
        .await;
    send(&alice, &id, "two").await;
    let seqs: Vec<u64> = alice.drain().iter().filter_map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=6).collect::<Vec<_>>());
    let bob_seqs: Vec<u64> = bob.drain().iter().filter_map(|e| e.seq).collect();
    assert_eq!(
        bob_seqs,
        vec![4, 5, 6],
        "bob sees the rest of the same sequence"
    );
}

#[tokio::test]
async fn replay_resends_what_was_missed_before_answering() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let id = group(&alice, &["bob"]).await;
    quiet(&[&alice, &bob]);
    for i in 0..5 {
        send(&alice, &id, &format!("m{i}")).await;
    }
    alice
        .ok(json!({"op": "conversation.update", "conversation": id, "friendly_name": "x"}))
        .await;
    let live = bob.drain();
    assert_eq!(live.len(), 6);
    let r = bob
        .ok(json!({"op": "events.replay", "conversation": id, "since_seq": 2}))
        .await;
    assert_eq!(r, json!({"recovered": true, "last_seq": 6}));
    let replayed = bob.drain();
    assert_eq!(
        replayed,
        live[2..].to_vec(),
        "the same events, in order, nothing twice"
    );
    let r = bob
        .ok(json!({"op": "events.replay", "conversation": id, "since_seq": 6}))
        .await;
    assert_eq!(r, json!({"recovered": true, "last_seq": 6}));
    assert!(bob.drain().is_empty());
    // A seq the conversation never issued cannot be recovered.
    let r = bob
        .ok(json!({"op": "events.replay", "conversation": id, "since_seq": 60}))
        .await;
    assert_eq!(r["recovered"], false);
    assert_eq!(
        bob.fails(json!({"op": "events.replay", "conversation": id, "since_seq": -1}))
            .await,
        ErrorCode::BadRequest
    );
}

#[tokio::test]
async fn replay_past_the_window_is_not_recovered() {
    let e = engine_with(|c| c.limits.replay_window = 3);
    let alice = e.connect("alice").await.unwrap();
    let id = group(&alice, &[]).await;
    for i in 0..6 {
        send(&alice, &id, &format!("m{i}")).await;
    }
    quiet(&[&alice]);
    let r = alice
        .ok(json!({"op": "events.replay", "conversation": id, "since_seq": 2}))
        .await;
    assert_eq!(r, json!({"recovered": false, "last_seq": 6}));
    assert!(alice.drain().is_empty());
    let r = alice
        .ok(json!({"op": "events.replay", "conversation": id, "since_seq": 3}))
        .await;
    assert_eq!(r, json!({"recovered": true, "last_seq": 6}));
    assert_eq!(alice.drain().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_senders_one_order_for_everyone() {
    let e = engine();
    let names: Vec<String> = (0..50).map(|i| format!("u{i}")).collect();
    let owner = e.connect("owner").await.unwrap();
    let id = group(
        &owner,
        &names.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    let mut sessions = Vec::new();
    for n in &names {
        sessions.push(std::sync::Arc::new(e.connect(n).await.unwrap()));
    }
    quiet(&[&owner]);
    let tasks: Vec<_> = sessions
        .iter()
        .cloned()
        .map(|s| {
            let id = id.clone();
            tokio::spawn(async move {
                for i in 0..100 {
                    s.ok(json!({"op": "message.send", "conversation": id, "body": format!("{} {i}", s.identity())})).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    // Each user also hears the others come online: keep the conversation's messages.
    let frames = |s: &colloquy::Session| {
        std::iter::from_fn(|| s.outbox().try_recv())
            .filter(|f| f.starts_with(r#"{"event":"messageAdded""#))
            .collect::<Vec<_>>()
    };
    let reference = frames(&owner);
    let parsed: Vec<(u64, u64)> = reference
        .iter()
        .map(|f| colloquy::Event::parse(f).unwrap())
        .filter(|e| e.event == "messageAdded")
        .map(|e| (e.seq.unwrap(), e.data["index"].as_u64().unwrap()))
        .collect();
    assert_eq!(parsed.len(), 5000);
    assert!(
        parsed
            .windows(2)
            .all(|w| w[0].1 < w[1].1 && w[0].0 + 1 == w[1].0),
        "indexes and seqs strictly increase"
    );
    for s in &sessions {
        // The very same frames (shared bytes), in the very same order.
        assert!(frames(s) == reference, "{} saw another order", s.identity());
    }
}
