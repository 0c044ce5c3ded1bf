//! Queries on API keys.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::access::{Grant, KeyManager};
use super::audit::Target;
use super::entity::api_key::{self, Column, Entity as ApiKey, KeyState, Role};
use super::{
    Changes, Page, Store, adjust_key_count, bump_auth_epoch, conflict_on_unique,
    lock_project_of_key, now,
};
use crate::error::Error;
use crate::scopes::Scopes;

/// A key about to be stored: its secret is already hashed. Its project is
/// the one the [`KeyManager`] grant was proven for.
#[derive(Debug)]
pub struct NewKey {
    pub access_key: String,
    pub secret_hash: String,
    pub name: String,
    pub description: Option<String>,
    pub role: Role,
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Scopes,
}

/// The new pair of a rotation, its secret already hashed; everything else
/// comes from the key it replaces.
#[derive(Debug)]
pub struct NewPair {
    pub access_key: String,
    pub secret_hash: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A project's key counts by stored state, as kept on the project row.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct KeyCounts {
    pub active: i64,
    pub inactive: i64,
}

impl From<&super::entity::project::Model> for KeyCounts {
    fn from(project: &super::entity::project::Model) -> Self {
        Self {
            active: project.active_key_count,
            inactive: project.inactive_key_count,
        }
    }
}

/// What a key reports as its state: ACTIVE and INACTIVE as stored, unless
/// it is past its expiry, which wins.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Inactive,
    Expired,
}

impl From<KeyState> for KeyStatus {
    fn from(state: KeyState) -> Self {
        match state {
            KeyState::Active => Self::Active,
            KeyState::Inactive => Self::Inactive,
        }
    }
}

impl KeyStatus {
    pub fn of(key: &api_key::Model, now: DateTime<Utc>) -> Self {
        match key.state {
            _ if key.expired_at(now) => Self::Expired,
            KeyState::Active => Self::Active,
            KeyState::Inactive => Self::Inactive,
        }
    }
}

/// What `delete_inactive_key` did.
#[derive(Debug, PartialEq, Eq)]
pub enum DeleteKeyOutcome {
    Deleted,
    NotFound,
    /// The key exists but is active; it was left alone.
    StillActive,
}

impl Store {
    pub async fn key(&self, id: i64) -> Result<Option<api_key::Model>, Error> {
        Ok(ApiKey::find_by_id(id).one(self.db()).await?)
    }

    pub async fn key_by_access_key(
        &self,
        access_key: &str,
    ) -> Result<Option<api_key::Model>, Error> {
        Ok(ApiKey::find()
            .filter(Column::AccessKey.eq(access_key))
            .one(self.db())
            .await?)
    }

    /// A project's keys in creation order, after key `after`, optionally only
    /// those with `status`. Keyset pagination on (project_id, id).
    pub async fn keys(
        &self,
        project_id: i64,
        status: Option<KeyStatus>,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Page<api_key::Model>, Error> {
        let mut query = ApiKey::find()
            .filter(Column::ProjectId.eq(project_id))
            .order_by_asc(Column::Id)
            .limit(limit + 1);
        if let Some(status) = status {
            query = query.filter(status_condition(status, now()));
        }
        if let Some(after) = after {
            query = query.filter(Column::Id.gt(after));
        }
        Ok(Page::from_overfetch(query.all(self.db()).await?, limit))
    }

    /// How many keys `project_id` has (with `status`), from the `counts`
    /// kept on its row (constant time, exact after every committed write):
    /// as read with the row when given, else read now. A status filter also
    /// counts the expired keys, which walks an index over the expired ones
    /// only.
    pub async fn count_keys(
        &self,
        project_id: i64,
        counts: Option<KeyCounts>,
        status: Option<KeyStatus>,
    ) -> Result<u64, Error> {
        let counts = match counts {
            Some(counts) => counts,
            None => match self.project(project_id).await? {
                Some(project) => KeyCounts::from(&project),
                // Deleted meanwhile: no keys.
                None => return Ok(0),
            },
        };
        let expired = |state: Option<KeyState>| {
            let mut query = ApiKey::find()
                .filter(Column::ProjectId.eq(project_id))
                .filter(Column::ExpiresAt.lte(now()));
            if let Some(state) = state {
                query = query.filter(Column::State.eq(state));
            }
            query.count(self.db())
        };
        let count = match status {
            None => counts.active + counts.inactive,
            Some(KeyStatus::Active) => {
                counts.active - count_i64(expired(Some(KeyState::Active)).await?)
            }
            Some(KeyStatus::Inactive) => {
                counts.inactive - count_i64(expired(Some(KeyState::Inactive)).await?)
            }
            Some(KeyStatus::Expired) => count_i64(expired(None).await?),
        };
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Counts a failed authentication naming key `id`.
    pub async fn record_failed_auth(&self, id: i64) -> Result<(), Error> {
        ApiKey::update_many()
            .col_expr(
                Column::FailedAuthCount,
                Expr::col(Column::FailedAuthCount).add(1),
            )
            .col_expr(Column::LastFailedAuthAt, Expr::value(Some(now())))
            .filter(Column::Id.eq(id))
            .exec(self.db())
            .await?;
        Ok(())
    }

    /// Stores a new, active key. A project deleted meanwhile makes this fail
    /// on the foreign key, reported as NOT_FOUND.
    pub async fn insert_key(
        &self,
        grant: &Grant<KeyManager>,
        key: NewKey,
    ) -> Result<api_key::Model, Error> {
        let manager = grant.scope();
        if !manager.covers(key.role) {
            return Err(Error::Forbidden("this key's role is beyond the caller's"));
        }
        let now = now();
        let project_id = manager.project_id();
        let txn = self.begin_write().await?;
        let row = api_key::ActiveModel {
            created_by_user_id: Set(manager.person()),
            ..new_key_row(project_id, key, now, None)
        };
        let inserted = row.insert(&txn).await;
        match inserted {
            Ok(model) => {
                adjust_key_count(&txn, project_id, KeyState::Active, 1).await?;
                self.commit_audited(txn, grant.audit(), Target::key(&model))
                    .await?;
                Ok(model)
            }
            Err(err)
                if matches!(
                    err.sql_err(),
                    Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_))
                ) =>
            {
                tracing::debug!(project_id, "project vanished while a key was created");
                Err(Error::NotFound("project"))
            }
            // 20 characters of [A-Z0-9] collide with negligible probability;
            // if they ever do, the database refuses and the caller may retry.
            Err(err) => Err(conflict_on_unique(err, || {
                Error::Conflict("access key collision; try again".into())
            })),
        }
    }

    /// Sets a key's state; a key already in `state` is left untouched.
    /// `None` when there is no such key. Activating a key past its expiry
    /// fails with CONFLICT: the check is part of the UPDATE, so a key
    /// expiring meanwhile cannot slip through.
    pub async fn set_key_state(
        &self,
        grant: &Grant<KeyManager>,
        id: i64,
        state: KeyState,
    ) -> Result<Option<api_key::Model>, Error> {
        let now = now();
        let txn = self.begin_write().await?;
        lock_project_of_key(&txn, id).await?;
        let mut update = ApiKey::update_many()
            .col_expr(Column::State, Expr::value(state.to_value()))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(managed_by(grant.scope(), id))
            .filter(Column::State.ne(state));
        if state == KeyState::Active {
            update = update.filter(
                Condition::any()
                    .add(Column::ExpiresAt.is_null())
                    .add(Column::ExpiresAt.gt(now)),
            );
        }
        // The counts follow the row the UPDATE changed, as it returns it, not
        // an earlier read that a concurrent writer may have made stale.
        let key = match update.exec_with_returning(&txn).await?.pop() {
            Some(key) => {
                // The UPDATE matched only rows not in `state`, and there are
                // two states: the row was in the other one.
                let previous = match state {
                    KeyState::Active => KeyState::Inactive,
                    KeyState::Inactive => KeyState::Active,
                };
                adjust_key_count(&txn, key.project_id, previous, -1).await?;
                adjust_key_count(&txn, key.project_id, state, 1).await?;
                bump_auth_epoch(&txn).await?;
                key
            }
            None => {
                let Some(key) = ApiKey::find()
                    .filter(managed_by(grant.scope(), id))
                    .one(&txn)
                    .await?
                else {
                    return Ok(None);
                };
                // Not changed: already in `state`, or past its expiry, which
                // a key's stored state does not show (an expired key may
                // still be stored as ACTIVE). Only activation cares.
                if state == KeyState::Active && key.expired_at(now) {
                    return Err(Error::Conflict(
                        "the key has expired and cannot be activated again: create a new key"
                            .into(),
                    ));
                }
                key
            }
        };
        self.commit_audited(txn, grant.audit(), Target::key(&key))
            .await?;
        Ok(Some(key))
    }

    /// Replaces key `id` by a new key with `pair`, in the same project and
    /// with its name, description, role and scopes; the old key stays
    /// ACTIVE for `grace` from now (never later than its own expiry), then it
    /// is expired. Returns the old key as it is now and the new one.
    ///
    /// NOT_FOUND when there is no such key; CONFLICT when it is INACTIVE,
    /// expired, or rotated already (checked on the row read here, under the
    /// project's lock, and by the unique index on `rotated_from_id` should
    /// two rotations race anyway). One transaction: the new key, the old
    /// key's shortened life, the counts, the auth epoch (cached
    /// verifications of the old key must learn its new expiry) and the
    /// KEY_ROTATED event.
    pub async fn rotate_key(
        &self,
        grant: &Grant<KeyManager>,
        id: i64,
        pair: NewPair,
        grace: chrono::Duration,
    ) -> Result<(api_key::Model, api_key::Model), Error> {
        let txn = self.begin_write().await?;
        // Taken under the lock, after the new secret was hashed: the grace
        // period starts when the rotation does.
        let now = now();
        let grace_ends = now + grace;
        lock_project_of_key(&txn, id).await?;
        let old = ApiKey::find()
            .filter(managed_by(grant.scope(), id))
            .one(&txn)
            .await?
            .ok_or(Error::NotFound("API key"))?;
        if old.state != KeyState::Active || old.expired_at(now) {
            return Err(Error::Conflict(
                "only an ACTIVE key can be rotated: this one is INACTIVE or EXPIRED".into(),
            ));
        }
        let successor = ApiKey::find()
            .filter(Column::RotatedFromId.eq(id))
            .count(&txn)
            .await?;
        if successor > 0 || old.rotated_at.is_some() {
            return Err(already_rotated());
        }
        let new = NewKey {
            access_key: pair.access_key,
            secret_hash: pair.secret_hash,
            name: old.name.clone(),
            description: old.description.clone(),
            role: old.role,
            expires_at: pair.expires_at,
            scopes: old.scopes(),
        };
        let row = api_key::ActiveModel {
            // The new pair is the rotating person's, if a person rotates.
            created_by_user_id: Set(grant.scope().person()),
            ..new_key_row(old.project_id, new, now, Some(id))
        };
        let new = row
            .insert(&txn)
            .await
            .map_err(|err| conflict_on_unique(err, already_rotated))?;
        let grace_ends = match old.expires_at {
            Some(expires_at) if expires_at < grace_ends => expires_at,
            _ => grace_ends,
        };
        let old = ApiKey::update_many()
            .col_expr(Column::ExpiresAt, Expr::value(grace_ends))
            .col_expr(Column::RotatedAt, Expr::value(now))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Id.eq(id))
            .exec_with_returning(&txn)
            .await?
            .pop()
            .ok_or(Error::NotFound("API key"))?;
        adjust_key_count(&txn, new.project_id, KeyState::Active, 1).await?;
        bump_auth_epoch(&txn).await?;
        let target = Target {
            new_key_id: Some(new.id),
            ..Target::key(&old)
        };
        self.commit_audited(txn, grant.audit(), target).await?;
        Ok((old, new))
    }

    /// The key `id` was rotated to, if it was.
    pub async fn successor(&self, id: i64) -> Result<Option<api_key::Model>, Error> {
        Ok(ApiKey::find()
            .filter(Column::RotatedFromId.eq(id))
            .one(self.db())
            .await?)
    }

    /// Changes a key's name and description; `None` when there is no such key.
    pub async fn update_key(
        &self,
        grant: &Grant<KeyManager>,
        id: i64,
        changes: Changes,
    ) -> Result<Option<api_key::Model>, Error> {
        let txn = self.begin_write().await?;
        let mut update = ApiKey::update_many()
            .col_expr(Column::UpdatedAt, Expr::value(now()))
            .filter(managed_by(grant.scope(), id));
        if let Some(name) = changes.name {
            update = update.col_expr(Column::Name, Expr::value(name));
        }
        if let Some(description) = changes.description {
            update = update.col_expr(Column::Description, Expr::value(description));
        }
        if update.exec(&txn).await?.rows_affected == 0 {
            return Ok(None);
        }
        let Some(key) = ApiKey::find_by_id(id).one(&txn).await? else {
            return Ok(None);
        };
        self.commit_audited(txn, grant.audit(), Target::key(&key))
            .await?;
        Ok(Some(key))
    }

    /// Deletes a key only if it is inactive or expired. The check is part of
    /// the DELETE itself, so a concurrent activation cannot slip in between.
    pub async fn delete_inactive_key(
        &self,
        grant: &Grant<KeyManager>,
        id: i64,
    ) -> Result<DeleteKeyOutcome, Error> {
        let txn = self.begin_write().await?;
        lock_project_of_key(&txn, id).await?;
        // The DELETE returns the row as it deleted it: its state is the one
        // whose count goes down. A state read before the DELETE may have been
        // changed by a concurrent writer meanwhile (an active key deactivated
        // and then deleted here), and adjusting that state's count would make
        // the counts drift for good.
        let deleted = ApiKey::delete_many()
            .filter(managed_by(grant.scope(), id))
            .filter(
                Condition::any()
                    .add(Column::State.eq(KeyState::Inactive))
                    .add(Column::ExpiresAt.lte(now())),
            )
            .exec_with_returning(&txn)
            .await?
            .pop();
        let Some(key) = deleted else {
            return Ok(
                match ApiKey::find()
                    .filter(managed_by(grant.scope(), id))
                    .one(&txn)
                    .await?
                {
                    Some(_) => DeleteKeyOutcome::StillActive,
                    None => DeleteKeyOutcome::NotFound,
                },
            );
        };
        adjust_key_count(&txn, key.project_id, key.state, -1).await?;
        bump_auth_epoch(&txn).await?;
        self.commit_audited(txn, grant.audit(), Target::key(&key))
            .await?;
        Ok(DeleteKeyOutcome::Deleted)
    }

    /// Records when keys were last used (batched by [`crate::last_used`]).
    pub async fn touch_keys(&self, uses: &[(i64, DateTime<Utc>)]) -> Result<(), Error> {
        for (id, at) in uses {
            ApiKey::update_many()
                .col_expr(Column::LastUsedAt, Expr::value(Some(*at)))
                .filter(Column::Id.eq(*id))
                .exec(self.db())
                .await?;
        }
        Ok(())
    }
}

/// The rows whose reported state is `status` at `now`.
fn status_condition(status: KeyStatus, now: DateTime<Utc>) -> Condition {
    let unexpired = Condition::any()
        .add(Column::ExpiresAt.is_null())
        .add(Column::ExpiresAt.gt(now));
    match status {
        KeyStatus::Expired => Condition::all().add(Column::ExpiresAt.lte(now)),
        KeyStatus::Active => Condition::all()
            .add(Column::State.eq(KeyState::Active))
            .add(unexpired),
        KeyStatus::Inactive => Condition::all()
            .add(Column::State.eq(KeyState::Inactive))
            .add(unexpired),
    }
}

fn count_i64(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn already_rotated() -> Error {
    Error::Conflict("the key has been rotated already: rotate its successor".into())
}

/// The row of a new, ACTIVE key, created at `now`: by `createApiKey`, or by
/// `rotateKey` as the successor of key `rotated_from_id`.
fn new_key_row(
    project_id: i64,
    key: NewKey,
    now: DateTime<Utc>,
    rotated_from_id: Option<i64>,
) -> api_key::ActiveModel {
    api_key::ActiveModel {
        project_id: Set(project_id),
        access_key: Set(key.access_key),
        secret_hash: Set(key.secret_hash),
        name: Set(key.name),
        description: Set(key.description),
        state: Set(KeyState::Active),
        role: Set(key.role),
        created_at: Set(now),
        updated_at: Set(now),
        last_used_at: Set(None),
        expires_at: Set(key.expires_at),
        failed_auth_count: Set(0),
        last_failed_auth_at: Set(None),
        expiry_recorded: Set(false),
        scopes: Set(key.scopes.stored()),
        rotated_from_id: Set(rotated_from_id),
        rotated_at: Set(None),
        created_by_user_id: Set(None),
        ..Default::default()
    }
}

/// Key `id`, if `manager` may manage it: in its project, of a role it
/// covers. Part of every key write's statement, so that a grant for one
/// project or role cannot change a key of another.
fn managed_by(manager: &KeyManager, id: i64) -> Condition {
    Condition::all()
        .add(Column::Id.eq(id))
        .add(Column::ProjectId.eq(manager.project_id()))
        .add(Column::Role.is_in(manager.roles().iter().map(|role| role.to_value())))
}
