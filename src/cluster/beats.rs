//! A node's heartbeat names every user it holds a session of, which can be
//! more than one NATS message takes (the servers' `max_payload`, 1 MiB by
//! default: some 25,000 users). Sent whole, it would fail every time, and
//! the other nodes, hearing nothing, would take the node for dead and its
//! users for offline. So a beat goes in parts, each under the limit, and a
//! node hears a beat once it has every part of it. A part that is lost loses
//! that beat only: the next one, 2 s later, repairs what it would have.

use std::collections::HashMap;
use std::sync::Arc;

use crate::model::{Identity, Millis};
use crate::registry::NodePresence;

/// Room left in each part for what is not a user: the node's name, the
/// field names, the time.
const ENVELOPE: usize = 1024;

/// A beat, in parts of at most `max_payload` bytes of JSON each (one part,
/// marked whole, when it fits).
pub(super) fn split(
    node: &Arc<str>,
    users: Vec<Identity>,
    since: Vec<Millis>,
    at: Millis,
    max_payload: usize,
) -> Vec<NodePresence> {
    let budget = max_payload.saturating_sub(ENVELOPE + node.len()).max(1);
    // At most what a user takes in JSON: the name, each byte escaped at
    // worst, its quotes and comma, and its first-seen time.
    let size = |u: &Identity| 2 * u.as_str().len() + 24;
    let mut groups: Vec<(Vec<Identity>, Vec<Millis>)> = vec![Default::default()];
    let mut used = 0;
    let mut since = since.into_iter();
    for user in users {
        let take = size(&user);
        // A part holds at least one user, however long.
        if used > 0 && used + take > budget {
            groups.push(Default::default());
            used = 0;
        }
        used += take;
        if let Some((u, s)) = groups.last_mut() {
            u.push(user);
            s.extend(since.next());
        }
    }
    let parts = if groups.len() > 1 { groups.len() } else { 0 };
    groups
        .into_iter()
        .enumerate()
        .map(|(part, (users, since))| NodePresence::All {
            node: node.clone(),
            users,
            since,
            at,
            part: part as u32,
            parts: parts as u32,
        })
        .collect()
}

/// The parts of the beats being heard, by node.
#[derive(Default)]
pub(super) struct Parts {
    partial: HashMap<Arc<str>, Partial>,
}

struct Partial {
    at: Millis,
    next: u32,
    users: Vec<Identity>,
    since: Vec<Millis>,
}

impl Parts {
    /// What the registry should hear of `said`: a whole beat once its last
    /// part is in (parts come in order, from one publisher), nothing for an
    /// earlier part, anything else as it is.
    pub fn hear(&mut self, said: NodePresence) -> Option<NodePresence> {
        match said {
            NodePresence::All {
                ref node, parts: 0, ..
            } => {
                self.partial.remove(node);
                Some(said)
            }
            NodePresence::All {
                node,
                users,
                since,
                at,
                part,
                parts,
            } => self.part(node, users, since, at, part, parts),
            other => Some(other),
        }
    }

    /// Part `part` of `parts` of a beat: the whole beat once it is the last.
    fn part(
        &mut self,
        node: Arc<str>,
        users: Vec<Identity>,
        since: Vec<Millis>,
        at: Millis,
        part: u32,
        parts: u32,
    ) -> Option<NodePresence> {
        if part == 0 {
            let fresh = Partial {
                at,
                next: 0,
                users: Vec::new(),
                since: Vec::new(),
            };
            self.partial.insert(node.clone(), fresh);
        }
        let partial = self.partial.get_mut(&node)?;
        if partial.at != at || partial.next != part {
            // A part was lost: this beat is.
            self.partial.remove(&node);
            return None;
        }
        partial.users.extend(users);
        partial.since.extend(since);
        partial.next += 1;
        if partial.next < parts {
            return None;
        }
        let whole = self.partial.remove(&node)?;
        Some(NodePresence::All {
            node,
            users: whole.users,
            since: whole.since,
            at,
            part: 0,
            parts: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(n: usize) -> (Vec<Identity>, Vec<Millis>) {
        (0..n)
            .map(|i| (Identity::from_stored(&format!("user-{i:05}")), i as Millis))
            .unzip()
    }

    fn users_of(said: &NodePresence) -> (Vec<Identity>, Vec<Millis>) {
        match said {
            NodePresence::All { users, since, .. } => (users.clone(), since.clone()),
            other => panic!("not a beat: {other:?}"),
        }
    }

    #[test]
    fn a_beat_goes_in_parts_under_the_limit_and_is_heard_whole() {
        let node: Arc<str> = "node-a/12345678".into();
        let (users, since) = beat(2_000);
        let parts = split(&node, users.clone(), since.clone(), 7, 4096);
        assert!(parts.len() > 10, "{} parts", parts.len());
        for p in &parts {
            let bytes = serde_json::to_vec(p).expect("encodes").len();
            assert!(bytes <= 4096, "a part of {bytes} bytes");
        }
        let mut heard = Parts::default();
        let mut wholes = Vec::new();
        for p in parts {
            let json = serde_json::to_vec(&p).expect("encodes");
            let p: NodePresence = serde_json::from_slice(&json).expect("decodes");
            wholes.extend(heard.hear(p));
        }
        assert_eq!(wholes.len(), 1, "heard once, when whole");
        assert_eq!(users_of(&wholes[0]), (users, since));
    }

    #[test]
    fn a_beat_that_fits_is_one_message_as_before() {
        let node: Arc<str> = "a".into();
        let (users, since) = beat(3);
        let parts = split(&node, users.clone(), since.clone(), 7, 1 << 20);
        assert_eq!(parts.len(), 1);
        let json = serde_json::to_string(&parts[0]).expect("encodes");
        assert!(!json.contains("part"), "{json}");
        let mut heard = Parts::default();
        let beat = parts.into_iter().next().expect("one part");
        let whole = heard.hear(beat).expect("heard at once");
        assert_eq!(users_of(&whole), (users, since));
        // Nobody holds no users: an empty beat too.
        assert_eq!(split(&node, Vec::new(), Vec::new(), 7, 4096).len(), 1);
    }

    #[test]
    fn a_beat_with_a_part_lost_is_not_heard_and_the_next_one_is() {
        let node: Arc<str> = "a".into();
        let (users, since) = beat(500);
        let mut heard = Parts::default();
        let mut first = split(&node, users.clone(), since.clone(), 7, 2048);
        assert!(first.len() > 2);
        first.remove(1);
        let wholes: Vec<_> = first.into_iter().filter_map(|p| heard.hear(p)).collect();
        assert!(wholes.is_empty(), "a beat missing a part is not heard");
        let second = split(&node, users.clone(), since, 9, 2048);
        let wholes: Vec<_> = second.into_iter().filter_map(|p| heard.hear(p)).collect();
        assert_eq!(wholes.len(), 1);
        assert_eq!(users_of(&wholes[0]).0, users);
    }
}
