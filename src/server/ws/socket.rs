//! One WebSocket's bytes: a [`Reader`] that turns the socket into client
//! messages, and the [`Batch`] a writer encodes queued frames into.
//!
//! The socket is ours once upgraded (not actix-http's): both halves run on the
//! engine arbiter that hosts conversations, so a fanout reaches the writer with
//! no thread hop, and an idle socket holds no buffer at all.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::ErrorKind;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{ready, Context, Poll, Waker};

use actix_http::ws::CloseCode;
use actix_http::ws::{Codec, Frame as WsFrame, Item, Message as WsMessage, ProtocolError};
use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;
use socket2::SockRef;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio_util::codec::{Decoder, Encoder};
use tungstenite::protocol::frame::FrameHeader;

use crate::protocol::{Encoding, Frame};
use crate::session::{CloseReason, Outbox};

/// Control frames (pings, pongs) waiting for the writer: a client that never
/// reads cannot make them pile up past this.
const PENDING_CONTROL: usize = 16;

/// Bytes one write takes from the outbox at most: many frames per write, but a
/// bounded buffer per socket (the rest stays counted against the outbox budget).
const CHUNK_BYTES: usize = 256 * 1024;

/// How much a read asks the kernel for.
const READ_BYTES: usize = 4096;

/// The close code the contract gives each reason.
pub(crate) fn close_code(reason: CloseReason) -> CloseCode {
    match reason {
        CloseReason::ClientClosed => CloseCode::Normal,
        CloseReason::SlowConsumer => CloseCode::Other(4008),
        CloseReason::IdleTimeout | CloseReason::Shutdown => CloseCode::Away,
        CloseReason::ProtocolError => CloseCode::Protocol,
        CloseReason::InvalidText => CloseCode::Invalid,
        CloseReason::FrameTooLarge => CloseCode::Size,
        CloseReason::RateLimited => CloseCode::Policy,
        CloseReason::WriteTimeout => CloseCode::Away,
    }
}

/// What a client sent, fragments already joined.
#[derive(Debug)]
pub(crate) enum Incoming {
    Text(ByteString),
    Binary(Bytes),
    /// Already answered by the reader.
    Ping,
    Pong,
    Close,
}

/// The client's messages, read straight off the socket. Ends at EOF; yields
/// one error (the reason to close) on a broken frame, then ends.
///
/// It answers pings itself, each with its pong: when the control queue is
/// full (a client pinging faster than it reads), it stops reading until the
/// writer has sent some, so pongs are neither dropped nor piled up.
pub(crate) struct Reader {
    io: Rc<TcpStream>,
    buf: BytesMut,
    codec: Codec,
    max_bytes: usize,
    /// A fragmented message being joined.
    partial: Option<Partial>,
    control: Rc<ControlQueue>,
    outbox: Arc<Outbox>,
    /// A pong the full control queue could not take yet.
    pong: Option<Bytes>,
    done: bool,
    handoff: Rc<Handoff>,
}

/// What the reader tells its session, which cannot reach into it (the
/// actor's context owns it), for moving the session to another thread.
#[derive(Default)]
pub(crate) struct Handoff {
    /// A fragmented message or a pong is under way: not a moment to move.
    midway: Cell<bool>,
    /// The session is moving: on drop, the reader leaves its unread bytes.
    leaving: Cell<bool>,
    leftover: RefCell<Option<BytesMut>>,
}

impl Handoff {
    pub fn midway(&self) -> bool {
        self.midway.get()
    }

    /// The reader is to leave its bytes behind when dropped.
    pub fn leave(&self) {
        self.leaving.set(true);
    }

    /// What the reader had read and not yet decoded, once it is dropped.
    pub fn take_leftover(&self) -> BytesMut {
        self.leftover.borrow_mut().take().unwrap_or_default()
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if self.handoff.leaving.get() {
            *self.handoff.leftover.borrow_mut() = Some(std::mem::take(&mut self.buf));
        }
    }
}

/// A fragmented message so far.
struct Partial {
    text: bool,
    bytes: BytesMut,
    /// How many leading bytes are known to be valid UTF-8 (text only).
    checked: usize,
}

impl Partial {
    /// Appends a fragment. Text is checked as it arrives, so invalid UTF-8
    /// fails the connection at the fragment that holds it, not at the last.
    fn extend(&mut self, more: &[u8]) -> Result<(), CloseReason> {
        self.bytes.extend_from_slice(more);
        if !self.text {
            return Ok(());
        }
        match std::str::from_utf8(&self.bytes[self.checked..]) {
            Ok(_) => self.checked = self.bytes.len(),
            // A code point cut at the end may be completed by the next fragment.
            Err(e) if e.error_len().is_none() => self.checked += e.valid_up_to(),
            Err(_) => return Err(CloseReason::InvalidText),
        }
        Ok(())
    }
}

impl Reader {
    /// `leftover` is what the HTTP layer read past the upgrade request.
    pub fn new(
        io: Rc<TcpStream>,
        leftover: BytesMut,
        max_bytes: usize,
        control: Rc<ControlQueue>,
        outbox: Arc<Outbox>,
        handoff: Rc<Handoff>,
    ) -> Self {
        Reader {
            handoff,
            io,
            buf: leftover,
            codec: Codec::new().max_size(max_bytes),
            max_bytes,
            partial: None,
            control,
            outbox,
            pong: None,
            done: false,
        }
    }

    fn message(text: bool, bytes: Bytes) -> Result<Incoming, CloseReason> {
        if !text {
            return Ok(Incoming::Binary(bytes));
        }
        ByteString::try_from(bytes)
            .map(Incoming::Text)
            .map_err(|_| CloseReason::InvalidText)
    }

    /// A decoded frame as a message, or None while a fragmented one is incomplete.
    fn on_frame(&mut self, frame: WsFrame) -> Option<Result<Incoming, CloseReason>> {
        let (first, more, last) = match frame {
            WsFrame::Text(b) => return Some(Self::message(true, b)),
            WsFrame::Binary(b) => return Some(Self::message(false, b)),
            WsFrame::Ping(p) => {
                self.pong = Some(p);
                return Some(Ok(Incoming::Ping));
            }
            WsFrame::Pong(_) => return Some(Ok(Incoming::Pong)),
            WsFrame::Close(_) => return Some(Ok(Incoming::Close)),
            WsFrame::Continuation(Item::FirstText(b)) => (Some(true), b, false),
            WsFrame::Continuation(Item::FirstBinary(b)) => (Some(false), b, false),
            WsFrame::Continuation(Item::Continue(b)) => (None, b, false),
            WsFrame::Continuation(Item::Last(b)) => (None, b, true),
        };
        if let Some(text) = first {
            self.partial = Some(Partial {
                text,
                bytes: BytesMut::new(),
                checked: 0,
            });
        }
        let Some(partial) = self.partial.as_mut() else {
            return Some(Err(CloseReason::ProtocolError));
        };
        if partial.bytes.len() + more.len() > self.max_bytes {
            return Some(Err(CloseReason::FrameTooLarge));
        }
        if let Err(reason) = partial.extend(&more) {
            return Some(Err(reason));
        }
        if !last {
            return None;
        }
        let partial = self.partial.take()?;
        Some(Self::message(partial.text, partial.bytes.freeze()))
    }

    /// Whether the frame starting the buffer already says it is over the
    /// limit: refused from its header, before its payload is read.
    fn announces_too_much(&self) -> bool {
        let mut cursor = std::io::Cursor::new(&self.buf[..]);
        let Ok(Some((_, len))) = FrameHeader::parse(&mut cursor) else {
            return false;
        };
        let joined = self.partial.as_ref().map_or(0, |p| p.bytes.len() as u64);
        len.saturating_add(joined) > self.max_bytes as u64
    }

    /// The next message from what is already buffered, decoding frame after
    /// frame (many small fragments may have come in one read), or None when
    /// more bytes are needed.
    fn decode(&mut self) -> Option<Result<Incoming, CloseReason>> {
        loop {
            if self.announces_too_much() {
                return Some(Err(CloseReason::FrameTooLarge));
            }
            match self.codec.decode(&mut self.buf) {
                Ok(Some(frame)) => {
                    if let Some(item) = self.on_frame(frame) {
                        return Some(item);
                    }
                }
                Ok(None) => return None,
                Err(e) => return Some(Err(reason_of(e))),
            }
        }
    }

    /// Hands the pending pong to the writer; false (and a wake-up later) while
    /// the control queue is full.
    fn send_pong(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(payload) = self.pong.take() else {
            return true;
        };
        match self.control.push(WsMessage::Pong(payload)) {
            Ok(()) => {
                self.outbox.wake();
                true
            }
            Err(WsMessage::Pong(payload)) => {
                self.pong = Some(payload);
                self.control.wait_for_room(cx.waker());
                self.outbox.wake();
                false
            }
            Err(_) => true,
        }
    }
}

fn reason_of(e: ProtocolError) -> CloseReason {
    match e {
        ProtocolError::Overflow => CloseReason::FrameTooLarge,
        // The codec reads no socket: its I/O errors are malformed frames
        // (reserved bits set, for one).
        _ => CloseReason::ProtocolError,
    }
}

impl futures_util::Stream for Reader {
    type Item = Result<Incoming, CloseReason>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let polled = this.poll_message(cx);
        this.handoff
            .midway
            .set(this.partial.is_some() || this.pong.is_some());
        polled
    }
}

impl Reader {
    fn poll_message(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Incoming, CloseReason>>> {
        let this = self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            if !this.send_pong(cx) {
                return Poll::Pending;
            }
            if let Some(item) = this.decode() {
                this.done = item.is_err();
                return Poll::Ready(Some(item));
            }
            if this.buf.is_empty() && this.buf.capacity() > 0 {
                // Nothing pending: an idle socket keeps no read buffer.
                this.buf = BytesMut::new();
            }
            if ready!(this.io.poll_read_ready(cx)).is_err() {
                this.done = true;
                return Poll::Ready(Some(Err(CloseReason::ClientClosed)));
            }
            // Read on the stack, kept at the size read: a 4 KiB buffer per
            // request was a request glibc serves only after merging all its
            // small free chunks, on every request of a chatty client.
            let mut chunk = [0u8; READ_BYTES];
            match read_some(&this.io, &mut chunk) {
                Ok(0) => this.done = true,
                Ok(n) => this.buf.extend_from_slice(&chunk[..n.min(READ_BYTES)]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(CloseReason::ClientClosed)));
                }
            }
        }
    }
}

/// Reads what the socket holds, up to `chunk`'s size. A short read means the
/// socket is drained: it is then marked not readable, as tokio's own
/// `poll_read` does, so the next poll waits for the next edge instead of
/// asking the kernel again only to hear `EAGAIN` (a second `recvfrom` per
/// request of a client that waits for each answer). `try_read` cannot do
/// this; `try_io` clears the readiness it saw before the read, so bytes that
/// came after the read still wake the reader.
fn read_some(io: &TcpStream, chunk: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    let read = io.try_io(Interest::READABLE, || {
        got = std::io::Read::read(&mut &*SockRef::from(io), chunk)?;
        if 0 < got && got < chunk.len() {
            Err(ErrorKind::WouldBlock.into())
        } else {
            Ok(got)
        }
    });
    match read {
        Err(e) if e.kind() == ErrorKind::WouldBlock && got > 0 => Ok(got),
        read => read,
    }
}

/// Control frames for the writer to send before data. The reader, the actor
/// and the writer share the session's thread.
#[derive(Debug, Default)]
pub(crate) struct ControlQueue {
    queue: RefCell<VecDeque<WsMessage>>,
    /// The reader, waiting for room for a pong.
    reader: RefCell<Option<Waker>>,
}

impl ControlQueue {
    pub fn is_empty(&self) -> bool {
        self.queue.borrow().is_empty()
    }

    /// Queues a frame; gives it back if the queue is full (the client does not read).
    pub fn push(&self, m: WsMessage) -> Result<(), WsMessage> {
        let mut q = self.queue.borrow_mut();
        if q.len() >= PENDING_CONTROL {
            return Err(m);
        }
        q.push_back(m);
        Ok(())
    }

    fn wait_for_room(&self, waker: &Waker) {
        *self.reader.borrow_mut() = Some(waker.clone());
    }

    fn pop(&self) -> Option<WsMessage> {
        let m = self.queue.borrow_mut().pop_front()?;
        if let Some(reader) = self.reader.borrow_mut().take() {
            reader.wake();
        }
        Some(m)
    }
}

/// Encodes what is queued for one socket into one buffer.
#[derive(Default)]
pub(crate) struct Batch {
    codec: Codec,
    pub buf: BytesMut,
    taken: VecDeque<Frame>,
}

impl Batch {
    fn encode(&mut self, m: WsMessage) {
        // Encoding our own frames into a growable buffer cannot fail.
        let _ = self.codec.encode(m, &mut self.buf);
    }

    /// Encodes the control frames, then up to a chunk of the outbox; answers
    /// the close reason once the outbox is closed and drained (its close frame
    /// is then the last thing encoded).
    pub fn fill(
        &mut self,
        outbox: &Outbox,
        control: &ControlQueue,
        encoding: Encoding,
    ) -> Option<CloseReason> {
        while let Some(c) = control.pop() {
            self.encode(c);
        }
        while self.buf.len() < CHUNK_BYTES {
            match outbox.try_take(&mut self.taken, CHUNK_BYTES - self.buf.len()) {
                Ok(true) => {
                    // Frame headers are at most 10 bytes.
                    self.buf
                        .reserve(self.taken.iter().map(|f| f.len() + 10).sum::<usize>());
                    for f in self.taken.drain(..) {
                        let text = f.text(encoding);
                        text_header(&mut self.buf, text.len());
                        self.buf.extend_from_slice(text.as_bytes());
                    }
                }
                Ok(false) => break,
                Err(reason) => {
                    self.encode(WsMessage::Close(Some(actix_http::ws::CloseReason {
                        code: close_code(reason),
                        description: Some(reason.as_str().into()),
                    })));
                    return Some(reason);
                }
            }
        }
        None
    }
}

/// Writes a server's text frame header (final, unmasked) for a payload of
/// `len` bytes, as RFC 6455 section 5.2 lays it out. By hand rather than
/// through the codec: the codec takes the text by value, which for a frame
/// shared by every recipient is a reference count bumped and dropped per
/// delivery.
fn text_header(buf: &mut BytesMut, len: usize) {
    buf.put_u8(0x81);
    match len {
        0..=125 => buf.put_u8(len as u8),
        126..=0xFFFF => {
            buf.put_u8(126);
            buf.put_u16(len as u16);
        }
        _ => {
            buf.put_u8(127);
            buf.put_u64(len as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our text frame headers are the codec's, at every length boundary.
    #[test]
    fn text_headers_match_the_codec() {
        for len in [0, 1, 125, 126, 127, 0xFFFF, 0x1_0000, 300_000] {
            let text = "x".repeat(len);
            let mut ours = BytesMut::new();
            text_header(&mut ours, len);
            ours.extend_from_slice(text.as_bytes());
            let mut theirs = BytesMut::new();
            Codec::new()
                .encode(WsMessage::Text(text.into()), &mut theirs)
                .expect("encoded");
            assert_eq!(ours, theirs, "{len} bytes");
        }
    }
}
