use colloquy::protocol::{Direction, MediaIn, MessageRef, SendMessage};
use colloquy::ErrorCode;

use crate::*;

fn draft(body: &str) -> SendMessage {
    SendMessage::text("", body)
}

#[tokio::test]
async fn send_message_and_message() {
    let (_s, alice, _bob) = pair().await;
    let conv = alice.conversation(&group(&alice).await);
    let sent = conv.send_message("hi").await.unwrap();
    assert_eq!(sent["index"], 0);
    let m = conv.message("0").await.unwrap();
    assert_eq!(m.body.as_deref(), Some("hi"));
    assert_eq!(
        conv.message(sent["id"].as_str().unwrap())
            .await
            .unwrap()
            .index,
        0
    );
    assert_eq!(conv.message_count().await.unwrap(), 1);
}

#[tokio::test]
async fn send_with_every_option() {
    let (_s, alice, _bob) = pair().await;
    let conv = alice.conversation(&group(&alice).await);
    conv.send_message("first").await.unwrap();
    let mut d = draft("reply");
    d.reply_to = Some(MessageRef::Index(0));
    d.client_id = Some("k".into());
    d.attributes = Some(serde_json::json!({"a": 1}));
    d.media = vec![MediaIn {
        content_type: "text/plain".into(),
        filename: Some("a.txt".into()),
        data: "aGk=".into(),
    }];
    let a = conv.send(d.clone()).await.unwrap();
    let again = conv.send(d).await.unwrap();
    assert_eq!(a["id"], again["id"], "client_id is idempotent");
    let m = conv.message("1").await.unwrap();
    assert_eq!(m.reply_to.map(|r| r.index), Some(0));
    assert_eq!(m.media[0].size, 2);
}

#[tokio::test]
async fn edit_and_delete_message() {
    let (_s, alice, bob) = pair().await;
    let id = group(&alice).await;
    let conv = alice.conversation(&id);
    conv.send_message("tpyo").await.unwrap();
    assert_eq!(
        bob.conversation(&id)
            .edit_message("0", "x")
            .await
            .unwrap_err()
            .code(),
        Some(ErrorCode::Forbidden)
    );
    let m = conv.edit_message("0", "typo").await.unwrap();
    assert!(m.edited);
    conv.delete_message("0").await.unwrap();
    assert_eq!(
        conv.message("0").await.unwrap_err().code(),
        Some(ErrorCode::NotFound)
    );
}

#[tokio::test]
async fn messages_paginator_anchor_direction_window() {
    let (clock, hand) = colloquy::Clock::manual(1_700_000_000_000);
    let server = TestServer::builder()
        .config(colloquy::Config {
            clock,
            ..colloquy::Config::for_tests()
        })
        .start();
    let alice = server.connect("alice").await.expect("alice connects");
    let conv = alice.conversation(&group(&alice).await);
    let mut times = Vec::new();
    for i in 0..7 {
        times.push(
            conv.send_message(&format!("m{i}")).await.unwrap()["created_at"]
                .as_u64()
                .unwrap(),
        );
        hand.advance(std::time::Duration::from_millis(2));
    }
    let idx = |p: &colloquy::client::PageOf<colloquy::model::Message>| {
        p.items.iter().map(|m| m.index).collect::<Vec<_>>()
    };
    let newest = conv.messages().page_size(3).fetch().await.unwrap();
    assert_eq!(idx(&newest), vec![4, 5, 6]);
    let older = newest.prev_page().await.unwrap().unwrap();
    assert_eq!(idx(&older), vec![1, 2, 3]);
    assert_eq!(
        idx(&older.next_page().await.unwrap().unwrap()),
        vec![4, 5, 6]
    );
    let fwd = conv
        .messages()
        .direction(Direction::Forward)
        .anchor(2)
        .page_size(2)
        .fetch()
        .await
        .unwrap();
    assert_eq!(idx(&fwd), vec![2, 3]);
    let window = conv
        .messages()
        .since(times[1])
        .until(times[3])
        .fetch()
        .await
        .unwrap();
    assert_eq!(idx(&window), vec![1, 2, 3]);
}

#[tokio::test]
async fn react_and_remove_reaction() {
    let (_s, alice, bob) = pair().await;
    let id = group(&alice).await;
    alice.conversation(&id).send_message("react").await.unwrap();
    let r = bob.conversation(&id).react("0", "👍").await.unwrap();
    assert_eq!(bob.conversation(&id).react("0", "👍").await.unwrap(), r);
    assert_eq!(
        alice
            .conversation(&id)
            .message("0")
            .await
            .unwrap()
            .reactions
            .len(),
        1
    );
    bob.remove_reaction(&r).await.unwrap();
    assert!(alice
        .conversation(&id)
        .message("0")
        .await
        .unwrap()
        .reactions
        .is_empty());
}

#[tokio::test]
async fn read_state_methods() {
    let (_s, alice, bob) = pair().await;
    let id = group(&alice).await;
    for i in 0..5 {
        alice
            .conversation(&id)
            .send_message(&format!("m{i}"))
            .await
            .unwrap();
    }
    let conv = bob.conversation(&id);
    assert_eq!(conv.unread_count().await.unwrap(), 5);
    assert_eq!(conv.advance_last_read(1).await.unwrap(), 3);
    assert_eq!(conv.advance_last_read(0).await.unwrap(), 3, "forward only");
    assert_eq!(conv.set_last_read(Some(0)).await.unwrap(), 4);
    assert_eq!(conv.set_last_read(None).await.unwrap(), 5);
    assert_eq!(conv.set_all_read().await.unwrap(), 0);
    assert_eq!(conv.set_all_unread().await.unwrap(), 5);
    assert_eq!(conv.mark_read(Some("2")).await.unwrap(), 2);
    assert_eq!(conv.mark_read(None).await.unwrap(), 0);
}

#[tokio::test]
async fn feed() {
    let (_s, alice, _bob) = pair().await;
    let a = group(&alice).await;
    let b = group(&alice).await;
    alice.conversation(&a).send_message("in a").await.unwrap();
    alice.conversation(&b).send_message("in b").await.unwrap();
    let f = alice.feed(Some(1), None, None).await.unwrap();
    assert_eq!(f.items.len(), 1);
    assert!(f.has_prev);
    assert_eq!(f.prev_page().await.unwrap().unwrap().items.len(), 1);
}
