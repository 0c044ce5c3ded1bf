//! Identity providers: the OpenID Connect providers people sign in through.
//!
//! Deleting a provider deletes the identities linked through it (their
//! users stay, and can be linked to another provider) and the sign-ins
//! under way through it. Changing a provider touches no session: who signed
//! in before stays signed in until their session ends.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::access::{Grant, ServerWide};
use super::audit::Target;
use super::entity::identity_provider::{self, Column, Entity as Provider};
use super::{Store, conflict_on_unique, now};
use crate::error::Error;

/// A provider about to be stored, checked already.
#[derive(Clone)]
pub struct NewIdentityProvider {
    pub name: String,
    pub issuer_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: Vec<String>,
    pub username_claim: String,
    pub groups_claim: String,
}

/// Changes to a provider; `None` leaves a field as it is.
#[derive(Clone, Default)]
pub struct IdentityProviderChanges {
    pub name: Option<String>,
    pub issuer_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub username_claim: Option<String>,
    pub groups_claim: Option<String>,
    pub enabled: Option<bool>,
}

fn name_taken(name: &str) -> Error {
    Error::Conflict(format!(
        "an identity provider named \"{name}\" exists already"
    ))
}

impl Store {
    /// Every provider, by name.
    pub async fn identity_providers(&self) -> Result<Vec<identity_provider::Model>, Error> {
        Ok(Provider::find()
            .order_by_asc(Column::Name)
            .all(self.db())
            .await?)
    }

    pub async fn identity_provider(
        &self,
        id: i64,
    ) -> Result<Option<identity_provider::Model>, Error> {
        Ok(Provider::find_by_id(id).one(self.db()).await?)
    }

    /// The provider named `name`, enabled or not.
    pub async fn identity_provider_named(
        &self,
        name: &str,
    ) -> Result<Option<identity_provider::Model>, Error> {
        Ok(Provider::find()
            .filter(Column::Name.eq(name))
            .one(self.db())
            .await?)
    }

    pub async fn create_identity_provider(
        &self,
        grant: &Grant<ServerWide>,
        new: NewIdentityProvider,
    ) -> Result<identity_provider::Model, Error> {
        let now = now();
        let txn = self.begin_write().await?;
        let name = new.name.clone();
        let provider = identity_provider::ActiveModel {
            name: Set(new.name),
            issuer_url: Set(new.issuer_url),
            client_id: Set(new.client_id),
            client_secret: Set(new.client_secret),
            scopes: Set(new.scopes.join(" ")),
            username_claim: Set(new.username_claim),
            groups_claim: Set(new.groups_claim),
            enabled: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(|err| conflict_on_unique(err, || name_taken(&name)))?;
        self.commit_audited(txn, grant.audit(), Target::provider(&provider.name))
            .await?;
        Ok(provider)
    }

    /// Applies `changes` to provider `id`; NOT_FOUND if there is none.
    pub async fn update_identity_provider(
        &self,
        grant: &Grant<ServerWide>,
        id: i64,
        changes: IdentityProviderChanges,
    ) -> Result<identity_provider::Model, Error> {
        let txn = self.begin_write().await?;
        let current = Provider::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or(Error::NotFound("identity provider"))?;
        let mut row: identity_provider::ActiveModel = current.into();
        if let Some(name) = changes.name {
            row.name = Set(name);
        }
        if let Some(issuer_url) = changes.issuer_url {
            row.issuer_url = Set(issuer_url);
        }
        if let Some(client_id) = changes.client_id {
            row.client_id = Set(client_id);
        }
        if let Some(client_secret) = changes.client_secret {
            row.client_secret = Set(client_secret);
        }
        if let Some(scopes) = changes.scopes {
            row.scopes = Set(scopes.join(" "));
        }
        if let Some(claim) = changes.username_claim {
            row.username_claim = Set(claim);
        }
        if let Some(claim) = changes.groups_claim {
            row.groups_claim = Set(claim);
        }
        if let Some(enabled) = changes.enabled {
            row.enabled = Set(enabled);
        }
        row.updated_at = Set(now());
        let name = match &row.name {
            sea_orm::ActiveValue::Set(name) | sea_orm::ActiveValue::Unchanged(name) => name.clone(),
            sea_orm::ActiveValue::NotSet => String::new(),
        };
        let provider = row
            .update(&txn)
            .await
            .map_err(|err| conflict_on_unique(err, || name_taken(&name)))?;
        self.commit_audited(txn, grant.audit(), Target::provider(&provider.name))
            .await?;
        Ok(provider)
    }

    /// Deletes provider `id`; NOT_FOUND if there is none.
    pub async fn delete_identity_provider(
        &self,
        grant: &Grant<ServerWide>,
        id: i64,
    ) -> Result<identity_provider::Model, Error> {
        let txn = self.begin_write().await?;
        let provider = Provider::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or(Error::NotFound("identity provider"))?;
        Provider::delete_by_id(id).exec(&txn).await?;
        self.commit_audited(txn, grant.audit(), Target::provider(&provider.name))
            .await?;
        Ok(provider)
    }
}
