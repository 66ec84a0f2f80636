//! The bounded queue of frames waiting to reach one session.
//!
//! Conversation actors push shared [`Frame`]s here from any thread; the
//! session's transport (a WebSocket writer, or an in-process test) drains it.
//! The queue is bounded in bytes: a push that would exceed the budget closes the
//! outbox with [`CloseReason::SlowConsumer`] and frees what was queued, so a
//! client that does not read can never grow the server's memory.
//!
//! It also keeps the promise of `events.replay` for a resuming client: while a
//! new session may still be resuming (until it asks for anything but a replay,
//! or the resume window passes), conversation events are held back. A replay
//! of a conversation then sends its events first and drops what was held of
//! it, which the replay covers: nothing twice, each `seq` in order.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use tokio::sync::watch;

use crate::model::ConversationId;
use crate::protocol::Frame;

/// Why a session ended. Logged once and counted in metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The client closed or dropped its session.
    ClientClosed,
    /// More than the outbox budget was queued for it.
    SlowConsumer,
    /// No frame from the client within the idle timeout.
    IdleTimeout,
    /// The client broke the WebSocket protocol.
    ProtocolError,
    /// The client sent a text frame that is not UTF-8.
    InvalidText,
    /// The client sent a frame over the size limit.
    FrameTooLarge,
    /// The client kept exceeding the rate limit.
    RateLimited,
    /// The socket could not be written within the write deadline.
    WriteTimeout,
    /// The engine or server is shutting down.
    Shutdown,
}

impl CloseReason {
    /// A short snake_case name, for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "client_closed",
            CloseReason::SlowConsumer => "slow_consumer",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::ProtocolError => "protocol_error",
            CloseReason::InvalidText => "invalid_text",
            CloseReason::FrameTooLarge => "frame_too_large",
            CloseReason::RateLimited => "rate_limited",
            CloseReason::WriteTimeout => "write_timeout",
            CloseReason::Shutdown => "shutdown",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

#[derive(Default)]
struct Queue {
    frames: VecDeque<Frame>,
    /// Bytes of `frames`.
    bytes: usize,
    closed: Option<CloseReason>,
    /// Conversation events held back while the session may be resuming
    /// (boxed: a few hundred ms of a session's life, and every outbox has one).
    resume: Option<Box<Resume>>,
}

/// What a resuming session holds back.
#[derive(Default)]
struct Resume {
    held: VecDeque<(ConversationId, Frame)>,
    /// Bytes of `held`: they count against the budget too.
    bytes: usize,
    /// Conversations already replayed (or new to the session): not held.
    released: FastMap<ConversationId, ()>,
}

impl Queue {
    /// Bytes counted against the budget.
    fn total_bytes(&self) -> usize {
        self.bytes + self.resume.as_ref().map_or(0, |r| r.bytes)
    }

    fn enqueue(&mut self, frame: Frame) {
        self.bytes += frame.len();
        self.frames.push_back(frame);
    }

    /// Moves the held events of `c` (or of every conversation) into the queue,
    /// in the order they came, and stops holding them.
    fn release(&mut self, c: Option<ConversationId>) {
        let Some(resume) = self.resume.as_mut() else {
            return;
        };
        let held: VecDeque<_> = match c {
            None => std::mem::take(&mut resume.held),
            Some(c) => {
                resume.released.insert(c, ());
                let (mine, others) = std::mem::take(&mut resume.held)
                    .into_iter()
                    .partition(|(hc, _)| *hc == c);
                resume.held = others;
                mine
            }
        };
        resume.bytes -= held.iter().map(|(_, f)| f.len()).sum::<usize>();
        if c.is_none() {
            self.resume = None;
        }
        for (_, frame) in held {
            self.enqueue(frame);
        }
    }

    /// Drops the held events of `c`, which a replay has just covered.
    fn drop_held(&mut self, c: ConversationId) {
        let Some(resume) = self.resume.as_mut() else {
            return;
        };
        resume.released.insert(c, ());
        let mut freed = 0;
        resume.held.retain(|(hc, f)| {
            let keep = *hc != c;
            if !keep {
                freed += f.len();
            }
            keep
        });
        resume.bytes -= freed;
    }

    fn holds(&self, c: ConversationId) -> bool {
        self.resume
            .as_ref()
            .is_some_and(|r| !r.released.contains_key(&c))
    }
}

/// A byte-bounded, single-consumer queue of frames.
pub struct Outbox {
    queue: Mutex<Queue>,
    /// The one consumer's waker: woken when the queue becomes non-empty or closes.
    ready: AtomicWaker,
    /// Frames taken out so far: the consumer's progress.
    drained: AtomicU64,
    /// Set once, when the outbox closes, for whoever waits on [`Outbox::wait_closed`].
    closed_signal: watch::Sender<Option<CloseReason>>,
    /// Set when the user joined or left a conversation, for
    /// [`Outbox::membership_changed`].
    membership: AtomicBool,
    membership_waker: AtomicWaker,
    max_bytes: usize,
}

impl fmt::Debug for Outbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = self.lock();
        f.debug_struct("Outbox")
            .field("frames", &q.frames.len())
            .field("bytes", &q.total_bytes())
            .field("closed", &q.closed)
            .finish()
    }
}

impl Outbox {
    /// An open outbox that holds at most `max_bytes` of queued frames.
    pub fn new(max_bytes: usize) -> Self {
        Self::with_queue(max_bytes, Queue::default())
    }

    /// An outbox for a session that may be resuming: conversation events are
    /// held until [`Outbox::release`] (or a replay of their conversation).
    pub fn resuming(max_bytes: usize) -> Self {
        Self::with_queue(
            max_bytes,
            Queue {
                resume: Some(Box::default()),
                ..Queue::default()
            },
        )
    }

    fn with_queue(max_bytes: usize, queue: Queue) -> Self {
        Outbox {
            queue: Mutex::new(queue),
            ready: AtomicWaker::new(),
            drained: AtomicU64::new(0),
            closed_signal: watch::channel(None).0,
            membership: AtomicBool::new(false),
            membership_waker: AtomicWaker::new(),
            max_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding this lock cannot leave the queue inconsistent
        // (every update is a single push/pop with its byte count), so poisoning is ignored.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a frame (an answer or a personal event). Returns false when the
    /// outbox is closed, or closes it now because the frame would exceed the
    /// byte budget.
    pub fn push(&self, frame: Frame) -> bool {
        self.push_to(None, frame)
    }

    /// Queues an event of conversation `c`: held while the session may be
    /// resuming. Returns false like [`Outbox::push`].
    pub fn push_event(&self, c: ConversationId, frame: Frame) -> bool {
        self.push_to(Some(c), frame)
    }

    fn push_to(&self, event_of: Option<ConversationId>, frame: Frame) -> bool {
        let mut q = self.lock();
        if !self.admit(&mut q, frame.len()) {
            return false;
        }
        if let Some(c) = event_of.filter(|c| q.holds(*c)) {
            if let Some(r) = q.resume.as_mut() {
                r.bytes += frame.len();
                r.held.push_back((c, frame));
            }
            return true;
        }
        let was_empty = q.frames.is_empty();
        q.enqueue(frame);
        self.woken_if(q, was_empty);
        true
    }

    /// A personal event about joining or leaving conversation `c`: what is
    /// held of `c` goes first, so the session sees them in the order they
    /// happened.
    pub fn push_membership(&self, c: ConversationId, frame: Frame) -> bool {
        let mut q = self.lock();
        let was_empty = q.frames.is_empty();
        q.release(Some(c));
        if !self.admit(&mut q, frame.len()) {
            return false;
        }
        q.enqueue(frame);
        self.woken_if(q, was_empty);
        self.membership.store(true, Ordering::Release);
        self.membership_waker.wake();
        true
    }

    /// Resolves once the session's user has joined or left a conversation
    /// since it last resolved: the transport then looks again at which
    /// thread the session should run on.
    pub async fn membership_changed(&self) {
        poll_fn(|cx| {
            if self.membership.swap(false, Ordering::AcqRel) {
                return Poll::Ready(());
            }
            self.membership_waker.register(cx.waker());
            if self.membership.swap(false, Ordering::AcqRel) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }

    /// Answers `events.replay` of conversation `c` for this session: queues
    /// `events` (in seq order) and drops what was held of `c`, which they
    /// cover. With `events` None (the server no longer holds them all) the
    /// held events are released instead.
    pub fn replay(&self, c: ConversationId, events: Option<impl Iterator<Item = Frame>>) {
        let mut q = self.lock();
        let was_empty = q.frames.is_empty();
        let Some(events) = events else {
            q.release(Some(c));
            self.woken_if(q, was_empty);
            return;
        };
        for frame in events {
            if !self.admit(&mut q, frame.len()) {
                return;
            }
            q.enqueue(frame);
        }
        q.drop_held(c);
        self.woken_if(q, was_empty);
    }

    /// Stops holding anything back: the session is past resuming.
    pub fn release(&self) {
        let mut q = self.lock();
        if q.resume.is_none() {
            return;
        }
        let was_empty = q.frames.is_empty();
        q.release(None);
        self.woken_if(q, was_empty);
    }

    /// Whether `len` more bytes fit the budget; false if the outbox is closed,
    /// or closes it now as a slow consumer, freeing its frames.
    fn admit(&self, q: &mut MutexGuard<'_, Queue>, len: usize) -> bool {
        if q.closed.is_some() {
            return false;
        }
        if q.total_bytes() + len > self.max_bytes {
            q.closed = Some(CloseReason::SlowConsumer);
            q.frames = VecDeque::new();
            q.resume = None;
            q.bytes = 0;
            self.signal_closed(CloseReason::SlowConsumer);
            return false;
        }
        true
    }

    /// Unlocks, then wakes the consumer if the queue was empty before: it
    /// drains until empty before it waits, so only the push that makes the
    /// queue non-empty needs to wake it.
    fn woken_if(&self, q: MutexGuard<'_, Queue>, was_empty: bool) {
        let wake = was_empty && !q.frames.is_empty();
        drop(q);
        if wake {
            self.ready.wake();
        }
    }

    /// Closes the outbox. Frames already queued can still be drained; the first
    /// reason given wins.
    pub fn close(&self, reason: CloseReason) {
        let mut q = self.lock();
        let first = q.closed.is_none();
        if first {
            q.closed = Some(reason);
        }
        drop(q);
        if first {
            self.signal_closed(reason);
        }
    }

    fn signal_closed(&self, reason: CloseReason) {
        self.closed_signal.send_replace(Some(reason));
        self.ready.wake();
    }

    /// Wakes the consumer without queuing anything (it has other work, e.g.
    /// control frames of its transport).
    pub fn wake(&self) {
        self.ready.wake();
    }

    /// Frames taken out by the consumer so far.
    pub fn drained(&self) -> u64 {
        self.drained.load(Ordering::Relaxed)
    }

    /// Moves queued frames into `into`, from the oldest, until at least
    /// `max_bytes` are taken or none are left, registering `cx` to be woken for
    /// more. What is not taken stays queued and counted against the budget, so a
    /// consumer that takes in bounded steps never holds more than the budget
    /// plus one step. Answers the close reason once closed and empty.
    pub fn poll_take(
        &self,
        cx: &mut Context<'_>,
        into: &mut VecDeque<Frame>,
        max_bytes: usize,
    ) -> Poll<Result<(), CloseReason>> {
        // Register before looking, so that a push in between is not missed.
        self.ready.register(cx.waker());
        match self.try_take(into, max_bytes) {
            Ok(true) => Poll::Ready(Ok(())),
            Ok(false) => Poll::Pending,
            Err(reason) => Poll::Ready(Err(reason)),
        }
    }

    /// Registers `cx` to be woken for more, and answers whether there is
    /// something to take (frames, or the close reason) now.
    pub fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.ready.register(cx.waker());
        let q = self.lock();
        if q.frames.is_empty() && q.closed.is_none() {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }

    /// [`Outbox::poll_take`] without waiting: answers whether frames were
    /// taken, or the close reason once closed and empty.
    pub fn try_take(
        &self,
        into: &mut VecDeque<Frame>,
        max_bytes: usize,
    ) -> Result<bool, CloseReason> {
        let mut q = self.lock();
        if !q.frames.is_empty() {
            let before = into.len();
            let taken = if q.bytes <= max_bytes && into.is_empty() {
                // All of it: swap buffers instead of moving frame by frame.
                std::mem::swap(&mut q.frames, into);
                q.bytes
            } else {
                let mut taken = 0;
                while taken < max_bytes {
                    let Some(f) = q.frames.pop_front() else { break };
                    taken += f.len();
                    into.push_back(f);
                }
                taken
            };
            q.bytes -= taken;
            drop(q);
            self.drained
                .fetch_add((into.len() - before) as u64, Ordering::Relaxed);
            return Ok(true);
        }
        match q.closed {
            Some(reason) => Err(reason),
            None => Ok(false),
        }
    }

    /// Waits until the outbox is closed; answers why. A writer blocked on a slow
    /// socket races its write against this, so that closing is never delayed by it.
    pub async fn wait_closed(&self) -> CloseReason {
        let mut rx = self.closed_signal.subscribe();
        let reason = match rx.wait_for(Option::is_some).await {
            Ok(r) => *r,
            // The sender lives as long as the outbox: unreachable, but harmless.
            Err(_) => None,
        };
        reason.unwrap_or(CloseReason::Shutdown)
    }

    /// Why it was closed, if it was.
    pub fn closed(&self) -> Option<CloseReason> {
        self.lock().closed
    }

    /// Bytes queued (or held) now.
    pub fn queued_bytes(&self) -> usize {
        self.lock().total_bytes()
    }

    /// Takes the next frame without waiting.
    pub fn try_recv(&self) -> Option<Frame> {
        let mut q = self.lock();
        let f = q.frames.pop_front()?;
        q.bytes -= f.len();
        drop(q);
        self.drained.fetch_add(1, Ordering::Relaxed);
        Some(f)
    }

    /// Waits for the next frame; after close, drains what is left, then answers
    /// the close reason.
    pub async fn recv(&self) -> Result<Frame, CloseReason> {
        poll_fn(|cx| {
            self.ready.register(cx.waker());
            if let Some(f) = self.try_recv() {
                return Poll::Ready(Ok(f));
            }
            match self.lock().closed {
                Some(reason) => Poll::Ready(Err(reason)),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// Waits until at least one frame is queued, then moves every queued frame
    /// into `out`, so that a writer can send them in one write.
    pub async fn recv_batch(&self, out: &mut Vec<Frame>) -> Result<(), CloseReason> {
        let mut taken = VecDeque::new();
        poll_fn(|cx| self.poll_take(cx, &mut taken, usize::MAX)).await?;
        out.extend(taken);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: usize) -> Frame {
        Frame::from("x".repeat(n))
    }

    #[test]
    fn over_budget_closes_and_frees() {
        let o = Outbox::new(10);
        assert!(o.push(frame(6)));
        assert_eq!(o.queued_bytes(), 6);
        assert!(!o.push(frame(6)));
        assert_eq!(o.closed(), Some(CloseReason::SlowConsumer));
        assert_eq!(o.queued_bytes(), 0);
        assert!(!o.push(frame(1)));
    }

    #[tokio::test]
    async fn drains_then_reports_close() {
        let o = Outbox::new(100);
        o.push(frame(1));
        o.push(frame(2));
        o.close(CloseReason::Shutdown);
        let mut out = Vec::new();
        o.recv_batch(&mut out).await.unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(o.recv().await, Err(CloseReason::Shutdown));
    }

    #[test]
    fn takes_in_bounded_steps() {
        let o = Outbox::new(100);
        for _ in 0..5 {
            o.push(frame(10));
        }
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut into = VecDeque::new();
        assert!(o.poll_take(&mut cx, &mut into, 15).is_ready());
        assert_eq!((into.len(), o.queued_bytes(), o.drained()), (2, 30, 2));
        into.clear();
        assert!(o.poll_take(&mut cx, &mut into, 1000).is_ready());
        assert_eq!((into.len(), o.queued_bytes(), o.drained()), (3, 0, 5));
        into.clear();
        assert!(o.poll_take(&mut cx, &mut into, 1000).is_pending());
    }

    #[tokio::test]
    async fn close_wakes_who_waits_for_it() {
        let o = std::sync::Arc::new(Outbox::new(4));
        let o2 = o.clone();
        let waiter = tokio::spawn(async move { o2.wait_closed().await });
        tokio::task::yield_now().await;
        o.push(frame(5));
        assert_eq!(waiter.await.unwrap(), CloseReason::SlowConsumer);
        assert_eq!(o.wait_closed().await, CloseReason::SlowConsumer);
    }

    #[tokio::test]
    async fn wakes_a_waiting_consumer() {
        let o = std::sync::Arc::new(Outbox::new(100));
        let o2 = o.clone();
        let waiter = tokio::spawn(async move { o2.recv().await });
        tokio::task::yield_now().await;
        o.push(frame(3));
        assert_eq!(waiter.await.unwrap().unwrap().len(), 3);
    }
}
