//! The conversation actor: one per conversation, owning its members, message
//! log, read horizons, typing timers and event sequence.
//!
//! Accepts [`Ask`] (any conversation-scoped op), [`ViewFor`], [`FeedQuery`],
//! [`UserOffline`] and [`EnsureMembers`]. All state lives in
//! [`ConversationState`]; the actor (`actor.rs`) runs ops one at a time, has
//! their changes committed, then answers and delivers; it arms typing timers
//! and stops itself after a delete. Callers use [`ConversationHandle`].

mod actor;
mod chat_index;
mod effects;
mod event_records;
mod events;
mod log;
mod members;
mod messages;
mod ops;
mod participants;
mod persist;
mod recent;
mod shared;
mod state;
#[cfg(test)]
mod tests;
mod typing;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use actix::prelude::*;

pub(crate) use actor::{
    Answering, Applied, Ask, AskInOrder, ConversationActor, EnsureMembers, Kept, Records,
    UserOffline, ViewFor,
};
pub(crate) use log::Window;
pub(crate) use messages::{FeedKey, FeedPart, FeedSide};
pub(crate) use persist::first_record;
pub(crate) use shared::Shared;
pub(crate) use state::ConversationState;

use crate::delivery::Outbox;
use crate::error::{Error, Result};
use crate::model::Caller;
use crate::model::{Conversation, ConversationId, Identity, Stamp};
use crate::protocol::{ConversationOp, Reply};

/// An op's answer: its data, and whether it repeated an earlier op and so made
/// nothing new (a resent `client_id`, a reaction already there): REST answers
/// those 200 instead of 201.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    pub data: Reply,
    pub repeated: bool,
}

impl From<Reply> for Answer {
    fn from(data: Reply) -> Self {
        Answer {
            data,
            repeated: false,
        }
    }
}

/// What other threads may read of a conversation without asking its actor:
/// its chat members (for presence), the addresses its non-chat participants
/// are bound to and through which proxies, and whether it is closed (which
/// of an address's conversations, found by the engine's index of addresses
/// that this keeps, holds an exclusive binding: `engine/bindings.rs`), its
/// last activity
/// (to sort lists) and its newest message's time (for the feed to ask the
/// conversations that may hold a page's messages, and no others).
/// The actor keeps it as it delivers an op's effects, once committed.
#[derive(Debug)]
pub(crate) struct ConvInfo {
    members: RwLock<HashSet<Identity>>,
    /// Each address with the proxy addresses its participants are bound
    /// through (a pair is in a conversation once).
    addresses: RwLock<HashMap<String, Vec<String>>>,
    /// Whether the conversation is `closed`: an exclusive binding held
    /// here is free for another conversation.
    closed: AtomicBool,
    last_activity: AtomicU64,
    /// The newest message's time, of any kind, never lowered (a delete
    /// leaves it): no message of the conversation is newer.
    newest_message: AtomicU64,
    /// Where activity goes back to once no chat message is left.
    created_at: u64,
}

impl ConvInfo {
    pub fn new(created_at: u64) -> Self {
        ConvInfo {
            members: RwLock::new(HashSet::new()),
            addresses: RwLock::new(HashMap::new()),
            closed: AtomicBool::new(false),
            last_activity: AtomicU64::new(created_at),
            newest_message: AtomicU64::new(0),
            created_at,
        }
    }
    pub fn add_member(&self, i: &Identity) {
        self.members
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(i.clone());
    }
    pub fn remove_member(&self, i: &Identity) {
        self.members
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(i);
    }
    pub fn members(&self) -> Vec<Identity> {
        self.members
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }
    /// A non-chat participant bound to `address` through `proxy` came
    /// (true) or went. Answers whether the address itself came to the
    /// conversation or left it (its first participant, or its last).
    pub fn bind(&self, address: &str, proxy: &str, came: bool) -> bool {
        let mut all = self.addresses.write().unwrap_or_else(|p| p.into_inner());
        if came {
            let proxies = all.entry(address.to_string()).or_default();
            proxies.push(proxy.to_string());
            return proxies.len() == 1;
        }
        let Some(proxies) = all.get_mut(address) else {
            return false;
        };
        proxies.retain(|p| p != proxy);
        let gone = proxies.is_empty();
        if gone {
            all.remove(address);
        }
        gone
    }
    /// Every address a participant is bound to.
    pub fn addresses(&self) -> Vec<String> {
        let all = self.addresses.read().unwrap_or_else(|p| p.into_inner());
        all.keys().cloned().collect()
    }
    /// Whether a participant is bound to `address` through `proxy`.
    pub fn holds(&self, address: &str, proxy: &str) -> bool {
        (self.addresses.read().unwrap_or_else(|p| p.into_inner()))
            .get(address)
            .is_some_and(|proxies| proxies.iter().any(|p| p == proxy))
    }
    /// The conversation was closed (true) or made active or inactive.
    pub fn set_closed(&self, closed: bool) {
        self.closed.store(closed, Ordering::Relaxed);
    }
    /// Whether the conversation is `closed`.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }
    /// A message arrived at `at`; a chat message is activity too.
    pub fn added(&self, at: u64, chat: bool) {
        self.newest_message.fetch_max(at, Ordering::Relaxed);
        if chat {
            self.last_activity.fetch_max(at, Ordering::Relaxed);
        }
    }
    /// The last chat message changed (a delete, an eviction): activity is
    /// that message's time, or the conversation's creation with none left.
    pub fn touch_to(&self, at: Option<u64>) {
        self.last_activity
            .store(at.unwrap_or(self.created_at), Ordering::Relaxed);
    }
    /// When the conversation was made (the Twilio face lists by it).
    pub fn created_at(&self) -> u64 {
        self.created_at
    }
    /// `last_message_at`, else `created_at`.
    pub fn last_activity(&self) -> u64 {
        self.last_activity.load(Ordering::Relaxed)
    }
    /// No message of the conversation is newer than this (0: none came).
    pub fn newest_message(&self) -> u64 {
        self.newest_message.load(Ordering::Relaxed)
    }
}

/// This conversation's part of a `message.feed` page.
#[derive(Message)]
#[rtype(result = "FeedPart")]
pub(crate) struct FeedQuery {
    pub identity: Identity,
    pub side: FeedSide,
    pub bound: Option<FeedKey>,
    pub limit: usize,
    pub window: Window,
}

/// How the rest of the engine reaches one conversation.
#[derive(Clone)]
pub(crate) struct ConversationHandle {
    pub id: ConversationId,
    pub addr: Addr<ConversationActor>,
    pub info: Arc<ConvInfo>,
    /// Which of the engine's arbiters the actor runs on (its index): a
    /// session is placed with its user's conversations.
    pub arbiter: usize,
}

impl ConversationHandle {
    /// Runs a conversation-scoped op; a conversation deleted meanwhile is `not_found`.
    pub async fn ask(
        &self,
        caller: Caller,
        op: ConversationOp,
        outbox: Option<Arc<Outbox>>,
        stamp: Option<Stamp>,
    ) -> Result<Answer> {
        self.addr
            .send(Ask {
                caller,
                op,
                outbox,
                stamp,
            })
            .await?
    }

    /// Runs an op from a cluster's log: it joins the mailbox now, so ops
    /// asked one after another run in that order. The answer goes to `reply`,
    /// and `done` is called once the op is applied.
    pub fn ask_in_order(
        &self,
        caller: Caller,
        op: ConversationOp,
        stamp: Stamp,
        reply: Answering,
        done: Applied,
    ) {
        let ask = Ask {
            caller,
            op,
            outbox: None,
            stamp: Some(stamp),
        };
        // A conversation deleted meanwhile drops the ask, and with it `done`.
        self.addr.do_send(AskInOrder { ask, reply, done });
    }

    pub async fn view(&self, caller: Caller) -> Result<Conversation> {
        self.addr
            .send(ViewFor(caller))
            .await?
            .ok_or_else(|| Error::not_found("conversation not found"))
    }

    pub async fn feed(&self, q: FeedQuery) -> Result<FeedPart> {
        Ok(self.addr.send(q).await?)
    }

    pub async fn ensure_members(
        &self,
        caller: Caller,
        identities: Vec<Identity>,
        stamp: Option<Stamp>,
    ) -> Result<Reply> {
        self.addr
            .send(EnsureMembers {
                caller,
                identities,
                stamp,
            })
            .await?
    }
}
