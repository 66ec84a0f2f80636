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

/// Every message of `convs` as `message.list` gives them, in the feed's
/// order: `created_at`, then conversation id, then index.
pub(crate) async fn in_feed_order(
    s: &colloquy::Session,
    convs: &[String],
) -> Vec<(u64, String, u64)> {
    let mut all = Vec::new();
    for c in convs {
        let p = s
            .ok(json!({"op": "message.list", "conversation": c, "direction": "forward", "page_size": 100}))
            .await;
        assert_eq!(
            p["has_next"], false,
            "a conversation of the test fits a page"
        );
        all.extend(p["items"].as_array().unwrap().iter().map(feed_key));
    }
    all.sort();
    all
}

fn feed_key(m: &Value) -> (u64, String, u64) {
    let at = m["created_at"].as_u64().unwrap();
    let c = m["conversation_id"].as_str().unwrap().to_string();
    (at, c, m["index"].as_u64().unwrap())
}

/// A feed read back page by page through `prev_cursor`, then forward again
/// from its oldest page through `next_cursor`; each page's flags must say
/// whether a page lies that way.
pub(crate) async fn feed_both_ways(
    s: &colloquy::Session,
    first: Value,
) -> [Vec<(u64, String, u64)>; 2] {
    let mut pages = vec![s.ok(first).await];
    while let Some(c) = pages.last().unwrap()["prev_cursor"].as_str() {
        pages.push(s.ok(json!({"op": "message.feed", "cursor": c})).await);
    }
    let back: Vec<_> = pages.iter().rev().flat_map(items_of).collect();
    for (i, p) in pages.iter().enumerate() {
        let (older, newer) = (i + 1 < pages.len(), i > 0);
        assert_eq!(
            (p["has_prev"] == true, p["has_next"] == true),
            (older, newer)
        );
    }
    let mut page = pages.pop().unwrap();
    let mut forward = items_of(&page);
    while let Some(c) = page["next_cursor"].as_str() {
        page = s.ok(json!({"op": "message.feed", "cursor": c})).await;
        forward.extend(items_of(&page));
    }
    [back, forward]
}

fn items_of(page: &Value) -> Vec<(u64, String, u64)> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(feed_key)
        .collect()
}

#[tokio::test]
async fn a_feed_over_many_conversations_lists_each_message_once() {
    // Enough conversations that a page asks only some of them: dormant
    // ones, busy ones, messages of different conversations in one
    // millisecond, log messages, and deleted newest messages (the
    // conversation's newest time is then later than anything it holds).
    let (e, clock) = engine_on_manual_clock();
    let alice = e.connect("alice").await.unwrap();
    let mut convs = Vec::new();
    for _ in 0..40 {
        convs.push(group(&alice, &[]).await);
    }
    let mut x: u64 = 7;
    let mut marks = Vec::new();
    for step in 0..400u64 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let r = x >> 33;
        // Early on every conversation talks; later mostly the first ten.
        let n = if step < 100 { 40 } else { 10 };
        let c = &convs[(r % n) as usize];
        match r % 13 {
            0 => {
                let who = format!("u{step}");
                alice
                    .ok(json!({"op": "participant.add", "conversation": c, "identity": who}))
                    .await;
            }
            1 => {
                let i = send(&alice, c, "gone").await;
                alice
                    .ok(json!({"op": "message.delete", "conversation": c, "message": i}))
                    .await;
            }
            _ => {
                send(&alice, c, &format!("m{step}")).await;
            }
        }
        if !r.is_multiple_of(3) {
            clock.advance(std::time::Duration::from_millis(r % 4));
        }
        if step == 150 || step == 300 {
            marks.push(send(&alice, c, "mark").await);
            let m = alice
                .ok(json!({"op": "message.get", "conversation": c, "message": marks.last()}))
                .await;
            marks.push(m["created_at"].as_u64().unwrap());
        }
        quiet(&[&alice]);
    }
    // Last, a log message in a conversation quiet since the start: the
    // newest message of all is one no chat message announced.
    clock.advance(std::time::Duration::from_millis(5));
    alice
        .ok(json!({"op": "participant.add", "conversation": convs[39], "identity": "late"}))
        .await;
    let all = in_feed_order(&alice, &convs).await;
    assert!(all.len() > 350);
    for limit in [1, 3, 7, 100] {
        let [back, forward] =
            feed_both_ways(&alice, json!({"op": "message.feed", "limit": limit})).await;
        same(&back, &all, &format!("limit {limit}, back"));
        same(&forward, &all, &format!("limit {limit}, forward"));
    }
    let (since, until) = (marks[1], marks[3]);
    let inside: Vec<_> = all
        .iter()
        .filter(|k| (since..=until).contains(&k.0))
        .cloned()
        .collect();
    assert!(inside.len() > 100 && inside.len() < all.len());
    let windowed = json!({"op": "message.feed", "limit": 3, "since": since, "until": until});
    let [back, forward] = feed_both_ways(&alice, windowed).await;
    same(&back, &inside, "in a window, back");
    same(&forward, &inside, "in a window, forward");
}

/// The feed read `got` what the conversations hold, `want`; else the first
/// place they part.
pub(crate) fn same(got: &[(u64, String, u64)], want: &[(u64, String, u64)], what: &str) {
    if let Some(at) = (0..got.len().max(want.len())).find(|&i| got.get(i) != want.get(i)) {
        panic!(
            "{what}: {} messages, {} held; at {at}, {:?} where {:?} is",
            got.len(),
            want.len(),
            got.get(at),
            want.get(at)
        );
    }
}

#[tokio::test]
async fn a_feed_page_after_a_deleted_bound_still_says_what_lies_before() {
    // A page forward from a cursor whose message is gone: whether older
    // messages exist is for conversations quiet since to say.
    let (e, clock) = engine_on_manual_clock();
    let alice = e.connect("alice").await.unwrap();
    let mut convs = Vec::new();
    for _ in 0..20 {
        convs.push(group(&alice, &[]).await);
        send(&alice, convs.last().unwrap(), "hi").await;
        clock.advance(std::time::Duration::from_millis(10));
    }
    let newest = alice.ok(json!({"op": "message.feed", "limit": 2})).await;
    let older = alice
        .ok(json!({"op": "message.feed", "cursor": newest["prev_cursor"]}))
        .await;
    let forward = json!({"op": "message.feed", "cursor": older["next_cursor"]});
    let delete = |c: &String| json!({"op": "message.delete", "conversation": c, "message": 0});
    for c in &convs[16..18] {
        alice.ok(delete(c)).await;
    }
    let page = alice.ok(forward.clone()).await;
    assert_eq!(items_of(&page), items_of(&newest));
    assert_eq!(
        (page["has_prev"].as_bool(), page["has_next"].as_bool()),
        (Some(true), Some(false))
    );
    for c in &convs[..16] {
        alice.ok(delete(c)).await;
    }
    let page = alice.ok(forward).await;
    assert_eq!(items_of(&page), items_of(&newest));
    assert_eq!(page["has_prev"], false, "nothing is left before");
}
