//! One entry of the audit trail: who did what to which project or key, from
//! where, and whether it was allowed.

use sea_orm::entity::prelude::*;

use super::api_key::Role;

/// What was done (or attempted).
#[derive(Copy, Clone, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum AuditAction {
    #[sea_orm(string_value = "PROJECT_CREATED")]
    ProjectCreated,
    #[sea_orm(string_value = "PROJECT_UPDATED")]
    ProjectUpdated,
    #[sea_orm(string_value = "PROJECT_DELETED")]
    ProjectDeleted,
    #[sea_orm(string_value = "KEY_CREATED")]
    KeyCreated,
    #[sea_orm(string_value = "KEY_ACTIVATED")]
    KeyActivated,
    #[sea_orm(string_value = "KEY_DEACTIVATED")]
    KeyDeactivated,
    #[sea_orm(string_value = "KEY_RENAMED")]
    KeyRenamed,
    #[sea_orm(string_value = "KEY_DELETED")]
    KeyDeleted,
    #[sea_orm(string_value = "KEY_ROTATED")]
    KeyRotated,
    #[sea_orm(string_value = "KEY_EXPIRING")]
    KeyExpiring,
    #[sea_orm(string_value = "KEY_EXPIRED")]
    KeyExpired,
    #[sea_orm(string_value = "WEBHOOK_CREATED")]
    WebhookCreated,
    #[sea_orm(string_value = "WEBHOOK_UPDATED")]
    WebhookUpdated,
    #[sea_orm(string_value = "WEBHOOK_DELETED")]
    WebhookDeleted,
    #[sea_orm(string_value = "WEBHOOK_REDELIVERED")]
    WebhookRedelivered,
    /// keyward disabled a webhook whose deliveries kept failing.
    #[sea_orm(string_value = "WEBHOOK_DISABLED")]
    WebhookDisabled,
    #[sea_orm(string_value = "ACCESS_CONTROL_ENABLED")]
    AccessControlEnabled,
    #[sea_orm(string_value = "ACCESS_CONTROL_DISABLED")]
    AccessControlDisabled,
    /// The administrator's password reset on the command line (break-glass).
    #[sea_orm(string_value = "ADMIN_PASSWORD_RESET")]
    AdminPasswordReset,
    #[sea_orm(string_value = "USER_CREATED")]
    UserCreated,
    /// A user's display name or administrator flag changed.
    #[sea_orm(string_value = "USER_UPDATED")]
    UserUpdated,
    #[sea_orm(string_value = "USER_ENABLED")]
    UserEnabled,
    #[sea_orm(string_value = "USER_DISABLED")]
    UserDisabled,
    #[sea_orm(string_value = "USER_DELETED")]
    UserDeleted,
    /// An administrator set a user's password.
    #[sea_orm(string_value = "USER_PASSWORD_RESET")]
    UserPasswordReset,
    /// A user changed their own password.
    #[sea_orm(string_value = "PASSWORD_CHANGED")]
    PasswordChanged,
    #[sea_orm(string_value = "USER_SIGNED_OUT_EVERYWHERE")]
    UserSignedOutEverywhere,
    #[sea_orm(string_value = "MEMBER_ADDED")]
    MemberAdded,
    #[sea_orm(string_value = "MEMBER_ROLE_CHANGED")]
    MemberRoleChanged,
    #[sea_orm(string_value = "MEMBER_REMOVED")]
    MemberRemoved,
    #[sea_orm(string_value = "IDENTITY_PROVIDER_CREATED")]
    IdentityProviderCreated,
    #[sea_orm(string_value = "IDENTITY_PROVIDER_UPDATED")]
    IdentityProviderUpdated,
    #[sea_orm(string_value = "IDENTITY_PROVIDER_DELETED")]
    IdentityProviderDeleted,
    /// An administrator linked a user to a provider's identity.
    #[sea_orm(string_value = "USER_IDENTITY_LINKED")]
    UserIdentityLinked,
    /// A person signed in through a provider for the first time, and
    /// keyward created their user.
    #[sea_orm(string_value = "USER_SIGNED_UP")]
    UserSignedUp,
    #[sea_orm(string_value = "PROJECT_GROUP_ADDED")]
    ProjectGroupAdded,
    #[sea_orm(string_value = "PROJECT_GROUP_ROLE_CHANGED")]
    ProjectGroupRoleChanged,
    #[sea_orm(string_value = "PROJECT_GROUP_REMOVED")]
    ProjectGroupRemoved,
    #[sea_orm(string_value = "ACCESS_MODE_CHANGED")]
    AccessModeChanged,
}

/// Whether it happened, or why not.
#[derive(Copy, Clone, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum AuditOutcome {
    #[sea_orm(string_value = "SUCCEEDED")]
    Succeeded,
    #[sea_orm(string_value = "FORBIDDEN")]
    Forbidden,
    #[sea_orm(string_value = "NOT_FOUND")]
    NotFound,
    #[sea_orm(string_value = "CONFLICT")]
    Conflict,
}

/// Who acted.
#[derive(Copy, Clone, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ActorKind {
    #[sea_orm(string_value = "ANONYMOUS")]
    Anonymous,
    #[sea_orm(string_value = "ADMIN")]
    Admin,
    #[sea_orm(string_value = "USER")]
    User,
    #[sea_orm(string_value = "API_KEY")]
    ApiKey,
    /// keyward itself (a key reaching its expiry), or an operator on the
    /// command line (break-glass).
    #[sea_orm(string_value = "SYSTEM")]
    System,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeUtc,
    pub action: AuditAction,
    pub outcome: AuditOutcome,
    pub actor_kind: ActorKind,
    /// Row id of the acting key; it may have been deleted since.
    pub actor_key_id: Option<i64>,
    pub actor_access_key: Option<String>,
    pub actor_role: Option<Role>,
    /// Row id of the acting person (ADMIN or USER); they may have been
    /// deleted since.
    pub actor_user_id: Option<i64>,
    /// The acting person's username when they acted.
    pub actor_username: Option<String>,
    /// The project concerned; it may have been deleted since. None for
    /// server-wide actions.
    pub project_id: Option<i64>,
    pub target_key_id: Option<i64>,
    pub target_access_key: Option<String>,
    /// The target key's scopes (stored form), for events about a key.
    #[sea_orm(column_type = "Text", nullable)]
    pub target_scopes: Option<String>,
    pub client_address: Option<String>,
    pub request_id: Option<String>,
    /// Why a refused action was refused (the error's message); for some
    /// actions a note on how it came about (a KEY_EXPIRING threshold, a
    /// break-glass change from the command line).
    #[sea_orm(column_type = "Text", nullable)]
    pub reason: Option<String>,
    /// On KEY_ROTATED: the key created to replace the target key.
    pub new_key_id: Option<i64>,
    /// The column order of a table altered by later migrations: the acting
    /// person is above, the person acted on (user and member events) here.
    pub target_user_id: Option<i64>,
    pub target_username: Option<String>,
    /// The identity provider acted on, by name (provider and identity
    /// events).
    pub target_provider: Option<String>,
    /// The group acted on (a project's group members).
    pub target_group: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
