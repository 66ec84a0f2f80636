//! The handle on one conversation, and pages that fetch their neighbours.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{page_from, Client, ClientError, ClientResult, EventStream};
use crate::model::{Conversation, ConversationId, Message, NotificationLevel, Participant, Role};
use crate::protocol::{
    AddNonChat, AddParticipant, Direction, EditMessage, ListMessages, MessageRef, Request,
    SendMessage, UpdateConversation, UpdateParticipant,
};

/// Makes the request for the page at a cursor (None: the first page).
type PageRequest = Arc<dyn Fn(Option<String>) -> Request + Send + Sync>;

/// One page of a list, able to fetch the pages beside it.
pub struct PageOf<T> {
    /// The items, in the list's order.
    pub items: Vec<T>,
    /// Whether a next page exists.
    pub has_next: bool,
    /// Whether a previous page exists.
    pub has_prev: bool,
    next_cursor: Option<String>,
    prev_cursor: Option<String>,
    client: Client,
    make: PageRequest,
}

impl<T: std::fmt::Debug> std::fmt::Debug for PageOf<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageOf")
            .field("items", &self.items)
            .field("has_next", &self.has_next)
            .field("has_prev", &self.has_prev)
            .finish()
    }
}

impl<T: DeserializeOwned> PageOf<T> {
    pub(crate) async fn fetch(
        client: Client,
        make: PageRequest,
        cursor: Option<String>,
    ) -> ClientResult<PageOf<T>> {
        let v = client.request(make(cursor)).await?;
        let p = page_from::<T>(v)?;
        Ok(PageOf {
            items: p.items,
            has_next: p.has_next,
            has_prev: p.has_prev,
            next_cursor: p.next_cursor,
            prev_cursor: p.prev_cursor,
            client,
            make,
        })
    }

    /// The next page (newer messages; later in a list), or None at the end.
    pub async fn next_page(&self) -> ClientResult<Option<PageOf<T>>> {
        match &self.next_cursor {
            Some(c) => PageOf::fetch(self.client.clone(), self.make.clone(), Some(c.clone()))
                .await
                .map(Some),
            None => Ok(None),
        }
    }

    /// The previous page (older messages; earlier in a list), or None at the start.
    pub async fn prev_page(&self) -> ClientResult<Option<PageOf<T>>> {
        match &self.prev_cursor {
            Some(c) => PageOf::fetch(self.client.clone(), self.make.clone(), Some(c.clone()))
                .await
                .map(Some),
            None => Ok(None),
        }
    }
}

/// A history query; [`MessageQuery::fetch`] runs it.
#[derive(Debug, Clone)]
pub struct MessageQuery {
    handle: ConversationHandle,
    list: ListMessages,
}

impl MessageQuery {
    /// 1 to 100 (default 30).
    pub fn page_size(mut self, n: u64) -> Self {
        self.list.page_size = Some(n);
        self
    }
    /// Start from this index.
    pub fn anchor(mut self, index: u64) -> Self {
        self.list.anchor = Some(index);
        self
    }
    /// Backwards (newest first from the anchor, the default) or forward.
    pub fn direction(mut self, d: Direction) -> Self {
        self.list.direction = Some(d);
        self
    }
    /// Only messages created at or after this time (ms).
    pub fn since(mut self, ms: u64) -> Self {
        self.list.since = Some(ms);
        self
    }
    /// Only messages created at or before this time (ms).
    pub fn until(mut self, ms: u64) -> Self {
        self.list.until = Some(ms);
        self
    }
    /// Fetches the first page.
    pub async fn fetch(self) -> ClientResult<PageOf<Message>> {
        let list = self.list;
        let make = move |cursor: Option<String>| {
            Request::MessageList(ListMessages {
                cursor,
                ..list.clone()
            })
        };
        PageOf::fetch(self.handle.client.clone(), Arc::new(make), None).await
    }
}

/// One conversation, by id or unique name.
#[derive(Debug, Clone)]
pub struct ConversationHandle {
    client: Client,
    conversation: String,
}

fn message_ref(m: &str) -> MessageRef {
    m.parse()
        .map(MessageRef::Index)
        .unwrap_or_else(|_| MessageRef::Id(m.to_string()))
}

impl ConversationHandle {
    pub(crate) fn new(client: Client, conversation: String) -> Self {
        ConversationHandle {
            client,
            conversation,
        }
    }

    fn c(&self) -> String {
        self.conversation.clone()
    }

    async fn unit(&self, req: Request) -> ClientResult<()> {
        self.client.request(req).await.map(|_| ())
    }

    async fn unread(&self, req: Request) -> ClientResult<u64> {
        let v = self.client.request(req).await?;
        v["unread_messages_count"]
            .as_u64()
            .ok_or_else(|| ClientError::Protocol("no unread_messages_count".into()))
    }

    /// The conversation as the caller sees it.
    pub async fn get(&self) -> ClientResult<Conversation> {
        self.client
            .call(Request::ConversationGet {
                conversation: self.c(),
            })
            .await
    }

    /// Events of this conversation only (resolving a unique name to its id first).
    pub async fn subscribe(&self) -> ClientResult<EventStream> {
        let id = match ConversationId::parse(&self.conversation) {
            Some(id) => id,
            None => self.get().await?.id,
        };
        Ok(self.client.subscribe_to(id.to_string()))
    }

    /// Joins it.
    pub async fn join(&self) -> ClientResult<Conversation> {
        self.client
            .call(Request::ConversationJoin {
                conversation: self.c(),
            })
            .await
    }

    /// Leaves it.
    pub async fn leave(&self) -> ClientResult<()> {
        self.unit(Request::ConversationLeave {
            conversation: self.c(),
        })
        .await
    }

    /// Updates it (the `conversation` field of `u` is filled in).
    pub async fn update(&self, u: UpdateConversation) -> ClientResult<Conversation> {
        self.client
            .call(Request::ConversationUpdate(UpdateConversation {
                conversation: self.c(),
                ..u
            }))
            .await
    }

    /// Deletes it (admin).
    pub async fn delete(&self) -> ClientResult<()> {
        self.unit(Request::ConversationDelete {
            conversation: self.c(),
        })
        .await
    }

    /// Sets the caller's notification level.
    pub async fn set_notification_level(
        &self,
        level: NotificationLevel,
    ) -> ClientResult<Conversation> {
        self.client
            .call(Request::SetNotificationLevel {
                conversation: self.c(),
                level,
            })
            .await
    }

    /// Sends a text message; answers its id, index and created_at as JSON.
    pub async fn send_message(&self, body: &str) -> ClientResult<Value> {
        self.send(SendMessage::text(&self.conversation, body)).await
    }

    /// Sends a message with every option (the `conversation` field is filled in).
    pub async fn send(&self, m: SendMessage) -> ClientResult<Value> {
        self.client
            .request(Request::MessageSend(SendMessage {
                conversation: self.c(),
                ..m
            }))
            .await
    }

    /// A message by index (digits) or id.
    pub async fn message(&self, message: &str) -> ClientResult<Message> {
        self.client
            .call(Request::MessageGet {
                conversation: self.c(),
                message: message_ref(message),
            })
            .await
    }

    /// Edits a message's body (author only).
    pub async fn edit_message(&self, message: &str, body: &str) -> ClientResult<Message> {
        self.client
            .call(Request::MessageEdit(EditMessage {
                conversation: self.c(),
                message: message_ref(message),
                body: Some(body.to_string()),
                attributes: None,
            }))
            .await
    }

    /// Deletes a message (author or admin).
    pub async fn delete_message(&self, message: &str) -> ClientResult<()> {
        self.unit(Request::MessageDelete {
            conversation: self.c(),
            message: message_ref(message),
        })
        .await
    }

    /// A history query: set its options, then `fetch()`.
    pub fn messages(&self) -> MessageQuery {
        MessageQuery {
            handle: self.clone(),
            list: ListMessages {
                conversation: self.c(),
                ..Default::default()
            },
        }
    }

    /// How many messages it holds.
    pub async fn message_count(&self) -> ClientResult<u64> {
        let v = self
            .client
            .request(Request::MessageCount {
                conversation: self.c(),
            })
            .await?;
        Ok(v["count"].as_u64().unwrap_or(0))
    }

    /// Reacts to a message; answers the reaction's id.
    pub async fn react(&self, message: &str, reaction: &str) -> ClientResult<String> {
        let v = self
            .client
            .request(Request::ReactionAdd {
                conversation: self.c(),
                message: message_ref(message),
                reaction: reaction.to_string(),
                identity: None,
            })
            .await?;
        Ok(v["id"].as_str().unwrap_or_default().to_string())
    }

    /// Participants, in joining order.
    pub async fn participants(&self, page_size: Option<u64>) -> ClientResult<PageOf<Participant>> {
        let c = self.c();
        let make = move |cursor: Option<String>| Request::ParticipantList {
            conversation: c.clone(),
            page_size,
            cursor,
        };
        PageOf::fetch(self.client.clone(), Arc::new(make), None).await
    }

    /// Adds a user (as `member` unless `role` says otherwise).
    pub async fn add_participant(
        &self,
        identity: &str,
        role: Option<Role>,
    ) -> ClientResult<Participant> {
        self.client
            .call(Request::ParticipantAdd(AddParticipant {
                conversation: self.c(),
                identity: identity.to_string(),
                attributes: None,
                role,
            }))
            .await
    }

    /// Adds a non-chat (SMS-style) participant.
    pub async fn add_non_chat(
        &self,
        proxy_address: &str,
        address: &str,
    ) -> ClientResult<Participant> {
        self.client
            .call(Request::ParticipantAddNonChat(AddNonChat {
                conversation: self.c(),
                proxy_address: proxy_address.to_string(),
                address: address.to_string(),
                attributes: None,
                exclusive: false,
            }))
            .await
    }

    /// A participant by id or identity.
    pub async fn participant(&self, participant: &str) -> ClientResult<Participant> {
        self.client
            .call(Request::ParticipantGet {
                conversation: self.c(),
                participant: participant.to_string(),
            })
            .await
    }

    /// Updates a participant's attributes or role.
    pub async fn update_participant(
        &self,
        participant: &str,
        attributes: Option<Value>,
        role: Option<Role>,
    ) -> ClientResult<Participant> {
        self.client
            .call(Request::ParticipantUpdate(UpdateParticipant {
                conversation: self.c(),
                participant: participant.to_string(),
                attributes,
                role,
            }))
            .await
    }

    /// Removes a participant (oneself: a leave).
    pub async fn remove_participant(&self, participant: &str) -> ClientResult<()> {
        self.unit(Request::ParticipantRemove {
            conversation: self.c(),
            participant: participant.to_string(),
        })
        .await
    }

    /// How many participants it has.
    pub async fn participant_count(&self) -> ClientResult<u64> {
        let v = self
            .client
            .request(Request::ParticipantCount {
                conversation: self.c(),
            })
            .await?;
        Ok(v["count"].as_u64().unwrap_or(0))
    }

    /// Typing indicators for this conversation.
    pub fn typing(&self) -> Typing {
        Typing {
            handle: self.clone(),
        }
    }

    /// Moves the read horizon forward to `index`; answers the unread count.
    pub async fn advance_last_read(&self, index: u64) -> ClientResult<u64> {
        self.unread(Request::ReadAdvance {
            conversation: self.c(),
            index,
        })
        .await
    }

    /// Sets the read horizon (None: everything unread); answers the unread count.
    pub async fn set_last_read(&self, index: Option<u64>) -> ClientResult<u64> {
        self.unread(Request::ReadSet {
            conversation: self.c(),
            index,
        })
        .await
    }

    /// Marks everything read.
    pub async fn set_all_read(&self) -> ClientResult<u64> {
        self.unread(Request::ReadAll {
            conversation: self.c(),
        })
        .await
    }

    /// Marks everything unread.
    pub async fn set_all_unread(&self) -> ClientResult<u64> {
        self.unread(Request::ReadNone {
            conversation: self.c(),
        })
        .await
    }

    /// Marks a message (default: the last) and all before it read.
    pub async fn mark_read(&self, message: Option<&str>) -> ClientResult<u64> {
        self.unread(Request::ReadMark {
            conversation: self.c(),
            message: message.map(message_ref),
        })
        .await
    }

    /// The caller's unread count.
    pub async fn unread_count(&self) -> ClientResult<u64> {
        self.unread(Request::UnreadCount {
            conversation: self.c(),
        })
        .await
    }
}

/// Typing indicators of one conversation: call [`Typing::start`] on keystrokes
/// (it refreshes), [`Typing::stop`] when done.
#[derive(Debug, Clone)]
pub struct Typing {
    handle: ConversationHandle,
}

impl Typing {
    /// Starts or refreshes the indicator.
    pub async fn start(&self) -> ClientResult<()> {
        self.handle
            .unit(Request::TypingStart {
                conversation: self.handle.c(),
            })
            .await
    }

    /// Ends it now.
    pub async fn stop(&self) -> ClientResult<()> {
        self.handle
            .unit(Request::TypingStop {
                conversation: self.handle.c(),
            })
            .await
    }
}
