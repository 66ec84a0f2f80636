//! A WebSocket client at the byte level, for the hostile cases a well-behaved
//! library will not send: reserved bits, lying lengths, bursts in one write.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::util::WAIT;

pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CONTINUATION: u8 = 0x0;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// A client frame: FIN, the RSV bits given (`0b0111_0000` sets all three),
/// the opcode, masked as a client must.
pub fn frame(fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | rsv | opcode];
    header_len(&mut out, payload.len() as u64);
    let mask = [0x12, 0x34, 0x56, 0x78];
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// The header of a masked frame announcing `len` bytes, without the payload.
pub fn header_only(opcode: u8, len: u64) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    header_len(&mut out, len);
    out.extend_from_slice(&[0, 0, 0, 0]);
    out
}

fn header_len(out: &mut Vec<u8>, len: u64) {
    match len {
        0..=125 => out.push(0x80 | len as u8),
        126..=65535 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0x80 | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
}

/// A frame the server sent.
#[derive(Debug, PartialEq)]
pub enum Got {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>),
}

pub struct Raw {
    io: TcpStream,
    buf: Vec<u8>,
}

/// Sends an upgrade request with `extra` headers; answers the status line's
/// code and the whole response head.
pub async fn upgrade(addr: SocketAddr, path: &str, extra: &str) -> (TcpStream, u16, String) {
    let mut io = TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    );
    io.write_all(req.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(WAIT, io.read(&mut byte))
            .await
            .expect("a response in time")
            .expect("read");
        assert_eq!(n, 1, "the server closed during the handshake");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).expect("an ASCII head");
    let status = head[9..12].parse().expect("a status code");
    (io, status, head)
}

impl Raw {
    /// Upgrades as `identity` (dev mode) and reads the `ready` event.
    pub async fn connect(addr: SocketAddr, identity: &str) -> Raw {
        let path = format!("/v1/ws?identity={identity}");
        let (io, status, _) = upgrade(addr, &path, "Sec-WebSocket-Version: 13\r\n").await;
        assert_eq!(status, 101);
        let mut raw = Raw {
            io,
            buf: Vec::new(),
        };
        match raw.next(WAIT).await {
            Some(Got::Text(t)) => assert!(t.starts_with(r#"{"event":"ready""#), "{t}"),
            other => panic!("expected ready, got {other:?}"),
        }
        raw
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.expect("write");
    }

    /// Sends a request text frame.
    pub async fn request(&mut self, json: &str) {
        self.send(&frame(true, 0, TEXT, json.as_bytes())).await;
    }

    /// The next frame, or None on timeout or EOF.
    pub async fn next(&mut self, within: Duration) -> Option<Got> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(f) = self.parse() {
                return Some(f);
            }
            let mut chunk = [0u8; 8192];
            let n = tokio::time::timeout_at(deadline, self.io.read(&mut chunk))
                .await
                .ok()?
                .ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next text frame as JSON, skipping others; None on timeout, EOF or close.
    pub async fn json(&mut self) -> Option<Value> {
        loop {
            match self.next(WAIT).await? {
                Got::Text(t) => return Some(serde_json::from_str(&t).expect("JSON")),
                Got::Close(_) => return None,
                _ => {}
            }
        }
    }

    /// Reads until a close frame; answers its code (None: EOF or nothing in time).
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            match self.next(WAIT).await? {
                Got::Close(code) => return code,
                _ => continue,
            }
        }
    }

    /// Whether the server ends the connection (EOF) within `within`.
    pub async fn ends_within(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let mut chunk = [0u8; 8192];
            match tokio::time::timeout_at(deadline, self.io.read(&mut chunk)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    }

    fn parse(&mut self) -> Option<Got> {
        let b = &self.buf;
        if b.len() < 2 {
            return None;
        }
        let (len, start) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() >= 10 => (u64::from_be_bytes(b[2..10].try_into().ok()?) as usize, 10),
            126 | 127 => return None,
            n => (n as usize, 2),
        };
        if b.len() < start + len {
            return None;
        }
        let payload = b[start..start + len].to_vec();
        let opcode = b[0] & 0x0f;
        self.buf.drain(..start + len);
        Some(match opcode {
            TEXT => Got::Text(String::from_utf8(payload).expect("server text is UTF-8")),
            BINARY => Got::Binary(payload),
            PING => Got::Ping(payload),
            PONG => Got::Pong(payload),
            CLOSE => Got::Close(
                (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]])),
            ),
            other => panic!("unexpected opcode {other}"),
        })
    }
}
