//! A bounded cache of successful credential verifications.
//!
//! argon2id is slow on purpose (tens of milliseconds); paying it on every
//! request would cap the server at a few dozen requests a second per core.
//! After a secret has been verified once, the cache remembers a keyed BLAKE2b
//! MAC of (username, secret) — never the secret itself — with the principal
//! it resolved to and the auth epoch the verification was made in.
//!
//! Trust rules, which keep revocation immediate on every replica:
//! - A hit is trusted only if its epoch equals the database's current auth
//!   epoch, read on every request. Every change that can revoke credentials
//!   bumps the epoch in its own transaction.
//! - A hit from an older epoch is *stale*: the caller re-checks the key's row
//!   (one indexed read, no argon2) and refreshes or drops the entry.
//! - Failures are never cached: a wrong secret always takes the slow path.

use std::collections::HashMap;
use std::sync::Mutex;

use blake2::Blake2bMac;
use blake2::digest::consts::U32;
use blake2::digest::{FixedOutput, KeyInit, Mac};
use rand::rngs::OsRng;
use rand::{RngCore, TryRngCore};
use subtle::ConstantTimeEq;

use super::{Principal, Secret};

type Tagger = Blake2bMac<U32>;
type Tag = [u8; 32];

/// Entries kept at most; past it, stale entries go first, then arbitrary ones.
pub const DEFAULT_CAPACITY: usize = 10_000;

pub struct VerifiedCache {
    /// Random per process: tags are useless outside it.
    key: [u8; 64],
    capacity: usize,
    entries: Mutex<HashMap<String, Entry>>,
}

#[derive(Clone)]
struct Entry {
    tag: Tag,
    principal: Principal,
    epoch: i64,
}

/// What the cache knows about presented credentials.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Verified in the current epoch: trust it.
    Fresh(Principal),
    /// Verified in an earlier epoch: re-check before trusting.
    Stale(Principal),
    /// Never verified (or a different secret): take the slow path.
    Miss,
}

/// The MAC of one set of presented credentials, computed once per request.
pub struct Presented {
    username: String,
    tag: Tag,
}

impl VerifiedCache {
    pub fn new(capacity: usize) -> Self {
        let mut key = [0u8; 64];
        // `unwrap_err` panics only without an OS entropy source, where no
        // secret could be generated either.
        OsRng.unwrap_err().fill_bytes(&mut key);
        Self {
            key,
            capacity: capacity.max(1),
            entries: Mutex::default(),
        }
    }

    fn tagger(&self) -> Tagger {
        <Tagger as KeyInit>::new(&self.key.into())
    }

    /// Tags credentials for `lookup` and `insert`.
    pub fn present(&self, username: &str, secret: &Secret) -> Presented {
        let mut mac = self.tagger();
        // Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
        mac.update(&(username.len() as u64).to_le_bytes());
        mac.update(username.as_bytes());
        mac.update(secret.expose().as_bytes());
        Presented {
            username: username.to_owned(),
            tag: mac.finalize_fixed().into(),
        }
    }

    pub fn lookup(&self, presented: &Presented, epoch: i64) -> Lookup {
        let entry = match self.lock().get(&presented.username) {
            Some(entry) => entry.clone(),
            None => return Lookup::Miss,
        };
        if !bool::from(entry.tag.ct_eq(&presented.tag)) {
            return Lookup::Miss;
        }
        if entry.epoch == epoch {
            Lookup::Fresh(entry.principal)
        } else {
            Lookup::Stale(entry.principal)
        }
    }

    /// Remembers a successful verification made in `epoch`.
    pub fn insert(&self, presented: Presented, principal: Principal, epoch: i64) {
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&presented.username) {
            entries.retain(|_, entry| entry.epoch == epoch);
            if entries.len() >= self.capacity
                && let Some(victim) = entries.keys().next().cloned()
            {
                entries.remove(&victim);
            }
        }
        entries.insert(
            presented.username,
            Entry {
                tag: presented.tag,
                principal,
                epoch,
            },
        );
    }

    pub fn remove(&self, presented: &Presented) {
        self.lock().remove(&presented.username);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // The map holds no invariant a panicking holder could break.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::KeyPrincipal;
    use crate::store::Role;

    fn key_principal(key_id: i64) -> Principal {
        Principal::ApiKey(KeyPrincipal {
            key_id,
            access_key: format!("AK{key_id}"),
            project_id: 1,
            role: Role::Owner,
            expires_at: None,
            scopes: crate::scopes::Scopes::default(),
        })
    }

    #[test]
    fn only_the_verified_secret_in_the_verified_epoch_is_fresh() {
        let cache = VerifiedCache::new(10);
        let right = Secret::new("right");
        cache.insert(cache.present("AK", &right), key_principal(1), 5);

        assert_eq!(
            cache.lookup(&cache.present("AK", &right), 5),
            Lookup::Fresh(key_principal(1))
        );
        assert_eq!(
            cache.lookup(&cache.present("AK", &right), 6),
            Lookup::Stale(key_principal(1))
        );
        assert_eq!(
            cache.lookup(&cache.present("AK", &Secret::new("wrong")), 5),
            Lookup::Miss
        );
        assert_eq!(
            cache.lookup(&cache.present("OTHER", &right), 5),
            Lookup::Miss
        );
    }

    #[test]
    fn username_and_secret_boundaries_matter() {
        let cache = VerifiedCache::new(10);
        cache.insert(cache.present("ab", &Secret::new("c")), key_principal(1), 0);
        assert_eq!(
            cache.lookup(&cache.present("a", &Secret::new("bc")), 0),
            Lookup::Miss
        );
    }

    #[test]
    fn stays_within_capacity_dropping_stale_entries_first() {
        let cache = VerifiedCache::new(3);
        let secret = Secret::new("s");
        cache.insert(cache.present("old", &secret), key_principal(1), 1);
        cache.insert(cache.present("a", &secret), key_principal(2), 2);
        cache.insert(cache.present("b", &secret), key_principal(3), 2);
        cache.insert(cache.present("c", &secret), key_principal(4), 2);
        assert_eq!(cache.len(), 3);
        assert_eq!(
            cache.lookup(&cache.present("old", &secret), 2),
            Lookup::Miss
        );
        for name in ["a", "b", "c"] {
            assert!(matches!(
                cache.lookup(&cache.present(name, &secret), 2),
                Lookup::Fresh(_)
            ));
        }
        for i in 0..100 {
            cache.insert(
                cache.present(&format!("k{i}"), &secret),
                key_principal(i),
                2,
            );
        }
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn tags_do_not_contain_the_secret() {
        let cache = VerifiedCache::new(1);
        let presented = cache.present("AK", &Secret::new("secret-secret"));
        assert!(!presented.tag.windows(6).any(|w| w == b"secret"));
    }
}
