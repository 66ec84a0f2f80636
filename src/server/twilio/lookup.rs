//! Reading through the engine's public API: the face asks the engine for
//! everything, as the service (or as a user for a user's own view), and keeps
//! nothing of its own.

use std::ops::RangeInclusive;

use futures_util::future::join_all;

use super::page::Bound;
use super::wire::{code, uuid_of, TwResult, TwilioError};
use super::Ctx;
use crate::engine::Created;
use crate::model::{
    Caller, Conversation, ConversationId, Identity, Message, Millis, Page, Participant,
};
use crate::protocol::{Direction, ListMessages, MessageRef, Reply, Request};

/// Which conversations a list reads: those `subject` takes part in (every
/// one when None), made within `created` (ms), as `caller` sees them.
pub(crate) struct Scope<'a> {
    pub caller: &'a Caller,
    pub subject: Option<&'a Identity>,
    pub created: RangeInclusive<Millis>,
}

/// The one kind of answer an op gives, taken out of its [`Reply`].
pub(crate) trait FromReply: Sized {
    fn from_reply(r: Reply) -> Option<Self>;
}

impl FromReply for Reply {
    fn from_reply(r: Reply) -> Option<Self> {
        Some(r)
    }
}

impl FromReply for Conversation {
    fn from_reply(r: Reply) -> Option<Self> {
        match r {
            Reply::Conversation(c) => Some(*c),
            _ => None,
        }
    }
}

impl FromReply for Participant {
    fn from_reply(r: Reply) -> Option<Self> {
        match r {
            Reply::Participant(p) => Some(*p),
            _ => None,
        }
    }
}

impl FromReply for Message {
    fn from_reply(r: Reply) -> Option<Self> {
        match r {
            Reply::Message(m) => Some(*m),
            _ => None,
        }
    }
}

impl FromReply for Page<Conversation> {
    fn from_reply(r: Reply) -> Option<Self> {
        match r {
            Reply::Conversations(p) => Some(p),
            _ => None,
        }
    }
}

impl FromReply for Page<Participant> {
    fn from_reply(r: Reply) -> Option<Self> {
        match r {
            Reply::Participants(p) => Some(p),
            _ => None,
        }
    }
}

impl FromReply for Page<Message> {
    fn from_reply(r: Reply) -> Option<Self> {
        match r {
            Reply::Messages(p) => Some(p),
            _ => None,
        }
    }
}

/// Largest page the engine answers, for reading whole lists.
const MESSAGES_PAGE: u64 = 100;
const PARTICIPANTS_PAGE: u64 = 1000;
/// How many conversations a list views at once.
const VIEWS_AT_ONCE: usize = 100;

/// A conversation path key: a CH sid, else a unique name.
pub(crate) fn conversation_ref(key: &str) -> String {
    uuid_of("CH", key).unwrap_or_else(|| key.to_string())
}

/// A participant path key: an MB sid, else an identity.
pub(crate) fn participant_ref(key: &str) -> String {
    uuid_of("MB", key).unwrap_or_else(|| key.to_string())
}

/// A message path key: an IM sid or an index.
pub(crate) fn message_ref(key: &str) -> TwResult<MessageRef> {
    if let Some(id) = uuid_of("IM", key) {
        return Ok(MessageRef::Id(id));
    }
    key.parse::<u64>()
        .map(MessageRef::Index)
        .map_err(|_| TwilioError::not_found(&format!("Message {key}")))
}

impl Ctx {
    /// Runs one op; a `conflict` answer becomes Twilio code `conflict`.
    pub async fn run<T: FromReply>(
        &self,
        caller: Caller,
        req: Request,
        conflict: u32,
    ) -> TwResult<T> {
        let reply = self
            .engine
            .execute(caller, req, None)
            .await
            .map_err(|e| TwilioError::engine(e, conflict))?;
        T::from_reply(reply).ok_or_else(|| {
            TwilioError::new(500, code::INTERNAL, "the engine answered another kind")
        })
    }

    /// Runs one op whose answer the face does not need.
    pub async fn act(&self, caller: Caller, req: Request, conflict: u32) -> TwResult<()> {
        self.run::<Reply>(caller, req, conflict).await.map(drop)
    }

    /// A conversation by CH sid or unique name, as the service sees it.
    pub async fn conversation(&self, key: &str) -> TwResult<Conversation> {
        let conversation = conversation_ref(key);
        self.run(
            Caller::Service,
            Request::ConversationGet { conversation },
            code::NOT_FOUND,
        )
        .await
    }

    /// Every item of a list op, page after page: `request` makes the request
    /// for a cursor (None: the first page).
    async fn every<T>(
        &self,
        caller: &Caller,
        request: impl Fn(Option<String>) -> Request,
    ) -> TwResult<Vec<T>>
    where
        Page<T>: FromReply,
    {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let page: Page<T> = self
                .run(caller.clone(), request(cursor.take()), code::NOT_FOUND)
                .await?;
            all.extend(page.items);
            match page.next_cursor {
                Some(c) if page.has_next => cursor = Some(c),
                _ => return Ok(all),
            }
        }
    }

    /// Every participant of a conversation, in joining order.
    pub async fn participants(&self, conversation: &str) -> TwResult<Vec<Participant>> {
        self.every(&Caller::Service, |cursor| Request::ParticipantList {
            conversation: conversation.to_string(),
            page_size: Some(PARTICIPANTS_PAGE),
            cursor,
        })
        .await
    }

    /// One participant, by MB sid or identity.
    pub async fn participant(&self, conversation: &str, key: &str) -> TwResult<Participant> {
        let req = Request::ParticipantGet {
            conversation: conversation.to_string(),
            participant: participant_ref(key),
        };
        self.run(Caller::Service, req, code::NOT_FOUND).await
    }

    /// Up to `want` chat messages of a conversation (log messages are
    /// colloquy's own and stay hidden), read one way from `from` (an index,
    /// itself included; None: from the oldest going forward, the newest going
    /// back), in the order read. It reads only as many of the engine's pages
    /// as it needs, so a Twilio page costs its own size, not the list's.
    pub async fn chat_messages(
        &self,
        conversation: &str,
        from: Option<u64>,
        forward: bool,
        want: usize,
    ) -> TwResult<Vec<Message>> {
        let direction = if forward {
            Direction::Forward
        } else {
            Direction::Backwards
        };
        let mut out = Vec::new();
        let mut cursor = None;
        while out.len() < want {
            let request = Request::MessageList(ListMessages {
                conversation: conversation.to_string(),
                page_size: Some(MESSAGES_PAGE),
                anchor: from,
                direction: Some(direction),
                cursor: cursor.take(),
                ..ListMessages::default()
            });
            let page: Page<Message> = self.run(Caller::Service, request, code::NOT_FOUND).await?;
            let further = if forward {
                page.next_cursor.filter(|_| page.has_next)
            } else {
                page.prev_cursor.filter(|_| page.has_prev)
            };
            // A page lists its items oldest first, whichever way it was read.
            let mut items = page.items;
            if !forward {
                items.reverse();
            }
            out.extend(items.into_iter().filter(|m| !m.is_log()));
            match further {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        out.truncate(want);
        Ok(out)
    }

    /// Up to `want` conversations of `scope`, that `keep` keeps, in creation order
    /// from just after `after` going forward, or from just before it going
    /// back (None: from the first, or the last), in the order read. It views
    /// only as many as it needs, so a Twilio page costs its own size, not
    /// the list's.
    pub async fn conversations_created(
        &self,
        scope: &Scope<'_>,
        after: Option<Created>,
        forward: bool,
        want: usize,
        keep: impl Fn(&Conversation) -> bool,
    ) -> Vec<Conversation> {
        let mut keys = self.engine.conversations_created(scope.subject).await;
        keys.retain(|k| scope.created.contains(&k.0));
        let caller = scope.caller;
        let at = match after {
            None if forward => 0,
            None => keys.len(),
            Some(k) if forward => keys.partition_point(|x| *x <= k),
            Some(k) => keys.partition_point(|x| *x < k),
        };
        let (behind, ahead) = keys.split_at(at);
        let candidates: Vec<ConversationId> = if forward {
            ahead.iter().map(|k| k.1).collect()
        } else {
            behind.iter().rev().map(|k| k.1).collect()
        };
        let mut out = Vec::new();
        for chunk in candidates.chunks(want.clamp(1, VIEWS_AT_ONCE)) {
            let views = join_all(chunk.iter().map(|id| self.engine.view(caller.clone(), *id)));
            for c in views.await.into_iter().flatten() {
                if keep(&c) {
                    out.push(c);
                    if out.len() == want {
                        return out;
                    }
                }
            }
        }
        out
    }

    /// Refuses a binding of `address` through `proxy` that a conversation
    /// other than a closed one already holds: Twilio routes an SMS by that
    /// pair, so it may be in one open conversation only, and its 50416 names
    /// that conversation (a backend reads the sid from it to carry on there).
    /// An early answer: the engine decides, as it adds an exclusive binding.
    pub async fn binding_free(&self, address: &str, proxy: &str) -> TwResult<()> {
        match self.engine.binding_holder(address, proxy).await {
            Some(holder) => Err(TwilioError::binding_held(holder)),
            None => Ok(()),
        }
    }

    /// Up to `want` records of an address's list: each participant bound to
    /// `address` with its conversation (as the service sees it), by the
    /// conversation's creation order, then the participant's id; from just
    /// after `after` going forward, or from just before it going back (None:
    /// from the first, or the last), in the order read. It asks only the
    /// conversations where the address is bound, and only as many as it needs.
    pub async fn bound_records(
        &self,
        address: &str,
        after: Option<Bound>,
        forward: bool,
        want: usize,
    ) -> Vec<(Conversation, Participant)> {
        let keys = self.engine.conversations_bound_to(address).await;
        let at = match after {
            None if forward => 0,
            None => keys.len(),
            Some((c, _)) if forward => keys.partition_point(|x| *x < c),
            Some((c, _)) => keys.partition_point(|x| *x <= c),
        };
        let (behind, ahead) = keys.split_at(at);
        let order: Vec<Created> = if forward {
            ahead.to_vec()
        } else {
            behind.iter().rev().copied().collect()
        };
        let mut out = Vec::new();
        for key in order {
            let Some(c) = self.engine.view(Caller::Service, key.1).await else {
                continue;
            };
            let Ok(all) = self.participants(&key.1.to_string()).await else {
                continue;
            };
            let bound = |p: &Participant| {
                let beyond = |a: Bound| match forward {
                    true => (key, p.id) > a,
                    false => (key, p.id) < a,
                };
                let here = p
                    .messaging_binding
                    .as_ref()
                    .is_some_and(|b| b.address == address);
                here && after.is_none_or(beyond)
            };
            let mut mine: Vec<Participant> = all.into_iter().filter(bound).collect();
            mine.sort_by_key(|p| p.id);
            if !forward {
                mine.reverse();
            }
            for p in mine {
                out.push((c.clone(), p));
                if out.len() == want {
                    return out;
                }
            }
        }
        out
    }

    /// One chat message, by IM sid or index.
    pub async fn message(&self, conversation: &str, key: &str) -> TwResult<Message> {
        let req = Request::MessageGet {
            conversation: conversation.to_string(),
            message: message_ref(key)?,
        };
        let m: Message = self.run(Caller::Service, req, code::NOT_FOUND).await?;
        if m.is_log() {
            return Err(TwilioError::not_found(&format!("Message {key}")));
        }
        Ok(m)
    }

    /// The MB sid of `author` among `participants`, for a message's `participant_sid`.
    pub fn author_sid(participants: &[Participant], author: Option<&str>) -> Option<String> {
        let author = author?;
        participants
            .iter()
            .find(|p| p.identity.as_ref().map(crate::model::Identity::as_str) == Some(author))
            .map(|p| super::wire::sid("MB", p.id))
    }
}
