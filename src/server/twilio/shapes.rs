//! colloquy's objects in Twilio's shapes (`TWILIO.md` §5). Every key the
//! helper libraries read is present, null where colloquy has no value.

use serde_json::{json, Value};

use super::wire::{attributes_out, date, service_sid, sid, user_sid};
use super::Ctx;
use crate::model::{Conversation, KnownUser, Message, MessagingBinding, Participant, Role, State};

/// The four fixed roles: sid seed, name, type, permissions.
pub(crate) struct RoleDef {
    pub name: &'static str,
    pub kind: &'static str,
    pub permissions: &'static [&'static str],
}

pub(crate) const ROLES: [RoleDef; 4] = [
    RoleDef {
        name: "channel admin",
        kind: "conversation",
        permissions: &[
            "sendMessage",
            "sendMediaMessage",
            "leaveConversation",
            "addParticipant",
            "removeParticipant",
            "editConversationName",
            "editConversationAttributes",
            "editAnyMessage",
            "editAnyMessageAttributes",
            "deleteAnyMessage",
            "editAnyParticipantAttributes",
            "editOwnMessage",
            "deleteOwnMessage",
        ],
    },
    RoleDef {
        name: "channel user",
        kind: "conversation",
        permissions: &[
            "sendMessage",
            "sendMediaMessage",
            "leaveConversation",
            "addParticipant",
            "editConversationName",
            "editConversationAttributes",
            "editOwnMessage",
            "editOwnMessageAttributes",
            "deleteOwnMessage",
            "editOwnParticipantAttributes",
        ],
    },
    RoleDef {
        name: "service admin",
        kind: "service",
        permissions: &[
            "createConversation",
            "joinConversation",
            "editAnyUserInfo",
            "destroyConversation",
        ],
    },
    RoleDef {
        name: "service user",
        kind: "service",
        permissions: &["createConversation", "joinConversation", "editOwnUserInfo"],
    },
];

pub(crate) fn role_sid(r: &RoleDef) -> String {
    super::wire::hashed_sid("RL", &format!("role:{}", r.name))
}

/// The RL sid of a participant's role.
pub(crate) fn participant_role_sid(role: Role) -> String {
    role_sid(match role {
        Role::Admin => &ROLES[0],
        Role::Member => &ROLES[1],
    })
}

/// The conversation role an RL sid names; None for any other sid.
pub(crate) fn role_of_sid(s: &str) -> Option<Role> {
    if s == role_sid(&ROLES[0]) {
        Some(Role::Admin)
    } else if s == role_sid(&ROLES[1]) {
        Some(Role::Member)
    } else {
        None
    }
}

/// Where the emulated server was created, for the service and roles: fixed.
const EPOCH_MS: u64 = 1_700_000_000_000;

pub(crate) fn role(ctx: &Ctx, r: &RoleDef) -> Value {
    let sid = role_sid(r);
    json!({
        "sid": sid, "account_sid": ctx.account_sid, "chat_service_sid": service_sid(),
        "friendly_name": r.name, "type": r.kind, "permissions": r.permissions,
        "date_created": date(EPOCH_MS), "date_updated": date(EPOCH_MS),
        "url": ctx.url(&format!("/Roles/{sid}")),
    })
}

pub(crate) fn service(ctx: &Ctx) -> Value {
    let url = format!("{}/Services/{}", ctx.base, service_sid());
    json!({
        "account_sid": ctx.account_sid, "sid": service_sid(), "friendly_name": "colloquy",
        "date_created": date(EPOCH_MS), "date_updated": date(EPOCH_MS), "url": url,
        "links": {
            "conversations": format!("{url}/Conversations"), "users": format!("{url}/Users"),
            "roles": format!("{url}/Roles"), "bindings": format!("{url}/Bindings"),
            "configuration": format!("{url}/Configuration"),
            "participant_conversations": format!("{url}/ParticipantConversations"),
        },
    })
}

pub(crate) fn state(s: State) -> &'static str {
    match s {
        State::Active => "active",
        State::Inactive => "inactive",
        State::Closed => "closed",
    }
}

pub(crate) fn conversation(ctx: &Ctx, c: &Conversation) -> Value {
    let url = ctx.url(&format!("/Conversations/{}", sid("CH", c.id)));
    json!({
        "account_sid": ctx.account_sid, "chat_service_sid": service_sid(),
        "messaging_service_sid": null, "sid": sid("CH", c.id),
        "friendly_name": c.friendly_name, "unique_name": c.unique_name,
        "attributes": attributes_out(&c.attributes), "state": state(c.state.current),
        "date_created": date(c.created_at), "date_updated": date(c.updated_at),
        "timers": {}, "created_by": c.created_by, "bindings": null,
        "links": {
            "participants": format!("{url}/Participants"), "messages": format!("{url}/Messages"),
            "webhooks": format!("{url}/Webhooks"),
        },
        "url": url,
    })
}

pub(crate) fn participant(ctx: &Ctx, p: &Participant) -> Value {
    let url = ctx.url(&format!(
        "/Conversations/{}/Participants/{}",
        sid("CH", p.conversation_id),
        sid("MB", p.id)
    ));
    let binding = p.messaging_binding.as_ref().map(binding);
    json!({
        "account_sid": ctx.account_sid, "chat_service_sid": service_sid(),
        "conversation_sid": sid("CH", p.conversation_id), "sid": sid("MB", p.id),
        "identity": p.identity, "attributes": attributes_out(&p.attributes),
        "messaging_binding": binding, "role_sid": participant_role_sid(p.role),
        "date_created": date(p.joined_at), "date_updated": date(p.updated_at),
        "last_read_message_index": p.last_read_message_index,
        "last_read_timestamp": p.last_read_at.map(date),
        "url": url,
    })
}

/// A chat message; `author_sid` is its author's MB sid when the author is a
/// participant.
pub(crate) fn message(ctx: &Ctx, m: &Message, author_sid: Option<String>) -> Value {
    let url = ctx.url(&format!(
        "/Conversations/{}/Messages/{}",
        sid("CH", m.conversation_id),
        sid("IM", m.id)
    ));
    let media = (!m.media.is_empty()).then(|| {
        m.media
            .iter()
            .map(|x| {
                json!({"sid": sid("ME", x.id), "content_type": x.content_type,
                       "filename": x.filename, "size": x.size, "category": "media"})
            })
            .collect::<Vec<_>>()
    });
    json!({
        "account_sid": ctx.account_sid, "chat_service_sid": service_sid(),
        "conversation_sid": sid("CH", m.conversation_id), "sid": sid("IM", m.id),
        "index": m.index, "author": m.author, "body": m.body, "media": media,
        "attributes": attributes_out(&m.attributes), "participant_sid": author_sid,
        "date_created": date(m.created_at), "date_updated": date(m.updated_at),
        "delivery": null, "content_sid": null,
        "links": {
            "delivery_receipts": format!("{url}/Receipts"),
            "channel_metadata": format!("{url}/ChannelMetadata"),
        },
        "url": url,
    })
}

pub(crate) fn user(ctx: &Ctx, u: &KnownUser) -> Value {
    let sid = user_sid(u.user.identity.as_str());
    let url = ctx.url(&format!("/Users/{sid}"));
    json!({
        "sid": sid, "account_sid": ctx.account_sid, "chat_service_sid": service_sid(),
        "role_sid": role_sid(&ROLES[3]), "identity": u.user.identity,
        "friendly_name": u.user.friendly_name, "attributes": attributes_out(&u.user.attributes),
        "is_online": u.user.online, "is_notifiable": null,
        "date_created": date(u.created_at), "date_updated": date(u.updated_at),
        "links": {"user_conversations": format!("{url}/Conversations")},
        "url": url,
    })
}

/// A user's view of a conversation it takes part in: `c` as the user sees it
/// (its unread count and read horizon), `p` its participant.
pub(crate) fn user_conversation(
    ctx: &Ctx,
    identity: &str,
    c: &Conversation,
    p: &Participant,
) -> Value {
    let user = user_sid(identity);
    let conversation = sid("CH", c.id);
    let participant = sid("MB", p.id);
    let level = match c.notification_level {
        crate::model::NotificationLevel::Default => "default",
        crate::model::NotificationLevel::Muted => "muted",
    };
    json!({
        "account_sid": ctx.account_sid, "chat_service_sid": service_sid(),
        "conversation_sid": conversation, "unread_messages_count": c.unread_messages_count,
        "last_read_message_index": c.last_read_message_index, "participant_sid": participant,
        "user_sid": user, "friendly_name": c.friendly_name,
        "conversation_state": state(c.state.current), "timers": {},
        "attributes": attributes_out(&c.attributes), "date_created": date(c.created_at),
        "date_updated": date(c.updated_at), "created_by": c.created_by,
        "notification_level": level, "unique_name": c.unique_name,
        "url": ctx.url(&format!("/Users/{user}/Conversations/{conversation}")),
        "links": {
            "participant": ctx.url(&format!("/Conversations/{conversation}/Participants/{participant}")),
            "conversation": ctx.url(&format!("/Conversations/{conversation}")),
        },
    })
}

/// A non-chat participant's `messaging_binding`. Twilio names the channel by
/// the address: `whatsapp:+1…` is WhatsApp, a number is SMS.
fn binding(b: &MessagingBinding) -> Value {
    let kind = if b.address.starts_with("whatsapp:") {
        "whatsapp"
    } else {
        "sms"
    };
    json!({"type": kind, "address": b.address, "proxy_address": b.proxy_address})
}

/// One row of `ParticipantConversations`: a participant and its conversation.
pub(crate) fn participant_conversation(ctx: &Ctx, c: &Conversation, p: &Participant) -> Value {
    let conversation = sid("CH", c.id);
    let binding = p.messaging_binding.as_ref().map(binding);
    json!({
        "account_sid": ctx.account_sid, "chat_service_sid": service_sid(),
        "participant_sid": sid("MB", p.id),
        "participant_user_sid": p.identity.as_ref().map(|i| user_sid(i.as_str())),
        "participant_identity": p.identity, "participant_messaging_binding": binding,
        "conversation_sid": conversation, "conversation_unique_name": c.unique_name,
        "conversation_friendly_name": c.friendly_name,
        "conversation_attributes": attributes_out(&c.attributes),
        "conversation_date_created": date(c.created_at),
        "conversation_date_updated": date(c.updated_at),
        "conversation_created_by": c.created_by,
        "conversation_state": state(c.state.current), "conversation_timers": {},
        "links": {
            "participant": ctx.url(&format!("/Conversations/{conversation}/Participants/{}", sid("MB", p.id))),
            "conversation": ctx.url(&format!("/Conversations/{conversation}")),
        },
    })
}
