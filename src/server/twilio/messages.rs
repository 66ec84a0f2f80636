//! `Conversations/{CH}/Messages`: chat messages only (colloquy's log messages
//! stay hidden, leaving gaps in `index` as Twilio allows).

use actix_web::HttpResponse;

use super::lookup::{conversation_ref, message_ref};
use super::page::Window;
use super::wire::{code, Params, TwResult, TwilioError};
use super::{page, shapes, Ctx};
use crate::model::{Caller, Identity, Message};
use crate::protocol::{EditMessage, Reply, Request, SendMessage};

/// Who a message is by when the request names no `Author`.
const DEFAULT_AUTHOR: &str = "system";

/// Parameters of Twilio's that name content colloquy does not hold.
const NOT_EMULATED: [&str; 3] = ["MediaSid", "ContentSid", "ContentVariables"];

/// Messages in Twilio's shape, with each author's MB sid.
async fn shaped(
    ctx: &Ctx,
    conversation: &str,
    messages: &[Message],
) -> TwResult<Vec<serde_json::Value>> {
    let participants = ctx.participants(conversation).await?;
    Ok(messages
        .iter()
        .map(|m| {
            let author = m.author.as_ref().map(Identity::as_str);
            shapes::message(ctx, m, Ctx::author_sid(&participants, author))
        })
        .collect())
}

async fn one(ctx: &Ctx, conversation: &str, m: &Message) -> TwResult<serde_json::Value> {
    let mut v = shaped(ctx, conversation, std::slice::from_ref(m)).await?;
    Ok(v.pop().unwrap_or_default())
}

pub(crate) async fn list(ctx: &Ctx, c: &str, p: &Params) -> TwResult<HttpResponse> {
    let conversation = conversation_ref(c);
    let newest_first = match p.get("Order") {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(o) => {
            return Err(TwilioError::bad(format!(
                "Order must be asc or desc, not {o:?}"
            )))
        }
    };
    let conversation = &conversation;
    let (records, more) = page::read(p, |after: Option<u64>, forward, want| async move {
        // The list goes oldest first unless `Order=desc`.
        let ahead = forward != newest_first;
        let from = match after.map(|key| beyond(key, ahead)) {
            Some(None) => return Ok(Vec::new()),
            Some(from) => from,
            None => None,
        };
        ctx.chat_messages(conversation, from, ahead, want).await
    })
    .await?;
    let window = Window {
        first: records.first().map(|m| m.index),
        last: records.last().map(|m| m.index),
        records: shaped(ctx, conversation, &records).await?,
        more,
    };
    page::window(ctx, p, "messages", window)
}

/// The first index past `key` going forward (or back): None when there is
/// none.
fn beyond(key: u64, forward: bool) -> Option<u64> {
    if forward {
        key.checked_add(1)
    } else {
        key.checked_sub(1)
    }
}

pub(crate) async fn fetch(ctx: &Ctx, c: &str, key: &str) -> TwResult<HttpResponse> {
    let conversation = conversation_ref(c);
    let m = ctx.message(&conversation, key).await?;
    Ok(HttpResponse::Ok().json(one(ctx, &conversation, &m).await?))
}

pub(crate) async fn create(ctx: &Ctx, c: &str, p: &Params) -> TwResult<HttpResponse> {
    p.refuse(&NOT_EMULATED)?;
    let conversation = conversation_ref(c);
    let attributes = p.attributes(code::BAD_REQUEST)?;
    let body = p.get("Body").filter(|b| !b.is_empty());
    let Some(body) = body else {
        return Err(TwilioError::new(
            400,
            code::MESSAGE_EMPTY,
            "A message needs a Body or media",
        ));
    };
    let send = SendMessage {
        author: Some(p.get("Author").unwrap_or(DEFAULT_AUTHOR).to_string()),
        attributes,
        ..SendMessage::text(&conversation, body)
    };
    let sent: Reply = ctx
        .run(
            Caller::Service,
            Request::MessageSend(send),
            code::CONVERSATION_CLOSED,
        )
        .await?;
    let Reply::Sent { id, .. } = sent else {
        return Err(TwilioError::new(
            500,
            code::INTERNAL,
            "message.send answered no id",
        ));
    };
    let m = ctx
        .message(&conversation, &super::wire::sid("IM", id))
        .await?;
    Ok(HttpResponse::Created().json(one(ctx, &conversation, &m).await?))
}

pub(crate) async fn update(ctx: &Ctx, c: &str, key: &str, p: &Params) -> TwResult<HttpResponse> {
    p.refuse(&NOT_EMULATED)?;
    let conversation = conversation_ref(c);
    let attributes = p.attributes(code::BAD_REQUEST)?;
    let current = ctx.message(&conversation, key).await?;
    if let Some(a) = p.get("Author") {
        if current.author.as_ref().map(Identity::as_str) != Some(a) {
            return Err(TwilioError::NotEmulated(
                "changing a message's Author".into(),
            ));
        }
    }
    let body = p.get("Body").map(str::to_string);
    if body.as_deref() == Some("") && current.media.is_empty() {
        return Err(TwilioError::new(
            400,
            code::MESSAGE_EMPTY,
            "A message needs a Body or media",
        ));
    }
    let m = if body.is_some() || attributes.is_some() {
        let edit = EditMessage {
            conversation: conversation.clone(),
            message: message_ref(key)?,
            body,
            attributes,
        };
        ctx.run(
            Caller::Service,
            Request::MessageEdit(edit),
            code::BAD_REQUEST,
        )
        .await?
    } else {
        current
    };
    Ok(HttpResponse::Ok().json(one(ctx, &conversation, &m).await?))
}

pub(crate) async fn delete(ctx: &Ctx, c: &str, key: &str) -> TwResult<HttpResponse> {
    let conversation = conversation_ref(c);
    // Log messages are not Twilio's to delete: they are not found here.
    ctx.message(&conversation, key).await?;
    let req = Request::MessageDelete {
        conversation,
        message: message_ref(key)?,
    };
    ctx.act(Caller::Service, req, code::BAD_REQUEST).await?;
    Ok(HttpResponse::NoContent().finish())
}
