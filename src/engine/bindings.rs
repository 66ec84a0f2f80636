//! Twilio's rule for SMS bindings: an `exclusive` `participant.add_non_chat`
//! is refused while a conversation that is not closed (this one or another)
//! has a participant bound to the same address through the same proxy
//! address.
//!
//! The rule reaches across conversations, so no conversation's actor can
//! decide it: the engine does, as it routes the op, from the conversations
//! where the address is bound (`Shared::addresses`). It holds a lock from the
//! check until the add is answered, and the add's actor keeps the
//! conversation's info before it answers, so of two such adds at once one
//! finds the other's. In cluster mode the check runs as each node applies the
//! log; an add is not confined to its conversation, so it runs alone, after
//! every op before it in the log, and every node finds the same holder
//! whichever node asked first: nothing is decided before it has its place in
//! the log (docs/CLUSTER.md).

use std::sync::Arc;

use super::Engine;
use crate::conversation::{Answer, ConversationHandle};
use crate::delivery::Outbox;
use crate::error::{Error, Result};
use crate::model::{Caller, ConversationId, Stamp};
use crate::protocol::ConversationOp;

impl Engine {
    /// The conversation that is not closed where a participant is bound to
    /// `address` through `proxy` (the oldest, should a reopened one hold it
    /// too), as the log stood when asked.
    pub async fn binding_holder(&self, address: &str, proxy: &str) -> Option<ConversationId> {
        self.caught_up().await;
        self.holder(address, proxy)
    }

    fn holder(&self, address: &str, proxy: &str) -> Option<ConversationId> {
        let shared = self.shared();
        (shared.bound_to(address).into_iter())
            .filter_map(|id| shared.conversations.get(&id))
            .filter(|h| !h.info.is_closed() && h.info.holds(address, proxy))
            .map(|h| (h.info.created_at(), h.id))
            .min()
            .map(|(_, id)| id)
    }

    /// Runs `op` (an exclusive add) in `handle`'s conversation unless the
    /// pair is held.
    pub(super) async fn add_exclusive(
        &self,
        handle: ConversationHandle,
        (caller, op): (Caller, ConversationOp),
        outbox: Option<Arc<Outbox>>,
        stamp: Option<Stamp>,
    ) -> Result<Answer> {
        let ConversationOp::AddNonChat(a) = &op else {
            return handle.ask(caller, op, outbox, stamp).await;
        };
        let _deciding = self.inner.bindings.lock().await;
        if let Some(holder) = self.holder(&a.address, &a.proxy_address) {
            return Err(Error::BindingHeld(
                format!(
                    "a participant bound to this address through this proxy address is in \
                     conversation {holder}, which is not closed"
                ),
                holder.0,
            ));
        }
        handle.ask(caller, op, outbox, stamp).await
    }
}
