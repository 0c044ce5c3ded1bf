//! Queries on projects.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::access::{Grant, ProjectCreator, ProjectOwner, ServerWide};
use super::audit::Target;
use super::entity::project::{self, Column, Entity as Project};
use super::{Changes, Page, Store, bump_auth_epoch, conflict_on_unique, now};
use crate::error::Error;

fn name_taken(name: &str) -> Error {
    Error::Conflict(format!("a project named \"{name}\" already exists"))
}

impl Store {
    /// Project `id`, read now (see also [`Store::known_project`]).
    pub async fn project(&self, id: i64) -> Result<Option<project::Model>, Error> {
        Ok(Project::find_by_id(id).one(self.db()).await?)
    }

    /// Projects in creation order, after the project `after`; only the
    /// projects `only` when set (what a key or a person may list).
    pub async fn projects(
        &self,
        only: Option<&[i64]>,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Page<project::Model>, Error> {
        let mut query = Project::find().order_by_asc(Column::Id).limit(limit + 1);
        if let Some(ids) = only {
            query = query.filter(Column::Id.is_in(ids.iter().copied()));
        }
        if let Some(after) = after {
            query = query.filter(Column::Id.gt(after));
        }
        Ok(Page::from_overfetch(query.all(self.db()).await?, limit))
    }

    pub async fn count_projects(&self, only: Option<&[i64]>) -> Result<u64, Error> {
        let mut query = Project::find();
        if let Some(ids) = only {
            query = query.filter(Column::Id.is_in(ids.iter().copied()));
        }
        Ok(query.count(self.db()).await?)
    }

    /// Creates a project; the person of `grant`, if any, becomes its first
    /// OWNER member in the same transaction.
    pub async fn create_project(
        &self,
        grant: &Grant<ProjectCreator>,
        name: String,
        description: Option<String>,
    ) -> Result<project::Model, Error> {
        let now = now();
        let txn = self.begin_write().await?;
        let project = project::ActiveModel {
            name: Set(name.clone()),
            description: Set(description),
            created_at: Set(now),
            updated_at: Set(now),
            active_key_count: Set(0),
            inactive_key_count: Set(0),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(|e| conflict_on_unique(e, || name_taken(&name)))?;
        if let Some(owner) = grant.scope().owner() {
            super::members::add_owner(&txn, project.id, owner).await?;
            // The creator's principal must learn the membership.
            bump_auth_epoch(&txn).await?;
        }
        self.commit_audited(txn, grant.audit(), Target::project(project.id))
            .await?;
        Ok(project)
    }

    /// Applies `changes`; `None` when there is no such project.
    pub async fn update_project(
        &self,
        grant: &Grant<ProjectOwner>,
        changes: Changes,
    ) -> Result<Option<project::Model>, Error> {
        let id = grant.scope().project_id();
        let txn = self.begin_write().await?;
        let mut update = Project::update_many()
            .col_expr(Column::UpdatedAt, Expr::value(now()))
            .filter(Column::Id.eq(id));
        if let Some(name) = &changes.name {
            update = update.col_expr(Column::Name, Expr::value(name.clone()));
        }
        if let Some(description) = changes.description {
            update = update.col_expr(Column::Description, Expr::value(description));
        }
        let result = update.exec(&txn).await.map_err(|e| {
            conflict_on_unique(e, || {
                name_taken(changes.name.as_deref().unwrap_or_default())
            })
        })?;
        if result.rows_affected == 0 {
            return Ok(None);
        }
        let Some(project) = Project::find_by_id(id).one(&txn).await? else {
            return Ok(None);
        };
        // Not a revocation, but replicas remember project rows for the
        // epoch they were read in (see `project_memory`): a new epoch makes
        // every replica read the row again from the next request on.
        bump_auth_epoch(&txn).await?;
        self.commit_audited(txn, grant.audit(), Target::project(id))
            .await?;
        Ok(Some(project))
    }

    /// Deletes a project and, by the foreign key's cascade, all its keys.
    /// `false` when there was no such project.
    pub async fn delete_project(&self, grant: &Grant<ServerWide>, id: i64) -> Result<bool, Error> {
        let txn = self.begin_write().await?;
        if Project::delete_by_id(id).exec(&txn).await?.rows_affected == 0 {
            return Ok(false);
        }
        bump_auth_epoch(&txn).await?;
        self.commit_audited(txn, grant.audit(), Target::project(id))
            .await?;
        Ok(true)
    }

    /// The projects with these ids (in no particular order); missing ones
    /// are left out.
    pub async fn projects_by_ids(&self, ids: &[i64]) -> Result<Vec<project::Model>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(Project::find()
            .filter(Column::Id.is_in(ids.iter().copied()))
            .all(self.db())
            .await?)
    }
}
