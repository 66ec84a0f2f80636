//! How a downstream crate tests against colloquy: start a real server in the
//! test, seed it over REST as the service, drive users with the client, assert
//! on typed events. Copy this into your own `tests/`.
//!
//! Run with `cargo run --example test_server` (it runs the same steps as a
//! `#[tokio::test]` would, and exits non-zero if one fails).

use std::time::Duration;

use colloquy::client::EventKind;
use colloquy::testing::TestServer;
use serde_json::json;

/// In your crate this is `#[tokio::test] async fn support_bot_greets_new_users()`.
async fn support_bot_greets_new_users() -> Result<(), Box<dyn std::error::Error>> {
    // A server of our own on 127.0.0.1:0, typing timeout shortened for tests.
    let server = TestServer::builder().typing_timeout_ms(200).start();

    // Seed state over REST, as the service.
    let rest = server.rest();
    let conv = rest
        .post(
            "/v1/conversations",
            json!({"unique_name": "support", "participants": ["alice"]}),
        )
        .await?;
    assert_eq!(conv.status, 201);

    // A user connects and listens to the conversation.
    let alice = server.connect("alice").await?;
    let mut events = alice.conversation("support").subscribe().await?;

    // The system under test (here: a bot speaking over REST) posts a greeting.
    let sent = rest
        .post(
            "/v1/conversations/support/messages",
            json!({"author": "support-bot", "body": "Hi! How can we help?"}),
        )
        .await?;
    assert_eq!(sent.status, 201);

    // Alice sees it live, typed.
    let event = events
        .next_within(Duration::from_secs(2))
        .await
        .ok_or("no event")?;
    let EventKind::MessageAdded(message) = event.kind else {
        return Err(format!("unexpected {event:?}").into());
    };
    assert_eq!(
        message.author.as_ref().map(|a| a.as_str()),
        Some("support-bot")
    );
    assert_eq!(alice.conversation("support").unread_count().await?, 1);

    // The server stops, with everything it started, when dropped.
    Ok(())
}

#[tokio::main]
async fn main() {
    match support_bot_greets_new_users().await {
        Ok(()) => println!("support_bot_greets_new_users ... ok"),
        Err(e) => {
            eprintln!("support_bot_greets_new_users ... FAILED: {e}");
            std::process::exit(1);
        }
    }
}
