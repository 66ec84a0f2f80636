use colloquy::model::{NotificationLevel, Role, State, Status};
use colloquy::protocol::{CreateConversation, UpdateConversation};
use colloquy::ErrorCode;

use crate::*;

#[tokio::test]
async fn create_conversation_and_get() {
    let (_s, alice, _bob) = pair().await;
    let c = alice
        .create_conversation(CreateConversation {
            unique_name: Some("room".into()),
            participants: vec!["bob".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(c.status, Status::Joined);
    assert_eq!(c.participants_count, 2);
    let got = alice.conversation("room").get().await.unwrap();
    assert_eq!(got.id, c.id);
}

#[tokio::test]
async fn direct() {
    let (_s, alice, bob) = pair().await;
    let a = alice.direct("bob").await.unwrap();
    let b = bob.direct("alice").await.unwrap();
    assert!(a.direct);
    assert_eq!(a.id, b.id);
}

#[tokio::test]
async fn conversations_pages_both_ways() {
    let (_s, alice, _bob) = pair().await;
    for _ in 0..5 {
        group(&alice).await;
    }
    let p1 = alice.conversations(Some(2)).await.unwrap();
    assert_eq!((p1.items.len(), p1.has_next, p1.has_prev), (2, true, false));
    let p2 = p1.next_page().await.unwrap().unwrap();
    let p3 = p2.next_page().await.unwrap().unwrap();
    assert_eq!(p3.items.len(), 1);
    assert!(p3.next_page().await.unwrap().is_none());
    let back = p2.prev_page().await.unwrap().unwrap();
    assert_eq!(back.items, p1.items);
}

#[tokio::test]
async fn join_and_leave() {
    let (s, alice, _bob) = pair().await;
    let carol = s.connect("carol").await.unwrap();
    let id = group(&alice).await;
    let c = carol.conversation(&id).join().await.unwrap();
    assert_eq!(c.status, Status::Joined);
    carol.conversation(&id).leave().await.unwrap();
    assert_eq!(
        carol.conversation(&id).get().await.unwrap().status,
        Status::NotParticipating
    );
}

#[tokio::test]
async fn update_and_state() {
    let (_s, alice, _bob) = pair().await;
    let id = group(&alice).await;
    let u = alice
        .conversation(&id)
        .update(UpdateConversation {
            friendly_name: Some(Some("renamed".into())),
            state: Some(State::Inactive),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(u.friendly_name.as_deref(), Some("renamed"));
    assert_eq!(u.state.current, State::Inactive);
}

#[tokio::test]
async fn delete_needs_admin() {
    let (_s, alice, bob) = pair().await;
    let id = group(&alice).await;
    assert_eq!(
        bob.conversation(&id).delete().await.unwrap_err().code(),
        Some(ErrorCode::Forbidden)
    );
    alice.conversation(&id).delete().await.unwrap();
    assert_eq!(
        alice.conversation(&id).get().await.unwrap_err().code(),
        Some(ErrorCode::NotFound)
    );
}

#[tokio::test]
async fn set_notification_level() {
    let (_s, alice, _bob) = pair().await;
    let id = group(&alice).await;
    let c = alice
        .conversation(&id)
        .set_notification_level(NotificationLevel::Muted)
        .await
        .unwrap();
    assert_eq!(c.notification_level, NotificationLevel::Muted);
}

#[tokio::test]
async fn participants_add_get_update_count_remove() {
    let (_s, alice, _bob) = pair().await;
    let id = group(&alice).await;
    let conv = alice.conversation(&id);
    let p = conv.add_participant("carol", None).await.unwrap();
    assert_eq!(p.role, Role::Member);
    let nc = conv.add_non_chat("+1555", "+1666").await.unwrap();
    assert!(nc.identity.is_none());
    assert_eq!(conv.participant("carol").await.unwrap().id, p.id);
    let up = conv
        .update_participant(
            "carol",
            Some(serde_json::json!({"x": 1})),
            Some(Role::Admin),
        )
        .await
        .unwrap();
    assert_eq!(
        (up.role, up.attributes["x"].as_u64()),
        (Role::Admin, Some(1))
    );
    assert_eq!(conv.participant_count().await.unwrap(), 4);
    let page = conv.participants(Some(2)).await.unwrap();
    assert_eq!(
        page.items[0].identity.as_ref().map(|i| i.as_str()),
        Some("alice")
    );
    assert_eq!(page.next_page().await.unwrap().unwrap().items.len(), 2);
    conv.remove_participant(&nc.id.to_string()).await.unwrap();
    assert_eq!(conv.participant_count().await.unwrap(), 3);
    assert_eq!(
        conv.add_participant("carol", None)
            .await
            .unwrap_err()
            .code(),
        Some(ErrorCode::Conflict)
    );
}

#[tokio::test]
async fn presence_and_update_user() {
    let (_s, alice, _bob) = pair().await;
    let u = alice
        .update_user(colloquy::protocol::UpdateUser {
            friendly_name: Some(Some("Alice".into())),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(u.friendly_name.as_deref(), Some("Alice"));
    let p = alice.presence(&["bob", "zed"]).await.unwrap();
    assert!(p[0].online);
    assert!(!p[1].online);
}
