//! Paging read back every way the contract offers: a conversation's messages
//! backwards through `prev_cursor` and inside a since/until window, and each
//! user's feed, against the messages listed forward.

use colloquy::Caller;
use serde_json::{json, Value};

use super::agree::user_caller;
use super::{Walk, USERS};

/// A message as the checks compare it: its conversation and index.
fn keys(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|m| {
            format!(
                "{}#{}",
                m["conversation_id"].as_str().unwrap_or("?"),
                m["index"]
            )
        })
        .collect()
}

impl Walk {
    /// `messages`, the conversation's messages listed forward, read again
    /// backwards page by page, and inside a window of their times.
    pub(super) async fn paging_agrees(&mut self, c: &str, messages: &[Value]) {
        let back = json!({"op": "message.list", "conversation": c, "page_size": 4});
        let (backwards, _) = self.back_pages(Caller::Service, back).await;
        if keys(&backwards) != keys(messages) {
            self.fail(format!(
                "{c} listed backwards {:?}, forwards {:?}",
                keys(&backwards),
                keys(messages)
            ));
        }
        if messages.is_empty() {
            return;
        }
        let first = self.rng.usize(..messages.len());
        let last = self.rng.usize(first..messages.len());
        let (since, until) = (
            &messages[first]["created_at"],
            &messages[last]["created_at"],
        );
        let inside = |m: &&Value| {
            let at = m["created_at"].as_u64();
            at >= since.as_u64() && at <= until.as_u64()
        };
        let want: Vec<Value> = messages.iter().filter(inside).cloned().collect();
        let window = json!({"op": "message.list", "conversation": c, "direction": "forward",
                            "page_size": 3, "since": since, "until": until});
        let got = self.pages(Caller::Service, window).await;
        if keys(&got) != keys(&want) {
            self.fail(format!(
                "{c} between {since} and {until} listed {:?}, not {:?}",
                keys(&got),
                keys(&want)
            ));
        }
    }

    /// `USERS[user]`'s `message.feed`, page by page back through
    /// `prev_cursor` and forward again from the oldest page through
    /// `next_cursor`, against every message of its conversations, in the
    /// feed's order: `created_at`, then conversation id, then index.
    pub(super) async fn feed_agrees(&mut self, user: usize, conversations: &[String]) {
        let mut all = Vec::new();
        for c in conversations {
            let forward = json!({"op": "message.list", "conversation": c, "direction": "forward", "page_size": 100});
            all.extend(self.pages(Caller::Service, forward).await);
        }
        let order = |m: &Value| {
            (
                m["created_at"].as_u64(),
                m["conversation_id"].as_str().map(str::to_string),
                m["index"].as_u64(),
            )
        };
        all.sort_by_key(order);
        let me = USERS[user];
        let (feed, oldest) = self
            .back_pages(user_caller(me), json!({"op": "message.feed", "limit": 4}))
            .await;
        let mut forward = oldest["items"].as_array().cloned().unwrap_or_default();
        if let Some(cursor) = oldest["next_cursor"].as_str() {
            let next = json!({"op": "message.feed", "cursor": cursor});
            forward.extend(self.pages(user_caller(me), next).await);
        }
        for (way, read) in [("back", feed), ("forward", forward)] {
            if keys(&read) != keys(&all) {
                self.fail(format!(
                    "{me}'s feed read {way} is {:?}, its conversations hold {:?}",
                    keys(&read),
                    keys(&all)
                ));
            }
        }
    }

    /// Every item of a list read from its newest page back through
    /// `prev_cursor`, oldest first, and the oldest page.
    async fn back_pages(&self, caller: Caller, request: Value) -> (Vec<Value>, Value) {
        let mut pages = Vec::new();
        let mut ask = request.clone();
        for _ in 0..10_000 {
            let Some(page) = self.read(caller.clone(), ask.clone()).await else {
                self.fail(format!("{request} was refused"));
            };
            pages.push(page["items"].as_array().cloned().unwrap_or_default());
            match page["prev_cursor"].as_str() {
                Some(cursor) => ask["cursor"] = json!(cursor),
                None => return (pages.into_iter().rev().flatten().collect(), page),
            }
        }
        self.fail(format!("{request} never reached its first page"))
    }
}
