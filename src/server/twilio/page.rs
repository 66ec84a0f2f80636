//! Twilio list pages: full pages numbered from 0, with absolute `meta` URLs the
//! helper libraries follow verbatim, and `meta.key` naming the records.

use actix_web::HttpResponse;
use serde_json::{json, Value};

use super::wire::{Params, TwResult, TwilioError};
use super::Ctx;

/// Page size when none is asked for, and the largest one.
const DEFAULT_PAGE_SIZE: u64 = 50;
const MAX_PAGE_SIZE: u64 = 1000;

/// Parameters that address a page rather than filter the list.
const PAGING: [&str; 3] = ["PageSize", "Page", "PageToken"];

/// Answers one page of `items` (the whole list, in its order) under `key`.
pub(crate) fn list(
    ctx: &Ctx,
    params: &Params,
    key: &str,
    items: Vec<Value>,
) -> TwResult<HttpResponse> {
    let size = params.number("PageSize")?.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&size) {
        return Err(TwilioError::bad(format!(
            "PageSize must be between 1 and {MAX_PAGE_SIZE}"
        )));
    }
    let page = params.number("Page")?.unwrap_or(0);
    let total = items.len() as u64;
    let start = page.saturating_mul(size).min(total);
    let end = start.saturating_add(size).min(total);
    let records: Vec<Value> = items
        .into_iter()
        .skip(start as usize)
        .take((end - start) as usize)
        .collect();
    let url = |p: u64, token: bool| page_url(ctx, size, p, token);
    let meta = json!({
        "page": page,
        "page_size": size,
        "first_page_url": url(0, false),
        "previous_page_url": (page > 0).then(|| url(page - 1, true)),
        "url": url(page, page > 0),
        "next_page_url": (end < total).then(|| url(page + 1, true)),
        "key": key,
    });
    Ok(HttpResponse::Ok().json(json!({ key: records, "meta": meta })))
}

/// The request's own URL (path and filters) addressing page `p`.
fn page_url(ctx: &Ctx, size: u64, p: u64, token: bool) -> String {
    let mut pairs: Vec<(String, String)> = ctx
        .query
        .iter()
        .filter(|(k, _)| !PAGING.contains(&k.as_str()))
        .cloned()
        .collect();
    pairs.push(("PageSize".into(), size.to_string()));
    pairs.push(("Page".into(), p.to_string()));
    if token {
        // Opaque to the client; colloquy pages by number, so it only echoes it.
        pairs.push(("PageToken".into(), format!("PT{p}")));
    }
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    format!("{}{}?{query}", ctx.base, ctx.path)
}
