//! Project membership: which people act in which project, in which role.
//!
//! A person's memberships are part of what a verification of them proved
//! (their principal carries them), so every change here bumps the auth
//! epoch: an added member sees the project, and a removed or lowered one
//! loses it, from their very next request on every replica.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, SqlErr,
};

use super::access::{Grant, ProjectOwner};
use super::audit::Target;
use super::bounded::Txn;
use super::entity::api_key::Role;
use super::entity::project_member::{self, Column, Entity as Member};
use super::entity::user::{self, UserState};
use super::{Page, Store, bump_auth_epoch, now};
use crate::error::Error;

impl Store {
    /// Project `project_id`'s members by user id, after the user `after`.
    pub async fn members(
        &self,
        project_id: i64,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Page<project_member::Model>, Error> {
        let mut query = Member::find()
            .filter(Column::ProjectId.eq(project_id))
            .order_by_asc(Column::UserId)
            .limit(limit + 1);
        if let Some(after) = after {
            query = query.filter(Column::UserId.gt(after));
        }
        Ok(Page::from_overfetch(query.all(self.db()).await?, limit))
    }

    pub async fn count_members(&self, project_id: i64) -> Result<u64, Error> {
        Ok(Member::find()
            .filter(Column::ProjectId.eq(project_id))
            .count(self.db())
            .await?)
    }

    /// Every membership of user `user_id`, by project.
    pub async fn memberships_of(&self, user_id: i64) -> Result<Vec<project_member::Model>, Error> {
        Ok(Member::find()
            .filter(Column::UserId.eq(user_id))
            .order_by_asc(Column::ProjectId)
            .all(self.db())
            .await?)
    }

    /// Adds user `user_id` to the project of `grant` with `role`. NOT_FOUND
    /// if there is no such user (or they are DISABLED: a disabled person
    /// cannot be given anything), CONFLICT if they are a member already.
    pub async fn add_member(
        &self,
        grant: &Grant<ProjectOwner>,
        user_id: i64,
        role: Role,
    ) -> Result<(project_member::Model, user::Model), Error> {
        let project_id = grant.scope().project_id();
        let txn = self.begin_write().await?;
        let user = user::Entity::find_by_id(user_id)
            .one(&txn)
            .await?
            .filter(|user| user.state == UserState::Active)
            .ok_or(Error::NotFound("user"))?;
        let inserted = project_member::ActiveModel {
            project_id: Set(project_id),
            user_id: Set(user_id),
            role: Set(role),
            added_at: Set(now()),
        }
        .insert(&txn)
        .await;
        let member = match inserted {
            Ok(member) => member,
            Err(err) => {
                return Err(match err.sql_err() {
                    Some(SqlErr::UniqueConstraintViolation(_)) => {
                        Error::Conflict("the user is a member of this project already".into())
                    }
                    Some(SqlErr::ForeignKeyConstraintViolation(_)) => Error::NotFound("project"),
                    _ => Error::from(err),
                });
            }
        };
        bump_auth_epoch(&txn).await?;
        self.commit_audited(txn, grant.audit(), Target::member(project_id, &user))
            .await?;
        Ok((member, user))
    }

    /// Changes the role of member `user_id` of the project of `grant`;
    /// NOT_FOUND if they are not a member.
    pub async fn set_member_role(
        &self,
        grant: &Grant<ProjectOwner>,
        user_id: i64,
        role: Role,
    ) -> Result<(project_member::Model, user::Model), Error> {
        let project_id = grant.scope().project_id();
        let txn = self.begin_write().await?;
        let member = Member::update_many()
            .col_expr(Column::Role, Expr::value(role.to_value()))
            .filter(Column::ProjectId.eq(project_id))
            .filter(Column::UserId.eq(user_id))
            .exec_with_returning(&txn)
            .await?
            .pop()
            .ok_or(Error::NotFound("project member"))?;
        let user = user::Entity::find_by_id(user_id)
            .one(&txn)
            .await?
            .ok_or(Error::NotFound("user"))?;
        bump_auth_epoch(&txn).await?;
        self.commit_audited(txn, grant.audit(), Target::member(project_id, &user))
            .await?;
        Ok((member, user))
    }

    /// Removes member `user_id` from the project of `grant`; NOT_FOUND if
    /// they are not a member.
    pub async fn remove_member(
        &self,
        grant: &Grant<ProjectOwner>,
        user_id: i64,
    ) -> Result<user::Model, Error> {
        let project_id = grant.scope().project_id();
        let txn = self.begin_write().await?;
        let removed = Member::delete_many()
            .filter(Column::ProjectId.eq(project_id))
            .filter(Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
        if removed.rows_affected == 0 {
            return Err(Error::NotFound("project member"));
        }
        let user = user::Entity::find_by_id(user_id)
            .one(&txn)
            .await?
            .ok_or(Error::NotFound("user"))?;
        bump_auth_epoch(&txn).await?;
        self.commit_audited(txn, grant.audit(), Target::member(project_id, &user))
            .await?;
        Ok(user)
    }
}

/// Adds `user_id` as an OWNER of `project_id`, inside a transaction that
/// creates the project.
pub(super) async fn add_owner(txn: &Txn, project_id: i64, user_id: i64) -> Result<(), Error> {
    project_member::ActiveModel {
        project_id: Set(project_id),
        user_id: Set(user_id),
        role: Set(Role::Owner),
        added_at: Set(now()),
    }
    .insert(txn)
    .await?;
    Ok(())
}

pub(super) async fn delete_memberships_of(txn: &Txn, user_id: i64) -> Result<(), Error> {
    Member::delete_many()
        .filter(Column::UserId.eq(user_id))
        .exec(txn)
        .await?;
    Ok(())
}
