//! The engine-side session: one per connected client, whatever the transport.
//!
//! A [`Session`] registers its [`Outbox`] with its user's hub (so it receives
//! every event of the user's conversations from then on), runs requests through
//! [`Engine::execute`](crate::Engine::execute) as its user, and deregisters when
//! closed or dropped. The WebSocket transport and in-process tests use this same
//! type: one place parses a frame and answers it ([`Session::handle_frame`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

pub use crate::delivery::{CloseReason, Outbox};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::Caller;
use crate::model::{Identity, SessionId};
use crate::protocol::{encode_answer, encode_event, parse_request, Event, Frame, Reply, Request};
use crate::registry::{Connect, Disconnect};
use crate::validate;

/// One client's session with the engine.
pub struct Session {
    id: SessionId,
    identity: Identity,
    engine: Engine,
    outbox: Arc<Outbox>,
    open: AtomicBool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("identity", &self.identity)
            .finish()
    }
}

impl Session {
    /// Opens a session. With `ready` (a client's transport), the `ready` event
    /// is queued first, before the session can receive any other event, and
    /// the session starts out resuming: conversation events are held until
    /// the client asks for anything but `events.replay`, or the transport
    /// calls [`Outbox::release`] (see [`outbox`](Outbox)).
    pub(crate) async fn open(
        engine: Engine,
        identity: Identity,
        ready: Option<u64>,
    ) -> Result<Session> {
        let max = engine.config().limits.max_outbox_bytes;
        let outbox = Arc::new(match ready {
            Some(_) => Outbox::resuming(max),
            None => Outbox::new(max),
        });
        let id = SessionId::new();
        let session = Session {
            id,
            identity: identity.clone(),
            engine: engine.clone(),
            outbox: outbox.clone(),
            open: AtomicBool::new(false),
        };
        if let Some(heartbeat_ms) = ready {
            outbox.push(session.ready_frame(heartbeat_ms));
        }
        engine
            .registry()
            .send(Connect {
                identity: identity.clone(),
                session: id,
                outbox: outbox.clone(),
            })
            .await
            .map_err(|_| Error::Internal("the engine is shutting down".into()))?;
        engine.shared().metrics.session_opened();
        log::info!("session {id} opened for {identity}");
        Ok(Session {
            id,
            identity,
            engine,
            outbox,
            open: AtomicBool::new(true),
        })
    }

    /// Its id.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// Its user.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The engine it belongs to.
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The queue of frames waiting for this session's client.
    pub fn outbox(&self) -> &Arc<Outbox> {
        &self.outbox
    }

    /// The `ready` event's frame (`PROTOCOL.md` §3).
    pub fn ready_frame(&self, heartbeat_ms: u64) -> Frame {
        let l = &self.engine.config().limits;
        encode_event(
            "ready",
            None,
            None,
            &json!({
                "session_id": self.id,
                "identity": self.identity,
                "heartbeat_ms": heartbeat_ms,
                "limits": {
                    "max_frame_bytes": l.max_frame_bytes,
                    "max_body_bytes": l.max_body_bytes,
                    "max_json_bytes": l.max_json_bytes,
                    "max_media_items": l.max_media_items,
                    "max_media_bytes": l.max_media_bytes,
                    "max_name_chars": l.max_name_chars,
                    "max_participants": l.max_participants,
                    "max_outbox_bytes": l.max_outbox_bytes,
                    "replay_window": l.replay_window,
                    "typing_timeout_ms": self.engine.config().typing_timeout.as_millis() as u64,
                }
            }),
        )
    }

    /// Runs one op as this session's user. Any op but `events.replay` ends
    /// the session's resuming: the client is past catching up.
    pub async fn request(&self, req: Request) -> Result<Reply> {
        if !matches!(req, Request::EventsReplay { .. }) {
            self.outbox.release();
        }
        self.engine
            .execute(
                Caller::User(self.identity.clone()),
                req,
                Some(self.outbox.clone()),
            )
            .await
    }

    /// Runs one op given as JSON: `{"op": "message.send", "conversation": …, …}`.
    pub async fn request_json(&self, request: Value) -> Result<Value> {
        Ok(self.request(Request::from_json(&request)?).await?.to_json())
    }

    /// Answers one client text frame, exactly as the wire does: the answer frame
    /// carries the request's `id` as `re`.
    pub async fn handle_frame(&self, text: &[u8]) -> Frame {
        match parse_request(text) {
            Ok((id, req)) => encode_answer(&id, &self.request(req).await),
            Err((id, e)) => encode_answer(&id, &Err(e)),
        }
    }

    /// The next event for this session, waiting as long as it takes. Fails with
    /// the close reason once the session is closed and drained.
    pub async fn next_event(&self) -> Result<Event, CloseReason> {
        let frame = self.outbox.recv().await?;
        Event::parse(&frame).map_err(|_| CloseReason::ProtocolError)
    }

    /// The next event within `timeout`, or None.
    pub async fn next_event_within(&self, timeout: Duration) -> Option<Event> {
        tokio::time::timeout(timeout, self.next_event())
            .await
            .ok()?
            .ok()
    }

    /// The next event already queued, if any.
    pub fn try_next_event(&self) -> Option<Event> {
        self.outbox.try_recv().and_then(|f| Event::parse(&f).ok())
    }

    /// Closes the session: it stops receiving events and its user goes offline
    /// if this was its last session. A close already decided (a slow consumer)
    /// keeps its reason.
    pub async fn close(&self, reason: CloseReason) {
        if !self.open.swap(false, Ordering::AcqRel) {
            return;
        }
        self.outbox.close(reason);
        let reason = self.outbox.closed().unwrap_or(reason);
        let _ = self
            .engine
            .registry()
            .send(Disconnect {
                identity: self.identity.clone(),
                session: self.id,
            })
            .await;
        self.finish(reason);
    }

    fn finish(&self, reason: CloseReason) {
        self.engine.shared().metrics.session_closed(reason);
        log::info!("session {} of {} closed: {reason}", self.id, self.identity);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if !self.open.swap(false, Ordering::AcqRel) {
            return;
        }
        self.outbox.close(CloseReason::ClientClosed);
        let reason = self.outbox.closed().unwrap_or(CloseReason::ClientClosed);
        // Drop cannot wait for mailbox room; one message per session lifetime is
        // bounded by the number of sessions, so the unbounded send is safe here.
        self.engine.registry().do_send(Disconnect {
            identity: self.identity.clone(),
            session: self.id,
        });
        self.finish(reason);
    }
}

/// Sessions are opened from the engine; they live in this layer, above it.
impl Engine {
    /// Opens an in-process session for a user, as a WebSocket would (without
    /// the `ready` event, which belongs to the transport).
    pub async fn connect(&self, identity: &str) -> Result<Session> {
        let identity = validate::identity(identity, &self.config().limits)?;
        Session::open(self.clone(), identity, None).await
    }

    /// Opens a session whose first event is `ready`, announcing `heartbeat_ms`.
    pub async fn connect_ready(&self, identity: Identity, heartbeat_ms: u64) -> Result<Session> {
        Session::open(self.clone(), identity, Some(heartbeat_ms)).await
    }
}
