//! The fields of each op that takes more than a reference or two: what
//! [`Request`](super::Request) variants carry, and REST's request bodies.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::{Millis, Role, State};

use super::{present, ConversationRef, MessageRef, ParticipantRef};

/// A media item as sent: base64 content.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MediaIn {
    /// MIME type.
    pub content_type: String,
    /// File name.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default)]
    pub filename: Option<String>,
    /// Base64 content.
    pub data: String,
}

/// Fields of `conversation.create`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreateConversation {
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
    /// Second key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unique_name: Option<String>,
    /// Free JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub attributes: Option<Value>,
    /// Flat object.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// Picture.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    /// Identities to add as members.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(default)]
    pub participants: Vec<String>,
}

/// Fields of `conversation.update`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UpdateConversation {
    /// The conversation.
    #[schema(ignore)]
    pub conversation: ConversationRef,
    /// New display name (null removes).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, deserialize_with = "present")]
    pub friendly_name: Option<Option<String>>,
    /// New unique name (null removes).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, deserialize_with = "present")]
    pub unique_name: Option<Option<String>>,
    /// Replaces the attributes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Value>,
    /// Merged into the metadata; a key set to null is removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// New picture (null removes).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, deserialize_with = "present")]
    pub avatar_url: Option<Option<String>>,
    /// New state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
}

/// Fields of `participant.add`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddParticipant {
    /// The conversation.
    #[schema(ignore)]
    pub conversation: ConversationRef,
    /// Who.
    pub identity: String,
    /// Free JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub attributes: Option<Value>,
    /// Role; `member` by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

/// Fields of `participant.add_non_chat`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddNonChat {
    /// The conversation.
    #[schema(ignore)]
    pub conversation: ConversationRef,
    /// The service's address.
    pub proxy_address: String,
    /// The participant's address.
    pub address: String,
    /// Free JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub attributes: Option<Value>,
    /// Refuse (`conflict`) when another conversation that is not closed has
    /// a participant bound to this address through this proxy address, as
    /// Twilio refuses an SMS binding; false by default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exclusive: bool,
}

/// Fields of `participant.update`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UpdateParticipant {
    /// The conversation.
    #[schema(ignore)]
    pub conversation: ConversationRef,
    /// Who.
    #[schema(ignore)]
    pub participant: ParticipantRef,
    /// Replaces the attributes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Value>,
    /// New role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

/// Fields of `message.send`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SendMessage {
    /// The conversation.
    #[schema(ignore)]
    pub conversation: ConversationRef,
    /// Text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Free JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub attributes: Option<Value>,
    /// Flat object.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// Free JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub details: Option<Value>,
    /// Attachments.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(default)]
    pub media: Vec<MediaIn>,
    /// The message replied to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<MessageRef>,
    /// Idempotency key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The author, when the service sends (ignored for a user).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

impl SendMessage {
    /// A plain text message to `conversation`, every other field unset.
    pub fn text(conversation: &str, body: &str) -> Self {
        SendMessage {
            conversation: conversation.to_string(),
            body: Some(body.to_string()),
            attributes: None,
            metadata: None,
            details: None,
            media: Vec::new(),
            reply_to: None,
            client_id: None,
            author: None,
        }
    }
}

/// Fields of `message.edit`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EditMessage {
    /// The conversation.
    #[schema(ignore)]
    pub conversation: ConversationRef,
    /// The message.
    #[schema(ignore)]
    pub message: MessageRef,
    /// New text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// New attributes (replace).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Value>,
}

/// Paging direction of `message.list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Newest first from the anchor (the default).
    #[default]
    Backwards,
    /// Oldest first from the anchor.
    Forward,
}

/// Fields of `message.list`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListMessages {
    /// The conversation.
    #[schema(ignore)]
    pub conversation: ConversationRef,
    /// 1 to 100, default 30.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u64>,
    /// Index to start from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor: Option<u64>,
    /// Which way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// Window start, ms inclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<Millis>,
    /// Window end, ms inclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Millis>,
    /// A cursor from an earlier page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Fields of `message.feed`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Feed {
    /// 1 to 100, default 50.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Window start, ms inclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<Millis>,
    /// Window end, ms inclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Millis>,
    /// A cursor from an earlier page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Whose feed, when the service asks (ignored for a user).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
}

/// Fields of `user.update`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UpdateUser {
    /// Display name (null removes).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, deserialize_with = "present")]
    pub friendly_name: Option<Option<String>>,
    /// Picture (null removes).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, deserialize_with = "present")]
    pub avatar_url: Option<Option<String>>,
    /// Replaces the attributes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Value>,
    /// Make the profile, refusing (`conflict`) when an earlier `user.update`
    /// made it already, as a "create user" API refuses a user that exists;
    /// false by default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub new: bool,
}
