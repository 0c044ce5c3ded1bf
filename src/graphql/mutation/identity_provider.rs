//! Configuring the OpenID Connect providers people sign in through:
//! administrators only, audited. A provider is checked when it is
//! configured (its discovery document fetched and judged), so that one
//! keyward cannot use is refused with the reason instead of failing every
//! sign-in later. The client secret goes in and never comes out.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use crate::error::Error;
use crate::graphql::context::{Services, parts};
use crate::graphql::types::IdentityProvider;
use crate::ids::{GlobalId, NodeKind};
use crate::store::{
    AuditAction, IdentityProviderChanges, NewIdentityProvider, Target, identity_provider,
};
use crate::validation;

/// The scopes a provider is asked for unless told otherwise.
fn default_scopes() -> Vec<String> {
    ["openid", "profile", "email"].map(str::to_owned).to_vec()
}

fn default_username_claim() -> String {
    "preferred_username".to_owned()
}

fn default_groups_claim() -> String {
    "groups".to_owned()
}

/// A new identity provider. Register keyward at the provider first, with
/// the redirect URI `{keyward}/auth/oidc/{name}/callback`.
#[derive(InputObject)]
pub struct CreateIdentityProviderInput {
    /// Its name in sign-in URLs: 1 to 32 of `a-z`, `0-9` and `-`, unique.
    pub name: String,
    /// The provider's issuer, an http or https URL (loopback and private
    /// networks allowed). Its discovery document must name exactly this
    /// issuer.
    pub issuer_url: String,
    /// The client id the provider gave keyward, 1 to 1024 characters.
    pub client_id: String,
    /// The client secret the provider gave keyward, 1 to 1024 characters.
    /// Write-only: never returned, logged or recorded in the trail.
    pub client_secret: String,
    /// The scopes to ask for, each an OAuth scope token; `openid` is added
    /// when missing.
    #[graphql(default_with = "default_scopes()")]
    pub scopes: Vec<String>,
    /// The claim a new user's username is taken from, 1 to 128 characters.
    #[graphql(default_with = "default_username_claim()")]
    pub username_claim: String,
    /// The claim listing a person's groups, 1 to 128 characters.
    #[graphql(default_with = "default_groups_claim()")]
    pub groups_claim: String,
}

/// Changes to an identity provider. Fields left out (or null) stay as they
/// are.
#[derive(InputObject)]
pub struct UpdateIdentityProviderInput {
    /// The identity provider's global id.
    pub id: ID,
    /// A new name. Sign-ins started under the old name fail; identities and
    /// users stay.
    pub name: Option<String>,
    /// A new issuer: its discovery document is fetched and checked as at
    /// creation.
    pub issuer_url: Option<String>,
    /// A new client id.
    pub client_id: Option<String>,
    /// A new client secret (write-only).
    pub client_secret: Option<String>,
    /// New scopes; `openid` is added when missing.
    pub scopes: Option<Vec<String>>,
    /// A new username claim (for users created from now on).
    pub username_claim: Option<String>,
    /// A new groups claim (read at each sign-in from now on).
    pub groups_claim: Option<String>,
    /// False to refuse sign-ins through it from now on (sessions already
    /// started go on), true to allow them again.
    pub enabled: Option<bool>,
}

/// The identity provider to delete.
#[derive(InputObject)]
pub struct DeleteIdentityProviderInput {
    /// The identity provider's global id.
    pub id: ID,
}

/// The identity provider created.
#[derive(SimpleObject)]
pub struct CreateIdentityProviderPayload {
    /// The new identity provider, enabled.
    pub identity_provider: IdentityProvider,
}

/// The identity provider, as it is now.
#[derive(SimpleObject)]
pub struct UpdateIdentityProviderPayload {
    /// The identity provider after the change.
    pub identity_provider: IdentityProvider,
}

/// The identity provider deleted.
#[derive(SimpleObject)]
pub struct DeleteIdentityProviderPayload {
    /// Global id of the identity provider that was deleted, with the
    /// identities linked through it (their users stay).
    pub deleted_identity_provider_id: ID,
}

#[derive(Default)]
pub struct IdentityProviderMutation;

/// Refuses (BAD_USER_INPUT, saying why) an issuer keyward cannot sign
/// people in through: unreachable, no discovery document, another issuer
/// named in it, no code flow, token endpoint or signing keys.
async fn usable_issuer(services: &Services, issuer_url: &str) -> Result<(), Error> {
    services
        .oidc
        .discover(issuer_url)
        .await
        .map(drop)
        .map_err(|err| {
            Error::bad_input(
                "input.issuerUrl",
                format!("keyward cannot use this identity provider: {err}"),
            )
        })
}

/// CONFLICT if another provider is named `name` already. (The database's
/// unique name is the rule; this only says so before a slow discovery.)
async fn name_free(services: &Services, name: &str, except: Option<i64>) -> Result<(), Error> {
    match services.store.identity_provider_named(name).await? {
        Some(other) if Some(other.id) != except => Err(Error::Conflict(format!(
            "an identity provider named \"{name}\" exists already"
        ))),
        _ => Ok(()),
    }
}

/// The checked form of an update's changes, relative to `current`.
fn changes(
    input: UpdateIdentityProviderInput,
    current: &identity_provider::Model,
) -> Result<IdentityProviderChanges, Error> {
    let name = input
        .name
        .map(|name| validation::slug("input.name", &name))
        .transpose()?;
    let issuer_url = input
        .issuer_url
        .map(|url| validation::issuer_url("input.issuerUrl", &url))
        .transpose()?
        .filter(|url| *url != current.issuer_url);
    Ok(IdentityProviderChanges {
        name,
        issuer_url,
        client_id: input
            .client_id
            .map(|id| validation::client_credential("input.clientId", &id))
            .transpose()?,
        client_secret: input
            .client_secret
            .map(|secret| validation::client_credential("input.clientSecret", &secret))
            .transpose()?,
        scopes: input
            .scopes
            .map(|scopes| validation::scopes("input.scopes", &scopes))
            .transpose()?,
        username_claim: input
            .username_claim
            .map(|claim| validation::claim("input.usernameClaim", &claim))
            .transpose()?,
        groups_claim: input
            .groups_claim
            .map(|claim| validation::claim("input.groupsClaim", &claim))
            .transpose()?,
        enabled: input.enabled,
    })
}

#[Object]
impl IdentityProviderMutation {
    /// Configures an OpenID Connect provider people may sign in through, enabled
    /// (administrators only). Its discovery document is fetched first: a
    /// provider keyward cannot use (unreachable, another issuer, no code
    /// flow, no signing keys) is refused with BAD_USER_INPUT saying why. A
    /// name taken already is a CONFLICT.
    async fn create_identity_provider(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The identity provider to configure.")] input: CreateIdentityProviderInput,
    ) -> Result<CreateIdentityProviderPayload> {
        let (services, request) = parts(ctx)?;
        let provider = request
            .mutation(
                services,
                AuditAction::IdentityProviderCreated,
                Target::default(),
                async |m| {
                    let admin = request.principal.require_admin()?;
                    let name = validation::slug("input.name", &input.name)?;
                    m.about(Target::provider(&name));
                    let new = NewIdentityProvider {
                        issuer_url: validation::issuer_url("input.issuerUrl", &input.issuer_url)?,
                        client_id: validation::client_credential(
                            "input.clientId",
                            &input.client_id,
                        )?,
                        client_secret: validation::client_credential(
                            "input.clientSecret",
                            &input.client_secret,
                        )?,
                        scopes: validation::scopes("input.scopes", &input.scopes)?,
                        username_claim: validation::claim(
                            "input.usernameClaim",
                            &input.username_claim,
                        )?,
                        groups_claim: validation::claim("input.groupsClaim", &input.groups_claim)?,
                        name,
                    };
                    name_free(services, &new.name, None).await?;
                    usable_issuer(services, &new.issuer_url).await?;
                    services
                        .store
                        .create_identity_provider(&m.grant(admin), new)
                        .await
                },
            )
            .await?;
        tracing::info!(provider = %provider.name, "identity provider created");
        Ok(CreateIdentityProviderPayload {
            identity_provider: provider.into(),
        })
    }

    /// Changes an identity provider (administrators only). A new issuer is
    /// checked as at creation (BAD_USER_INPUT saying why it cannot be
    /// used); a name taken already is a CONFLICT. What keyward fetched of
    /// the provider is fetched again at the next sign-in.
    async fn update_identity_provider(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The identity provider and its changes.")]
        input: UpdateIdentityProviderInput,
    ) -> Result<UpdateIdentityProviderPayload> {
        let (services, request) = parts(ctx)?;
        let id = GlobalId::parse_as(NodeKind::IdentityProvider, "input.id", &input.id)?;
        let provider = request
            .mutation(
                services,
                AuditAction::IdentityProviderUpdated,
                Target::default(),
                async |m| {
                    let admin = request.principal.require_admin()?;
                    let current = services
                        .store
                        .identity_provider(id)
                        .await?
                        .ok_or(Error::NotFound("identity provider"))?;
                    m.about(Target::provider(&current.name));
                    let changes = changes(input, &current)?;
                    if let Some(name) = &changes.name {
                        name_free(services, name, Some(id)).await?;
                    }
                    if let Some(issuer_url) = &changes.issuer_url {
                        usable_issuer(services, issuer_url).await?;
                    }
                    services
                        .store
                        .update_identity_provider(&m.grant(admin), id, changes)
                        .await
                },
            )
            .await?;
        services.oidc.forget(id);
        tracing::info!(provider = %provider.name, "identity provider updated");
        Ok(UpdateIdentityProviderPayload {
            identity_provider: provider.into(),
        })
    }

    /// Deletes an identity provider (administrators only), with the
    /// identities linked through it: their users stay, keep their
    /// memberships and sessions, and can be linked to another provider
    /// (`linkUserIdentity`). Sign-ins under way through it fail.
    async fn delete_identity_provider(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The identity provider to delete.")] input: DeleteIdentityProviderInput,
    ) -> Result<DeleteIdentityProviderPayload> {
        let (services, request) = parts(ctx)?;
        let id = GlobalId::parse_as(NodeKind::IdentityProvider, "input.id", &input.id)?;
        let provider = request
            .mutation(
                services,
                AuditAction::IdentityProviderDeleted,
                Target::default(),
                async |m| {
                    let admin = request.principal.require_admin()?;
                    services
                        .store
                        .delete_identity_provider(&m.grant(admin), id)
                        .await
                },
            )
            .await?;
        services.oidc.forget(id);
        tracing::info!(provider = %provider.name, "identity provider deleted");
        Ok(DeleteIdentityProviderPayload {
            deleted_identity_provider_id: GlobalId::identity_provider(id).into(),
        })
    }
}
