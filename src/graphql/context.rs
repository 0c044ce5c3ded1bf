//! What every resolver can reach: the services, and who is asking.

use async_graphql::Context;

use crate::auth::{Hasher, Principal};
use crate::error::Error;
use crate::store::Store;

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
    /// The project of the endpoint called (`/projects/{id}/graphql`), if any.
    pub scope: Option<i64>,
    /// Base URL project endpoints are built on, without a trailing slash.
    pub base_url: String,
}

impl RequestContext {
    /// The project meant when none is named: the endpoint's, else the calling
    /// key's, else none.
    pub fn implied_project(&self) -> Option<i64> {
        self.scope.or(self.principal.confined_to())
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
