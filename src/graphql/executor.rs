//! The way every GraphQL request, over HTTP and over WebSocket, reaches the
//! schema: held to the document limits first ([`super::limits`]), then run,
//! and every error of its response given its `extensions.code` (see
//! [`crate::error::annotate`]).
//!
//! A wrapper around the schema rather than a schema extension: with any
//! extension registered, async-graphql sends every field of every query
//! through its extension hooks, which costs a measurable share of a small
//! query's time. And extensions see a request only after async-graphql has
//! parsed it, too late for the limits.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use async_graphql::{Data, Executor, Request, Response};
use futures::StreamExt;
use futures::stream::BoxStream;

use super::{KeywardSchema, Schemas, limits};
use crate::auth::Principal;

/// The executor of one WebSocket connection: the limits applied, errors
/// annotated, and the schema of the connection's caller (see
/// [`Schemas::for_caller`]), known once the connection is authenticated.
#[derive(Clone)]
pub struct SessionExecutor {
    schemas: Schemas,
    caller: Arc<OnceLock<Principal>>,
}

impl SessionExecutor {
    pub fn new(schemas: Schemas) -> Self {
        Self {
            schemas,
            caller: Arc::default(),
        }
    }

    /// The connection's caller, once `connection_init` has authenticated
    /// it. Set once: a connection never changes hands.
    pub fn authenticated(&self, principal: &Principal) {
        let _ = self.caller.set(principal.clone());
    }

    fn schema(&self) -> &KeywardSchema {
        match self.caller.get() {
            Some(principal) => self.schemas.for_caller(principal),
            None => &self.schemas.anonymous,
        }
    }
}

/// Runs `request` on `schema`: the limits applied first, errors annotated.
///
/// A mutation runs in a task of its own, called `starting_mutation` just
/// before: once it has started it is never cut short between one commit and
/// the next (by a request timeout or a client going away), so that every
/// change it commits is in the response it produces.
pub async fn execute(
    schema: &KeywardSchema,
    request: Request,
    starting_mutation: impl FnOnce(),
) -> Response {
    let mut request = match limits::admit(request) {
        Ok(request) => request,
        Err(refused) => return annotated(Response::from_errors(vec![refused])),
    };
    if !is_mutation(&mut request) {
        return annotated(schema.execute(request).await);
    }
    starting_mutation();
    let schema = schema.clone();
    match tokio::spawn(async move { schema.execute(request).await }).await {
        Ok(response) => annotated(response),
        Err(failed) => {
            let error = async_graphql::Error::from(crate::error::Error::from(failed));
            annotated(Response::from_errors(vec![
                error.into_server_error(async_graphql::Pos::default()),
            ]))
        }
    }
}

/// Whether `request` runs a mutation. Only for a request that
/// [`limits::admit`] let through, whose document is
/// parsed already (parsing is recursive).
fn is_mutation(request: &mut async_graphql::Request) -> bool {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        return false;
    };
    let operation = match &document.operations {
        DocumentOperations::Single(operation) => Some(operation),
        DocumentOperations::Multiple(operations) => {
            name.as_deref().and_then(|name| operations.get(name))
        }
    };
    operation.is_some_and(|operation| operation.node.ty == OperationType::Mutation)
}

/// Annotates the errors of `response`.
fn annotated(mut response: Response) -> Response {
    response.errors.iter_mut().for_each(crate::error::annotate);
    response
}

impl Executor for SessionExecutor {
    fn execute(&self, request: Request) -> impl Future<Output = Response> + Send {
        let schema = self.schema().clone();
        async move { execute(&schema, request, || {}).await }
    }

    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        match limits::admit(request) {
            Ok(request) => Executor::execute_stream(self.schema(), request, session_data)
                .map(annotated)
                .boxed(),
            Err(refused) => {
                futures::stream::once(async { annotated(Response::from_errors(vec![refused])) })
                    .boxed()
            }
        }
    }
}
