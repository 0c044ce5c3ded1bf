//! The Prometheus exporter: one recorder per process, and a listener of its
//! own (`--metrics-listen`) serving `/metrics`, so that the API's port never
//! exposes them.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{
    ARGON2_DURATION, BUILD_INFO, DB_CONNECTIONS, HTTP_REQUEST_DURATION, WEBSOCKET_CONNECTIONS,
};
use crate::error::Error;
use crate::store::Store;

/// Buckets of request durations, in seconds: from a cached verification
/// (well under a millisecond) to the request timeout.
const HTTP_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Buckets of argon2 durations, in seconds: tens of milliseconds at the
/// OWASP cost, more on a loaded host.
const ARGON2_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Connections the metrics listener serves at once: scrapers are few (a
/// Prometheus pair, an agent), each with one connection.
const MAX_CONNECTIONS: u32 = 32;
/// Connections one address may hold on the metrics listener.
const MAX_CONNECTIONS_PER_ADDRESS: u32 = 8;
/// How often histograms are compacted between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process's recorder: the `metrics` facade has one global recorder, so
/// every server of the process (tests run several) shares it.
static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// Whether the process's recorder is installed (see [`recorder`]).
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Whether metrics are recorded in this process: without `--metrics-listen`
/// nothing is, and callers can skip building labels.
pub(crate) fn is_installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// The handle of the process's recorder, installed on first use.
fn recorder() -> Result<PrometheusHandle, Error> {
    let mut installed = HANDLE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(handle) = installed.as_ref() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(HTTP_REQUEST_DURATION.into()), HTTP_BUCKETS)
        .and_then(|builder| {
            builder.set_buckets_for_metric(Matcher::Full(ARGON2_DURATION.into()), ARGON2_BUCKETS)
        })
        .map_err(|e| Error::internal(format!("cannot configure the metrics recorder: {e}")))?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|e| Error::internal(format!("cannot install the metrics recorder: {e}")))?;
    super::describe();
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    *installed = Some(handle.clone());
    INSTALLED.store(true, Ordering::Relaxed);
    Ok(handle)
}

/// What `/metrics` reads at each scrape, besides the recorder: values that
/// are exact when sampled and would drift if counted up and down.
#[derive(Clone)]
pub struct Sampled {
    pub store: Store,
    /// The WebSocket connection slots.
    pub websocket_slots: crate::listener::Slots,
}

/// The running metrics listener.
pub struct MetricsServer {
    local_addr: SocketAddr,
    stop: CancellationToken,
    server: JoinHandle<()>,
    upkeep: JoinHandle<()>,
}

impl MetricsServer {
    /// Installs the recorder (once per process) and serves `/metrics` on
    /// `listener`, bound at `local_addr`.
    pub fn start(
        listener: TcpListener,
        local_addr: SocketAddr,
        sampled: Sampled,
    ) -> Result<Self, Error> {
        let handle = recorder()?;
        let router = Router::new()
            .route("/metrics", get(scrape))
            .with_state((handle.clone(), sampled));
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        // The API's accept loop, with its head timeout and connection caps:
        // connections that send nothing must not pile up here either.
        let limits = crate::listener::ConnectionLimits {
            max_connections: MAX_CONNECTIONS,
            per_address: MAX_CONNECTIONS_PER_ADDRESS,
            trusted_proxies: Arc::new([]),
        };
        let server = tokio::spawn(crate::listener::serve(
            listener,
            router,
            limits,
            async move {
                stopped.cancelled().await;
            },
        ));
        let upkeep = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(UPKEEP_EVERY);
            loop {
                ticks.tick().await;
                handle.run_upkeep();
            }
        });
        tracing::info!(url = %format!("http://{local_addr}/metrics"), "metrics are served");
        Ok(Self {
            local_addr,
            stop,
            server,
            upkeep,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops serving.
    pub async fn stop(self) {
        self.stop.cancel();
        self.upkeep.abort();
        let _ = self.server.await;
    }
}

/// `GET /metrics`: the Prometheus text exposition.
async fn scrape(State((handle, sampled)): State<(PrometheusHandle, Sampled)>) -> Response {
    let pool = sampled.store.pool_connections();
    for (state, count) in [
        ("in_use", pool.in_use),
        ("idle", pool.idle),
        ("max", pool.max),
    ] {
        metrics::gauge!(DB_CONNECTIONS, "state" => state).set(f64::from(count));
    }
    let open = sampled.websocket_slots.in_use();
    #[allow(
        clippy::cast_precision_loss,
        reason = "exact as an integer far beyond any connection count"
    )]
    metrics::gauge!(WEBSOCKET_CONNECTIONS).set(open as f64);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}
