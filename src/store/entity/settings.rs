//! Server-wide settings: one row, id 1, created by the initial migration.

use sea_orm::entity::prelude::*;

/// The id of the only settings row.
pub const SETTINGS_ID: i32 = 1;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    pub access_control_enabled: bool,
    pub updated_at: DateTimeUtc,
    /// Bumped in the transaction of every change that can revoke credentials
    /// (key state, key or project deletion, access control, users, memberships, sessions). A cached
    /// verification is trusted only while the epoch it was made in is current.
    pub auth_epoch: i64,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("settings::Model")
            .field("access_control_enabled", &self.access_control_enabled)
            .field("auth_epoch", &self.auth_epoch)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
