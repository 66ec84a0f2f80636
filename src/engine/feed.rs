//! `message.feed`: the newest messages over a user's conversations, asking
//! only the conversations that may hold a page's.

use futures_util::future::join_all;

use super::Engine;
use crate::conversation::{
    ConvInfo, ConversationHandle, FeedKey, FeedQuery, FeedSide, Shared, Window,
};
use crate::error::{Error, Result};
use crate::model::{Caller, ConversationId, Message, Millis, Page};
use crate::paging::{decode_cursor, encode_cursor, page_size};
use crate::protocol::{Feed, Reply};

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

impl Engine {
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
