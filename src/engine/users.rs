//! Users: profiles (`user.update`), presence (`presence.get`), and the users
//! the engine knows.

use serde_json::json;

use super::Engine;
use crate::error::{Error, Result};
use crate::model::{Caller, Identity, KnownUser, Stamp, User};
use crate::protocol::{Reply, UpdateUser};
use crate::store::{Batch, Write};
use crate::validate;

impl Engine {
    /// Every user the engine knows (connected, updated, or made a participant),
    /// in the order it came to know them.
    pub fn users(&self) -> Vec<KnownUser> {
        let order = self.user_order();
        order.iter().filter_map(|i| self.known_user(i)).collect()
    }

    /// The identity of every user the engine knows, in the order it came to
    /// know them (then by identity), without copying their profiles: a list
    /// reads the whole order and shapes one page ([`Engine::known_user`]).
    pub fn user_order(&self) -> Vec<Identity> {
        let mut all: Vec<(u64, Identity)> = (self.shared().users.iter())
            .map(|h| (h.profile().created_at.unwrap_or(0), h.key().clone()))
            .collect();
        all.sort_unstable();
        all.into_iter().map(|(_, identity)| identity).collect()
    }

    /// One user the engine knows, by an identity it gave out.
    pub fn known_user(&self, identity: &Identity) -> Option<KnownUser> {
        self.shared().users.get(identity).map(|h| known_user(&h))
    }

    /// How many users the engine knows. It never forgets one, so this only grows.
    pub fn user_count(&self) -> usize {
        self.shared().users.len()
    }

    /// Calls `f` with the identity of every user the engine knows, in no order,
    /// without reading their profiles.
    pub fn each_identity(&self, mut f: impl FnMut(&Identity)) {
        for user in self.shared().users.iter() {
            f(user.key());
        }
    }

    /// One user the engine knows, or None.
    pub fn user(&self, identity: &str) -> Option<KnownUser> {
        let identity = validate::identity(identity, &self.config().limits).ok()?;
        self.known_user(&identity)
    }

    pub(super) fn presence(&self, identities: &[String]) -> Result<Reply> {
        const MAX_IDENTITIES: usize = 1000;
        if identities.len() > MAX_IDENTITIES {
            return Err(Error::bad(format!(
                "presence.get takes at most {MAX_IDENTITIES} identities"
            )));
        }
        let limits = &self.config().limits;
        let items = identities
            .iter()
            .map(|i| {
                let identity = validate::identity(i, limits)?;
                Ok(match self.shared().users.get(&identity) {
                    Some(h) => h.user(),
                    None => User {
                        identity,
                        friendly_name: None,
                        avatar_url: None,
                        attributes: json!({}),
                        online: false,
                        last_seen_at: None,
                    },
                })
            })
            .collect::<Result<Vec<User>>>()?;
        Ok(Reply::Presence { items })
    }

    pub(super) async fn update_user(
        &self,
        caller: Caller,
        u: UpdateUser,
        stamp: Option<Stamp>,
    ) -> Result<Reply> {
        let Caller::User(identity) = caller else {
            return Err(Error::bad("user.update needs a user"));
        };
        let limits = &self.config().limits;
        if let Some(Some(n)) = &u.friendly_name {
            validate::name("friendly_name", n, limits)?;
        }
        if let Some(Some(url)) = &u.avatar_url {
            if url.chars().count() > 2048 {
                return Err(Error::bad("avatar_url is longer than 2048 characters"));
            }
        }
        if let Some(a) = &u.attributes {
            validate::json_field("attributes", a, limits)?;
        }
        let at = stamp.map_or_else(|| self.config().clock.now_ms(), |s| s.at);
        let hub = self.shared().hub_at(&identity, at);
        let committed = {
            let mut p = hub.profile_mut();
            // Decided under the profile's lock, where the op is applied: on a
            // cluster every node applies user updates in the log's order, so
            // of two made at once through two nodes, every node refuses the
            // same one.
            if u.new && p.updated_at.is_some() {
                return Err(Error::conflict(format!("user {identity} already exists")));
            }
            if let Some(n) = u.friendly_name {
                p.friendly_name = n;
            }
            if let Some(url) = u.avatar_url {
                p.avatar_url = url;
            }
            if let Some(a) = u.attributes {
                p.attributes = Some(a);
            }
            p.updated_at = Some(at);
            // Submitted under the profile's lock: two updates commit in the
            // order they changed it.
            self.shared().store.get().map(|s| {
                let record = serde_json::to_vec(&*p).unwrap_or_default();
                s.submit(Batch(vec![Write::User {
                    identity: identity.to_string(),
                    record,
                }]))
            })
        };
        if let Some(done) = committed {
            match done.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(Error::Internal(format!("not acknowledged: {e}"))),
                Err(_) => return Err(Error::Internal("the store stopped".into())),
            }
        }
        Ok(Reply::User(Box::new(hub.user())))
    }
}

fn known_user(hub: &crate::delivery::UserHub) -> KnownUser {
    let (created_at, updated_at) = {
        let p = hub.profile();
        let created = p.created_at.unwrap_or(0);
        (created, p.updated_at.unwrap_or(created))
    };
    KnownUser {
        user: hub.user(),
        created_at,
        updated_at,
    }
}
