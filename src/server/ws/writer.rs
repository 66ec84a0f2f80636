//! Socket writers, flushed once per turn of their thread's event loop.
//!
//! A fanout pushes into many outboxes, one message after another. Were each
//! push to wake a task that writes its socket, the write would run between two
//! messages and carry a single frame. Instead each thread has a [`Flusher`]:
//! a push into an empty outbox only notes its writer there, and once the event
//! loop has run everything else it had to run, the flusher writes every noted
//! socket in one pass. Each write then carries every frame of that turn.
//!
//! A turn that read requests waits for the next one (up to [`GATHER_TURNS`]
//! more): the tasks that answer those requests and fan their events out run
//! after the flusher in the turn they were read, so a pass at that point
//! would leave their frames to a write of their own. A turn that read none
//! (light load) is flushed at once, as before.
//!
//! A push from another thread's event loop (a conversation fanning out to
//! sessions on this thread) does not wake this thread's flusher at once:
//! that thread's own flusher wakes it at the end of its turn, so this thread
//! wakes once for every message of that turn instead of once per message.
//!
//! The flusher never waits on a socket. A socket that cannot take a whole
//! batch is handed to its writer's own task, which waits for it to drain (at
//! most the write deadline each time) and then hands it back.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::poll_fn;
use std::io::ErrorKind;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use futures_util::task::AtomicWaker;
use tokio::net::TcpStream;

use super::socket::{Batch, ControlQueue};
use crate::delivery::work_done;
use crate::protocol::Encoding;
use crate::session::{CloseReason, Outbox};

/// At most how many more turns a flush waits while each turn reads requests.
/// With ten subscribers, 16 messages in flight and a server pinned to one
/// core, three cut the CPU per delivery by a third (see docs/BENCHMARKS.md).
const GATHER_TURNS: usize = 3;

/// How long a closed connection waits for the client's own close before the
/// socket is dropped (dropping it with unread data would reset it, and the
/// client could lose our close frame).
const LINGER: Duration = Duration::from_secs(1);

/// The writers of one thread with frames to send since the last flush.
#[derive(Default)]
struct Flusher {
    noted: Mutex<Vec<u64>>,
    task: AtomicWaker,
}

impl Flusher {
    fn note(self: &Arc<Self>, key: u64) {
        let mut noted = self.noted.lock().unwrap_or_else(|p| p.into_inner());
        let first = noted.is_empty();
        noted.push(key);
        drop(noted);
        if first {
            self.wake_soon();
        }
    }

    /// Wakes this flusher's task: at once from its own thread or from one
    /// without a flusher (the store's, NATS's); from another thread's event
    /// loop, at the end of that thread's turn, by its own flusher. A fanout
    /// there pushes one message after another, and woken at the first, this
    /// thread would write each socket once per message.
    fn wake_soon(self: &Arc<Self>) {
        let deferred = FLUSHER
            .try_with(|local| match local.borrow().as_ref() {
                Some(local) if !Arc::ptr_eq(local, self) => {
                    OWED.with(|d| d.0.borrow_mut().push(self.clone()));
                    local.task.wake();
                    true
                }
                _ => false,
            })
            .unwrap_or(false);
        if !deferred {
            self.task.wake();
        }
    }

    /// Runs for as long as its thread's event loop does.
    async fn run(self: Arc<Self>) {
        // Should this thread's loop stop, the flushers it owes a wake get it.
        let _owed = WakeOwed;
        let mut keys = Vec::new();
        let mut batch: Vec<Rc<Writer>> = Vec::new();
        loop {
            poll_fn(|cx| {
                self.task.register(cx.waker());
                let idle = self
                    .noted
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .is_empty()
                    && OWED.with(|d| d.0.borrow().is_empty());
                if idle {
                    Poll::Pending
                } else {
                    Poll::Ready(())
                }
            })
            .await;
            // Back after the runtime has run its ready tasks and polled for I/O:
            // the end of this turn. Requests that poll read are answered by
            // tasks queued behind this one: let them push first.
            let mut read = work_done();
            tokio::task::yield_now().await;
            for _ in 0..GATHER_TURNS {
                let now = work_done();
                if now == read {
                    break;
                }
                read = now;
                tokio::task::yield_now().await;
            }
            // The other threads start writing while this one does.
            OWED.with(Owed::wake_all);
            std::mem::swap(
                &mut keys,
                &mut *self.noted.lock().unwrap_or_else(|p| p.into_inner()),
            );
            // One look into the thread's writers for the whole pass.
            WRITERS.with(|ws| {
                let ws = ws.borrow();
                batch.extend(keys.drain(..).filter_map(|k| ws.get(&k).cloned()));
            });
            for w in batch.drain(..) {
                w.flush();
            }
        }
    }
}

/// Other threads' flushers to wake at the end of this thread's turn.
#[derive(Default)]
struct Owed(RefCell<Vec<Arc<Flusher>>>);

impl Owed {
    fn wake_all(&self) {
        // One at a time, so that no borrow is held while waking, and the
        // list keeps its capacity for the next turn.
        loop {
            let Some(f) = self.0.borrow_mut().pop() else {
                return;
            };
            f.task.wake();
        }
    }
}

impl Drop for Owed {
    fn drop(&mut self) {
        self.wake_all();
    }
}

/// When this thread's flusher task is dropped (its event loop stopped):
/// wakes what the thread owes, and has later pushes wake other threads at
/// once, since no turn of this thread will.
struct WakeOwed;

impl Drop for WakeOwed {
    fn drop(&mut self) {
        let _ = FLUSHER.try_with(|f| f.try_borrow_mut().map(|mut f| f.take()));
        let _ = OWED.try_with(Owed::wake_all);
    }
}

thread_local! {
    static OWED: Owed = Owed::default();
    static FLUSHER: RefCell<Option<Arc<Flusher>>> = const { RefCell::new(None) };
    // Keys are a counter's, looked up once per noted writer per pass: a fast hash.
    static WRITERS: RefCell<HashMap<u64, Rc<Writer>, foldhash::fast::RandomState>> =
        RefCell::new(HashMap::default());
    static NEXT_KEY: Cell<u64> = const { Cell::new(0) };
    /// The buffer every writer of the thread encodes into: writes happen one
    /// at a time, so one buffer serves them all, and an idle socket holds none.
    static BATCH: RefCell<Batch> = RefCell::new(Batch::default());
}

/// This thread's flusher; the first call starts its task.
fn flusher() -> Arc<Flusher> {
    FLUSHER.with(|f| {
        f.borrow_mut()
            .get_or_insert_with(|| {
                let flusher = Arc::new(Flusher::default());
                actix_rt::spawn(flusher.clone().run());
                flusher
            })
            .clone()
    })
}

/// The outbox's waker for one writer: notes it with its thread's flusher.
struct Note {
    flusher: Arc<Flusher>,
    key: u64,
}

impl Wake for Note {
    fn wake(self: Arc<Self>) {
        self.flusher.note(self.key);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.flusher.note(self.key);
    }
}

/// Who writes the socket now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The flusher, each turn the outbox has frames.
    Flusher,
    /// The writer's task: the socket was full.
    Stalled,
    /// Nobody: the close frame is out, the socket broke, or the session moved
    /// to another thread; the task finishes.
    Done,
}

/// What one flush came to.
enum Step {
    /// Everything is written; the outbox is watched again.
    Idle,
    /// The socket is full; bytes are pending.
    Full,
    /// The close frame is written.
    Closed,
    /// The socket broke.
    Broken,
}

/// One socket's writing side.
struct Writer {
    key: u64,
    io: Rc<TcpStream>,
    outbox: Arc<Outbox>,
    control: Rc<ControlQueue>,
    /// The frames' encoding this client asked for at connect.
    encoding: Encoding,
    /// Registered with the outbox: a push notes this writer with the flusher.
    note: Waker,
    /// Bytes a full socket did not take yet.
    pending: RefCell<BytesMut>,
    closing: Cell<bool>,
    mode: Cell<Mode>,
    /// The writer's task, woken when the flusher hands the socket over.
    task: RefCell<Option<Waker>>,
}

impl Writer {
    /// Writes what is queued, as far as the socket takes it without waiting.
    fn write_now(&self) -> Step {
        // A full socket's leftovers first.
        {
            let mut pending = self.pending.borrow_mut();
            let (written, stopped) = self.write_some(&pending);
            pending.advance(written);
            if let Some(step) = stopped {
                return step;
            }
            *pending = BytesMut::new();
        }
        if self.closing.get() {
            return Step::Closed;
        }
        BATCH.with(|batch| {
            let mut batch = batch.borrow_mut();
            loop {
                // Watch the outbox before taking from it, so no push goes unnoticed.
                let _ = self.outbox.poll_ready(&mut Context::from_waker(&self.note));
                let closing = batch
                    .fill(&self.outbox, &self.control, self.encoding)
                    .is_some();
                self.closing.set(closing);
                if batch.buf.is_empty() {
                    return Step::Idle;
                }
                let (written, stopped) = self.write_some(&batch.buf);
                if let Some(Step::Full) = stopped {
                    *self.pending.borrow_mut() = BytesMut::from(&batch.buf[written..]);
                }
                batch.buf.clear();
                match stopped {
                    Some(step) => return step,
                    None if closing => return Step::Closed,
                    None => {}
                }
            }
        })
    }

    /// Writes `buf` as far as the socket takes it now: answers the bytes
    /// written, and why it stopped short (`Full` or `Broken`) if it did.
    fn write_some(&self, buf: &[u8]) -> (usize, Option<Step>) {
        let mut written = 0;
        while written < buf.len() {
            match self.io.try_write(&buf[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return (written, Some(Step::Full)),
                Err(_) => return (written, Some(Step::Broken)),
            }
        }
        (written, None)
    }

    /// Called by the flusher.
    fn flush(&self) {
        if self.mode.get() != Mode::Flusher {
            return;
        }
        match self.write_now() {
            Step::Idle => {}
            Step::Full => self.hand_to_task(Mode::Stalled),
            Step::Closed => self.hand_to_task(Mode::Done),
            Step::Broken => {
                self.outbox.close(CloseReason::ClientClosed);
                self.hand_to_task(Mode::Done);
            }
        }
    }

    fn hand_to_task(&self, mode: Mode) {
        self.mode.set(mode);
        if let Some(t) = self.task.borrow_mut().take() {
            t.wake();
        }
    }

    /// Waits until the flusher hands the socket over.
    async fn handed_over(&self) -> Mode {
        poll_fn(|cx| match self.mode.get() {
            Mode::Flusher => {
                *self.task.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
            mode => Poll::Ready(mode),
        })
        .await
    }
}

/// The session's hold on its writer, to move the session to another thread.
pub(crate) struct Handle(Rc<Writer>);

impl Handle {
    /// Whether nothing is on its way to the socket: no bytes wait for a full
    /// socket and no close is under way.
    pub fn idle(&self) -> bool {
        let w = &self.0;
        w.mode.get() == Mode::Flusher && w.pending.borrow().is_empty() && !w.closing.get()
    }

    /// The socket it writes.
    pub fn socket(&self) -> Rc<TcpStream> {
        self.0.io.clone()
    }

    /// The frames' encoding its client asked for.
    pub fn encoding(&self) -> Encoding {
        self.0.encoding
    }

    /// Stops writing, without a close: the writer's task ends and lets go of
    /// the socket. Frames pushed from now on wait in the outbox for the writer
    /// started on the session's new thread.
    pub fn detach(&self) {
        WRITERS.with(|ws| ws.borrow_mut().remove(&self.0.key));
        self.0.hand_to_task(Mode::Done);
    }
}

/// Starts writing the session's frames to the socket on this thread (an
/// engine arbiter), until the outbox closes: then the close frame goes out and
/// the connection ends.
pub(crate) fn start(
    io: Rc<TcpStream>,
    outbox: Arc<Outbox>,
    control: Rc<ControlQueue>,
    encoding: Encoding,
    write_timeout: Duration,
) -> Handle {
    let key = NEXT_KEY.with(|k| {
        let key = k.get();
        k.set(key + 1);
        key
    });
    let note = Waker::from(Arc::new(Note {
        flusher: flusher(),
        key,
    }));
    let writer = Rc::new(Writer {
        key,
        io,
        outbox,
        control,
        encoding,
        note,
        pending: RefCell::new(BytesMut::new()),
        closing: Cell::new(false),
        mode: Cell::new(Mode::Flusher),
        task: RefCell::new(None),
    });
    WRITERS.with(|ws| ws.borrow_mut().insert(key, writer.clone()));
    // The first flush sends what is already queued (`ready`, or what came
    // while the session moved here).
    writer.note.wake_by_ref();
    let handle = Handle(writer.clone());
    actix_rt::spawn(async move {
        drive(&writer, write_timeout).await;
        WRITERS.with(|ws| ws.borrow_mut().remove(&writer.key));
        if writer.closing.get() {
            Box::pin(linger(&writer.io)).await;
        }
    });
    handle
}

/// The writer's task: takes over a full socket until it drains.
async fn drive(w: &Writer, write_timeout: Duration) {
    loop {
        if w.handed_over().await == Mode::Done {
            return;
        }
        // Boxed: an idle writer's task then holds no timer or readiness state.
        if !Box::pin(drain(w, write_timeout)).await {
            return;
        }
    }
}

/// Waits for a full socket to take its pending bytes, at most the write
/// deadline each time; answers whether the flusher has it back (false: the
/// connection is over).
async fn drain(w: &Writer, write_timeout: Duration) -> bool {
    loop {
        let reason = match tokio::time::timeout(write_timeout, w.io.writable()).await {
            Err(_) => CloseReason::WriteTimeout,
            Ok(Err(_)) => CloseReason::ClientClosed,
            Ok(Ok(())) => match w.write_now() {
                Step::Full => continue,
                Step::Idle => {
                    w.mode.set(Mode::Flusher);
                    return true;
                }
                Step::Closed => return false,
                Step::Broken => CloseReason::ClientClosed,
            },
        };
        if reason == CloseReason::WriteTimeout {
            log::warn!("a socket took no data for {write_timeout:?}: dropping it");
        }
        // No close frame can get through: just close.
        w.closing.set(false);
        w.outbox.close(reason);
        return false;
    }
}

/// After our close frame: tell the client we are done writing, and read (and
/// drop) what it still sends until it closes too, for at most [`LINGER`].
async fn linger(io: &TcpStream) {
    let _ = socket2::SockRef::from(io).shutdown(std::net::Shutdown::Write);
    let drain = async {
        let mut scratch = [0u8; 512];
        loop {
            if io.readable().await.is_err() {
                return;
            }
            match io.try_read(&mut scratch) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}
