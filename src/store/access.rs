//! Writes by proof: every write a request makes takes a [`Grant`], which
//! holds what the caller was proven allowed to do (a scope) and who is doing
//! it (the [`AuditContext`] its event is recorded with).
//!
//! A scope is made only by a permission check of the caller's principal
//! (`auth::principal`, the one file that calls the scopes' `proven`
//! constructors, which a test keeps so), and a grant only by the mutation
//! gate (`graphql::context::Mutating::grant`). So a resolver that did not
//! check has nothing to hand the store, and does not compile; and the store
//! takes the project (and the roles) a write may touch from the scope, not
//! from the request, so a check of one project cannot license a write to
//! another. This is lldap's `get_admin_handler` (a check that hands back
//! the handle to write with), for keys, people and administrators alike.
//!
//! Outside the crate no scope can be made at all:
//!
//! ```compile_fail,E0451
//! let forged = keyward::store::ProjectOwner { project_id: 1 };
//! ```

use super::audit::AuditContext;
use super::entity::api_key::Role;

/// What a write was proven allowed to do, and who does it.
#[derive(Debug)]
pub struct Grant<S> {
    audit: AuditContext,
    scope: S,
}

impl<S> Grant<S> {
    /// Made by the mutation gate only (`graphql::context::Mutating::grant`),
    /// from a scope a permission check returned.
    pub(crate) fn new(audit: AuditContext, scope: S) -> Self {
        Self { audit, scope }
    }

    pub fn scope(&self) -> &S {
        &self.scope
    }

    pub(in crate::store) fn audit(&self) -> &AuditContext {
        &self.audit
    }
}

/// Server-wide changes: people, projects' deletion, access control. The
/// administrator's (and anyone's while access control is off).
#[derive(Clone, Copy, Debug)]
pub struct ServerWide {
    _proof: (),
}

impl ServerWide {
    pub(crate) fn proven() -> Self {
        Self { _proof: () }
    }
}

/// Creating a project: any ACTIVE person, who becomes its first OWNER
/// member (`owner`), or anyone while access control is off (no member).
#[derive(Clone, Copy, Debug)]
pub struct ProjectCreator {
    owner: Option<i64>,
}

impl ProjectCreator {
    pub(crate) fn proven(owner: Option<i64>) -> Self {
        Self { owner }
    }

    /// The user who becomes the new project's first OWNER member.
    pub fn owner(&self) -> Option<i64> {
        self.owner
    }
}

/// Changing what only a project's owners change: the project itself, its
/// webhooks, its members. The administrator, an OWNER member, an OWNER key.
#[derive(Clone, Copy, Debug)]
pub struct ProjectOwner {
    project_id: i64,
}

impl ProjectOwner {
    pub(crate) fn proven(project_id: i64) -> Self {
        Self { project_id }
    }

    pub fn project_id(&self) -> i64 {
        self.project_id
    }
}

/// Managing `project_id`'s keys of the roles in `roles` (OWNER: all;
/// MEMBER: MEMBER and READ_ONLY).
#[derive(Clone, Debug)]
pub struct KeyManager {
    project_id: i64,
    roles: Vec<Role>,
    /// The person managing, recorded as a new key's creator.
    person: Option<i64>,
}

impl KeyManager {
    pub(crate) fn proven(project_id: i64, roles: Vec<Role>, person: Option<i64>) -> Self {
        Self {
            project_id,
            roles,
            person,
        }
    }

    pub fn project_id(&self) -> i64 {
        self.project_id
    }

    /// Whether keys of `role` may be managed under this grant.
    pub fn covers(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub(in crate::store) fn roles(&self) -> &[Role] {
        &self.roles
    }

    pub(in crate::store) fn person(&self) -> Option<i64> {
        self.person
    }
}

/// Changing one person's own account (their display name, their sessions):
/// that person, or an administrator.
#[derive(Clone, Copy, Debug)]
pub struct Account {
    user_id: i64,
}

impl Account {
    pub(crate) fn proven(user_id: i64) -> Self {
        Self { user_id }
    }

    pub fn user_id(&self) -> i64 {
        self.user_id
    }
}

/// Grants for the store's own unit tests, which have no request to check.
#[cfg(test)]
impl<S> Grant<S> {
    pub(crate) fn for_tests(action: super::AuditAction, scope: S) -> Self {
        Self::new(AuditContext::system(action), scope)
    }
}

#[cfg(test)]
impl ServerWide {
    pub(crate) fn for_tests() -> Self {
        Self { _proof: () }
    }
}

#[cfg(test)]
impl ProjectOwner {
    pub(crate) fn for_tests(project_id: i64) -> Self {
        Self { project_id }
    }
}

#[cfg(test)]
impl ProjectCreator {
    pub(crate) fn for_tests() -> Self {
        Self { owner: None }
    }
}
