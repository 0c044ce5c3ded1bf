use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::auth::NewKeyPair;
use crate::error::Error;
use crate::graphql::context::{RequestContext, Services, parts};
use crate::graphql::types::{ApiKey, KeyState, Role};
use crate::ids::{GlobalId, NodeKind};
use crate::scopes::Scopes;
use crate::store::{self, AuditAction, DeleteKeyOutcome, NewKey, Target, api_key};
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
        let scopes = Scopes::parse("input.scopes", input.scopes.as_deref().unwrap_or_default())?;
        let allowed = request
            .principal
            .require_visible(project_id, "project")
            .and_then(|()| {
                request
                    .principal
                    .require_key_manager(project_id, input.role.into())
            })
            .and_then(|()| request.principal.require_grantable(&scopes));
        request
            .audited(services, action, target.clone(), allowed)
            .await?;
        let name = validation::name("input.name", &input.name)?;
        let description =
            validation::description("input.description", input.description.as_deref())?;
        let expires_at = services.keys.expiry(input.expires_at, store::now())?;
        let project = services
            .store
            .project(project_id)
            .await
            .and_then(|project| project.ok_or(Error::NotFound("project")));
        let project = request
            .audited(services, action, target.clone(), project)
            .await?;

        let pair = NewKeyPair::generate();
        let secret_hash = services.hasher.hash(pair.secret_key.clone()).await?;
        let inserted = services
            .store
            .insert_key(
                NewKey {
                    project_id,
                    access_key: pair.access_key,
                    secret_hash,
                    name,
                    description,
                    role: input.role.into(),
                    expires_at,
                    scopes,
                },
                &request.audit(),
            )
            .await;
        let model = request.audited(services, action, target, inserted).await?;
        tracing::info!(key_id = model.id, project_id, access_key = %model.access_key, "API key created");
        Ok(CreateApiKeyPayload {
            api_key: ApiKey::with_project(model, project.into()),
            secret_key: pair.secret_key.expose().to_owned(),
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
        let state = match input.state {
            KeyState::Active => store::KeyState::Active,
            KeyState::Inactive => store::KeyState::Inactive,
            KeyState::Expired => {
                return Err(Error::bad_input(
                    "input.state",
                    "must be ACTIVE or INACTIVE: keys expire by themselves",
                )
                .into());
            }
        };
        let action = match state {
            store::KeyState::Active => AuditAction::KeyActivated,
            store::KeyState::Inactive => AuditAction::KeyDeactivated,
        };
        let key = manageable_key(services, request, &input.id, action).await?;
        if state == store::KeyState::Active && key.expired_at(store::now()) {
            let err = Error::Conflict(
                "the key has expired and cannot be activated again: create a new key".into(),
            );
            return Err(request
                .refuse(services, action, Target::key(&key), err)
                .await
                .into());
        }
        // Deleted, or expired, since it was read: refused too.
        let changed = services
            .store
            .set_key_state(key.id, state, &request.audit())
            .await
            .and_then(|changed| changed.ok_or(Error::NotFound("API key")));
        let key = request
            .audited(services, action, Target::key(&key), changed)
            .await?;
        tracing::info!(key_id = key.id, state = ?key.state, "API key state set");
        Ok(SetKeyStatePayload {
            api_key: key.into(),
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
        let key = manageable_key(services, request, &input.id, action).await?;
        // Deleted since it was read: refused too.
        let renamed = services
            .store
            .update_key(key.id, changes, &request.audit())
            .await
            .and_then(|renamed| renamed.ok_or(Error::NotFound("API key")));
        let key = request
            .audited(services, action, Target::key(&key), renamed)
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
        let key = manageable_key(services, request, &input.id, action).await?;
        match services
            .store
            .delete_inactive_key(key.id, &request.audit())
            .await?
        {
            DeleteKeyOutcome::Deleted => {
                tracing::info!(key_id = key.id, "API key deleted");
                Ok(DeleteKeyPayload {
                    deleted_key_id: GlobalId::api_key(key.id).into(),
                })
            }
            DeleteKeyOutcome::StillActive => {
                let err =
                    Error::Conflict("the key is ACTIVE: deactivate it before deleting it".into());
                Err(request
                    .refuse(services, action, Target::key(&key), err)
                    .await
                    .into())
            }
            // Deleted by someone else since it was read.
            DeleteKeyOutcome::NotFound => Err(request
                .refuse(
                    services,
                    action,
                    Target::key(&key),
                    Error::NotFound("API key"),
                )
                .await
                .into()),
        }
    }
}

/// The key behind `id`, if the caller may manage it: NOT_FOUND when it does
/// not exist or lies in another project, FORBIDDEN when the caller's role
/// does not reach the key's role. Either refusal of `action` is recorded.
async fn manageable_key(
    services: &Services,
    request: &RequestContext,
    id: &ID,
    action: AuditAction,
) -> Result<api_key::Model, Error> {
    let id = GlobalId::parse_as(NodeKind::ApiKey, "input.id", id)?;
    let key = services
        .store
        .key(id)
        .await?
        .filter(|key| request.principal.can_see(key.project_id));
    let Some(key) = key else {
        let err = Error::NotFound("API key");
        return Err(request
            .refuse(services, action, Target::key_id(id), err)
            .await);
    };
    let allowed = request
        .principal
        .require_key_manager(key.project_id, key.role);
    request
        .audited(services, action, Target::key(&key), allowed)
        .await?;
    Ok(key)
}
