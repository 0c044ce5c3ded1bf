//! Throttling of failed authentications.
//!
//! Each failure counts against the username it named (an access key or the
//! admin's username) and against the client address it came from, in fixed
//! windows. Past the limit, requests are refused with RATE_LIMITED before any
//! argon2 runs:
//! - a throttled *username* is refused whatever the secret, even the right
//!   one, so that a guess cannot be confirmed while throttled (no oracle);
//! - a throttled *address* may still use credentials this server has already
//!   verified (a cache hit), so that a misbehaving client behind the same
//!   NAT does not lock out everyone there, but it cannot make new guesses.
//!
//! A verification takes its unit of both allowances *before* argon2 runs
//! ([`Throttle::reserve`]), and gives it back only when the credentials
//! turn out right. Counting failures after the fact would let a client with
//! many requests in flight at once (hundreds of connections, or streams on
//! one HTTP/2 connection) run argon2 for all of them before the first
//! failure was counted.
//!
//! The state is bounded: at most `max_tracked` usernames and addresses each;
//! when full, expired windows are dropped first, then the oldest. An attacker
//! spraying random usernames fills it only until it evicts its own entries.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Usernames, and addresses, tracked at most by default.
pub const DEFAULT_MAX_TRACKED: usize = 100_000;

/// Limits of the throttle.
#[derive(Clone, Copy, Debug)]
pub struct ThrottleConfig {
    /// Failures allowed per username per window.
    pub per_username: u32,
    /// Failures allowed per client address per window.
    pub per_address: u32,
    pub window: Duration,
    /// Most usernames, and most addresses, tracked at once.
    pub max_tracked: usize,
}

pub struct Throttle {
    config: ThrottleConfig,
    usernames: Mutex<Windows<String>>,
    addresses: Mutex<Windows<IpAddr>>,
    /// Sign-ins through a provider started per address: each keeps a row
    /// until it comes back or expires, so one client must not start them
    /// without bound.
    sign_in_starts: Mutex<Windows<IpAddr>>,
}

/// Sign-ins through a provider one address may start per window: a
/// building of people behind one NAT signing in at nine, not a flood.
const SIGN_IN_STARTS_PER_ADDRESS: u32 = 300;
const SIGN_IN_STARTS_WINDOW: Duration = Duration::from_secs(600);

/// Whether a request may try to authenticate.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Refused for the username: no credentials for it are accepted until then.
    UsernameThrottled {
        retry_after: Duration,
    },
    /// Refused for the address: only already-verified credentials pass.
    AddressThrottled {
        retry_after: Duration,
    },
}

impl Throttle {
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            usernames: Mutex::new(Windows::default()),
            addresses: Mutex::new(Windows::default()),
            sign_in_starts: Mutex::new(Windows::default()),
        }
    }

    /// Counts a sign-in through a provider started from `address`, or says
    /// how long until it may start another.
    pub fn start_sign_in(&self, address: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let Ok(mut starts) = self.sign_in_starts.lock() else {
            return Ok(());
        };
        if let Some(retry_after) = starts.blocked(
            &address,
            SIGN_IN_STARTS_PER_ADDRESS,
            SIGN_IN_STARTS_WINDOW,
            now,
        ) {
            return Err(retry_after);
        }
        starts.count(address, SIGN_IN_STARTS_WINDOW, self.config.max_tracked, now);
        Ok(())
    }

    /// Checks `username` and `address` without counting anything.
    pub fn check(&self, username: &str, address: Option<IpAddr>) -> Verdict {
        let username = &fold(username);
        let now = Instant::now();
        let window = self.config.window;
        if let Some(retry_after) =
            lock(&self.usernames).blocked(username, self.config.per_username, window, now)
        {
            return Verdict::UsernameThrottled { retry_after };
        }
        if let Some(address) = address
            && let Some(retry_after) =
                lock(&self.addresses).blocked(&address, self.config.per_address, window, now)
        {
            return Verdict::AddressThrottled { retry_after };
        }
        Verdict::Allowed
    }

    /// Takes one unit of `username`'s and `address`'s allowances for a
    /// verification about to run, or says why none is left. The unit counts
    /// as a failure unless [`Reservation::refund`] gives it back (the
    /// credentials were right); a verification abandoned half-way (the client
    /// went away while argon2 ran) keeps counting, since its cost was paid.
    /// Refused, it says how long until either allowance has room again.
    pub fn reserve(
        &self,
        username: &str,
        address: Option<IpAddr>,
    ) -> Result<Reservation, Duration> {
        let username = &fold(username);
        let now = Instant::now();
        let (window, max) = (self.config.window, self.config.max_tracked);
        // Both locks, always in this order, so that the check and the count
        // of both allowances are one step for concurrent requests.
        let mut usernames = lock(&self.usernames);
        let mut addresses = lock(&self.addresses);
        if let Some(retry_after) =
            usernames.blocked(username, self.config.per_username, window, now)
        {
            return Err(retry_after);
        }
        if let Some(address) = address
            && let Some(retry_after) =
                addresses.blocked(&address, self.config.per_address, window, now)
        {
            return Err(retry_after);
        }
        let username_window = usernames.count(username.to_owned(), window, max, now);
        let address_window =
            address.map(|address| (address, addresses.count(address, window, max, now)));
        Ok(Reservation {
            username: username.to_owned(),
            username_window,
            address: address_window,
        })
    }

    /// Counts one failed authentication: against the username it named, if
    /// any (a malformed header names none), and the address it came from.
    pub fn record_failure(&self, username: Option<&str>, address: Option<IpAddr>) {
        let now = Instant::now();
        let (window, max) = (self.config.window, self.config.max_tracked);
        if let Some(username) = username {
            lock(&self.usernames).count(fold(username), window, max, now);
        }
        if let Some(address) = address {
            lock(&self.addresses).count(address, window, max, now);
        }
    }
}

/// The name a username's allowance is kept under: people's usernames match
/// without regard to case, so `Admin` and `ADMIN` share `admin`'s
/// allowance instead of each getting one (access keys, upper case, fold
/// alike). Only the first [`MAX_USERNAME_CHARS`] characters count: no real
/// username or access key is longer, and a made-up one (a sign-in body may
/// carry a megabyte) must not make every tracked entry that large.
fn fold(username: &str) -> String {
    username
        .chars()
        .take(MAX_USERNAME_CHARS)
        .flat_map(char::to_lowercase)
        .collect()
}

/// The longest username there is (people's usernames are 1 to 128
/// characters; access keys 20).
const MAX_USERNAME_CHARS: usize = 128;

/// One unit of a username's and an address's allowances, taken for a
/// verification (see [`Throttle::reserve`]).
#[must_use = "a reservation counts as a failure unless refunded"]
pub struct Reservation {
    username: String,
    username_window: Instant,
    address: Option<(IpAddr, Instant)>,
}

impl Reservation {
    /// Gives the unit back: the credentials were right, or the verification
    /// could not run for a reason that is not the client's (the database).
    pub fn refund(self, throttle: &Throttle) {
        let mut usernames = lock(&throttle.usernames);
        let mut addresses = lock(&throttle.addresses);
        usernames.uncount(self.username.as_str(), self.username_window);
        if let Some((address, started)) = self.address {
            addresses.uncount(&address, started);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Counters hold no invariant a panicking holder could break.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Failure counts per key in fixed windows.
struct Windows<K> {
    entries: HashMap<K, Window>,
}

impl<K> Default for Windows<K> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
        }
    }
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

impl<K: Hash + Eq + Clone> Windows<K> {
    /// How long until `key` may try again, if it has used up `limit`.
    fn blocked<Q>(&self, key: &Q, limit: u32, window: Duration, now: Instant) -> Option<Duration>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entry = self.entries.get(key)?;
        let ends = entry.started + window;
        (entry.failures >= limit && now < ends).then(|| ends - now)
    }

    /// Counts one failure of `key`; returns the start of the window it was
    /// counted in.
    fn count(&mut self, key: K, window: Duration, max_tracked: usize, now: Instant) -> Instant {
        if !self.entries.contains_key(&key) && self.entries.len() >= max_tracked {
            self.entries.retain(|_, entry| now < entry.started + window);
            if self.entries.len() >= max_tracked
                && let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, entry)| entry.started)
                    .map(|(key, _)| key.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        let entry = self.entries.entry(key).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now >= entry.started + window {
            *entry = Window {
                started: now,
                failures: 0,
            };
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.started
    }

    /// Takes back one failure counted in the window that started at
    /// `started`; a window that has since been replaced is left alone.
    fn uncount<Q>(&mut self, key: &Q, started: Instant)
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(entry) = self.entries.get_mut(key)
            && entry.started == started
        {
            entry.failures = entry.failures.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(per_username: u32, per_address: u32, max_tracked: usize) -> Throttle {
        Throttle::new(ThrottleConfig {
            per_username,
            per_address,
            window: Duration::from_secs(60),
            max_tracked,
        })
    }

    const HOME: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    #[test]
    fn one_address_starts_a_bounded_number_of_sign_ins() {
        let throttle = throttle(5, 5, 10);
        let home = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        let other = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
        for _ in 0..SIGN_IN_STARTS_PER_ADDRESS {
            assert_eq!(throttle.start_sign_in(home), Ok(()));
        }
        assert!(throttle.start_sign_in(home).is_err(), "past the allowance");
        assert_eq!(throttle.start_sign_in(other), Ok(()), "another address");
    }

    #[test]
    fn spellings_of_a_username_share_one_allowance_of_bounded_size() {
        let throttle = throttle(2, 100, 10);
        throttle.record_failure(Some("Admin"), None);
        throttle.record_failure(Some("ADMIN"), None);
        assert!(matches!(
            throttle.check("admin", None),
            Verdict::UsernameThrottled { .. }
        ));
        let huge = "x".repeat(1 << 20);
        assert_eq!(fold(&huge).len(), MAX_USERNAME_CHARS);
    }

    #[test]
    fn a_username_is_throttled_after_its_limit_and_others_are_not() {
        let throttle = throttle(3, 100, 10);
        for _ in 0..3 {
            assert_eq!(throttle.check("AK", HOME), Verdict::Allowed);
            throttle.record_failure(Some("AK"), HOME);
        }
        assert!(matches!(
            throttle.check("AK", HOME),
            Verdict::UsernameThrottled { retry_after } if retry_after <= Duration::from_secs(60)
        ));
        assert_eq!(throttle.check("OTHER", HOME), Verdict::Allowed);
    }

    #[test]
    fn an_address_is_throttled_across_usernames() {
        let throttle = throttle(100, 3, 10);
        for n in 0..3 {
            throttle.record_failure(Some(&format!("AK{n}")), HOME);
        }
        assert!(matches!(
            throttle.check("FRESH", HOME),
            Verdict::AddressThrottled { .. }
        ));
        assert_eq!(throttle.check("FRESH", None), Verdict::Allowed);
    }

    #[test]
    fn concurrent_reservations_never_exceed_the_allowance() {
        let throttle = std::sync::Arc::new(throttle(1_000, 50, 10_000));
        let granted: usize = (0..8)
            .map(|t| {
                let throttle = std::sync::Arc::clone(&throttle);
                std::thread::spawn(move || {
                    (0..100)
                        .filter(|n| throttle.reserve(&format!("AK{t}-{n}"), HOME).is_ok())
                        .count()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|thread| thread.join().unwrap_or(0))
            .sum();
        assert_eq!(granted, 50);
        assert!(throttle.reserve("ANOTHER", HOME).is_err());
        assert!(throttle.reserve("ANOTHER", None).is_ok());
    }

    #[test]
    fn a_refunded_reservation_is_not_a_failure() {
        let throttle = throttle(2, 100, 10);
        for _ in 0..10 {
            let Ok(reservation) = throttle.reserve("AK", HOME) else {
                panic!("right secrets never use up the allowance");
            };
            reservation.refund(&throttle);
        }
        let _failed = throttle.reserve("AK", HOME);
        let _failed = throttle.reserve("AK", HOME);
        assert!(throttle.reserve("AK", HOME).is_err());
        assert!(matches!(
            throttle.check("AK", None),
            Verdict::UsernameThrottled { .. }
        ));
    }

    #[test]
    fn windows_expire() {
        let throttle = Throttle::new(ThrottleConfig {
            per_username: 1,
            per_address: 100,
            window: Duration::from_millis(20),
            max_tracked: 10,
        });
        throttle.record_failure(Some("AK"), None);
        assert_ne!(throttle.check("AK", None), Verdict::Allowed);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(throttle.check("AK", None), Verdict::Allowed);
    }

    #[test]
    fn spraying_usernames_cannot_grow_the_state_past_its_bound() {
        let throttle = throttle(5, u32::MAX, 100);
        for n in 0..10_000 {
            throttle.record_failure(Some(&format!("SPRAY{n}")), HOME);
        }
        assert!(lock(&throttle.usernames).entries.len() <= 100);
        assert!(lock(&throttle.addresses).entries.len() <= 100);
    }
}
