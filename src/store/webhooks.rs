//! Webhook records: the rows a project's administrators create, change and
//! delete, and the stored form of the actions each subscribes to.
//!
//! What is sent to them, and when, is the outbox's job ([`super::outbox`]).

use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, Set,
};

use super::access::{Grant, ProjectOwner};
use super::audit::Target;
use super::bounded::Txn;
use super::entity::audit_event::AuditAction;
use super::entity::webhook::{self, Column, Entity as Webhook};
use super::{Store, now};
use crate::error::Error;

/// Most webhooks one project may have: every event of the project writes one
/// delivery row per webhook inside its own transaction, so the number is
/// what one event costs every write of the project.
pub const MAX_PER_PROJECT: u64 = 20;

/// A webhook about to be stored. (No `Debug`: it holds the signing secret.)
pub struct NewWebhook {
    pub url: String,
    pub description: Option<String>,
    /// Empty for every action.
    pub actions: Vec<AuditAction>,
    /// The `whsec_…` secret, serialized.
    pub signing_secret: String,
}

/// What `update_webhook` changes: `None` leaves a field as it is;
/// `description: Some(None)` clears it; `actions: Some(vec![])` subscribes
/// to every action.
#[derive(Debug, Default)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub description: Option<Option<String>>,
    pub actions: Option<Vec<AuditAction>>,
    pub enabled: Option<bool>,
}

/// The stored form of a list of actions: their names, space-separated.
pub fn stored_actions(actions: &[AuditAction]) -> String {
    let mut names: Vec<String> = actions.iter().map(|action| action.to_value()).collect();
    names.sort_unstable();
    names.dedup();
    names.join(" ")
}

/// The actions of a stored list; names no longer known are skipped.
pub fn parse_actions(stored: &str) -> Vec<AuditAction> {
    stored
        .split_ascii_whitespace()
        .filter_map(|name| AuditAction::try_from_value(&name.to_owned()).ok())
        .collect()
}

impl Store {
    /// Stores a new, enabled webhook. A project deleted meanwhile makes this
    /// fail on the foreign key, reported as NOT_FOUND.
    pub async fn insert_webhook(
        &self,
        grant: &Grant<ProjectOwner>,
        new: NewWebhook,
    ) -> Result<webhook::Model, Error> {
        let now = now();
        let project_id = grant.scope().project_id();
        let txn = self.begin_write().await?;
        // Counted under the write lock (SQLite) or the project's row lock
        // (PostgreSQL), so two creations cannot both pass at the limit.
        if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
            txn.execute_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT 1 FROM project WHERE id = $1 FOR NO KEY UPDATE",
                [project_id.into()],
            ))
            .await?;
        }
        let existing = webhook::Entity::find()
            .filter(webhook::Column::ProjectId.eq(project_id))
            .count(&txn)
            .await?;
        if existing >= MAX_PER_PROJECT {
            return Err(Error::Conflict(format!(
                "the project has {MAX_PER_PROJECT} webhooks, the most it may have: delete one first"
            )));
        }
        let inserted = webhook::ActiveModel {
            project_id: Set(project_id),
            url: Set(new.url),
            description: Set(new.description),
            actions: Set(stored_actions(&new.actions)),
            enabled: Set(true),
            signing_secret: Set(new.signing_secret),
            created_at: Set(now),
            updated_at: Set(now),
            failing_since: Set(None),
            disabled_at: Set(None),
            ..Default::default()
        }
        .insert(&txn)
        .await;
        match inserted {
            Ok(model) => {
                self.commit_audited(txn, grant.audit(), Target::project(project_id))
                    .await?;
                Ok(model)
            }
            Err(err)
                if matches!(
                    err.sql_err(),
                    Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_))
                ) =>
            {
                Err(Error::NotFound("project"))
            }
            Err(err) => Err(err.into()),
        }
    }

    pub async fn webhook(&self, id: i64) -> Result<Option<webhook::Model>, Error> {
        Ok(Webhook::find_by_id(id).one(self.db()).await?)
    }

    /// A project's webhooks, oldest first.
    pub async fn webhooks(&self, project_id: i64) -> Result<Vec<webhook::Model>, Error> {
        Ok(Webhook::find()
            .filter(Column::ProjectId.eq(project_id))
            .order_by_asc(Column::Id)
            .all(self.db())
            .await?)
    }

    /// Applies `changes` to webhook `id`; `None` when there is no such
    /// webhook. Enabling a webhook clears `disabled_at` and `failing_since`
    /// (its deliveries start over from a clean slate); disabling one stops
    /// its deliveries, which resume where they were if it is enabled again.
    pub async fn update_webhook(
        &self,
        grant: &Grant<ProjectOwner>,
        id: i64,
        changes: WebhookChanges,
    ) -> Result<Option<webhook::Model>, Error> {
        let now = now();
        let txn = self.begin_write().await?;
        let Some(current) = owned_webhook(&txn, grant, id).await? else {
            return Ok(None);
        };
        let project_id = current.project_id;
        let mut row: webhook::ActiveModel = current.into();
        if let Some(url) = changes.url {
            row.url = Set(url);
        }
        if let Some(description) = changes.description {
            row.description = Set(description);
        }
        if let Some(actions) = changes.actions {
            row.actions = Set(stored_actions(&actions));
        }
        if let Some(enabled) = changes.enabled {
            row.enabled = Set(enabled);
            if enabled {
                row.disabled_at = Set(None);
                row.failing_since = Set(None);
            }
        }
        row.updated_at = Set(now);
        let model = row.update(&txn).await?;
        self.commit_audited(txn, grant.audit(), Target::project(project_id))
            .await?;
        Ok(Some(model))
    }

    /// Deletes webhook `id` and its deliveries; false when there was none.
    pub async fn delete_webhook(
        &self,
        grant: &Grant<ProjectOwner>,
        id: i64,
    ) -> Result<bool, Error> {
        let txn = self.begin_write().await?;
        let Some(current) = owned_webhook(&txn, grant, id).await? else {
            return Ok(false);
        };
        if Webhook::delete_by_id(id).exec(&txn).await?.rows_affected == 0 {
            return Ok(false);
        }
        self.commit_audited(txn, grant.audit(), Target::project(current.project_id))
            .await?;
        Ok(true)
    }
}

/// Webhook `id`, if it belongs to the project of `grant`.
pub(super) async fn owned_webhook(
    txn: &Txn,
    grant: &Grant<ProjectOwner>,
    id: i64,
) -> Result<Option<webhook::Model>, Error> {
    Ok(Webhook::find_by_id(id)
        .filter(Column::ProjectId.eq(grant.scope().project_id()))
        .one(txn)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_stored_sorted_once_each_and_read_back() {
        let actions = [
            AuditAction::KeyDeleted,
            AuditAction::KeyCreated,
            AuditAction::KeyDeleted,
        ];
        let stored = stored_actions(&actions);
        assert_eq!(stored, "KEY_CREATED KEY_DELETED");
        assert_eq!(
            parse_actions(&stored),
            vec![AuditAction::KeyCreated, AuditAction::KeyDeleted]
        );
        assert_eq!(
            parse_actions("NOT_AN_ACTION KEY_CREATED"),
            vec![AuditAction::KeyCreated]
        );
    }
}
