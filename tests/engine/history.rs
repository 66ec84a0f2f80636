use colloquy::ErrorCode;
use serde_json::{json, Value};

use crate::util::*;

fn indexes(page: &Value) -> Vec<u64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["index"].as_u64().unwrap())
        .collect()
}

async fn ten_messages() -> (colloquy::Engine, colloquy::Session, String) {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let id = group(&alice, &[]).await;
    for i in 0..10 {
        send(&alice, &id, &format!("m{i}")).await;
    }
    (e, alice, id)
}

#[tokio::test]
async fn backwards_is_the_default_and_pages_older() {
    let (_e, alice, id) = ten_messages().await;
    let p = alice
        .ok(json!({"op": "message.list", "conversation": id, "page_size": 4}))
        .await;
    assert_eq!(indexes(&p), vec![6, 7, 8, 9]);
    assert_eq!(
        (p["has_prev"].as_bool(), p["has_next"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(p["next_cursor"], Value::Null);
    let older = alice
        .ok(json!({"op": "message.list", "conversation": id, "cursor": p["prev_cursor"]}))
        .await;
    assert_eq!(indexes(&older), vec![2, 3, 4, 5]);
    let oldest = alice
        .ok(json!({"op": "message.list", "conversation": id, "cursor": older["prev_cursor"]}))
        .await;
    assert_eq!(indexes(&oldest), vec![0, 1]);
    assert_eq!(
        (
            oldest["has_prev"].as_bool(),
            oldest["prev_cursor"].is_null()
        ),
        (Some(false), true)
    );
    let newer = alice
        .ok(json!({"op": "message.list", "conversation": id, "cursor": oldest["next_cursor"]}))
        .await;
    assert_eq!(indexes(&newer), vec![2, 3, 4, 5]);
}

#[tokio::test]
async fn anchors_in_both_directions() {
    let (_e, alice, id) = ten_messages().await;
    let p = alice
        .ok(json!({"op": "message.list", "conversation": id, "anchor": 4, "page_size": 3}))
        .await;
    assert_eq!(indexes(&p), vec![2, 3, 4]);
    assert_eq!(
        (p["has_prev"].as_bool(), p["has_next"].as_bool()),
        (Some(true), Some(true))
    );
    let f = alice.ok(json!({"op": "message.list", "conversation": id, "anchor": 4, "page_size": 3, "direction": "forward"})).await;
    assert_eq!(indexes(&f), vec![4, 5, 6]);
    let f0 = alice.ok(json!({"op": "message.list", "conversation": id, "direction": "forward", "page_size": 3})).await;
    assert_eq!(indexes(&f0), vec![0, 1, 2]);
    assert_eq!(f0["has_prev"], false);
    let next = alice.ok(json!({"op": "message.list", "conversation": id, "cursor": f0["next_cursor"], "page_size": 99})).await;
    assert_eq!(
        indexes(&next),
        vec![3, 4, 5],
        "the cursor keeps its page size"
    );
    // Anchors past either end.
    let beyond = alice
        .ok(json!({"op": "message.list", "conversation": id, "anchor": 50, "direction": "forward"}))
        .await;
    assert_eq!(indexes(&beyond), Vec::<u64>::new());
    assert_eq!(
        (beyond["has_prev"].as_bool(), beyond["has_next"].as_bool()),
        (Some(true), Some(false))
    );
    let back = alice
        .ok(json!({"op": "message.list", "conversation": id, "cursor": beyond["prev_cursor"]}))
        .await;
    assert_eq!(indexes(&back).len(), 10);
}

#[tokio::test]
async fn deleted_messages_leave_gaps_in_pages() {
    let (_e, alice, id) = ten_messages().await;
    for i in [3, 4, 8] {
        alice
            .ok(json!({"op": "message.delete", "conversation": id, "message": i}))
            .await;
    }
    let p = alice
        .ok(json!({"op": "message.list", "conversation": id, "page_size": 4}))
        .await;
    assert_eq!(indexes(&p), vec![5, 6, 7, 9]);
    let older = alice
        .ok(json!({"op": "message.list", "conversation": id, "cursor": p["prev_cursor"]}))
        .await;
    assert_eq!(indexes(&older), vec![0, 1, 2]);
}

#[tokio::test]
async fn since_and_until_window_pages() {
    let (e, clock) = engine_on_manual_clock();
    let alice = e.connect("alice").await.unwrap();
    let id = group(&alice, &[]).await;
    let mut times = Vec::new();
    for i in 0..6 {
        let a = alice
            .ok(json!({"op": "message.send", "conversation": id, "body": format!("m{i}")}))
            .await;
        times.push(a["created_at"].as_u64().unwrap());
        clock.advance(std::time::Duration::from_millis(3));
    }
    let (since, until) = (times[1], times[4]);
    let all = alice
        .ok(json!({"op": "message.list", "conversation": id, "since": since, "until": until}))
        .await;
    assert_eq!(indexes(&all), vec![1, 2, 3, 4]);
    assert_eq!(
        (all["has_prev"].as_bool(), all["has_next"].as_bool()),
        (Some(false), Some(false))
    );
    let p = alice.ok(json!({"op": "message.list", "conversation": id, "since": since, "until": until, "page_size": 3})).await;
    assert_eq!(indexes(&p), vec![2, 3, 4]);
    assert_eq!(p["has_prev"], true);
    let older = alice
        .ok(json!({"op": "message.list", "conversation": id, "cursor": p["prev_cursor"]}))
        .await;
    assert_eq!(indexes(&older), vec![1], "the cursor keeps the window");
    assert_eq!(older["has_prev"], false);
    let fwd = alice
        .ok(json!({"op": "message.list", "conversation": id, "since": since, "direction": "forward", "page_size": 2}))
        .await;
    assert_eq!(indexes(&fwd), vec![1, 2]);
}

#[tokio::test]
async fn bad_paging_values_are_bad_requests() {
    let (_e, alice, id) = ten_messages().await;
    for bad in [
        json!({"page_size": 0}),
        json!({"page_size": 101}),
        json!({"page_size": -1}),
        json!({"page_size": "5"}),
        json!({"anchor": -3}),
        json!({"direction": "sideways"}),
        json!({"cursor": "%%%"}),
        json!({"cursor": 5}),
        json!({"since": "yesterday"}),
    ] {
        let mut req = json!({"op": "message.list", "conversation": id});
        req.as_object_mut()
            .unwrap()
            .extend(bad.as_object().unwrap().clone());
        assert_eq!(alice.fails(req).await, ErrorCode::BadRequest, "{bad}");
    }
    // A cursor of another list is refused too.
    let other = group(&alice, &["bob"]).await;
    let p = alice
        .ok(json!({"op": "participant.list", "conversation": other, "page_size": 1}))
        .await;
    assert_eq!(
        alice
            .fails(json!({"op": "message.list", "conversation": id, "cursor": p["next_cursor"]}))
            .await,
        ErrorCode::BadRequest
    );
}

#[tokio::test]
async fn feed_spans_the_callers_conversations() {
    let (e, clock) = engine_on_manual_clock();
    let alice = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let a = group(&alice, &["bob"]).await;
    let b = group(&alice, &[]).await;
    let secret = group(&bob, &[]).await;
    let tick = || clock.advance(std::time::Duration::from_millis(2));
    for i in 0..4 {
        send(&alice, &a, &format!("a{i}")).await;
        tick();
        send(&alice, &b, &format!("b{i}")).await;
        tick();
        send(&bob, &secret, "not for alice").await;
    }
    let p = alice.ok(json!({"op": "message.feed", "limit": 5})).await;
    let bodies: Vec<&str> = p["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies.len(), 5);
    assert!(!bodies.contains(&"not for alice"));
    assert_eq!(*bodies.last().unwrap(), "b3", "newest last");
    assert_eq!(
        (p["has_prev"].as_bool(), p["has_next"].as_bool()),
        (Some(true), Some(false))
    );
    let older = alice
        .ok(json!({"op": "message.feed", "cursor": p["prev_cursor"]}))
        .await;
    let rest: Vec<&str> = older["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(rest.len(), 3);
    assert_eq!(older["has_prev"], false);
    assert_eq!(older["has_next"], true);
    let newer = alice
        .ok(json!({"op": "message.feed", "cursor": older["next_cursor"]}))
        .await;
    assert_eq!(newer["items"], p["items"]);
    assert_eq!(
        alice
            .fails(json!({"op": "message.feed", "limit": 101}))
            .await,
        ErrorCode::BadRequest
    );
}
