//! A conversation's fanout list: the outboxes of its members' sessions, flat,
//! built from their hubs and kept until a member or a session changes.
//!
//! An event then costs one outbox push per recipient session, instead of a
//! hop to each member's hub and a lock there. Session changes anywhere in the
//! engine bump one shared count (the hubs' epoch); a list built before a
//! change is built again at its next use. Sessions come and go far less often
//! than events go out, so the list is almost always reused.

use std::sync::Arc;

use super::{Outbox, UserHub};

#[derive(Debug, Default)]
pub(crate) struct Fanout {
    /// The member hubs the list was built from (compared by pointer: the
    /// conversation keeps one shared list until its membership changes).
    hubs: Option<Arc<[Arc<UserHub>]>>,
    /// The engine's session epoch when it was built.
    epoch: u64,
    outboxes: Vec<Arc<Outbox>>,
}

impl Fanout {
    /// The outboxes of every session of `hubs`' users.
    pub fn outboxes(&mut self, hubs: &Arc<[Arc<UserHub>]>) -> &[Arc<Outbox>] {
        let Some(first) = hubs.first() else {
            return &[];
        };
        // Read before the sessions: a change after this read is seen next time.
        let now = first.epoch();
        let same = self.hubs.as_ref().is_some_and(|h| Arc::ptr_eq(h, hubs));
        if !same || self.epoch != now {
            self.outboxes.clear();
            for hub in hubs.iter() {
                hub.outboxes_into(&mut self.outboxes);
            }
            self.hubs = Some(hubs.clone());
            self.epoch = now;
        }
        &self.outboxes
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use super::*;
    use crate::model::{Identity, SessionId};

    #[test]
    fn the_list_follows_sessions_and_members() {
        let epoch = Arc::new(AtomicU64::new(0));
        let hub = |name: &str| {
            let (identity, position) = (Identity::from_stored(name), Arc::default());
            Arc::new(UserHub::new(identity, 0, epoch.clone(), position))
        };
        let (ana, bo) = (hub("ana"), hub("bo"));
        let outbox = || Arc::new(Outbox::new(1 << 20));
        let (a1, b1, b2) = (outbox(), outbox(), outbox());
        ana.add_session(SessionId::new(), a1.clone());
        let bo_first = SessionId::new();
        bo.add_session(bo_first, b1.clone());
        let members: Arc<[Arc<UserHub>]> = Arc::from(vec![ana.clone(), bo.clone()]);
        let mut fanout = Fanout::default();
        let ptrs = |f: &mut Fanout, m: &Arc<[Arc<UserHub>]>| -> Vec<*const Outbox> {
            f.outboxes(m).iter().map(Arc::as_ptr).collect()
        };
        assert_eq!(
            ptrs(&mut fanout, &members),
            [Arc::as_ptr(&a1), Arc::as_ptr(&b1)]
        );
        // A session opened anywhere is in the next list; a closed one is not.
        bo.add_session(SessionId::new(), b2.clone());
        assert_eq!(ptrs(&mut fanout, &members).len(), 3);
        bo.remove_session(bo_first);
        assert_eq!(
            ptrs(&mut fanout, &members),
            [Arc::as_ptr(&a1), Arc::as_ptr(&b2)]
        );
        // Another member list (membership changed) is built anew.
        let only_ana: Arc<[Arc<UserHub>]> = Arc::from(vec![ana.clone()]);
        assert_eq!(ptrs(&mut fanout, &only_ana), [Arc::as_ptr(&a1)]);
        assert!(Fanout::default().outboxes(&Arc::from(vec![])).is_empty());
    }
}
