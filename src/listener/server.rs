//! The accept loop: connections, their limits, and shutdown.
//!
//! Hand-written rather than `axum::serve`, because the latter exposes
//! neither hyper's buffer limits nor a hook to close idle connections.
//!
//! Every connection must deliver a complete request head within
//! [`HEAD_TIMEOUT`] of opening, and again within it of its last response:
//! an idle-connection watchdog closes it otherwise, whatever it sent —
//! nothing at all, part of HTTP/2's preface, part of a head, or an HTTP/2
//! connection with no streams. (hyper's own `header_read_timeout` only
//! starts once HTTP/1 bytes arrive, so a connection that sends nothing
//! would be held for ever.) Slow bodies are the request timeout's business.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Extension;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::{Layer, Service};

use super::Slots;

/// Largest request head accepted (request line and headers); past it hyper
/// answers 431. Browsers and proxies cap headers at 8 to 64 KiB, so nothing
/// legitimate is refused, and a connection holds at most this much of an
/// unfinished head.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How long a connection may go without a complete request head: after it
/// opens, and after each response.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight requests get to finish on shutdown, and how long a
/// connection told to close gets to finish its last response.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long an idle connection told to close gets to say goodbye.
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// How many connections are served, in all and per client address.
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    pub max_connections: u32,
    /// Connections one address may hold at once; more are closed as soon as
    /// they are accepted. Below `max_connections`, so that no single address
    /// (silent connections included) can take every slot.
    pub per_address: u32,
    /// Proxies carry many clients' connections: no per-address cap for them.
    pub trusted_proxies: Arc<[IpAddr]>,
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets
/// in-flight requests finish (up to a grace period).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .max_buf_size(MAX_HEAD_BYTES)
        .timer(TokioTimer::new())
        // Also enforced by the watchdog; hyper's answers 408 mid-head.
        .header_read_timeout(HEAD_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(MAX_HEAD_BYTES).unwrap_or(u32::MAX));
    let builder = Arc::new(builder);
    let stopping = CancellationToken::new();
    let connections = TaskTracker::new();
    let slots = Slots::new(
        limits.max_connections,
        limits.per_address,
        limits.trusted_proxies,
    );
    tokio::pin!(shutdown);
    loop {
        // At the cap, stop accepting: new clients wait in the kernel's
        // backlog instead of costing memory here.
        let reserved = tokio::select! {
            reserved = slots.reserve() => match reserved {
                Some(reserved) => reserved,
                None => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Typically out of file descriptors: back off, don't spin.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = reserved.assign(peer.ip()) else {
            tracing::debug!(%peer, "connection refused: too many from this address");
            drop(stream);
            continue;
        };
        let connection = Connection {
            builder: Arc::clone(&builder),
            router: router.clone(),
            stopping: stopping.clone(),
            peer,
        };
        connections.spawn(async move {
            connection.run(stream).await;
            // A connection upgraded to a WebSocket ends here too, and gives
            // its slot back: from then on the WebSocket slots count it, its
            // address's share included (see `websocket.rs`). It does not
            // keep counting here on purpose: WebSockets are long-lived and
            // opened before any credential is checked, so sharing one cap
            // would let them starve the API and `/verify` of connections.
            // The price is at most twice `--max-connections` sockets in all.
            drop(slot);
        });
    }
    drop(listener);
    stopping.cancel();
    connections.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after the shutdown grace period were cut off");
    }
}

/// One accepted connection, before it runs.
struct Connection {
    builder: Arc<auto::Builder<TokioExecutor>>,
    router: Router,
    stopping: CancellationToken,
    peer: SocketAddr,
}

impl Connection {
    async fn run(self, stream: TcpStream) {
        // Answers go out as soon as they are written: without this, a
        // response written in two pieces waits for the client's delayed
        // ACK (up to 40 ms on Linux) before its second piece is sent.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(peer = %self.peer, error = %err, "cannot set TCP_NODELAY");
        }
        let activity = Activity::new();
        let service = Tracked {
            inner: Extension(ConnectInfo(self.peer)).layer(self.router),
            activity: activity.clone(),
        };
        let connection = self.builder.serve_connection_with_upgrades(
            TokioIo::new(stream),
            TowerToHyperService::new(service),
        );
        tokio::pin!(connection);
        // An idle connection has nothing to finish but the goodbye (HTTP/2's
        // GOAWAY, which waits for a PING the peer may never answer).
        let (reason, grace) = tokio::select! {
            result = connection.as_mut() => return log_end(self.peer, result),
            () = idle_for(activity, HEAD_TIMEOUT) => ("idle", IDLE_CLOSE_GRACE),
            () = self.stopping.cancelled() => ("shutdown", SHUTDOWN_GRACE),
        };
        tracing::debug!(peer = %self.peer, reason, "closing connection");
        // Finishes a response being written (HTTP/1) or the open streams
        // (HTTP/2), then closes; an idle HTTP/1 connection closes at once.
        connection.as_mut().graceful_shutdown();
        match tokio::time::timeout(grace, connection).await {
            Ok(result) => log_end(self.peer, result),
            Err(_) => {
                tracing::debug!(peer = %self.peer, "connection cut off after the grace period")
            }
        }
    }
}

fn log_end(peer: SocketAddr, result: Result<(), Box<dyn std::error::Error + Send + Sync>>) {
    if let Err(err) = result {
        tracing::debug!(%peer, error = %err, "connection ended with an error");
    }
}

/// Requests of one connection, for its idle watchdog: how many are in
/// progress, and when one last began or ended. Atomics, so that a request
/// costs the watchdog nothing: the watchdog looks when its deadline comes,
/// instead of being woken at every request's start and end.
#[derive(Clone)]
struct Activity(Arc<ActivityState>);

struct ActivityState {
    /// The clock [`ActivityState::last`] counts from: the connection's start.
    opened: Instant,
    in_progress: AtomicUsize,
    /// Nanoseconds from `opened` to the last start or end of a request.
    last: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self(Arc::new(ActivityState {
            opened: Instant::now(),
            in_progress: AtomicUsize::new(0),
            last: AtomicU64::new(0),
        }))
    }

    fn touch(&self) {
        let since = Instant::now().saturating_duration_since(self.0.opened);
        let nanos = u64::try_from(since.as_nanos()).unwrap_or(u64::MAX);
        self.0.last.fetch_max(nanos, Ordering::Relaxed);
    }

    /// When a request last began or ended (the connection's start if none
    /// has).
    fn last(&self) -> Instant {
        self.0.opened + Duration::from_nanos(self.0.last.load(Ordering::Relaxed))
    }

    /// Counts a request in until the returned guard is dropped (its response
    /// is ready, or it was abandoned).
    fn begin(&self) -> InProgress {
        self.0.in_progress.fetch_add(1, Ordering::AcqRel);
        self.touch();
        InProgress(self.clone())
    }
}

struct InProgress(Activity);

impl Drop for InProgress {
    fn drop(&mut self) {
        // Touched before the count falls, so the watchdog that sees no
        // request in progress also sees when the last one ended.
        self.0.touch();
        self.0.0.in_progress.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Resolves once the connection has had no request in progress, and none
/// started, for `limit`. While a request is in progress it looks again a
/// whole `limit` later, so after a request longer than `limit` the
/// connection is closed between one and two `limit`s of idleness.
async fn idle_for(activity: Activity, limit: Duration) {
    let mut wake = activity.last() + limit;
    loop {
        tokio::time::sleep_until(wake).await;
        if activity.0.in_progress.load(Ordering::Acquire) > 0 {
            wake = Instant::now() + limit;
            continue;
        }
        let idle_until = activity.last() + limit;
        if idle_until <= Instant::now() {
            return;
        }
        wake = idle_until;
    }
}

pin_project_lite::pin_project! {
    /// A request's future, counted in progress until it is done or dropped.
    struct Counted<F> {
        #[pin]
        inner: F,
        in_progress: InProgress,
    }
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}

/// A connection's service, counting its requests for the watchdog.
#[derive(Clone)]
struct Tracked<S> {
    inner: S,
    activity: Activity,
}

impl<S, R> Service<R> for Tracked<S>
where
    S: Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Counted<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let in_progress = self.activity.begin();
        Counted {
            inner: self.inner.call(request),
            in_progress,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_connection_is_idle_only_after_a_whole_timeout_without_requests() {
        let activity = Activity::new();
        let idle = tokio::spawn(idle_for(activity.clone(), Duration::from_secs(10)));
        tokio::time::sleep(Duration::from_secs(9)).await;
        // A request that comes and goes between two looks still counts.
        drop(activity.begin());
        tokio::time::sleep(Duration::from_secs(9)).await;
        assert!(!idle.is_finished());
        let long = activity.begin();
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!idle.is_finished(), "a request in progress is not idleness");
        drop(long);
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert!(idle.is_finished());
    }
}
