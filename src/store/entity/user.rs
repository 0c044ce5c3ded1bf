//! A person: a user account, which signs in with a password (or, later,
//! through an identity provider) and acts in projects by membership.

use sea_orm::entity::prelude::*;

/// Whether a user may sign in.
#[derive(Copy, Clone, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum UserState {
    #[sea_orm(string_value = "ACTIVE")]
    Active,
    #[sea_orm(string_value = "DISABLED")]
    Disabled,
}

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "app_user")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// As given at creation; 1 to 128 characters, no ':'.
    #[sea_orm(column_type = "Text")]
    pub username: String,
    /// The username in lower case: unique, so usernames are unique without
    /// regard to case.
    #[sea_orm(column_type = "Text", unique)]
    pub username_key: String,
    #[sea_orm(column_type = "Text")]
    pub display_name: String,
    pub administrator: bool,
    pub state: UserState,
    /// argon2id PHC string of the password. Never published.
    #[sea_orm(column_type = "Text", nullable)]
    pub password_hash: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub last_sign_in_at: Option<DateTimeUtc>,
}

/// The key a username is unique by.
pub fn username_key(username: &str) -> String {
    username.to_lowercase()
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("user::Model")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("administrator", &self.administrator)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
