//! `Users` and `Users/{u}/Conversations`. A user is any identity the engine
//! knows; its conversations are read as that user sees them (exact unread
//! count, its own read horizon and notification level).

use actix_web::HttpResponse;
use serde_json::Value;

use super::conversations;
use super::lookup::conversation_ref;
use super::shapes::{self, role_sid, ROLES};
use super::wire::{code, Params, TwResult, TwilioError};
use super::{page, Ctx};
use crate::model::{
    Caller, Conversation, Identity, KnownUser, NotificationLevel, Participant, Status,
};
use crate::protocol::{Request, UpdateUser};

/// Finds a user by US sid or identity, once this node holds every write
/// acknowledged before (on a cluster, a user made through another node).
async fn find(ctx: &Ctx, key: &str) -> TwResult<KnownUser> {
    ctx.engine.caught_up().await;
    let found = ctx.engine.user(key).or_else(|| {
        let identity = ctx.kept.user_sids.identity(&ctx.engine, key)?;
        ctx.engine.user(identity.as_str())
    });
    found.ok_or_else(|| TwilioError::not_found(&format!("User {key}")))
}

/// A `RoleSid` for a user: one of the two service roles.
fn check_role(p: &Params) -> TwResult<()> {
    match p.get("RoleSid") {
        Some(r) if !ROLES[2..].iter().any(|def| role_sid(def) == r) => {
            Err(TwilioError::not_found(&format!("Role {r}")))
        }
        _ => Ok(()),
    }
}

/// Applies `FriendlyName` and `Attributes` as the user, which also makes the
/// user known to the engine. `new`: only if no profile was made before (the
/// engine decides it where the update lands in the log, so that of two
/// creates at once through two cluster nodes one is refused).
async fn update_profile(
    ctx: &Ctx,
    identity: Identity,
    p: &Params,
    new: bool,
) -> TwResult<KnownUser> {
    check_role(p)?;
    let update = UpdateUser {
        friendly_name: p.get("FriendlyName").map(|n| Some(n.to_string())),
        attributes: p.attributes(code::BAD_REQUEST)?,
        new,
        ..UpdateUser::default()
    };
    let name = identity.to_string();
    ctx.act(
        Caller::User(identity),
        Request::UserUpdate(update),
        code::USER_EXISTS,
    )
    .await?;
    ctx.engine
        .user(&name)
        .ok_or_else(|| TwilioError::not_found(&format!("User {name}")))
}

pub(crate) async fn list(ctx: &Ctx, p: &Params) -> TwResult<HttpResponse> {
    ctx.engine.caught_up().await;
    let order = ctx.engine.user_order();
    page::list_of(ctx, p, "users", &order, |i| {
        // A user is never forgotten, so each identity of the order is known.
        (ctx.engine.known_user(i)).map_or(Value::Null, |u| shapes::user(ctx, &u))
    })
}

pub(crate) async fn create(ctx: &Ctx, p: &Params) -> TwResult<HttpResponse> {
    let Some(identity) = p.get("Identity") else {
        return Err(TwilioError::bad("Identity is required"));
    };
    let limits = &ctx.engine.config().limits;
    let identity = Identity::parse(identity, limits.max_name_chars)
        .map_err(|e| TwilioError::engine(e, code::BAD_REQUEST))?;
    ctx.engine.caught_up().await;
    if ctx.engine.user(identity.as_str()).is_some() {
        return Err(TwilioError::new(
            409,
            code::USER_EXISTS,
            format!("User {identity} already exists"),
        ));
    }
    let u = update_profile(ctx, identity, p, true).await?;
    Ok(HttpResponse::Created().json(shapes::user(ctx, &u)))
}

pub(crate) async fn fetch(ctx: &Ctx, key: &str) -> TwResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(shapes::user(ctx, &find(ctx, key).await?)))
}

pub(crate) async fn update(ctx: &Ctx, key: &str, p: &Params) -> TwResult<HttpResponse> {
    let known = find(ctx, key).await?;
    let u = update_profile(ctx, known.user.identity, p, false).await?;
    Ok(HttpResponse::Ok().json(shapes::user(ctx, &u)))
}

/// A conversation as `identity` sees it, with its participant; 404 when the
/// user does not take part.
async fn as_user(ctx: &Ctx, identity: &Identity, c: &str) -> TwResult<HttpResponse> {
    let conversation = conversation_ref(c);
    let view: Conversation = ctx
        .run(
            Caller::User(identity.clone()),
            Request::ConversationGet { conversation },
            code::NOT_FOUND,
        )
        .await?;
    if view.status != Status::Joined {
        return Err(TwilioError::not_found(&format!("User conversation {c}")));
    }
    let p = ctx
        .participant(&view.id.to_string(), identity.as_str())
        .await?;
    Ok(HttpResponse::Ok().json(shapes::user_conversation(ctx, identity.as_str(), &view, &p)))
}

pub(crate) async fn conversations(ctx: &Ctx, u: &str, p: &Params) -> TwResult<HttpResponse> {
    let identity = find(ctx, u).await?.user.identity;
    let caller = Caller::User(identity.clone());
    let joined = |c: &Conversation| c.status == Status::Joined;
    let shape = |c: &Conversation, part: &Participant| {
        shapes::user_conversation(ctx, identity.as_str(), c, part)
    };
    conversations::of_user(ctx, p, &caller, &identity, joined, shape).await
}

pub(crate) async fn conversation(ctx: &Ctx, u: &str, c: &str) -> TwResult<HttpResponse> {
    let identity = find(ctx, u).await?.user.identity;
    as_user(ctx, &identity, c).await
}

pub(crate) async fn update_conversation(
    ctx: &Ctx,
    u: &str,
    c: &str,
    p: &Params,
) -> TwResult<HttpResponse> {
    let identity = find(ctx, u).await?.user.identity;
    let level = match p.get("NotificationLevel") {
        None => None,
        Some("default") => Some(NotificationLevel::Default),
        Some("muted") => Some(NotificationLevel::Muted),
        Some(l) => {
            return Err(TwilioError::bad(format!(
                "NotificationLevel must be default or muted, not {l:?}"
            )))
        }
    };
    let read = p.number("LastReadMessageIndex")?;
    // Checks that the user takes part before changing anything.
    as_user(ctx, &identity, c).await?;
    let conversation = conversation_ref(c);
    let me = Caller::User(identity.clone());
    if let Some(index) = read {
        let req = Request::ReadSet {
            conversation: conversation.clone(),
            index: Some(index),
        };
        ctx.act(me.clone(), req, code::BAD_REQUEST).await?;
    }
    if let Some(level) = level {
        let req = Request::SetNotificationLevel {
            conversation,
            level,
        };
        ctx.act(me, req, code::BAD_REQUEST).await?;
    }
    as_user(ctx, &identity, c).await
}

pub(crate) async fn leave(ctx: &Ctx, u: &str, c: &str) -> TwResult<HttpResponse> {
    let identity = find(ctx, u).await?.user.identity;
    as_user(ctx, &identity, c).await?;
    let req = Request::ConversationLeave {
        conversation: conversation_ref(c),
    };
    ctx.act(Caller::User(identity), req, code::BAD_REQUEST)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
