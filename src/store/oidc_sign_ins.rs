//! Sign-ins under way through an identity provider: kept from the redirect
//! to the provider until the browser comes back with their `state`, on
//! whichever replica it reaches. Each is taken once (deleted as it is read,
//! so a replayed `state` finds nothing) and lives a few minutes.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use super::entity::oidc_sign_in::{self, Column, Entity as SignIn};
use super::{Store, now};
use crate::error::Error;

impl Store {
    /// Keeps a sign-in under way until `expires_at`, unless `most` are
    /// under way already (then `false`): whatever floods the start, the
    /// table stays bounded.
    pub async fn begin_oidc_sign_in(
        &self,
        row: oidc_sign_in::Model,
        most: u64,
    ) -> Result<bool, Error> {
        let under_way = SignIn::find()
            .filter(Column::ExpiresAt.gt(now()))
            .count(self.db())
            .await?;
        if under_way >= most {
            return Ok(false);
        }
        let active: oidc_sign_in::ActiveModel = row.into();
        SignIn::insert(active).exec(self.db()).await?;
        Ok(true)
    }

    /// The sign-in whose `state` hashes to `state_hash`, removed so that it
    /// cannot be taken twice; `None` if there is none or it has expired.
    pub async fn take_oidc_sign_in(
        &self,
        state_hash: &str,
    ) -> Result<Option<oidc_sign_in::Model>, Error> {
        // One statement: of two requests racing with the same state, only
        // the one whose DELETE removed the row gets it.
        let taken = SignIn::delete_many()
            .filter(Column::StateHash.eq(state_hash))
            .exec_with_returning(self.db())
            .await?
            .pop();
        Ok(taken.filter(|row| row.expires_at > now()))
    }

    /// Forgets sign-ins that expired before `before`.
    pub async fn prune_oidc_sign_ins(&self, before: DateTime<Utc>) -> Result<u64, Error> {
        Ok(SignIn::delete_many()
            .filter(Column::ExpiresAt.lt(before))
            .exec(self.db())
            .await?
            .rows_affected)
    }
}
