//! colloquy: an actor-based, in-memory realtime conversation engine.
//!
//! The architecture in ten lines:
//! - each conversation is an actix actor (`conversation`) owning its members,
//!   message log, read horizons, typing timers and event sequence;
//! - conversation actors are spread over arbiter threads, one per core by default;
//! - the registry actor (`registry`) creates conversations and routes presence;
//! - each connected client has a [`Session`]; events reach it through its user's
//!   hub into a byte-bounded [`Outbox`], serialized once per event and shared;
//! - hot lookups (id → actor, unique name, identity → hub) are lock-striped maps;
//! - every transport calls [`Engine::execute`]; [`protocol`] is the wire format;
//! - every limit lives in [`Config`]; every failure is an [`Error`] with a contract code.
//!
//! Embedding it in a test:
//!
//! ```
//! use colloquy::{Config, Engine};
//! use serde_json::json;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let engine = Engine::start(Config::for_tests()).unwrap();
//! let alice = engine.connect("alice").await.unwrap();
//! let bob = engine.connect("bob").await.unwrap();
//!
//! let conv = alice
//!     .request_json(json!({"op": "conversation.create", "friendly_name": "office", "participants": ["bob"]}))
//!     .await
//!     .unwrap();
//! let id = conv["id"].as_str().unwrap();
//! alice.request_json(json!({"op": "message.send", "conversation": id, "body": "hi"})).await.unwrap();
//!
//! // Bob learns of the conversation, then of the message.
//! let added = bob.next_event_within(Duration::from_secs(1)).await.unwrap();
//! assert_eq!(added.event, "conversationAdded");
//! let msg = bob.next_event_within(Duration::from_secs(1)).await.unwrap();
//! assert_eq!((msg.event.as_str(), msg.data["body"].as_str()), ("messageAdded", Some("hi")));
//! engine.shutdown();
//! # }
//! ```
#![deny(missing_docs)]

pub mod client;
pub mod clock;
pub mod cluster;
pub mod config;
pub(crate) mod conversation;
pub(crate) mod delivery;
pub mod engine;
pub mod error;
mod frame;
pub mod metrics;
pub mod model;
pub(crate) mod paging;
pub mod protocol;
pub(crate) mod registry;
pub mod server;
pub mod session;
pub(crate) mod store;
pub mod testing;
pub(crate) mod validate;

pub use clock::{Clock, ManualClock};
pub use config::{Config, Limits};
pub use engine::Engine;
pub use error::{Error, ErrorCode, Result};
pub use model::Caller;
pub use protocol::{Encoding, Event, Frame, Request};
pub use session::{CloseReason, Outbox, Session};
