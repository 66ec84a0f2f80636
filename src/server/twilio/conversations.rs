//! `Conversations`, `ConversationWithParticipants` and `ParticipantConversations`.

use actix_web::HttpResponse;
use futures_util::FutureExt;
use serde_json::Value;

use std::ops::RangeInclusive;

use super::lookup::{conversation_ref, Scope};
use super::page::Window;
use super::shapes::{self, role_of_sid};
use super::wire::{self, code, Params, TwResult, TwilioError};
use super::{page, Ctx};
use crate::engine::Created;
use crate::model::{Caller, Conversation, Identity, Millis, Participant, Role, State};
use crate::protocol::{
    AddNonChat, CreateConversation, Request, UpdateConversation, UpdateParticipant,
};

/// A `State` parameter.
fn state(p: &Params) -> TwResult<Option<State>> {
    p.get("State")
        .map(|s| match s {
            "active" => Ok(State::Active),
            "inactive" => Ok(State::Inactive),
            "closed" => Ok(State::Closed),
            other => Err(TwilioError::bad(format!(
                "State must be active, inactive or closed, not {other:?}"
            ))),
        })
        .transpose()
}

/// The conversation list: in creation order, or, with `StartDate` or
/// `EndDate` (creation dates, both inclusive), the newest first, as Twilio
/// lists them then.
pub(crate) async fn list(ctx: &Ctx, p: &Params) -> TwResult<HttpResponse> {
    let wanted = state(p)?;
    let keep = |c: &Conversation| wanted.is_none_or(|s| c.state.current == s);
    let dated = created_between(p)?;
    let newest_first = dated.is_some();
    let scope = Scope {
        caller: &Caller::Service,
        subject: None,
        created: dated.unwrap_or(0..=Millis::MAX),
    };
    let (records, more) = page::read(p, |after, forward, want| {
        (ctx.conversations_created(&scope, after, forward != newest_first, want, keep)).map(Ok)
    })
    .await?;
    let window = Window {
        first: records.first().map(created),
        last: records.last().map(created),
        records: records
            .iter()
            .map(|c| shapes::conversation(ctx, c))
            .collect(),
        more,
    };
    page::window(ctx, p, "conversations", window)
}

/// The creation times (ms) that `StartDate` and `EndDate` keep, when either
/// is given: a day (`YYYY-MM-DD`, from its start or to its end) or an
/// instant (`YYYY-MM-DDTHH:MM:SSZ`), compared in whole seconds as
/// `date_created` shows them.
fn created_between(p: &Params) -> TwResult<Option<RangeInclusive<Millis>>> {
    let (start, end) = (p.get("StartDate"), p.get("EndDate"));
    if start.is_none() && end.is_none() {
        return Ok(None);
    }
    let from = start.map_or(Ok(0), |s| wire::seconds("StartDate", s, false))?;
    let to = end.map_or(Ok(u64::MAX / 1000), |s| wire::seconds("EndDate", s, true))?;
    Ok(Some(
        from.saturating_mul(1000)..=to.saturating_mul(1000).saturating_add(999),
    ))
}

/// Where a conversation stands in the Twilio face's lists.
fn created(c: &Conversation) -> Created {
    (c.created_at, c.id)
}

/// Answers the page a request asks of the conversations `identity` takes
/// part in, oldest first, as `caller` sees them, that `keep` keeps: each
/// shaped with `identity`'s participant in it (one it has left meanwhile is
/// left out).
pub(crate) async fn of_user(
    ctx: &Ctx,
    p: &Params,
    caller: &Caller,
    identity: &Identity,
    keep: impl Fn(&Conversation) -> bool + Copy,
    shape: impl Fn(&Conversation, &Participant) -> Value,
) -> TwResult<HttpResponse> {
    let scope = Scope {
        caller,
        subject: Some(identity),
        created: 0..=Millis::MAX,
    };
    let (records, more) = page::read(p, |after, forward, want| {
        (ctx.conversations_created(&scope, after, forward, want, keep)).map(Ok)
    })
    .await?;
    let mut shaped = Vec::with_capacity(records.len());
    for c in &records {
        if let Ok(part) = ctx.participant(&c.id.to_string(), identity.as_str()).await {
            shaped.push(shape(c, &part));
        }
    }
    let window = Window {
        first: records.first().map(created),
        last: records.last().map(created),
        records: shaped,
        more,
    };
    page::window(ctx, p, "conversations", window)
}

pub(crate) async fn fetch(ctx: &Ctx, key: &str) -> TwResult<HttpResponse> {
    let c = ctx.conversation(key).await?;
    Ok(HttpResponse::Ok().json(shapes::conversation(ctx, &c)))
}

/// What a create names, checked before anything is created.
struct NewConversation {
    fields: CreateConversation,
    state: Option<State>,
}

fn new_conversation(p: &Params) -> TwResult<NewConversation> {
    Ok(NewConversation {
        fields: CreateConversation {
            friendly_name: p.get("FriendlyName").map(str::to_string),
            unique_name: p.get("UniqueName").map(str::to_string),
            attributes: p.attributes(code::BAD_CONVERSATION_ATTRIBUTES)?,
            ..CreateConversation::default()
        },
        state: state(p)?,
    })
}

/// Creates it as the service, then sets a `State` other than active.
async fn create_conversation(ctx: &Ctx, new: NewConversation) -> TwResult<Conversation> {
    let c: Conversation = ctx
        .run(
            Caller::Service,
            Request::ConversationCreate(new.fields),
            code::UNIQUE_NAME_TAKEN,
        )
        .await?;
    match new.state {
        Some(s) if s != c.state.current => {
            let update = UpdateConversation {
                conversation: c.id.to_string(),
                state: Some(s),
                ..UpdateConversation::default()
            };
            ctx.run(
                Caller::Service,
                Request::ConversationUpdate(update),
                code::BAD_REQUEST,
            )
            .await
        }
        _ => Ok(c),
    }
}

pub(crate) async fn create(ctx: &Ctx, p: &Params) -> TwResult<HttpResponse> {
    let c = create_conversation(ctx, new_conversation(p)?).await?;
    Ok(HttpResponse::Created().json(shapes::conversation(ctx, &c)))
}

pub(crate) async fn update(ctx: &Ctx, key: &str, p: &Params) -> TwResult<HttpResponse> {
    let attributes = p.attributes(code::BAD_CONVERSATION_ATTRIBUTES)?;
    let state = state(p)?;
    let update = UpdateConversation {
        conversation: conversation_ref(key),
        friendly_name: p.get("FriendlyName").map(|s| Some(s.to_string())),
        unique_name: p.get("UniqueName").map(|s| Some(s.to_string())),
        attributes,
        state,
        ..UpdateConversation::default()
    };
    let changes = update.friendly_name.is_some()
        || update.unique_name.is_some()
        || update.attributes.is_some()
        || update.state.is_some();
    let c = if changes {
        ctx.run(
            Caller::Service,
            Request::ConversationUpdate(update),
            code::UNIQUE_NAME_TAKEN,
        )
        .await?
    } else {
        ctx.conversation(key).await?
    };
    Ok(HttpResponse::Ok().json(shapes::conversation(ctx, &c)))
}

pub(crate) async fn delete(ctx: &Ctx, key: &str) -> TwResult<HttpResponse> {
    let conversation = conversation_ref(key);
    ctx.act(
        Caller::Service,
        Request::ConversationDelete { conversation },
        code::BAD_REQUEST,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// One `Participant` of `ConversationWithParticipants`, checked.
enum Named {
    Chat {
        identity: String,
        attributes: Option<Value>,
        role: Option<Role>,
    },
    NonChat(AddNonChat),
}

fn named(json: &str) -> TwResult<Named> {
    let bad = |m: &str| TwilioError::bad(format!("Participant {json:?}: {m}"));
    let v: Value = serde_json::from_str(json).map_err(|_| bad("is not JSON"))?;
    let attributes = match v.get("attributes") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            Some(serde_json::from_str(s).map_err(|_| bad("attributes is not JSON"))?)
        }
        Some(other) => Some(other.clone()),
    };
    let role = match v.get("role_sid").and_then(Value::as_str) {
        None => None,
        Some(r) => {
            Some(role_of_sid(r).ok_or_else(|| TwilioError::not_found(&format!("Role {r}")))?)
        }
    };
    if let Some(i) = v.get("identity").and_then(Value::as_str) {
        return Ok(Named::Chat {
            identity: i.to_string(),
            attributes,
            role,
        });
    }
    let binding = v.get("messaging_binding");
    let field = |k: &str| {
        binding
            .and_then(|b| b.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    match (field("address"), field("proxy_address")) {
        (Some(address), Some(proxy_address)) => Ok(Named::NonChat(AddNonChat {
            conversation: String::new(),
            proxy_address,
            address,
            attributes,
            exclusive: true,
        })),
        _ => Err(bad(
            "needs identity, or messaging_binding with address and proxy_address",
        )),
    }
}

/// Creates a conversation with its participants, all or nothing: everything is
/// checked first, and if a later step is refused the conversation is deleted.
pub(crate) async fn create_with_participants(ctx: &Ctx, p: &Params) -> TwResult<HttpResponse> {
    let mut new = new_conversation(p)?;
    let named: Vec<Named> = p
        .all("Participant")
        .into_iter()
        .map(named)
        .collect::<TwResult<_>>()?;
    let mut identities: Vec<String> = Vec::new();
    let mut addresses: Vec<(&str, &str)> = Vec::new();
    for n in &named {
        match n {
            Named::Chat { identity, .. } if identities.contains(identity) => {
                return Err(TwilioError::new(
                    409,
                    code::PARTICIPANT_EXISTS,
                    format!("{identity} is named twice"),
                ));
            }
            Named::Chat { identity, .. } => identities.push(identity.clone()),
            Named::NonChat(b)
                if addresses.contains(&(b.address.as_str(), b.proxy_address.as_str())) =>
            {
                return Err(TwilioError::new(
                    409,
                    code::BINDING_EXISTS,
                    format!("{} is named twice", b.address),
                ));
            }
            Named::NonChat(b) => addresses.push((&b.address, &b.proxy_address)),
        }
    }
    // Checked first so that nothing is made in the common case; the engine
    // decides (an add refused by then undoes the conversation).
    for (address, proxy) in addresses {
        ctx.binding_free(address, proxy).await?;
    }
    new.fields.participants = identities;
    let c = create_conversation(ctx, new).await?;
    let id = c.id.to_string();
    for n in named {
        let req = match n {
            Named::Chat {
                attributes: None,
                role: None,
                ..
            } => continue,
            Named::Chat {
                identity,
                attributes,
                role,
            } => Request::ParticipantUpdate(UpdateParticipant {
                conversation: id.clone(),
                participant: identity,
                attributes,
                role,
            }),
            Named::NonChat(b) => Request::ParticipantAddNonChat(AddNonChat {
                conversation: id.clone(),
                ..b
            }),
        };
        if let Err(e) = ctx.act(Caller::Service, req, code::BINDING_EXISTS).await {
            let undo = Request::ConversationDelete {
                conversation: id.clone(),
            };
            if let Err(u) = ctx.act(Caller::Service, undo, code::BAD_REQUEST).await {
                log::warn!("twilio: could not undo a refused ConversationWithParticipants: {u}");
            }
            return Err(e);
        }
    }
    let c = ctx.conversation(&id).await?;
    Ok(HttpResponse::Created().json(shapes::conversation(ctx, &c)))
}

/// The conversations a user (`Identity`) or an address (`Address`) takes
/// part in, paged by token: a user's one record per conversation, an
/// address's one per participant bound to it.
pub(crate) async fn participant_conversations(ctx: &Ctx, p: &Params) -> TwResult<HttpResponse> {
    let shape = |c: &Conversation, x: &Participant| shapes::participant_conversation(ctx, c, x);
    if let Some(i) = p.get("Identity") {
        let limit = ctx.engine.config().limits.max_name_chars;
        let identity =
            Identity::parse(i, limit).map_err(|e| TwilioError::engine(e, code::BAD_REQUEST))?;
        return of_user(ctx, p, &Caller::Service, &identity, |_| true, shape).await;
    }
    let Some(address) = p.get("Address") else {
        return Err(TwilioError::bad(
            "ParticipantConversations needs Identity or Address",
        ));
    };
    let (records, more) = page::read(p, |after, forward, want| {
        ctx.bound_records(address, after, forward, want).map(Ok)
    })
    .await?;
    let key = |(c, x): &(Conversation, Participant)| (created(c), x.id);
    let window = Window {
        first: records.first().map(key),
        last: records.last().map(key),
        records: records.iter().map(|(c, x)| shape(c, x)).collect(),
        more,
    };
    page::window(ctx, p, "conversations", window)
}
