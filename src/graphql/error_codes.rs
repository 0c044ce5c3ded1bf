//! Gives every error of every GraphQL response its `extensions.code`, over
//! WebSocket as over HTTP (see [`crate::error::annotate`]).
//!
//! A wrapper around the schema rather than a schema extension: with any
//! extension registered, async-graphql sends every field of every query
//! through its extension hooks, which costs a measurable share of a small
//! query's time.

use std::future::Future;
use std::sync::Arc;

use async_graphql::{Data, Executor, Request, Response};
use futures::StreamExt;
use futures::stream::BoxStream;

use super::KeywardSchema;

/// `schema`, with its responses' errors annotated.
#[derive(Clone)]
pub struct Annotated(pub KeywardSchema);

/// Annotates the errors of `response`.
pub fn annotated(mut response: Response) -> Response {
    response.errors.iter_mut().for_each(crate::error::annotate);
    response
}

impl Executor for Annotated {
    fn execute(&self, request: Request) -> impl Future<Output = Response> + Send {
        let schema = self.0.clone();
        async move { annotated(schema.execute(request).await) }
    }

    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        Executor::execute_stream(&self.0, request, session_data)
            .map(annotated)
            .boxed()
    }
}
