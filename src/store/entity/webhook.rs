//! A webhook: an HTTP receiver of its project's audit events.

use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub project_id: i64,
    #[sea_orm(column_type = "Text")]
    pub url: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    /// Space-separated audit action names; empty for every action.
    #[sea_orm(column_type = "Text")]
    pub actions: String,
    pub enabled: bool,
    /// The `whsec_…` signing secret. Never published after creation.
    #[sea_orm(column_type = "Text")]
    pub signing_secret: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Since when every attempt has failed; null once one succeeds.
    pub failing_since: Option<DateTimeUtc>,
    /// When keyward disabled it for failing too long; null otherwise.
    pub disabled_at: Option<DateTimeUtc>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No URL (it may hold the receiver's token) and no secret.
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("project_id", &self.project_id)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
