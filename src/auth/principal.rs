//! Who is calling, and what they may do.
//!
//! A request's credentials are resolved once, in [`super::Authenticator`], into
//! a [`Principal`]. Resolvers only ask it questions; none of them looks at
//! headers or hashes.
//!
//! The checks that allow a change return its scope (`store::access`): the
//! proof the store's write takes. This file is the only one that makes
//! scopes (their `proven` constructors), which
//! `tests::only_the_principal_proves_scopes` keeps so. Keys, people and
//! administrators go through the same checks: a person acts in a project
//! with their membership's role exactly as a key of that role does.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::Error;
use crate::scopes::Scopes;
use crate::store::{Account, KeyManager, ProjectCreator, ProjectOwner, Role, ServerWide, api_key};

/// The caller of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// Access control is off: everyone acts with the administrator's rights.
    Anonymous,
    /// A signed-in person: an administrator, or a user acting in the
    /// projects they are a member of.
    Person(PersonPrincipal),
    /// An active API key of an existing project.
    ApiKey(KeyPrincipal),
}

/// An authenticated API key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPrincipal {
    pub key_id: i64,
    /// The key's public half, named in the audit trail.
    pub access_key: String,
    pub project_id: i64,
    pub role: Role,
    /// Checked on every request, cache or not: an expired key is refused at
    /// the exact second on every replica.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Fixed at the key's creation, like its key pair.
    pub scopes: Scopes,
}

impl From<api_key::Model> for KeyPrincipal {
    fn from(row: api_key::Model) -> Self {
        Self {
            scopes: row.scopes(),
            key_id: row.id,
            access_key: row.access_key,
            project_id: row.project_id,
            role: row.role,
            expires_at: row.expires_at,
        }
    }
}

/// An authenticated person, as verified in one auth epoch: a new epoch
/// (any membership, role, state, password or session change anywhere) makes
/// the authenticator read them again before trusting this.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonPrincipal {
    pub user_id: i64,
    pub username: String,
    pub administrator: bool,
    /// Their role in each project they are a member of: the highest of their
    /// own membership and those of their groups.
    pub memberships: Arc<BTreeMap<i64, Role>>,
    /// The groups their identity provider said they are in at their last
    /// sign-in, sorted (none for people who sign in with a password only).
    pub groups: Arc<Vec<String>>,
    /// How they proved who they are.
    pub via: PersonCredential,
}

/// How a person authenticated.
#[derive(Clone, PartialEq, Eq)]
pub enum PersonCredential {
    /// Basic credentials (username and password), verified against this
    /// hash: a new password (a new hash) invalidates the verification.
    Password { hash: String },
    /// A session cookie: the session's row.
    Session {
        id: i64,
        token_hash: String,
        expires_at: chrono::DateTime<chrono::Utc>,
        last_seen_at: chrono::DateTime<chrono::Utc>,
    },
}

impl std::fmt::Debug for PersonCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Password { .. } => f.write_str("Password"),
            Self::Session { id, expires_at, .. } => f
                .debug_struct("Session")
                .field("id", id)
                .field("expires_at", expires_at)
                .finish_non_exhaustive(),
        }
    }
}

impl PersonPrincipal {
    /// Whether `other` is this person with the same rights and the same
    /// credential (a session's `last_seen_at` moving on changes nothing).
    pub fn same_rights(&self, other: &Self) -> bool {
        let credential = |person: &Self| match &person.via {
            PersonCredential::Password { hash } => (Some(hash.clone()), None),
            PersonCredential::Session { id, .. } => (None, Some(*id)),
        };
        self.user_id == other.user_id
            && self.administrator == other.administrator
            && self.memberships == other.memberships
            && self.groups == other.groups
            && credential(self) == credential(other)
    }

    /// The session this request came in, if it came with the cookie.
    pub fn session_id(&self) -> Option<i64> {
        match &self.via {
            PersonCredential::Session { id, .. } => Some(*id),
            PersonCredential::Password { .. } => None,
        }
    }
}

/// What a caller may do in one project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Standing {
    /// Everything: the administrator, or anyone while access control is off.
    Full,
    /// What this role allows: a key of the project, or a member.
    Role(Role),
    /// Nothing: the project must look missing.
    Outside,
}

impl Principal {
    /// Anonymous callers (access control off) and administrators reach
    /// everything.
    pub fn is_admin(&self) -> bool {
        match self {
            Self::Anonymous => true,
            Self::Person(person) => person.administrator,
            Self::ApiKey(_) => false,
        }
    }

    pub fn key(&self) -> Option<&KeyPrincipal> {
        match self {
            Self::ApiKey(key) => Some(key),
            _ => None,
        }
    }

    pub fn person(&self) -> Option<&PersonPrincipal> {
        match self {
            Self::Person(person) => Some(person),
            _ => None,
        }
    }

    /// The project a key is confined to; `None` for everyone else.
    pub fn confined_to(&self) -> Option<i64> {
        self.key().map(|key| key.project_id)
    }

    /// The projects the caller may see, when not all of them: a key's own,
    /// a user's memberships. `None` for administrators.
    pub fn visible_projects(&self) -> Option<Vec<i64>> {
        match self {
            _ if self.is_admin() => None,
            Self::ApiKey(key) => Some(vec![key.project_id]),
            Self::Person(person) => Some(person.memberships.keys().copied().collect()),
            Self::Anonymous => None,
        }
    }

    fn standing(&self, project_id: i64) -> Standing {
        match self {
            _ if self.is_admin() => Standing::Full,
            Self::ApiKey(key) if key.project_id == project_id => Standing::Role(key.role),
            Self::Person(person) => person
                .memberships
                .get(&project_id)
                .map_or(Standing::Outside, |role| Standing::Role(*role)),
            _ => Standing::Outside,
        }
    }

    /// The caller's role in `project_id`: `None` for administrators (who
    /// have every right) and for projects they cannot see.
    pub fn role_in(&self, project_id: i64) -> Option<Role> {
        match self.standing(project_id) {
            Standing::Role(role) => Some(role),
            Standing::Full | Standing::Outside => None,
        }
    }

    /// Whether the caller can see anything of `project_id`. Objects of other
    /// projects must be indistinguishable from missing ones.
    pub fn can_see(&self, project_id: i64) -> bool {
        self.standing(project_id) != Standing::Outside
    }

    /// Fails with NOT_FOUND (never FORBIDDEN) for another project's objects.
    pub fn require_visible(&self, project_id: i64, what: &'static str) -> Result<(), Error> {
        if self.can_see(project_id) {
            Ok(())
        } else {
            Err(Error::NotFound(what))
        }
    }

    /// Server-wide actions: people, deleting projects, access control.
    pub fn require_admin(&self) -> Result<ServerWide, Error> {
        if self.is_admin() {
            Ok(ServerWide::proven())
        } else {
            Err(Error::Forbidden("only an administrator may do this"))
        }
    }

    /// `createProject`: any signed-in person (who becomes its first OWNER
    /// member), or anyone while access control is off; never a key.
    pub fn require_project_creator(&self) -> Result<ProjectCreator, Error> {
        match self {
            Self::Anonymous => Ok(ProjectCreator::proven(None)),
            Self::Person(person) => Ok(ProjectCreator::proven(Some(person.user_id))),
            Self::ApiKey(_) => Err(Error::Forbidden(
                "only an administrator or a signed-in user may create projects",
            )),
        }
    }

    /// `updateProject`: an administrator, or an OWNER (key or member) of
    /// the project.
    pub fn require_project_owner(&self, project_id: i64) -> Result<ProjectOwner, Error> {
        self.require_owner(project_id, "only an OWNER of the project may update it")
    }

    /// Reading and managing `project_id`'s webhooks: the same callers as
    /// [`Self::require_project_owner`]. A webhook sees every event of its
    /// project, so it takes the role that sees and changes everything there.
    pub fn require_webhook_manager(&self, project_id: i64) -> Result<ProjectOwner, Error> {
        self.require_owner(
            project_id,
            "only an OWNER of the project may read or manage its webhooks",
        )
    }

    /// Managing `project_id`'s members: administrators and the project's
    /// OWNER members, nobody else (a key manages no people).
    pub fn require_member_manager(&self, project_id: i64) -> Result<ProjectOwner, Error> {
        if self.key().is_some() {
            self.require_visible(project_id, "project")?;
            return Err(Error::Forbidden(
                "only an administrator or an OWNER member manages a project's members",
            ));
        }
        self.require_owner(
            project_id,
            "only an administrator or an OWNER member manages a project's members",
        )
    }

    /// An administrator (anyone while access control is off), or an OWNER
    /// of `project_id`; any other role is refused with `refusal`.
    fn require_owner(&self, project_id: i64, refusal: &'static str) -> Result<ProjectOwner, Error> {
        match self.standing(project_id) {
            Standing::Full | Standing::Role(Role::Owner) => Ok(ProjectOwner::proven(project_id)),
            Standing::Role(_) => Err(Error::Forbidden(refusal)),
            Standing::Outside => Err(Error::NotFound("project")),
        }
    }

    /// Creating, changing or deleting a key of role `target_role` in
    /// `project_id`: OWNERs manage any key of their project, MEMBERs only
    /// MEMBER and READ_ONLY keys, READ_ONLY callers none.
    pub fn require_key_manager(
        &self,
        project_id: i64,
        target_role: Role,
    ) -> Result<KeyManager, Error> {
        let roles = match self.standing(project_id) {
            Standing::Outside => return Err(Error::NotFound("API key")),
            Standing::Full | Standing::Role(Role::Owner) => Role::ASCENDING.to_vec(),
            Standing::Role(Role::Member) if target_role != Role::Owner => {
                vec![Role::ReadOnly, Role::Member]
            }
            Standing::Role(Role::Member) => {
                return Err(Error::Forbidden(
                    "a MEMBER may only manage MEMBER and READ_ONLY keys",
                ));
            }
            Standing::Role(Role::ReadOnly) => {
                return Err(Error::Forbidden("a READ_ONLY caller cannot change keys"));
            }
        };
        let person = self.person().map(|person| person.user_id);
        Ok(KeyManager::proven(project_id, roles, person))
    }

    /// Granting `scopes` to a new key never escalates: administrators and
    /// people grant any (scopes restrict keys, not people), a key only
    /// scopes it holds itself.
    pub fn require_grantable(&self, scopes: &Scopes) -> Result<(), Error> {
        match self.key() {
            None => Ok(()),
            Some(key) if scopes.first_missing_from(&key.scopes).is_none() => Ok(()),
            Some(_) => Err(Error::Forbidden(
                "a key may only grant scopes that it holds itself",
            )),
        }
    }

    /// Changing `user_id`'s own account (display name, sessions): that
    /// person, or an administrator.
    pub fn require_account(&self, user_id: i64) -> Result<Account, Error> {
        match self {
            Self::Person(person) if person.user_id == user_id => Ok(Account::proven(user_id)),
            _ if self.is_admin() => Ok(Account::proven(user_id)),
            _ => Err(Error::Forbidden(
                "only the user themself or an administrator may do this",
            )),
        }
    }

    /// What only the signed-in person does to their own account (changing
    /// their password): never an administrator for someone else, never a key.
    pub fn require_self(&self) -> Result<(Account, &PersonPrincipal), Error> {
        match self {
            Self::Person(person) => Ok((Account::proven(person.user_id), person)),
            _ => Err(Error::Forbidden("only a signed-in user may do this")),
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn key(project_id: i64, role: Role) -> Principal {
        Principal::ApiKey(KeyPrincipal {
            key_id: 1,
            access_key: "AK".into(),
            project_id,
            role,
            expires_at: None,
            scopes: Scopes::from_stored("deploy metrics:read"),
        })
    }

    fn person(administrator: bool, memberships: &[(i64, Role)]) -> Principal {
        Principal::Person(PersonPrincipal {
            user_id: 7,
            username: "ada".into(),
            administrator,
            memberships: Arc::new(memberships.iter().copied().collect()),
            groups: Arc::default(),
            via: PersonCredential::Password {
                hash: "$argon2id$…".into(),
            },
        })
    }

    fn admin() -> Principal {
        person(true, &[])
    }

    fn code<T>(result: Result<T, Error>) -> Option<ErrorCode> {
        result.err().map(|e| e.code())
    }

    #[test]
    fn keys_and_members_manage_keys_by_role() {
        use Role::*;
        let cases = [
            (Owner, Owner, None),
            (Owner, ReadOnly, None),
            (Member, Owner, Some(ErrorCode::Forbidden)),
            (Member, Member, None),
            (Member, ReadOnly, None),
            (ReadOnly, ReadOnly, Some(ErrorCode::Forbidden)),
        ];
        for (caller, target, expected) in cases {
            for principal in [key(1, caller), person(false, &[(1, caller)])] {
                let got = code(principal.require_key_manager(1, target));
                assert_eq!(got, expected, "{principal:?} managing {target:?}");
            }
        }
    }

    #[test]
    fn a_key_manager_grant_covers_only_the_roles_it_was_proven_for() {
        let member = person(false, &[(1, Role::Member)]);
        let Ok(grant) = member.require_key_manager(1, Role::ReadOnly) else {
            panic!("a MEMBER manages READ_ONLY keys");
        };
        assert!(grant.covers(Role::Member) && grant.covers(Role::ReadOnly));
        assert!(!grant.covers(Role::Owner));
        assert_eq!(grant.project_id(), 1);
    }

    #[test]
    fn other_projects_read_as_missing() {
        for role in [Role::Owner, Role::Member, Role::ReadOnly] {
            for caller in [key(1, role), person(false, &[(1, role)])] {
                assert!(!caller.can_see(2));
                let got = code(caller.require_key_manager(2, Role::ReadOnly));
                assert_eq!(got, Some(ErrorCode::NotFound));
                let got = code(caller.require_project_owner(2));
                assert_eq!(got, Some(ErrorCode::NotFound));
            }
        }
        let nobody = person(false, &[]);
        assert!(!nobody.can_see(1));
        assert_eq!(nobody.visible_projects(), Some(vec![]));
    }

    #[test]
    fn admins_do_everything_keys_no_server_wide_actions() {
        for admin in [Principal::Anonymous, admin()] {
            assert!(admin.require_admin().is_ok());
            assert!(admin.require_key_manager(9, Role::Owner).is_ok());
            assert!(admin.require_member_manager(9).is_ok());
            assert_eq!(admin.visible_projects(), None);
        }
        for caller in [key(1, Role::Owner), person(false, &[(1, Role::Owner)])] {
            assert_eq!(code(caller.require_admin()), Some(ErrorCode::Forbidden));
        }
        assert_eq!(
            code(key(1, Role::Member).require_project_owner(1)),
            Some(ErrorCode::Forbidden)
        );
    }

    #[test]
    fn members_are_managed_by_administrators_and_owner_members_only() {
        let cases = [
            (person(false, &[(1, Role::Owner)]), None),
            (
                person(false, &[(1, Role::Member)]),
                Some(ErrorCode::Forbidden),
            ),
            (
                person(false, &[(1, Role::ReadOnly)]),
                Some(ErrorCode::Forbidden),
            ),
            (
                person(false, &[(2, Role::Owner)]),
                Some(ErrorCode::NotFound),
            ),
            (key(1, Role::Owner), Some(ErrorCode::Forbidden)),
            (key(2, Role::Owner), Some(ErrorCode::NotFound)),
        ];
        for (caller, expected) in cases {
            let got = code(caller.require_member_manager(1));
            assert_eq!(got, expected, "{caller:?}");
        }
    }

    #[test]
    fn people_create_projects_keys_do_not() {
        let user = person(false, &[]);
        let Ok(creator) = user.require_project_creator() else {
            panic!("any signed-in user creates projects");
        };
        assert_eq!(creator.owner(), Some(7));
        assert_eq!(
            code(key(1, Role::Owner).require_project_creator()),
            Some(ErrorCode::Forbidden)
        );
    }

    #[test]
    fn accounts_are_their_holders_and_the_administrators() {
        let cases = [
            (person(false, &[]), 7, None),
            (person(false, &[]), 8, Some(ErrorCode::Forbidden)),
            (admin(), 8, None),
            (key(1, Role::Owner), 7, Some(ErrorCode::Forbidden)),
        ];
        for (caller, user_id, expected) in cases {
            let got = code(caller.require_account(user_id));
            assert_eq!(got, expected, "{caller:?} on user {user_id}");
        }
        assert!(person(false, &[]).require_self().is_ok());
        assert_eq!(
            code(Principal::Anonymous.require_self()),
            Some(ErrorCode::Forbidden)
        );
    }

    #[test]
    fn granting_scopes_never_escalates() {
        let cases = [
            ("", None),
            ("deploy", None),
            ("deploy metrics:read", None),
            ("billing", Some(ErrorCode::Forbidden)),
            ("deploy billing", Some(ErrorCode::Forbidden)),
        ];
        for (asked, expected) in cases {
            let asked = Scopes::from_stored(asked);
            for role in [Role::Owner, Role::Member] {
                let got = code(key(1, role).require_grantable(&asked));
                assert_eq!(got, expected, "{role:?} granting {asked:?}");
            }
            for unconfined in [
                Principal::Anonymous,
                admin(),
                person(false, &[(1, Role::Member)]),
            ] {
                assert_eq!(code(unconfined.require_grantable(&asked)), None);
            }
        }
    }

    #[test]
    fn a_socket_outlives_a_session_seen_again_but_not_a_change_of_rights() {
        let at = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        let session = |last_seen_at, role| PersonPrincipal {
            user_id: 7,
            username: "ada".into(),
            administrator: false,
            memberships: Arc::new([(1, role)].into_iter().collect()),
            groups: Arc::default(),
            via: PersonCredential::Session {
                id: 3,
                token_hash: "digest".into(),
                expires_at: at + chrono::Duration::hours(24),
                last_seen_at,
            },
        };
        let first = session(at, Role::Owner);
        let touched = session(at + chrono::Duration::minutes(5), Role::Owner);
        assert!(first.same_rights(&touched));
        assert!(!first.same_rights(&session(at, Role::ReadOnly)));
    }

    /// Scopes are proofs only while the checks here are the only code that
    /// makes them: any other caller of a `proven` constructor is a write
    /// that skipped its check.
    #[test]
    fn only_the_principal_proves_scopes() {
        fn visit(dir: &std::path::Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).expect("a readable source folder") {
                let path = entry.expect("a readable entry").path();
                if path.is_dir() {
                    visit(&path, found);
                } else if path.extension().is_some_and(|ext| ext == "rs") {
                    let text = std::fs::read_to_string(&path).expect("a readable file");
                    if text.contains("::proven(") {
                        found.push(path.display().to_string());
                    }
                }
            }
        }
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = Vec::new();
        visit(&src, &mut found);
        let found: Vec<_> = found
            .iter()
            .map(|path| path.trim_start_matches(&format!("{}/", src.display())))
            .collect();
        assert_eq!(found, ["auth/principal.rs"]);
    }
}
