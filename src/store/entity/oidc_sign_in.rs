//! A sign-in under way: sent to a provider, not back yet. Keyed by the
//! digest of its `state`; used once.

use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oidc_sign_in")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub state_hash: String,
    pub provider_id: i64,
    #[sea_orm(column_type = "Text")]
    pub nonce: String,
    /// The PKCE code verifier: only this replica set and the provider's
    /// token endpoint ever see it.
    #[sea_orm(column_type = "Text")]
    pub pkce_verifier: String,
    /// The callback URL the provider was given: the token request must
    /// name the same.
    #[sea_orm(column_type = "Text")]
    pub redirect_uri: String,
    /// Checked when the sign-in began (`return_to`): keyward's own origin or
    /// an allowed host.
    #[sea_orm(column_type = "Text")]
    pub return_to: String,
    pub expires_at: DateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("oidc_sign_in::Model")
            .field("provider_id", &self.provider_id)
            .field("return_to", &self.return_to)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
