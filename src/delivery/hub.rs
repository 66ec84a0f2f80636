//! A user's hub: its open sessions, its conversations and its profile.
//!
//! Conversation actors deliver to users, not to sessions: each chat participant
//! holds its user's hub, and the hub lists every session of that user (which a
//! conversation's [`Fanout`](super::Fanout) list reads). So a session that
//! connects is subscribed to all of its user's conversations at once, without a
//! message to each conversation.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

use super::Outbox;
use crate::model::{ConversationId, Identity, Millis, SessionId, User};
use crate::protocol::Frame;

/// A user's profile fields and presence (stored as they are, with `--data-dir`).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Profile {
    pub friendly_name: Option<String>,
    pub avatar_url: Option<String>,
    pub attributes: Option<Value>,
    pub last_seen_at: Option<Millis>,
    /// When the engine first knew this user (in this run, unless its profile
    /// was stored): the Twilio face's `date_created`.
    #[serde(default)]
    pub created_at: Option<Millis>,
    /// When `user.update` last changed the profile.
    #[serde(default)]
    pub updated_at: Option<Millis>,
}

/// Everything the engine knows of one identity.
#[derive(Debug)]
pub(crate) struct UserHub {
    pub identity: Identity,
    sessions: Mutex<Vec<(SessionId, Arc<Outbox>)>>,
    conversations: Mutex<HashSet<ConversationId>>,
    profile: Mutex<Profile>,
    /// How many other cluster nodes hold a session of this user (set by the registry).
    remote: AtomicUsize,
    /// The engine's count of session changes, shared by every hub: bumped
    /// whenever any hub gains or loses a session, so that a fanout list built
    /// from hubs ([`Fanout`](super::Fanout)) knows when to build it again.
    epoch: Arc<AtomicU64>,
    /// The cluster's log position (the engine's, shared by every hub), and
    /// past it the position of the profile's last change, for a delta
    /// snapshot: one after the entry being applied, since a change that
    /// comes from no entry (presence) may follow the snapshot of that entry.
    log_position: Arc<AtomicU64>,
    changed_at: AtomicU64,
}

/// A user's profile, to read ([`UserHub::profile_mut`] changes it).
pub(crate) struct ProfileRef<'a>(MutexGuard<'a, Profile>);

impl std::ops::Deref for ProfileRef<'_> {
    type Target = Profile;
    fn deref(&self) -> &Profile {
        &self.0
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each guarded value is updated in single steps that leave it whole, so a
    // poisoned lock still holds consistent data.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl UserHub {
    pub fn new(
        identity: Identity,
        now: Millis,
        epoch: Arc<AtomicU64>,
        log_position: Arc<AtomicU64>,
    ) -> Self {
        let changed_at = AtomicU64::new(log_position.load(Ordering::Relaxed) + 1);
        UserHub {
            epoch,
            log_position,
            changed_at,
            identity,
            sessions: Mutex::new(Vec::new()),
            conversations: Mutex::new(HashSet::new()),
            profile: Mutex::new(Profile {
                created_at: Some(now),
                ..Profile::default()
            }),
            remote: AtomicUsize::new(0),
        }
    }

    /// Hands a personal event to every session; returns how many took it and
    /// how many refused it (closed, or just closed as slow consumers).
    pub fn deliver(&self, frame: &Frame) -> (usize, usize) {
        self.each_session(|o| o.push(frame.clone()))
    }

    /// Hands an event of conversation `c` to every session, like [`deliver`](Self::deliver).
    pub fn deliver_event(&self, c: ConversationId, frame: &Frame) -> (usize, usize) {
        self.each_session(|o| o.push_event(c, frame.clone()))
    }

    /// Hands `conversationAdded`/`conversationRemoved` of `c` to every session,
    /// like [`deliver`](Self::deliver).
    pub fn deliver_membership(&self, c: ConversationId, frame: &Frame) -> (usize, usize) {
        self.each_session(|o| o.push_membership(c, frame.clone()))
    }

    fn each_session(&self, push: impl Fn(&Outbox) -> bool) -> (usize, usize) {
        let sessions = lock(&self.sessions);
        let took = sessions.iter().filter(|(_, o)| push(o)).count();
        (took, sessions.len() - took)
    }

    /// Adds a session; returns the number of sessions after.
    pub fn add_session(&self, id: SessionId, outbox: Arc<Outbox>) -> usize {
        let mut s = lock(&self.sessions);
        s.push((id, outbox));
        // Under the lock: a fanout list that read the epoch before this change
        // reads the sessions after it, or is built again.
        self.epoch.fetch_add(1, Ordering::Release);
        s.len()
    }

    /// Removes a session; returns the number left, or None if it was not there.
    pub fn remove_session(&self, id: SessionId) -> Option<usize> {
        let mut s = lock(&self.sessions);
        let pos = s.iter().position(|(sid, _)| *sid == id)?;
        s.swap_remove(pos);
        self.epoch.fetch_add(1, Ordering::Release);
        Some(s.len())
    }

    /// The engine's count of session changes so far.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Appends the outbox of every session to `out`.
    pub fn outboxes_into(&self, out: &mut Vec<Arc<Outbox>>) {
        out.extend(lock(&self.sessions).iter().map(|(_, o)| o.clone()));
    }

    pub fn session_count(&self) -> usize {
        lock(&self.sessions).len()
    }

    /// Online: a session here, or (in a cluster) on another node.
    pub fn online(&self) -> bool {
        self.remote.load(Ordering::Relaxed) > 0 || self.session_count() > 0
    }

    pub fn set_remote_nodes(&self, n: usize) {
        self.remote.store(n, Ordering::Relaxed);
    }

    pub fn join(&self, c: ConversationId) {
        lock(&self.conversations).insert(c);
    }

    pub fn leave(&self, c: ConversationId) {
        lock(&self.conversations).remove(&c);
    }

    pub fn conversations(&self) -> Vec<ConversationId> {
        lock(&self.conversations).iter().copied().collect()
    }

    pub fn profile(&self) -> ProfileRef<'_> {
        ProfileRef(lock(&self.profile))
    }

    /// The profile, to change (noted for the next delta snapshot).
    pub fn profile_mut(&self) -> MutexGuard<'_, Profile> {
        let guard = lock(&self.profile);
        self.changed();
        guard
    }

    /// The cluster log position of the profile's last change (see the field).
    pub fn changed_at(&self) -> u64 {
        self.changed_at.load(Ordering::Relaxed)
    }

    fn changed(&self) {
        let at = self.log_position.load(Ordering::Relaxed) + 1;
        self.changed_at.fetch_max(at, Ordering::Relaxed);
    }

    /// Notes that the user was known at `at`: its first-seen time is the
    /// earliest such note.
    pub fn known_since(&self, at: Millis) {
        let mut p = lock(&self.profile);
        if p.created_at.is_none_or(|c| at < c) {
            p.created_at = Some(at);
            self.changed();
        }
    }

    /// The User object: profile plus presence.
    pub fn user(&self) -> User {
        let online = self.online();
        let p = self.profile().clone();
        User {
            identity: self.identity.clone(),
            friendly_name: p.friendly_name,
            avatar_url: p.avatar_url,
            attributes: p
                .attributes
                .unwrap_or_else(|| Value::Object(Default::default())),
            online,
            last_seen_at: p.last_seen_at,
        }
    }
}
