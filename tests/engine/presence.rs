use futures_util::future::join_all;
use serde_json::json;

use crate::util::*;

#[tokio::test]
async fn status_goes_once_per_change_to_those_who_share_a_conversation() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let bob = e.connect("bob").await.unwrap();
    let bob2 = e.connect("bob").await.unwrap();
    let stranger = e.connect("stranger").await.unwrap();
    // Two shared conversations.
    group(&alice, &["bob", "carol"]).await;
    group(&bob, &["carol"]).await;
    group(&alice, &["carol"]).await;
    quiet(&[&alice, &bob, &bob2, &stranger]);

    let carol = e.connect("carol").await.unwrap();
    for s in [&alice, &bob, &bob2] {
        let ev = s.event("userStatus").await;
        assert_eq!(ev.data["identity"], "carol");
        assert_eq!(ev.data["status"], "online");
        assert!(ev.data["last_seen_at"].is_u64());
        assert_eq!((ev.seq, ev.conversation.as_deref()), (None, None));
        s.no_event().await;
    }
    stranger.no_event().await;
    carol.no_event().await;

    // A second session is no change; closing one of two is none either.
    let carol2 = e.connect("carol").await.unwrap();
    carol.close(colloquy::CloseReason::ClientClosed).await;
    alice.no_event().await;
    drop(carol2);
    for s in [&alice, &bob, &bob2] {
        assert_eq!(s.event("userStatus").await.data["status"], "offline");
        s.no_event().await;
    }
    let p = alice
        .ok(json!({"op": "presence.get", "identities": ["carol", "alice", "nobody"]}))
        .await;
    let items = p["items"].as_array().unwrap();
    assert_eq!(items[0]["online"], false);
    assert!(items[0]["last_seen_at"].is_u64());
    assert_eq!(items[1]["online"], true);
    assert_eq!(
        items[2],
        json!({"identity": "nobody", "friendly_name": null, "avatar_url": null, "attributes": {}, "online": false, "last_seen_at": null})
    );
}

#[tokio::test]
async fn user_update_sets_the_profile() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    let u = alice
        .ok(json!({"op": "user.update", "friendly_name": "Alice", "attributes": {"tz": "UTC"}}))
        .await;
    assert_eq!(u["friendly_name"], "Alice");
    assert_eq!(u["online"], true);
    let p = alice
        .ok(json!({"op": "presence.get", "identities": ["alice"]}))
        .await;
    assert_eq!(p["items"][0]["attributes"], json!({"tz": "UTC"}));
    let u = alice
        .ok(json!({"op": "user.update", "friendly_name": null}))
        .await;
    assert_eq!(u["friendly_name"], serde_json::Value::Null);
    assert_eq!(
        alice
            .fails(json!({"op": "user.update", "friendly_name": "x".repeat(300)}))
            .await,
        colloquy::ErrorCode::BadRequest
    );
    assert_eq!(
        alice
            .fails(json!({"op": "presence.get", "identities": [""]}))
            .await,
        colloquy::ErrorCode::BadRequest
    );
}

/// `new: true` makes the profile only once: a second is refused and changes
/// nothing, a plain update still works, and a user known only by a session
/// or a membership has no profile yet.
#[tokio::test]
async fn a_new_profile_is_made_once() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    alice
        .ok(json!({"op": "conversation.create", "participants": ["bob"]}))
        .await;
    let made = alice
        .ok(json!({"op": "user.update", "friendly_name": "Alice", "new": true}))
        .await;
    assert_eq!(made["friendly_name"], "Alice");
    let again = json!({"op": "user.update", "friendly_name": "Other", "new": true});
    assert_eq!(alice.fails(again).await, colloquy::ErrorCode::Conflict);
    let p = alice
        .ok(json!({"op": "presence.get", "identities": ["alice"]}))
        .await;
    assert_eq!(p["items"][0]["friendly_name"], "Alice");
    let u = alice
        .ok(json!({"op": "user.update", "friendly_name": "Al"}))
        .await;
    assert_eq!(u["friendly_name"], "Al");
    let bob = e.connect("bob").await.unwrap();
    let made = bob.ok(json!({"op": "user.update", "new": true})).await;
    assert_eq!(made["identity"], "bob");
    assert_eq!(
        bob.fails(json!({"op": "user.update", "new": true})).await,
        colloquy::ErrorCode::Conflict
    );
}

/// Sessions of one user opened at once, and closed at once (tabs restored
/// together, a browser quitting), still make one change each way.
#[tokio::test]
async fn sessions_opened_and_closed_at_once_tell_each_change_once() {
    let e = engine();
    let alice = e.connect("alice").await.unwrap();
    group(&alice, &["carol"]).await;
    alice.drain();
    let told = |status: &str| {
        let heard = alice.drain();
        let told = heard
            .iter()
            .filter(|ev| ev.event == "userStatus" && ev.data["identity"] == "carol")
            .map(|ev| ev.data["status"].as_str().unwrap_or_default().to_string());
        assert_eq!(told.collect::<Vec<_>>(), [status], "{heard:?}");
    };
    for round in 0..50 {
        let tabs = join_all((0..2 + round % 3).map(|_| e.connect("carol"))).await;
        let tabs: Vec<_> = tabs.into_iter().map(Result::unwrap).collect();
        told("online");
        join_all(
            tabs.iter()
                .map(|t| t.close(colloquy::CloseReason::ClientClosed)),
        )
        .await;
        told("offline");
    }
}
