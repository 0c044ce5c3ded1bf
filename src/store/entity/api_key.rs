//! An API key: an access key, the argon2id hash of its secret, and its metadata.

use sea_orm::entity::prelude::*;

use crate::scopes::Scopes;

/// Whether a key's credentials are accepted.
#[derive(Copy, Clone, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum KeyState {
    #[sea_orm(string_value = "ACTIVE")]
    Active,
    #[sea_orm(string_value = "INACTIVE")]
    Inactive,
}

/// What a key may do inside its project.
#[derive(Copy, Clone, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Role {
    #[sea_orm(string_value = "OWNER")]
    Owner,
    #[sea_orm(string_value = "MEMBER")]
    Member,
    #[sea_orm(string_value = "READ_ONLY")]
    ReadOnly,
}

impl Role {
    /// Every role, least first.
    pub const ASCENDING: [Role; 3] = [Role::ReadOnly, Role::Member, Role::Owner];

    /// The name clients use (as in GraphQL and `/verify`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "OWNER",
            Self::Member => "MEMBER",
            Self::ReadOnly => "READ_ONLY",
        }
    }

    /// The role named `name` exactly (`OWNER`, `MEMBER`, `READ_ONLY`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ASCENDING
            .into_iter()
            .find(|role| role.as_str() == name)
    }

    /// Whether this role has every right of `least`: OWNER > MEMBER >
    /// READ_ONLY.
    pub fn at_least(self, least: Role) -> bool {
        let rank = |role| Self::ASCENDING.iter().position(|r| *r == role);
        rank(self) >= rank(least)
    }
}

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_key")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub project_id: i64,
    #[sea_orm(unique)]
    pub access_key: String,
    /// argon2id PHC string of the secret key. Never published.
    #[sea_orm(column_type = "Text")]
    pub secret_hash: String,
    #[sea_orm(column_type = "Text")]
    pub name: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    pub state: KeyState,
    pub role: Role,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
    /// From this instant on the key is refused, whatever its state.
    pub expires_at: Option<DateTimeUtc>,
    /// Failed authentications naming this key (one counter, not one row each).
    pub failed_auth_count: i64,
    pub last_failed_auth_at: Option<DateTimeUtc>,
    /// Whether the trail has a KEY_EXPIRED event for this key yet.
    pub expiry_recorded: bool,
    /// The key's scopes, space-separated and sorted (see [`Scopes`]).
    #[sea_orm(column_type = "Text")]
    pub scopes: String,
    /// The key this one replaced by `rotateKey`, if any (unique: a key has
    /// at most one successor).
    pub rotated_from_id: Option<i64>,
    /// When this key was rotated (`rotateKey`): a key is rotated once.
    pub rotated_at: Option<DateTimeUtc>,
    /// The person who created the key, if a person did (not a key, nor
    /// anyone while access control was off); cleared when they are deleted.
    pub created_by_user_id: Option<i64>,
}

impl Model {
    /// Whether the key has expired at `now`.
    pub fn expired_at(&self, now: DateTimeUtc) -> bool {
        self.expires_at.is_some_and(|expires_at| expires_at <= now)
    }

    /// The key's scopes.
    pub fn scopes(&self) -> Scopes {
        Scopes::from_stored(&self.scopes)
    }
}

// Written by hand so that the hash never lands in a log line.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("api_key::Model")
            .field("id", &self.id)
            .field("project_id", &self.project_id)
            .field("access_key", &self.access_key)
            .field("secret_hash", &"<redacted>")
            .field("state", &self.state)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::project::Entity",
        from = "Column::ProjectId",
        to = "super::project::Column::Id",
        on_delete = "Cascade"
    )]
    Project,
}

impl Related<super::project::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
