//! What an op sends, and what it changes in the engine's shared indexes,
//! held until the journal has committed it.
//!
//! Ops do not push frames to sessions or touch the indexes other actors read:
//! they append [`Effect`]s, frames already encoded, and the actor hands them
//! to delivery once the op's changes are committed, so that no session, list
//! or lookup sees what is not yet stored. Recipients are captured when the op
//! runs (a member removed by a later op still gets the events from before),
//! as a shared list that is rebuilt only when membership changes.

use std::sync::Arc;

use super::{ConvInfo, Shared};
use crate::delivery::{Fanout, Outbox, UserHub};
use crate::model::{ConversationId, Identity, Millis, ReactionId};
use crate::protocol::Frame;

/// The chat members' hubs at one moment.
pub(crate) type Recipients = Arc<[Arc<UserHub>]>;

/// One delivery an op asked for.
#[derive(Debug)]
pub(crate) enum Effect {
    /// A conversation event for every chat member: its name and `seq` go to
    /// the inspector's list of recent events.
    Event(Frame, Recipients, &'static str, u64),
    /// A conversation event for one user (`conversationUpdated`, rendered per user).
    EventTo(Arc<UserHub>, Frame),
    /// `conversationAdded` / `conversationRemoved` for one user.
    Membership(Arc<UserHub>, Frame),
    /// A typing event for every chat member but the typist.
    Typing(Frame, Recipients, Identity),
    /// The frames `events.replay` resends to the asking session (None: not recovered).
    Replay(Arc<Outbox>, Option<Vec<Frame>>),
    /// A change to the engine's shared indexes.
    Index(Index),
}

/// What an op changed that the engine's shared indexes and the
/// conversation's [`ConvInfo`] (read by other actors, lists, lookups and
/// presence) must follow. A rename's claim of a unique name is not here: it
/// decides whether the op may happen at all, so the op makes it at once, and
/// lets the old name go with it.
#[derive(Debug)]
pub(crate) enum Index {
    /// A chat member joined (true) or left (false): the user's conversations,
    /// and the members presence tells.
    Member(Arc<UserHub>, bool),
    /// A non-chat participant bound to this address through this proxy
    /// address came (true) or went.
    Address {
        address: String,
        proxy: String,
        came: bool,
    },
    /// The conversation was closed (true), or set to another state.
    Closed(bool),
    /// A message arrived at this time: the feed skips by it, and lists sort
    /// by a chat message's.
    Added { at: Millis, chat: bool },
    /// The last chat message was deleted or evicted: activity goes back to
    /// the one before it, or to the conversation's creation.
    ActivityBack(Option<Millis>),
    /// A reaction now finds its conversation by id (true), or no longer.
    Reaction(ReactionId, bool),
    /// Reactions gone with their messages (deleted or evicted).
    ReactionsGone(Vec<ReactionId>),
    /// The conversation is deleted: its id, unique name and reactions find
    /// nothing any more.
    Forgotten {
        unique_name: Option<String>,
        reactions: Vec<ReactionId>,
    },
}

impl Index {
    /// Makes the shared indexes and the conversation's info follow.
    pub(crate) fn apply(self, c: ConversationId, info: &ConvInfo, shared: &Shared) {
        match self {
            Index::Member(hub, true) => {
                info.add_member(&hub.identity);
                hub.join(c);
            }
            Index::Member(hub, false) => {
                info.remove_member(&hub.identity);
                hub.leave(c);
            }
            Index::Address {
                address,
                proxy,
                came,
            } => {
                if info.bind(&address, &proxy, came) {
                    shared.address_in(&address, c, came);
                }
            }
            Index::Closed(closed) => info.set_closed(closed),
            Index::Added { at, chat } => info.added(at, chat),
            Index::ActivityBack(at) => info.touch_to(at),
            Index::Reaction(r, true) => {
                shared.reactions.insert(r, c);
            }
            Index::Reaction(r, false) => {
                shared.reactions.remove(&r);
            }
            Index::ReactionsGone(reactions) => {
                for r in reactions {
                    shared.reactions.remove(&r);
                }
            }
            Index::Forgotten {
                unique_name,
                reactions,
            } => {
                shared.conversations.remove(&c);
                for address in info.addresses() {
                    shared.address_in(&address, c, false);
                }
                if let Some(n) = unique_name {
                    shared.unique_names.remove_if(&n, |_, id| *id == c);
                }
                Index::ReactionsGone(reactions).apply(c, info, shared);
            }
        }
    }
}

/// Hands committed effects to sessions and the shared indexes, in order, and
/// counts the deliveries. Conversation events go through the conversation's
/// flat `fanout` list.
pub(crate) fn deliver(
    (c, info): (ConversationId, &ConvInfo),
    effects: impl IntoIterator<Item = Effect>,
    shared: &Shared,
    fanout: &mut Fanout,
) {
    crate::delivery::note_work();
    let (mut took, mut refused) = (0, 0);
    let mut count = |(t, r): (usize, usize)| {
        took += t;
        refused += r;
    };
    for e in effects {
        match e {
            Effect::Event(frame, to, name, seq) => {
                shared
                    .recent
                    .note(name, c, seq, shared.config.clock.now_ms());
                let outboxes = fanout.outboxes(&to);
                let took = outboxes
                    .iter()
                    .filter(|o| o.push_event(c, frame.clone()))
                    .count();
                count((took, outboxes.len() - took));
            }
            Effect::EventTo(hub, frame) => count(hub.deliver_event(c, &frame)),
            Effect::Membership(hub, frame) => count(hub.deliver_membership(c, &frame)),
            Effect::Typing(frame, to, typist) => {
                for hub in to.iter().filter(|h| h.identity != typist) {
                    count(hub.deliver(&frame));
                }
            }
            Effect::Replay(outbox, frames) => outbox.replay(c, frames.map(Vec::into_iter)),
            Effect::Index(i) => i.apply(c, info, shared),
        }
    }
    shared.metrics.delivered(took, refused);
}
