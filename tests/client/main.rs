//! The embedding kit: one test per Client method and TestServer feature, over
//! real sockets, under plain `#[tokio::test]`.

mod conversations;
mod kit;
mod messages;
mod realtime;

use std::time::Duration;

use colloquy::client::{Client, ClientEvent, EventKind, EventStream};
use colloquy::testing::TestServer;

pub const WAIT: Duration = Duration::from_secs(3);

/// The next event that is not noise for these tests (presence, and the
/// `conversationAdded` of a conversation made just before subscribing), within WAIT.
pub async fn next(events: &mut EventStream) -> ClientEvent {
    loop {
        let e = events.next_within(WAIT).await.expect("an event");
        if !matches!(
            e.kind,
            EventKind::UserStatus { .. } | EventKind::ConversationAdded(_)
        ) {
            return e;
        }
    }
}

/// A server and two connected users.
pub async fn pair() -> (TestServer, Client, Client) {
    let server = TestServer::start();
    let alice = server.connect("alice").await.expect("alice connects");
    let bob = server.connect("bob").await.expect("bob connects");
    (server, alice, bob)
}

/// A group conversation of alice with bob; answers its id.
pub async fn group(alice: &Client) -> String {
    let c = alice
        .create_conversation(colloquy::protocol::CreateConversation {
            friendly_name: Some("group".into()),
            participants: vec!["bob".into()],
            ..Default::default()
        })
        .await
        .expect("created");
    c.id.to_string()
}
