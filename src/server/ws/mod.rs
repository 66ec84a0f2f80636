//! The WebSocket session: one actor per socket, bridging it to an engine [`Session`].
//!
//! An upgraded socket runs on an engine arbiter (the threads conversations run
//! on), in three parts, so that no part can stall another:
//! - the **actor** reads the socket ([`socket::Reader`]), enforces frame size
//!   and rate limits, and runs the heartbeat and the idle timeout;
//! - the **request task** answers the client's requests one at a time, in order,
//!   pushing each answer into the session's outbox;
//! - the **writer** ([`writer`]) moves the outbox onto the socket, many frames
//!   per write, and gives up on a socket that takes nothing within the write
//!   deadline.
//!
//! Every session ends through [`Outbox::close`](crate::session::Outbox::close)
//! with a [`CloseReason`], which picks the close code.
//!
//! Why a socket layer of our own, and not `actix-web-actors` (the design card's
//! WebSocket crate): that crate is deprecated upstream (4.3.1, "migrate to
//! actix-ws"), and it did not fit a chat fanout anyway. Its
//! `WebsocketContext` queues writes without a bound, so a slow client grows
//! the server's memory, where the contract wants a byte-bounded outbox and
//! close 4008; its heartbeat and idle timers ride on the same context and stop
//! when the socket stops draining, so a stuck client is never timed out; and
//! every frame costs a message, a channel send and a wake-up, more than the
//! fanout itself. Its successor `actix-ws` sends each frame through a
//! channel of 32 frames, whatever their size, that makes the sender wait when
//! full: in a fanout, one slow client would hold back the conversation's
//! deliveries to everyone else. So the upgrade (`upgrade.rs`) takes the socket
//! out of the HTTP layer, and the three parts above read, answer and write it,
//! with the session still an actix actor on the engine's arbiters.

mod limit;
mod moving;
mod socket;
mod writer;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use actix::prelude::*;
use actix_http::ws::Message as WsMessage;
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::clock::Clock;
use crate::engine::Place;
use crate::error::Error;
use crate::protocol::Encoding;
use crate::protocol::{encode_answer, request_id};
use crate::session::{CloseReason, Session};
use limit::{RateLimiter, Verdict};
use socket::{ControlQueue, Handoff, Incoming, Reader};

/// Requests read from the socket but not yet answered. The rate limit keeps a
/// well-behaved client far below it; past it requests are refused with
/// `rate_limited`, never queued.
const PENDING_REQUESTS: usize = 512;

/// Per-session timing and rate settings.
#[derive(Debug, Clone)]
pub(crate) struct WsSettings {
    pub heartbeat: Duration,
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
    /// Requests per second; 0 turns the limit off.
    pub rate_limit: u32,
    pub max_frame_bytes: usize,
    /// How long a new session holds conversation events back for a client
    /// that may be resuming with `events.replay`.
    pub resume_window: Duration,
    /// The engine's clock: heartbeat, idle timeout and resume window run on it.
    pub clock: Clock,
}

/// Runs an upgraded connection on the arbiter of `place`: its session actor,
/// request task and writer. `leftover` is what the HTTP layer read past the
/// upgrade request. If the arbiter is gone (the engine stopped), the session
/// is dropped, which closes it.
pub(crate) fn spawn(
    place: Place,
    tcp: std::net::TcpStream,
    leftover: BytesMut,
    session: Session,
    encoding: Encoding,
    settings: WsSettings,
    shutdown: watch::Receiver<bool>,
) {
    let start = Start {
        session: Arc::new(session),
        encoding,
        settings,
        shutdown,
        carried: None,
    };
    start_on(place, tcp, leftover, start);
}

/// A session as it starts on a thread: anew, or moved from another one.
struct Start {
    session: Arc<Session>,
    encoding: Encoding,
    settings: WsSettings,
    shutdown: watch::Receiver<bool>,
    /// What a moved session takes along; None for a new one.
    carried: Option<Carried>,
}

/// The session actor's state that outlives a move between threads.
struct Carried {
    limiter: RateLimiter,
    last_heard: Duration,
    next_ping: Duration,
    resume_due: Option<Duration>,
}

fn start_on(place: Place, tcp: std::net::TcpStream, leftover: BytesMut, start: Start) {
    let index = place.index;
    place.arbiter.spawn(async move {
        match tokio::net::TcpStream::from_std(tcp) {
            Ok(io) => WsSession::start(Rc::new(io), leftover, index, start),
            Err(e) => {
                log::warn!(
                    "session {}: socket lost on hand-off: {e}",
                    start.session.id()
                );
                start.session.close(CloseReason::ClientClosed).await;
            }
        }
    });
}

/// The session actor of one socket.
pub(crate) struct WsSession {
    session: Arc<Session>,
    settings: WsSettings,
    limiter: RateLimiter,
    /// When the client last sent a frame, on the engine's clock.
    last_heard: Duration,
    /// When the next heartbeat ping is due, on the engine's clock.
    next_ping: Duration,
    /// When the resume window ends, until it has.
    resume_due: Option<Duration>,
    requests: Rc<RequestQueue>,
    control: Rc<ControlQueue>,
    /// What a move to another thread takes back: the writer (and through it
    /// the socket), the reader's unread bytes, and where the session runs now.
    writer: writer::Handle,
    handoff: Rc<Handoff>,
    place: usize,
    shutdown: watch::Receiver<bool>,
    /// Set once the session is leaving for another arbiter.
    moving: Option<Place>,
}

impl WsSession {
    fn start(io: Rc<tokio::net::TcpStream>, leftover: BytesMut, place: usize, start: Start) {
        let Start {
            session,
            encoding,
            settings,
            shutdown,
            carried,
        } = start;
        let requests = Rc::new(RequestQueue::default());
        let control = Rc::new(ControlQueue::default());
        let handoff = Rc::new(Handoff::default());
        let heard = settings.clock.elapsed();
        let carried = carried.unwrap_or_else(|| Carried {
            limiter: RateLimiter::new(settings.rate_limit, Instant::now()),
            last_heard: heard,
            next_ping: heard + settings.heartbeat,
            resume_due: Some(heard + settings.resume_window),
        });
        let reader = Reader::new(
            io.clone(),
            leftover,
            settings.max_frame_bytes,
            control.clone(),
            session.outbox().clone(),
            handoff.clone(),
        );
        let writer = writer::start(
            io,
            session.outbox().clone(),
            control.clone(),
            encoding,
            settings.write_timeout,
        );
        actix_rt::spawn(answer_requests(session.clone(), requests.clone()));
        let actor = WsSession {
            session,
            limiter: carried.limiter,
            next_ping: carried.next_ping,
            resume_due: carried.resume_due,
            settings,
            last_heard: carried.last_heard,
            requests,
            control,
            writer,
            handoff,
            place,
            shutdown,
            moving: None,
        };
        WsSession::create(move |ctx| {
            ctx.add_stream(reader);
            actor.watch(ctx);
            actor
        });
    }

    /// Waits for the session's end (server shutdown: 1001; a close decided
    /// elsewhere, a slow consumer or a stuck writer: at once) and for its
    /// user joining or leaving a conversation (which may move the session).
    /// One future for all three: each spawned one is held, boxed, for the
    /// socket's life.
    fn watch(&self, ctx: &mut Context<Self>) {
        let mut shutdown = self.shutdown.clone();
        let outbox = self.session.outbox().clone();
        ctx.spawn(
            async move {
                tokio::select! {
                    _ = shutdown.wait_for(|stop| *stop) => Some(CloseReason::Shutdown),
                    reason = outbox.wait_closed() => Some(reason),
                    _ = outbox.membership_changed() => None,
                }
            }
            .into_actor(self)
            .map(|ended, act: &mut WsSession, ctx| match ended {
                Some(reason) => act.end(reason, ctx),
                None => {
                    act.watch(ctx);
                    act.consider_move(ctx, 0);
                }
            }),
        );
    }

    /// Ends the session: the writer sends what is queued, then the close frame.
    fn end(&mut self, reason: CloseReason, ctx: &mut Context<Self>) {
        self.session.outbox().close(reason);
        ctx.stop();
    }

    /// Queues a heartbeat ping; skipped when pongs already fill the queue.
    fn send_control(&self, m: WsMessage) {
        if self.control.push(m).is_ok() {
            self.session.outbox().wake();
        }
    }

    fn refuse(&self, frame: &[u8], e: Error) {
        let id = request_id(frame);
        self.session.outbox().push(encode_answer(&id, &Err(e)));
    }

    /// Whether a request frame may go on, by the rate limit; refuses it (or
    /// ends the session) if not. Every data frame counts, binary ones too.
    fn admit(&mut self, frame: &[u8], ctx: &mut Context<Self>) -> bool {
        match self.limiter.check(Instant::now()) {
            Verdict::Allow => true,
            Verdict::Refuse => {
                self.refuse(
                    frame,
                    Error::RateLimited("more than the allowed requests per second".into()),
                );
                false
            }
            Verdict::Abuse => {
                log::warn!(
                    "session {} closed for sustained rate-limit abuse",
                    self.session.id()
                );
                self.end(CloseReason::RateLimited, ctx);
                false
            }
        }
    }

    fn on_text(&mut self, text: ByteString, ctx: &mut Context<Self>) {
        if !self.admit(text.as_bytes(), ctx) {
            return;
        }
        crate::delivery::note_work();
        if let Err(text) = self.requests.push(text) {
            self.refuse(
                text.as_bytes(),
                Error::RateLimited("too many requests waiting for answers".into()),
            );
        }
    }
}

impl WsSession {
    /// The session's one timer: it sleeps until the next thing due (a
    /// heartbeat ping, the idle deadline, the end of the resume window), does
    /// what is due, and sleeps again. One sleep per socket rather than one per
    /// duty: each is held, boxed, for the socket's life (~400 bytes).
    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = self.settings.clock.elapsed();
        if self.resume_due.is_some_and(|due| now >= due) {
            // A client that has not resumed by now is not going to: deliver.
            self.resume_due = None;
            self.session.outbox().release();
        }
        // Closed (1001) once the client has been silent for the idle timeout.
        let idle_due = self.last_heard + self.settings.idle_timeout;
        if now >= idle_due {
            return self.end(CloseReason::IdleTimeout, ctx);
        }
        if now >= self.next_ping {
            self.send_control(WsMessage::Ping(Bytes::new()));
            self.next_ping = now + self.settings.heartbeat;
        }
        // Each is later than now: what was due is done above.
        let next = [self.next_ping, idle_due]
            .into_iter()
            .chain(self.resume_due)
            .min()
            .unwrap_or(idle_due);
        let wait = self.settings.clock.sleep(next.saturating_sub(now));
        ctx.spawn(wait.into_actor(self).map(|_, act, ctx| act.tick(ctx)));
    }
}

impl Actor for WsSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.tick(ctx);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.requests.close();
        if let Some(to) = self.moving.take() {
            return self.hand_over(to);
        }
        let session = self.session.clone();
        actix_rt::spawn(async move {
            let reason = session
                .outbox()
                .closed()
                .unwrap_or(CloseReason::ClientClosed);
            session.close(reason).await;
        });
    }
}

impl StreamHandler<Result<Incoming, CloseReason>> for WsSession {
    fn handle(&mut self, msg: Result<Incoming, CloseReason>, ctx: &mut Context<Self>) {
        self.last_heard = self.settings.clock.elapsed();
        match msg {
            Ok(Incoming::Text(t)) => self.on_text(t, ctx),
            Ok(Incoming::Binary(b)) => {
                if self.admit(&b, ctx) {
                    self.refuse(&b, Error::bad("requests are JSON text frames"));
                }
            }
            Ok(Incoming::Ping | Incoming::Pong) => {}
            Ok(Incoming::Close) => self.end(CloseReason::ClientClosed, ctx),
            Err(reason) => {
                log::debug!("session {}: closing, {reason}", self.session.id());
                self.end(reason, ctx);
            }
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        self.end(CloseReason::ClientClosed, ctx);
    }
}

/// Answers requests one at a time, in the order they came. Requests that
/// arrived before the client closed still run (a message sent is sent), even if
/// their answers can no longer be delivered; the queue ends when the actor stops.
async fn answer_requests(session: Arc<Session>, requests: Rc<RequestQueue>) {
    while let Some(text) = requests.next().await {
        // Boxed: the largest op's state would otherwise be part of this task
        // for the session's whole life, idle or not.
        let answer = Box::pin(session.handle_frame(text.as_bytes())).await;
        session.outbox().push(answer);
    }
}

/// Requests read but not yet answered, from the actor to the request task
/// (both on the session's thread). Holds nothing while empty.
#[derive(Default)]
struct RequestQueue {
    queue: RefCell<VecDeque<ByteString>>,
    task: RefCell<Option<Waker>>,
    closed: Cell<bool>,
}

impl RequestQueue {
    /// Queues a request; gives it back when [`PENDING_REQUESTS`] are waiting.
    fn push(&self, text: ByteString) -> Result<(), ByteString> {
        let mut queue = self.queue.borrow_mut();
        if queue.len() >= PENDING_REQUESTS {
            return Err(text);
        }
        queue.push_back(text);
        drop(queue);
        self.wake();
        Ok(())
    }

    /// Whether the task waits with nothing to answer: none queued, and none
    /// being answered (the task registers itself only once it has run out).
    fn idle(&self) -> bool {
        self.queue.borrow().is_empty() && self.task.borrow().is_some()
    }

    /// No more requests: the task ends once it has answered those queued.
    fn close(&self) {
        self.closed.set(true);
        self.wake();
    }

    fn wake(&self) {
        if let Some(t) = self.task.borrow_mut().take() {
            t.wake();
        }
    }

    async fn next(&self) -> Option<ByteString> {
        poll_fn(|cx| {
            if let Some(text) = self.queue.borrow_mut().pop_front() {
                return Poll::Ready(Some(text));
            }
            if self.closed.get() {
                return Poll::Ready(None);
            }
            *self.task.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}
