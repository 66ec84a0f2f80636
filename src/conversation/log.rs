//! The message log of one conversation: indexes, lookups, history cap,
//! idempotency keys, unread counting and history pages.
//!
//! Pure data. Indexes start at 0, only grow, and are never reused; a delete
//! leaves a gap. The log holds at most `max_history` messages and
//! `max_history_bytes` of content: past either, the oldest messages are evicted
//! (they no longer list, count or resolve; their indexes stay used).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::chat_index::ChatIndex;
use crate::model::{Identity, LastMessage, Message, MessageId, Millis, ReactionId};
use crate::protocol::{event_data, Direction, Frame, MessageRef};

/// A time window on `created_at`, both ends inclusive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Window {
    pub since: Option<Millis>,
    pub until: Option<Millis>,
}

impl Window {
    fn contains(&self, t: Millis) -> bool {
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t <= u)
    }
    fn before_start(&self, t: Millis) -> bool {
        self.since.is_some_and(|s| t < s)
    }
    fn after_end(&self, t: Millis) -> bool {
        self.until.is_some_and(|u| t > u)
    }
}

/// Messages as their `messageAdded` frames carried them: each message's
/// index, its event's seq, the frame and where the message starts in it.
/// See [`MessageLog::take_announced`].
#[derive(Debug, Default)]
pub(crate) struct Announced(Vec<(u64, u64, Frame, usize)>);

impl Announced {
    /// The JSON of message `index`, if it is among these.
    pub fn json(&self, index: u64) -> Option<&[u8]> {
        let (_, _, frame, at) = self.0.iter().find(|(i, ..)| *i == index)?;
        event_data(frame, *at).filter(|j| !j.is_empty())
    }

    /// The index of the message that event `seq` announced, if it is among these.
    pub fn index_of(&self, seq: u64) -> Option<u64> {
        self.0.iter().find(|(_, s, ..)| *s == seq).map(|(i, ..)| *i)
    }
}

/// One page of history, oldest first, with what lies on either side in the window.
#[derive(Debug)]
pub(crate) struct Slice<'a> {
    pub items: Vec<&'a Message>,
    pub has_prev: bool,
    pub has_next: bool,
}

#[derive(Debug, Default)]
pub(crate) struct MessageLog {
    /// Boxed: a B-tree node of inline messages is kilobytes, which glibc's
    /// allocator serves slowly; a node of pointers is small.
    messages: BTreeMap<u64, Box<Message>>,
    by_id: HashMap<MessageId, u64>,
    client_ids: HashMap<(Identity, String), u64>,
    reactions: HashMap<ReactionId, u64>,
    chat: ChatIndex,
    next_index: u64,
    content_bytes: usize,
    last_created_at: Millis,
    max_messages: usize,
    max_bytes: usize,
    /// Indexes appended, changed or removed since the journal last looked.
    touched: Vec<u64>,
    /// Of those, messages unchanged since the `messageAdded` frame that
    /// announced them: their record for the journal is that JSON, not a
    /// second serialization.
    announced: Announced,
    /// Messages held that changed since they were sent: their kept
    /// `messageAdded` frame no longer carries their record.
    changed: HashSet<u64>,
}

impl MessageLog {
    pub fn new(max_messages: usize, max_bytes: usize) -> Self {
        MessageLog {
            max_messages: max_messages.max(1),
            max_bytes,
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// The index the next message gets.
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    /// A timestamp for a new message: the wall clock, but never before the last
    /// message, so that `created_at` order is index order (windows rely on it).
    pub fn stamp(&self, now: Millis) -> Millis {
        now.max(self.last_created_at)
    }

    pub fn last_index(&self) -> Option<u64> {
        self.messages.last_key_value().map(|(i, _)| *i)
    }

    /// The newest chat message (log messages do not move `last_message`).
    pub fn last_chat(&self) -> Option<LastMessage> {
        self.chat
            .last()
            .and_then(|i| self.messages.get(&i))
            .map(|m| LastMessage {
                index: m.index,
                created_at: m.created_at,
            })
    }

    pub fn by_client_id(&self, author: &Identity, client_id: &str) -> Option<&Message> {
        let idx = self
            .client_ids
            .get(&(author.clone(), client_id.to_string()))?;
        self.messages.get(idx).map(|m| &**m)
    }

    /// Appends a message (its index must be [`next_index`]) and evicts past the
    /// caps. Returns the evicted messages, so that their reactions can be forgotten.
    /// `announced` is the seq of the `messageAdded` event of `m`, its frame
    /// and where `m` starts in it.
    pub fn append(&mut self, m: Message, announced: (u64, Frame, usize)) -> Vec<Message> {
        debug_assert_eq!(m.index, self.next_index);
        self.touched.push(m.index);
        let (seq, frame, at) = announced;
        self.announced.0.push((m.index, seq, frame, at));
        self.restore(m);
        let mut evicted = Vec::new();
        while self.messages.len() > self.max_messages
            || (self.content_bytes > self.max_bytes && self.messages.len() > 1)
        {
            let Some((_, old)) = self.messages.pop_first() else {
                break;
            };
            self.forget(&old);
            self.touched.push(old.index);
            evicted.push(*old);
        }
        evicted
    }

    /// Puts a stored message back (reading a store back): no eviction, no note.
    pub fn restore(&mut self, m: Message) {
        self.next_index = self.next_index.max(m.index + 1);
        self.last_created_at = self.last_created_at.max(m.created_at);
        self.content_bytes += m.content_bytes();
        self.by_id.insert(m.id, m.index);
        if let (Some(a), Some(c)) = (&m.author, &m.client_id) {
            self.client_ids.insert((a.clone(), c.clone()), m.index);
        }
        for r in &m.reactions {
            self.reactions.insert(r.id, m.index);
        }
        if !m.is_log() {
            self.chat.insert(m.index, m.author.as_ref());
        }
        self.messages.insert(m.index, Box::new(m));
    }

    /// The counters a store keeps: the next index and the last message time.
    pub fn counters(&self) -> (u64, Millis) {
        (self.next_index, self.last_created_at)
    }

    /// Restores the counters, so that indexes of deleted or evicted messages stay used.
    pub fn set_counters(&mut self, next_index: u64, last_created_at: Millis) {
        self.next_index = self.next_index.max(next_index);
        self.last_created_at = self.last_created_at.max(last_created_at);
    }

    /// A message's content changed size (an edit): keeps the byte count true,
    /// so that the cap holds and a later removal does not undercount.
    pub fn resized(&mut self, before: usize, after: usize) {
        self.content_bytes = self.content_bytes - before + after;
    }

    /// The indexes of the messages held, in order.
    pub fn indexes(&self) -> impl Iterator<Item = u64> + '_ {
        self.messages.keys().copied()
    }

    /// The indexes changed since the last call.
    pub fn take_touched(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.touched)
    }

    /// The indexes changed since the journal last looked.
    pub fn touched(&self) -> &[u64] {
        &self.touched
    }

    /// Forgets the changed indexes, keeping the buffers.
    pub fn clear_touched(&mut self) {
        self.touched.clear();
        self.announced.0.clear();
    }

    /// The messages appended since the last call and unchanged since, each
    /// with its `messageAdded` frame and where the message starts in it.
    pub fn take_announced(&mut self) -> Announced {
        std::mem::take(&mut self.announced)
    }

    fn forget(&mut self, m: &Message) {
        // Each send into a full log evicts one: no hashing while none changed.
        if !self.changed.is_empty() {
            self.changed.remove(&m.index);
        }
        self.content_bytes -= m.content_bytes();
        self.by_id.remove(&m.id);
        for r in &m.reactions {
            self.reactions.remove(&r.id);
        }
        if !m.is_log() {
            self.chat.remove(m.index, m.author.as_ref());
        }
        // The idempotency key stays after a delete (a resend still answers the
        // first message) but goes with eviction, which bounds the map.
    }

    fn forget_client_id(&mut self, m: &Message) {
        if let (Some(a), Some(c)) = (&m.author, &m.client_id) {
            self.client_ids.remove(&(a.clone(), c.clone()));
        }
    }

    pub fn remove(&mut self, index: u64) -> Option<Message> {
        let m = self.messages.remove(&index)?;
        self.touched.push(index);
        self.forget(&m);
        Some(*m)
    }

    /// Drops idempotency keys of messages no longer held (after eviction).
    pub fn forget_evicted(&mut self, evicted: &[Message]) {
        for m in evicted {
            self.forget_client_id(m);
        }
    }

    pub fn resolve(&self, r: &MessageRef) -> Option<u64> {
        match r {
            MessageRef::Index(i) => self.messages.contains_key(i).then_some(*i),
            MessageRef::Id(s) => MessageId::parse(s).and_then(|id| self.by_id.get(&id).copied()),
        }
    }

    pub fn get(&self, index: u64) -> Option<&Message> {
        self.messages.get(&index).map(|m| &**m)
    }

    /// Message `index`, if it is held and has not changed since it was sent
    /// or read back: a kept `messageAdded` of it then carries its record.
    pub fn as_sent(&self, index: u64) -> Option<&Message> {
        self.get(index).filter(|_| !self.changed.contains(&index))
    }

    /// A message to change: noted for the journal.
    pub fn get_mut(&mut self, index: u64) -> Option<&mut Message> {
        self.announced.0.retain(|(i, ..)| *i != index);
        let m = self.messages.get_mut(&index)?;
        self.touched.push(index);
        self.changed.insert(index);
        Some(&mut **m)
    }

    pub fn note_reaction(&mut self, id: ReactionId, index: u64) {
        self.reactions.insert(id, index);
    }

    pub fn reaction_message(&self, id: ReactionId) -> Option<u64> {
        self.reactions.get(&id).copied()
    }

    pub fn drop_reaction(&mut self, id: ReactionId) {
        self.reactions.remove(&id);
    }

    pub fn reaction_ids(&self) -> impl Iterator<Item = &ReactionId> {
        self.reactions.keys()
    }

    /// Chat messages above the horizon not written by `who`.
    pub fn unread(&self, who: &Identity, horizon: Option<u64>) -> u64 {
        match horizon {
            None => self.chat.unread(who, 0),
            Some(h) => h
                .checked_add(1)
                .map_or(0, |from| self.chat.unread(who, from)),
        }
    }

    fn exists_before(&self, index: u64, w: Window) -> bool {
        self.messages
            .range(..index)
            .rev()
            .map(|(_, m)| m.created_at)
            .take_while(|t| !w.before_start(*t))
            .any(|t| w.contains(t))
    }

    fn exists_after(&self, index: u64, w: Window) -> bool {
        let Some(from) = index.checked_add(1) else {
            return false;
        };
        self.messages
            .range(from..)
            .map(|(_, m)| m.created_at)
            .take_while(|t| !w.after_end(*t))
            .any(|t| w.contains(t))
    }

    /// A page of history. Backwards: the newest `size` messages with index ≤
    /// anchor (default: the last). Forward: the oldest `size` with index ≥ anchor
    /// (default: the first). Only messages inside the window count.
    pub fn page(&self, dir: Direction, anchor: Option<u64>, size: usize, w: Window) -> Slice<'_> {
        let mut items: Vec<&Message> = match dir {
            Direction::Backwards => {
                let mut v: Vec<&Message> = self
                    .messages
                    .range(..=anchor.unwrap_or(u64::MAX))
                    .rev()
                    .map(|(_, m)| &**m)
                    .take_while(|m| !w.before_start(m.created_at))
                    .filter(|m| w.contains(m.created_at))
                    .take(size)
                    .collect();
                v.reverse();
                v
            }
            Direction::Forward => self
                .messages
                .range(anchor.unwrap_or(0)..)
                .map(|(_, m)| &**m)
                .take_while(|m| !w.after_end(m.created_at))
                .filter(|m| w.contains(m.created_at))
                .take(size)
                .collect(),
        };
        items.shrink_to_fit();
        let (has_prev, has_next) = match (items.first(), items.last()) {
            (Some(first), Some(last)) => (
                self.exists_before(first.index, w),
                self.exists_after(last.index, w),
            ),
            // An empty page: say what lies beyond the anchor, on the other side.
            _ => match (dir, anchor) {
                (Direction::Backwards, Some(a)) => (false, self.exists_after(a, w)),
                (Direction::Forward, Some(a)) => (self.exists_before(a, w), false),
                _ => (false, false),
            },
        };
        Slice {
            items,
            has_prev,
            has_next,
        }
    }

    /// Messages in the window whose position `key` compares as `keep` wants, in
    /// index order; used by the cross-conversation feed.
    pub fn scan<'a>(&'a self, w: Window) -> impl DoubleEndedIterator<Item = &'a Message> + 'a {
        self.messages
            .values()
            .map(|m| &**m)
            .filter(move |m| w.contains(m.created_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ConversationId, MessageType, Subtype};
    use serde_json::{Map, Value};

    fn msg(log: &MessageLog, author: &str, at: Millis, is_log: bool) -> Message {
        Message {
            id: MessageId::new(),
            index: log.next_index(),
            conversation_id: ConversationId::new(),
            author: (!is_log).then(|| Identity::parse(author, 256).unwrap()),
            body: Some("hello".into()),
            attributes: Value::Object(Map::new()),
            metadata: Map::new(),
            details: Value::Object(Map::new()),
            type_: MessageType::Message,
            subtype: if is_log { Subtype::Log } else { Subtype::Chat },
            kind: None,
            media: vec![],
            reply_to: None,
            reactions: vec![],
            client_id: None,
            created_at: at,
            updated_at: at,
            edited: false,
            ts: 0.0,
        }
    }

    fn filled(n: u64) -> MessageLog {
        let mut l = MessageLog::new(100, 1 << 20);
        for i in 0..n {
            let m = msg(
                &l,
                if i % 2 == 0 { "alice" } else { "bob" },
                1000 + i * 10,
                false,
            );
            add(&mut l, m);
        }
        l
    }

    /// Appends `m` as a conversation does, with its `messageAdded` frame.
    fn add(l: &mut MessageLog, m: Message) -> Vec<Message> {
        let seq = m.index + 1;
        let (frame, at) = crate::protocol::encode_event_at("messageAdded", None, Some(seq), &m);
        l.append(m, (seq, frame, at))
    }

    #[test]
    fn a_message_is_as_sent_until_it_changes_or_goes() {
        let mut l = MessageLog::new(3, 1 << 20);
        for i in 0..4 {
            let m = msg(&l, "alice", 1000 + i, false);
            add(&mut l, m);
        }
        assert!(l.as_sent(0).is_none(), "evicted");
        assert!((1..4).all(|i| l.as_sent(i).is_some()));
        l.get_mut(1).unwrap().body = Some("edited".into());
        assert!(l.as_sent(1).is_none(), "changed");
        l.remove(2);
        assert!(l.as_sent(2).is_none(), "removed");
        assert!(l.as_sent(3).is_some());
    }

    #[test]
    fn a_new_message_is_journaled_as_its_frame_carried_it_until_it_changes() {
        let mut l = filled(3);
        let json = |l: &MessageLog, i| crate::protocol::json_exact(l.get(i).unwrap());
        let announced = l.take_announced();
        for i in 0..3 {
            assert_eq!(announced.json(i), Some(&json(&l, i)[..]));
        }
        assert_eq!(l.take_announced().json(0), None, "taken once");

        let m = msg(&l, "alice", 2000, false);
        add(&mut l, m);
        let m = msg(&l, "bob", 2010, false);
        add(&mut l, m);
        l.get_mut(3).unwrap().body = Some("edited".into());
        let announced = l.take_announced();
        assert_eq!(announced.json(3), None, "changed after its frame");
        assert_eq!(announced.json(4), Some(&json(&l, 4)[..]));
        assert_eq!(announced.index_of(4), None, "changed after its frame");
        assert_eq!(announced.index_of(5), Some(4));
    }

    fn idx(s: &Slice<'_>) -> Vec<u64> {
        s.items.iter().map(|m| m.index).collect()
    }

    #[test]
    fn pages_both_ways() {
        let l = filled(10);
        let w = Window::default();
        let p = l.page(Direction::Backwards, None, 3, w);
        assert_eq!(idx(&p), vec![7, 8, 9]);
        assert!(p.has_prev && !p.has_next);
        let p = l.page(Direction::Backwards, Some(4), 3, w);
        assert_eq!(idx(&p), vec![2, 3, 4]);
        assert!(p.has_prev && p.has_next);
        let p = l.page(Direction::Forward, None, 3, w);
        assert_eq!(idx(&p), vec![0, 1, 2]);
        assert!(!p.has_prev && p.has_next);
        let p = l.page(Direction::Forward, Some(8), 5, w);
        assert_eq!(idx(&p), vec![8, 9]);
        assert!(p.has_prev && !p.has_next);
    }

    #[test]
    fn windows_bound_pages_and_neighbours() {
        let l = filled(10); // created_at 1000, 1010, … 1090
        let w = Window {
            since: Some(1020),
            until: Some(1050),
        };
        let p = l.page(Direction::Backwards, None, 10, w);
        assert_eq!(idx(&p), vec![2, 3, 4, 5]);
        assert!(!p.has_prev && !p.has_next);
        let p = l.page(Direction::Backwards, None, 2, w);
        assert_eq!(idx(&p), vec![4, 5]);
        assert!(p.has_prev && !p.has_next);
    }

    #[test]
    fn unread_skips_own_and_log() {
        let mut l = filled(4); // alice 0, bob 1, alice 2, bob 3
        let m = msg(&l, "", 2000, true);
        add(&mut l, m);
        let alice = Identity::parse("alice", 256).unwrap();
        assert_eq!(l.unread(&alice, None), 2);
        assert_eq!(l.unread(&alice, Some(1)), 1);
        assert_eq!(l.unread(&alice, Some(4)), 0);
    }

    #[test]
    fn unread_and_last_chat_follow_deletes_and_evictions() {
        let mut l = MessageLog::new(20, 1 << 20);
        let names = ["alice", "bob", "carol"];
        for n in 0..200u64 {
            let m = msg(&l, names[(n % 3) as usize], 1000 + n, n % 7 == 0);
            add(&mut l, m);
            if n % 5 == 0 {
                l.remove(n.saturating_sub(3));
            }
            let counted = |who: &Identity, from: u64| {
                l.messages
                    .range(from..)
                    .filter(|(_, m)| !m.is_log() && m.author.as_ref() != Some(who))
                    .count() as u64
            };
            for name in names {
                let who = Identity::parse(name, 256).unwrap();
                assert_eq!(l.unread(&who, None), counted(&who, 0));
                for h in [n.saturating_sub(10), n.saturating_sub(1), n, u64::MAX] {
                    let from = h.saturating_add(1);
                    let want = if h == u64::MAX {
                        0
                    } else {
                        counted(&who, from)
                    };
                    assert_eq!(l.unread(&who, Some(h)), want);
                }
            }
            let newest = l.messages.values().rev().find(|m| !m.is_log());
            assert_eq!(l.last_chat().map(|m| m.index), newest.map(|m| m.index));
        }
    }

    #[test]
    fn deletes_leave_gaps_and_history_is_capped() {
        let mut l = MessageLog::new(3, 1 << 20);
        for _ in 0..5 {
            let m = msg(&l, "alice", 1, false);
            add(&mut l, m);
        }
        assert_eq!(l.len(), 3);
        assert_eq!(l.resolve(&MessageRef::Index(1)), None);
        assert!(l.remove(3).is_some());
        assert_eq!(l.last_index(), Some(4));
        assert_eq!(l.next_index(), 5);
        let p = l.page(Direction::Forward, None, 10, Window::default());
        assert_eq!(idx(&p), vec![2, 4]);
    }

    #[test]
    fn byte_cap_evicts_oldest() {
        let mut l = MessageLog::new(100, 12);
        for _ in 0..4 {
            let m = msg(&l, "alice", 1, false); // 5 bytes each
            add(&mut l, m);
        }
        assert_eq!(l.len(), 2);
    }
}
