//! How a tab reaches the engine: a session in this process, or a WebSocket
//! to a real server, over which the walk's frames go on the wire and every
//! answer and event comes back as a client reads it.

use std::time::Duration;

use colloquy::{CloseReason, Engine, Event, Session};
use futures_util::future::join_all;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a socket waits for a frame the server owes it.
const OWED: Duration = Duration::from_secs(10);

pub enum Line {
    Engine(Session),
    Socket(Box<Socket>),
}

pub struct Socket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Events read while waiting for answers.
    events: Vec<Event>,
    /// Pings sent to learn that every event queued before them has come.
    barriers: u64,
}

impl Line {
    /// A session of `identity` on `engine`, or, given a server's WebSocket
    /// URL (`ws://ADDR/v1/ws`, perhaps with a query), a WebSocket to it (its
    /// `ready` read).
    pub async fn open(engine: &Engine, server: Option<&str>, identity: &str) -> Line {
        let Some(url) = server else {
            return Line::Engine(engine.connect(identity).await.expect("connects"));
        };
        let join = if url.contains('?') { '&' } else { '?' };
        let url = format!("{url}{join}identity={identity}");
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("the socket opens");
        let mut socket = Socket {
            ws,
            events: Vec::new(),
            barriers: 0,
        };
        let ready = socket.frame().await;
        assert!(ready.contains(r#""event":"ready""#), "{ready}");
        Line::Socket(Box::new(socket))
    }

    /// Asks each text as one frame, all at once; their answers, in order.
    pub async fn ask_all(&mut self, texts: &[&[u8]]) -> Vec<String> {
        match self {
            Line::Engine(s) => join_all(texts.iter().map(|t| s.handle_frame(t)))
                .await
                .iter()
                .map(|f| f.as_str().to_string())
                .collect(),
            Line::Socket(s) => s.ask_all(texts).await,
        }
    }

    /// The events that came since the last call. A socket's server has
    /// queued them before the answer to a ping this asks.
    pub async fn events(&mut self) -> Vec<Event> {
        match self {
            Line::Engine(s) => std::iter::from_fn(|| s.try_next_event()).collect(),
            Line::Socket(s) => s.events().await,
        }
    }

    /// Closes the session, as a client does. A socket's server takes note
    /// of it in its own time: `engine` counts its sessions until it has.
    pub async fn close(self, engine: &Engine) {
        match self {
            Line::Engine(s) => s.close(CloseReason::ClientClosed).await,
            Line::Socket(mut s) => {
                let open = engine.metrics().sessions_open;
                let _ = s.ws.close(None).await;
                while let Ok(Some(Ok(_))) = tokio::time::timeout(OWED, s.ws.next()).await {}
                let closed = async {
                    while engine.metrics().sessions_open >= open {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                };
                tokio::time::timeout(OWED, closed)
                    .await
                    .expect("the server closes the session");
            }
        }
    }
}

impl Socket {
    /// The next frame, as text.
    async fn frame(&mut self) -> String {
        loop {
            let next = tokio::time::timeout(OWED, self.ws.next()).await;
            match next {
                Ok(Some(Ok(Message::Text(t)))) => return t.to_string(),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                other => panic!("the socket got {other:?} where a frame was owed"),
            }
        }
    }

    async fn ask_all(&mut self, texts: &[&[u8]]) -> Vec<String> {
        // Each request's id as the server reads it (null when it cannot).
        let ids: Vec<Value> = texts
            .iter()
            .map(|t| match serde_json::from_slice::<Value>(t) {
                Ok(v) => v.get("id").cloned().unwrap_or(Value::Null),
                Err(_) => Value::Null,
            })
            .collect();
        for t in texts {
            // Text frames are UTF-8; a garbled one that is not goes as binary.
            let frame = match std::str::from_utf8(t) {
                Ok(text) => Message::text(text),
                Err(_) => Message::binary(t.to_vec()),
            };
            self.ws.send(frame).await.expect("the frame is sent");
        }
        let mut answers: Vec<(Value, String)> = Vec::new();
        while answers.len() < texts.len() {
            let frame = self.frame().await;
            let v: Value = serde_json::from_str(&frame).unwrap_or(Value::Null);
            if v.get("event").is_some() {
                self.events.push(Event::parse(&frame).expect("an event"));
            } else {
                answers.push((v["re"].clone(), frame));
            }
        }
        // Matched by `re`: answers need not come in the order asked. The
        // server may read the id of a frame that is not all JSON, which
        // this could not: such a frame's answer is the one left over.
        ids.iter()
            .map(|id| {
                let exact = answers.iter().position(|(re, _)| re == id);
                let left = || answers.iter().position(|(re, _)| !ids.contains(re));
                match exact.or_else(left) {
                    Some(at) => answers.remove(at).1,
                    None => panic!("no answer to {id} among {answers:?}"),
                }
            })
            .collect()
    }

    async fn events(&mut self) -> Vec<Event> {
        self.barriers += 1;
        let ping = json!({"op": "ping", "id": format!("barrier-{}", self.barriers)});
        let text = ping.to_string();
        self.ask_all(&[text.as_bytes()]).await;
        std::mem::take(&mut self.events)
    }
}
