//! Request ids: which incoming ones are kept, and how new ones are made.
//!
//! The id ties a request's log lines, its audit events and its answer
//! (`x-request-id`) together, so it must be unique, and never chosen by a
//! client (who could forge or reuse another request's).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderValue;
use tower_http::request_id::{MakeRequestId, RequestId};

use super::REQUEST_ID;

/// Drops an incoming `x-request-id` unless a trusted proxy sent it and it is
/// short printable ASCII, so that the id in the audit trail and the logs is
/// either ours or the proxy's, never one a client chose.
pub(super) fn admit(trusted_proxies: &[IpAddr], mut request: Request) -> Request {
    let Some(id) = request.headers().get(REQUEST_ID) else {
        return request;
    };
    let from_proxy = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| trusted_proxies.contains(&peer.ip()));
    let keep = from_proxy
        && id.len() <= crate::store::MAX_REQUEST_ID_LEN
        && id.as_bytes().iter().all(u8::is_ascii_graphic);
    if !keep {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}

/// Makes request ids: a random 64-bit prefix drawn when the server starts
/// and a counter, written like a UUID (36 characters). Unique across
/// replicas and restarts with the same odds as random ids of that size, at
/// the cost of one atomic increment (a random UUID per request read the
/// operating system's random source every time).
#[derive(Clone, Debug)]
pub(super) struct RequestIds {
    prefix: u64,
    next: Arc<AtomicU64>,
}

impl RequestIds {
    pub(super) fn new() -> Self {
        Self {
            prefix: rand::random(),
            next: Arc::new(AtomicU64::new(0)),
        }
    }

    fn format(prefix: u64, n: u64, buffer: &mut [u8; 36]) -> &str {
        uuid::Uuid::from_u64_pair(prefix, n)
            .hyphenated()
            .encode_lower(buffer)
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut buffer = [0; 36];
        HeaderValue::from_str(Self::format(self.prefix, n, &mut buffer))
            .ok()
            .map(RequestId::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_shaped_and_differ_by_their_counter() {
        let (mut first, mut later) = ([0; 36], [0; 36]);
        let first = RequestIds::format(0x0123_4567_89ab_cdef, 0, &mut first);
        let later = RequestIds::format(0x0123_4567_89ab_cdef, u64::MAX, &mut later);
        assert_eq!(first, "01234567-89ab-cdef-0000-000000000000");
        assert_eq!(later, "01234567-89ab-cdef-ffff-ffffffffffff");
    }
}
