//! The end of a walk: what every count, list and caller's field must agree
//! on, read as the service and as each user; and a restart on a data dir,
//! after which every read answers as before.

use std::collections::BTreeSet;

use colloquy::{Caller, Engine};
use serde_json::{json, Value};

use super::{Walk, USERS};

impl Walk {
    /// Checks, for every conversation the walk made that still exists: its
    /// counts against its lists, its `last_message` against its messages,
    /// each participant's unread count against the messages above its
    /// horizon, and each user's `conversation.list` against where it takes part.
    pub async fn agree(&mut self) {
        self.after(None).await;
        let mut takes_part = vec![BTreeSet::new(); USERS.len()];
        for c in self.known.conversations.clone() {
            let Some(conv) = self
                .read(
                    Caller::Service,
                    json!({"op": "conversation.get", "conversation": c}),
                )
                .await
            else {
                continue;
            };
            let participants = self
                .pages(
                    Caller::Service,
                    json!({"op": "participant.list", "conversation": c, "page_size": 7}),
                )
                .await;
            let messages = self.pages(Caller::Service, json!({"op": "message.list", "conversation": c, "direction": "forward", "page_size": 5})).await;
            self.counts_agree(&c, &conv, &participants, &messages).await;
            self.paging_agrees(&c, &messages).await;
            for (user, me) in USERS.iter().enumerate() {
                let mine = participants.iter().find(|p| p["identity"] == *me);
                if let Some(p) = mine {
                    takes_part[user].insert(c.clone());
                    self.unread_agrees(me, &c, p, &messages).await;
                } else if let Some(seen) = self
                    .read(
                        user_caller(me),
                        json!({"op": "conversation.get", "conversation": c}),
                    )
                    .await
                {
                    if seen["status"] != "not_participating" {
                        self.fail(format!(
                            "{me} is not a participant of {c}, yet reads {seen}"
                        ));
                    }
                }
            }
        }
        for (user, me) in USERS.iter().enumerate() {
            let listed = self
                .pages(
                    user_caller(me),
                    json!({"op": "conversation.list", "page_size": 3}),
                )
                .await;
            let ids: BTreeSet<String> = listed
                .iter()
                .filter_map(|c| c["id"].as_str().map(str::to_string))
                .collect();
            // On a cluster's long-lived node, earlier walks' conversations are
            // listed too; every one this walk knows of must be.
            if !takes_part[user].is_subset(&ids) || ids.len() != listed.len() {
                self.fail(format!(
                    "{me} lists {ids:?}, but takes part in {:?}",
                    takes_part[user]
                ));
            }
            let activity = |c: &Value| c["last_message_at"].as_u64().or(c["created_at"].as_u64());
            if listed.windows(2).any(|w| activity(&w[0]) < activity(&w[1])) {
                self.fail(format!("{me}'s conversations are not in order of activity"));
            }
            let ids: Vec<String> = ids.into_iter().collect();
            self.feed_agrees(user, &ids).await;
        }
    }

    async fn counts_agree(
        &self,
        c: &str,
        conv: &Value,
        participants: &[Value],
        messages: &[Value],
    ) {
        let count = |op: &str| json!({"op": op, "conversation": c});
        let message_count = self.read(Caller::Service, count("message.count")).await;
        let participant_count = self.read(Caller::Service, count("participant.count")).await;
        if message_count != Some(json!({"count": messages.len()}))
            || conv["messages_count"] != messages.len()
        {
            self.fail(format!(
                "{c} lists {} messages, counts {message_count:?} and {}",
                messages.len(),
                conv["messages_count"]
            ));
        }
        if participant_count != Some(json!({"count": participants.len()}))
            || conv["participants_count"] != participants.len()
        {
            self.fail(format!(
                "{c} lists {} participants, counts {participant_count:?} and {}",
                participants.len(),
                conv["participants_count"]
            ));
        }
        let indexes: Vec<u64> = messages
            .iter()
            .filter_map(|m| m["index"].as_u64())
            .collect();
        if indexes.len() != messages.len() || indexes.windows(2).any(|w| w[0] >= w[1]) {
            self.fail(format!(
                "{c}'s messages are not listed in index order: {indexes:?}"
            ));
        }
        let last_chat = messages.iter().rev().find(|m| m["subtype"] == "chat");
        let want = last_chat.map_or(
            Value::Null,
            |m| json!({"index": m["index"], "created_at": m["created_at"]}),
        );
        if conv["last_message"] != want {
            self.fail(format!(
                "{c}'s last_message is {}, its last chat message {want}",
                conv["last_message"]
            ));
        }
    }

    /// `unread.count`, and the caller's fields of `conversation.get`, against
    /// the chat messages of others above the participant's horizon.
    async fn unread_agrees(&self, me: &str, c: &str, p: &Value, messages: &[Value]) {
        let horizon = p["last_read_message_index"].as_i64().unwrap_or(-1);
        let want = messages
            .iter()
            .filter(|m| m["subtype"] == "chat" && m["author"] != me)
            .filter(|m| m["index"].as_i64().is_some_and(|i| i > horizon))
            .count();
        let unread = self
            .read(
                user_caller(me),
                json!({"op": "unread.count", "conversation": c}),
            )
            .await;
        let conv = self
            .read(
                user_caller(me),
                json!({"op": "conversation.get", "conversation": c}),
            )
            .await
            .unwrap_or_default();
        if unread != Some(json!({"unread_messages_count": want}))
            || conv["unread_messages_count"] != want
        {
            self.fail(format!(
                "{me} has {want} unread in {c} above index {horizon}; answered {unread:?} and {}",
                conv["unread_messages_count"]
            ));
        }
        if conv["status"] != "joined"
            || conv["last_read_message_index"] != p["last_read_message_index"]
        {
            self.fail(format!("{me} takes part in {c} as {p}, yet reads {conv}"));
        }
    }

    /// Every node reads exactly what the first one does.
    pub async fn nodes_agree(&mut self) {
        self.after(None).await;
        let first = self.everything(0).await;
        for node in 1..self.nodes.len() {
            if let Some(diff) = first_difference("", &first, &self.everything(node).await) {
                self.fail(format!("node 0 and node {node} differ: {diff}"));
            }
        }
    }

    /// Everything each user and the service can read on `node`, for
    /// comparing across a restart or with another node.
    async fn everything(&self, node: usize) -> Value {
        let mut all = Vec::new();
        let mut callers: Vec<Caller> = USERS.iter().map(|u| user_caller(u)).collect();
        callers.push(Caller::Service);
        for caller in callers {
            let list = self
                .pages(caller.clone(), json!({"op": "conversation.list"}))
                .await;
            for conv in &list {
                let c = conv["id"].clone();
                let read = |op: &str| json!({"op": op, "conversation": c});
                let mut messages = read("message.list");
                messages["direction"] = json!("forward");
                all.push(json!({
                    "caller": format!("{caller:?}"),
                    "conversation": c,
                    "get": self.read_on(node, caller.clone(), read("conversation.get")).await,
                    "messages": self.pages_on(node, caller.clone(), messages).await,
                    "participants": self.pages_on(node, caller.clone(), read("participant.list")).await,
                    "unread": self.read_on(node, caller.clone(), read("unread.count")).await,
                }));
            }
            all.push(json!({"caller": format!("{caller:?}"), "list": list}));
        }
        Value::Array(all)
    }

    /// Stops the engine and starts another on its data dir: every read
    /// answers as before the stop.
    pub async fn restart_reads_back_the_same(&mut self) {
        assert_eq!(self.nodes.len(), 1, "a restart walks one engine");
        self.after(None).await;
        let before = self.everything(0).await;
        for tab in std::mem::take(&mut self.tabs) {
            tab.line.close(&self.nodes[tab.node]).await;
        }
        self.shutdown();
        self.note("the engine restarts on its data dir".to_string());
        self.nodes = vec![Engine::start(self.config.clone()).expect("engine restarts")];
        for user in 0..USERS.len() {
            let tab = super::Tab::open(&self.nodes, &self.servers, 0, user).await;
            self.tabs.push(tab);
        }
        // The users came back online: not a step's business.
        self.after(None).await;
        self.heard.clear();
        let after = self.everything(0).await;
        if let Some(diff) = first_difference("", &before, &after) {
            self.fail(format!("after a restart, {diff}"));
        }
    }

    /// One read's answer on the first node, or None when it was refused.
    pub(super) async fn read(&self, caller: Caller, request: Value) -> Option<Value> {
        self.read_on(0, caller, request).await
    }

    pub(super) async fn read_on(
        &self,
        node: usize,
        caller: Caller,
        request: Value,
    ) -> Option<Value> {
        match self.nodes[node].request_as(caller, request.clone()).await {
            Ok(v) => Some(v),
            Err(e) if e.code() == colloquy::ErrorCode::Internal => {
                self.fail(format!("{request} answered {e}"))
            }
            Err(_) => None,
        }
    }

    /// Every item of a list on the first node, page by page through `next_cursor`.
    pub(super) async fn pages(&self, caller: Caller, request: Value) -> Vec<Value> {
        self.pages_on(0, caller, request).await
    }

    async fn pages_on(&self, node: usize, caller: Caller, request: Value) -> Vec<Value> {
        let mut items = Vec::new();
        let mut ask = request.clone();
        for _ in 0..10_000 {
            let Some(page) = self.read_on(node, caller.clone(), ask.clone()).await else {
                return items;
            };
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(cursor) => ask["cursor"] = json!(cursor),
                None => return items,
            }
        }
        self.fail(format!("{request} never reached its last page"))
    }
}

pub(super) fn user_caller(identity: &str) -> Caller {
    Caller::User(colloquy::model::Identity::parse(identity, 256).expect("a valid identity"))
}

/// Where two values first differ, as a path and both values.
fn first_difference(path: &str, a: &Value, b: &Value) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) if x.len() == y.len() => {
            x.iter().find_map(|(k, v)| {
                first_difference(&format!("{path}.{k}"), v, y.get(k).unwrap_or(&Value::Null))
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (v, w))| {
                let of = v["conversation"]
                    .as_str()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default();
                first_difference(&format!("{path}[{i}{of}]"), v, w)
            })
        }
        _ if a == b => None,
        _ => Some(format!("{path} was {a} and is {b}")),
    }
}
