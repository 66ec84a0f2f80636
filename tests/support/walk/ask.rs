//! What the walk asks: a request for any op of the contract, its fields
//! mostly ones that name what exists, sometimes what does not, and now and
//! then a wrong type, an out-of-range number or a value past its limit.

use fastrand::Rng;
use serde_json::{json, Map, Value};

use super::known::Known;
use super::USERS;

/// Every op of the contract but `ping` (which takes no field).
pub const OPS: &[&str] = &[
    "conversation.create",
    "conversation.direct",
    "conversation.get",
    "conversation.list",
    "conversation.update",
    "conversation.delete",
    "conversation.join",
    "conversation.leave",
    "conversation.set_notification_level",
    "participant.add",
    "participant.add_non_chat",
    "participant.remove",
    "participant.get",
    "participant.list",
    "participant.count",
    "participant.update",
    "message.send",
    "message.get",
    "message.edit",
    "message.delete",
    "message.list",
    "message.count",
    "message.feed",
    "reaction.add",
    "reaction.remove",
    "read.advance",
    "read.set",
    "read.all",
    "read.none",
    "read.mark",
    "unread.count",
    "typing.start",
    "typing.stop",
    "presence.get",
    "events.replay",
    "user.update",
];

/// Asked too: `ping`, and an op the contract does not have.
const OTHERS: &[&str] = &["ping", "message.shout"];

/// Ops asked more often than the rest, as in a chat.
const COMMON: &[&str] = &[
    "message.send",
    "message.send",
    "message.send",
    "conversation.create",
    "conversation.join",
    "participant.add",
    "read.advance",
    "reaction.add",
    "message.edit",
];

pub struct Ask<'a> {
    pub rng: &'a mut Rng,
    pub known: &'a Known,
    /// Who asks.
    pub me: &'a str,
    /// The conversations the caller takes part in, as its events told.
    pub mine: &'a [String],
    /// Values just past the engine's limits.
    pub limits: &'a colloquy::Limits,
}

impl Ask<'_> {
    /// A request, `op` included.
    pub fn request(&mut self) -> Value {
        let op = if self.rng.bool() {
            COMMON[self.rng.usize(..COMMON.len())]
        } else {
            let i = self.rng.usize(..OPS.len() + OTHERS.len());
            OPS.get(i).copied().unwrap_or_else(|| OTHERS[i - OPS.len()])
        };
        let mut r = Map::new();
        r.insert("op".into(), json!(op));
        let mut put = |k: &str, v: Value| {
            r.insert(k.into(), v);
        };
        match op {
            "conversation.create" => {
                self.maybe(&mut put, "friendly_name", |a| a.name());
                self.maybe(&mut put, "unique_name", |a| a.unique_name());
                self.maybe(&mut put, "attributes", |a| a.json_value());
                self.maybe(&mut put, "metadata", |a| a.metadata());
                self.maybe(&mut put, "participants", |a| a.identities());
            }
            "conversation.direct" => put("identity", self.identity()),
            "conversation.list" => {
                self.maybe(&mut put, "page_size", |a| a.number(0, 101));
                self.maybe(&mut put, "cursor", |a| a.junk());
            }
            "conversation.update" => {
                put("conversation", self.conversation());
                self.maybe(&mut put, "friendly_name", |a| a.name());
                self.maybe(&mut put, "unique_name", |a| a.unique_name());
                self.maybe(&mut put, "attributes", |a| a.json_value());
                self.maybe(&mut put, "metadata", |a| a.metadata());
                self.maybe(&mut put, "state", |a| {
                    a.pick(&["active", "inactive", "closed", "open", ""])
                });
            }
            "conversation.set_notification_level" => {
                put("conversation", self.conversation());
                put("level", self.pick(&["default", "muted", "loud"]));
            }
            "participant.add" => {
                put("conversation", self.conversation());
                put("identity", self.identity());
                self.maybe(&mut put, "attributes", |a| a.json_value());
                self.maybe(&mut put, "role", |a| a.pick(&["member", "admin", "owner"]));
            }
            "participant.add_non_chat" => {
                put("conversation", self.conversation());
                put("proxy_address", self.pick(&["+15550001", "+15550002", ""]));
                put("address", self.pick(&["+15559001", "+15559002", ""]));
                self.maybe(&mut put, "exclusive", |a| Value::Bool(a.rng.bool()));
            }
            "participant.remove" | "participant.get" => {
                let c = self.conversation();
                put("participant", self.participant(&c));
                put("conversation", c);
            }
            "participant.update" => {
                let c = self.conversation();
                put("participant", self.participant(&c));
                put("conversation", c);
                self.maybe(&mut put, "attributes", |a| a.json_value());
                self.maybe(&mut put, "role", |a| a.pick(&["member", "admin", "owner"]));
            }
            "participant.list" => {
                put("conversation", self.conversation());
                self.maybe(&mut put, "page_size", |a| a.number(0, 1001));
            }
            "message.send" => {
                let c = self.conversation();
                if self.rng.u8(..6) == 0 {
                    put("reply_to", self.message_in(&c));
                }
                put("conversation", c);
                if self.rng.u8(..8) != 0 {
                    put("body", self.body());
                }
                self.maybe(&mut put, "attributes", |a| a.json_value());
                self.maybe(&mut put, "metadata", |a| a.metadata());
                self.maybe(&mut put, "details", |a| a.json_value());
                if self.rng.u8(..8) == 0 {
                    put("media", self.media());
                }
                self.maybe(&mut put, "client_id", |a| a.pick(&["k1", "k2", "k3"]));
            }
            "message.get" | "message.delete" => {
                let c = self.conversation();
                put("message", self.message_in(&c));
                put("conversation", c);
            }
            "message.edit" => {
                let c = self.conversation();
                put("message", self.message_in(&c));
                put("conversation", c);
                self.maybe(&mut put, "body", |a| a.body());
                self.maybe(&mut put, "attributes", |a| a.json_value());
            }
            "message.list" => {
                let c = self.conversation();
                self.maybe(&mut put, "anchor", |a| a.index_in(&c));
                put("conversation", c);
                self.maybe(&mut put, "page_size", |a| a.number(0, 101));
                self.maybe(&mut put, "direction", |a| {
                    a.pick(&["backwards", "forward", "sideways"])
                });
                self.maybe(&mut put, "since", |a| a.time());
                self.maybe(&mut put, "until", |a| a.time());
            }
            "message.feed" => {
                self.maybe(&mut put, "limit", |a| a.number(0, 101));
                self.maybe(&mut put, "since", |a| a.time());
                self.maybe(&mut put, "until", |a| a.time());
            }
            "reaction.add" => {
                let c = self.conversation();
                put("message", self.message_in(&c));
                put("conversation", c);
                put("reaction", self.reaction());
            }
            "reaction.remove" => {
                let known = self.known;
                put("reaction", self.from(&known.reactions));
                self.maybe(&mut put, "conversation", |a| a.conversation());
            }
            "read.advance" | "read.set" => {
                let c = self.conversation();
                put("index", self.index_in(&c));
                put("conversation", c);
            }
            "read.mark" => {
                let c = self.conversation();
                self.maybe(&mut put, "message", |a| a.message_in(&c));
                put("conversation", c);
            }
            "presence.get" => put("identities", self.identities()),
            "events.replay" => {
                put("conversation", self.conversation());
                put("since_seq", self.number(-1, 60));
            }
            "user.update" => {
                self.maybe(&mut put, "friendly_name", |a| a.name());
                self.maybe(&mut put, "avatar_url", |a| a.pick(&["https://x/a.png", ""]));
                self.maybe(&mut put, "attributes", |a| a.json_value());
                self.maybe(&mut put, "new", |a| Value::Bool(a.rng.bool()));
            }
            "ping" | "message.shout" => {}
            // Every other op names just its conversation.
            _ => put("conversation", self.conversation()),
        }
        Value::Object(r)
    }

    /// Puts `k` half the time; one time in twenty, a value of a wrong type.
    fn maybe(
        &mut self,
        put: &mut impl FnMut(&str, Value),
        k: &str,
        v: impl FnOnce(&mut Self) -> Value,
    ) {
        if self.rng.bool() {
            let v = if self.rng.u8(..20) == 0 {
                self.junk()
            } else {
                v(self)
            };
            put(k, v);
        }
    }

    fn pick(&mut self, from: &[&str]) -> Value {
        json!(from[self.rng.usize(..from.len())])
    }

    fn from(&mut self, known: &[String]) -> Value {
        if known.is_empty() || self.rng.u8(..10) == 0 {
            return self.junk();
        }
        json!(known[self.rng.usize(..known.len())])
    }

    /// A value no field wants: of another type, empty, or naming nothing.
    fn junk(&mut self) -> Value {
        match self.rng.u8(..8) {
            0 => Value::Null,
            1 => json!(""),
            2 => json!(-1),
            3 => json!(1.5),
            4 => json!([1, "a"]),
            5 => json!({"x": 1}),
            6 => json!(uuid::Uuid::new_v4().to_string()),
            _ => json!(u64::MAX),
        }
    }

    fn number(&mut self, low: i64, high: i64) -> Value {
        json!(self.rng.i64(low..=high))
    }

    fn time(&mut self) -> Value {
        json!(1_700_000_000_000i64 + self.rng.i64(-10_000..600_000))
    }

    fn identity(&mut self) -> Value {
        match self.rng.u8(..20) {
            0 => json!(""),
            1 => json!("a\u{7}b"),
            2 => json!("x".repeat(self.limits.max_name_chars + 1)),
            3 => json!("erin"),
            _ => json!(USERS[self.rng.usize(..USERS.len())]),
        }
    }

    fn identities(&mut self) -> Value {
        let n = self.rng.usize(..4);
        Value::Array((0..n).map(|_| self.identity()).collect())
    }

    fn conversation(&mut self) -> Value {
        let known = self.known;
        if self.rng.u8(..4) != 0 && !self.mine.is_empty() {
            return json!(self.mine[self.rng.usize(..self.mine.len())]);
        }
        if self.rng.u8(..8) == 0 && !known.unique_names.is_empty() {
            return self.from(&known.unique_names);
        }
        self.from(&known.conversations)
    }

    /// Mostly a participant of the conversation, by identity or id.
    fn participant(&mut self, conversation: &Value) -> Value {
        let known = self.known;
        let members = conversation.as_str().and_then(|c| known.members.get(c));
        match (self.rng.u8(..10), members.filter(|m| !m.is_empty())) {
            (0..=5, Some(members)) => {
                let (identity, id) = &members[self.rng.usize(..members.len())];
                match identity {
                    Some(identity) if self.rng.bool() => json!(identity),
                    _ => json!(id),
                }
            }
            (6, _) => self.from(&known.participant_ids),
            _ => self.identity(),
        }
    }

    /// Mostly a message of the conversation (the caller's own half the
    /// time), by index or id; else one of another, or an index near the newest.
    fn message_in(&mut self, conversation: &Value) -> Value {
        let known = self.known;
        let held = conversation.as_str().and_then(|c| known.messages.get(c));
        let held: Vec<_> = held.into_iter().flatten().collect();
        let own: Vec<_> = held
            .iter()
            .filter(|m| m.author.as_deref() == Some(self.me))
            .collect();
        let pick = match self.rng.u8(..10) {
            0..=2 if !own.is_empty() => Some(*own[self.rng.usize(..own.len())]),
            3..=5 if !held.is_empty() => Some(held[self.rng.usize(..held.len())]),
            _ => None,
        };
        match pick {
            Some(m) if self.rng.bool() => json!(m.index),
            Some(m) => json!(m.id),
            None if self.rng.u8(..3) == 0 => self.from(&known.message_ids),
            None => self.index_in(conversation),
        }
    }

    fn index_in(&mut self, conversation: &Value) -> Value {
        let top = conversation.as_str().map_or(0, |c| self.known.top_index(c));
        match self.rng.u8(..12) {
            0 => self.junk(),
            1 => json!(top + 1),
            _ => json!(self.rng.i64((top - 4).max(0)..=top)),
        }
    }

    fn name(&mut self) -> Value {
        match self.rng.u8(..12) {
            0 => json!("n".repeat(self.limits.max_name_chars + 1)),
            1 => json!(""),
            _ => self.pick(&["office", "lunch ☕", "ops"]),
        }
    }

    fn unique_name(&mut self) -> Value {
        match self.rng.u8(..10) {
            0 => Value::Null,
            1 => json!("u".repeat(self.limits.max_name_chars + 1)),
            _ => self.pick(&["room-a", "room-b", "room-c"]),
        }
    }

    fn body(&mut self) -> Value {
        match self.rng.u8(..16) {
            0 => json!(""),
            1 => json!("b".repeat(self.limits.max_body_bytes + 1)),
            2 => json!("é".repeat(self.limits.max_body_bytes / 2)),
            _ => self.pick(&["hi", "how are you?", "👍 see you", "line\nbreak"]),
        }
    }

    fn json_value(&mut self) -> Value {
        match self.rng.u8(..12) {
            0 => json!({"big": "a".repeat(self.limits.max_json_bytes)}),
            1 => json!("a string"),
            2 => json!([1, 2, 3]),
            3 => json!({}),
            _ => json!({"n": self.rng.u8(..5), "tag": "x"}),
        }
    }

    fn metadata(&mut self) -> Value {
        match self.rng.u8(..6) {
            0 => json!({"nested": {"not": "flat"}}),
            1 => json!({"gone": null}),
            _ => json!({"k": self.rng.u8(..3), "flag": true}),
        }
    }

    fn reaction(&mut self) -> Value {
        match self.rng.u8(..10) {
            0 => json!(""),
            1 => json!("r".repeat(self.limits.max_reaction_chars + 1)),
            _ => self.pick(&["👍", "❤️", "ok"]),
        }
    }

    fn media(&mut self) -> Value {
        let item =
            |data: &str| json!({"content_type": "text/plain", "filename": "a.txt", "data": data});
        match self.rng.u8(..6) {
            0 => json!([item("not base64!")]),
            1 => Value::Array(
                (0..=self.limits.max_media_items)
                    .map(|_| item("aGk="))
                    .collect(),
            ),
            2 => json!([{"filename": "no type", "data": "aGk="}]),
            _ => json!([item("aGk=")]),
        }
    }
}
