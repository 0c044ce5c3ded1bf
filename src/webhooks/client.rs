//! The HTTP sender: one signed `POST` per attempt, judged as the Standard
//! Webhooks specification says (a `2xx` answer is a delivery, anything else
//! a failure), through the SSRF policy of [`super::destination`].

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use reqwest::redirect;
use url::Url;

use super::destination::{DestinationError, DestinationPolicy, GuardedResolver, check_url};
use super::signing::SigningSecret;

/// The default limit on one attempt, from the start of connecting to the
/// receiver's status line: long enough for a receiver that does its work
/// before answering, short enough that one slow receiver cannot tie up the
/// sender.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Error texts are stored with each attempt and shown to the webhook's
/// owner: kept to a line.
const MAX_ERROR_LEN: usize = 200;

/// The `webhook-*` header names of the specification.
pub const WEBHOOK_ID: &str = "webhook-id";
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";

/// The HTTP client could not be built (its TLS backend failed to start).
#[derive(Debug, thiserror::Error)]
#[error("could not build the webhook HTTP client: {0}")]
pub struct ClientError(#[from] reqwest::Error);

/// The outcome of one delivery attempt, to be recorded with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The receiver's status code, if it answered at all.
    pub status: Option<u16>,
    /// Why the attempt failed, in a line fit to show the webhook's owner;
    /// `None` when delivered. Never contains the signing secret or the URL.
    pub error: Option<String>,
    /// Whether the receiver took the message (a `2xx` answer).
    pub delivered: bool,
}

impl Attempt {
    fn delivered(status: u16) -> Self {
        Self {
            status: Some(status),
            error: None,
            delivered: true,
        }
    }

    fn failed(status: Option<u16>, error: impl Into<String>) -> Self {
        let mut error: String = error.into();
        if error.len() > MAX_ERROR_LEN {
            let mut end = MAX_ERROR_LEN;
            while !error.is_char_boundary(end) {
                end -= 1;
            }
            error.truncate(end);
            error.push('…');
        }
        Self {
            status,
            error: Some(error),
            delivered: false,
        }
    }
}

/// Sends webhooks. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    policy: DestinationPolicy,
    timeout: Duration,
}

impl Client {
    /// A client with the [`DEFAULT_TIMEOUT`].
    pub fn new(policy: DestinationPolicy) -> Result<Self, ClientError> {
        Self::with_timeout(policy, DEFAULT_TIMEOUT)
    }

    /// A client whose attempts give up after `timeout`.
    pub fn with_timeout(policy: DestinationPolicy, timeout: Duration) -> Result<Self, ClientError> {
        Self::with_resolver(policy, timeout, GuardedResolver::new(policy))
    }

    fn with_resolver(
        policy: DestinationPolicy,
        timeout: Duration,
        resolver: GuardedResolver,
    ) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            // A redirect is a failure (the owner should update the URL), and
            // following one would reach a URL that was never checked.
            .redirect(redirect::Policy::none())
            .timeout(timeout)
            // A proxy from the environment would resolve the receiver's
            // name itself, past the resolver's checks.
            .no_proxy()
            .dns_resolver(Arc::new(resolver))
            .user_agent(concat!("keyward-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            policy,
            timeout,
        })
    }

    /// Makes one attempt to deliver `body` (the exact bytes of a
    /// [`super::Payload`]) to `url`, signed with `secret` under `message_id`
    /// and the current time, and reports how it went. Never fails: every
    /// problem is a failed [`Attempt`], for the caller to record and retry.
    ///
    /// `message_id` (`webhook-id`) stays the same across the retries of one
    /// message, so that receivers can drop duplicates; it must be printable
    /// ASCII without spaces or `.` (the signature's delimiter).
    pub async fn deliver(
        &self,
        url: &Url,
        secret: &SigningSecret,
        message_id: &str,
        body: &[u8],
    ) -> Attempt {
        if let Err(refused) = check_url(url, self.policy) {
            return Attempt::failed(None, refused.to_string());
        }
        if !is_valid_message_id(message_id) {
            return Attempt::failed(None, "invalid webhook id");
        }
        let Ok(id_header) = HeaderValue::from_str(message_id) else {
            return Attempt::failed(None, "invalid webhook id");
        };

        let timestamp = Utc::now().timestamp();
        let signature = secret.sign(message_id, timestamp, body);
        let request = self
            .http
            .post(url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(WEBHOOK_ID, id_header)
            .header(WEBHOOK_TIMESTAMP, timestamp)
            .header(WEBHOOK_SIGNATURE, signature)
            .body(body.to_vec());

        match request.send().await {
            Ok(response) => {
                let status = response.status();
                if status.is_success() {
                    Attempt::delivered(status.as_u16())
                } else if status.is_redirection() {
                    Attempt::failed(
                        Some(status.as_u16()),
                        format!(
                            "the receiver answered {status}; redirects are not followed, \
                             update the webhook URL"
                        ),
                    )
                } else {
                    Attempt::failed(
                        Some(status.as_u16()),
                        format!("the receiver answered {status}"),
                    )
                }
            }
            Err(err) => Attempt::failed(None, self.describe(err)),
        }
    }

    /// A line for a request that got no answer: the timeout, the policy's
    /// refusal, or the innermost cause (such as "Connection refused"),
    /// without reqwest's URL, which can hold the receiver's token.
    fn describe(&self, err: reqwest::Error) -> String {
        if err.is_timeout() {
            return format!("no answer within {:?}", self.timeout);
        }
        let mut innermost = None;
        let mut source = err.source();
        while let Some(cause) = source {
            if let Some(refused) = cause.downcast_ref::<DestinationError>() {
                return refused.to_string();
            }
            innermost = Some(cause.to_string());
            source = cause.source();
        }
        let is_connect = err.is_connect();
        let cause = innermost.unwrap_or_else(|| err.without_url().to_string());
        if is_connect {
            format!("could not connect: {cause}")
        } else {
            format!("request failed: {cause}")
        }
    }
}

/// Printable ASCII without spaces (a header value, and one token in logs)
/// and without `.`, which delimits the signed `{id}.{timestamp}.{body}`: an
/// id with one could make two messages sign the same bytes.
fn is_valid_message_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 256 && id.bytes().all(|b| b.is_ascii_graphic() && b != b'.')
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, SocketAddr};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::IntoResponse;
    use axum::routing::{any, post};
    use tokio::net::TcpListener;

    use super::*;
    use crate::webhooks::Payload;

    const STRICT: DestinationPolicy = DestinationPolicy {
        allow_private_networks: false,
    };
    const OPEN: DestinationPolicy = DestinationPolicy {
        allow_private_networks: true,
    };

    /// What the local receiver saw.
    #[derive(Default)]
    struct Seen {
        requests: Mutex<Vec<(HeaderMap, Bytes)>>,
        redirect_target_hits: AtomicUsize,
    }

    impl Seen {
        fn requests(&self) -> usize {
            self.requests.lock().expect("lock").len()
        }
    }

    /// A receiver on 127.0.0.1: `/ok` takes the message, `/fail` answers
    /// 500, `/gone` 410, `/redirect` sends to `/target`, which counts its hits.
    async fn receiver() -> (SocketAddr, Arc<Seen>) {
        async fn record(
            State(seen): State<Arc<Seen>>,
            headers: HeaderMap,
            body: Bytes,
        ) -> StatusCode {
            seen.requests.lock().expect("lock").push((headers, body));
            StatusCode::NO_CONTENT
        }
        async fn target(State(seen): State<Arc<Seen>>) -> StatusCode {
            seen.redirect_target_hits.fetch_add(1, Ordering::SeqCst);
            StatusCode::OK
        }
        let seen = Arc::new(Seen::default());
        let app = Router::new()
            .route("/ok", post(record))
            .route(
                "/fail",
                post(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
            )
            .route("/gone", post(|| async { StatusCode::GONE }))
            .route(
                "/redirect",
                post(|| async {
                    (StatusCode::FOUND, [(header::LOCATION, "/target")]).into_response()
                }),
            )
            .route("/target", any(target))
            .with_state(seen.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (addr, seen)
    }

    fn url(s: &str) -> Url {
        Url::parse(s).expect("a URL")
    }

    fn payload() -> Payload {
        Payload::new("key.created", Utc::now(), &serde_json::json!({"id": "k_1"}))
    }

    fn secret() -> SigningSecret {
        SigningSecret::generate().expect("randomness")
    }

    fn assert_no_secret(attempt: &Attempt, secret: &SigningSecret) {
        let key = &secret.expose()["whsec_".len()..];
        assert!(!format!("{attempt:?}").contains(key), "{attempt:?}");
    }

    #[tokio::test]
    async fn a_2xx_answer_is_a_delivery_of_the_signed_body() {
        let (addr, seen) = receiver().await;
        let client = Client::new(OPEN).expect("client");
        let secret = secret();
        let payload = payload();
        let before = Utc::now().timestamp();

        let attempt = client
            .deliver(
                &url(&format!("http://{addr}/ok")),
                &secret,
                "msg_1",
                payload.as_bytes(),
            )
            .await;

        assert_eq!(
            attempt,
            Attempt {
                status: Some(204),
                error: None,
                delivered: true
            }
        );
        let requests = seen.requests.lock().expect("lock");
        let [(headers, body)] = requests.as_slice() else {
            panic!("expected one request, got {}", requests.len());
        };
        assert_eq!(body.as_ref(), payload.as_bytes());
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        assert_eq!(header("content-type"), "application/json");
        assert_eq!(header(WEBHOOK_ID), "msg_1");
        let timestamp: i64 = header(WEBHOOK_TIMESTAMP).parse().expect("unix seconds");
        assert!((before..=Utc::now().timestamp()).contains(&timestamp));
        assert_eq!(
            header(WEBHOOK_SIGNATURE),
            secret.sign("msg_1", timestamp, payload.as_bytes())
        );
        assert!(header("user-agent").starts_with("keyward-webhooks/"));
    }

    #[tokio::test]
    async fn answers_other_than_2xx_fail_with_their_status_by_table() {
        let (addr, seen) = receiver().await;
        let client = Client::new(OPEN).expect("client");
        let secret = secret();
        // (path, status, error text starts with)
        let cases = [
            (
                "/fail",
                500,
                "the receiver answered 500 Internal Server Error",
            ),
            ("/missing", 404, "the receiver answered 404 Not Found"),
            ("/gone", 410, "the receiver answered 410 Gone"),
            (
                "/redirect",
                302,
                "the receiver answered 302 Found; redirects are not followed",
            ),
        ];
        for (path, status, error) in cases {
            let attempt = client
                .deliver(
                    &url(&format!("http://{addr}{path}")),
                    &secret,
                    "msg_2",
                    b"{}",
                )
                .await;
            assert_eq!(attempt.status, Some(status), "{path}");
            assert!(!attempt.delivered, "{path}");
            let text = attempt.error.as_deref().unwrap_or("");
            assert!(text.starts_with(error), "{path}: {text}");
            assert_no_secret(&attempt, &secret);
        }
        assert_eq!(seen.requests(), 0);
    }

    #[tokio::test]
    async fn a_redirect_is_not_followed() {
        let (addr, seen) = receiver().await;
        let client = Client::new(OPEN).expect("client");
        let attempt = client
            .deliver(
                &url(&format!("http://{addr}/redirect")),
                &secret(),
                "msg_3",
                b"{}",
            )
            .await;
        assert_eq!(attempt.status, Some(302));
        assert!(!attempt.delivered);
        assert_eq!(seen.redirect_target_hits.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn an_attempt_is_given_ten_seconds_by_default_within_the_workers_lease() {
        assert_eq!(DEFAULT_TIMEOUT, Duration::from_secs(10));
        let client = Client::new(STRICT).expect("client");
        assert_eq!(client.timeout, Duration::from_secs(10));
        // A claimed delivery stays reserved for longer than its attempt.
        let lease = crate::webhooks::worker::LEASE
            .to_std()
            .expect("a positive lease");
        assert!(lease > DEFAULT_TIMEOUT, "{lease:?}");
    }

    #[tokio::test]
    async fn a_receiver_that_never_answers_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        // Accepts, reads nothing, answers nothing, and keeps the sockets open.
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let client = Client::with_timeout(OPEN, Duration::from_millis(300)).expect("client");
        let secret = secret();

        let started = Instant::now();
        let attempt = client
            .deliver(&url(&format!("http://{addr}/")), &secret, "msg_4", b"{}")
            .await;
        let elapsed = started.elapsed();

        assert_eq!(
            attempt,
            Attempt {
                status: None,
                error: Some("no answer within 300ms".to_owned()),
                delivered: false
            }
        );
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
        silent.abort();
    }

    #[tokio::test]
    async fn a_refused_connection_fails_without_a_status() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let client = Client::new(OPEN).expect("client");
        let secret = secret();
        let attempt = client
            .deliver(
                &url(&format!("http://{addr}/hook?token=t0k3n")),
                &secret,
                "msg_5",
                b"{}",
            )
            .await;
        assert_eq!(attempt.status, None);
        assert!(!attempt.delivered);
        let text = attempt.error.as_deref().unwrap_or("");
        assert!(text.starts_with("could not connect: "), "{text}");
        assert!(text.to_lowercase().contains("refused"), "{text}");
        assert!(!text.contains("t0k3n"), "{text}");
        assert_no_secret(&attempt, &secret);
    }

    #[tokio::test]
    async fn the_policy_refuses_private_destinations_at_send_time_by_table() {
        let (addr, seen) = receiver().await;
        let port = addr.port();
        let strict = Client::new(STRICT).expect("client");
        // A name that resolves to loopback when sending, as a name re-pointed
        // after it was saved would (DNS rebinding).
        let loopback: &[IpAddr] = &["127.0.0.1".parse().expect("IP")];
        let rebound = Client::with_resolver(
            STRICT,
            DEFAULT_TIMEOUT,
            GuardedResolver::fixed(STRICT, &[("rebound.example", loopback)]),
        )
        .expect("client");
        let cases = [
            (
                &strict,
                format!("http://127.0.0.1:{port}/ok"),
                "127.0.0.1 is refused: webhooks may not reach loopback addresses",
            ),
            (
                &strict,
                format!("http://[::ffff:127.0.0.1]:{port}/ok"),
                "::ffff:127.0.0.1 is refused: webhooks may not reach loopback",
            ),
            (
                &strict,
                format!("http://localhost:{port}/ok"),
                "localhost names this machine",
            ),
            (
                &strict,
                format!("ftp://127.0.0.1:{port}/ok"),
                "only http and https",
            ),
            (
                &rebound,
                format!("http://rebound.example:{port}/ok"),
                "rebound.example does not resolve, or resolves to an address webhooks may not reach",
            ),
        ];
        for (client, target, error) in cases {
            let attempt = client
                .deliver(&url(&target), &secret(), "msg_6", b"{}")
                .await;
            assert_eq!(attempt.status, None, "{target}");
            assert!(!attempt.delivered, "{target}");
            let text = attempt.error.as_deref().unwrap_or("");
            assert!(text.starts_with(error), "{target}: {text}");
        }
        assert_eq!(seen.requests(), 0, "a refused destination was reached");
    }

    #[tokio::test]
    async fn names_are_resolved_through_the_guarded_resolver() {
        let (addr, seen) = receiver().await;
        // No DNS knows this name: only the resolver's table does, so the
        // delivery shows the client resolves through it.
        let loopback: &[IpAddr] = &["127.0.0.1".parse().expect("IP")];
        let client = Client::with_resolver(
            OPEN,
            DEFAULT_TIMEOUT,
            GuardedResolver::fixed(OPEN, &[("receiver.example", loopback)]),
        )
        .expect("client");
        let target = url(&format!("http://receiver.example:{}/ok", addr.port()));
        let attempt = client.deliver(&target, &secret(), "msg_7", b"{}").await;
        assert!(attempt.delivered, "{attempt:?}");
        assert_eq!(seen.requests(), 1);
    }

    #[tokio::test]
    async fn invalid_message_ids_are_refused_before_sending_by_table() {
        let (addr, seen) = receiver().await;
        let client = Client::new(OPEN).expect("client");
        let target = url(&format!("http://{addr}/ok"));
        for id in ["", "msg.1", "msg 1", "msg\n1", "msg_é", &"m".repeat(257)] {
            let attempt = client.deliver(&target, &secret(), id, b"{}").await;
            assert_eq!(
                attempt.error.as_deref(),
                Some("invalid webhook id"),
                "{id:?}"
            );
        }
        assert_eq!(seen.requests(), 0);
    }

    #[test]
    fn long_error_texts_are_cut_to_a_line() {
        let attempt = Attempt::failed(None, "é".repeat(300));
        let text = attempt.error.expect("an error");
        assert!(
            text.len() <= MAX_ERROR_LEN + '…'.len_utf8(),
            "{}",
            text.len()
        );
        assert!(text.ends_with('…'));
    }
}
