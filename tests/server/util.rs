//! One place for socket plumbing: a WebSocket test client speaking the contract,
//! and a REST helper.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::time::Duration;

use actix_codec::Framed;
use awc::ws::{Codec, Frame, Message};
use awc::BoxedSocket;
use colloquy::testing::TestServer;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

pub const WAIT: Duration = Duration::from_secs(3);
pub const QUIET: Duration = Duration::from_millis(150);

/// A WebSocket client: requests get ids and wait for their answer; events that
/// arrive meanwhile are kept for `event`.
pub struct Ws {
    io: Framed<BoxedSocket, Codec>,
    events: VecDeque<Value>,
    next_id: u64,
    pub ready: Value,
}

/// Why a connection attempt failed: the HTTP status and body of the refusal.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
}

pub async fn connect_url(url: &str, bearer: Option<&str>) -> Result<Ws, Refused> {
    let mut req = awc::Client::new().ws(url).max_frame_size(64 << 20);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    match req.connect().await {
        Ok((_, io)) => {
            let mut ws = Ws {
                io,
                events: VecDeque::new(),
                next_id: 0,
                ready: Value::Null,
            };
            let ready = ws.recv_json().await.expect("a first frame");
            assert_eq!(ready["event"], "ready", "ready comes first");
            ws.ready = ready;
            Ok(ws)
        }
        Err(awc::error::WsClientError::InvalidResponseStatus(s)) => {
            Err(Refused { status: s.as_u16() })
        }
        Err(e) => panic!("connect failed: {e}"),
    }
}

impl Ws {
    pub async fn connect(server: &TestServer, identity: &str) -> Ws {
        connect_url(&server.ws_url(identity), None)
            .await
            .expect("connects")
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.io
            .send(Message::Text(text.into().into()))
            .await
            .expect("send");
    }

    pub async fn send_frame(&mut self, m: Message) {
        self.io.send(m).await.expect("send");
    }

    /// The next frame of any kind, or None on timeout or end of stream.
    pub async fn frame(&mut self, within: Duration) -> Option<Frame> {
        match tokio::time::timeout(within, self.io.next()).await {
            Ok(Some(Ok(f))) => Some(f),
            _ => None,
        }
    }

    /// The next text frame as JSON, skipping control frames.
    pub async fn recv_json(&mut self) -> Option<Value> {
        loop {
            match self.frame(WAIT).await? {
                Frame::Text(t) => {
                    return Some(serde_json::from_slice(&t).expect("text frames are JSON"))
                }
                Frame::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Sends a request with a fresh id; answers the whole answer frame.
    pub async fn request(&mut self, mut req: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        req["id"] = json!(id);
        self.send_text(req.to_string()).await;
        self.answer(json!(id)).await
    }

    /// Waits for the answer that carries `re`, keeping events that come first.
    pub async fn answer(&mut self, re: Value) -> Value {
        loop {
            let f = self.recv_json().await.expect("an answer");
            if f.get("event").is_some() {
                self.events.push_back(f);
            } else if f["re"] == re {
                return f;
            }
        }
    }

    pub async fn ok(&mut self, req: Value) -> Value {
        let a = self.request(req.clone()).await;
        assert_eq!(a["ok"], true, "{req} failed: {a}");
        a["data"].clone()
    }

    pub async fn fails(&mut self, req: Value) -> String {
        let a = self.request(req.clone()).await;
        assert_eq!(a["ok"], false, "{req} should fail: {a}");
        a["error"]["code"].as_str().expect("a code").to_string()
    }

    /// The next event, which must be `name`.
    pub async fn event(&mut self, name: &str) -> Value {
        let e = match self.events.pop_front() {
            Some(e) => e,
            None => loop {
                let f = self
                    .recv_json()
                    .await
                    .unwrap_or_else(|| panic!("expected {name}, got nothing"));
                if f.get("event").is_some() {
                    break f;
                }
            },
        };
        assert_eq!(e["event"], name, "expected {name}, got {e}");
        e
    }

    /// Skips events until `name`.
    pub async fn event_skipping(&mut self, name: &str) -> Value {
        loop {
            let e = match self.events.pop_front() {
                Some(e) => e,
                None => self
                    .recv_json()
                    .await
                    .unwrap_or_else(|| panic!("expected {name}, got nothing")),
            };
            if e["event"] == name {
                return e;
            }
        }
    }

    pub async fn no_event(&mut self) {
        assert!(
            self.events.is_empty(),
            "unexpected {:?}",
            self.events.front()
        );
        if let Some(Frame::Text(t)) = self.frame(QUIET).await {
            panic!("unexpected frame {}", String::from_utf8_lossy(&t));
        }
    }

    /// Reads until the server closes; answers the close code (None: no close frame).
    pub async fn close_code(&mut self, within: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.io.next()).await {
                Ok(Some(Ok(Frame::Close(reason)))) => return reason.map(|r| u16::from(r.code)),
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_))) | Ok(None) | Err(_) => return None,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.io.send(Message::Close(None)).await;
    }
}

/// Creates a group conversation; answers its id. Drains the creator's events.
pub async fn group(ws: &mut Ws, others: &[&str]) -> String {
    let c = ws
        .ok(json!({"op": "conversation.create", "friendly_name": "group", "participants": others}))
        .await;
    ws.event("conversationAdded").await;
    c["id"].as_str().expect("id").to_string()
}

/// The library's REST helper, answering `(status, body)` for terse asserts.
/// By default it sends no admin key, so that tests can see the 401s.
pub struct Rest {
    inner: colloquy::testing::Rest,
}

impl Rest {
    pub fn new(server: &TestServer) -> Rest {
        Rest {
            inner: server.rest().admin_key(None),
        }
    }

    pub fn with_admin(server: &TestServer, key: &str) -> Rest {
        Rest {
            inner: server.rest().admin_key(Some(key)),
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        identity: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let who = match identity {
            Some(i) => self.inner.as_user(i),
            None => self.inner.as_service(),
        };
        let method = method.parse().expect("method");
        let res = who.call(method, path, body.as_ref()).await.expect("http");
        (res.status, res.body)
    }

    pub async fn get(&self, path: &str, identity: Option<&str>) -> (u16, Value) {
        self.call("GET", path, identity, None).await
    }
    pub async fn post(&self, path: &str, identity: Option<&str>, body: Value) -> (u16, Value) {
        self.call("POST", path, identity, Some(body)).await
    }
    pub async fn patch(&self, path: &str, identity: Option<&str>, body: Value) -> (u16, Value) {
        self.call("PATCH", path, identity, Some(body)).await
    }
    pub async fn delete(&self, path: &str, identity: Option<&str>) -> (u16, Value) {
        self.call("DELETE", path, identity, None).await
    }
}
