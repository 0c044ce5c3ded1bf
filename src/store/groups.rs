//! Groups: the groups a provider last said each person is in, and the
//! projects whose members groups are.
//!
//! A person's role in a project is the highest of their own membership and
//! those of their groups, so a group's membership is part of what every
//! verification of its people proved: every change here bumps the auth
//! epoch, and removing a group from a project holds from the next request
//! of everyone who had the project through it, on every replica.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, SqlErr,
};

use super::access::{Grant, ProjectOwner};
use super::audit::Target;
use super::bounded::Txn;
use super::entity::api_key::Role;
use super::entity::project_group_member::{self, Column, Entity as GroupMember};
use super::entity::user_group;
use super::{Store, bump_auth_epoch, now};
use crate::error::Error;

impl Store {
    /// Project `project_id`'s group members, by group name.
    pub async fn group_members(
        &self,
        project_id: i64,
    ) -> Result<Vec<project_group_member::Model>, Error> {
        Ok(GroupMember::find()
            .filter(Column::ProjectId.eq(project_id))
            .order_by_asc(Column::GroupName)
            .all(self.db())
            .await?)
    }

    /// The groups user `user_id` was in at their last sign-in, sorted.
    pub async fn groups_of(&self, user_id: i64) -> Result<Vec<String>, Error> {
        Ok(user_group::Entity::find()
            .filter(user_group::Column::UserId.eq(user_id))
            .order_by_asc(user_group::Column::GroupName)
            .all(self.db())
            .await?
            .into_iter()
            .map(|row| row.group_name)
            .collect())
    }

    /// The role each project gives someone in `groups`: the highest of the
    /// groups' memberships there.
    pub async fn roles_through_groups(
        &self,
        groups: &[String],
    ) -> Result<BTreeMap<i64, Role>, Error> {
        let mut roles = BTreeMap::new();
        if groups.is_empty() {
            return Ok(roles);
        }
        let rows = GroupMember::find()
            .filter(Column::GroupName.is_in(groups.iter().cloned()))
            .all(self.db())
            .await?;
        for row in rows {
            raise(&mut roles, row.project_id, row.role);
        }
        Ok(roles)
    }

    /// Makes `group` a member of the project of `grant` with `role`;
    /// CONFLICT if it is one already.
    pub async fn add_group_member(
        &self,
        grant: &Grant<ProjectOwner>,
        group: &str,
        role: Role,
    ) -> Result<project_group_member::Model, Error> {
        let project_id = grant.scope().project_id();
        let txn = self.begin_write().await?;
        let inserted = project_group_member::ActiveModel {
            project_id: Set(project_id),
            group_name: Set(group.to_owned()),
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
                        Error::Conflict("the group is a member of this project already".into())
                    }
                    Some(SqlErr::ForeignKeyConstraintViolation(_)) => Error::NotFound("project"),
                    _ => Error::from(err),
                });
            }
        };
        bump_auth_epoch(&txn).await?;
        self.commit_audited(txn, grant.audit(), Target::group_member(project_id, group))
            .await?;
        Ok(member)
    }

    /// Changes the role of group member `group` of the project of `grant`;
    /// NOT_FOUND if the group is not a member.
    pub async fn set_group_member_role(
        &self,
        grant: &Grant<ProjectOwner>,
        group: &str,
        role: Role,
    ) -> Result<project_group_member::Model, Error> {
        let project_id = grant.scope().project_id();
        let txn = self.begin_write().await?;
        let member = GroupMember::update_many()
            .col_expr(Column::Role, Expr::value(role.to_value()))
            .filter(Column::ProjectId.eq(project_id))
            .filter(Column::GroupName.eq(group))
            .exec_with_returning(&txn)
            .await?
            .pop()
            .ok_or(Error::NotFound("project group member"))?;
        bump_auth_epoch(&txn).await?;
        self.commit_audited(txn, grant.audit(), Target::group_member(project_id, group))
            .await?;
        Ok(member)
    }

    /// Removes group member `group` from the project of `grant`; NOT_FOUND
    /// if the group is not a member.
    pub async fn remove_group_member(
        &self,
        grant: &Grant<ProjectOwner>,
        group: &str,
    ) -> Result<(), Error> {
        let project_id = grant.scope().project_id();
        let txn = self.begin_write().await?;
        let removed = GroupMember::delete_many()
            .filter(Column::ProjectId.eq(project_id))
            .filter(Column::GroupName.eq(group))
            .exec(&txn)
            .await?;
        if removed.rows_affected == 0 {
            return Err(Error::NotFound("project group member"));
        }
        bump_auth_epoch(&txn).await?;
        self.commit_audited(txn, grant.audit(), Target::group_member(project_id, group))
            .await?;
        Ok(())
    }
}

/// Sets user `user_id`'s groups to `groups`, inside `txn`; whether they
/// changed (and so the epoch must be bumped).
pub(super) async fn replace_groups_of(
    txn: &Txn,
    user_id: i64,
    groups: &BTreeSet<String>,
) -> Result<bool, Error> {
    let held: BTreeSet<String> = user_group::Entity::find()
        .filter(user_group::Column::UserId.eq(user_id))
        .all(txn)
        .await?
        .into_iter()
        .map(|row| row.group_name)
        .collect();
    if &held == groups {
        return Ok(false);
    }
    user_group::Entity::delete_many()
        .filter(user_group::Column::UserId.eq(user_id))
        .exec(txn)
        .await?;
    if !groups.is_empty() {
        user_group::Entity::insert_many(groups.iter().map(|group| user_group::ActiveModel {
            user_id: Set(user_id),
            group_name: Set(group.clone()),
        }))
        .exec(txn)
        .await?;
    }
    Ok(true)
}

/// Keeps the higher of `role` and the role `roles` holds for `project_id`.
pub fn raise(roles: &mut BTreeMap<i64, Role>, project_id: i64, role: Role) {
    roles
        .entry(project_id)
        .and_modify(|held| {
            if role.at_least(*held) {
                *held = role;
            }
        })
        .or_insert(role);
}
