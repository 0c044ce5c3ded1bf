//! Who is calling, and what they may do.
//!
//! A request's credentials are resolved once, in [`super::Authenticator`], into
//! a [`Principal`]. Resolvers only ask it questions; none of them looks at
//! headers or hashes.

use crate::error::Error;
use crate::scopes::Scopes;
use crate::store::{Role, api_key};

/// The caller of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// Access control is off: everyone acts with the administrator's rights.
    Anonymous,
    /// The administrator set up by `enableAccessControl`.
    Admin,
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

impl Principal {
    /// Anonymous callers (access control off) and the admin reach everything.
    pub fn is_admin(&self) -> bool {
        matches!(self, Self::Anonymous | Self::Admin)
    }

    pub fn key(&self) -> Option<&KeyPrincipal> {
        match self {
            Self::ApiKey(key) => Some(key),
            _ => None,
        }
    }

    /// The project a key is confined to; `None` for admin-level callers.
    pub fn confined_to(&self) -> Option<i64> {
        self.key().map(|key| key.project_id)
    }

    /// Whether the caller can see anything of `project_id`. Objects of other
    /// projects must be indistinguishable from missing ones.
    pub fn can_see(&self, project_id: i64) -> bool {
        self.confined_to().is_none_or(|own| own == project_id)
    }

    /// Fails with NOT_FOUND (never FORBIDDEN) for another project's objects.
    pub fn require_visible(&self, project_id: i64, what: &'static str) -> Result<(), Error> {
        if self.can_see(project_id) {
            Ok(())
        } else {
            Err(Error::NotFound(what))
        }
    }

    /// Server-wide actions: projects and access control.
    pub fn require_admin(&self) -> Result<(), Error> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Error::Forbidden("only the administrator may do this"))
        }
    }

    /// `updateProject`: the admin, or an OWNER key of that project.
    pub fn require_project_owner(&self, project_id: i64) -> Result<(), Error> {
        self.require_owner(project_id, "only an OWNER key may update its project")
    }

    /// Reading and managing `project_id`'s webhooks: the same callers as
    /// [`Self::require_project_owner`]. A webhook sees every event of its
    /// project, so it takes the role that sees and changes everything there.
    pub fn require_webhook_manager(&self, project_id: i64) -> Result<(), Error> {
        self.require_owner(
            project_id,
            "only an OWNER key may read or manage its project's webhooks",
        )
    }

    /// The admin (anyone while access control is off), or an OWNER key of
    /// `project_id`; any other key is refused with `refusal`.
    fn require_owner(&self, project_id: i64, refusal: &'static str) -> Result<(), Error> {
        self.require_visible(project_id, "project")?;
        match self.key() {
            None => Ok(()),
            Some(key) if key.role == Role::Owner => Ok(()),
            Some(_) => Err(Error::Forbidden(refusal)),
        }
    }

    /// Creating, changing or deleting a key of role `target_role` in
    /// `project_id`: OWNER keys manage any key of their project, MEMBER keys
    /// only MEMBER and READ_ONLY keys, READ_ONLY keys none.
    pub fn require_key_manager(&self, project_id: i64, target_role: Role) -> Result<(), Error> {
        self.require_visible(project_id, "API key")?;
        match self.key().map(|key| key.role) {
            None | Some(Role::Owner) => Ok(()),
            Some(Role::Member) if target_role != Role::Owner => Ok(()),
            Some(Role::Member) => Err(Error::Forbidden(
                "a MEMBER key may only manage MEMBER and READ_ONLY keys",
            )),
            Some(Role::ReadOnly) => Err(Error::Forbidden("a READ_ONLY key cannot change keys")),
        }
    }

    /// Granting `scopes` to a new key never escalates: the administrator
    /// grants any, a key only scopes it holds itself.
    pub fn require_grantable(&self, scopes: &Scopes) -> Result<(), Error> {
        match self.key() {
            None => Ok(()),
            Some(key) if scopes.first_missing_from(&key.scopes).is_none() => Ok(()),
            Some(_) => Err(Error::Forbidden(
                "a key may only grant scopes that it holds itself",
            )),
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

    fn code(result: Result<(), Error>) -> Option<ErrorCode> {
        result.err().map(|e| e.code())
    }

    #[test]
    fn keys_manage_keys_by_role() {
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
            let got = code(key(1, caller).require_key_manager(1, target));
            assert_eq!(got, expected, "{caller:?} managing {target:?}");
        }
    }

    #[test]
    fn other_projects_read_as_missing() {
        for role in [Role::Owner, Role::Member, Role::ReadOnly] {
            let caller = key(1, role);
            assert!(!caller.can_see(2));
            let got = code(caller.require_key_manager(2, Role::ReadOnly));
            assert_eq!(got, Some(ErrorCode::NotFound));
            let got = code(caller.require_project_owner(2));
            assert_eq!(got, Some(ErrorCode::NotFound));
        }
    }

    #[test]
    fn admins_do_everything_keys_no_server_wide_actions() {
        for admin in [Principal::Anonymous, Principal::Admin] {
            assert!(admin.require_admin().is_ok());
            assert!(admin.require_key_manager(9, Role::Owner).is_ok());
        }
        assert_eq!(
            code(key(1, Role::Owner).require_admin()),
            Some(ErrorCode::Forbidden)
        );
        assert_eq!(
            code(key(1, Role::Member).require_project_owner(1)),
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
            for admin in [Principal::Anonymous, Principal::Admin] {
                assert_eq!(code(admin.require_grantable(&asked)), None);
            }
        }
    }
}
