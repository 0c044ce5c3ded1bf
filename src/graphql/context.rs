//! What every resolver can reach: the services, and who is asking.

use async_graphql::Context;
use chrono::{DateTime, Utc};

use crate::auth::{Hasher, Principal};
use crate::error::Error;
use crate::store::{Store, project};

/// Long-lived services, stored once in the schema.
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    pub hasher: Hasher,
    pub keys: KeyPolicy,
}

/// Server-wide rules for new keys.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyPolicy {
    /// Longest a key may live; keys created without `expiresAt` get it.
    pub max_lifetime: Option<chrono::Duration>,
}

impl KeyPolicy {
    /// The expiry of a key asked to expire at `requested` (if at all),
    /// created at `now`.
    pub fn expiry(
        &self,
        requested: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, Error> {
        let latest = self.max_lifetime.map(|lifetime| now + lifetime);
        match (requested, latest) {
            (Some(at), _) if at <= now => {
                Err(Error::bad_input("input.expiresAt", "must be in the future"))
            }
            (Some(at), Some(latest)) if at > latest => Err(Error::bad_input(
                "input.expiresAt",
                format!("must be at most the server's maximum key lifetime away ({latest})"),
            )),
            (Some(at), _) => Ok(Some(at)),
            (None, latest) => Ok(latest),
        }
    }
}

/// Per-request data, added by the HTTP layer after authentication.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub principal: Principal,
    /// The project of the endpoint called (`/projects/{id}/graphql`), if any,
    /// as read when the request was scoped.
    pub scope: Option<project::Model>,
    /// Base URL project endpoints are built on, without a trailing slash.
    pub base_url: String,
}

impl RequestContext {
    /// The project meant when none is named: the endpoint's, else the calling
    /// key's, else none.
    pub fn implied_project(&self) -> Option<i64> {
        self.scope
            .as_ref()
            .map(|project| project.id)
            .or(self.principal.confined_to())
    }

    /// Project `id`, reusing the endpoint's project when it is the one asked
    /// for (the common case on a project endpoint) instead of reading it again.
    pub async fn project(
        &self,
        services: &Services,
        id: i64,
    ) -> Result<Option<project::Model>, Error> {
        match &self.scope {
            Some(scope) if scope.id == id => Ok(Some(scope.clone())),
            _ => services.store.project(id).await,
        }
    }
}

/// The services and the request context of a resolver call.
pub fn parts<'a>(ctx: &Context<'a>) -> Result<(&'a Services, &'a RequestContext), Error> {
    let services = ctx
        .data::<Services>()
        .map_err(|_| Error::internal("schema built without services"))?;
    let request = ctx
        .data::<RequestContext>()
        .map_err(|_| Error::internal("request executed without a request context"))?;
    Ok((services, request))
}
