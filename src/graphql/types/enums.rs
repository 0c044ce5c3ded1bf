//! Enumerations of the schema.

use async_graphql::Enum;

use crate::store;

/// Whether an API key's credentials are accepted.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "store::KeyStatus")]
pub enum KeyState {
    /// The key authenticates.
    Active,
    /// The key is refused; it can be activated again, or deleted.
    Inactive,
    /// The key is past its `expiresAt` and refused for good: it can be
    /// deleted, never activated again.
    Expired,
}

/// What an API key may do within its project.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "store::Role")]
pub enum Role {
    /// Reads the project; manages its keys of every role; updates the project.
    Owner,
    /// Reads the project; manages its MEMBER and READ_ONLY keys.
    Member,
    /// Reads the project and its keys; changes nothing.
    ReadOnly,
}

/// Who may sign in through an identity provider (`setAccessMode`). Whoever
/// it lets in has no rights until given a membership (or is in a group that
/// has one); the mode decides only who gets in at all.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "store::AccessMode")]
pub enum AccessMode {
    /// Anyone the identity provider authenticates.
    Unrestricted,
    /// The allowed users and groups, and anyone who is a member of a
    /// project, directly or through one of their groups.
    Restricted,
    /// The allowed users and groups only.
    Required,
}

/// Who a request is authenticated as.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ViewerKind {
    /// Access control is off: every caller acts with the administrator's rights.
    Anonymous,
    /// A signed-in administrator (see `Viewer.user`): every right on every
    /// project and on people.
    Admin,
    /// An API key, confined to its project.
    ApiKey,
    /// A signed-in user who is not an administrator (see `Viewer.user`):
    /// acts in the projects they are a member of, with their role there.
    User,
}

/// What an audit event records.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "store::AuditAction")]
pub enum AuditAction {
    /// `createProject`.
    ProjectCreated,
    /// `updateProject`.
    ProjectUpdated,
    /// `deleteProject` (its keys went with it).
    ProjectDeleted,
    /// `createApiKey`.
    KeyCreated,
    /// `setKeyState` to ACTIVE.
    KeyActivated,
    /// `setKeyState` to INACTIVE.
    KeyDeactivated,
    /// `renameKey`.
    KeyRenamed,
    /// `deleteKey`.
    KeyDeleted,
    /// `rotateKey`: the target is the old key, `newKeyId` the key that
    /// replaces it.
    KeyRotated,
    /// An ACTIVE key came within one of the server's expiry warning
    /// thresholds (`--key-expiry-warnings`, by default 7 days and 1 day);
    /// `reason` says which, and when the key expires. Once per key and
    /// threshold.
    KeyExpiring,
    /// A key reached its `expiresAt` (recorded within about a second).
    KeyExpired,
    /// `createWebhook`.
    WebhookCreated,
    /// `updateWebhook` (its URL, actions, description or enabled flag).
    WebhookUpdated,
    /// `deleteWebhook`.
    WebhookDeleted,
    /// `redeliverWebhookEvent`: an event queued to be sent to a webhook again.
    WebhookRedelivered,
    /// keyward disabled a webhook whose deliveries had all failed for five
    /// days; `updateWebhook` with `enabled: true` turns it back on.
    WebhookDisabled,
    /// `enableAccessControl`.
    AccessControlEnabled,
    /// `disableAccessControl`, or `keyward admin disable-access-control` on
    /// the command line (actor SYSTEM, with a `reason` saying so).
    AccessControlDisabled,
    /// `keyward admin reset-password` on the command line (break-glass): the
    /// administrator got a new password, and possibly a new username. Actor
    /// SYSTEM, with a `reason` saying so.
    AdminPasswordReset,
    /// `createUser`, or `enableAccessControl` creating the first administrator.
    UserCreated,
    /// `updateUser`: a display name or the administrator flag changed.
    UserUpdated,
    /// `setUserState` to ACTIVE.
    UserEnabled,
    /// `setUserState` to DISABLED: the user's sessions ended with it.
    UserDisabled,
    /// `deleteUser`.
    UserDeleted,
    /// `resetUserPassword`: an administrator set a user's password; the
    /// user's sessions ended with it.
    UserPasswordReset,
    /// `changePassword`: a user changed their own password; their other
    /// sessions ended with it.
    PasswordChanged,
    /// `signOutEverywhere`: every session of the user ended.
    UserSignedOutEverywhere,
    /// `addProjectMember`.
    MemberAdded,
    /// `setProjectMemberRole`.
    MemberRoleChanged,
    /// `removeProjectMember`.
    MemberRemoved,
    /// `createIdentityProvider` (`targetProvider` names it).
    IdentityProviderCreated,
    /// `updateIdentityProvider`.
    IdentityProviderUpdated,
    /// `deleteIdentityProvider`: the identities linked through it went with
    /// it; their users stay.
    IdentityProviderDeleted,
    /// `linkUserIdentity`: a user may now sign in through `targetProvider`.
    UserIdentityLinked,
    /// A person signed in through `targetProvider` for the first time, and
    /// keyward created their user (the actor is that person).
    UserSignedUp,
    /// `addProjectGroup` (`targetGroup` names the group).
    ProjectGroupAdded,
    /// `setProjectGroupRole`.
    ProjectGroupRoleChanged,
    /// `removeProjectGroup`.
    ProjectGroupRemoved,
    /// `setAccessMode`.
    AccessModeChanged,
}

/// Whether an audited action happened.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "store::AuditOutcome")]
pub enum AuditOutcome {
    /// It happened.
    Succeeded,
    /// Refused: the caller's role does not allow it.
    Forbidden,
    /// Refused: no such object, or one in a project the caller cannot see.
    NotFound,
    /// Refused: it contradicts the current state (an ACTIVE key deleted, a
    /// name already taken, …).
    Conflict,
}

/// Who performed an audited action.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "store::ActorKind")]
pub enum ActorKind {
    /// Anyone, while access control was off.
    Anonymous,
    /// An administrator (see `actorUserId` and `actorUsername`).
    Admin,
    /// An API key (see `actorAccessKey` and `actorRole`).
    ApiKey,
    /// A signed-in user who is not an administrator (see `actorUserId` and
    /// `actorUsername`).
    User,
    /// keyward itself (a key reaching its expiry, a failing webhook
    /// disabled), or an operator's break-glass command (`keyward admin`) on
    /// the command line.
    System,
}

/// The width of usage buckets (`ApiKey.usage`, `Project.usage`).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "store::UsageGranularity")]
pub enum UsageGranularity {
    /// One bucket per minute; kept 48 hours by default, at most 48 hours
    /// per answer.
    Minute,
    /// One bucket per hour; kept 90 days by default, at most 90 days per
    /// answer.
    Hour,
    /// One bucket per UTC day; kept 2 years by default, at most 731 days
    /// per answer.
    Day,
}
