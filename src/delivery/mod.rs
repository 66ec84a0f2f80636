//! Delivery: how encoded frames reach sessions, beneath every actor.
//!
//! A conversation actor hands each event to the [`UserHub`] of every
//! participant; a hub hands it to the [`Outbox`] of each of its user's
//! sessions; a transport drains the outbox onto its socket. Nothing here knows
//! conversations or ops: only frames, sessions and users.

mod hub;
mod outbox;

pub(crate) use hub::{Profile, UserHub};
pub use outbox::{CloseReason, Outbox};
