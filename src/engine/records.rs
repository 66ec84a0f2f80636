//! The engine's records, as a store holding them has them: what a cluster's
//! snapshot holds, whole or as a delta on an earlier one, and starting a
//! fresh engine from one.

use std::future::Future;

use tokio::sync::oneshot;

use super::Engine;
use crate::conversation::{Kept, Records};
use crate::model::ConversationId;
use crate::registry::{self, Recover};
use crate::store::{Recovered, Write};

/// A snapshot's records, and for a delta on a base older than the engine
/// remembers, the ids of the conversations there; None if the engine stopped.
pub(crate) type SnapshotRecords = Option<(Vec<Write>, Option<Vec<[u8; 16]>>)>;

impl Engine {
    /// Every record the engine holds, as a store holding them has them: each
    /// user's profile, then each conversation's records. A cluster takes it
    /// between two entries of its log, as its snapshot.
    #[cfg(test)]
    pub(crate) async fn records(&self) -> Vec<Write> {
        self.records_since(None)
            .await
            .map(|r| r.0)
            .unwrap_or_default()
    }

    /// Like [`records`](Engine::records), but with `since` (a log position)
    /// only the records changed after that entry (or, for a conversation
    /// that no longer knows them, every record of it, after an erase), an
    /// erase of each conversation deleted since, and the profiles changed
    /// since: a cluster's delta snapshot. When which conversations changed
    /// is not known (a base older than is remembered), every one is asked,
    /// and the ids of those there come back too: one deleted since is known
    /// by its absence.
    ///
    /// The records are those of the moment of the call: the profiles are
    /// read, and each conversation asked, before it returns, and the future
    /// only gathers the answers. So a cluster's reader goes on applying
    /// entries while the conversations write their records out: each
    /// answers before any op queued after the call. None if a conversation
    /// did not answer (the engine is stopping).
    pub(crate) fn records_since(
        &self,
        since: Option<u64>,
    ) -> impl Future<Output = SnapshotRecords> + 'static {
        let shared = self.shared();
        let mut writes = self.profiles_since(since);
        let changed = since.and_then(|s| shared.changed_after(s));
        let erase = |id: ConversationId| Write::DeleteConversation {
            id: *id.0.as_bytes(),
        };
        let asked: Vec<_> = match &changed {
            Some(set) => set
                .iter()
                .filter_map(|id| match shared.conversations.get(id) {
                    Some(h) => Some((*id, h.addr.clone())),
                    None => {
                        writes.push(erase(*id));
                        None
                    }
                })
                .collect(),
            None => shared
                .conversations
                .iter()
                .map(|h| (*h.key(), h.addr.clone()))
                .collect(),
        };
        let answers: Vec<_> = asked
            .into_iter()
            .map(|(id, addr)| {
                let (reply, answer) = oneshot::channel();
                addr.do_send(Records { since, reply });
                (id, answer)
            })
            .collect();
        let listed = changed.is_none();
        async move {
            let mut listed = listed.then(|| Vec::with_capacity(answers.len()));
            for (id, answer) in answers {
                let there = match answer.await.ok()? {
                    Kept::Gone => {
                        if since.is_some() {
                            writes.push(erase(id));
                        }
                        false
                    }
                    Kept::Unchanged => true,
                    Kept::Changed(batch) => {
                        writes.extend(batch.0);
                        true
                    }
                    Kept::Whole(batch) => {
                        if since.is_some() {
                            writes.push(erase(id));
                        }
                        writes.extend(batch.0);
                        true
                    }
                };
                if let (true, Some(listed)) = (there, listed.as_mut()) {
                    listed.push(*id.0.as_bytes());
                }
            }
            Some((writes, listed))
        }
    }

    /// Every user's profile, or those changed after log position `since`.
    fn profiles_since(&self, since: Option<u64>) -> Vec<Write> {
        let users = self.shared().users.iter();
        users
            .filter(|hub| since.is_none_or(|s| hub.value().changed_at() > s))
            .map(|hub| Write::User {
                identity: hub.key().to_string(),
                record: serde_json::to_vec(&*hub.value().profile()).unwrap_or_default(),
            })
            .collect()
    }

    /// Starts, in a fresh engine, what a cluster's snapshot holds.
    pub(crate) async fn recover(&self, r: Recovered) -> std::result::Result<(), String> {
        let states = registry::restore(self.shared(), r)?;
        let started = self.inner.registry.send(Recover(states)).await;
        started.map_err(|e| format!("the engine stopped: {e}"))
    }
}
