use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::{
    KeyClient, KeyState, Project, Role, UsageBucket, UsageGranularity, User, usage_bucket,
};
use crate::error::Error;
use crate::graphql::context::parts;
use crate::ids::GlobalId;
use crate::scopes::Scopes;
use crate::store::{self, api_key};

/// The published fields of a key row: everything but the secret hash
/// (GraphQL description on the impl).
#[derive(Clone, Debug)]
pub struct ApiKey {
    id: i64,
    project_id: i64,
    access_key: String,
    name: String,
    description: Option<String>,
    state: store::KeyState,
    role: store::Role,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    failed_auth_count: i64,
    last_failed_auth_at: Option<DateTime<Utc>>,
    scopes: Scopes,
    rotated_from_id: Option<i64>,
    rotated_at: Option<DateTime<Utc>>,
    created_by_user_id: Option<i64>,
    /// The project, when the caller already has it (listing a project's keys).
    project: Option<Project>,
}

impl From<api_key::Model> for ApiKey {
    // Field by field: the secret hash is deliberately not carried over.
    fn from(model: api_key::Model) -> Self {
        Self {
            scopes: model.scopes(),
            id: model.id,
            project_id: model.project_id,
            access_key: model.access_key,
            name: model.name,
            description: model.description,
            state: model.state,
            role: model.role,
            created_at: model.created_at,
            updated_at: model.updated_at,
            last_used_at: model.last_used_at,
            expires_at: model.expires_at,
            failed_auth_count: model.failed_auth_count,
            last_failed_auth_at: model.last_failed_auth_at,
            rotated_from_id: model.rotated_from_id,
            rotated_at: model.rotated_at,
            created_by_user_id: model.created_by_user_id,
            project: None,
        }
    }
}

impl ApiKey {
    pub fn with_project(model: api_key::Model, project: Project) -> Self {
        Self {
            project: Some(project),
            ..Self::from(model)
        }
    }

    pub fn global_id(&self) -> GlobalId {
        GlobalId::api_key(self.id)
    }
}

/// An API key: a public access key and a secret key, used as HTTP Basic
/// credentials (username = access key, password = secret key) for one
/// project. The secret key is shown once, when the key is created.
#[Object]
impl ApiKey {
    /// Opaque global id of the key.
    pub async fn id(&self) -> ID {
        self.global_id().into()
    }

    /// The public half of the credentials: 20 characters of `[A-Z0-9]`, sent as
    /// the Basic username. Never changes.
    async fn access_key(&self) -> &str {
        &self.access_key
    }

    /// Human-readable name.
    async fn name(&self) -> &str {
        &self.name
    }

    /// Free-text description.
    async fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// ACTIVE keys authenticate; INACTIVE and EXPIRED keys are refused.
    async fn state(&self) -> KeyState {
        match self.expires_at {
            Some(expires_at) if expires_at <= store::now() => KeyState::Expired,
            _ => store::KeyStatus::from(self.state).into(),
        }
    }

    /// When the key stops working by itself; null if it never does.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }

    /// How many authentications have named this key with a wrong secret.
    async fn failed_auth_count(&self) -> i64 {
        self.failed_auth_count
    }

    /// When the last such failure happened; null if none ever did.
    async fn last_failed_auth_at(&self) -> Option<DateTime<Utc>> {
        self.last_failed_auth_at
    }

    /// What the key may do within its project.
    async fn role(&self) -> Role {
        self.role.into()
    }

    /// The key's scopes, sorted: names that services behind `/verify` can
    /// require (`scope=NAME`). Fixed at creation; empty when none.
    async fn scopes(&self) -> &[String] {
        self.scopes.as_slice()
    }

    /// The project the key belongs to, and the only one it reaches.
    async fn project(&self, ctx: &Context<'_>) -> Result<Project> {
        if let Some(project) = &self.project {
            return Ok(project.clone());
        }
        let (services, _) = parts(ctx)?;
        let project = services
            .store
            .project(self.project_id)
            .await?
            // Only possible if the project was deleted during this request.
            .ok_or(Error::NotFound("project"))?;
        Ok(project.into())
    }

    /// Whether the key is ACTIVE and expires within the server's first
    /// expiry warning threshold (`--key-expiry-warnings`, by default 7
    /// days): time to rotate it.
    async fn expires_soon(&self, ctx: &Context<'_>) -> Result<bool> {
        let (services, _) = parts(ctx)?;
        let now = store::now();
        Ok(match (self.expires_at, services.keys.warn_within) {
            (Some(at), Some(within)) => {
                self.state == store::KeyState::Active && at > now && at <= now + within
            }
            _ => false,
        })
    }

    /// The key this one replaced (`rotateKey`); null if it was created
    /// directly, or once the old key is deleted.
    async fn rotated_from(&self, ctx: &Context<'_>) -> Result<Option<ApiKey>> {
        let Some(id) = self.rotated_from_id else {
            return Ok(None);
        };
        let (services, _) = parts(ctx)?;
        Ok(services.store.key(id).await?.map(ApiKey::from))
    }

    /// The key that replaced this one (`rotateKey`); null if it has not been
    /// rotated, or once the new key is deleted.
    async fn rotated_to(&self, ctx: &Context<'_>) -> Result<Option<ApiKey>> {
        let (services, _) = parts(ctx)?;
        Ok(services.store.successor(self.id).await?.map(ApiKey::from))
    }

    /// The person who created the key; null for keys created by keys,
    /// while access control was off, before people existed, or by a person
    /// deleted since (the trail still names them).
    async fn created_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.created_by_user_id else {
            return Ok(None);
        };
        let (services, _) = parts(ctx)?;
        Ok(services.store.user(id).await?.map(User::from))
    }

    /// When the key was rotated (`rotateKey`); null if it never was. Set
    /// for good: a rotated key cannot be rotated again, even once the key
    /// that replaced it is deleted (and `rotatedTo` is null).
    async fn rotated_at(&self) -> Option<DateTime<Utc>> {
        self.rotated_at
    }

    /// When the key was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// When the key's name, description or state last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }

    /// When the key last authenticated (refreshed about once a minute); null
    /// if it never has.
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.last_used_at
    }

    /// How often the key authenticated, by outcome, from `since` to `until`
    /// in buckets of `granularity`, oldest first; buckets without traffic
    /// are left out. Counts are written about once a second. Readable by
    /// whoever may read the key.
    async fn usage(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Start of the period: its bucket is the first one.")] since: DateTime<Utc>,
        #[graphql(desc = "End of the period (excluded); now if omitted.")] until: Option<
            DateTime<Utc>,
        >,
        #[graphql(desc = "The buckets' width; it bounds the period's length.")]
        granularity: UsageGranularity,
    ) -> Result<Vec<UsageBucket>> {
        let (_, request) = parts(ctx)?;
        request.principal.require_visible(self.project_id, "key")?;
        usage_bucket::read(ctx, store::UsageOf::Key(self.id), since, until, granularity).await
    }

    /// The last client addresses the key was used from (at most 5), most
    /// recent first, each with its user agent and when it was last seen.
    /// Readable by whoever may read the key.
    async fn recent_clients(&self, ctx: &Context<'_>) -> Result<Vec<KeyClient>> {
        let (services, request) = parts(ctx)?;
        request.principal.require_visible(self.project_id, "key")?;
        Ok(services
            .store
            .recent_clients(self.id, store::RECENT_CLIENTS)
            .await?
            .into_iter()
            .map(KeyClient::from)
            .collect())
    }
}
