//! Browser sessions: rows keyed by the BLAKE2s-256 digest of the cookie's value.
//!
//! The value is random (256 bits) and lives only in the browser; the
//! database keeps its hash, so a copy of the database (a backup) signs no
//! one in. A session ends at its absolute `expires_at`, after an idle time
//! (measured from `last_seen_at`, which requests move on at most about
//! once a minute), at sign-out, and with its user's password, state or
//! `signOutEverywhere`; every ending bumps the auth epoch, so it holds from
//! the next request on every replica.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use super::bounded::Txn;
use super::entity::user::{self, UserState};
use super::entity::user_session::{self, Column, Entity as Session};
use super::{Store, bump_auth_epoch, now};
use crate::error::Error;

impl Store {
    /// Starts a session of `user_id`, ending at `expires_at`, and notes the
    /// sign-in on the user.
    pub async fn create_session(
        &self,
        user_id: i64,
        token_hash: String,
        expires_at: DateTime<Utc>,
    ) -> Result<user_session::Model, Error> {
        let txn = self.begin_write().await?;
        let (session, _) = start_session(&txn, user_id, token_hash, expires_at).await?;
        self.commit_with_events(txn, []).await?;
        Ok(session)
    }

    /// The session whose cookie hashes to `token_hash`, with its user, if
    /// both exist and the user is ACTIVE. Expiry is the caller's to judge.
    pub async fn session(
        &self,
        token_hash: &str,
    ) -> Result<Option<(user_session::Model, user::Model)>, Error> {
        let Some(session) = Session::find()
            .filter(Column::TokenHash.eq(token_hash))
            .one(self.db())
            .await?
        else {
            return Ok(None);
        };
        let user = user::Entity::find_by_id(session.user_id)
            .one(self.db())
            .await?
            .filter(|user| user.state == UserState::Active);
        Ok(user.map(|user| (session, user)))
    }

    /// Moves a session's `last_seen_at` on to `at` (never back).
    pub async fn touch_session(&self, id: i64, at: DateTime<Utc>) -> Result<(), Error> {
        Session::update_many()
            .col_expr(Column::LastSeenAt, Expr::value(at))
            .filter(Column::Id.eq(id))
            .filter(Column::LastSeenAt.lt(at))
            .exec(self.db())
            .await?;
        Ok(())
    }

    /// Ends the session whose cookie hashes to `token_hash` (sign-out, or a
    /// session found expired), from the next request on every replica.
    pub async fn end_session(&self, token_hash: &str) -> Result<bool, Error> {
        let txn = self.begin_write().await?;
        let ended = Session::delete_many()
            .filter(Column::TokenHash.eq(token_hash))
            .exec(&txn)
            .await?
            .rows_affected;
        if ended == 0 {
            return Ok(false);
        }
        bump_auth_epoch(&txn).await?;
        self.commit_with_events(txn, []).await?;
        Ok(true)
    }

    /// Deletes sessions past their absolute end (housekeeping: an expired
    /// session is refused whether or not its row is still there).
    pub async fn prune_sessions(&self) -> Result<u64, Error> {
        Ok(Session::delete_many()
            .filter(Column::ExpiresAt.lte(now()))
            .exec(self.db())
            .await?
            .rows_affected)
    }
}

/// Inserts a session of `user_id` inside `txn` and notes the sign-in on the
/// user: a password sign-in's and a sign-in through a provider's.
pub(super) async fn start_session(
    txn: &Txn,
    user_id: i64,
    token_hash: String,
    expires_at: DateTime<Utc>,
) -> Result<(user_session::Model, user::Model), Error> {
    let now = now();
    let session = user_session::ActiveModel {
        user_id: Set(user_id),
        token_hash: Set(token_hash),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(expires_at),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    let user = user::Entity::update_many()
        .col_expr(user::Column::LastSignInAt, Expr::value(now))
        .filter(user::Column::Id.eq(user_id))
        .exec_with_returning(txn)
        .await?
        .pop()
        .ok_or(Error::NotFound("user"))?;
    Ok((session, user))
}
