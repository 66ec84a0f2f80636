//! Participant ops of a conversation: add (chat and non-chat), remove, get,
//! list, count, update.

use serde_json::json;

use super::effects::{Effect, Index};
use super::state::{empty, Access, ConversationState};
use crate::error::{Error, Result};
use crate::model::{
    Caller, MessagingBinding, Millis, NotificationLevel, Participant, ParticipantId,
    ParticipantKind, Role, State,
};
use crate::paging::{keyset_page, keyset_request};
use crate::protocol::{AddNonChat, AddParticipant, Reply, UpdateParticipant};
use crate::validate;

impl ConversationState {
    // ----- participant ops ----------------------------------------------------

    fn refuse_if_closed_or_direct(&self) -> Result<()> {
        if self.meta.direct {
            return Err(Error::forbidden(
                "a direct conversation has exactly its two users",
            ));
        }
        if self.meta.state.current == State::Closed {
            return Err(Error::closed());
        }
        Ok(())
    }

    pub fn add_participant(
        &mut self,
        caller: &Caller,
        a: AddParticipant,
        now: Millis,
    ) -> Result<Reply> {
        let access = self.access(caller)?;
        let limits = &self.shared.config.limits;
        let identity = validate::identity(&a.identity, limits)?;
        if let Some(attrs) = &a.attributes {
            validate::json_field("attributes", attrs, limits)?;
        }
        let role = a.role.unwrap_or(Role::Member);
        if role == Role::Admin && !access.is_admin() {
            return Err(Error::forbidden("only an admin may add an admin"));
        }
        self.refuse_if_closed_or_direct()?;
        if self.members.seq_of(&identity).is_some() {
            return Err(Error::conflict(format!(
                "{identity} is already a participant"
            )));
        }
        self.check_room()?;
        let seq = self.insert_chat(identity, role, a.attributes, now);
        self.announce_joined(seq, now);
        Ok(Reply::Participant(Box::new(self.participant(seq)?.clone())))
    }

    pub fn add_non_chat(&mut self, caller: &Caller, a: AddNonChat, now: Millis) -> Result<Reply> {
        self.access(caller)?;
        let limits = &self.shared.config.limits;
        validate::name("proxy_address", &a.proxy_address, limits)?;
        validate::name("address", &a.address, limits)?;
        if a.proxy_address.is_empty() || a.address.is_empty() {
            return Err(Error::bad("proxy_address and address must not be empty"));
        }
        if let Some(attrs) = &a.attributes {
            validate::json_field("attributes", attrs, limits)?;
        }
        self.refuse_if_closed_or_direct()?;
        if self.members.has_binding(&a.proxy_address, &a.address) {
            return Err(Error::conflict(
                "a participant with this binding is already there",
            ));
        }
        self.check_room()?;
        self.out.push(Effect::Index(Index::Address {
            address: a.address.clone(),
            proxy: a.proxy_address.clone(),
            came: true,
        }));
        let p = Participant {
            id: ParticipantId::new(),
            identity: None,
            conversation_id: self.id,
            role: Role::Member,
            kind: ParticipantKind::NonChat,
            attributes: a.attributes.unwrap_or_else(empty),
            joined_at: now,
            updated_at: now,
            last_read_message_index: None,
            last_read_at: None,
            messaging_binding: Some(MessagingBinding {
                proxy_address: a.proxy_address,
                address: a.address,
            }),
            notification_level: NotificationLevel::Default,
        };
        let seq = self.members.insert(p, None);
        self.announce_joined(seq, now);
        Ok(Reply::Participant(Box::new(self.participant(seq)?.clone())))
    }

    fn resolve_participant(&self, r: &str) -> Result<u64> {
        self.members
            .resolve(r)
            .ok_or_else(|| Error::not_found("participant not found"))
    }

    pub fn remove_participant(&mut self, caller: &Caller, r: &str, now: Millis) -> Result<Reply> {
        let access = self.access(caller)?;
        let seq = self.resolve_participant(r)?;
        let own = matches!(access, Access::Member { seq: s, .. } if s == seq);
        if !own && !access.is_admin() {
            return Err(Error::forbidden(
                "only an admin may remove another participant",
            ));
        }
        self.remove_member(seq, if own { "left" } else { "removed" }, now);
        Ok(Reply::DONE)
    }

    pub fn get_participant(&self, caller: &Caller, r: &str) -> Result<Reply> {
        self.access(caller)?;
        let p = self.participant(self.resolve_participant(r)?)?;
        Ok(Reply::Participant(Box::new(p.clone())))
    }

    pub fn list_participants(
        &self,
        caller: &Caller,
        page_size: Option<u64>,
        cursor: Option<&str>,
    ) -> Result<Reply> {
        self.access(caller)?;
        let size = crate::paging::page_size(page_size, 100, 1000, "page_size")?;
        let (from, size) = keyset_request::<u64>("participants", cursor, size)?;
        let keys = self.members.seqs();
        let page = keyset_page("participants", &keys, &from, size, |s| {
            self.members.get(*s).map(|m| m.p.clone())
        });
        Ok(Reply::Participants(page))
    }

    pub fn count_participants(&self, caller: &Caller) -> Result<Reply> {
        self.access(caller)?;
        Ok(Reply::Count {
            count: self.members.len(),
        })
    }

    pub fn update_participant(
        &mut self,
        caller: &Caller,
        u: UpdateParticipant,
        now: Millis,
    ) -> Result<Reply> {
        let access = self.access(caller)?;
        let seq = self.resolve_participant(&u.participant)?;
        let own = matches!(access, Access::Member { seq: s, .. } if s == seq);
        if let Some(a) = &u.attributes {
            validate::json_field("attributes", a, &self.shared.config.limits)?;
            if !own && !access.is_admin() {
                return Err(Error::forbidden(
                    "only an admin may change another participant's attributes",
                ));
            }
        }
        if u.role.is_some() && !access.is_admin() {
            return Err(Error::forbidden("only an admin may change a role"));
        }
        let Some(m) = self.members.get_mut(seq) else {
            return Err(Error::not_found("participant not found"));
        };
        let mut reasons = Vec::new();
        if let Some(a) = u.attributes {
            if a != m.p.attributes {
                m.p.attributes = a;
                reasons.push("attributes");
            }
        }
        if let Some(r) = u.role {
            if r != m.p.role {
                m.p.role = r;
                reasons.push("role");
            }
        }
        if !reasons.is_empty() {
            m.p.updated_at = now;
        }
        let p = m.p.clone();
        if !reasons.is_empty() {
            self.emit(
                "participantUpdated",
                &json!({"participant": p, "update_reasons": reasons}),
            );
        }
        Ok(Reply::Participant(Box::new(p)))
    }
}
