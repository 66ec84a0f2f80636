//! Where an engine reads time: the system's clock, or a manual one that a
//! test moves forward.
//!
//! Timestamps (`created_at`, `last_seen_at`, …) and timers (typing expiry,
//! the WebSocket heartbeat, idle timeout and resume window) read the engine's
//! [`Clock`]. The rate limit and socket write deadlines measure real time. On a manual clock nothing happens until the
//! test calls [`ManualClock::advance`]; then every timer that falls due fires
//! at once, so timer tests take microseconds and never sleep.
//!
//! ```
//! use std::time::Duration;
//! use colloquy::{Clock, Config, Engine};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let (clock, hand) = Clock::manual(1_700_000_000_000);
//! let engine = Engine::start(Config { clock, ..Config::for_tests() }).unwrap();
//! let alice = engine.connect("alice").await.unwrap();
//! let bob = engine.connect("bob").await.unwrap();
//! let c = alice.request_json(json!({"op": "conversation.create", "participants": ["bob"]})).await.unwrap();
//! alice.request_json(json!({"op": "typing.start", "conversation": c["id"]})).await.unwrap();
//! let within = Duration::from_secs(1);
//! assert_eq!(bob.next_event_within(within).await.unwrap().event, "conversationAdded");
//! assert_eq!(bob.next_event_within(within).await.unwrap().event, "typingStarted");
//! hand.advance(Config::for_tests().typing_timeout); // no waiting: the timer fires now
//! assert_eq!(bob.next_event_within(within).await.unwrap().event, "typingEnded");
//! assert_eq!(c["created_at"], 1_700_000_000_000u64);
//! engine.shutdown();
//! # }
//! ```

use std::fmt;
use std::future::poll_fn;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// An engine's clock. Cheap to clone; clones read the same time.
#[derive(Clone)]
pub struct Clock(Source);

#[derive(Clone)]
enum Source {
    /// Wall time for timestamps; a monotonic clock for timers.
    System {
        origin: Instant,
    },
    Manual(Arc<Manual>),
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Source::System { .. } => f.write_str("Clock::System"),
            Source::Manual(m) => write!(f, "Clock::Manual({:?})", m.lock().elapsed),
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

/// The hand that moves a manual clock.
#[derive(Clone, Debug)]
pub struct ManualClock(Clock);

struct Manual {
    /// Wall time (ms since the epoch) at elapsed zero.
    start_ms: u64,
    state: Mutex<ManualState>,
}

#[derive(Default)]
struct ManualState {
    elapsed: Duration,
    /// Sleepers to wake when the clock moves.
    sleepers: Vec<Waker>,
}

impl Manual {
    fn lock(&self) -> std::sync::MutexGuard<'_, ManualState> {
        // Every update leaves the state whole: a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Clock {
    /// The system's clock.
    pub fn system() -> Clock {
        Clock(Source::System {
            origin: Instant::now(),
        })
    }

    /// A clock that reads `start_ms` (ms since the Unix epoch) until its hand
    /// moves it.
    pub fn manual(start_ms: u64) -> (Clock, ManualClock) {
        let clock = Clock(Source::Manual(Arc::new(Manual {
            start_ms,
            state: Mutex::new(ManualState::default()),
        })));
        (clock.clone(), ManualClock(clock))
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        match &self.0 {
            Source::System { .. } => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            Source::Manual(m) => m.start_ms + m.lock().elapsed.as_millis() as u64,
        }
    }

    /// Monotonic time since the clock was made: what timers measure.
    pub fn elapsed(&self) -> Duration {
        match &self.0 {
            Source::System { origin } => origin.elapsed(),
            Source::Manual(m) => m.lock().elapsed,
        }
    }

    /// Completes once `d` has passed on this clock, counted from this call
    /// (not from the first poll: a test may advance the clock in between).
    pub fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send + 'static {
        let source = self.0.clone();
        let due = self.elapsed() + d;
        let system = match &source {
            Source::System { .. } => Some(tokio::time::sleep(d)),
            Source::Manual(_) => None,
        };
        async move {
            match (&source, system) {
                (_, Some(sleep)) => sleep.await,
                (Source::Manual(m), None) => {
                    poll_fn(|cx| {
                        let mut s = m.lock();
                        if s.elapsed >= due {
                            return Poll::Ready(());
                        }
                        if !s.sleepers.iter().any(|w| w.will_wake(cx.waker())) {
                            s.sleepers.push(cx.waker().clone());
                        }
                        Poll::Pending
                    })
                    .await
                }
                (Source::System { .. }, None) => {}
            }
        }
    }
}

impl ManualClock {
    /// Moves the clock forward by `d`; every timer now due fires.
    pub fn advance(&self, d: Duration) {
        let Source::Manual(m) = &(self.0).0 else {
            return;
        };
        let sleepers = {
            let mut s = m.lock();
            s.elapsed += d;
            std::mem::take(&mut s.sleepers)
        };
        // Each sleeper looks again; those not yet due wait anew.
        for w in sleepers {
            w.wake();
        }
    }

    /// The clock this hand moves.
    pub fn clock(&self) -> &Clock {
        &self.0
    }
}
