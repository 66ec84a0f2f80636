//! The WebSocket session actor: one per socket, bridging it to an engine [`Session`].
//!
//! Three parts, so that no part can stall another:
//! - the **actor** reads the socket (a stream), enforces frame size and rate
//!   limits, and runs the heartbeat and idle timeout;
//! - the **request task** answers the client's requests one at a time, in order,
//!   pushing each answer into the session's outbox;
//! - the **writer task** drains the outbox into the socket, every queued frame at
//!   once, each write under a deadline that does not depend on the actor.
//!
//! Socket I/O uses actix-ws rather than actix-web-actors: the latter's write queue
//! is unbounded and its timers stop when the socket stops draining, so it can
//! bound neither memory nor how long a stuck client is kept. Every session ends
//! through [`Outbox::close`] with a [`CloseReason`], which picks the close code.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_ws::{AggregatedMessage, CloseCode, ProtocolError};
use bytestring::ByteString;
use tokio::sync::{mpsc, watch};
use tokio::time::{timeout, Instant};

use crate::error::Error;
use crate::protocol::{encode_answer, Frame};
use crate::session::{CloseReason, Outbox, Session};

/// Requests read from the socket but not yet answered. The rate limit keeps a
/// well-behaved client far below it; past it requests are refused with
/// `rate_limited`, never queued.
const PENDING_REQUESTS: usize = 512;

/// Control frames waiting for the writer (pings, pongs).
const PENDING_CONTROL: usize = 16;

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

enum Control {
    Ping,
    Pong(bytes::Bytes),
}

/// The session actor of one socket.
pub(crate) struct WsSession {
    session: Arc<Session>,
    settings: WsSettings,
    limiter: RateLimiter,
    last_heard: Instant,
    requests: mpsc::Sender<ByteString>,
    control: mpsc::Sender<Control>,
}

impl WsSession {
    /// Starts the actor, its request task and its writer task for one upgraded socket.
    pub fn start(
        session: Session,
        ws: actix_ws::Session,
        stream: actix_ws::MessageStream,
        socket: Option<ConnSocket>,
        settings: WsSettings,
        shutdown: watch::Receiver<bool>,
    ) {
        let session = Arc::new(session);
        let (req_tx, req_rx) = mpsc::channel(PENDING_REQUESTS);
        let (ctl_tx, ctl_rx) = mpsc::channel(PENDING_CONTROL);
        let now = Instant::now();
        let stream = stream
            .max_frame_size(settings.max_frame_bytes)
            .aggregate_continuations()
            .max_continuation_size(settings.max_frame_bytes);
        let write_timeout = settings.write_timeout;
        let actor = WsSession {
            session: session.clone(),
            limiter: RateLimiter::new(settings.rate_limit, now),
            settings,
            last_heard: now,
            requests: req_tx,
            control: ctl_tx,
        };
        let addr = WsSession::create(move |ctx| {
            ctx.add_stream(stream);
            actor
        });
        actix_rt::spawn(answer_requests(session.clone(), req_rx));
        // On this worker's thread, like the connection itself (see ConnSocket::shut_down).
        actix_rt::spawn(write_frames(
            session,
            ws,
            socket,
            ctl_rx,
            write_timeout,
            shutdown,
            addr,
        ));
    }

    /// Ends the session: the writer sends what is queued, then the close frame.
    fn end(&mut self, reason: CloseReason, ctx: &mut Context<Self>) {
        self.session.outbox().close(reason);
        ctx.stop();
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
}

impl Actor for WsSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.settings.heartbeat, |act, ctx| {
            if act.last_heard.elapsed() >= act.settings.idle_timeout {
                return act.end(CloseReason::IdleTimeout, ctx);
            }
            let _ = act.control.try_send(Control::Ping);
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
            Ok(AggregatedMessage::Ping(p)) => {
                let _ = self.control.try_send(Control::Pong(p));
            }
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

/// A stop asked for by the writer (the socket failed or stalled).
#[derive(Message)]
#[rtype(result = "()")]
struct Stop(CloseReason);

impl Handler<Stop> for WsSession {
    type Result = ();
    fn handle(&mut self, msg: Stop, ctx: &mut Context<Self>) {
        self.end(msg.0, ctx);
    }
}

/// Answers requests one at a time, in the order they came.
async fn answer_requests(session: Arc<Session>, mut requests: mpsc::Receiver<ByteString>) {
    while let Some(text) = requests.recv().await {
        let answer = session.handle_frame(text.as_bytes()).await;
        if !session.outbox().push(answer) {
            break;
        }
    }
}

/// How one socket write ended.
enum Wrote {
    Done,
    /// The socket is gone.
    Gone,
    /// The write did not finish within the deadline.
    Stalled,
    /// The session was dropped as a slow consumer meanwhile: what is queued is moot.
    Dropped,
}

/// One write, under the deadline, given up at once if the session is dropped.
async fn write(
    outbox: &Outbox,
    deadline: Duration,
    send: impl std::future::Future<Output = Result<(), actix_ws::Closed>>,
) -> Wrote {
    let dropped = async {
        loop {
            if outbox.wait_closed().await == CloseReason::SlowConsumer {
                return;
            }
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        r = timeout(deadline, send) => match r {
            Ok(Ok(())) => Wrote::Done,
            Ok(Err(_)) => Wrote::Gone,
            Err(_) => Wrote::Stalled,
        },
        _ = dropped => Wrote::Dropped,
    }
}

/// Drains the outbox into the socket until the session ends, then sends the
/// close frame its reason calls for.
async fn write_frames(
    session: Arc<Session>,
    mut ws: actix_ws::Session,
    socket: Option<ConnSocket>,
    mut control: mpsc::Receiver<Control>,
    deadline: Duration,
    mut shutdown: watch::Receiver<bool>,
    actor: Addr<WsSession>,
) {
    let outbox: &Outbox = session.outbox();
    let mut batch: Vec<Frame> = Vec::new();
    let wrote = loop {
        let wrote = tokio::select! {
            biased;
            _ = shutdown.changed() => {
                outbox.close(CloseReason::Shutdown);
                Wrote::Done
            }
            Some(c) = control.recv() => match c {
                Control::Ping => write(outbox, deadline, ws.ping(b"")).await,
                Control::Pong(p) => write(outbox, deadline, ws.pong(&p)).await,
            },
            r = outbox.recv_batch(&mut batch) => match r {
                Ok(()) => {
                    let mut wrote = Wrote::Done;
                    for f in batch.drain(..) {
                        wrote = write(outbox, deadline, ws.text(f)).await;
                        if !matches!(wrote, Wrote::Done) {
                            break;
                        }
                    }
                    batch.clear();
                    wrote
                }
                // Closed and drained: say goodbye below.
                Err(_) => Wrote::Dropped,
            }
        };
        if !matches!(wrote, Wrote::Done) {
            break wrote;
        }
    };
    let reason = match wrote {
        Wrote::Gone => CloseReason::ClientClosed,
        Wrote::Stalled => CloseReason::WriteTimeout,
        _ => outbox.closed().unwrap_or(CloseReason::ClientClosed),
    };
    outbox.close(reason);
    let reason = outbox.closed().unwrap_or(reason);
    // Deregister first, so the engine forgets the session now, whatever the socket does.
    // One message per session lifetime: the unbounded send is safe.
    actor.do_send(Stop(reason));
    match wrote {
        Wrote::Stalled => {
            log::warn!(
                "session {} reaped: a write took longer than {deadline:?}",
                session.id()
            );
            if let Some(s) = socket {
                s.shut_down();
            }
        }
        Wrote::Gone => {}
        _ => {
            let close = actix_ws::CloseReason {
                code: close_code(reason),
                description: Some(reason.as_str().into()),
            };
            let _ = timeout(deadline, ws.close(Some(close))).await;
        }
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
