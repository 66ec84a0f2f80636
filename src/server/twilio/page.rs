//! Twilio list pages: full pages numbered from 0, with absolute `meta` URLs the
//! helper libraries follow verbatim, and `meta.key` naming the records.

use std::future::Future;

use actix_web::HttpResponse;
use serde_json::{json, Value};

use super::wire::{Params, TwResult, TwilioError};
use super::Ctx;
use crate::engine::Created;
use crate::model::{ConversationId, ParticipantId};

/// Page size when none is asked for, and the largest one.
const DEFAULT_PAGE_SIZE: u64 = 50;
const MAX_PAGE_SIZE: u64 = 1000;

/// Parameters that address a page rather than filter the list.
const PAGING: [&str; 3] = ["PageSize", "Page", "PageToken"];

/// The page a request asks for: its size and number.
pub(crate) fn asked(params: &Params) -> TwResult<(u64, u64)> {
    let size = params.number("PageSize")?.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&size) {
        return Err(TwilioError::bad(format!(
            "PageSize must be between 1 and {MAX_PAGE_SIZE}"
        )));
    }
    Ok((size, params.number("Page")?.unwrap_or(0)))
}

/// Where a page starts, carried by the `PageToken` of the URLs that lead to
/// it: just after, or just before, a record of the page next to it. A list
/// that reads by token costs a page, not the whole list, and a record
/// deleted between two pages moves nothing else from one page to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token<K> {
    /// The records after this key, in the list's order.
    After(K),
    /// The records before this key.
    Before(K),
}

/// What orders a list read by token: a message's index, a conversation's
/// place in creation order.
pub(crate) trait Key: Copy {
    fn text(&self) -> String;
    fn parse(text: &str) -> Option<Self>;
}

impl Key for u64 {
    fn text(&self) -> String {
        self.to_string()
    }
    fn parse(text: &str) -> Option<u64> {
        text.parse().ok()
    }
}

impl Key for Created {
    fn text(&self) -> String {
        format!("{}_{}", self.0, self.1 .0.simple())
    }
    fn parse(text: &str) -> Option<Created> {
        let (at, id) = text.split_once('_')?;
        Some((at.parse().ok()?, ConversationId::parse(id)?))
    }
}

/// A record of an address's list (`ParticipantConversations?Address=`):
/// its conversation's place in creation order, then its participant's id (an
/// address may be bound in one conversation through several proxies).
pub(crate) type Bound = (Created, ParticipantId);

impl Key for Bound {
    fn text(&self) -> String {
        format!("{}_{}", self.0.text(), self.1 .0.simple())
    }
    fn parse(text: &str) -> Option<Bound> {
        let (conversation, participant) = text.rsplit_once('_')?;
        Some((
            <Created as Key>::parse(conversation)?,
            ParticipantId::parse(participant)?,
        ))
    }
}

impl<K: Key> Token<K> {
    /// The request's token, if it is one of these (any other token, from a
    /// list paged by number, leaves the page to its number).
    pub fn of(params: &Params) -> Option<Token<K>> {
        let t = params.get("PageToken")?.strip_prefix("PT")?;
        match t.split_at_checked(1)? {
            ("a", k) => K::parse(k).map(Token::After),
            ("b", k) => K::parse(k).map(Token::Before),
            _ => None,
        }
    }

    fn text(self) -> String {
        match self {
            Token::After(k) => format!("PTa{}", k.text()),
            Token::Before(k) => format!("PTb{}", k.text()),
        }
    }
}

/// The records of the page a request asks for, and whether more follow it.
/// `read(after, forward, want)` reads up to `want` records beyond `after`
/// (None: from the list's start going forward, from its end going back),
/// the list's way or against it, in the order read; a page asked by token
/// reads its own records, one asked by number alone is counted from the
/// start.
pub(crate) async fn read<K, T, R>(
    params: &Params,
    read: impl Fn(Option<K>, bool, usize) -> R,
) -> TwResult<(Vec<T>, bool)>
where
    K: Key,
    R: Future<Output = TwResult<Vec<T>>>,
{
    let (size, number) = asked(params)?;
    let size = size as usize;
    Ok(match Token::of(params) {
        Some(Token::After(key)) => {
            let mut records = read(Some(key), true, size + 1).await?;
            let more = records.len() > size;
            records.truncate(size);
            (records, more)
        }
        Some(Token::Before(key)) => {
            let mut records = read(Some(key), false, size).await?;
            records.reverse();
            // The page this one came back from follows it.
            (records, true)
        }
        None => {
            let skip = (number as usize).saturating_mul(size);
            let want = skip.saturating_add(size).saturating_add(1);
            let records = read(None, true, want).await?;
            let more = records.len() == want;
            (records.into_iter().skip(skip).take(size).collect(), more)
        }
    })
}

/// One page of a list read by [`Token`]: its records, whether more follow,
/// and the keys of its first and last records.
pub(crate) struct Window<K> {
    pub records: Vec<Value>,
    pub more: bool,
    pub first: Option<K>,
    pub last: Option<K>,
}

/// Answers the page a request asks for, a [`Window`] of the list read for it.
pub(crate) fn window<K: Key>(
    ctx: &Ctx,
    params: &Params,
    key: &str,
    w: Window<K>,
) -> TwResult<HttpResponse> {
    let (size, page) = asked(params)?;
    let previous = w.first.map(|k| Token::Before(k).text());
    let next = w.last.map(|k| Token::After(k).text());
    let this = params.get("PageToken").map(str::to_string);
    let links = Links {
        previous: (page > 0).then(|| url(ctx, size, page - 1, previous)),
        this: url(ctx, size, page, this.filter(|_| page > 0)),
        next: w.more.then(|| url(ctx, size, page + 1, next)),
    };
    answer(ctx, key, w.records, size, page, links)
}

/// Answers one page of `items` (the whole list, in its order) under `key`.
pub(crate) fn list(
    ctx: &Ctx,
    params: &Params,
    key: &str,
    items: Vec<Value>,
) -> TwResult<HttpResponse> {
    list_of(ctx, params, key, &items, Value::clone)
}

/// Answers one page of `items` (the whole list, in its order) under `key`,
/// shaping only that page's records.
pub(crate) fn list_of<T>(
    ctx: &Ctx,
    params: &Params,
    key: &str,
    items: &[T],
    shape: impl Fn(&T) -> Value,
) -> TwResult<HttpResponse> {
    let (size, page) = asked(params)?;
    let total = items.len() as u64;
    let start = page.saturating_mul(size).min(total);
    let end = start.saturating_add(size).min(total);
    let records: Vec<Value> = items[start as usize..end as usize]
        .iter()
        .map(shape)
        .collect();
    // Opaque to the client; a list paged by number only echoes it.
    let token = |p: u64| Some(format!("PT{p}"));
    let links = Links {
        previous: (page > 0).then(|| url(ctx, size, page - 1, token(page - 1))),
        this: url(ctx, size, page, token(page).filter(|_| page > 0)),
        next: (end < total).then(|| url(ctx, size, page + 1, token(page + 1))),
    };
    answer(ctx, key, records, size, page, links)
}

/// The URLs of the pages around one.
struct Links {
    previous: Option<String>,
    this: String,
    next: Option<String>,
}

fn answer(
    ctx: &Ctx,
    key: &str,
    records: Vec<Value>,
    size: u64,
    page: u64,
    links: Links,
) -> TwResult<HttpResponse> {
    let meta = json!({
        "page": page,
        "page_size": size,
        "first_page_url": url(ctx, size, 0, None),
        "previous_page_url": links.previous,
        "url": links.this,
        "next_page_url": links.next,
        "key": key,
    });
    Ok(HttpResponse::Ok().json(json!({ key: records, "meta": meta })))
}

/// The request's own URL (path and filters) addressing page `p`.
fn url(ctx: &Ctx, size: u64, p: u64, token: Option<String>) -> String {
    let mut pairs: Vec<(String, String)> = ctx
        .query
        .iter()
        .filter(|(k, _)| !PAGING.contains(&k.as_str()))
        .cloned()
        .collect();
    pairs.push(("PageSize".into(), size.to_string()));
    pairs.push(("Page".into(), p.to_string()));
    if let Some(token) = token {
        pairs.push(("PageToken".into(), token));
    }
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    format!("{}{}?{query}", ctx.base, ctx.path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(token: &str) -> Params {
        let query = serde_urlencoded::to_string([("PageToken", token)]).expect("encodes");
        Params::parse(&query, b"").expect("parses")
    }

    #[test]
    fn tokens_read_back_and_others_are_left_to_the_page_number() {
        for t in [Token::After(0), Token::Before(41), Token::After(u64::MAX)] {
            assert_eq!(Token::of(&params(&t.text())), Some(t));
        }
        for other in ["PT3", "PTa", "PTx5", "PTa-1", "PTb1.5", "", "a5", "PTé5"] {
            assert_eq!(Token::<u64>::of(&params(other)), None, "{other:?}");
        }
        let created: Created = (1_700_000_000_000, ConversationId::new());
        for t in [Token::After(created), Token::Before(created)] {
            assert_eq!(Token::of(&params(&t.text())), Some(t));
        }
        let id = created.1 .0.simple();
        for other in [
            "PTa5",
            "PTa5_",
            "PTa_1",
            &format!("PTax_{id}"),
            &format!("PTa-1_{id}"),
        ] {
            assert_eq!(Token::<Created>::of(&params(other)), None, "{other:?}");
        }
    }
}
