//! `Conversations/{CH}/Participants`: chat participants by `Identity`,
//! non-chat ones by `MessagingBinding.Address` and `.ProxyAddress`.

use actix_web::HttpResponse;

use super::lookup::{conversation_ref, participant_ref};
use super::shapes::{self, role_of_sid};
use super::wire::{code, Params, TwResult, TwilioError};
use super::{page, Ctx};
use crate::model::{Caller, Identity, Participant, Role};
use crate::protocol::{AddNonChat, AddParticipant, Request, UpdateParticipant};

/// A `RoleSid` parameter: one of the two conversation roles.
pub(crate) fn role(p: &Params) -> TwResult<Option<Role>> {
    p.get("RoleSid")
        .map(|r| role_of_sid(r).ok_or_else(|| TwilioError::not_found(&format!("Role {r}"))))
        .transpose()
}

pub(crate) fn identity_of(p: &Participant) -> Option<&str> {
    p.identity.as_ref().map(Identity::as_str)
}

pub(crate) async fn list(ctx: &Ctx, c: &str, p: &Params) -> TwResult<HttpResponse> {
    let all = ctx.participants(&conversation_ref(c)).await?;
    page::list_of(ctx, p, "participants", &all, |x| {
        shapes::participant(ctx, x)
    })
}

pub(crate) async fn fetch(ctx: &Ctx, c: &str, key: &str) -> TwResult<HttpResponse> {
    let x = ctx.participant(&conversation_ref(c), key).await?;
    Ok(HttpResponse::Ok().json(shapes::participant(ctx, &x)))
}

pub(crate) async fn create(ctx: &Ctx, c: &str, p: &Params) -> TwResult<HttpResponse> {
    let conversation = conversation_ref(c);
    let attributes = p.attributes(code::BAD_REQUEST)?;
    let role = role(p)?;
    let address = p.get("MessagingBinding.Address");
    let proxy = p.get("MessagingBinding.ProxyAddress");
    let added: Participant = match (p.get("Identity"), address, proxy) {
        (Some(identity), None, _) => {
            let req = Request::ParticipantAdd(AddParticipant {
                conversation,
                identity: identity.to_string(),
                attributes,
                role,
            });
            ctx.run(Caller::Service, req, code::PARTICIPANT_EXISTS)
                .await?
        }
        (None, Some(address), Some(proxy)) => {
            if role.is_some_and(|r| r != Role::Member) {
                return Err(TwilioError::bad(
                    "a non-chat participant has the channel user role",
                ));
            }
            // Exclusive: the engine refuses a pair another open
            // conversation holds (engine/bindings.rs).
            let req = Request::ParticipantAddNonChat(AddNonChat {
                conversation,
                proxy_address: proxy.to_string(),
                address: address.to_string(),
                attributes,
                exclusive: true,
            });
            ctx.run(Caller::Service, req, code::BINDING_EXISTS).await?
        }
        (Some(_), Some(_), _) => {
            return Err(TwilioError::bad(
                "a participant has an Identity or a MessagingBinding.Address, not both",
            ))
        }
        (None, Some(_), None) => {
            return Err(TwilioError::bad(
                "MessagingBinding.ProxyAddress is required with MessagingBinding.Address",
            ))
        }
        (None, None, _) => {
            return Err(TwilioError::bad(
                "Identity or MessagingBinding.Address is required",
            ))
        }
    };
    Ok(HttpResponse::Created().json(shapes::participant(ctx, &added)))
}

pub(crate) async fn update(ctx: &Ctx, c: &str, key: &str, p: &Params) -> TwResult<HttpResponse> {
    let conversation = conversation_ref(c);
    let attributes = p.attributes(code::BAD_REQUEST)?;
    let role = role(p)?;
    let read = p.number("LastReadMessageIndex")?;
    let current = ctx.participant(&conversation, key).await?;
    if let Some(i) = p.get("Identity") {
        if identity_of(&current) != Some(i) {
            return Err(TwilioError::NotEmulated(
                "changing a participant's Identity".into(),
            ));
        }
    }
    let identity = identity_of(&current).map(str::to_string);
    if read.is_some() && identity.is_none() {
        return Err(TwilioError::bad(
            "a non-chat participant has no read horizon",
        ));
    }
    let participant = participant_ref(key);
    if attributes.is_some() || role.is_some() {
        let req = Request::ParticipantUpdate(UpdateParticipant {
            conversation: conversation.clone(),
            participant,
            attributes,
            role,
        });
        ctx.act(Caller::Service, req, code::BAD_REQUEST).await?;
    }
    if let (Some(index), Some(identity)) = (read, identity) {
        let reader = Caller::User(Identity::from_stored(&identity));
        let req = Request::ReadSet {
            conversation: conversation.clone(),
            index: Some(index),
        };
        ctx.act(reader, req, code::BAD_REQUEST).await?;
    }
    let x = ctx
        .participant(&conversation, &current.id.to_string())
        .await?;
    Ok(HttpResponse::Ok().json(shapes::participant(ctx, &x)))
}

pub(crate) async fn delete(ctx: &Ctx, c: &str, key: &str) -> TwResult<HttpResponse> {
    let req = Request::ParticipantRemove {
        conversation: conversation_ref(c),
        participant: participant_ref(key),
    };
    ctx.act(Caller::Service, req, code::BAD_REQUEST).await?;
    Ok(HttpResponse::NoContent().finish())
}
