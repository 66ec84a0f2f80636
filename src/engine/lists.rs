//! Lists over many conversations: `conversation.list` and `message.feed`.

use futures_util::future::join_all;

use super::Engine;
use crate::conversation::{
    ConvInfo, ConversationHandle, FeedKey, FeedQuery, FeedSide, Shared, Window,
};
use crate::error::{Error, Result};
use crate::model::{Caller, Conversation, ConversationId, Identity, Message, Millis, Page};
use crate::paging::{decode_cursor, encode_cursor, keyset_page, keyset_request, page_size};
use crate::protocol::{Feed, Reply};
use crate::validate;

/// A `message.feed` cursor.
#[derive(serde::Serialize, serde::Deserialize)]
struct FeedCursor {
    list: String,
    side: FeedSide,
    bound: FeedKey,
    limit: usize,
    since: Option<Millis>,
    until: Option<Millis>,
}

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
        let mut keys: Vec<Created> = (shared.conversations.iter())
            .filter(|h| h.info.bound_to(address))
            .map(|h| (h.info.created_at(), h.id))
            .collect();
        keys.sort_unstable();
        keys
    }

    /// In cluster mode, waits as a read op does until this node has applied
    /// what the log held when asked.
    async fn caught_up(&self) {
        if let Some(log) = self.inner.replicator.get() {
            log.caught_up().await;
        }
    }

    /// The conversations `subject` takes part in (every one when None),
    /// each by `key` of its info, then its id. No handle is cloned: each
    /// clone of an actor's address costs an atomic on a line other threads
    /// write, and a list of thousands asks only a page of them.
    fn keys_of<K>(
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

    /// The newest messages over the caller's conversations (see `message.feed`).
    pub(super) async fn feed(&self, caller: Caller, f: Feed) -> Result<Reply> {
        let Some(identity) = self.subject(&caller, f.identity.as_deref())? else {
            return Err(Error::bad(
                "message.feed needs a user (the service names one with identity)",
            ));
        };
        // Checked even when a cursor overrides it: out of range is bad_request.
        let asked = page_size(f.limit, 50, 100, "limit")?;
        let (side, bound, limit, window) = match &f.cursor {
            Some(c) => {
                let c: FeedCursor = decode_cursor(c)?;
                if c.list != "feed" || c.limit == 0 || c.limit > 100 {
                    return Err(Error::bad("invalid cursor"));
                }
                (
                    c.side,
                    Some(c.bound),
                    c.limit,
                    Window {
                        since: c.since,
                        until: c.until,
                    },
                )
            }
            None => (
                FeedSide::Before,
                None,
                asked,
                Window {
                    since: f.since,
                    until: f.until,
                },
            ),
        };
        // Conversations with no message in the window hold nothing for
        // either side: no items, and nothing beyond the bound.
        let since = window.since.unwrap_or(0);
        let mut convs = self.keys_of(Some(&identity), ConvInfo::newest_message);
        convs.retain(|(newest, _)| *newest >= since);
        let shared = self.shared();
        let query = || FeedQuery {
            identity: identity.clone(),
            side,
            bound,
            limit,
            window,
        };
        let (mut all, beyond) = match side {
            FeedSide::Before => newest_parts(shared, &mut convs, bound, query, limit).await,
            FeedSide::After => newer_parts(shared, &convs, bound, query).await,
        };
        let key = |m: &Message| (m.created_at, m.conversation_id, m.index);
        all.sort_by_key(key);
        let more = all.len() > limit;
        let items: Vec<Message> = match side {
            FeedSide::Before => all.split_off(all.len().saturating_sub(limit)),
            FeedSide::After => {
                all.truncate(limit);
                all
            }
        };
        let (has_prev, has_next) = match side {
            FeedSide::Before => (more, beyond),
            FeedSide::After => (beyond, more),
        };
        let cursor = |side, bound| {
            encode_cursor(&FeedCursor {
                list: "feed".into(),
                side,
                bound,
                limit,
                since: window.since,
                until: window.until,
            })
        };
        let page = Page {
            prev_cursor: if has_prev {
                items
                    .first()
                    .map(key)
                    .or(bound)
                    .map(|b| cursor(FeedSide::Before, b))
            } else {
                None
            },
            next_cursor: if has_next {
                items
                    .last()
                    .map(key)
                    .or(bound)
                    .map(|b| cursor(FeedSide::After, b))
            } else {
                None
            },
            has_prev,
            has_next,
            items,
        };
        Ok(Reply::Messages(page))
    }
}

/// Every conversation's part of a page: its messages and whether any lie
/// beyond the bound.
async fn parts(
    shared: &Shared,
    convs: &[(Millis, ConversationId)],
    query: impl Fn() -> FeedQuery,
) -> (Vec<Message>, bool) {
    let handles: Vec<ConversationHandle> = convs
        .iter()
        .filter_map(|(_, c)| shared.conversations.get(c).map(|h| h.clone()))
        .collect();
    let asked = handles.iter().map(|h| h.feed(query()));
    let mut beyond = false;
    let mut all = Vec::new();
    for p in join_all(asked).await.into_iter().flatten() {
        beyond |= p.beyond;
        all.extend(p.messages);
    }
    (all, beyond)
}

/// The parts of a page of the newest messages, asking the conversations
/// with the newest messages first, in rounds that double, until `limit + 1`
/// messages are newer than any the rest may hold: a page of a user in
/// thousands of conversations asks a few of them, not all. Nor can the rest
/// hold a message beyond the bound, since the ones kept are below it. Those
/// with messages as new as the bound are all asked, in the first round: the
/// rounds cannot stop before them.
/// (As when every conversation is asked at once, a message sent while the
/// page is made may be in it or not.)
async fn newest_parts(
    shared: &Shared,
    convs: &mut [(Millis, ConversationId)],
    bound: Option<FeedKey>,
    query: impl Fn() -> FeedQuery,
    limit: usize,
) -> (Vec<Message>, bool) {
    convs.sort_unstable_by_key(|&(newest, c)| (std::cmp::Reverse(newest), c));
    let above = bound.map_or(0, |b| convs.partition_point(|(newest, _)| *newest >= b.0));
    let (mut all, mut beyond) = (Vec::new(), false);
    let (mut asked, mut round) = (0, 8);
    let mut next = (above + round).min(convs.len());
    while asked < next {
        let (more, more_beyond) = parts(shared, &convs[asked..next], &query).await;
        all.extend(more);
        beyond |= more_beyond;
        let Some((rest_newest, _)) = convs.get(next) else {
            break;
        };
        if all.iter().filter(|m| m.created_at > *rest_newest).count() > limit {
            break;
        }
        round *= 2;
        (asked, next) = (next, (next + round).min(convs.len()));
    }
    (all, beyond)
}

/// The parts of a page of the oldest messages after the bound: only the
/// conversations with messages as new as the bound may hold any, and they
/// are all asked. Whether any lie before the bound, one of those nearly
/// always says (the bound's own conversation, unless its message was
/// deleted); else the rest are asked in rounds, until one holds a message
/// in the window.
async fn newer_parts(
    shared: &Shared,
    convs: &[(Millis, ConversationId)],
    bound: Option<FeedKey>,
    query: impl Fn() -> FeedQuery,
) -> (Vec<Message>, bool) {
    let Some(b) = bound else {
        return parts(shared, convs, query).await;
    };
    let (newer, older): (Vec<_>, Vec<_>) = convs.iter().partition(|(newest, _)| *newest >= b.0);
    let (all, mut beyond) = parts(shared, &newer, &query).await;
    let (mut rest, mut round) = (&older[..], 8);
    while !beyond && !rest.is_empty() {
        let (now, later) = rest.split_at(round.min(rest.len()));
        beyond = parts(shared, now, &query).await.1;
        (rest, round) = (later, round * 2);
    }
    (all, beyond)
}
