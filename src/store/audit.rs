//! The audit trail: writing events (in the transaction of the change they
//! record), reading them back, pruning old ones, and the feed of new events
//! live subscriptions read.
//!
//! Every write of the store that changes something takes an [`AuditContext`]
//! and inserts its event before committing, so a change and its event commit
//! or roll back together. Refused mutations are recorded on their own with
//! [`Store::record_refusal`]: nothing changed, so there is nothing to share a
//! transaction with.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select, Set, Statement,
};
use tokio::sync::broadcast;

use super::bounded::{CommitError, Txn, timed_out};
use super::entity::api_key::{self, Entity as ApiKey, Role};
use super::entity::audit_event::{self, Column, Entity as AuditEvent};
pub use super::entity::audit_event::{ActorKind, AuditAction, AuditOutcome};
use super::entity::user;
use super::{Page, Store, now};
use crate::error::{Error, ErrorCode};

/// PostgreSQL channel on which every replica announces the events it commits.
const CHANNEL: &str = "keyward_audit";
/// Events a slow subscriber may fall behind by before it misses some.
const FEED_CAPACITY: usize = 1024;
/// Longest request id the trail keeps. The HTTP layer drops a proxy's
/// longer ids whole (`http::request_id::admit`); the store cuts any other
/// caller's here.
pub const MAX_REQUEST_ID_LEN: usize = 128;
/// Events deleted per statement when pruning.
const PRUNE_BATCH: u64 = 5_000;
/// Keys the expiry sweep records per pass.
const EXPIRY_BATCH: u64 = 100;
/// How long the listener waits for a notification before it checks that its
/// connection still answers: a silent database and a quiet one look the same
/// to a connection that only listens.
const LISTENER_PROBE_INTERVAL: Duration = Duration::from_secs(30);

/// Who acted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// Anyone, while access control is off.
    Anonymous,
    /// A signed-in person: an administrator (ADMIN) or not (USER).
    Person {
        id: i64,
        username: String,
        administrator: bool,
    },
    Key {
        id: i64,
        access_key: String,
        role: Role,
    },
    /// keyward itself.
    System,
}

/// Who is acting, from where, and doing what: what every audited write is
/// given. The action is decided once, where the mutation starts (see
/// `graphql::context::RequestContext::mutation`), and the store records it,
/// succeeded or refused; the store never picks an action of its own for a
/// request.
///
/// Its fields are private, so a context is made only by its constructors:
/// [`AuditContext::of_request`] (the mutation gate's, see
/// `graphql::context`) and `AuditContext::system` (the store's own events
/// and the command line's break-glass changes, only inside the store).
/// Outside the crate, none can be made at all:
///
/// ```compile_fail,E0451
/// use keyward::store::{Actor, AuditAction, AuditContext};
/// let forged = AuditContext {
///     action: AuditAction::KeyCreated,
///     actor: Actor::Anonymous,
///     client_address: None,
///     request_id: None,
/// };
/// ```
///
/// ```compile_fail,E0624
/// use keyward::store::{AuditAction, AuditContext};
/// let forged = AuditContext::system(AuditAction::KeyCreated);
/// ```
#[derive(Clone, Debug)]
pub struct AuditContext {
    action: AuditAction,
    actor: Actor,
    client_address: Option<String>,
    request_id: Option<String>,
}

impl AuditContext {
    /// keyward itself doing `action` (expiries, warnings, summaries, a
    /// webhook disabled, the command line's break-glass changes): only the
    /// store decides those.
    pub(in crate::store) fn system(action: AuditAction) -> Self {
        Self {
            action,
            actor: Actor::System,
            client_address: None,
            request_id: None,
        }
    }

    /// A request's caller doing `action`. Made in one place only, the
    /// mutation gate (`graphql::context::RequestContext::mutation`), which
    /// records the mutation's refusal too; a test keeps it the only caller
    /// (`graphql::context::tests`).
    pub(crate) fn of_request(
        action: AuditAction,
        actor: Actor,
        client_address: Option<String>,
        request_id: Option<String>,
    ) -> Self {
        Self {
            action,
            actor,
            client_address,
            request_id,
        }
    }

    /// A person signing up: their first sign-in through an identity
    /// provider created their user. Only the store's sign-in decides that.
    pub(in crate::store) fn sign_up(actor: Actor, client_address: Option<String>) -> Self {
        Self {
            action: AuditAction::UserSignedUp,
            actor,
            client_address,
            request_id: None,
        }
    }

    /// A context for unit tests of code that carries one.
    #[cfg(test)]
    pub(crate) fn for_tests(action: AuditAction, actor: Actor) -> Self {
        Self::of_request(action, actor, None, None)
    }

    /// What is being done.
    pub fn action(&self) -> AuditAction {
        self.action
    }
}

/// What an event is about. `project_id` decides who may read the event: a
/// key reads the events of its own project only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    pub project_id: Option<i64>,
    pub key_id: Option<i64>,
    pub access_key: Option<String>,
    /// The key's scopes, stored form; known once the key is.
    pub scopes: Option<String>,
    /// The key that replaces the target key (rotation).
    pub new_key_id: Option<i64>,
    /// The person acted on (user and membership actions).
    pub user_id: Option<i64>,
    pub username: Option<String>,
    /// The identity provider acted on, by name.
    pub provider: Option<String>,
    /// The group acted on.
    pub group: Option<String>,
}

impl Target {
    pub fn project(project_id: i64) -> Self {
        Self {
            project_id: Some(project_id),
            ..Self::default()
        }
    }

    /// A key as named by the caller, before anything about it is known (or
    /// may be told).
    pub fn key_id(key_id: i64) -> Self {
        Self {
            key_id: Some(key_id),
            ..Self::default()
        }
    }

    pub fn key(key: &api_key::Model) -> Self {
        Self {
            project_id: Some(key.project_id),
            key_id: Some(key.id),
            access_key: Some(key.access_key.clone()),
            scopes: Some(key.scopes.clone()),
            ..Self::default()
        }
    }

    /// A user as named by the caller, before anything about them is known.
    pub fn user_id(user_id: i64) -> Self {
        Self {
            user_id: Some(user_id),
            ..Self::default()
        }
    }

    pub fn user(user: &user::Model) -> Self {
        Self {
            user_id: Some(user.id),
            username: Some(user.username.clone()),
            ..Self::default()
        }
    }

    /// Identity provider `name`.
    pub fn provider(name: &str) -> Self {
        Self {
            provider: Some(name.to_owned()),
            ..Self::default()
        }
    }

    /// `group`'s membership of `project_id`.
    pub fn group_member(project_id: i64, group: &str) -> Self {
        Self {
            project_id: Some(project_id),
            group: Some(group.to_owned()),
            ..Self::default()
        }
    }

    /// `user`'s membership of `project_id`.
    pub fn member(project_id: i64, user: &user::Model) -> Self {
        Self {
            project_id: Some(project_id),
            ..Self::user(user)
        }
    }
}

impl AuditOutcome {
    /// The outcome recorded for a mutation that failed with `code`; `None`
    /// for failures that are not refusals (bad input, internal errors).
    pub fn of_refusal(code: ErrorCode) -> Option<Self> {
        match code {
            ErrorCode::Forbidden => Some(Self::Forbidden),
            ErrorCode::NotFound => Some(Self::NotFound),
            ErrorCode::Conflict => Some(Self::Conflict),
            _ => None,
        }
    }
}

/// Filters of a list of events.
#[derive(Clone, Copy, Debug, Default)]
pub struct EventFilter {
    /// Only this project's events; `None` for every event (the admin's view).
    pub project_id: Option<i64>,
    pub action: Option<AuditAction>,
    /// Only events by or about this key: it acted, was acted on, or
    /// replaced the key acted on (rotation).
    pub key_id: Option<i64>,
    /// Only events at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only events before this instant.
    pub until: Option<DateTime<Utc>>,
}

/// Committed events, as they happen, for live subscriptions. On SQLite the
/// writer publishes after committing; on PostgreSQL every replica publishes
/// what arrives on the `keyward_audit` channel, its own events included, so
/// subscribers on any replica see the events of all of them.
#[derive(Clone, Debug)]
pub struct EventFeed {
    sender: broadcast::Sender<audit_event::Model>,
}

impl Default for EventFeed {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(FEED_CAPACITY).0,
        }
    }
}

impl EventFeed {
    pub fn subscribe(&self) -> broadcast::Receiver<audit_event::Model> {
        self.sender.subscribe()
    }

    fn publish(&self, event: audit_event::Model) {
        // No receiver is not an error: nobody is subscribed right now.
        let _ = self.sender.send(event);
    }
}

/// Inserts an event in `txn`, with its webhook deliveries (the outbox, see
/// `store::outbox`): they commit or roll back with the event. On
/// PostgreSQL it also queues a notification, which PostgreSQL delivers only
/// if and when the transaction commits.
pub(super) async fn insert(
    txn: &Txn,
    context: &AuditContext,
    outcome: AuditOutcome,
    target: Target,
    reason: Option<String>,
) -> Result<audit_event::Model, DbErr> {
    let (actor_kind, actor_key_id, actor_access_key, actor_role) = match &context.actor {
        Actor::Anonymous => (ActorKind::Anonymous, None, None, None),
        Actor::Person {
            administrator: true,
            ..
        } => (ActorKind::Admin, None, None, None),
        Actor::Person { .. } => (ActorKind::User, None, None, None),
        Actor::System => (ActorKind::System, None, None, None),
        Actor::Key {
            id,
            access_key,
            role,
        } => (
            ActorKind::ApiKey,
            Some(*id),
            Some(access_key.clone()),
            Some(*role),
        ),
    };
    let (actor_user_id, actor_username) = match &context.actor {
        Actor::Person { id, username, .. } => (Some(*id), Some(username.clone())),
        _ => (None, None),
    };
    let request_id = context
        .request_id
        .as_deref()
        .map(|id| id.chars().take(MAX_REQUEST_ID_LEN).collect());
    let event = audit_event::ActiveModel {
        at: Set(now()),
        action: Set(context.action),
        outcome: Set(outcome),
        actor_kind: Set(actor_kind),
        actor_key_id: Set(actor_key_id),
        actor_access_key: Set(actor_access_key),
        actor_role: Set(actor_role),
        project_id: Set(target.project_id),
        target_key_id: Set(target.key_id),
        target_access_key: Set(target.access_key),
        target_scopes: Set(target.scopes),
        client_address: Set(context.client_address.clone()),
        request_id: Set(request_id),
        reason: Set(reason),
        new_key_id: Set(target.new_key_id),
        actor_user_id: Set(actor_user_id),
        actor_username: Set(actor_username),
        target_user_id: Set(target.user_id),
        target_username: Set(target.username),
        target_provider: Set(target.provider),
        target_group: Set(target.group),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    // The outbox: the event's webhook deliveries commit (or roll back) with it.
    super::outbox::enqueue(txn, &event).await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), event.id.to_string().into()],
        ))
        .await?;
    }
    Ok(event)
}

impl Store {
    /// Commits `txn`, then publishes its `events` to this replica's feed
    /// (on PostgreSQL the notification does that, for every replica).
    pub(super) async fn commit_with_events(
        &self,
        txn: Txn,
        events: impl IntoIterator<Item = audit_event::Model>,
    ) -> Result<(), CommitError> {
        let revoked = txn.revoked();
        let committed = txn.commit().await;
        if let Some(row) = revoked {
            self.after_revoking_commit(row, committed.is_ok()).await;
        }
        committed?;
        if self.db().get_database_backend() != DbBackend::Postgres {
            events
                .into_iter()
                .for_each(|event| self.events.publish(event));
        }
        Ok(())
    }

    /// Records the context's action on `target` as SUCCEEDED in `txn`, then
    /// commits it: the end of every audited write.
    pub(super) async fn commit_audited(
        &self,
        txn: Txn,
        context: &AuditContext,
        target: Target,
    ) -> Result<(), CommitError> {
        self.commit_audited_noting(txn, context, target, None).await
    }

    /// [`Store::commit_audited`], with `note` as the event's `reason`: how
    /// a change that did not come through the API came about (the command
    /// line's break-glass operations).
    pub(super) async fn commit_audited_noting(
        &self,
        txn: Txn,
        context: &AuditContext,
        target: Target,
        note: Option<String>,
    ) -> Result<(), CommitError> {
        let event = insert(&txn, context, AuditOutcome::Succeeded, target, note).await?;
        self.commit_with_events(txn, [event]).await
    }

    /// Records a refused mutation. Nothing changed, so the event has a
    /// transaction of its own.
    pub async fn record_refusal(
        &self,
        context: &AuditContext,
        outcome: AuditOutcome,
        target: Target,
        reason: String,
    ) -> Result<(), Error> {
        let txn = self.begin_write().await?;
        let event = insert(&txn, context, outcome, target, Some(reason)).await?;
        self.commit_with_events(txn, [event]).await?;
        Ok(())
    }

    /// The feed of events committed from now on.
    pub fn subscribe_events(&self) -> broadcast::Receiver<audit_event::Model> {
        self.events.subscribe()
    }

    pub async fn audit_event(&self, id: i64) -> Result<Option<audit_event::Model>, Error> {
        Ok(AuditEvent::find_by_id(id).one(self.db()).await?)
    }

    /// Events newest first, before event `after`. Keyset pagination on id
    /// (per project on the (project_id, id) index).
    pub async fn audit_events(
        &self,
        filter: EventFilter,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Page<audit_event::Model>, Error> {
        let mut query = filtered(filter).order_by_desc(Column::Id).limit(limit + 1);
        if let Some(after) = after {
            query = query.filter(Column::Id.lt(after));
        }
        Ok(Page::from_overfetch(query.all(self.db()).await?, limit))
    }

    pub async fn count_audit_events(&self, filter: EventFilter) -> Result<u64, Error> {
        Ok(filtered(filter).count(self.db()).await?)
    }

    /// Deletes the events older than `max_age`, in batches (a backlog must
    /// not make one statement outlast the statement timeout); how many went.
    pub async fn prune_audit_events(&self, max_age: chrono::Duration) -> Result<u64, Error> {
        use super::entity::webhook_delivery::{Column as DeliveryColumn, Entity as Delivery};
        let cutoff = now() - max_age;
        // An event a webhook has still to receive is kept until it has been
        // delivered or given up on: its payload is built from the event.
        let pending = sea_orm::sea_query::Query::select()
            .column(DeliveryColumn::EventId)
            .from(Delivery)
            .and_where(DeliveryColumn::DeliveredAt.is_null())
            .and_where(DeliveryColumn::FailedAt.is_null())
            .to_owned();
        // Finished deliveries go with their event.
        let finished_of_pruned = |ids: Vec<i64>| {
            Delivery::delete_many()
                .filter(DeliveryColumn::EventId.is_in(ids))
                .filter(
                    sea_orm::Condition::any()
                        .add(DeliveryColumn::DeliveredAt.is_not_null())
                        .add(DeliveryColumn::FailedAt.is_not_null()),
                )
        };
        let mut pruned = 0;
        loop {
            let batch: Vec<i64> = AuditEvent::find()
                .select_only()
                .column(Column::Id)
                .filter(Column::At.lt(cutoff))
                .filter(Column::Id.not_in_subquery(pending.clone()))
                .order_by_asc(Column::Id)
                .limit(PRUNE_BATCH)
                .into_tuple()
                .all(self.db())
                .await?;
            if batch.is_empty() {
                return Ok(pruned);
            }
            let done = batch.len() < usize::try_from(PRUNE_BATCH).unwrap_or(usize::MAX);
            finished_of_pruned(batch.clone()).exec(self.db()).await?;
            pruned += AuditEvent::delete_many()
                .filter(Column::Id.is_in(batch))
                .exec(self.db())
                .await?
                .rows_affected;
            if done {
                return Ok(pruned);
            }
        }
    }

    /// Records KEY_EXPIRED for keys that have reached their expiry since the
    /// last pass; how many it recorded. Each key is claimed with a
    /// conditional update in the event's transaction, so that with several
    /// replicas sweeping, each expiry is recorded exactly once.
    pub async fn record_expiries(&self) -> Result<usize, Error> {
        let now = now();
        let due = ApiKey::find()
            .filter(api_key::Column::ExpiryRecorded.eq(false))
            .filter(api_key::Column::ExpiresAt.lte(now))
            .order_by_asc(api_key::Column::ExpiresAt)
            .limit(EXPIRY_BATCH)
            .all(self.db())
            .await?;
        let context = AuditContext::system(AuditAction::KeyExpired);
        let mut recorded = 0;
        for key in due {
            let txn = self.begin_write().await?;
            let claimed = ApiKey::update_many()
                .col_expr(api_key::Column::ExpiryRecorded, Expr::value(true))
                .filter(api_key::Column::Id.eq(key.id))
                .filter(api_key::Column::ExpiryRecorded.eq(false))
                .exec(&txn)
                .await?
                .rows_affected
                > 0;
            if !claimed {
                continue;
            }
            let event = insert(
                &txn,
                &context,
                AuditOutcome::Succeeded,
                Target::key(&key),
                None,
            )
            .await?;
            self.commit_with_events(txn, [event]).await?;
            recorded += 1;
        }
        Ok(recorded)
    }

    /// On PostgreSQL, forwards the events every replica commits to this
    /// replica's feed, until the pool closes. Returns at once on SQLite.
    ///
    /// Notifications sent while the listening connection is down (the
    /// database restarting, say) are lost: live events are a convenience,
    /// the trail in the table is the record.
    pub async fn forward_notifications(&self) {
        if self.db().get_database_backend() != DbBackend::Postgres {
            return;
        }
        // A pool of its own: LISTEN holds its connection for good, and must
        // not take one of the request pool's (`--db-max-connections` may be 1).
        let options = self
            .db()
            .inner()
            .get_postgres_connection_pool()
            .connect_options();
        let pool = sea_orm::sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(self.db().limit())
            .connect_lazy_with((*options).clone());
        loop {
            match self.listen(&pool).await {
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!(error = %err, "audit event listener failed; reconnecting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn listen(&self, pool: &sea_orm::sqlx::PgPool) -> Result<(), Error> {
        use sea_orm::sqlx::Executor as _;
        use sea_orm::sqlx::postgres::PgListener;
        let limit = self.db().limit();
        let mut listener = bounded_sqlx(limit, PgListener::connect_with(pool)).await?;
        bounded_sqlx(limit, listener.listen(CHANNEL)).await?;
        loop {
            let received = tokio::time::timeout(LISTENER_PROBE_INTERVAL, listener.recv()).await;
            let notification = match received {
                Ok(Ok(notification)) => notification,
                Ok(Err(sea_orm::sqlx::Error::PoolClosed)) => return Ok(()),
                Ok(Err(err)) => return Err(Error::internal(err)),
                // Nothing for a while: make sure the connection is alive;
                // if it is not, the caller reconnects.
                Err(_) => {
                    bounded_sqlx(limit, listener.execute("SELECT 1")).await?;
                    continue;
                }
            };
            let Ok(id) = notification.payload().parse::<i64>() else {
                tracing::warn!("ignoring a malformed audit notification");
                continue;
            };
            // Pruned already, or a notification from a foreign writer: skip.
            match self.audit_event(id).await {
                Ok(Some(event)) => self.events.publish(event),
                Ok(None) => {}
                // Subscribers miss this one event; the revocation watchers
                // re-check on their own schedule.
                Err(err) => tracing::warn!(error = ?err, id, "cannot read a notified audit event"),
            }
        }
    }
}

/// The listening connection is outside the store's bounded pool: each of its
/// round trips gets the same bound here.
async fn bounded_sqlx<T>(
    limit: Duration,
    work: impl Future<Output = Result<T, sea_orm::sqlx::Error>>,
) -> Result<T, Error> {
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result.map_err(Error::internal),
        Err(_) => Err(Error::internal(timed_out(limit))),
    }
}

fn filtered(filter: EventFilter) -> Select<AuditEvent> {
    let mut query = AuditEvent::find();
    if let Some(project_id) = filter.project_id {
        query = query.filter(Column::ProjectId.eq(project_id));
    }
    if let Some(action) = filter.action {
        query = query.filter(Column::Action.eq(action));
    }
    if let Some(key_id) = filter.key_id {
        query = query.filter(
            Condition::any()
                .add(Column::ActorKeyId.eq(key_id))
                .add(Column::TargetKeyId.eq(key_id))
                .add(Column::NewKeyId.eq(key_id)),
        );
    }
    if let Some(since) = filter.since {
        query = query.filter(Column::At.gte(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(Column::At.lt(until));
    }
    query
}
