//! A minimal WebSocket client for subscribers.
//!
//! Reading is the load generator's hot path: with tungstenite's reader (a copy
//! and a UTF-8 check per frame) the client ran out of CPU before the server
//! did, and a benchmark whose client is saturated measures the client. This
//! reads frames in place from one buffer and hands out their payloads.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const OP_TEXT: u8 = 1;
const OP_CLOSE: u8 = 8;
const OP_PING: u8 = 9;

pub struct RawWs {
    tcp: TcpStream,
    buf: Vec<u8>,
    /// Consumed up to here.
    pos: usize,
    /// Filled up to here.
    len: usize,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

impl RawWs {
    /// Connects to `http://host:port` and upgrades at `path_and_query`.
    pub async fn connect(base: &str, path_and_query: &str) -> io::Result<RawWs> {
        let host = base
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// URLs"))?
            .trim_end_matches('/');
        let tcp = TcpStream::connect(host).await?;
        tcp.set_nodelay(true)?;
        let mut ws = RawWs {
            tcp,
            buf: vec![0; 64 * 1024],
            pos: 0,
            len: 0,
        };
        let request = format!(
            "GET {path_and_query} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        ws.tcp.write_all(request.as_bytes()).await?;
        loop {
            if let Some(end) = memchr::memmem::find(&ws.buf[..ws.len], b"\r\n\r\n") {
                if !ws.buf.starts_with(b"HTTP/1.1 101") {
                    return Err(bad("upgrade refused"));
                }
                ws.pos = end + 4;
                return Ok(ws);
            }
            ws.fill().await?;
        }
    }

    /// Reads more bytes, compacting or growing the buffer as needed.
    async fn fill(&mut self) -> io::Result<()> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.len, 0);
            self.len -= self.pos;
            self.pos = 0;
        }
        if self.len == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = self.tcp.read(&mut self.buf[self.len..]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.len += n;
        Ok(())
    }

    /// The next complete frame in the buffer: opcode and payload range.
    fn parse(&self) -> Option<(u8, usize, usize)> {
        let b = &self.buf[self.pos..self.len];
        if b.len() < 2 {
            return None;
        }
        let op = b[0] & 0x0f;
        let (len, head) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() >= 10 => (u64::from_be_bytes(b[2..10].try_into().ok()?) as usize, 10),
            126 | 127 => return None,
            n => (n as usize, 2),
        };
        (b.len() >= head + len).then_some((op, self.pos + head, self.pos + head + len))
    }

    /// The payload of the next text frame; None once the server closed.
    /// Cancel-safe: a frame is consumed only when returned.
    pub async fn next_text(&mut self) -> Option<&[u8]> {
        loop {
            match self.parse() {
                Some((op, start, end)) => {
                    self.pos = end;
                    match op {
                        OP_TEXT => return Some(&self.buf[start..end]),
                        OP_CLOSE => return None,
                        OP_PING => {
                            let payload = self.buf[start..end].to_vec();
                            self.send(0xA, &payload).await.ok()?;
                        }
                        _ => {}
                    }
                }
                None => self.fill().await.ok()?,
            }
        }
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, text: &str) -> io::Result<()> {
        self.send(OP_TEXT, text.as_bytes()).await
    }

    async fn send(&mut self, op: u8, payload: &[u8]) -> io::Result<()> {
        // Client frames are masked; a zero key leaves the payload as is.
        let mut frame = vec![0x80 | op];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= u16::MAX as usize => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&[0, 0, 0, 0]);
        frame.extend_from_slice(payload);
        self.tcp.write_all(&frame).await
    }
}
