//! What the walk checks of the events each tab gets, after every step.

use colloquy::{Caller, Event};
use serde_json::{json, Value};

use super::{Walk, USERS};

impl Walk {
    /// Checks every event queued for every session. An op's events are queued
    /// before its answer, so nothing of an answered op is still on its way;
    /// on a cluster, once every node has answered a read, which waits until
    /// the node has applied what the log held.
    /// `replay`: the tab that replayed, from which `seq`, and the answer.
    pub(super) async fn after(&mut self, replay: Option<(usize, Option<u64>, Value)>) {
        if self.nodes.len() > 1 {
            for node in 0..self.nodes.len() {
                let read = json!({"op": "conversation.list", "page_size": 1});
                self.read_on(node, Caller::Service, read).await;
            }
        }
        for tab in 0..self.tabs.len() {
            let events: Vec<Event> = self.tabs[tab].line.events().await;
            let replayed = replay.as_ref().filter(|(t, ..)| *t == tab);
            if let Some((_, since, answer)) = replayed {
                self.replayed(tab, *since, answer, &events);
                continue;
            }
            for e in events {
                self.check(tab, e);
            }
        }
    }

    /// `USERS[user]` went `status`: each tab of each other user who shares
    /// a conversation with it was told once, and no other tab was told.
    pub(super) fn status_told(&mut self, user: usize, status: &str) {
        let heard = std::mem::take(&mut self.heard);
        if self.nodes.len() > 1 {
            return;
        }
        for (tab, t) in self.tabs.iter().enumerate().filter(|(_, t)| t.user != user) {
            let shares = self.mine[t.user]
                .iter()
                .any(|c| self.mine[user].contains(c));
            let told = heard
                .iter()
                .filter(|h| h.0 == tab && h.1 == USERS[user] && h.2 == status)
                .count();
            if told != usize::from(shares) {
                self.fail(format!(
                    "{} went {status}; {} (tab {tab}, sharing a conversation: {shares}) was told {told} times",
                    USERS[user], USERS[t.user]
                ));
            }
        }
        let others: Vec<_> = heard
            .iter()
            .filter(|h| h.1 != USERS[user] || h.2 != status)
            .collect();
        if !others.is_empty() {
            self.fail(format!(
                "{} went {status}; also told: {others:?}",
                USERS[user]
            ));
        }
    }

    fn check(&mut self, tab: usize, e: Event) {
        let user = self.tabs[tab].user;
        let me = USERS[user];
        if e.event == "userStatus" {
            let (who, status) = (e.data["identity"].as_str(), e.data["status"].as_str());
            let (who, status) = (who.unwrap_or_default(), status.unwrap_or_default());
            self.heard.push((tab, who.to_string(), status.to_string()));
        }
        if e.event.starts_with("typing") && e.data["identity"] == me {
            self.fail(format!("{me} got its own {}", e.event));
        }
        if let Some(why) = self.unlike_written(&e) {
            self.fail(format!("{me} (tab {tab}) got {}: {why}", e.event));
        }
        self.known.heard(&e);
        let id = e.data["id"].as_str().map(str::to_string);
        match (e.event.as_str(), id) {
            ("conversationAdded", Some(c)) if !self.mine[user].contains(&c) => {
                self.mine[user].push(c)
            }
            ("conversationRemoved", Some(c)) => {
                self.tabs[tab].seen.remove(&c);
                self.mine[user].retain(|m| *m != c);
            }
            _ => {}
        }
        let (Some(c), Some(seq)) = (e.conversation.clone(), e.seq) else {
            return;
        };
        self.events += 1;
        match self.tabs[tab].seen.insert(c.clone(), seq) {
            Some(last) if seq != last + 1 => self.fail(format!(
                "{me} (tab {tab}) got {} with seq {seq} in {c} after seq {last}",
                e.event
            )),
            _ => {}
        }
    }

    /// How a `messageAdded` or `messageUpdated` differs from what the
    /// step's send or edit wrote: its body, its attributes, its author.
    fn unlike_written(&self, e: &Event) -> Option<String> {
        let (author, request) = self.written.as_ref()?;
        let message = match (e.event.as_str(), request["op"].as_str()) {
            ("messageAdded", Some("message.send")) if e.data["subtype"] == "chat" => &e.data,
            ("messageUpdated", Some("message.edit")) => &e.data["message"],
            _ => return None,
        };
        let body = match request.get("body") {
            Some(Value::String(b)) if !b.is_empty() => message["body"] == *b,
            _ => true,
        };
        // A compact frame leaves out `{}` attributes.
        let empty = json!({});
        let attributes = match request.get("attributes") {
            None | Some(Value::Null) => true,
            Some(a) => message.get("attributes").unwrap_or(&empty) == a,
        };
        let by = e.event != "messageAdded" || message["author"] == *author;
        let same = body && attributes && by;
        (!same).then(|| format!("{message} after {request} of {author}"))
    }

    /// The events a replay sent: exactly those after `since`, up to the
    /// answer's `last_seq`, in order, of one conversation; none when it
    /// answered `recovered: false`.
    fn replayed(&mut self, tab: usize, since: Option<u64>, answer: &Value, events: &[Event]) {
        let me = USERS[self.tabs[tab].user];
        let last = answer["last_seq"].as_u64();
        let seqs: Vec<(Option<&str>, Option<u64>)> = events
            .iter()
            .filter(|e| e.seq.is_some())
            .map(|e| (e.conversation.as_deref(), e.seq))
            .collect();
        let want: Vec<u64> = match (answer["recovered"].as_bool(), since, last) {
            (Some(true), Some(since), Some(last)) => (since + 1..=last).collect(),
            _ => Vec::new(),
        };
        let got: Vec<u64> = seqs.iter().filter_map(|(_, s)| *s).collect();
        if got != want {
            self.fail(format!(
                "{me}'s replay answered {answer} and sent seqs {got:?}"
            ));
        }
        if let (Some((Some(c), _)), Some(last)) = (seqs.first(), last) {
            let c = c.to_string();
            if seqs.iter().any(|(other, _)| *other != Some(c.as_str())) {
                self.fail(format!("{me}'s replay sent events of two conversations"));
            }
            let seen = &mut self.tabs[tab].seen;
            let now = seen.get(&c).copied().unwrap_or(0).max(last);
            seen.insert(c, now);
        }
        for e in events.iter().filter(|e| e.seq.is_none()) {
            self.check(tab, e.clone());
        }
    }
}
