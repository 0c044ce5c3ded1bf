//! An OpenID Connect provider people sign in through.

use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "identity_provider")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// A slug (`a-z 0-9 -`, 1 to 32 characters), used in sign-in URLs.
    #[sea_orm(column_type = "Text", unique)]
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub issuer_url: String,
    #[sea_orm(column_type = "Text")]
    pub client_id: String,
    /// What keyward authenticates to the token endpoint with, kept as given
    /// because it is sent. Never published, logged or put in the trail.
    #[sea_orm(column_type = "Text")]
    pub client_secret: String,
    /// Space-separated, as OAuth writes scopes.
    #[sea_orm(column_type = "Text")]
    pub scopes: String,
    #[sea_orm(column_type = "Text")]
    pub username_claim: String,
    #[sea_orm(column_type = "Text")]
    pub groups_claim: String,
    pub enabled: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl Model {
    pub fn scope_list(&self) -> Vec<String> {
        self.scopes.split_whitespace().map(str::to_owned).collect()
    }
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("identity_provider::Model")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("issuer_url", &self.issuer_url)
            .field("client_id", &self.client_id)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
