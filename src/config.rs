//! Every limit and timeout of the engine, with its unit and its default.
//!
//! Defaults are the contract's (`PROTOCOL.md` §7). Each is a plain field so that
//! tests can shrink timeouts instead of sleeping and the CLI can override them.

use crate::clock::Clock;
use std::time::Duration;

/// Limits on what one client may send or hold. Sizes are in bytes unless a
/// name says otherwise.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest message `body`, in bytes of UTF-8. Contract: 16 KiB.
    pub max_body_bytes: usize,
    /// Largest `attributes`, `metadata` or `details` value, serialized. Contract: 16 KiB.
    pub max_json_bytes: usize,
    /// Media items on one message. Contract: 10.
    pub max_media_items: usize,
    /// Largest media item, decoded. Contract: 128 KiB.
    pub max_media_bytes: usize,
    /// Longest identity, unique_name or friendly_name, in characters. Contract: 256.
    pub max_name_chars: usize,
    /// Longest reaction, in characters. Contract: 64.
    pub max_reaction_chars: usize,
    /// Participants per conversation (`--max-participants`). Contract: 10,000.
    pub max_participants: usize,
    /// Conversation events kept per conversation for `events.replay` (`--replay-window`).
    pub replay_window: usize,
    /// Messages kept per conversation; older ones are evicted (see `docs/PROTOCOL.md`).
    pub max_history: usize,
    /// Bytes of message content (bodies and media) kept per conversation; the oldest
    /// messages are evicted past it, so that a conversation's memory is bounded.
    pub max_history_bytes: usize,
    /// Bytes of frames queued for one session before it is dropped as a slow
    /// consumer. Contract: 8 MiB.
    pub max_outbox_bytes: usize,
    /// Largest WebSocket frame a client may send. Contract: 256 KiB.
    pub max_frame_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 * 1024,
            max_json_bytes: 16 * 1024,
            max_media_items: 10,
            max_media_bytes: 128 * 1024,
            max_name_chars: 256,
            max_reaction_chars: 64,
            max_participants: 10_000,
            replay_window: 1_000,
            max_history: 10_000,
            max_history_bytes: 64 * 1024 * 1024,
            max_outbox_bytes: 8 * 1024 * 1024,
            max_frame_bytes: 256 * 1024,
        }
    }
}

/// How an engine runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// What clients may send and hold.
    pub limits: Limits,
    /// How long a `typing.start` lasts without a refresh. Contract: 5000 ms.
    pub typing_timeout: Duration,
    /// Arbiter threads that host conversation actors; conversations are spread
    /// over them round-robin. Default: one per core.
    pub arbiters: usize,
    /// Where timestamps and timers read time: the system's, or a manual clock
    /// a test advances ([`Clock::manual`]).
    pub clock: Clock,
    /// Where the engine keeps its data (`--data-dir`): None keeps everything in
    /// memory, and a restart forgets it.
    pub data_dir: Option<std::path::PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            typing_timeout: Duration::from_millis(5000),
            arbiters: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            clock: Clock::system(),
            data_dir: None,
        }
    }
}

impl Config {
    /// A configuration for tests: short typing timeout, two arbiters.
    pub fn for_tests() -> Self {
        Config {
            typing_timeout: Duration::from_millis(150),
            arbiters: 2,
            ..Config::default()
        }
    }
}
