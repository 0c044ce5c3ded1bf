//! A bound on the audit events refused mutations add to the trail.
//!
//! Every refusal used to be one event, so a caller allowed nothing at all (a
//! READ_ONLY key, say) could write to the trail as fast as it could send
//! requests, burying the events that matter and growing the table. Now each
//! caller (a key, the admin, or an anonymous client address) has windows of
//! one minute, starting at its first refusal: the first
//! [`RECORDED_PER_MINUTE`] refusals of a window are recorded one by one, as
//! before; the rest are counted, and when the window ends one summary event
//! says how many there were, between when and when, and repeats the last of
//! them (its action, outcome, target and reason). So a caller adds at most
//! `RECORDED_PER_MINUTE + 1` events per minute, and every refusal is still
//! accounted for in the trail.
//!
//! The counts live in memory, per replica. A graceful stop writes the
//! summaries still pending before the store closes ([`RefusalBudget::drain`]);
//! only a replica that dies (killed, crashed) loses them, and the refusals
//! recorded one by one are in the table already. Memory is bounded: at most
//! [`MAX_TRACKED_CALLERS`] callers are tracked; past that, new callers share
//! one window, so the bound holds for them together.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Principal;
use crate::store::{AuditContext, AuditOutcome, Store, Target};

/// Refusals recorded one by one per caller per window.
pub const RECORDED_PER_MINUTE: u32 = 60;
/// Length of a caller's window.
const WINDOW: Duration = Duration::from_secs(60);
/// Callers tracked at once; past it, new callers share one window.
pub const MAX_TRACKED_CALLERS: usize = 10_000;

/// Whose refusals are counted together.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Caller {
    Key(i64),
    Person(i64),
    Anonymous(Option<IpAddr>),
    /// Every caller that found the table full.
    Untracked,
}

impl Caller {
    fn of(principal: &Principal, address: Option<IpAddr>) -> Self {
        match principal {
            Principal::ApiKey(key) => Self::Key(key.key_id),
            Principal::Person(person) => Self::Person(person.user_id),
            Principal::Anonymous => Self::Anonymous(address),
        }
    }
}

/// One refusal, as it would have been recorded.
#[derive(Clone, Debug)]
pub struct Refusal {
    pub context: AuditContext,
    pub outcome: AuditOutcome,
    pub target: Target,
    pub reason: String,
}

/// What to do with a refusal.
#[derive(Debug)]
pub enum Decision {
    /// Record it as usual.
    Record,
    /// Do not; it is counted.
    Suppress,
    /// Do not; it is counted, and it is the first the window suppresses: the
    /// caller must have [`RefusalBudget::flush_later`] run for the window.
    SuppressFirst(Due),
}

/// Refusals not recorded one by one, to be recorded as one event.
#[derive(Debug)]
pub struct Summary {
    count: u64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    last: Refusal,
}

impl Summary {
    /// The summary event: the last suppressed refusal, with a reason that
    /// counts them all.
    pub fn into_event(self) -> Refusal {
        let Summary {
            count,
            from,
            to,
            mut last,
        } = self;
        let from = from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let to = to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        last.reason = format!(
            "{count} more refusals by this caller from {from} to {to} were not recorded one by one (at most {RECORDED_PER_MINUTE} are per caller per minute); the last of them: {}",
            last.reason
        );
        last
    }
}

struct Window {
    started: Instant,
    started_at: DateTime<Utc>,
    recorded: u32,
    suppressed: u64,
    last: Option<Refusal>,
}

impl Window {
    fn new(now: Instant) -> Self {
        Self {
            started: now,
            started_at: Utc::now(),
            recorded: 0,
            suppressed: 0,
            last: None,
        }
    }

    fn expired(&self, now: Instant) -> bool {
        now.duration_since(self.started) >= WINDOW
    }

    /// The suppressed refusals, taken out of the window.
    fn take_summary(&mut self) -> Option<Summary> {
        let last = self.last.take()?;
        let count = std::mem::take(&mut self.suppressed);
        Some(Summary {
            count,
            from: self.started_at,
            to: self.started_at
                + chrono::Duration::from_std(WINDOW).unwrap_or(chrono::Duration::zero()),
            last,
        })
    }
}

/// The windows of every tracked caller. Cheap to clone: clones share them.
#[derive(Clone, Default)]
pub struct RefusalBudget {
    windows: Arc<Mutex<HashMap<Caller, Window>>>,
    /// The flushes waiting for their window to end, so that a stop can
    /// await them.
    flushes: TaskTracker,
    /// Cancelled at a stop: every waiting flush writes its summary now.
    stopping: CancellationToken,
}

impl std::fmt::Debug for RefusalBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefusalBudget").finish_non_exhaustive()
    }
}

/// Identifies a window to flush: the caller, and when the window started (a
/// later window of the same caller is not flushed early).
#[derive(Debug)]
pub struct Due {
    caller: Caller,
    started: Instant,
}

impl Due {
    /// When the window ends.
    fn at(&self) -> Instant {
        self.started + WINDOW
    }
}

impl RefusalBudget {
    /// Counts `refusal` against its caller. Also returns the summary of the
    /// caller's previous window if it is still pending (its flush had not
    /// run yet), to be recorded now.
    pub fn count(
        &self,
        principal: &Principal,
        address: Option<IpAddr>,
        refusal: &Refusal,
        now: Instant,
    ) -> (Decision, Option<Summary>) {
        let mut windows = self.lock();
        let mut caller = Caller::of(principal, address);
        if !windows.contains_key(&caller) && windows.len() >= MAX_TRACKED_CALLERS {
            // Expired windows with nothing pending can go; those with a
            // pending summary stay until it is flushed.
            windows.retain(|_, window| !window.expired(now) || window.last.is_some());
            if windows.len() >= MAX_TRACKED_CALLERS {
                caller = Caller::Untracked;
            }
        }
        let window = windows
            .entry(caller.clone())
            .or_insert_with(|| Window::new(now));
        let mut pending = None;
        if window.expired(now) {
            pending = window.take_summary();
            *window = Window::new(now);
        }
        if window.recorded < RECORDED_PER_MINUTE {
            window.recorded += 1;
            return (Decision::Record, pending);
        }
        window.suppressed += 1;
        let first = window.last.is_none();
        window.last = Some(refusal.clone());
        if !first {
            return (Decision::Suppress, pending);
        }
        let due = Due {
            caller,
            started: window.started,
        };
        (Decision::SuppressFirst(due), pending)
    }

    /// The summary of the window `due` names, if it is still there and has
    /// one pending.
    pub fn flush(&self, due: &Due) -> Option<Summary> {
        let mut windows = self.lock();
        let window = windows.get_mut(&due.caller)?;
        if window.started != due.started {
            return None;
        }
        window.take_summary()
    }

    /// Records the summary of the window `due` names when the window ends,
    /// or at a stop if that comes first, on a task of its own: whether or
    /// not the caller sends anything more. Called at the first refusal a
    /// window suppresses.
    pub fn flush_later(&self, store: Store, due: Due) {
        let budget = self.clone();
        self.flushes.spawn(async move {
            tokio::select! {
                () = tokio::time::sleep_until(due.at().into()) => {}
                () = budget.stopping.cancelled() => {}
            }
            if let Some(summary) = budget.flush(&due) {
                record(&store, summary.into_event()).await;
            }
        });
    }

    /// At a stop, once no request runs any more: records every pending
    /// summary now, and returns when they are written.
    pub async fn drain(&self) {
        self.stopping.cancel();
        self.flushes.close();
        self.flushes.wait().await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Caller, Window>> {
        // Counters hold no invariant a panicking holder could break.
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Records `refusal`; a failure is logged, not returned: the refusal stands
/// either way, and the trail misses one entry.
pub async fn record(store: &Store, refusal: Refusal) {
    let Refusal {
        context,
        outcome,
        target,
        reason,
    } = refusal;
    if let Err(failure) = store
        .record_refusal(&context, outcome, target, reason)
        .await
    {
        let action = context.action();
        tracing::error!(error = ?failure, ?action, "could not record a refused mutation");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Actor, AuditAction};

    fn refusal(reason: &str) -> Refusal {
        Refusal {
            context: AuditContext::for_tests(AuditAction::KeyCreated, Actor::Anonymous),
            outcome: AuditOutcome::Forbidden,
            target: Target::default(),
            reason: reason.into(),
        }
    }

    fn anonymous(n: u32) -> Option<IpAddr> {
        Some(IpAddr::from(n.to_be_bytes()))
    }

    #[test]
    fn a_window_records_its_quota_then_counts_the_rest_into_one_summary() {
        let budget = RefusalBudget::default();
        let start = Instant::now();
        for n in 0..RECORDED_PER_MINUTE {
            let (decision, pending) =
                budget.count(&Principal::Anonymous, None, &refusal(&n.to_string()), start);
            assert!(matches!(decision, Decision::Record), "refusal {n}");
            assert!(pending.is_none());
        }
        let (decision, _) = budget.count(&Principal::Anonymous, None, &refusal("first"), start);
        let Decision::SuppressFirst(due) = decision else {
            panic!("{decision:?}")
        };
        assert_eq!(due.at(), start + WINDOW);
        for _ in 0..41 {
            let (decision, _) = budget.count(&Principal::Anonymous, None, &refusal("later"), start);
            assert!(matches!(decision, Decision::Suppress));
        }
        let event = budget.flush(&due).expect("a summary").into_event();
        assert!(
            event.reason.starts_with("42 more refusals"),
            "{}",
            event.reason
        );
        assert!(
            event.reason.ends_with("the last of them: later"),
            "{}",
            event.reason
        );
        assert!(budget.flush(&due).is_none(), "flushed once");
    }

    #[test]
    fn a_new_window_records_again_and_brings_a_pending_summary_along() {
        let budget = RefusalBudget::default();
        let start = Instant::now();
        for _ in 0..=RECORDED_PER_MINUTE {
            budget.count(&Principal::Anonymous, None, &refusal("x"), start);
        }
        let (decision, pending) =
            budget.count(&Principal::Anonymous, None, &refusal("y"), start + WINDOW);
        assert!(matches!(decision, Decision::Record));
        assert!(
            pending
                .expect("pending")
                .into_event()
                .reason
                .starts_with("1 more")
        );
    }

    #[test]
    fn callers_are_counted_apart() {
        let budget = RefusalBudget::default();
        let now = Instant::now();
        for _ in 0..RECORDED_PER_MINUTE {
            budget.count(&Principal::Anonymous, None, &refusal("x"), now);
        }
        for caller in [anonymous(1), anonymous(2)] {
            let (decision, _) = budget.count(&Principal::Anonymous, caller, &refusal("x"), now);
            assert!(matches!(decision, Decision::Record));
        }
    }

    #[test]
    fn memory_is_bounded_and_untracked_callers_share_one_window() {
        let budget = RefusalBudget::default();
        let now = Instant::now();
        let callers = u32::try_from(MAX_TRACKED_CALLERS).unwrap_or(u32::MAX);
        for n in 0..callers {
            budget.count(&Principal::Anonymous, anonymous(n), &refusal("x"), now);
        }
        let mut recorded = 0;
        for n in callers..callers + 2 * RECORDED_PER_MINUTE {
            let (decision, _) =
                budget.count(&Principal::Anonymous, anonymous(n), &refusal("x"), now);
            recorded += u32::from(matches!(decision, Decision::Record));
        }
        assert_eq!(recorded, RECORDED_PER_MINUTE);
        assert!(budget.lock().len() <= MAX_TRACKED_CALLERS + 1);
        // Once windows expire, their room is reused.
        let later = now + WINDOW;
        budget.count(
            &Principal::Anonymous,
            anonymous(u32::MAX),
            &refusal("x"),
            later,
        );
        assert!(
            budget
                .lock()
                .contains_key(&Caller::Anonymous(anonymous(u32::MAX)))
        );
    }
}
