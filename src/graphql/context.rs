//! What every resolver can reach: the services, and who is asking.

use async_graphql::Context;

use crate::auth::{Hasher, Principal};
use crate::error::Error;
use crate::store::{Store, project};

/// Long-lived services, stored once in the schema.
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    pub hasher: Hasher,
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
