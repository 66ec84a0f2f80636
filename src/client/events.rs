//! Typed events, and the stream a subscriber reads them from.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

use crate::model::{
    Conversation, ConversationId, Identity, Message, MessageId, Participant, Reaction, ReactionId,
};
use crate::protocol::Event;

/// What happened, with its payload typed.
#[allow(missing_docs)] // the fields are the contract's (PROTOCOL.md §5)
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "camelCase")]
pub enum EventKind {
    /// The session is open (first event after every connect).
    Ready(Value),
    ConversationAdded(Box<Conversation>),
    ConversationUpdated {
        conversation: Box<Conversation>,
        #[serde(default)]
        update_reasons: Vec<String>,
    },
    ConversationRemoved {
        id: ConversationId,
        reason: String,
    },
    ParticipantJoined(Box<Participant>),
    ParticipantLeft(Box<Participant>),
    ParticipantUpdated {
        participant: Box<Participant>,
        #[serde(default)]
        update_reasons: Vec<String>,
    },
    MessageAdded(Box<Message>),
    MessageUpdated {
        message: Box<Message>,
        #[serde(default)]
        update_reasons: Vec<String>,
    },
    MessageRemoved {
        id: MessageId,
        index: u64,
    },
    ReactionAdded {
        message_id: MessageId,
        message_index: u64,
        reaction: Reaction,
    },
    ReactionRemoved {
        message_id: MessageId,
        message_index: u64,
        reaction_id: ReactionId,
    },
    TypingStarted {
        identity: Identity,
    },
    TypingEnded {
        identity: Identity,
    },
    UserStatus {
        identity: Identity,
        status: String,
        last_seen_at: Option<u64>,
    },
    /// The client reconnected after the socket dropped (client-side event).
    #[serde(skip)]
    Reconnected,
    /// The server no longer holds every event this client missed in the
    /// conversation: reload it with `messages()` (client-side event).
    #[serde(skip)]
    Resync,
    /// This subscriber fell this many events behind and lost them (client-side event).
    #[serde(skip)]
    Lagged(u64),
    /// An event this client does not know (a newer server).
    #[serde(skip)]
    Unknown(String),
}

/// One event, with the conversation it concerns and its place in that
/// conversation's sequence (conversation events only).
#[derive(Debug, Clone, PartialEq)]
pub struct ClientEvent {
    /// The conversation it concerns, if any.
    pub conversation: Option<String>,
    /// Its `seq` (conversation events only).
    pub seq: Option<u64>,
    /// What happened.
    pub kind: EventKind,
}

impl ClientEvent {
    pub(crate) fn from_wire(e: Event) -> ClientEvent {
        let kind = serde_json::from_value(json!({"event": e.event, "data": e.data}))
            .unwrap_or_else(|_| EventKind::Unknown(e.event.clone()));
        ClientEvent {
            conversation: e.conversation,
            seq: e.seq,
            kind,
        }
    }

    pub(crate) fn local(conversation: Option<String>, kind: EventKind) -> ClientEvent {
        ClientEvent {
            conversation,
            seq: None,
            kind,
        }
    }
}

/// A subscription: a [`Stream`] of events. Dropping it (or calling
/// [`EventStream::cancel`]) unsubscribes.
pub struct EventStream {
    inner: Option<BroadcastStream<ClientEvent>>,
    conversation: Option<String>,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("conversation", &self.conversation)
            .finish()
    }
}

impl EventStream {
    pub(crate) fn new(
        rx: tokio::sync::broadcast::Receiver<ClientEvent>,
        conversation: Option<String>,
    ) -> Self {
        EventStream {
            inner: Some(BroadcastStream::new(rx)),
            conversation,
        }
    }

    /// Unsubscribes: the stream ends.
    pub fn cancel(&mut self) {
        self.inner = None;
    }

    /// The next event, waiting as long as it takes (None once cancelled or closed).
    pub async fn next(&mut self) -> Option<ClientEvent> {
        futures_util::StreamExt::next(self).await
    }

    /// The next event within `timeout`.
    pub async fn next_within(&mut self, timeout: Duration) -> Option<ClientEvent> {
        tokio::time::timeout(timeout, self.next())
            .await
            .ok()
            .flatten()
    }
}

impl Stream for EventStream {
    type Item = ClientEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ClientEvent>> {
        loop {
            let Some(inner) = self.inner.as_mut() else {
                return Poll::Ready(None);
            };
            match Pin::new(inner).poll_next(cx) {
                Poll::Ready(Some(Ok(e))) => {
                    let wanted = match (&self.conversation, &e.conversation) {
                        (None, _) => true,
                        (Some(want), Some(got)) => want == got,
                        (Some(_), None) => matches!(e.kind, EventKind::Reconnected),
                    };
                    if wanted {
                        return Poll::Ready(Some(e));
                    }
                }
                Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(n)))) => {
                    return Poll::Ready(Some(ClientEvent::local(
                        self.conversation.clone(),
                        EventKind::Lagged(n),
                    )))
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
