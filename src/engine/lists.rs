//! Lists over many conversations: `conversation.list`, and the keys the
//! Twilio face's lists and the feed (`feed.rs`) page by.

use futures_util::future::join_all;

use super::Engine;
use crate::conversation::ConvInfo;
use crate::error::Result;
use crate::model::{Caller, Conversation, ConversationId, Identity, Millis, Page};
use crate::paging::{keyset_page, keyset_request, page_size};
use crate::protocol::Reply;
use crate::validate;

/// Where a conversation stands in creation order: its `created_at`, then
/// its id.
pub type Created = (Millis, ConversationId);

impl Engine {
    /// The conversations `subject` takes part in (every one when None),
    /// oldest first: the order of the Twilio face's lists. Only their keys,
    /// so that a list showing a page views only that page. In cluster mode
    /// it first waits, as every read op does, until this node has applied
    /// what the log held when asked.
    pub async fn conversations_created(&self, subject: Option<&Identity>) -> Vec<Created> {
        self.caught_up().await;
        let mut keys = self.keys_of(subject, ConvInfo::created_at);
        keys.sort_unstable();
        keys
    }

    /// The conversations where a non-chat participant is bound to `address`
    /// (an SMS or WhatsApp number), oldest first, as
    /// [`conversations_created`](Self::conversations_created) gives them.
    pub async fn conversations_bound_to(&self, address: &str) -> Vec<Created> {
        self.caught_up().await;
        let shared = self.shared();
        let mut keys: Vec<Created> = (shared.bound_to(address).into_iter())
            .filter_map(|id| {
                shared
                    .conversations
                    .get(&id)
                    .map(|h| (h.info.created_at(), id))
            })
            .collect();
        keys.sort_unstable();
        keys
    }

    /// The conversations `subject` takes part in (every one when None),
    /// each by `key` of its info, then its id. No handle is cloned: each
    /// clone of an actor's address costs an atomic on a line other threads
    /// write, and a list of thousands asks only a page of them.
    pub(super) fn keys_of<K>(
        &self,
        subject: Option<&Identity>,
        key: impl Fn(&ConvInfo) -> K,
    ) -> Vec<(K, ConversationId)> {
        let shared = self.shared();
        match subject {
            Some(i) => (shared.users.get(i).map(|h| h.conversations()))
                .unwrap_or_default()
                .into_iter()
                .filter_map(|c| Some((key(&shared.conversations.get(&c)?.info), c)))
                .collect(),
            None => (shared.conversations.iter())
                .map(|h| (key(&h.info), h.id))
                .collect(),
        }
    }

    /// A conversation as `caller` sees it, by id; None once it is gone.
    pub async fn view(&self, caller: Caller, id: ConversationId) -> Option<Conversation> {
        let handle = self.shared().conversations.get(&id).map(|h| h.clone())?;
        handle.view(caller).await.ok()
    }

    /// Whose data a list is about: the caller's own, or for the service the
    /// user it names (None: everyone).
    pub(super) fn subject(&self, caller: &Caller, named: Option<&str>) -> Result<Option<Identity>> {
        match (caller, named) {
            (Caller::User(i), _) => Ok(Some(i.clone())),
            (Caller::Service, Some(n)) => validate::identity(n, &self.config().limits).map(Some),
            (Caller::Service, None) => Ok(None),
        }
    }

    /// The conversations `subject` takes part in (all of them when None), most
    /// recent activity first, each as `caller` sees it.
    pub(super) async fn list_conversations(
        &self,
        caller: Caller,
        subject: Option<Identity>,
        size: Option<u64>,
        cursor: Option<String>,
    ) -> Result<Reply> {
        let size = page_size(size, 50, 100, "page_size")?;
        let (from, size) =
            keyset_request::<(u64, ConversationId)>("conversations", cursor.as_deref(), size)?;
        // Newest activity first; the key inverts the time so that ascending order lists it.
        let mut keys = self.keys_of(subject.as_ref(), |i| u64::MAX - i.last_activity());
        keys.sort_unstable();
        let page = keyset_page("conversations", &keys, &from, size, |k| Some(k.1));
        let shared = self.shared();
        let views = join_all(page.items.iter().filter_map(|id| {
            let h = shared.conversations.get(id)?.clone();
            let caller = caller.clone();
            Some(async move { h.view(caller).await })
        }))
        .await;
        let items: Vec<_> = views.into_iter().filter_map(Result::ok).collect();
        let page = Page {
            items,
            has_next: page.has_next,
            has_prev: page.has_prev,
            next_cursor: page.next_cursor,
            prev_cursor: page.prev_cursor,
        };
        Ok(Reply::Conversations(page))
    }
}
