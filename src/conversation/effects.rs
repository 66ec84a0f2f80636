//! What an op sends, held until the journal has committed it.
//!
//! Ops do not push frames to sessions: they append [`Effect`]s, already
//! encoded, and the actor hands them to delivery once the op's changes are
//! committed. Recipients are captured when the op runs (a member removed by a
//! later op still gets the events from before), as a shared list that is
//! rebuilt only when membership changes.

use std::sync::Arc;

use crate::delivery::{Fanout, Outbox, UserHub};
use crate::metrics::Metrics;
use crate::model::{ConversationId, Identity};
use crate::protocol::Frame;

/// The chat members' hubs at one moment.
pub(crate) type Recipients = Arc<[Arc<UserHub>]>;

/// One delivery an op asked for.
#[derive(Debug)]
pub(crate) enum Effect {
    /// A conversation event for every chat member.
    Event(Frame, Recipients),
    /// A conversation event for one user (`conversationUpdated`, rendered per user).
    EventTo(Arc<UserHub>, Frame),
    /// `conversationAdded` / `conversationRemoved` for one user.
    Membership(Arc<UserHub>, Frame),
    /// A typing event for every chat member but the typist.
    Typing(Frame, Recipients, Identity),
    /// The frames `events.replay` resends to the asking session (None: not recovered).
    Replay(Arc<Outbox>, Option<Vec<Frame>>),
}

/// Hands committed effects to sessions, in order, and counts the deliveries.
/// Conversation events go through the conversation's flat `fanout` list.
pub(crate) fn deliver(
    c: ConversationId,
    effects: impl IntoIterator<Item = Effect>,
    metrics: &Metrics,
    fanout: &mut Fanout,
) {
    let (mut took, mut refused) = (0, 0);
    let mut count = |(t, r): (usize, usize)| {
        took += t;
        refused += r;
    };
    for e in effects {
        match e {
            Effect::Event(frame, to) => {
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
        }
    }
    metrics.delivered(took, refused);
}
