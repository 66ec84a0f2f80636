//! Helpers that read as intent: `alice.ok(..)`, `bob.event("messageAdded")`,
//! `carol.no_event()`.
#![allow(dead_code, async_fn_in_trait)]

use std::time::Duration;

use colloquy::{Config, Engine, ErrorCode, Event, Session};
use serde_json::{json, Value};

/// How long a test waits for an event that must come.
pub const WAIT: Duration = Duration::from_secs(2);
/// How long a test watches for an event that must not come.
pub const QUIET: Duration = Duration::from_millis(120);

pub fn engine() -> Engine {
    Engine::start(Config::for_tests()).expect("engine starts")
}

/// An engine on a manual clock, and the hand that moves it.
pub fn engine_on_manual_clock() -> (Engine, colloquy::ManualClock) {
    let (clock, hand) = colloquy::Clock::manual(1_700_000_000_000);
    let e = engine_with(|c| c.clock = clock);
    (e, hand)
}

pub fn engine_with(f: impl FnOnce(&mut Config)) -> Engine {
    let mut c = Config::for_tests();
    f(&mut c);
    Engine::start(c).expect("engine starts")
}

pub trait SessionExt {
    /// Runs a request that must succeed.
    async fn ok(&self, req: Value) -> Value;
    /// Runs a request that must fail; answers its code.
    async fn fails(&self, req: Value) -> ErrorCode;
    /// The next event, which must be `name`.
    async fn event(&self, name: &str) -> Event;
    /// Skips events until one named `name`.
    async fn event_skipping(&self, name: &str) -> Event;
    /// No event arrives for a while.
    async fn no_event(&self);
    /// Throws away every queued event.
    fn drain(&self) -> Vec<Event>;
}

impl SessionExt for Session {
    async fn ok(&self, req: Value) -> Value {
        match self.request_json(req.clone()).await {
            Ok(v) => v,
            Err(e) => panic!("{req} failed: {e}"),
        }
    }

    async fn fails(&self, req: Value) -> ErrorCode {
        match self.request_json(req.clone()).await {
            Ok(v) => panic!("{req} should fail, answered {v}"),
            Err(e) => e.code(),
        }
    }

    async fn event(&self, name: &str) -> Event {
        match self.next_event_within(WAIT).await {
            Some(e) if e.event == name => e,
            Some(e) => panic!(
                "{} expected {name}, got {} {}",
                self.identity(),
                e.event,
                e.data
            ),
            None => panic!("{} expected {name}, got nothing", self.identity()),
        }
    }

    async fn event_skipping(&self, name: &str) -> Event {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_event_within(left).await {
                Some(e) if e.event == name => return e,
                Some(_) => continue,
                None => panic!("{} expected {name}, got nothing", self.identity()),
            }
        }
    }

    async fn no_event(&self) {
        if let Some(e) = self.next_event_within(QUIET).await {
            panic!(
                "{} expected no event, got {} {}",
                self.identity(),
                e.event,
                e.data
            );
        }
    }

    fn drain(&self) -> Vec<Event> {
        std::iter::from_fn(|| self.try_next_event()).collect()
    }
}

/// Creates a group conversation owned by `owner` with `others` in it; answers its id.
/// Everyone's queued events are drained afterwards.
pub async fn group(owner: &Session, others: &[&str]) -> String {
    let c = owner
        .ok(json!({"op": "conversation.create", "friendly_name": "group", "participants": others}))
        .await;
    c["id"].as_str().expect("id").to_string()
}

/// Sends a chat message; answers its index.
pub async fn send(s: &Session, conv: &str, body: &str) -> u64 {
    s.ok(json!({"op": "message.send", "conversation": conv, "body": body}))
        .await["index"]
        .as_u64()
        .expect("index")
}

/// Drains every session. An op's events are queued before its answer, so
/// nothing of an answered op is still in flight.
pub fn quiet(sessions: &[&Session]) {
    for s in sessions {
        s.drain();
    }
}
