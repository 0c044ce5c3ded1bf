//! The delivery outbox: one row per webhook and audit event, from the
//! event's transaction to the webhook's answer.
//!
//! The outbox is filled by [`enqueue`], which [`super::audit::insert`] calls
//! for every audit event, in the event's own transaction: a committed event
//! always has its deliveries, a rolled-back one never does. The delivery
//! worker ([`crate::webhooks::worker`]) then claims due deliveries
//! ([`Store::claim_deliveries`], at most a share per project) and records
//! each attempt ([`Store::record_attempt`]). The webhook rows themselves are
//! [`super::webhooks`]'.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Query};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::access::{Grant, ProjectOwner};
use super::audit::{self, AuditContext, AuditOutcome, Target};
use super::entity::audit_event::{self, AuditAction};
use super::entity::webhook::{self, Column, Entity as Webhook};
use super::entity::webhook_delivery::{self, Entity as Delivery};
use super::{Page, Store, now};
use crate::error::Error;

/// A webhook failing for this long is disabled (WEBHOOK_DISABLED).
pub const DISABLE_AFTER: chrono::TimeDelta = chrono::TimeDelta::days(5);

/// Whether a webhook subscribed to `stored` actions receives `action`.
fn subscribes(stored: &str, action: AuditAction) -> bool {
    let name = action.to_value();
    stored.trim().is_empty() || stored.split_ascii_whitespace().any(|n| n == name)
}

/// The `webhook-id` of event `event_id` sent to webhook `webhook_id`: the
/// same on every attempt, and unique per webhook and event.
pub fn message_id(event_id: i64, webhook_id: i64) -> String {
    format!("msg_{event_id}_{webhook_id}")
}

/// Queues `event` for every enabled webhook of its project that subscribes
/// to its action, in `conn` (the event's transaction). Server-wide events
/// (no project) go to no webhook. Refused events (FORBIDDEN, NOT_FOUND,
/// CONFLICT) are delivered like succeeded ones: a webhook is the project's
/// trail, pushed, and attempts on a project are part of it; `outcome` in
/// the payload tells them apart.
pub(super) async fn enqueue(
    conn: &impl ConnectionTrait,
    event: &audit_event::Model,
) -> Result<(), DbErr> {
    let Some(project_id) = event.project_id else {
        return Ok(());
    };
    let hooks: Vec<(i64, String)> = Webhook::find()
        .select_only()
        .column(Column::Id)
        .column(Column::Actions)
        .filter(Column::ProjectId.eq(project_id))
        .filter(Column::Enabled.eq(true))
        .into_tuple()
        .all(conn)
        .await?;
    let rows: Vec<webhook_delivery::ActiveModel> = hooks
        .into_iter()
        .filter(|(_, actions)| subscribes(actions, event.action))
        .map(|(webhook_id, _)| new_delivery(webhook_id, event.id, event.at))
        .collect();
    if !rows.is_empty() {
        Delivery::insert_many(rows).exec(conn).await?;
    }
    Ok(())
}

/// A delivery claimed by the worker, with what it needs to make the attempt.
#[derive(Debug)]
pub struct Claimed {
    pub delivery: webhook_delivery::Model,
    pub webhook: webhook::Model,
    /// `None` when the event has been pruned from the trail since.
    pub event: Option<audit_event::Model>,
}

impl Store {
    /// A webhook's deliveries newest first, before delivery `after`.
    pub async fn webhook_deliveries(
        &self,
        webhook_id: i64,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Page<webhook_delivery::Model>, Error> {
        let mut query = Delivery::find()
            .filter(webhook_delivery::Column::WebhookId.eq(webhook_id))
            .order_by_desc(webhook_delivery::Column::Id)
            .limit(limit + 1);
        if let Some(after) = after {
            query = query.filter(webhook_delivery::Column::Id.lt(after));
        }
        Ok(Page::from_overfetch(query.all(self.db()).await?, limit))
    }

    pub async fn count_webhook_deliveries(&self, webhook_id: i64) -> Result<u64, Error> {
        Ok(Delivery::find()
            .filter(webhook_delivery::Column::WebhookId.eq(webhook_id))
            .count(self.db())
            .await?)
    }

    /// Queues event `event_id` for webhook `webhook_id` again, to be
    /// attempted now: its delivery, if it has one, starts over (attempts,
    /// status and error cleared, a new retry window from now, the same
    /// `webhook-id`); otherwise one is created. NOT_FOUND when the webhook
    /// or the event is gone, or the event is not of the webhook's project.
    pub async fn redeliver(
        &self,
        grant: &Grant<ProjectOwner>,
        webhook_id: i64,
        event_id: i64,
    ) -> Result<webhook_delivery::Model, Error> {
        let now = now();
        let txn = self.begin_write().await?;
        let hook = super::webhooks::owned_webhook(&txn, grant, webhook_id)
            .await?
            .ok_or(Error::NotFound("webhook"))?;
        let event = audit_event::Entity::find_by_id(event_id)
            .one(&txn)
            .await?
            .filter(|event| event.project_id == Some(hook.project_id))
            .ok_or(Error::NotFound("audit event"))?;
        let existing = Delivery::find()
            .filter(webhook_delivery::Column::WebhookId.eq(webhook_id))
            .filter(webhook_delivery::Column::EventId.eq(event.id))
            .one(&txn)
            .await?;
        let delivery = match existing {
            Some(existing) => {
                let mut row: webhook_delivery::ActiveModel = existing.into();
                row.attempts = Set(0);
                row.last_status = Set(None);
                row.last_error = Set(None);
                row.next_attempt_at = Set(Some(now));
                row.delivered_at = Set(None);
                row.failed_at = Set(None);
                row.created_at = Set(now);
                row.update(&txn).await?
            }
            None => {
                new_delivery(webhook_id, event.id, now)
                    .insert(&txn)
                    .await
                    // Another redelivery of the same event won the race: the
                    // event is queued either way.
                    .map_err(|err| {
                        super::conflict_on_unique(err, || {
                            Error::Conflict("this event is being redelivered already".into())
                        })
                    })?
            }
        };
        self.commit_audited(txn, grant.audit(), Target::project(hook.project_id))
            .await?;
        Ok(delivery)
    }

    /// Claims up to `limit` due deliveries of enabled webhooks, at most
    /// `per_project` of each project counting the `in_flight` attempts it has
    /// already (see [`crate::webhooks::share`]): each one's `next_attempt_at`
    /// is pushed to `lease_until` in the claiming transaction, so no other
    /// worker takes it while its attempt runs (and if this one dies, it is
    /// due again when the lease ends). On PostgreSQL the rows are locked
    /// `FOR UPDATE SKIP LOCKED`, so replicas claiming together take
    /// different ones; SQLite has one writer. Within those bounds the
    /// deliveries due longest go first.
    pub async fn claim_deliveries(
        &self,
        limit: u64,
        per_project: usize,
        in_flight: &HashMap<i64, usize>,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<Claimed>, Error> {
        let now = now();
        // A project at 0 could never be claimed for, and the loop below
        // relies on every project not excluded having room for one.
        let per_project = per_project.max(1);
        let mut room: HashMap<i64, usize> = in_flight
            .iter()
            .map(|(project, count)| (*project, per_project.saturating_sub(*count)))
            .collect();
        // The enabled webhooks of the projects with room left.
        let claimable = |room: &HashMap<i64, usize>| {
            let full: Vec<i64> = room
                .iter()
                .filter(|(_, left)| **left == 0)
                .map(|(project, _)| *project)
                .collect();
            let mut query = Query::select()
                .column(Column::Id)
                .from(Webhook)
                .and_where(Expr::col(Column::Enabled).eq(true))
                .to_owned();
            if !full.is_empty() {
                query.and_where(Expr::col(Column::ProjectId).is_not_in(full));
            }
            query
        };
        // A read first, on the pool: most polls find nothing due, and need
        // not take SQLite's write lock (or a PostgreSQL transaction) for it.
        let due = Delivery::find()
            .select_only()
            .column(webhook_delivery::Column::Id)
            .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
            .filter(webhook_delivery::Column::WebhookId.in_subquery(claimable(&room)))
            .limit(1)
            .into_tuple::<i64>()
            .one(self.db())
            .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        let txn = self.begin_write().await?;
        let mut deliveries = Vec::new();
        // The oldest due rows may all be one project's: the rows past its
        // share are left (unleased) and the query runs again without that
        // project. Each round leases at least one row or ends, so there are
        // at most `limit` rounds, and usually one.
        while (deliveries.len() as u64) < limit {
            let wanted = limit - deliveries.len() as u64;
            let due: Vec<(i64, i64)> = Delivery::find()
                .select_only()
                .column(webhook_delivery::Column::Id)
                .column(webhook_delivery::Column::WebhookId)
                .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
                .filter(webhook_delivery::Column::DeliveredAt.is_null())
                .filter(webhook_delivery::Column::FailedAt.is_null())
                .filter(webhook_delivery::Column::WebhookId.in_subquery(claimable(&room)))
                .order_by_asc(webhook_delivery::Column::NextAttemptAt)
                .order_by_asc(webhook_delivery::Column::Id)
                .limit(wanted)
                .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
                .into_tuple()
                .all(&txn)
                .await?;
            let hooks: Vec<i64> = due.iter().map(|(_, webhook_id)| *webhook_id).collect();
            let project_of: HashMap<i64, i64> = Webhook::find()
                .select_only()
                .column(Column::Id)
                .column(Column::ProjectId)
                .filter(Column::Id.is_in(hooks))
                .into_tuple()
                .all(&txn)
                .await?
                .into_iter()
                .collect();
            let mut chosen = Vec::new();
            let mut past_a_share = false;
            for (id, webhook_id) in &due {
                let Some(project) = project_of.get(webhook_id) else {
                    continue;
                };
                let left = room.entry(*project).or_insert(per_project);
                if *left == 0 {
                    past_a_share = true;
                    continue;
                }
                *left -= 1;
                chosen.push(*id);
            }
            if chosen.is_empty() {
                break;
            }
            deliveries.extend(
                Delivery::update_many()
                    .col_expr(
                        webhook_delivery::Column::NextAttemptAt,
                        Expr::value(Some(lease_until)),
                    )
                    .filter(webhook_delivery::Column::Id.is_in(chosen))
                    .exec_with_returning(&txn)
                    .await?,
            );
            // Every due row fitted: fewer were due than wanted, or the
            // limit is reached.
            if !past_a_share {
                break;
            }
        }
        txn.commit().await?;

        let mut claimed = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            let Some(webhook) = Webhook::find_by_id(delivery.webhook_id)
                .one(self.db())
                .await?
            else {
                continue;
            };
            let event = audit_event::Entity::find_by_id(delivery.event_id)
                .one(self.db())
                .await?;
            claimed.push(Claimed {
                delivery,
                webhook,
                event,
            });
        }
        Ok(claimed)
    }

    /// Records one attempt of `delivery`: delivered, or failed with the
    /// next attempt at `retry_at` (`None`: given up, the delivery failed).
    /// A failure starts (or continues) the webhook's failing streak; a
    /// success ends it. A webhook failing since before `disable_before` is
    /// disabled, with a WEBHOOK_DISABLED system event in the same
    /// transaction; returns whether it was.
    pub async fn record_attempt(
        &self,
        delivery: &webhook_delivery::Model,
        status: Option<u16>,
        error: Option<String>,
        delivered: bool,
        retry_at: Option<DateTime<Utc>>,
        disable_before: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let now = now();
        let txn = self.begin_write().await?;
        let mut update = Delivery::update_many()
            .col_expr(
                webhook_delivery::Column::Attempts,
                Expr::col(webhook_delivery::Column::Attempts).add(1),
            )
            .col_expr(
                webhook_delivery::Column::LastStatus,
                Expr::value(status.map(i32::from)),
            )
            .col_expr(webhook_delivery::Column::LastError, Expr::value(error))
            .filter(webhook_delivery::Column::Id.eq(delivery.id))
            // A redelivery meanwhile restarted it: this attempt's outcome no
            // longer applies.
            .filter(webhook_delivery::Column::CreatedAt.eq(delivery.created_at));
        update = if delivered {
            update
                .col_expr(
                    webhook_delivery::Column::NextAttemptAt,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(
                    webhook_delivery::Column::DeliveredAt,
                    Expr::value(Some(now)),
                )
        } else {
            let failed_at = retry_at.is_none().then_some(now);
            update
                .col_expr(
                    webhook_delivery::Column::NextAttemptAt,
                    Expr::value(retry_at),
                )
                .col_expr(webhook_delivery::Column::FailedAt, Expr::value(failed_at))
        };
        update.exec(&txn).await?;

        let mut disabled = None;
        if delivered {
            Webhook::update_many()
                .col_expr(
                    Column::FailingSince,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .filter(Column::Id.eq(delivery.webhook_id))
                .filter(Column::FailingSince.is_not_null())
                .exec(&txn)
                .await?;
        } else {
            Webhook::update_many()
                .col_expr(Column::FailingSince, Expr::value(Some(now)))
                .filter(Column::Id.eq(delivery.webhook_id))
                .filter(Column::FailingSince.is_null())
                .exec(&txn)
                .await?;
            disabled = Webhook::update_many()
                .col_expr(Column::Enabled, Expr::value(false))
                .col_expr(Column::DisabledAt, Expr::value(Some(now)))
                .filter(Column::Id.eq(delivery.webhook_id))
                .filter(Column::Enabled.eq(true))
                .filter(Column::FailingSince.lt(disable_before))
                .exec_with_returning(&txn)
                .await?
                .pop();
        }
        match disabled {
            Some(hook) => {
                tracing::warn!(
                    webhook_id = hook.id,
                    project_id = hook.project_id,
                    "webhook disabled: its deliveries have failed for too long"
                );
                let context = AuditContext::system(AuditAction::WebhookDisabled);
                let event = audit::insert(
                    &txn,
                    &context,
                    AuditOutcome::Succeeded,
                    Target::project(hook.project_id),
                    Some(format!(
                        "every delivery failed since {}",
                        hook.failing_since
                            .map(|at| at.to_rfc3339())
                            .unwrap_or_default()
                    )),
                )
                .await?;
                self.commit_with_events(txn, [event]).await?;
                Ok(true)
            }
            None => {
                txn.commit().await?;
                Ok(false)
            }
        }
    }
}

/// A delivery of `event_id` to `webhook_id` not yet attempted, due `at`.
fn new_delivery(
    webhook_id: i64,
    event_id: i64,
    at: DateTime<Utc>,
) -> webhook_delivery::ActiveModel {
    webhook_delivery::ActiveModel {
        webhook_id: Set(webhook_id),
        event_id: Set(event_id),
        message_id: Set(message_id(event_id, webhook_id)),
        attempts: Set(0),
        last_status: Set(None),
        last_error: Set(None),
        next_attempt_at: Set(Some(at)),
        delivered_at: Set(None),
        failed_at: Set(None),
        created_at: Set(at),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseOptions;
    use crate::store::{NewWebhook, ProjectCreator};

    /// A migrated SQLite store in a temporary directory (kept while the
    /// returned guard lives).
    async fn migrated_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::connect(&url, &DatabaseOptions::default())
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        (dir, store)
    }

    /// The outbox is the event's transaction: a rolled-back event leaves no
    /// delivery, a committed one has one per enabled, subscribed webhook of
    /// its project, and a server-wide one none.
    #[tokio::test]
    async fn deliveries_commit_and_roll_back_with_their_event() {
        let (_dir, store) = migrated_store().await;
        let project = store
            .projects(None, None, 1)
            .await
            .expect("projects")
            .items
            .remove(0);
        let context = AuditContext::system(AuditAction::ProjectUpdated);
        let owner = Grant::for_tests(
            AuditAction::WebhookCreated,
            ProjectOwner::for_tests(project.id),
        );
        let new = |actions| NewWebhook {
            url: "http://127.0.0.1:9/".into(),
            description: None,
            actions,
            signing_secret: "whsec_unused".into(),
        };
        let every = store
            .insert_webhook(&owner, new(vec![]))
            .await
            .expect("insert");
        let other = store
            .insert_webhook(&owner, new(vec![AuditAction::KeyCreated]))
            .await
            .expect("insert");
        let counts = async || {
            (
                store
                    .count_webhook_deliveries(every.id)
                    .await
                    .expect("count"),
                store
                    .count_webhook_deliveries(other.id)
                    .await
                    .expect("count"),
            )
        };
        // The two creations (PROJECT_UPDATED, as the context says) reached
        // the webhook of every action only.
        assert_eq!(counts().await, (2, 0));

        let event = |target| {
            let store = store.clone();
            let context = context.clone();
            async move {
                let txn = store.begin_write().await.expect("begin");
                let event = audit::insert(&txn, &context, AuditOutcome::Succeeded, target, None)
                    .await
                    .expect("insert");
                (txn, event)
            }
        };
        let (txn, _) = event(Target::project(project.id)).await;
        drop(txn);
        assert_eq!(counts().await, (2, 0), "rolled back: no delivery");

        let (txn, committed) = event(Target::project(project.id)).await;
        store
            .commit_with_events(txn, [committed])
            .await
            .expect("commit");
        assert_eq!(counts().await, (3, 0), "committed: its delivery");

        let (txn, server_wide) = event(Target::default()).await;
        store
            .commit_with_events(txn, [server_wide])
            .await
            .expect("commit");
        assert_eq!(counts().await, (3, 0), "server-wide: none");
    }

    /// A claim takes at most `per_project` of a project's deliveries,
    /// counting those it has in flight, however many of its deliveries are
    /// due before another project's: the other's are claimed in the same
    /// call, and the rows past the share stay due for later.
    #[tokio::test]
    async fn a_claim_takes_at_most_a_projects_share_and_reaches_past_it() {
        let (_dir, store) = migrated_store().await;
        // Set up under an action the webhooks do not subscribe to.
        let context = AuditContext::system(AuditAction::KeyCreated);
        let stalled = store
            .projects(None, None, 1)
            .await
            .expect("projects")
            .items
            .remove(0)
            .id;
        let other = store
            .create_project(
                &Grant::for_tests(AuditAction::ProjectCreated, ProjectCreator::for_tests()),
                "other".into(),
                None,
            )
            .await
            .expect("a project")
            .id;
        for project_id in [stalled, other] {
            store
                .insert_webhook(
                    &Grant::for_tests(
                        AuditAction::WebhookCreated,
                        ProjectOwner::for_tests(project_id),
                    ),
                    NewWebhook {
                        url: "http://127.0.0.1:9/".into(),
                        description: None,
                        actions: vec![AuditAction::KeyCreated],
                        signing_secret: "whsec_unused".into(),
                    },
                )
                .await
                .expect("insert");
        }
        // Five of the stalled project's deliveries are due before the
        // other's one.
        for project_id in [stalled, stalled, stalled, stalled, stalled, other] {
            let txn = store.begin_write().await.expect("begin");
            let event = audit::insert(
                &txn,
                &context,
                AuditOutcome::Succeeded,
                Target::project(project_id),
                None,
            )
            .await
            .expect("insert");
            store
                .commit_with_events(txn, [event])
                .await
                .expect("commit");
        }
        let lease = now() + chrono::TimeDelta::seconds(30);
        let claim = async |in_flight: &[(i64, usize)]| -> Vec<i64> {
            let claimed = store
                .claim_deliveries(8, 2, &in_flight.iter().copied().collect(), lease)
                .await
                .expect("claim");
            let mut projects: Vec<i64> = claimed.iter().map(|c| c.webhook.project_id).collect();
            projects.sort_unstable();
            projects
        };
        let mut expected = vec![stalled, stalled, other];
        expected.sort_unstable();
        assert_eq!(claim(&[]).await, expected, "two of five, and the other's");
        assert!(claim(&[(stalled, 2)]).await.is_empty(), "at its share");
        assert_eq!(claim(&[(stalled, 1)]).await, vec![stalled]);
        assert_eq!(claim(&[]).await, vec![stalled, stalled], "the last two");
        assert!(claim(&[]).await.is_empty(), "all leased");
    }

    #[test]
    fn an_empty_list_subscribes_to_every_action_and_a_list_to_its_own() {
        let cases = [
            ("", AuditAction::KeyCreated, true),
            ("  ", AuditAction::ProjectDeleted, true),
            ("KEY_CREATED", AuditAction::KeyCreated, true),
            ("KEY_CREATED KEY_DELETED", AuditAction::KeyDeleted, true),
            ("KEY_CREATED", AuditAction::KeyDeleted, false),
            ("KEY_CREATED_X", AuditAction::KeyCreated, false),
        ];
        for (stored, action, expected) in cases {
            assert_eq!(
                subscribes(stored, action),
                expected,
                "{stored:?} {action:?}"
            );
        }
    }

    #[test]
    fn message_ids_are_stable_and_valid_webhook_ids() {
        assert_eq!(message_id(12, 3), "msg_12_3");
        assert!(!message_id(12, 3).contains('.'));
    }
}
