//! Browser sessions: the `keyward_session` cookie's value, what is stored of
//! it, and when a session is over.
//!
//! The value is random (see `token::session_token`) and new at every
//! sign-in; the database holds only its BLAKE2s-256 digest, which is what
//! every lookup uses. An unkeyed digest is enough: the value has 256 bits
//! of entropy, so there is nothing to guess from the digest.

use std::time::Duration;

use blake2::{Blake2s256, Digest};
use chrono::{DateTime, Utc};

use super::Secret;
use crate::config::SessionOptions;

/// The cookie's name.
pub const COOKIE: &str = "keyward_session";

/// How often at most a request moves a session's `last_seen_at` on in the
/// database: the idle timeout is measured from it, so it is kept to a
/// small part of that timeout.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// What is stored of a session cookie's value.
pub fn token_hash(token: &Secret) -> String {
    let digest = Blake2s256::digest(token.expose().as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The session timeouts (`--session-idle-timeout`, `--session-lifetime`).
#[derive(Clone, Copy, Debug)]
pub struct SessionPolicy {
    idle: chrono::Duration,
    lifetime: chrono::Duration,
}

/// Whether a session may serve a request now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    /// Alive, and its `last_seen_at` is due to move on to now.
    AliveTouch,
    Over,
}

impl SessionPolicy {
    pub fn new(options: &SessionOptions) -> Self {
        let convert = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        Self {
            idle: convert(options.idle_timeout),
            lifetime: convert(options.lifetime),
        }
    }

    /// When a session signed in at `now` ends, however active.
    pub fn expires_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + self.lifetime
    }

    /// A session last seen at `last_seen` and ending at `expires_at`, at
    /// `now`.
    pub fn liveness(
        &self,
        last_seen: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Liveness {
        if now >= expires_at || now >= last_seen + self.idle {
            return Liveness::Over;
        }
        let touch_every = chrono::Duration::from_std(TOUCH_EVERY)
            .unwrap_or(chrono::Duration::MAX)
            .min(self.idle / 8);
        if now - last_seen >= touch_every {
            Liveness::AliveTouch
        } else {
            Liveness::Alive
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ends_at_its_idle_timeout_or_its_lifetime_whichever_first() {
        let policy = SessionPolicy::new(&SessionOptions {
            idle_timeout: Duration::from_secs(8 * 3600),
            lifetime: Duration::from_secs(24 * 3600),
        });
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let h = chrono::Duration::hours;
        let ends = policy.expires_at(t0);
        let cases = [
            (t0, t0 + chrono::Duration::seconds(30), Liveness::Alive),
            (t0, t0 + h(1), Liveness::AliveTouch),
            (t0, t0 + h(7), Liveness::AliveTouch),
            (t0, t0 + h(8), Liveness::Over),
            (t0 + h(20), t0 + h(23), Liveness::AliveTouch),
            (t0 + h(23), t0 + h(24), Liveness::Over),
        ];
        for (last_seen, now, expected) in cases {
            assert_eq!(policy.liveness(last_seen, ends, now), expected, "at {now}");
        }
    }

    #[test]
    fn the_stored_hash_is_not_the_value() {
        let token = super::super::token::session_token();
        let hash = token_hash(&token);
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(token.expose()));
        assert_eq!(hash, token_hash(&token));
    }
}
