//! People: user accounts and their changes.
//!
//! Every change that can take something away from a person (their
//! administrator flag, their state, their password, their deletion) bumps
//! the auth epoch in its own transaction, as a key's deactivation does, so
//! that it holds from that person's very next request on every replica.
//! Ending a person's sessions is part of the same transaction.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::access::{Account, Grant, ServerWide};
use super::audit::Target;
use super::bounded::Txn;
use super::entity::api_key;
use super::entity::user::{self, Column, Entity as User, UserState, username_key};
use super::entity::user_session;
use super::{Page, Store, bump_auth_epoch, conflict_on_unique, now};
use crate::error::Error;

/// A person about to be stored: their password already hashed.
#[derive(Debug)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub administrator: bool,
}

/// Changes to a person's account; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct UserChanges {
    pub display_name: Option<String>,
    /// Only with the proof that the caller may make administrators.
    pub administrator: Option<(bool, ServerWide)>,
}

fn username_taken(username: &str) -> Error {
    Error::Conflict(format!("the username \"{username}\" is taken"))
}

fn last_administrator() -> Error {
    Error::Conflict(
        "this is the last ACTIVE administrator: make another user an administrator first".into(),
    )
}

impl Store {
    pub async fn user(&self, id: i64) -> Result<Option<user::Model>, Error> {
        Ok(User::find_by_id(id).one(self.db()).await?)
    }

    /// The user called `username`, without regard to case.
    pub async fn user_by_username(&self, username: &str) -> Result<Option<user::Model>, Error> {
        Ok(User::find()
            .filter(Column::UsernameKey.eq(username_key(username)))
            .one(self.db())
            .await?)
    }

    /// Users in creation order, after the user `after`.
    pub async fn users(&self, after: Option<i64>, limit: u64) -> Result<Page<user::Model>, Error> {
        let mut query = User::find().order_by_asc(Column::Id).limit(limit + 1);
        if let Some(after) = after {
            query = query.filter(Column::Id.gt(after));
        }
        Ok(Page::from_overfetch(query.all(self.db()).await?, limit))
    }

    pub async fn count_users(&self) -> Result<u64, Error> {
        Ok(User::find().count(self.db()).await?)
    }

    pub async fn users_by_ids(&self, ids: &[i64]) -> Result<Vec<user::Model>, Error> {
        Ok(User::find()
            .filter(Column::Id.is_in(ids.iter().copied()))
            .all(self.db())
            .await?)
    }

    /// Stores a new ACTIVE user; CONFLICT when the username is taken, in
    /// any case.
    pub async fn create_user(
        &self,
        grant: &Grant<ServerWide>,
        new: NewUser,
    ) -> Result<user::Model, Error> {
        let txn = self.begin_write().await?;
        let user = insert_user(&txn, new).await?;
        self.commit_audited(txn, grant.audit(), Target::user(&user))
            .await?;
        Ok(user)
    }

    /// Applies `changes` to the account of `grant`. Taking the administrator
    /// flag from the last ACTIVE administrator is a CONFLICT.
    pub async fn update_user(
        &self,
        grant: &Grant<Account>,
        changes: UserChanges,
    ) -> Result<user::Model, Error> {
        let id = grant.scope().user_id();
        let txn = self.begin_write().await?;
        let mut update = User::update_many()
            .col_expr(Column::UpdatedAt, Expr::value(now()))
            .filter(Column::Id.eq(id));
        if let Some(name) = changes.display_name {
            update = update.col_expr(Column::DisplayName, Expr::value(name));
        }
        if let Some((administrator, _proof)) = changes.administrator {
            if !administrator {
                // Taken before the count, so that two administrators
                // demoting each other at once cannot both pass it.
                bump_auth_epoch(&txn).await?;
                ensure_another_administrator(&txn, id).await?;
            }
            update = update.col_expr(Column::Administrator, Expr::value(administrator));
        }
        let user = update
            .exec_with_returning(&txn)
            .await?
            .pop()
            .ok_or(Error::NotFound("user"))?;
        self.commit_audited(txn, grant.audit(), Target::user(&user))
            .await?;
        Ok(user)
    }

    /// Enables or disables user `id`. Disabling ends their sessions and
    /// holds from their next request; the last ACTIVE administrator cannot
    /// be disabled (CONFLICT).
    pub async fn set_user_state(
        &self,
        grant: &Grant<ServerWide>,
        id: i64,
        state: UserState,
    ) -> Result<user::Model, Error> {
        let txn = self.begin_write().await?;
        bump_auth_epoch(&txn).await?;
        if state == UserState::Disabled {
            ensure_another_administrator(&txn, id).await?;
            end_sessions(&txn, id, None).await?;
        }
        let user = User::update_many()
            .col_expr(Column::State, Expr::value(state.to_value()))
            .col_expr(Column::UpdatedAt, Expr::value(now()))
            .filter(Column::Id.eq(id))
            .exec_with_returning(&txn)
            .await?
            .pop()
            .ok_or(Error::NotFound("user"))?;
        self.commit_audited(txn, grant.audit(), Target::user(&user))
            .await?;
        Ok(user)
    }

    /// Gives user `id` a new password (its hash), ending all their sessions.
    pub async fn reset_user_password(
        &self,
        grant: &Grant<ServerWide>,
        id: i64,
        password_hash: String,
    ) -> Result<user::Model, Error> {
        let txn = self.begin_write().await?;
        let user = set_password(&txn, id, password_hash, None).await?;
        self.commit_audited(txn, grant.audit(), Target::user(&user))
            .await?;
        Ok(user)
    }

    /// The account holder's new password (its hash), ending their other
    /// sessions (all but `keep`, the session they changed it in).
    pub async fn change_password(
        &self,
        grant: &Grant<Account>,
        password_hash: String,
        keep: Option<i64>,
    ) -> Result<user::Model, Error> {
        let txn = self.begin_write().await?;
        let user = set_password(&txn, grant.scope().user_id(), password_hash, keep).await?;
        self.commit_audited(txn, grant.audit(), Target::user(&user))
            .await?;
        Ok(user)
    }

    /// Ends every session of the account holder.
    pub async fn sign_out_everywhere(&self, grant: &Grant<Account>) -> Result<user::Model, Error> {
        let id = grant.scope().user_id();
        let txn = self.begin_write().await?;
        let user = User::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or(Error::NotFound("user"))?;
        end_sessions(&txn, id, None).await?;
        bump_auth_epoch(&txn).await?;
        self.commit_audited(txn, grant.audit(), Target::user(&user))
            .await?;
        Ok(user)
    }

    /// Deletes user `id` if DISABLED (CONFLICT if ACTIVE), with their
    /// memberships and sessions. Keys they created stay their projects'.
    pub async fn delete_user(&self, grant: &Grant<ServerWide>, id: i64) -> Result<(), Error> {
        let txn = self.begin_write().await?;
        bump_auth_epoch(&txn).await?;
        let user = User::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or(Error::NotFound("user"))?;
        if user.state != UserState::Disabled {
            return Err(Error::Conflict(
                "only a DISABLED user can be deleted: disable them first".into(),
            ));
        }
        api_key::Entity::update_many()
            .col_expr(
                api_key::Column::CreatedByUserId,
                Expr::value(Option::<i64>::None),
            )
            .filter(api_key::Column::CreatedByUserId.eq(id))
            .exec(&txn)
            .await?;
        super::members::delete_memberships_of(&txn, id).await?;
        end_sessions(&txn, id, None).await?;
        User::delete_by_id(id).exec(&txn).await?;
        self.commit_audited(txn, grant.audit(), Target::user(&user))
            .await?;
        Ok(())
    }

    /// Turns access control on with `new` as an administrator: created, or
    /// if that username exists (from an earlier time access control was
    /// on), made an ACTIVE administrator with the new password.
    pub(in crate::store) async fn upsert_administrator(
        txn: &Txn,
        new: NewUser,
    ) -> Result<user::Model, Error> {
        let existing = User::find()
            .filter(Column::UsernameKey.eq(username_key(&new.username)))
            .one(txn)
            .await?;
        match existing {
            None => insert_user(txn, new).await,
            Some(user) => {
                end_sessions(txn, user.id, None).await?;
                Ok(User::update_many()
                    .col_expr(Column::PasswordHash, Expr::value(new.password_hash))
                    .col_expr(Column::Administrator, Expr::value(true))
                    .col_expr(Column::State, Expr::value(UserState::Active.to_value()))
                    .col_expr(Column::UpdatedAt, Expr::value(now()))
                    .filter(Column::Id.eq(user.id))
                    .exec_with_returning(txn)
                    .await?
                    .pop()
                    .ok_or(Error::NotFound("user"))?)
            }
        }
    }
}

async fn insert_user(txn: &Txn, new: NewUser) -> Result<user::Model, Error> {
    insert_account(
        txn,
        new.username,
        new.display_name,
        new.administrator,
        Some(new.password_hash),
    )
    .await
}

/// An ACTIVE user, with a password (`createUser`, the first administrator)
/// or without one (signing in through an identity provider); CONFLICT if
/// the username is taken.
pub(super) async fn insert_account(
    txn: &Txn,
    username: String,
    display_name: String,
    administrator: bool,
    password_hash: Option<String>,
) -> Result<user::Model, Error> {
    let now = now();
    user::ActiveModel {
        username_key: Set(username_key(&username)),
        username: Set(username.clone()),
        display_name: Set(display_name),
        administrator: Set(administrator),
        state: Set(UserState::Active),
        password_hash: Set(password_hash),
        created_at: Set(now),
        updated_at: Set(now),
        last_sign_in_at: Set(None),
        ..Default::default()
    }
    .insert(txn)
    .await
    .map_err(|err| conflict_on_unique(err, || username_taken(&username)))
}

/// Sets user `id`'s password hash and ends their sessions but `keep`; the
/// old password stops working everywhere (a revocation).
async fn set_password(
    txn: &Txn,
    id: i64,
    password_hash: String,
    keep: Option<i64>,
) -> Result<user::Model, Error> {
    bump_auth_epoch(txn).await?;
    end_sessions(txn, id, keep).await?;
    User::update_many()
        .col_expr(Column::PasswordHash, Expr::value(password_hash))
        .col_expr(Column::UpdatedAt, Expr::value(now()))
        .filter(Column::Id.eq(id))
        .exec_with_returning(txn)
        .await?
        .pop()
        .ok_or(Error::NotFound("user"))
}

/// Deletes user `id`'s sessions, but `keep`. The caller bumps the epoch.
async fn end_sessions(txn: &Txn, id: i64, keep: Option<i64>) -> Result<u64, Error> {
    let mut delete =
        user_session::Entity::delete_many().filter(user_session::Column::UserId.eq(id));
    if let Some(keep) = keep {
        delete = delete.filter(user_session::Column::Id.ne(keep));
    }
    Ok(delete.exec(txn).await?.rows_affected)
}

/// CONFLICT unless some ACTIVE administrator other than `id` remains (or
/// `id` is not an ACTIVE administrator: then nothing is taken away). Call
/// after `bump_auth_epoch`, whose row lock orders concurrent callers.
async fn ensure_another_administrator(txn: &Txn, id: i64) -> Result<(), Error> {
    let active_administrators = User::find()
        .filter(Column::Administrator.eq(true))
        .filter(Column::State.eq(UserState::Active))
        .select_only()
        .column(Column::Id)
        .into_tuple::<i64>()
        .all(txn)
        .await?;
    if active_administrators == [id] {
        return Err(last_administrator());
    }
    Ok(())
}
