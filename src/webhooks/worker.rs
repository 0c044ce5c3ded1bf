//! The delivery worker: every replica runs one. It claims the due
//! deliveries of the outbox (see `store::outbox`), makes one attempt each,
//! and records how it went.
//!
//! It looks every [`POLL_INTERVAL`], and at once when an audit event is
//! committed (the store's event feed; on PostgreSQL, every replica's
//! events), so a delivery usually leaves within milliseconds of its event.
//! Claiming pushes a delivery's `next_attempt_at` forward by [`LEASE`] in
//! the claiming transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so two
//! replicas never attempt the same delivery at once, and one that dies
//! mid-attempt leaves it due again when the lease ends. At most
//! [`MAX_IN_FLIGHT`] attempts run at once per replica, and at most
//! [`PER_PROJECT`] of one project's (see [`super::share`]), so a project
//! whose receivers hang delays its own deliveries only.

use crate::metrics::DeliveryOutcome;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::ActiveEnum;
use serde_json::Value;
use tokio::task::{JoinHandle, JoinSet};
use url::Url;

use super::share::InFlight;
use super::{Client, ClientError, DestinationPolicy, Payload, SigningSecret, next_attempt};
use crate::store::{self, Claimed, Store, audit_event};

/// How often due deliveries (retries, mostly) are looked for.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How long a claimed delivery is reserved for its attempt: longer than the
/// client's timeout.
pub const LEASE: TimeDelta = TimeDelta::seconds(30);
/// Most attempts in flight at once on one replica.
pub const MAX_IN_FLIGHT: usize = 8;
/// Most attempts of one project in flight at once on one replica: a
/// quarter of the slots, so the receivers of a project that hang for the
/// whole timeout hold two slots, not eight, and it takes four such
/// projects to fill a replica's.
pub const PER_PROJECT: usize = MAX_IN_FLIGHT / 4;

/// How the worker delivers.
#[derive(Clone, Copy, Debug)]
pub struct WorkerOptions {
    pub policy: DestinationPolicy,
    /// How long after it was queued a delivery is still retried.
    pub max_age: TimeDelta,
    /// A fixed wait between attempts instead of the backoff (tests).
    pub retry_delay: Option<Duration>,
    /// How long one attempt may take (the client's default, 10 s, if none).
    pub timeout: Option<Duration>,
}

/// Starts the worker on its own task; aborting the handle stops it.
pub fn start(store: Store, options: WorkerOptions) -> Result<JoinHandle<()>, ClientError> {
    let client = match options.timeout {
        Some(timeout) => Client::with_timeout(options.policy, timeout)?,
        None => Client::new(options.policy)?,
    };
    Ok(tokio::spawn(run(store, client, options)))
}

async fn run(store: Store, client: Client, options: WorkerOptions) {
    let mut events = store.subscribe_events();
    // Owned here, so stopping the worker stops its attempts too.
    let mut in_flight = JoinSet::new();
    let by_project = InFlight::default();
    let mut failing = false;
    loop {
        while in_flight.try_join_next().is_some() {}
        let free = MAX_IN_FLIGHT.saturating_sub(in_flight.len());
        if free > 0 {
            match store
                .claim_deliveries(
                    free as u64,
                    PER_PROJECT,
                    &by_project.snapshot(),
                    store::now() + LEASE,
                )
                .await
            {
                Ok(claimed) => {
                    if std::mem::take(&mut failing) {
                        tracing::info!("claiming webhook deliveries works again");
                    }
                    for claimed in claimed {
                        let counted = by_project.start(claimed.webhook.project_id);
                        let (store, client) = (store.clone(), client.clone());
                        in_flight.spawn(async move {
                            attempt(&store, &client, options, claimed).await;
                            drop(counted);
                        });
                    }
                }
                Err(err) => {
                    // Once per outage, not four times a second.
                    if !failing {
                        tracing::warn!(error = ?err, "claiming webhook deliveries failed");
                    }
                    failing = true;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(POLL_INTERVAL) => {}
            received = events.recv() => {
                if let Err(tokio::sync::broadcast::error::RecvError::Closed) = received {
                    // No more events: poll only.
                    tokio::time::sleep(POLL_INTERVAL).await;
                }
            }
            // A slot, and maybe a project's share, is free again: what
            // waited for it is claimed now rather than at the next poll.
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    }
}

/// Makes one attempt of a claimed delivery and records it.
async fn attempt(store: &Store, client: &Client, options: WorkerOptions, claimed: Claimed) {
    let Claimed {
        delivery,
        webhook,
        event,
    } = claimed;
    let outcome = match prepare(&webhook, event.as_ref()) {
        Ok((url, secret, body)) => {
            let attempt = client
                .deliver(&url, &secret, &delivery.message_id, body.as_bytes())
                .await;
            (attempt.status, attempt.error, attempt.delivered)
        }
        Err(error) => (None, Some(error), false),
    };
    let (status, error, delivered) = outcome;
    let now = store::now();
    let retry_at = if delivered || event.is_none() {
        None
    } else {
        retry_at(options, delivery.attempts, delivery.created_at, now)
    };
    let counted = match (delivered, retry_at) {
        (true, _) => DeliveryOutcome::Delivered,
        (false, Some(_)) => DeliveryOutcome::Retrying,
        (false, None) => DeliveryOutcome::Failed,
    };
    match store
        .record_attempt(
            &delivery,
            status,
            error,
            delivered,
            retry_at,
            now - store::DISABLE_AFTER,
        )
        .await
    {
        Ok(_) => {
            // Counted once the store has it: an attempt it could not record
            // is made again when its lease ends, and counted then, so the
            // metric tells each attempt's outcome once, as the trail of
            // deliveries does (a delivery counted here and then sent again
            // would be counted twice).
            crate::metrics::webhook_delivery(counted);
            tracing::debug!(
                delivery_id = delivery.id,
                webhook_id = webhook.id,
                delivered,
                ?status,
                "webhook attempt"
            );
        }
        Err(err) => tracing::warn!(
            error = ?err,
            delivery_id = delivery.id,
            "could not record a webhook attempt (not counted); it is retried when its lease ends"
        ),
    }
}

/// When to try again after the failed attempt that followed
/// `attempts_before` others, for a delivery queued at `queued_at`.
fn retry_at(
    options: WorkerOptions,
    attempts_before: i32,
    queued_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let failed = u32::try_from(attempts_before)
        .unwrap_or(0)
        .saturating_add(1);
    match options.retry_delay {
        Some(delay) => {
            let at = now + TimeDelta::from_std(delay).unwrap_or(TimeDelta::MAX);
            (at <= queued_at + options.max_age).then_some(at)
        }
        None => next_attempt(failed, queued_at, now, options.max_age),
    }
}

/// The URL, secret and body of an attempt, or why none can be made.
fn prepare(
    webhook: &store::webhook::Model,
    event: Option<&audit_event::Model>,
) -> Result<(Url, SigningSecret, Payload), String> {
    let event = event.ok_or("the event has been pruned from the audit trail")?;
    let url = Url::parse(&webhook.url).map_err(|err| format!("invalid webhook URL: {err}"))?;
    let secret = SigningSecret::parse(&webhook.signing_secret).map_err(|err| err.to_string())?;
    let data = data(event).map_err(|err| format!("cannot serialize the event: {err}"))?;
    let body = Payload::new(&event.action.to_value(), event.at, &data);
    Ok((url, secret, body))
}

/// The `data` of an event's message: the event as published
/// ([`crate::audit::Event`], what GraphQL's `AuditEvent` shows too).
pub fn data(event: &audit_event::Model) -> Result<Value, serde_json::Error> {
    serde_json::to_value(crate::audit::Event::from(event.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(retry_delay: Option<Duration>) -> WorkerOptions {
        WorkerOptions {
            policy: DestinationPolicy::default(),
            max_age: TimeDelta::hours(1),
            retry_delay,
            timeout: None,
        }
    }

    #[test]
    fn retries_stop_once_the_window_has_passed() {
        let queued = Utc::now();
        let cases = [
            (None, queued, true),
            (None, queued + TimeDelta::hours(2), false),
            (Some(Duration::from_millis(100)), queued, true),
            (
                Some(Duration::from_millis(100)),
                queued + TimeDelta::hours(1),
                false,
            ),
        ];
        for (delay, now, retried) in cases {
            let at = retry_at(options(delay), 0, queued, now);
            assert_eq!(at.is_some(), retried, "{delay:?} at {now}");
            if let Some(at) = at {
                assert!(at >= now && at <= queued + TimeDelta::hours(1));
            }
        }
    }
}
