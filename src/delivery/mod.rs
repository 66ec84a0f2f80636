//! Delivery: how encoded frames reach sessions, beneath every actor.
//!
//! Each user has a [`UserHub`] holding the [`Outbox`] of each of its sessions.
//! A conversation actor hands each event to the outboxes of its participants'
//! sessions, found through a [`Fanout`] list built from their hubs; personal
//! events go through a user's hub. A transport drains the outbox onto its
//! socket. Nothing here knows conversations or ops: only frames, sessions and
//! users.

mod fanout;
mod hub;
mod outbox;
mod turns;

pub(crate) use fanout::Fanout;
pub(crate) use hub::{Profile, UserHub};
pub use outbox::{CloseReason, Outbox};
pub use turns::{note_work, work_done};
