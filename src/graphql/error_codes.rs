//! Gives every error of every GraphQL response its `extensions.code`, over
//! HTTP and over WebSocket alike (see [`crate::error::annotate`]).

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextRequest, NextSubscribe,
};
use async_graphql::{Response, async_trait};
use futures::StreamExt;
use futures::stream::BoxStream;

/// The schema extension.
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodes)
    }
}

fn annotated(mut response: Response) -> Response {
    response.errors.iter_mut().for_each(crate::error::annotate);
    response
}

#[async_trait::async_trait]
impl Extension for ErrorCodes {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        annotated(next.run(ctx).await)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream).map(annotated).boxed()
    }
}
