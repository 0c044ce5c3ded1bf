use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::auth::NewKeyPair;
use crate::error::Error;
use crate::graphql::context::{Mutating, RequestContext, Services, parts};
use crate::graphql::types::{ApiKey, KeyState, Role};
use crate::ids::{GlobalId, NodeKind};
use crate::scopes::Scopes;
use crate::store::{
    self, AuditAction, DeleteKeyOutcome, KeyManager, NewKey, NewPair, Target, api_key,
};
use crate::validation;

/// A new API key.
#[derive(InputObject)]
pub struct CreateApiKeyInput {
    /// The project the key will belong to. Optional on a project's endpoint,
    /// or for an API key creating a key in its own project.
    pub project_id: Option<ID>,
    /// Name, 1 to 128 characters.
    pub name: String,
    /// Description, at most 1024 characters.
    pub description: Option<String>,
    /// The key's role.
    #[graphql(default_with = "Role::Owner")]
    pub role: Role,
    /// When the key stops working by itself (RFC 3339, in the future). Left
    /// out, the key does not expire, unless the server has a maximum key
    /// lifetime, which then applies.
    pub expires_at: Option<DateTime<Utc>>,
    /// Scopes the key will hold, for the services behind `/verify` to
    /// require: each 1 to 64 characters of a-z, 0-9, ':', '.', '_' and '-',
    /// starting with a letter or digit; at most 32. A key may only grant
    /// scopes it holds itself. Fixed once the key exists: other scopes take
    /// another key.
    pub scopes: Option<Vec<String>>,
}

/// The key created, with its secret key: the only time the secret is shown.
#[derive(SimpleObject)]
pub struct CreateApiKeyPayload {
    /// The new key, ACTIVE.
    pub api_key: ApiKey,
    /// The secret key (Basic password). Store it now: it is never shown again,
    /// and only its hash is kept.
    pub secret_key: String,
}

/// Activates or deactivates a key.
#[derive(InputObject)]
pub struct SetKeyStateInput {
    /// The key's global id.
    pub id: ID,
    /// ACTIVE to accept its credentials, INACTIVE to refuse them at once.
    pub state: KeyState,
}

/// The key after its state changed.
#[derive(SimpleObject)]
pub struct SetKeyStatePayload {
    /// The key as it is now.
    pub api_key: ApiKey,
}

/// New name and description of a key. Fields left out stay as they are; the
/// access key and secret key never change.
#[derive(InputObject)]
pub struct RenameKeyInput {
    /// The key's global id.
    pub id: ID,
    /// New name, 1 to 128 characters.
    pub name: MaybeUndefined<String>,
    /// New description; null clears it.
    pub description: MaybeUndefined<String>,
}

/// The key after it was renamed.
#[derive(SimpleObject)]
pub struct RenameKeyPayload {
    /// The key as it is now.
    pub api_key: ApiKey,
}

/// Longest grace period of a rotation: seven days.
const MAX_GRACE_PERIOD_SECONDS: i32 = 604_800;

/// A key to replace by a new pair.
#[derive(InputObject)]
pub struct RotateKeyInput {
    /// The ACTIVE key to rotate.
    pub id: ID,
    /// How long the old key keeps working, in seconds (0 to 604800, seven
    /// days; default 0: it stops at once). Never past its own `expiresAt`.
    pub grace_period_seconds: Option<i32>,
    /// When the new key expires (RFC 3339, in the future). Left out, it does
    /// not expire, unless the server has a maximum key lifetime, which then
    /// applies.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The new key, with its secret key (shown only now), and the old key.
#[derive(SimpleObject)]
pub struct RotateKeyPayload {
    /// The new key: ACTIVE, in the same project, with the old key's name,
    /// description, role and scopes.
    pub api_key: ApiKey,
    /// The new secret key (Basic password). Store it now: it is never shown
    /// again.
    pub secret_key: String,
    /// The old key, which works until its `expiresAt` (the end of the grace
    /// period) and is EXPIRED from then on.
    pub previous_key: ApiKey,
}

/// The key to delete; it must be INACTIVE or EXPIRED.
#[derive(InputObject)]
pub struct DeleteKeyInput {
    /// The key's global id.
    pub id: ID,
}

/// The key deleted.
#[derive(SimpleObject)]
pub struct DeleteKeyPayload {
    /// Global id of the key that was deleted.
    pub deleted_key_id: ID,
}

#[derive(Default)]
pub struct ApiKeyMutation;

#[Object]
impl ApiKeyMutation {
    /// Creates an ACTIVE key with a new access key and secret key. OWNER keys
    /// may create keys of any role in their project, MEMBER keys only MEMBER
    /// and READ_ONLY keys.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key to create.")] input: CreateApiKeyInput,
    ) -> Result<CreateApiKeyPayload> {
        let (services, request) = parts(ctx)?;
        let project_id = match &input.project_id {
            Some(id) => GlobalId::parse_as(NodeKind::Project, "input.projectId", id)?,
            None => request.implied_project().ok_or_else(|| {
                Error::bad_input("input.projectId", "is required outside a project endpoint")
            })?,
        };
        let (action, target) = (AuditAction::KeyCreated, Target::project(project_id));
        let created = request
            .mutation(services, action, target, async |m| {
                let scopes =
                    Scopes::parse("input.scopes", input.scopes.as_deref().unwrap_or_default())?;
                let principal = &request.principal;
                principal.require_visible(project_id, "project")?;
                let manager = principal.require_key_manager(project_id, input.role.into())?;
                principal.require_grantable(&scopes)?;
                let name = validation::name("input.name", &input.name)?;
                let description =
                    validation::description("input.description", input.description.as_deref())?;
                let expires_at = services.keys.expiry(input.expires_at, store::now())?;
                let project = services
                    .store
                    .project(project_id)
                    .await?
                    .ok_or(Error::NotFound("project"))?;

                let pair = NewKeyPair::generate();
                let secret_hash = services.hasher.hash(pair.secret_key.clone()).await?;
                let model = services
                    .store
                    .insert_key(
                        &m.grant(manager),
                        NewKey {
                            access_key: pair.access_key,
                            secret_hash,
                            name,
                            description,
                            role: input.role.into(),
                            expires_at,
                            scopes,
                        },
                    )
                    .await?;
                Ok((model, project, pair.secret_key))
            })
            .await;
        let (model, project, secret_key) = created?;
        tracing::info!(key_id = model.id, project_id, access_key = %model.access_key, "API key created");
        Ok(CreateApiKeyPayload {
            api_key: ApiKey::with_project(model, project.into()),
            secret_key: secret_key.expose().to_owned(),
        })
    }

    /// Activates or deactivates a key. Deactivation refuses its credentials
    /// from the very next request. Setting the state a key already has
    /// changes nothing. An EXPIRED key cannot be activated (CONFLICT).
    async fn set_key_state(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key and its new state.")] input: SetKeyStateInput,
    ) -> Result<SetKeyStatePayload> {
        let (services, request) = parts(ctx)?;
        let (state, action) = match input.state {
            KeyState::Active => (store::KeyState::Active, AuditAction::KeyActivated),
            KeyState::Inactive => (store::KeyState::Inactive, AuditAction::KeyDeactivated),
            KeyState::Expired => {
                return Err(Error::bad_input(
                    "input.state",
                    "must be ACTIVE or INACTIVE: keys expire by themselves",
                )
                .into());
            }
        };
        let key = request
            .mutation(services, action, Target::default(), async |m| {
                let (key, manager) = manageable_key(services, request, m, &input.id).await?;
                // Deleted since it was read: refused too. Past its expiry:
                // CONFLICT, decided by the store inside its UPDATE.
                services
                    .store
                    .set_key_state(&m.grant(manager), key.id, state)
                    .await?
                    .ok_or(Error::NotFound("API key"))
            })
            .await?;
        tracing::info!(key_id = key.id, state = ?key.state, "API key state set");
        Ok(SetKeyStatePayload {
            api_key: key.into(),
        })
    }

    /// Replaces an ACTIVE key by a new key pair (a pair never changes: a new
    /// pair is a new key) with the same project, name, description, role and
    /// scopes. The old key keeps working for `gracePeriodSeconds`, then
    /// expires. Allowed to whoever may create a key of that role and those
    /// scopes in that project, the key itself included (a job renewing its
    /// own key); never to READ_ONLY keys. An INACTIVE or EXPIRED key, or one
    /// rotated already, fails with CONFLICT.
    async fn rotate_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key to rotate, the grace period and the new key's expiry.")]
        input: RotateKeyInput,
    ) -> Result<RotateKeyPayload> {
        let (services, request) = parts(ctx)?;
        let grace = input.grace_period_seconds.unwrap_or(0);
        if !(0..=MAX_GRACE_PERIOD_SECONDS).contains(&grace) {
            return Err(Error::bad_input(
                "input.gracePeriodSeconds",
                format!("must be 0 to {MAX_GRACE_PERIOD_SECONDS} (seven days)"),
            )
            .into());
        }
        let action = AuditAction::KeyRotated;
        let (old, new, secret_key) = request
            .mutation(services, action, Target::default(), async |m| {
                let (key, manager) = manageable_key(services, request, m, &input.id).await?;
                request.principal.require_grantable(&key.scopes())?;
                let now = store::now();
                let expires_at = services.keys.expiry(input.expires_at, now)?;
                let pair = NewKeyPair::generate();
                let secret_hash = services.hasher.hash(pair.secret_key.clone()).await?;
                let new_pair = NewPair {
                    access_key: pair.access_key,
                    secret_hash,
                    expires_at,
                };
                let grace = chrono::Duration::seconds(i64::from(grace));
                let (old, new) = services
                    .store
                    .rotate_key(&m.grant(manager), key.id, new_pair, grace)
                    .await?;
                Ok((old, new, pair.secret_key))
            })
            .await?;
        tracing::info!(
            key_id = old.id,
            new_key_id = new.id,
            grace_seconds = grace,
            "API key rotated"
        );
        Ok(RotateKeyPayload {
            api_key: new.into(),
            secret_key: secret_key.expose().to_owned(),
            previous_key: old.into(),
        })
    }

    /// Changes a key's name and description; nothing else about a key can change.
    async fn rename_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key and its new name and description.")] input: RenameKeyInput,
    ) -> Result<RenameKeyPayload> {
        let (services, request) = parts(ctx)?;
        let changes = super::changes(input.name, input.description)?;
        let action = AuditAction::KeyRenamed;
        let key = request
            .mutation(services, action, Target::default(), async |m| {
                let (key, manager) = manageable_key(services, request, m, &input.id).await?;
                // Deleted since it was read: refused too.
                services
                    .store
                    .update_key(&m.grant(manager), key.id, changes)
                    .await?
                    .ok_or(Error::NotFound("API key"))
            })
            .await?;
        Ok(RenameKeyPayload {
            api_key: key.into(),
        })
    }

    /// Deletes an INACTIVE or EXPIRED key for good. An ACTIVE key fails with
    /// CONFLICT: deactivate it first.
    async fn delete_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The INACTIVE key to delete.")] input: DeleteKeyInput,
    ) -> Result<DeleteKeyPayload> {
        let (services, request) = parts(ctx)?;
        let action = AuditAction::KeyDeleted;
        let key = request
            .mutation(services, action, Target::default(), async |m| {
                let (key, manager) = manageable_key(services, request, m, &input.id).await?;
                match services
                    .store
                    .delete_inactive_key(&m.grant(manager), key.id)
                    .await?
                {
                    DeleteKeyOutcome::Deleted => Ok(key),
                    DeleteKeyOutcome::StillActive => Err(Error::Conflict(
                        "the key is ACTIVE: deactivate it before deleting it".into(),
                    )),
                    // Deleted by someone else since it was read.
                    DeleteKeyOutcome::NotFound => Err(Error::NotFound("API key")),
                }
            })
            .await?;
        tracing::info!(key_id = key.id, "API key deleted");
        Ok(DeleteKeyPayload {
            deleted_key_id: GlobalId::api_key(key.id).into(),
        })
    }
}

/// The key behind `id`, and the proof that the caller may manage it:
/// NOT_FOUND when it does not exist or lies in another project, FORBIDDEN
/// when the caller's role does not reach the key's role. The mutation `m` is
/// about the key from here on, named only by its id until the caller is
/// known to see it.
async fn manageable_key(
    services: &Services,
    request: &RequestContext,
    m: &Mutating<'_>,
    id: &ID,
) -> Result<(api_key::Model, KeyManager), Error> {
    let id = GlobalId::parse_as(NodeKind::ApiKey, "input.id", id)?;
    m.about(Target::key_id(id));
    let key = services
        .store
        .key(id)
        .await?
        .filter(|key| request.principal.can_see(key.project_id))
        .ok_or(Error::NotFound("API key"))?;
    m.about(Target::key(&key));
    let manager = request
        .principal
        .require_key_manager(key.project_id, key.role)?;
    Ok((key, manager))
}
