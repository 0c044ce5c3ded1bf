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
use std::sync::Arc;

use async_graphql::{Data, Executor, Request, Response};
use futures::StreamExt;
use futures::stream::BoxStream;

use super::{KeywardSchema, limits};

/// `schema`, with the limits applied and its responses' errors annotated.
#[derive(Clone)]
pub struct Annotated(pub KeywardSchema);

/// Runs `request` on `schema` as [`Annotated`] does.
pub async fn execute(schema: &KeywardSchema, request: Request) -> Response {
    match limits::admit(request) {
        Ok(request) => annotated(schema.execute(request).await),
        Err(refused) => annotated(Response::from_errors(vec![refused])),
    }
}

/// Annotates the errors of `response`.
fn annotated(mut response: Response) -> Response {
    response.errors.iter_mut().for_each(crate::error::annotate);
    response
}

impl Executor for Annotated {
    fn execute(&self, request: Request) -> impl Future<Output = Response> + Send {
        let schema = self.0.clone();
        async move { execute(&schema, request).await }
    }

    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        match limits::admit(request) {
            Ok(request) => Executor::execute_stream(&self.0, request, session_data)
                .map(annotated)
                .boxed(),
            Err(refused) => {
                futures::stream::once(async { annotated(Response::from_errors(vec![refused])) })
                    .boxed()
            }
        }
    }
}
