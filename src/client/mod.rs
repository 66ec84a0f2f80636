//! An async WebSocket client of the whole contract, shaped like the hosted SDKs.
//!
//! ```no_run
//! use colloquy::client::{Client, ClientConfig};
//!
//! # async fn demo() -> Result<(), colloquy::client::ClientError> {
//! let alice = Client::connect(ClientConfig::new("http://127.0.0.1:8080").identity("alice")).await?;
//! let lobby = alice.create_conversation(colloquy::protocol::CreateConversation {
//!     unique_name: Some("lobby".into()),
//!     participants: vec!["bob".into()],
//!     ..Default::default()
//! }).await?;
//! let conv = alice.conversation(&lobby.id.to_string());
//! let mut events = conv.subscribe().await?;
//! conv.send_message("hello").await?;
//! let page = conv.messages().page_size(20).fetch().await?;
//! if let Some(older) = page.prev_page().await? { println!("{} older", older.items.len()); }
//! let _ = events.next().await;
//! # Ok(()) }
//! ```
//!
//! **Requests** carry an id and wait for their answer up to the request timeout
//! ([`ClientError::Timeout`]); server errors come back as [`ClientError::Api`]
//! with the contract's code.
//!
//! **Reconnection**: when the socket drops, requests waiting for an answer fail
//! with [`ClientError::Disconnected`], and the client reconnects with exponential
//! backoff (100 ms doubling up to `max_backoff`). Once connected again it emits
//! [`EventKind::Reconnected`], then asks `events.replay` for every conversation
//! it has seen events of, from the last `seq` it saw: missed events arrive in
//! order, none twice (events at or below a conversation's last seen `seq` are
//! dropped). Where the server no longer holds them all it emits
//! [`EventKind::Resync`] for that conversation: reload it. Personal events
//! missed while away (typing, presence, `conversationAdded`) are not replayed.

mod conversation;
mod error;
mod events;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;

pub use conversation::{ConversationHandle, MessageQuery, PageOf};
pub use error::{ClientError, ClientResult};
pub use events::{ClientEvent, EventKind, EventStream};

use crate::model::{Conversation, Message, Page, User};
use crate::protocol::{CreateConversation, Encoding, Event, Feed, Request, UpdateUser};

/// Requests written but not yet sent to the socket.
const OUTGOING: usize = 1024;

/// How long connecting (handshake and `ready`) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How a client connects and behaves.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server's base URL (`http://host:port` or `ws://host:port`).
    pub base_url: String,
    /// Dev-mode identity (`?identity=`).
    pub identity: Option<String>,
    /// A token (JWT mode).
    pub token: Option<String>,
    /// How long a request waits for its answer. Default 10 s.
    pub request_timeout: Duration,
    /// Whether to reconnect when the socket drops. Default true.
    pub reconnect: bool,
    /// The longest wait between reconnection attempts. Default 5 s.
    pub max_backoff: Duration,
    /// Events a subscriber may fall behind by before it loses some. Default 4096.
    pub event_buffer: usize,
    /// The frames' encoding (`?encoding=`). Default v1 JSON.
    pub encoding: Encoding,
}

impl ClientConfig {
    /// Defaults for a server at `base_url`.
    pub fn new(base_url: &str) -> Self {
        ClientConfig {
            base_url: base_url.trim_end_matches('/').to_string(),
            identity: None,
            token: None,
            request_timeout: Duration::from_secs(10),
            reconnect: true,
            max_backoff: Duration::from_secs(5),
            event_buffer: 4096,
            encoding: Encoding::V1,
        }
    }

    /// Asks for compact frames (or v1 JSON) at connect.
    pub fn encoding(mut self, e: Encoding) -> Self {
        self.encoding = e;
        self
    }

    /// Connects as this identity (dev mode).
    pub fn identity(mut self, identity: &str) -> Self {
        self.identity = Some(identity.to_string());
        self
    }

    /// Connects with this token (JWT mode).
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_string());
        self
    }

    /// Sets the request timeout.
    pub fn request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = t;
        self
    }

    /// Turns reconnection on or off.
    pub fn reconnect(mut self, on: bool) -> Self {
        self.reconnect = on;
        self
    }

    fn ws_url(&self) -> String {
        let base = self
            .base_url
            .replacen("http://", "ws://", 1)
            .replacen("https://", "wss://", 1);
        let mut q = Vec::new();
        if let Some(i) = &self.identity {
            q.push(format!(
                "identity={}",
                serde_urlencoded::to_string([("", i)])
                    .unwrap_or_default()
                    .trim_start_matches('=')
            ));
        }
        if let Some(t) = &self.token {
            q.push(format!("token={t}"));
        }
        if self.encoding == Encoding::Compact {
            q.push("encoding=compact".into());
        }
        format!(
            "{base}/v1/ws{}{}",
            if q.is_empty() { "" } else { "?" },
            q.join("&")
        )
    }
}

/// The `ready` event's data.
#[derive(Debug, Clone, PartialEq)]
pub struct Ready {
    /// This connection's session id.
    pub session_id: String,
    /// Who the server says we are.
    pub identity: String,
    /// The whole `ready` data (heartbeat, limits).
    pub data: Value,
}

type Pending = Mutex<HashMap<u64, oneshot::Sender<ClientResult<Value>>>>;

struct Inner {
    config: ClientConfig,
    out: mpsc::Sender<String>,
    pending: Pending,
    next_id: AtomicU64,
    events: broadcast::Sender<ClientEvent>,
    seqs: Mutex<HashMap<String, u64>>,
    ready: Mutex<Ready>,
    closed: AtomicBool,
    close: watch::Sender<bool>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A connected client. Cheap to clone; closes when [`Client::close`] is called
/// or the last clone is dropped.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("identity", &lock(&self.inner.ready).identity)
            .finish()
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(config: &ClientConfig) -> ClientResult<(Socket, Ready)> {
    let mut req = config
        .ws_url()
        .into_client_request()
        .map_err(|e| ClientError::Connect(e.to_string()))?;
    if let Some(t) = &config.token {
        if let Ok(v) = format!("Bearer {t}").parse() {
            req.headers_mut().insert("authorization", v);
        }
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(r) => {
                ClientError::Connect(format!("refused with HTTP {}", r.status()))
            }
            e => ClientError::Connect(e.to_string()),
        })?;
    // The first frame is `ready`.
    loop {
        match tokio::time::timeout(CONNECT_TIMEOUT, ws.next()).await {
            Ok(Some(Ok(WsMessage::Text(t)))) => {
                let e = Event::parse(&t).map_err(|e| ClientError::Protocol(e.to_string()))?;
                if e.event != "ready" {
                    return Err(ClientError::Protocol(format!(
                        "expected ready, got {}",
                        e.event
                    )));
                }
                let ready = Ready {
                    session_id: e.data["session_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    identity: e.data["identity"].as_str().unwrap_or_default().to_string(),
                    data: e.data,
                };
                return Ok((ws, ready));
            }
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => return Err(ClientError::Connect(e.to_string())),
            Ok(None) => return Err(ClientError::Connect("closed before ready".into())),
            Err(_) => return Err(ClientError::Timeout(CONNECT_TIMEOUT)),
        }
    }
}

impl Client {
    /// Connects and waits for `ready`.
    pub async fn connect(config: ClientConfig) -> ClientResult<Client> {
        let (ws, ready) = open(&config).await?;
        let (out, out_rx) = mpsc::channel(OUTGOING);
        let (events, _) = broadcast::channel(config.event_buffer.max(16));
        let (close, close_rx) = watch::channel(false);
        let inner = Arc::new(Inner {
            config,
            out,
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            events,
            seqs: Mutex::new(HashMap::new()),
            ready: Mutex::new(ready),
            closed: AtomicBool::new(false),
            close,
        });
        tokio::spawn(run(Arc::downgrade(&inner), ws, out_rx, close_rx));
        Ok(Client { inner })
    }

    /// What the server said when this connection opened.
    pub fn ready(&self) -> Ready {
        lock(&self.inner.ready).clone()
    }

    /// Who this client is.
    pub fn identity(&self) -> String {
        lock(&self.inner.ready).identity.clone()
    }

    /// Subscribes to every event of this client.
    pub fn subscribe(&self) -> EventStream {
        EventStream::new(self.inner.events.subscribe(), None)
    }

    pub(crate) fn subscribe_to(&self, conversation: String) -> EventStream {
        EventStream::new(self.inner.events.subscribe(), Some(conversation))
    }

    /// Sends one op and waits for its answer's `data`.
    pub async fn request(&self, req: Request) -> ClientResult<Value> {
        let v = serde_json::to_value(&req).map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.request_json(v).await
    }

    /// Sends one op given as JSON (`{"op": …}`) and waits for its answer's `data`.
    pub async fn request_json(&self, mut req: Value) -> ClientResult<Value> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(ClientError::Closed);
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        req["id"] = json!(id);
        let (tx, rx) = oneshot::channel();
        lock(&self.inner.pending).insert(id, tx);
        let timeout = self.inner.config.request_timeout;
        let answer = async {
            if self.inner.out.send(req.to_string()).await.is_err() {
                return None;
            }
            rx.await.ok()
        };
        let answer = tokio::time::timeout(timeout, answer).await;
        lock(&self.inner.pending).remove(&id);
        match answer {
            Ok(Some(r)) => r,
            Ok(None) if self.inner.closed.load(Ordering::Acquire) => Err(ClientError::Closed),
            Ok(None) => Err(ClientError::Disconnected),
            Err(_) => Err(ClientError::Timeout(timeout)),
        }
    }

    pub(crate) async fn call<T: DeserializeOwned>(&self, req: Request) -> ClientResult<T> {
        let v = self.request(req).await?;
        serde_json::from_value(v).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// A handle on one conversation, by id or unique name (nothing is sent yet).
    pub fn conversation(&self, conversation: &str) -> ConversationHandle {
        ConversationHandle::new(self.clone(), conversation.to_string())
    }

    /// `ping`.
    pub async fn ping(&self) -> ClientResult<()> {
        self.request(Request::Ping {}).await.map(|_| ())
    }

    /// Creates a conversation (the caller is its admin).
    pub async fn create_conversation(&self, c: CreateConversation) -> ClientResult<Conversation> {
        self.call(Request::ConversationCreate(c)).await
    }

    /// The one direct conversation with `identity`, made on first use.
    pub async fn direct(&self, identity: &str) -> ClientResult<Conversation> {
        self.call(Request::ConversationDirect {
            identity: identity.to_string(),
        })
        .await
    }

    /// The caller's conversations, most recent activity first.
    pub async fn conversations(
        &self,
        page_size: Option<u64>,
    ) -> ClientResult<PageOf<Conversation>> {
        let make = move |cursor: Option<String>| Request::ConversationList {
            page_size,
            cursor,
            identity: None,
        };
        PageOf::fetch(self.clone(), Arc::new(make), None).await
    }

    /// The newest messages over the caller's conversations.
    pub async fn feed(
        &self,
        limit: Option<u64>,
        since: Option<u64>,
        until: Option<u64>,
    ) -> ClientResult<PageOf<Message>> {
        let make = move |cursor: Option<String>| {
            Request::MessageFeed(Feed {
                limit,
                since,
                until,
                cursor,
                identity: None,
            })
        };
        PageOf::fetch(self.clone(), Arc::new(make), None).await
    }

    /// Presence of users (unknown ones are offline).
    pub async fn presence(&self, identities: &[&str]) -> ClientResult<Vec<User>> {
        let v = self
            .request(Request::PresenceGet {
                identities: identities.iter().map(|s| s.to_string()).collect(),
            })
            .await?;
        serde_json::from_value(v["items"].clone()).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// Updates the caller's profile.
    pub async fn update_user(&self, u: UpdateUser) -> ClientResult<User> {
        self.call(Request::UserUpdate(u)).await
    }

    /// Removes a reaction by id.
    pub async fn remove_reaction(&self, reaction: &str) -> ClientResult<()> {
        self.request(Request::ReactionRemove {
            reaction: reaction.to_string(),
            conversation: None,
        })
        .await
        .map(|_| ())
    }

    /// Closes the connection; pending and later requests fail with [`ClientError::Closed`].
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        let _ = self.inner.close.send(true);
    }

    fn seen(&self) -> Vec<(String, u64)> {
        lock(&self.inner.seqs)
            .iter()
            .map(|(c, s)| (c.clone(), *s))
            .collect()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.close.send(true);
    }
}

/// Hands one incoming text frame to whoever waits for it.
fn dispatch(inner: &Inner, text: &str) {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return;
    };
    if v.get("event").is_some() {
        let Ok(e) = serde_json::from_value::<Event>(v) else {
            return;
        };
        if let (Some(c), Some(seq)) = (&e.conversation, e.seq) {
            let mut seqs = lock(&inner.seqs);
            let last = seqs.entry(c.clone()).or_insert(0);
            if seq <= *last {
                return; // already seen (a replay overlapping what arrived live)
            }
            *last = seq;
        }
        if let Some(c) = e
            .conversation
            .as_ref()
            .filter(|_| e.event == "conversationRemoved")
        {
            lock(&inner.seqs).remove(c);
        }
        let _ = inner.events.send(ClientEvent::from_wire(e));
        return;
    }
    let Some(id) = v.get("re").and_then(Value::as_u64) else {
        return;
    };
    let Some(tx) = lock(&inner.pending).remove(&id) else {
        return;
    };
    let result = if v["ok"] == true {
        Ok(v["data"].clone())
    } else {
        Err(ClientError::from_wire(&v["error"]))
    };
    let _ = tx.send(result);
}

/// The connection task: pumps one socket after another until the client closes.
async fn run(
    inner: std::sync::Weak<Inner>,
    mut ws: Socket,
    mut out: mpsc::Receiver<String>,
    mut close: watch::Receiver<bool>,
) {
    loop {
        // Pump this socket.
        let closing = loop {
            tokio::select! {
                _ = close.changed() => break true,
                msg = out.recv() => match msg {
                    Some(text) => {
                        if ws.send(WsMessage::Text(text.into())).await.is_err() {
                            break false;
                        }
                    }
                    None => break true,
                },
                frame = ws.next() => match frame {
                    Some(Ok(WsMessage::Text(t))) => match inner.upgrade() {
                        Some(i) => dispatch(&i, &t),
                        None => break true,
                    },
                    Some(Ok(WsMessage::Ping(p))) => {
                        let _ = ws.send(WsMessage::Pong(p)).await;
                    }
                    Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break false,
                    Some(Ok(_)) => {}
                },
            }
        };
        let Some(i) = inner.upgrade() else { return };
        // Whatever waited for an answer on this socket will not get one.
        lock(&i.pending).clear();
        if closing || i.closed.load(Ordering::Acquire) || !i.config.reconnect {
            i.closed.store(true, Ordering::Release);
            let _ = ws.close(None).await;
            return;
        }
        // Reconnect with backoff.
        let mut backoff = Duration::from_millis(100);
        let config = i.config.clone();
        drop(i);
        ws = loop {
            tokio::select! {
                _ = close.changed() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            match open(&config).await {
                Ok((ws, ready)) => {
                    let Some(i) = inner.upgrade() else { return };
                    *lock(&i.ready) = ready;
                    break ws;
                }
                Err(_) => backoff = (backoff * 2).min(config.max_backoff),
            }
        };
        let Some(i) = inner.upgrade() else { return };
        let _ = i
            .events
            .send(ClientEvent::local(None, EventKind::Reconnected));
        let client = Client { inner: i };
        tokio::spawn(async move {
            for (conversation, since_seq) in client.seen() {
                let replay = Request::EventsReplay {
                    conversation: conversation.clone(),
                    since_seq,
                };
                if let Ok(r) = client.request(replay).await {
                    if r["recovered"] == false {
                        let _ = client
                            .inner
                            .events
                            .send(ClientEvent::local(Some(conversation), EventKind::Resync));
                    }
                }
            }
        });
    }
}

/// Gets a page of the conversation list as a typed page.
pub(crate) fn page_from<T: DeserializeOwned>(v: Value) -> ClientResult<Page<T>> {
    serde_json::from_value(v).map_err(|e| ClientError::Protocol(e.to_string()))
}
