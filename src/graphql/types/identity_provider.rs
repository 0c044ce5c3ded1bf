//! An identity provider as GraphQL shows it: everything an administrator
//! configured but the client secret, which is write-only.

use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};

use crate::ids::GlobalId;
use crate::store::identity_provider;

/// The published fields of an identity provider row: never the client
/// secret (GraphQL description on the impl).
#[derive(Clone, Debug)]
pub struct IdentityProvider {
    id: i64,
    name: String,
    issuer_url: String,
    client_id: String,
    scopes: Vec<String>,
    username_claim: String,
    groups_claim: String,
    enabled: bool,
    created_at: DateTime<Utc>,
}

impl From<identity_provider::Model> for IdentityProvider {
    // Field by field: the client secret is deliberately not carried over.
    fn from(model: identity_provider::Model) -> Self {
        Self {
            id: model.id,
            scopes: model.scope_list(),
            name: model.name,
            issuer_url: model.issuer_url,
            client_id: model.client_id,
            username_claim: model.username_claim,
            groups_claim: model.groups_claim,
            enabled: model.enabled,
            created_at: model.created_at,
        }
    }
}

impl IdentityProvider {
    pub fn global_id(&self) -> GlobalId {
        GlobalId::identity_provider(self.id)
    }
}

/// An OpenID Connect provider people sign in through (Keycloak, Entra ID,
/// Okta, Google, GitLab, Dex…): the sign-in page offers the enabled ones,
/// and a person signing in for the first time gets a user. Administrators
/// only. The client secret is write-only: no field ever returns it, and
/// the audit trail does not record it.
#[Object]
impl IdentityProvider {
    /// Opaque global id of the identity provider.
    pub async fn id(&self) -> ID {
        self.global_id().into()
    }

    /// Its name in sign-in URLs (`/auth/oidc/{name}/start`) and in the trail:
    /// 1 to 32 of `a-z`, `0-9` and `-`, unique.
    async fn name(&self) -> &str {
        &self.name
    }

    /// The provider's issuer: its discovery document is at
    /// `{issuerUrl}/.well-known/openid-configuration`, and its ID tokens
    /// name exactly this issuer.
    async fn issuer_url(&self) -> &str {
        &self.issuer_url
    }

    /// The client id keyward was registered with at the provider.
    async fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The scopes keyward asks the provider for; always includes `openid`.
    async fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The claim a new user's username is taken from (made unique if
    /// taken), in the ID token or else from the userinfo endpoint.
    async fn username_claim(&self) -> &str {
        &self.username_claim
    }

    /// The claim listing the groups a person is in, which project group
    /// members (`Project.groupMembers`) and the access mode match.
    async fn groups_claim(&self) -> &str {
        &self.groups_claim
    }

    /// Whether people may sign in through it now. A disabled provider's
    /// people keep their users and identities.
    async fn enabled(&self) -> bool {
        self.enabled
    }

    /// When it was configured.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
}
