//! Usage over time: every authentication of a key, counted by outcome in
//! memory and written in batches (see [`writer`]), never a write per
//! request.
//!
//! [`Usage::record`] is called where credentials become a principal (the
//! `Authenticator`), and [`Usage::forbid`] where an authenticated key is
//! then refused by the endpoint itself (another project's endpoint, or
//! `/verify`'s requirements): that authentication moves from `accepted` to
//! `forbidden`, in the very minute it was counted in.
//!
//! Memory holds only what was counted since the last write: one entry per
//! key and minute used in the interval, and up to `RECENT_CLIENTS` (5)
//! addresses per such key. A million idle keys cost nothing.

mod pending;
pub mod writer;

use std::net::IpAddr;
use std::sync::Arc;

use crate::clock::Clock;
use crate::store::UsageGranularity;

pub use pending::Batch;
pub use writer::{UsageWriter, WriterOptions};

/// The longest user agent kept, in characters; longer ones are cut.
pub const MAX_USER_AGENT_CHARS: usize = 256;

/// How an authentication of a key ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Authenticated (whatever the fields it asked for then allowed).
    Accepted,
    /// A wrong secret, an inactive key, an expired key.
    Refused,
    /// Authenticated, then refused by the endpoint: another project's
    /// endpoint, or a role, scope or project requirement of `/verify`.
    Forbidden,
    /// Refused before verification, past the failure limits.
    Throttled,
}

/// An authentication as it was counted, for [`Usage::forbid`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    key_id: i64,
    project_id: i64,
    /// The minute it was counted in (Unix seconds).
    minute: i64,
}

/// Where an authentication came from, for `recentClients`.
#[derive(Clone, Copy, Debug)]
pub struct Client<'a> {
    pub address: IpAddr,
    pub user_agent: Option<&'a str>,
}

/// Counting handle. Cheap to clone; [`Usage::off`] counts nothing.
#[derive(Clone, Debug, Default)]
pub struct Usage {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    pending: pending::Pending,
    clock: Clock,
}

impl Usage {
    /// A handle that counts nothing (`--usage-counting off`).
    pub fn off() -> Self {
        Self { inner: None }
    }

    /// A handle counting into memory, read by [`Self::take`].
    pub fn counting(clock: Clock) -> Self {
        Self {
            inner: Some(Arc::new(Inner {
                pending: pending::Pending::default(),
                clock,
            })),
        }
    }

    /// Counts one authentication of key `key_id` (of project `project_id`)
    /// with `outcome`; an accepted one also notes its `client`.
    pub fn record(
        &self,
        key_id: i64,
        project_id: i64,
        outcome: Outcome,
        client: Option<Client<'_>>,
    ) -> Option<Counted> {
        let inner = self.inner.as_ref()?;
        let now = inner.clock.now();
        let minute = UsageGranularity::Minute.floor(now.timestamp());
        let client = client.filter(|_| outcome == Outcome::Accepted);
        inner
            .pending
            .add(key_id, project_id, minute, outcome, client, now);
        Some(Counted {
            key_id,
            project_id,
            minute,
        })
    }

    /// Moves `counted`, an accepted authentication, to `forbidden`.
    pub fn forbid(&self, counted: Counted) {
        if let Some(inner) = &self.inner {
            inner.pending.forbid(counted);
        }
    }

    /// Counts a throttled authentication naming `access_key`, whose key is
    /// looked up when the batch is written (an unknown one is not counted).
    pub fn throttled(&self, access_key: &str) {
        if let Some(inner) = &self.inner {
            let minute = UsageGranularity::Minute.floor(inner.clock.now().timestamp());
            inner.pending.throttled(access_key, minute);
        }
    }

    /// Everything counted since the last call.
    pub fn take(&self) -> Batch {
        self.inner
            .as_ref()
            .map(|inner| inner.pending.take())
            .unwrap_or_default()
    }

    /// Puts back a batch that could not be written, to be retried.
    pub fn restore(&self, batch: Batch) {
        if let Some(inner) = &self.inner {
            inner.pending.restore(batch);
        }
    }

    /// The clock buckets are read from.
    pub fn clock(&self) -> Option<&Clock> {
        self.inner.as_ref().map(|inner| &inner.clock)
    }

    /// Whether this handle counts.
    pub fn is_counting(&self) -> bool {
        self.inner.is_some()
    }
}

/// `user_agent` cut to [`MAX_USER_AGENT_CHARS`] characters.
pub fn truncated_user_agent(user_agent: &str) -> &str {
    match user_agent.char_indices().nth(MAX_USER_AGENT_CHARS) {
        Some((end, _)) => &user_agent[..end],
        None => user_agent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_are_cut_on_a_character_boundary() {
        let cases = [
            ("curl/8.0".to_owned(), 8),
            ("a".repeat(300), MAX_USER_AGENT_CHARS),
            ("é".repeat(300), MAX_USER_AGENT_CHARS),
        ];
        for (user_agent, chars) in cases {
            assert_eq!(truncated_user_agent(&user_agent).chars().count(), chars);
        }
    }
}
