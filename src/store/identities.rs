//! Which user each provider identity is, and signing a person in through
//! one: found by (provider, `sub`), created at their first sign-in, let in
//! or kept out by the access mode, their groups noted.
//!
//! A sign-in is one transaction: the access mode, the user, their groups
//! and the new session are decided and written together, so a person the
//! mode refuses gets no user, and a concurrent change of the mode or of a
//! group's membership is either wholly before or wholly after it.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
    SqlErr,
};

use super::access::{Grant, ServerWide};
use super::audit::{Actor, AuditContext, Target};
use super::bounded::Txn;
use super::entity::identity_provider;
use super::entity::settings::{self, SETTINGS_ID};
use super::entity::user::{self, UserState, username_key};
use super::entity::{project_group_member, project_member, user_identity};
use super::{Store, access_mode, bump_auth_epoch, groups, now, sessions, users};
use crate::error::Error;

/// Who a provider says signed in, after every check of its ID token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderIdentity {
    /// The provider's `sub`.
    pub subject: String,
    /// What the username claim said, made a valid username (no `:`, not
    /// shaped like an access key) by the caller; made unique here if taken.
    pub username: String,
    pub display_name: Option<String>,
    /// `None` when the provider says nothing of groups: the user's groups
    /// are then left as they were.
    pub groups: Option<BTreeSet<String>>,
}

/// A sign-in through `provider`, to end in a session of `token_hash`.
pub struct SsoSignIn<'a> {
    pub provider: &'a identity_provider::Model,
    pub identity: ProviderIdentity,
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
    pub client_address: Option<String>,
}

/// How a sign-in through a provider ended.
#[derive(Debug)]
pub enum SsoSignInOutcome {
    SignedIn(user::Model),
    AccessControlOff,
    /// The access mode keeps this person out (no user was created).
    NotAllowed,
    /// Their user is DISABLED.
    Disabled,
}

impl Store {
    /// User `user_id`'s identities, with their providers' names.
    pub async fn identities_of(
        &self,
        user_id: i64,
    ) -> Result<Vec<(user_identity::Model, String)>, Error> {
        let identities = user_identity::Entity::find()
            .filter(user_identity::Column::UserId.eq(user_id))
            .order_by_asc(user_identity::Column::ProviderId)
            .order_by_asc(user_identity::Column::Subject)
            .all(self.db())
            .await?;
        let providers = self.identity_providers().await?;
        Ok(identities
            .into_iter()
            .filter_map(|identity| {
                let name = providers
                    .iter()
                    .find(|provider| provider.id == identity.provider_id)?
                    .name
                    .clone();
                Some((identity, name))
            })
            .collect())
    }

    /// Links user `user_id` to `subject` at provider `provider_name`, so
    /// that they sign in through it. NOT_FOUND for an unknown user or
    /// provider; CONFLICT if the identity is linked already.
    pub async fn link_identity(
        &self,
        grant: &Grant<ServerWide>,
        user_id: i64,
        provider_name: &str,
        subject: &str,
    ) -> Result<(user::Model, user_identity::Model), Error> {
        let txn = self.begin_write().await?;
        let user = user::Entity::find_by_id(user_id)
            .one(&txn)
            .await?
            .ok_or(Error::NotFound("user"))?;
        let provider = identity_provider::Entity::find()
            .filter(identity_provider::Column::Name.eq(provider_name))
            .one(&txn)
            .await?
            .ok_or(Error::NotFound("identity provider"))?;
        let inserted = user_identity::ActiveModel {
            provider_id: Set(provider.id),
            subject: Set(subject.to_owned()),
            user_id: Set(user.id),
            linked_at: Set(now()),
        }
        .insert(&txn)
        .await;
        let identity = match inserted {
            Ok(identity) => identity,
            Err(err) => {
                return Err(match err.sql_err() {
                    Some(SqlErr::UniqueConstraintViolation(_)) => {
                        Error::Conflict("this identity is linked to a user already".into())
                    }
                    _ => Error::from(err),
                });
            }
        };
        let target = Target {
            provider: Some(provider.name),
            ..Target::user(&user)
        };
        self.commit_audited(txn, grant.audit(), target).await?;
        Ok((user, identity))
    }

    /// Signs a person in through a provider (see the module's comment).
    pub async fn sign_in_identity(
        &self,
        sign_in: SsoSignIn<'_>,
    ) -> Result<SsoSignInOutcome, Error> {
        let SsoSignIn {
            provider,
            identity,
            token_hash,
            expires_at,
            client_address,
        } = sign_in;
        let txn = self.begin_write().await?;
        let enabled = settings::Entity::find_by_id(SETTINGS_ID)
            .one(&txn)
            .await?
            .is_some_and(|row| row.access_control_enabled);
        if !enabled {
            return Ok(SsoSignInOutcome::AccessControlOff);
        }
        let existing =
            match user_identity::Entity::find_by_id((provider.id, identity.subject.clone()))
                .one(&txn)
                .await?
            {
                Some(link) => user::Entity::find_by_id(link.user_id).one(&txn).await?,
                None => None,
            };
        if existing
            .as_ref()
            .is_some_and(|user| user.state != UserState::Active)
        {
            return Ok(SsoSignInOutcome::Disabled);
        }
        let groups = match (&identity.groups, &existing) {
            (Some(groups), _) => groups.clone(),
            (None, Some(user)) => groups::held_groups(&txn, user.id).await?,
            (None, None) => BTreeSet::new(),
        };
        let mode = access_mode::read(&txn).await?;
        let member_somewhere = member_somewhere(&txn, existing.as_ref(), &groups).await?;
        let applicant = access_mode::Applicant {
            user_id: existing.as_ref().map(|user| user.id),
            groups: &groups,
            member_somewhere,
        };
        if !access_mode::admits(&mode, &applicant) {
            return Ok(SsoSignInOutcome::NotAllowed);
        }
        let now = now();
        let (user, signed_up) = match existing {
            Some(user) => (user, false),
            None => {
                let user = insert_person(&txn, &identity).await?;
                user_identity::ActiveModel {
                    provider_id: Set(provider.id),
                    subject: Set(identity.subject.clone()),
                    user_id: Set(user.id),
                    linked_at: Set(now),
                }
                .insert(&txn)
                .await?;
                (user, true)
            }
        };
        if identity.groups.is_some() && groups::replace_groups_of(&txn, user.id, &groups).await? {
            bump_auth_epoch(&txn).await?;
        }
        let (_, user) = sessions::start_session(&txn, user.id, token_hash, expires_at).await?;
        if signed_up {
            let context = AuditContext::sign_up(
                Actor::Person {
                    id: user.id,
                    username: user.username.clone(),
                    administrator: false,
                },
                client_address,
            );
            let target = Target {
                provider: Some(provider.name.clone()),
                ..Target::user(&user)
            };
            self.commit_audited(txn, &context, target).await?;
        } else {
            self.commit_with_events(txn, []).await?;
        }
        Ok(SsoSignInOutcome::SignedIn(user))
    }
}

/// Whether `user` (if any) is a member of a project directly, or anyone in
/// `groups` is through a group.
async fn member_somewhere(
    txn: &Txn,
    user: Option<&user::Model>,
    groups: &BTreeSet<String>,
) -> Result<bool, Error> {
    if let Some(user) = user {
        let direct = project_member::Entity::find()
            .filter(project_member::Column::UserId.eq(user.id))
            .count(txn)
            .await?;
        if direct > 0 {
            return Ok(true);
        }
    }
    if groups.is_empty() {
        return Ok(false);
    }
    let through_groups = project_group_member::Entity::find()
        .filter(project_group_member::Column::GroupName.is_in(groups.iter().cloned()))
        .count(txn)
        .await?;
    Ok(through_groups > 0)
}

/// A new user for `identity`, with no password: the first free username of
/// `name`, `name-2`, `name-3`, … (usernames are unique without regard to
/// case).
async fn insert_person(txn: &Txn, identity: &ProviderIdentity) -> Result<user::Model, Error> {
    let base = identity.username.as_str();
    let mut username = base.to_owned();
    let mut n = 1u32;
    loop {
        let taken = user::Entity::find()
            .filter(user::Column::UsernameKey.eq(username_key(&username)))
            .count(txn)
            .await?
            > 0;
        if !taken {
            break;
        }
        n += 1;
        if n > 1000 {
            return Err(Error::Conflict(format!(
                "too many users are named like \"{base}\""
            )));
        }
        username = format!("{base}-{n}");
    }
    let display_name = identity
        .display_name
        .clone()
        .unwrap_or_else(|| username.clone());
    users::insert_account(txn, username, display_name, false, None).await
}
