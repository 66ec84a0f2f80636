//! What the walk has learnt exists, from the answers and events it got, so
//! that most of what it asks names something real.

use std::collections::HashMap;

use colloquy::Event;
use serde_json::Value;

/// A message as the walk knows it.
#[derive(Clone)]
pub struct Message {
    pub index: i64,
    pub id: String,
    pub author: Option<String>,
}

#[derive(Default)]
pub struct Known {
    pub conversations: Vec<String>,
    pub unique_names: Vec<String>,
    /// Per conversation, the messages it holds.
    pub messages: HashMap<String, Vec<Message>>,
    /// Per conversation, its participants: identity (None: non-chat) and id.
    pub members: HashMap<String, Vec<(Option<String>, String)>>,
    /// Every message id ever seen, for naming one in the wrong conversation.
    pub message_ids: Vec<String>,
    /// Every participant id ever seen.
    pub participant_ids: Vec<String>,
    /// Reactions that are there.
    pub reactions: Vec<String>,
}

impl Known {
    /// Takes note of what the answer to `request` names.
    pub fn learn(&mut self, request: &Value, data: &Value) {
        let op = request["op"].as_str().unwrap_or_default();
        if matches!(
            op,
            "conversation.create" | "conversation.direct" | "conversation.update"
        ) {
            if let Some(id) = data["id"].as_str() {
                self.conversation(id);
            }
            if let Some(u) = data["unique_name"].as_str() {
                self.unique_names.push(u.to_string());
            }
        }
    }

    /// Takes note of what an event says happened. Every tab of every
    /// participant hears it: what is already known is not noted twice.
    pub fn heard(&mut self, e: &Event) {
        let (d, c) = (&e.data, e.conversation.clone().unwrap_or_default());
        let text = |v: &Value| v.as_str().map(str::to_string);
        match e.event.as_str() {
            "conversationAdded" => {
                if let Some(id) = d["id"].as_str() {
                    self.conversation(id);
                }
            }
            "messageAdded" => {
                let (Some(index), Some(id)) = (d["index"].as_i64(), text(&d["id"])) else {
                    return;
                };
                let held = self.messages.entry(c).or_default();
                if held.iter().all(|m| m.index != index) {
                    held.push(Message {
                        index,
                        id: id.clone(),
                        author: text(&d["author"]),
                    });
                    self.message_ids.push(id);
                }
            }
            "messageRemoved" => {
                if let Some(held) = self.messages.get_mut(&c) {
                    held.retain(|m| d["index"].as_i64() != Some(m.index));
                }
            }
            "participantJoined" => {
                let Some(id) = text(&d["id"]) else { return };
                let members = self.members.entry(c).or_default();
                if members.iter().all(|(_, p)| *p != id) {
                    members.push((text(&d["identity"]), id.clone()));
                    self.participant_ids.push(id);
                }
            }
            "participantLeft" => {
                if let Some(members) = self.members.get_mut(&c) {
                    members.retain(|(_, p)| d["id"].as_str() != Some(p.as_str()));
                }
            }
            "reactionAdded" => {
                if let Some(id) =
                    text(&d["reaction"]["id"]).filter(|id| !self.reactions.contains(id))
                {
                    self.reactions.push(id);
                }
            }
            "reactionRemoved" => self
                .reactions
                .retain(|r| d["reaction_id"].as_str() != Some(r.as_str())),
            _ => {}
        }
    }

    fn conversation(&mut self, id: &str) {
        if !self.conversations.iter().any(|c| c == id) {
            self.conversations.push(id.to_string());
        }
    }

    /// The newest index of a conversation's messages (0 with none).
    pub fn top_index(&self, conversation: &str) -> i64 {
        let held = self.messages.get(conversation);
        held.and_then(|m| m.iter().map(|m| m.index).max())
            .unwrap_or(0)
    }
}
