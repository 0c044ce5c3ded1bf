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
    ActiveEnum, ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, Set, SqlErr,
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
        Ok(held_groups(self.db(), user_id).await?.into_iter().collect())
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

/// User `user_id`'s groups as of their last sign-in (sorted, being a set).
pub(super) async fn held_groups<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
) -> Result<BTreeSet<String>, Error> {
    Ok(user_group::Entity::find()
        .filter(user_group::Column::UserId.eq(user_id))
        .all(db)
        .await?
        .into_iter()
        .map(|row| row.group_name)
        .collect())
}

/// Sets user `user_id`'s groups to `groups`, inside `txn`; whether they
/// changed (and so the epoch must be bumped).
pub(super) async fn replace_groups_of(
    txn: &Txn,
    user_id: i64,
    groups: &BTreeSet<String>,
) -> Result<bool, Error> {
    if &held_groups(txn, user_id).await? == groups {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::entity::api_key::Role::{Member, Owner, ReadOnly};
    use crate::store::{AuditAction, NewUser, ProjectCreator, ServerWide};

    fn owner(action: AuditAction, project_id: i64) -> Grant<ProjectOwner> {
        Grant::for_tests(action, ProjectOwner::for_tests(project_id))
    }

    async fn epoch(store: &Store) -> i64 {
        store.read_settings().await.expect("settings").auth_epoch
    }

    async fn project(store: &Store, name: &str) -> i64 {
        store
            .create_project(
                &Grant::for_tests(AuditAction::ProjectCreated, ProjectCreator::for_tests()),
                name.into(),
                None,
            )
            .await
            .expect("a project")
            .id
    }

    /// Every change of a group's membership bumps the auth epoch (it is
    /// part of what verifying its people proved) and is audited with the
    /// group; a refused one changes neither.
    #[tokio::test]
    async fn group_memberships_change_with_the_epoch_and_the_trail() {
        let (_dir, store) = crate::store::migrated_for_tests().await;
        let tools = project(&store, "tools").await;
        let added = AuditAction::ProjectGroupAdded;

        let before = epoch(&store).await;
        let member = store
            .add_group_member(&owner(added, tools), "ops", Member)
            .await
            .expect("added");
        assert_eq!((member.group_name.as_str(), member.role), ("ops", Member));
        assert!(epoch(&store).await > before, "adding bumps the epoch");
        let event = store
            .audit_events(crate::store::EventFilter::default(), None, 1)
            .await
            .expect("events")
            .items
            .remove(0);
        assert_eq!(event.action, added);
        assert_eq!(event.project_id, Some(tools));
        assert_eq!(event.target_group.as_deref(), Some("ops"));

        let before = epoch(&store).await;
        let refusals = [
            store
                .add_group_member(&owner(added, tools), "ops", Owner)
                .await
                .map(drop),
            store
                .add_group_member(&owner(added, 999_999), "ops", Owner)
                .await
                .map(drop),
            store
                .set_group_member_role(
                    &owner(AuditAction::ProjectGroupRoleChanged, tools),
                    "nobody",
                    Owner,
                )
                .await
                .map(drop),
            store
                .remove_group_member(&owner(AuditAction::ProjectGroupRemoved, tools), "nobody")
                .await,
        ];
        let codes: Vec<_> = refusals
            .iter()
            .map(|outcome| outcome.as_ref().map_err(Error::code).err())
            .collect();
        use crate::error::ErrorCode::{Conflict, NotFound};
        assert_eq!(
            codes,
            [
                Some(Conflict),
                Some(NotFound),
                Some(NotFound),
                Some(NotFound)
            ]
        );
        assert_eq!(epoch(&store).await, before, "refusals change nothing");

        let changed = store
            .set_group_member_role(
                &owner(AuditAction::ProjectGroupRoleChanged, tools),
                "ops",
                Owner,
            )
            .await
            .expect("changed");
        assert_eq!(changed.role, Owner);
        assert!(epoch(&store).await > before, "a new role bumps the epoch");

        let before = epoch(&store).await;
        store
            .remove_group_member(&owner(AuditAction::ProjectGroupRemoved, tools), "ops")
            .await
            .expect("removed");
        assert!(epoch(&store).await > before, "removing bumps the epoch");
        assert_eq!(store.group_members(tools).await.expect("members"), []);
    }

    /// Someone in several groups holds, in each project, the highest role
    /// any of their groups has there; groups match exactly, case included.
    #[tokio::test]
    async fn a_persons_groups_give_the_highest_of_their_roles_per_project() {
        let (_dir, store) = crate::store::migrated_for_tests().await;
        let (a, b) = (project(&store, "a").await, project(&store, "b").await);
        for (project_id, group, role) in [
            (a, "dev", ReadOnly),
            (a, "ops", Owner),
            (b, "dev", Member),
            (b, "Ops", Owner),
        ] {
            store
                .add_group_member(
                    &owner(AuditAction::ProjectGroupAdded, project_id),
                    group,
                    role,
                )
                .await
                .expect("added");
        }
        let listed: Vec<_> = store
            .group_members(a)
            .await
            .expect("members")
            .into_iter()
            .map(|member| (member.group_name, member.role))
            .collect();
        assert_eq!(
            listed,
            [("dev".to_owned(), ReadOnly), ("ops".to_owned(), Owner)],
            "by name"
        );
        let groups = |names: &[&str]| {
            names
                .iter()
                .map(|name| (*name).to_owned())
                .collect::<Vec<_>>()
        };
        let cases = [
            (groups(&["dev", "ops"]), vec![(a, Owner), (b, Member)]),
            (groups(&["dev"]), vec![(a, ReadOnly), (b, Member)]),
            (groups(&["ops"]), vec![(a, Owner)]),
            (groups(&["OPS", "elsewhere"]), vec![]),
            (groups(&[]), vec![]),
        ];
        for (held, expected) in cases {
            let roles = store.roles_through_groups(&held).await.expect("roles");
            assert_eq!(roles.into_iter().collect::<Vec<_>>(), expected, "{held:?}");
        }
    }

    /// A person's groups are replaced whole at sign-in, and only a real
    /// change says so (and so bumps the epoch).
    #[tokio::test]
    async fn a_persons_groups_are_replaced_whole_and_read_sorted() {
        let (_dir, store) = crate::store::migrated_for_tests().await;
        let user = store
            .create_user(
                &Grant::for_tests(AuditAction::UserCreated, ServerWide::for_tests()),
                NewUser {
                    username: "ada".into(),
                    display_name: "Ada".into(),
                    password_hash: "unused".into(),
                    administrator: false,
                },
            )
            .await
            .expect("a user");
        let set = |names: &[&str]| {
            names
                .iter()
                .map(|name| (*name).to_owned())
                .collect::<BTreeSet<_>>()
        };
        let cases = [
            (set(&["ops", "dev"]), true, vec!["dev", "ops"]),
            (set(&["dev", "ops"]), false, vec!["dev", "ops"]),
            (set(&["dev"]), true, vec!["dev"]),
            (set(&[]), true, vec![]),
            (set(&[]), false, vec![]),
        ];
        for (groups, changed, read) in cases {
            let txn = store.begin_write().await.expect("a transaction");
            let replaced = replace_groups_of(&txn, user.id, &groups)
                .await
                .expect("replaced");
            txn.commit().await.expect("commit");
            assert_eq!(replaced, changed, "{groups:?}");
            assert_eq!(store.groups_of(user.id).await.expect("groups"), read);
        }
    }

    #[test]
    fn raising_keeps_the_higher_role() {
        let mut roles = BTreeMap::new();
        for (role, held) in [
            (ReadOnly, ReadOnly),
            (Owner, Owner),
            (Member, Owner),
            (ReadOnly, Owner),
        ] {
            raise(&mut roles, 1, role);
            assert_eq!(roles.get(&1), Some(&held), "after {role:?}");
        }
    }
}
