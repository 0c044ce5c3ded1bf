//! The reference server: bare axum on hyper, one file from memory.
//!
//! Its accept loop is what `axum::serve` does, with the settings keyward's
//! listener gives hyper (`src/listener/server.rs`): both HTTP versions
//! detected per connection, a 64 KiB head limit and a 10 s head timeout. A
//! production server cannot go without those, so neither does the
//! reference; everything else keyward does per request is what is measured
//! against it.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::header::{CONTENT_TYPE, HeaderValue};
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// keyward's `MAX_HEAD_BYTES` and `HEAD_TIMEOUT`.
const MAX_HEAD_BYTES: usize = 64 * 1024;
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn serve(
    listen: SocketAddr,
    file: &Path,
    content_type: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let body = Bytes::from(tokio::fs::read(file).await?);
    let content_type = HeaderValue::from_str(content_type)?;
    let router = Router::new().fallback(get(move || {
        let (body, content_type) = (body.clone(), content_type.clone());
        async move { ([(CONTENT_TYPE, content_type)], body) }
    }));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .max_buf_size(MAX_HEAD_BYTES)
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT);
    builder.http2().timer(TokioTimer::new());
    let builder = std::sync::Arc::new(builder);
    let listener = TcpListener::bind(listen).await?;
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (builder, router) = (std::sync::Arc::clone(&builder), router.clone());
        tokio::spawn(async move {
            let service = TowerToHyperService::new(router);
            let _ = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .await;
        });
    }
}
