//! When to try a failed delivery again: exponential backoff with full
//! jitter, until a message is too old to be worth sending.
//!
//! Exponential, so that a receiver that is down for hours is not hammered;
//! jittered over the whole interval ("full jitter"), so that the messages
//! that failed together during an outage do not all come back together when
//! it ends; with an age limit, so that a receiver that is gone for good is
//! given up on and the message marked failed.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;

/// The ceiling of the first retry's delay; each later one doubles it.
pub const BASE_DELAY: Duration = Duration::from_secs(5);

/// No single wait exceeds this, however many attempts failed, so that a
/// receiver that comes back is served within the hour.
pub const MAX_DELAY: Duration = Duration::from_secs(60 * 60);

/// How long after its first attempt a message is still retried by default.
pub const DEFAULT_MAX_AGE: TimeDelta = TimeDelta::hours(24);

/// When to make the next attempt after `attempts_so_far` failed ones, or
/// `None` to give up (the message is then marked failed).
///
/// The wait is drawn uniformly from zero to `min(BASE_DELAY × 2^(n−1),
/// MAX_DELAY)` after `now`. No attempt is scheduled later than `max_age`
/// after `first_attempt_at`: the last one falls at that deadline, and once it
/// has passed the answer is `None`. With no attempt made yet, the answer is
/// `now`.
pub fn next_attempt(
    attempts_so_far: u32,
    first_attempt_at: DateTime<Utc>,
    now: DateTime<Utc>,
    max_age: TimeDelta,
) -> Option<DateTime<Utc>> {
    next_attempt_with(
        &mut rand::rng(),
        attempts_so_far,
        first_attempt_at,
        now,
        max_age,
    )
}

/// The upper bound of the wait after `attempts_so_far` failed attempts.
pub fn delay_ceiling(attempts_so_far: u32) -> Duration {
    let doublings = attempts_so_far.saturating_sub(1);
    // 2^31 × 5 s is far past the cap; saturating keeps larger counts there.
    let factor = 1u32.checked_shl(doublings.min(31)).unwrap_or(u32::MAX);
    BASE_DELAY.saturating_mul(factor).min(MAX_DELAY)
}

fn next_attempt_with(
    rng: &mut impl Rng,
    attempts_so_far: u32,
    first_attempt_at: DateTime<Utc>,
    now: DateTime<Utc>,
    max_age: TimeDelta,
) -> Option<DateTime<Utc>> {
    if attempts_so_far == 0 {
        return Some(now);
    }
    // An age limit past the calendar's end is no limit.
    let deadline = first_attempt_at
        .checked_add_signed(max_age)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    if now >= deadline {
        return None;
    }
    let ceiling = u64::try_from(delay_ceiling(attempts_so_far).as_millis()).unwrap_or(u64::MAX);
    let wait = rng.random_range(0..=ceiling);
    let wait = TimeDelta::try_milliseconds(i64::try_from(wait).unwrap_or(i64::MAX))?;
    let at = now.checked_add_signed(wait).unwrap_or(deadline);
    Some(at.min(deadline))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + seconds, 0)
            .single()
            .expect("valid time")
    }

    #[test]
    fn ceiling_doubles_from_five_seconds_and_caps_at_an_hour() {
        let cases = [
            (0, 5),
            (1, 5),
            (2, 10),
            (3, 20),
            (4, 40),
            (8, 640),
            (10, 2560),
            (11, 3600),
            (12, 3600),
            (40, 3600),
            (u32::MAX, 3600),
        ];
        for (attempts, seconds) in cases {
            assert_eq!(
                delay_ceiling(attempts),
                Duration::from_secs(seconds),
                "after {attempts} attempts"
            );
        }
    }

    #[test]
    fn waits_stay_within_zero_and_the_ceiling() {
        let mut rng = StdRng::seed_from_u64(7);
        let first = at(0);
        let now = at(60);
        for attempts in [1, 2, 3, 5, 9, 12, 100] {
            let ceiling = TimeDelta::from_std(delay_ceiling(attempts)).expect("small");
            let mut longest = TimeDelta::zero();
            for _ in 0..500 {
                let next = next_attempt_with(&mut rng, attempts, first, now, DEFAULT_MAX_AGE)
                    .expect("well before the deadline");
                let wait = next - now;
                assert!(wait >= TimeDelta::zero(), "{attempts}: {wait}");
                assert!(wait <= ceiling, "{attempts}: {wait} > {ceiling}");
                longest = longest.max(wait);
            }
            // Full jitter spreads over the whole interval, not just its start.
            assert!(longest > ceiling / 2, "{attempts}: longest {longest}");
        }
    }

    #[test]
    fn schedules_or_gives_up_by_age_by_table() {
        let day = DEFAULT_MAX_AGE;
        let first = at(0);
        /// The earliest and latest time expected, or `None` for giving up.
        type Window = Option<(DateTime<Utc>, DateTime<Utc>)>;
        // (attempts so far, now, max age, expected)
        let cases: &[(u32, DateTime<Utc>, TimeDelta, Window)] = &[
            (0, at(0), day, Some((at(0), at(0)))),
            (1, at(0), day, Some((at(0), at(5)))),
            (2, at(5), day, Some((at(5), at(15)))),
            (20, at(3600), day, Some((at(3600), at(7200)))),
            // Close to the deadline: the last attempt falls on it, no later.
            (20, at(86_000), day, Some((at(86_000), at(86_400)))),
            (20, at(86_400), day, None),
            (3, at(90_000), day, None),
            (1, at(10), TimeDelta::seconds(10), None),
            (1, at(9), TimeDelta::seconds(10), Some((at(9), at(10)))),
            (1, at(0), TimeDelta::zero(), None),
            (5, at(0), TimeDelta::MAX, Some((at(0), at(80)))),
        ];
        let mut rng = StdRng::seed_from_u64(11);
        for (attempts, now, max_age, expected) in cases {
            for _ in 0..50 {
                let got = next_attempt_with(&mut rng, *attempts, first, *now, *max_age);
                match (got, expected) {
                    (None, None) => {}
                    (Some(next), Some((low, high))) => assert!(
                        *low <= next && next <= *high,
                        "{attempts} at {now}: {next} not in {low}..={high}"
                    ),
                    _ => panic!("{attempts} at {now} (max age {max_age}): got {got:?}"),
                }
            }
        }
    }

    #[test]
    fn a_day_of_failures_ends_in_giving_up() {
        let first = at(0);
        let mut now = first;
        let mut attempts = 1;
        while let Some(next) = next_attempt(attempts, first, now, DEFAULT_MAX_AGE) {
            assert!(next >= now);
            now = next;
            attempts += 1;
            assert!(attempts < 10_000, "never gave up");
        }
        assert!(now <= first + DEFAULT_MAX_AGE);
        // At least the doubling steps up to the cap, then about hourly.
        assert!(attempts > 11, "{attempts}");
    }
}
