//! Moving a session to the arbiter that runs most of its user's conversations.
//!
//! A session is placed when it connects (`engine/placement.rs`), but a user
//! who connects first and joins later (a new user, or one whose rooms are
//! made after it connected) lands wherever the arbiters' turn put it. Its
//! conversations then fan out to it from another thread, and each of its
//! requests crosses threads twice: a room of ten whose members connected
//! first spent 2.6× the CPU per delivery of one whose members were placed
//! (docs/BENCHMARKS.md). So when the user joins or leaves a conversation and
//! another arbiter now runs strictly more of the user's conversations, the
//! session moves there, unseen by the client.
//!
//! A move waits for a quiet moment, when nothing is half done on this
//! thread: no request queued or being answered, no bytes waiting for a full
//! socket, no control frame queued, no fragmented message or pong under way.
//! Then the actor, its request task and its writer stop without closing
//! anything; once all three have let go of the socket, it is taken off this
//! thread's event loop and started on the other one with the reader's unread
//! bytes, the rate limiter and the timers. Frames pushed meanwhile wait in
//! the outbox, which the session keeps, for the writer started there.

use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;

use super::{start_on, Carried, RateLimiter, Start, WsSession};
use crate::engine::Place;
use crate::session::CloseReason;

/// How long a busy session waits before it looks again for a quiet moment,
/// and how many times it looks before it stays where it is.
const RETRY: Duration = Duration::from_millis(5);
const TRIES: u32 = 200;

/// How many turns of this thread's loop the reader, the writer's task and the
/// request task get to let go of the socket (each needs one).
const RELEASE_TURNS: usize = 64;

impl WsSession {
    /// Moves the session if another arbiter runs more of its user's
    /// conversations, now or at the next quiet moment.
    pub(super) fn consider_move(&mut self, ctx: &mut Context<Self>, tries: u32) {
        if self.moving.is_some() {
            return;
        }
        let session = &self.session;
        let Some(to) = session
            .engine()
            .better_place(session.identity(), self.place)
        else {
            return;
        };
        if self.quiet() {
            log::debug!(
                "session {} moves from arbiter {} to {}",
                session.id(),
                self.place,
                to.index
            );
            self.moving = Some(to);
            self.requests.close();
            self.writer.detach();
            self.handoff.leave();
            ctx.stop();
        } else if tries < TRIES {
            let wait = self.settings.clock.sleep(RETRY);
            ctx.spawn(
                wait.into_actor(self)
                    .map(move |_, act, ctx| act.consider_move(ctx, tries + 1)),
            );
        }
    }

    /// Nothing half done on this thread.
    fn quiet(&self) -> bool {
        self.session.outbox().closed().is_none()
            && self.requests.idle()
            && self.writer.idle()
            && self.control.is_empty()
            && !self.handoff.midway()
    }

    /// From `stopped`: starts the session on `to` once the socket is free.
    pub(super) fn hand_over(&mut self, to: Place) {
        let io = self.writer.socket();
        let handoff = self.handoff.clone();
        let start = Start {
            session: self.session.clone(),
            encoding: self.writer.encoding(),
            settings: self.settings.clone(),
            shutdown: self.shutdown.clone(),
            carried: Some(Carried {
                limiter: std::mem::replace(
                    &mut self.limiter,
                    RateLimiter::new(0, tokio::time::Instant::now()),
                ),
                last_heard: self.last_heard,
                next_ping: self.next_ping,
                resume_due: self.resume_due,
            }),
        };
        actix_rt::spawn(async move {
            let mut io = io;
            for _ in 0..RELEASE_TURNS {
                // This actor, its reader, the writer's task and the request
                // task each hold the socket until their next poll ends them.
                match Rc::try_unwrap(io) {
                    Ok(sole) => {
                        let leftover = handoff.take_leftover();
                        match sole.into_std() {
                            Ok(tcp) => {
                                start.session.engine().shared().metrics.session_moved();
                                return start_on(to, tcp, leftover, start);
                            }
                            Err(e) => {
                                log::warn!(
                                    "session {}: socket lost moving: {e}",
                                    start.session.id()
                                );
                                return start.session.close(CloseReason::ClientClosed).await;
                            }
                        }
                    }
                    Err(shared) => io = shared,
                }
                tokio::task::yield_now().await;
            }
            log::error!(
                "session {}: its socket was not let go of, closing it",
                start.session.id()
            );
            start.session.outbox().close(CloseReason::ClientClosed);
            start.session.close(CloseReason::ClientClosed).await;
        });
    }
}
