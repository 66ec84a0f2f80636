//! Ops on the conversation itself: get, update, delete, join, leave, the
//! caller's notification level.

use serde_json::json;

use super::effects::{Effect, Index};
use super::state::{check_url, membership_frame, Access, ConversationState};
use crate::error::{Error, Result};
use crate::model::{Caller, Identity, LogKind, Millis, NotificationLevel, Role, State, StateInfo};
use crate::protocol::{Reply, UpdateConversation};
use crate::validate;

impl ConversationState {
    pub fn get(&self, caller: &Caller) -> Result<Reply> {
        if self.meta.direct && self.access(caller).is_err() {
            return Err(Error::forbidden(
                "a direct conversation is visible to its two users only",
            ));
        }
        Ok(Reply::Conversation(Box::new(self.view(caller))))
    }

    pub fn update(&mut self, caller: &Caller, u: UpdateConversation, now: Millis) -> Result<Reply> {
        let access = self.access(caller)?;
        let limits = &self.shared.config.limits;
        if let Some(Some(n)) = &u.friendly_name {
            validate::name("friendly_name", n, limits)?;
        }
        if let Some(Some(n)) = &u.unique_name {
            validate::name("unique_name", n, limits)?;
            if n.is_empty() {
                return Err(Error::bad("unique_name must not be empty"));
            }
        }
        if let Some(a) = &u.attributes {
            validate::json_field("attributes", a, limits)?;
        }
        let merged = match &u.metadata {
            None => None,
            Some(m) => {
                validate::metadata(m, true, limits)?;
                let mut merged = self.meta.metadata.clone();
                for (k, v) in m {
                    if v.is_null() {
                        merged.remove(k);
                    } else {
                        merged.insert(k.clone(), v.clone());
                    }
                }
                validate::metadata(&merged, false, limits)?;
                Some(merged)
            }
        };
        if let Some(Some(url)) = &u.avatar_url {
            check_url(url)?;
        }
        if let Some(Some(n)) = &u.unique_name {
            if self.meta.unique_name.as_deref() != Some(n) {
                self.shared.reserve_unique_name(n, self.id)?;
            }
        }
        // Every check passed: apply.
        let mut reasons = Vec::new();
        if let Some(n) = u.friendly_name {
            if n != self.meta.friendly_name {
                self.meta.friendly_name = n;
                reasons.push("friendly_name");
            }
        }
        if let Some(n) = u.unique_name {
            if n != self.meta.unique_name {
                // Let go at once, as the new name was claimed: let go with
                // the commit, a rename and its undo both queued would free
                // the name the second one took back.
                if let Some(old) = self.meta.unique_name.take() {
                    self.shared
                        .unique_names
                        .remove_if(&old, |_, id| *id == self.id);
                }
                self.meta.unique_name = n;
                reasons.push("unique_name");
            }
        }
        if let Some(a) = u.attributes {
            if a != self.meta.attributes {
                self.meta.attributes = a;
                reasons.push("attributes");
            }
        }
        if let Some(m) = merged {
            if m != self.meta.metadata {
                self.meta.metadata = m;
                reasons.push("metadata");
            }
        }
        if let Some(url) = u.avatar_url {
            if url != self.meta.avatar_url {
                self.meta.avatar_url = url;
                reasons.push("avatar_url");
            }
        }
        let mut closed_now = false;
        if let Some(s) = u.state {
            if s != self.meta.state.current {
                closed_now = s == State::Closed;
                self.out.push(Effect::Index(Index::Closed(closed_now)));
                self.meta.state = StateInfo {
                    current: s,
                    updated_at: now,
                };
                reasons.push("state");
            }
        }
        if !reasons.is_empty() {
            self.meta.updated_at = now;
            self.meta_changed = true;
            self.emit_updated(reasons);
        }
        if closed_now {
            self.log_event(
                LogKind::ConversationClosed,
                json!({"identity": access.identity()}),
                now,
            );
        }
        Ok(Reply::Conversation(Box::new(self.view(caller))))
    }

    /// Deletes the conversation: every participant is told, every index forgets
    /// it, and the actor stops after this op.
    pub fn delete(&mut self, caller: &Caller) -> Result<Reply> {
        if !self.access(caller)?.is_admin() {
            return Err(Error::forbidden(
                "only an admin may delete the conversation",
            ));
        }
        let removed = membership_frame(self.id, true, &json!({"id": self.id, "reason": "deleted"}));
        for m in self.members.iter() {
            if let Some(hub) = &m.hub {
                self.out
                    .push(Effect::Index(Index::Member(hub.clone(), false)));
                self.out
                    .push(Effect::Membership(hub.clone(), removed.clone()));
            }
        }
        self.erased = true;
        if let Some(gone) = self.forget() {
            self.out.push(Effect::Index(gone));
        }
        Ok(Reply::DONE)
    }

    /// Ends the conversation (once): what the engine's shared indexes must
    /// forget of it, for the actor to apply.
    pub fn forget(&mut self) -> Option<Index> {
        if self.deleted {
            return None;
        }
        self.deleted = true;
        self.shared.metrics.conversations_add(-1);
        self.shared.metrics.messages_add(-(self.log.len() as i64));
        Some(Index::Forgotten {
            unique_name: self.meta.unique_name.clone(),
            reactions: self.log.reaction_ids().copied().collect(),
        })
    }

    pub fn join(&mut self, caller: &Caller, now: Millis) -> Result<Reply> {
        let Caller::User(identity) = caller else {
            return Err(Error::bad(
                "conversation.join needs a user; add a participant instead",
            ));
        };
        if self.members.seq_of(identity).is_some() {
            return Ok(Reply::Conversation(Box::new(self.view(caller))));
        }
        if self.meta.direct {
            return Err(Error::forbidden("a direct conversation cannot be joined"));
        }
        if self.meta.state.current == State::Closed {
            return Err(Error::forbidden("a closed conversation cannot be joined"));
        }
        self.check_room()?;
        let seq = self.insert_chat(identity.clone(), Role::Member, None, now);
        self.announce_joined(seq, now);
        Ok(Reply::Conversation(Box::new(self.view(caller))))
    }

    pub fn leave(&mut self, caller: &Caller, now: Millis) -> Result<Reply> {
        match self.access(caller)? {
            Access::Member { seq, .. } => {
                self.remove_member(seq, "left", now);
                Ok(Reply::DONE)
            }
            Access::Service => Err(Error::bad(
                "conversation.leave needs a user; remove a participant instead",
            )),
        }
    }

    pub fn set_notification_level(
        &mut self,
        caller: &Caller,
        level: NotificationLevel,
    ) -> Result<Reply> {
        let Access::Member { seq, .. } = self.access(caller)? else {
            return Err(Error::bad("the service has no notification level"));
        };
        if let Some(m) = self.members.get_mut(seq) {
            m.p.notification_level = level;
        }
        Ok(Reply::Conversation(Box::new(self.view(caller))))
    }

    /// Makes sure the given users are participants (a direct conversation that
    /// one of its two users had left).
    pub fn ensure_members(&mut self, identities: &[Identity], now: Millis) {
        for i in identities {
            if self.members.seq_of(i).is_none()
                && self.members.len() < self.shared.config.limits.max_participants
            {
                let seq = self.insert_chat(i.clone(), Role::Member, None, now);
                self.announce_joined(seq, now);
            }
        }
    }
}
