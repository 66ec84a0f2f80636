//! The WebSocket session actor: one per socket, bridging it to an engine [`Session`].
//!
//! Three parts, so that no part can stall another:
//! - the **actor** reads the socket (a stream), enforces frame size and rate
//!   limits, runs the heartbeat and idle timeout, and watches the writer: when
//!   bytes stay queued with no progress for the write deadline, it breaks the
//!   connection (its timers run whatever the socket does);
//! - the **request task** answers the client's requests one at a time, in order,
//!   pushing each answer into the session's outbox;
//! - the **response body** ([`WsBody`]) is the outbox itself: each time the
//!   socket can take data, it encodes every queued frame into one buffer, so one
//!   write carries them all, with no task, channel or timer per frame.
//!
//! The handshake and the reading side come from actix-ws. Writing does not go
//! through actix-ws's session (nor actix-web-actors, whose write queue is
//! unbounded and whose timers stop when the socket stops draining): a channel,
//! a timeout and a wakeup per frame cost more than the fanout itself. Every
//! session ends through [`Outbox::close`] with a [`CloseReason`], which picks the
//! close code.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use actix::prelude::*;
use actix_http::ws::{Codec, Message as WsMessage};
use actix_ws::{AggregatedMessage, CloseCode, ProtocolError};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::codec::Encoder;

use crate::error::Error;
use crate::protocol::{encode_answer, Frame};
use crate::session::{CloseReason, Session};

/// Requests read from the socket but not yet answered. The rate limit keeps a
/// well-behaved client far below it; past it requests are refused with
/// `rate_limited`, never queued.
const PENDING_REQUESTS: usize = 512;

/// Control frames (pings, pongs) waiting for the body: a client that never
/// reads cannot make them pile up past this.
const PENDING_CONTROL: usize = 16;

/// Bytes one body chunk holds at most: large enough to carry many frames per
/// write, small enough not to hold a big buffer per slow socket.
const CHUNK_BYTES: usize = 256 * 1024;

/// The close code the contract gives each reason.
pub(crate) fn close_code(reason: CloseReason) -> CloseCode {
    match reason {
        CloseReason::ClientClosed => CloseCode::Normal,
        CloseReason::SlowConsumer => CloseCode::Other(4008),
        CloseReason::IdleTimeout | CloseReason::Shutdown => CloseCode::Away,
        CloseReason::ProtocolError => CloseCode::Protocol,
        CloseReason::FrameTooLarge => CloseCode::Size,
        CloseReason::RateLimited => CloseCode::Policy,
        CloseReason::WriteTimeout => CloseCode::Away,
    }
}

/// Per-session timing and rate settings.
#[derive(Debug, Clone)]
pub(crate) struct WsSettings {
    pub heartbeat: Duration,
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
    /// Requests per second; 0 turns the limit off.
    pub rate_limit: u32,
    pub max_frame_bytes: usize,
}

/// A token bucket: `rate` tokens a second, holding at most twice that.
/// Abuse is a full second's worth of refusals beyond the burst within one second.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: f64,
    tokens: f64,
    last: Instant,
    window_start: Instant,
    refused_in_window: u32,
}

/// What the limiter says of one request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allow,
    Refuse,
    Abuse,
}

impl RateLimiter {
    pub fn new(rate: u32, now: Instant) -> Self {
        RateLimiter {
            rate: rate as f64,
            tokens: 2.0 * rate as f64,
            last: now,
            window_start: now,
            refused_in_window: 0,
        }
    }

    pub fn check(&mut self, now: Instant) -> Verdict {
        if self.rate == 0.0 {
            return Verdict::Allow;
        }
        let burst = 2.0 * self.rate;
        self.tokens = (self.tokens + (now - self.last).as_secs_f64() * self.rate).min(burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Verdict::Allow;
        }
        if now - self.window_start >= Duration::from_secs(1) {
            self.window_start = now;
            self.refused_in_window = 0;
        }
        self.refused_in_window += 1;
        if self.refused_in_window as f64 > burst {
            Verdict::Abuse
        } else {
            Verdict::Refuse
        }
    }
}

/// The TCP socket under a WebSocket, to break a connection whose writes stall.
///
/// actix-http waits for a stalled socket to become writable with no timeout of
/// its own, so a client that stops reading would hold its connection forever.
/// Shutting the socket down makes the pending write fail and the connection drop.
/// It keeps the raw fd (a duplicate per session would double the server's fds).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnSocket {
    fd: std::os::fd::RawFd,
    peer: Option<std::net::SocketAddr>,
}

impl ConnSocket {
    pub fn of(tcp: &actix_rt::net::TcpStream) -> Self {
        use std::os::fd::AsRawFd;
        ConnSocket {
            fd: tcp.as_raw_fd(),
            peer: tcp.peer_addr().ok(),
        }
    }

    /// Shuts the connection down, if the fd still holds it.
    ///
    /// Called on the worker thread that owns the connection, with no await in
    /// between the check and the shutdown: the connection cannot close (and its
    /// fd be reused) meanwhile. If it had closed before, the peer differs and
    /// nothing is done.
    fn shut_down(&self) {
        // SAFETY: borrow_raw only needs the fd to stay open while borrowed; the
        // borrow lives for this function, during which the owning connection (on
        // this same thread) cannot run, so cannot close it. A closed-and-reused fd
        // is told apart by its peer address.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.fd) };
        let sock = socket2::SockRef::from(&fd);
        let same =
            sock.peer_addr().ok().and_then(|a| a.as_socket()) == self.peer && self.peer.is_some();
        if same {
            let _ = sock.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Control frames for the body to send before data.
#[derive(Default)]
struct ControlQueue(Mutex<VecDeque<WsMessage>>);

impl ControlQueue {
    fn push(&self, m: WsMessage) -> bool {
        let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() >= PENDING_CONTROL {
            return false;
        }
        q.push_back(m);
        true
    }
    fn pop(&self) -> Option<WsMessage> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).pop_front()
    }
}

/// The response body of one WebSocket: the session's outbox, encoded.
pub(crate) struct WsBody {
    session: Arc<Session>,
    control: Arc<ControlQueue>,
    codec: Codec,
    taken: VecDeque<Frame>,
    buf: BytesMut,
    finished: bool,
    /// actix-ws's own body, never polled: dropping it when the connection ends
    /// is how its message stream learns the connection is gone.
    _reader_link: actix_web::body::BoxBody,
}

impl WsBody {
    fn encode(&mut self, m: WsMessage) {
        // Encoding our own frames into a growable buffer cannot fail.
        let _ = self.codec.encode(m, &mut self.buf);
    }
}

impl futures_util::Stream for WsBody {
    type Item = Result<Bytes, actix_web::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        while let Some(c) = this.control.pop() {
            this.encode(c);
        }
        let outbox = this.session.outbox().clone();
        while this.buf.len() < CHUNK_BYTES {
            // One chunk's worth at a time: the rest stays in the outbox, counted
            // against its budget (a slow socket cannot move it all out here).
            match outbox.poll_take(cx, &mut this.taken, CHUNK_BYTES - this.buf.len()) {
                Poll::Ready(Ok(())) => {
                    let mut taken = std::mem::take(&mut this.taken);
                    for f in taken.drain(..) {
                        this.encode(WsMessage::Text(f));
                    }
                    this.taken = taken;
                }
                Poll::Ready(Err(reason)) => {
                    let close = actix_ws::CloseReason {
                        code: close_code(reason),
                        description: Some(reason.as_str().into()),
                    };
                    this.encode(WsMessage::Close(Some(close)));
                    this.finished = true;
                    break;
                }
                Poll::Pending => break,
            }
        }
        if this.buf.is_empty() {
            return Poll::Pending;
        }
        Poll::Ready(Some(Ok(this.buf.split().freeze())))
    }
}

/// The session actor of one socket.
pub(crate) struct WsSession {
    session: Arc<Session>,
    settings: WsSettings,
    limiter: RateLimiter,
    last_heard: Instant,
    requests: mpsc::Sender<ByteString>,
    control: Arc<ControlQueue>,
    socket: Option<ConnSocket>,
    /// The outbox's drained count at the last progress, and when that was.
    progress: (u64, Instant),
}

impl WsSession {
    /// Starts the actor and its request task for one upgraded socket; answers the
    /// response that carries the socket's outgoing frames.
    pub fn start(
        session: Session,
        response: actix_web::HttpResponse,
        stream: actix_ws::MessageStream,
        socket: Option<ConnSocket>,
        settings: WsSettings,
        mut shutdown: watch::Receiver<bool>,
    ) -> actix_web::HttpResponse {
        let session = Arc::new(session);
        let (req_tx, req_rx) = mpsc::channel(PENDING_REQUESTS);
        let control = Arc::new(ControlQueue::default());
        let now = Instant::now();
        let stream = stream
            .max_frame_size(settings.max_frame_bytes)
            .aggregate_continuations()
            .max_continuation_size(settings.max_frame_bytes);
        let actor = WsSession {
            session: session.clone(),
            limiter: RateLimiter::new(settings.rate_limit, now),
            settings,
            last_heard: now,
            requests: req_tx,
            control: control.clone(),
            socket,
            progress: (0, now),
        };
        let outbox = session.outbox().clone();
        WsSession::create(move |ctx| {
            ctx.add_stream(stream);
            // Server shutdown closes the session with 1001.
            ctx.spawn(
                async move {
                    let _ = shutdown.wait_for(|stop| *stop).await;
                }
                .into_actor(&actor)
                .map(|_, act: &mut WsSession, ctx| act.end(CloseReason::Shutdown, ctx)),
            );
            // A close decided elsewhere (a slow consumer) stops the actor at once.
            ctx.spawn(
                async move { outbox.wait_closed().await }
                    .into_actor(&actor)
                    .map(|reason, act: &mut WsSession, ctx| act.end(reason, ctx)),
            );
            actor
        });
        actix_rt::spawn(answer_requests(session.clone(), req_rx));
        // Same head (101, upgrade), our body; actix-ws's body rides along inside it.
        response
            .map_body(|_, reader_link| {
                actix_web::body::BodyStream::new(WsBody {
                    session,
                    control,
                    codec: Codec::new(),
                    taken: VecDeque::new(),
                    buf: BytesMut::new(),
                    finished: false,
                    _reader_link: reader_link,
                })
            })
            .map_into_boxed_body()
    }

    /// Ends the session: the body sends what is queued, then the close frame.
    fn end(&mut self, reason: CloseReason, ctx: &mut Context<Self>) {
        self.session.outbox().close(reason);
        ctx.stop();
    }

    fn send_control(&self, m: WsMessage) {
        if self.control.push(m) {
            self.session.outbox().wake();
        }
    }

    fn refuse(&self, frame: &[u8], e: Error) {
        let id = serde_json::from_slice::<serde_json::Value>(frame)
            .ok()
            .and_then(|v| {
                v.get("id")
                    .filter(|id| id.is_number() || id.is_string())
                    .cloned()
            })
            .unwrap_or(serde_json::Value::Null);
        self.session.outbox().push(encode_answer(&id, &Err(e)));
    }

    fn on_text(&mut self, text: ByteString, ctx: &mut Context<Self>) {
        match self.limiter.check(Instant::now()) {
            Verdict::Allow => {}
            Verdict::Refuse => {
                return self.refuse(
                    text.as_bytes(),
                    Error::RateLimited("more than the allowed requests per second".into()),
                )
            }
            Verdict::Abuse => {
                log::warn!(
                    "session {} closed for sustained rate-limit abuse",
                    self.session.id()
                );
                return self.end(CloseReason::RateLimited, ctx);
            }
        }
        if let Err(mpsc::error::TrySendError::Full(text)) = self.requests.try_send(text) {
            self.refuse(
                text.as_bytes(),
                Error::RateLimited("too many requests waiting for answers".into()),
            );
        }
    }

    /// The write deadline: frames queued, and none taken for `write_timeout`.
    fn watch_writes(&mut self, ctx: &mut Context<Self>) {
        let outbox = self.session.outbox();
        let drained = outbox.drained();
        let now = Instant::now();
        if drained != self.progress.0 || outbox.queued_bytes() == 0 {
            self.progress = (drained, now);
            return;
        }
        if now - self.progress.1 >= self.settings.write_timeout {
            log::warn!(
                "session {} reaped: no write for {:?}",
                self.session.id(),
                self.settings.write_timeout
            );
            if let Some(s) = self.socket {
                s.shut_down();
            }
            self.end(CloseReason::WriteTimeout, ctx);
        }
    }
}

impl Actor for WsSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.settings.heartbeat, |act, ctx| {
            if act.last_heard.elapsed() >= act.settings.idle_timeout {
                return act.end(CloseReason::IdleTimeout, ctx);
            }
            act.send_control(WsMessage::Ping(Bytes::new()));
        });
        // The idle timeout may be shorter than the heartbeat: check it on its own too.
        let idle = self.settings.idle_timeout;
        ctx.run_interval(
            idle.min(Duration::from_secs(1))
                .max(Duration::from_millis(10)),
            move |act, ctx| {
                if act.last_heard.elapsed() >= idle {
                    act.end(CloseReason::IdleTimeout, ctx);
                }
            },
        );
        let every = (self.settings.write_timeout / 4)
            .clamp(Duration::from_millis(10), Duration::from_secs(1));
        ctx.run_interval(every, |act, ctx| act.watch_writes(ctx));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
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

impl StreamHandler<Result<AggregatedMessage, ProtocolError>> for WsSession {
    fn handle(&mut self, msg: Result<AggregatedMessage, ProtocolError>, ctx: &mut Context<Self>) {
        self.last_heard = Instant::now();
        match msg {
            Ok(AggregatedMessage::Text(t)) => self.on_text(t, ctx),
            Ok(AggregatedMessage::Binary(b)) => {
                self.refuse(&b, Error::bad("requests are JSON text frames"))
            }
            Ok(AggregatedMessage::Ping(p)) => self.send_control(WsMessage::Pong(p)),
            Ok(AggregatedMessage::Pong(_)) => {}
            Ok(AggregatedMessage::Close(_)) => self.end(CloseReason::ClientClosed, ctx),
            Err(ProtocolError::Overflow) => self.end(CloseReason::FrameTooLarge, ctx),
            // The connection broke (reset, EOF mid-frame): the client went away.
            Err(ProtocolError::Io(_)) => self.end(CloseReason::ClientClosed, ctx),
            Err(e) => {
                log::debug!("session {}: protocol error {e}", self.session.id());
                self.end(CloseReason::ProtocolError, ctx);
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
async fn answer_requests(session: Arc<Session>, mut requests: mpsc::Receiver<ByteString>) {
    while let Some(text) = requests.recv().await {
        let answer = session.handle_frame(text.as_bytes()).await;
        session.outbox().push(answer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_the_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(10, t0);
        for _ in 0..20 {
            assert_eq!(l.check(t0), Verdict::Allow);
        }
        assert_eq!(l.check(t0), Verdict::Refuse);
        assert_eq!(l.check(t0 + Duration::from_millis(100)), Verdict::Allow);
        for _ in 0..19 {
            assert_eq!(l.check(t0 + Duration::from_millis(100)), Verdict::Refuse);
        }
        assert_eq!(l.check(t0 + Duration::from_millis(100)), Verdict::Abuse);
        let mut off = RateLimiter::new(0, t0);
        assert!((0..10_000).all(|_| off.check(t0) == Verdict::Allow));
    }
}
