//! Server-wide settings: one row, id 1, created by the initial migration.

use sea_orm::entity::prelude::*;

/// The id of the only settings row.
/// Who may sign in through an identity provider (Rancher's access modes).
#[derive(Copy, Clone, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum AccessMode {
    /// Anyone the provider authenticates.
    #[sea_orm(string_value = "UNRESTRICTED")]
    Unrestricted,
    /// The allowed users and groups, and every member of a project
    /// (directly or through a group).
    #[sea_orm(string_value = "RESTRICTED")]
    Restricted,
    /// The allowed users and groups only.
    #[sea_orm(string_value = "REQUIRED")]
    Required,
}

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
    /// Who may sign in through an identity provider.
    pub access_mode: AccessMode,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("settings::Model")
            .field("access_control_enabled", &self.access_control_enabled)
            .field("auth_epoch", &self.auth_epoch)
            .field("access_mode", &self.access_mode)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
