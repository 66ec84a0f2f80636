//! The engine in-process: two users chat, read, react and type, with no socket.
//!
//! Run with `cargo run --example embedded`.

use std::time::Duration;

use colloquy::{Config, Engine, Session};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(1);

/// Prints every event queued for a session.
fn show(who: &Session) {
    while let Some(e) = who.try_next_event() {
        let seq = e.seq.map(|s| format!(" #{s}")).unwrap_or_default();
        println!("  {} <- {}{}: {}", who.identity(), e.event, seq, e.data);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::start(Config {
        typing_timeout: Duration::from_millis(300),
        ..Config::default()
    })?;
    let alice = engine.connect("alice").await?;
    let bob = engine.connect("bob").await?;

    println!("alice opens a direct conversation with bob");
    let conv = alice
        .request_json(json!({"op": "conversation.direct", "identity": "bob"}))
        .await?;
    let id = conv["id"].as_str().unwrap_or_default().to_string();
    show(&bob);

    println!("alice types, then sends");
    alice
        .request_json(json!({"op": "typing.start", "conversation": id}))
        .await?;
    show(&bob);
    alice
        .request_json(json!({"op": "message.send", "conversation": id, "body": "lunch?"}))
        .await?;
    show(&bob);

    let unread = bob
        .request_json(json!({"op": "unread.count", "conversation": id}))
        .await?;
    println!("bob has {} unread", unread["unread_messages_count"]);

    println!("bob reads, reacts and replies");
    bob.request_json(json!({"op": "read.mark", "conversation": id}))
        .await?;
    bob.request_json(
        json!({"op": "reaction.add", "conversation": id, "message": 0, "reaction": "🍜"}),
    )
    .await?;
    bob.request_json(
        json!({"op": "message.send", "conversation": id, "body": "noodles!", "reply_to": 0}),
    )
    .await?;
    show(&alice);

    println!("bob starts typing and lets it time out");
    bob.request_json(json!({"op": "typing.start", "conversation": id}))
        .await?;
    if let Some(e) = alice.next_event_within(WAIT).await {
        println!("  alice <- {}: {}", e.event, e.data);
    }
    if let Some(e) = alice.next_event_within(WAIT).await {
        println!("  alice <- {}: {}", e.event, e.data);
    }

    let page = alice
        .request_json(json!({"op": "message.list", "conversation": id}))
        .await?;
    println!("history:");
    for m in page["items"].as_array().into_iter().flatten() {
        println!("  #{} {}: {}", m["index"], m["author"], m["body"]);
    }
    engine.shutdown();
    Ok(())
}
