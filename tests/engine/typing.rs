//! Typing timers, on a manual clock: a test moves time, the timers due fire
//! at once, and nothing sleeps.

use std::time::Duration;

use serde_json::json;

use crate::util::*;

#[tokio::test]
async fn started_goes_to_others_and_ends_by_itself() {
    let (e, clock) = engine_on_manual_clock();
    let timeout = colloquy::Config::for_tests().typing_timeout;
    let alice = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let id = group(&alice, &["bob"]).await;
    quiet(&[&alice, &bob]);
    alice
        .ok(json!({"op": "typing.start", "conversation": id}))
        .await;
    let ev = bob.event("typingStarted").await;
    assert_eq!(ev.data, json!({"identity": "alice"}));
    assert_eq!(ev.seq, None);
    assert_eq!(ev.conversation.as_deref(), Some(id.as_str()));
    // The typist never hears its own typing.
    alice.no_event().await;
    // Not before the timeout...
    clock.advance(timeout - Duration::from_millis(1));
    bob.no_event().await;
    // ...and at it.
    clock.advance(Duration::from_millis(1));
    bob.event("typingEnded").await;
    alice.no_event().await;
}

#[tokio::test]
async fn refreshing_keeps_it_alive() {
    let (e, clock) = engine_on_manual_clock();
    let timeout = colloquy::Config::for_tests().typing_timeout;
    let alice = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let id = group(&alice, &["bob"]).await;
    quiet(&[&alice, &bob]);
    alice
        .ok(json!({"op": "typing.start", "conversation": id}))
        .await;
    bob.event("typingStarted").await;
    // Refresh at a third of the timeout, for twice the timeout: one start, no end.
    for _ in 0..6 {
        clock.advance(timeout / 3);
        alice
            .ok(json!({"op": "typing.start", "conversation": id}))
            .await;
    }
    bob.no_event().await;
    // The last refresh counts from when it came.
    clock.advance(timeout - Duration::from_millis(1));
    bob.no_event().await;
    clock.advance(Duration::from_millis(1));
    bob.event("typingEnded").await;
}

#[tokio::test]
async fn stop_send_and_leave_end_it_at_once() {
    let e = engine_with(|c| c.typing_timeout = Duration::from_secs(60));
    let alice = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let id = group(&alice, &["bob"]).await;
    quiet(&[&alice, &bob]);

    alice
        .ok(json!({"op": "typing.start", "conversation": id}))
        .await;
    bob.event("typingStarted").await;
    alice
        .ok(json!({"op": "typing.stop", "conversation": id}))
        .await;
    bob.event("typingEnded").await;

    alice
        .ok(json!({"op": "typing.start", "conversation": id}))
        .await;
    bob.event("typingStarted").await;
    send(&alice, &id, "sent").await;
    bob.event("typingEnded").await;
    bob.event("messageAdded").await;

    alice
        .ok(json!({"op": "typing.start", "conversation": id}))
        .await;
    bob.event("typingStarted").await;
    alice
        .ok(json!({"op": "conversation.leave", "conversation": id}))
        .await;
    bob.event("participantLeft").await;
    bob.event("typingEnded").await;
}

#[tokio::test]
async fn the_last_sessions_disconnect_ends_it() {
    let e = engine_with(|c| c.typing_timeout = Duration::from_secs(60));
    let alice = e.connect("alice").await.unwrap();
    let alice2 = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let id = group(&alice, &["bob"]).await;
    quiet(&[&alice, &alice2, &bob]);
    alice
        .ok(json!({"op": "typing.start", "conversation": id}))
        .await;
    bob.event("typingStarted").await;
    alice.close(colloquy::CloseReason::ClientClosed).await;
    bob.no_event().await;
    drop(alice2);
    bob.event_skipping("typingEnded").await;
}

#[tokio::test]
async fn non_members_cannot_type() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let eve = e.connect("eve").await.unwrap();
    let id = group(&alice, &[]).await;
    assert_eq!(
        eve.fails(json!({"op": "typing.start", "conversation": id}))
            .await,
        colloquy::ErrorCode::Forbidden
    );
}
