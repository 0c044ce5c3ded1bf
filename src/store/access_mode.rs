//! The access mode: who may sign in through an identity provider.
//!
//! It is judged at sign-in ([`admits`]), inside the sign-in's transaction,
//! so a person it keeps out never gets a user. Sessions already started are
//! not ended by a change of mode; disabling a user or removing their
//! memberships is what takes access away at once.

use std::collections::BTreeSet;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set, SqlErr};

use super::access::{Grant, ServerWide};
use super::audit::Target;
use super::entity::settings::{self, AccessMode, SETTINGS_ID};
use super::entity::{access_allowed_group, access_allowed_user};
use super::{Store, now};
use crate::error::Error;

/// The access mode and its lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessModeSettings {
    pub mode: AccessMode,
    /// Sorted user ids.
    pub allowed_users: Vec<i64>,
    /// Sorted group names.
    pub allowed_groups: Vec<String>,
}

/// What is known of a person signing in, for [`admits`].
#[derive(Debug)]
pub struct Applicant<'a> {
    /// Their user, if they have one already.
    pub user_id: Option<i64>,
    /// Their groups, as the provider says now.
    pub groups: &'a BTreeSet<String>,
    /// Whether they are a member of a project: directly, or through one of
    /// `groups`.
    pub member_somewhere: bool,
}

/// Whether `mode` lets `applicant` sign in: UNRESTRICTED lets everyone in;
/// REQUIRED the allowed users and groups; RESTRICTED those, and members of
/// a project.
pub fn admits(mode: &AccessModeSettings, applicant: &Applicant<'_>) -> bool {
    let allowed = applicant
        .user_id
        .is_some_and(|id| mode.allowed_users.binary_search(&id).is_ok())
        || mode
            .allowed_groups
            .iter()
            .any(|group| applicant.groups.contains(group));
    match mode.mode {
        AccessMode::Unrestricted => true,
        AccessMode::Restricted => allowed || applicant.member_somewhere,
        AccessMode::Required => allowed,
    }
}

impl Store {
    pub async fn access_mode(&self) -> Result<AccessModeSettings, Error> {
        read(self.db()).await
    }

    /// Sets the access mode and its lists; NOT_FOUND if a user id names
    /// nobody.
    pub async fn set_access_mode(
        &self,
        grant: &Grant<ServerWide>,
        mode: AccessMode,
        allowed_users: &BTreeSet<i64>,
        allowed_groups: &BTreeSet<String>,
    ) -> Result<AccessModeSettings, Error> {
        let txn = self.begin_write().await?;
        settings::Entity::update_many()
            .col_expr(
                settings::Column::AccessMode,
                Expr::value(sea_orm::ActiveEnum::to_value(&mode)),
            )
            .col_expr(settings::Column::UpdatedAt, Expr::value(now()))
            .filter(settings::Column::Id.eq(SETTINGS_ID))
            .exec(&txn)
            .await?;
        access_allowed_user::Entity::delete_many()
            .exec(&txn)
            .await?;
        access_allowed_group::Entity::delete_many()
            .exec(&txn)
            .await?;
        if !allowed_users.is_empty() {
            let inserted = access_allowed_user::Entity::insert_many(
                allowed_users
                    .iter()
                    .map(|id| access_allowed_user::ActiveModel { user_id: Set(*id) }),
            )
            .exec(&txn)
            .await;
            if let Err(err) = inserted {
                return Err(match err.sql_err() {
                    Some(SqlErr::ForeignKeyConstraintViolation(_)) => Error::NotFound("user"),
                    _ => Error::from(err),
                });
            }
        }
        if !allowed_groups.is_empty() {
            access_allowed_group::Entity::insert_many(allowed_groups.iter().map(|group| {
                access_allowed_group::ActiveModel {
                    group_name: Set(group.clone()),
                }
            }))
            .exec(&txn)
            .await?;
        }
        let current = read(&txn).await?;
        self.commit_audited(txn, grant.audit(), Target::default())
            .await?;
        Ok(current)
    }
}

/// The access mode as `txn` sees it.
pub(super) async fn read<C: ConnectionTrait>(txn: &C) -> Result<AccessModeSettings, Error> {
    let mode = settings::Entity::find_by_id(SETTINGS_ID)
        .one(txn)
        .await?
        .map_or(AccessMode::Unrestricted, |row| row.access_mode);
    let allowed_users = access_allowed_user::Entity::find()
        .order_by_asc(access_allowed_user::Column::UserId)
        .all(txn)
        .await?
        .into_iter()
        .map(|row| row.user_id)
        .collect();
    let allowed_groups = access_allowed_group::Entity::find()
        .order_by_asc(access_allowed_group::Column::GroupName)
        .all(txn)
        .await?
        .into_iter()
        .map(|row| row.group_name)
        .collect();
    Ok(AccessModeSettings {
        mode,
        allowed_users,
        allowed_groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AuditAction, NewUser};

    fn admin() -> Grant<ServerWide> {
        Grant::for_tests(AuditAction::AccessModeChanged, ServerWide::for_tests())
    }

    /// The mode and its lists are set whole and read back sorted; a user id
    /// naming nobody is NOT_FOUND and changes nothing; every change is in
    /// the trail.
    #[tokio::test]
    async fn the_access_mode_is_set_whole_and_an_unknown_user_changes_nothing() {
        let (_dir, store) = crate::store::migrated_for_tests().await;
        let initial = store.access_mode().await.expect("read");
        assert_eq!(
            initial,
            AccessModeSettings {
                mode: AccessMode::Unrestricted,
                allowed_users: vec![],
                allowed_groups: vec![],
            },
            "a fresh database lets anyone in"
        );
        let mut users = Vec::new();
        for name in ["ada", "grace"] {
            let user = store
                .create_user(
                    &Grant::for_tests(AuditAction::UserCreated, ServerWide::for_tests()),
                    NewUser {
                        username: name.into(),
                        display_name: name.into(),
                        password_hash: "unused".into(),
                        administrator: false,
                    },
                )
                .await
                .expect("a user");
            users.push(user.id);
        }
        let ids = |ids: &[i64]| ids.iter().copied().collect::<BTreeSet<_>>();
        let names = |names: &[&str]| {
            names
                .iter()
                .map(|name| (*name).to_owned())
                .collect::<BTreeSet<_>>()
        };

        let set = store
            .set_access_mode(
                &admin(),
                AccessMode::Required,
                &ids(&[users[1], users[0]]),
                &names(&["sre", "Platform"]),
            )
            .await
            .expect("set");
        let expected = AccessModeSettings {
            mode: AccessMode::Required,
            allowed_users: vec![users[0], users[1]],
            allowed_groups: vec!["Platform".into(), "sre".into()],
        };
        assert_eq!(set, expected);
        assert_eq!(store.access_mode().await.expect("read"), expected);
        let event = store
            .audit_events(crate::store::EventFilter::default(), None, 1)
            .await
            .expect("events")
            .items
            .remove(0);
        assert_eq!(event.action, AuditAction::AccessModeChanged);
        assert_eq!(event.project_id, None, "server-wide");

        let unknown = store
            .set_access_mode(
                &admin(),
                AccessMode::Unrestricted,
                &ids(&[users[0], 999_999]),
                &names(&[]),
            )
            .await
            .expect_err("an unknown user");
        assert_eq!(unknown.code(), crate::error::ErrorCode::NotFound);
        assert_eq!(
            store.access_mode().await.expect("read"),
            expected,
            "nothing changed"
        );

        let cleared = store
            .set_access_mode(&admin(), AccessMode::Restricted, &ids(&[]), &names(&[]))
            .await
            .expect("set");
        assert_eq!(
            cleared,
            AccessModeSettings {
                mode: AccessMode::Restricted,
                allowed_users: vec![],
                allowed_groups: vec![],
            }
        );
    }

    #[test]
    fn each_mode_lets_in_whom_it_says() {
        let groups = |names: &[&str]| names.iter().map(|name| (*name).to_owned()).collect();
        let settings = |mode| AccessModeSettings {
            mode,
            allowed_users: vec![7],
            allowed_groups: vec!["platform".into()],
        };
        let nobody = groups(&[]);
        let platform = groups(&["platform", "x"]);
        let other = groups(&["x"]);
        let applicant = |user_id, groups, member_somewhere| Applicant {
            user_id,
            groups,
            member_somewhere,
        };
        use AccessMode::*;
        let cases = [
            // (mode, applicant, admitted)
            (Unrestricted, applicant(None, &nobody, false), true),
            (Restricted, applicant(None, &nobody, false), false),
            (Restricted, applicant(Some(7), &nobody, false), true),
            (Restricted, applicant(None, &platform, false), true),
            (Restricted, applicant(Some(8), &other, true), true),
            (Restricted, applicant(Some(8), &other, false), false),
            (Required, applicant(Some(8), &other, true), false),
            (Required, applicant(Some(7), &other, false), true),
            (Required, applicant(None, &platform, false), true),
            (Required, applicant(None, &nobody, false), false),
        ];
        for (mode, applicant, expected) in cases {
            assert_eq!(
                admits(&settings(mode), &applicant),
                expected,
                "{mode:?} {applicant:?}"
            );
        }
    }
}
