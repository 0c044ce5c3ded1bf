//! The one way in for credentials: every entry point (`POST /graphql`, the
//! project endpoint, GraphiQL, the WebSocket's upgrade and `connection_init`,
//! `/verify`) turns a request into a [`Caller`] and, on a project's routes,
//! a [`ProjectScope`] through this module, so that the principal, the client
//! address, the request id and the project are each computed in one place.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, RawPathParams};
use axum::http::HeaderValue;
use axum::http::header::{self, HeaderMap};
use axum::http::request::Parts;
use axum::http::uri::Authority;

use super::observe::Observation;
use super::{AppState, REQUEST_ID};
use crate::auth::{Attempt, Credential, Principal, Secret};
use crate::error::Error;
use crate::graphql::RequestContext;
use crate::ids::{GlobalId, NodeKind};
use crate::metrics::AuthEndpoint;
use crate::store::KnownProject;
use crate::usage::Counted;

/// Where a request comes from, before anything is known of who sent it.
#[derive(Clone, Debug)]
pub struct RequestOrigin {
    /// The client's address: the socket's peer, or what a trusted proxy
    /// reported (see [`client_address`]).
    pub client: IpAddr,
    /// The request's `x-request-id` (ours, or a trusted proxy's).
    pub request_id: Option<String>,
    /// Base URL project endpoints are built on, without a trailing slash.
    pub base_url: String,
    /// Which endpoint it came to, for the authentication metrics.
    pub endpoint: AuthEndpoint,
    /// The `User-Agent` header, for a key's recent clients.
    pub user_agent: Option<HeaderValue>,
    /// Where the request's log line learns who called.
    observation: Option<Observation>,
}

/// An authenticated request: who is calling, and from where.
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    pub origin: RequestOrigin,
    /// How a key's authentication was counted in its usage.
    counted: Option<Counted>,
}

/// The project a `/projects/{projectId}/…` request is confined to, as read
/// when the request was scoped: it exists, and the caller may reach it.
#[derive(Clone, Debug)]
pub struct ProjectScope(pub KnownProject);

impl RequestOrigin {
    pub(super) fn of(app: &AppState, parts: &Parts) -> Result<Self, Error> {
        let ConnectInfo(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .copied()
            .ok_or_else(|| Error::internal("a request without its peer's address"))?;
        Ok(Self {
            client: client_address(&app.trusted_proxies, peer.ip(), &parts.headers),
            request_id: request_id(&parts.headers),
            base_url: base_url(app, &parts.headers),
            endpoint: parts
                .extensions
                .get::<MatchedPath>()
                .map_or(AuthEndpoint::Other, |route| {
                    AuthEndpoint::of_route(route.as_str())
                }),
            user_agent: parts.headers.get(header::USER_AGENT).cloned(),
            observation: parts.extensions.get::<Observation>().cloned(),
        })
    }
}

impl FromRequestParts<AppState> for RequestOrigin {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Error> {
        Self::of(app, parts)
    }
}

impl Caller {
    /// Resolves `credential` (an `Authorization` header value, wherever it
    /// travelled, or the session cookie) into a caller. Throttling, the
    /// verification cache, expiry, sessions' timeouts, `lastUsedAt` and a
    /// key's usage all happen inside, and the request's log line is told
    /// who called.
    pub async fn authenticate(
        app: &AppState,
        origin: RequestOrigin,
        credential: Credential<'_>,
    ) -> Result<Self, Error> {
        let attempt = Attempt {
            client: Some(origin.client),
            user_agent: origin
                .user_agent
                .as_ref()
                .and_then(|value| value.to_str().ok()),
            endpoint: origin.endpoint,
        };
        let authenticated = app.auth.authenticate_attempt(credential, attempt).await;
        if let Some(observation) = &origin.observation {
            observation.caller(authenticated.as_ref().map(|it| &it.principal));
        }
        let authenticated = authenticated?;
        Ok(Self {
            principal: authenticated.principal,
            origin,
            counted: authenticated.counted,
        })
    }

    /// Counts this caller's authentication as `forbidden` rather than
    /// `accepted` in its key's usage: the endpoint itself refused it
    /// (another project's endpoint, `/verify`'s requirements).
    pub fn forbidden(&self, app: &AppState) {
        if let Some(counted) = self.counted {
            app.auth.usage().forbid(counted);
        }
    }

    /// What resolvers are given, for a request confined to `scope` (if any).
    pub fn context(self, scope: Option<ProjectScope>) -> RequestContext {
        RequestContext {
            principal: self.principal,
            scope: scope.map(|ProjectScope(project)| project),
            base_url: self.origin.base_url,
            client_address: Some(self.origin.client),
            request_id: self.origin.request_id,
        }
    }
}

/// Authenticates the request's `Authorization` header, once per request:
/// later extractors (such as [`ProjectScope`]) reuse the result.
impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Error> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let origin = RequestOrigin::of(app, parts)?;
        let presented = Presented::of(app, &parts.headers, !is_read(&parts.method))?;
        let caller = Caller::authenticate(app, origin, presented.credential()).await?;
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

impl Caller {
    /// The caller at `/verify`: as [`FromRequestParts`] does, except that
    /// the session cookie is taken whatever the method and origin. The
    /// request is the proxy's question about another site's request, which
    /// `/verify` only answers (it changes nothing), so there is no forgery
    /// to guard against here; the tool behind the proxy guards its own.
    pub async fn for_verify(parts: &mut Parts, app: &AppState) -> Result<Self, Error> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let origin = RequestOrigin::of(app, parts)?;
        let presented = Presented::of(app, &parts.headers, false)?;
        let caller = Caller::authenticate(app, origin, presented.credential()).await?;
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// The credentials a request's headers present, for [`Caller::authenticate`].
pub enum Presented {
    /// An `Authorization` header: Basic credentials win over the cookie (a
    /// script's key is not a browser's session, and the hot path of keys
    /// parses no cookie).
    Header(HeaderValue),
    /// The session cookie.
    Session(Secret),
    Nothing,
}

impl Presented {
    /// What `headers` present. The cookie of a request that may change
    /// something (`changes`: a mutation, a WebSocket upgrade) is taken only
    /// from keyward's own pages, else FORBIDDEN (see `session`).
    pub fn of(app: &AppState, headers: &HeaderMap, changes: bool) -> Result<Self, Error> {
        if let Some(authorization) = headers.get(header::AUTHORIZATION) {
            return Ok(Self::Header(authorization.clone()));
        }
        match super::session::cookie(headers) {
            Some(token) => {
                if changes {
                    super::session::require_same_origin(app, headers)?;
                }
                Ok(Self::Session(token))
            }
            None => Ok(Self::Nothing),
        }
    }

    pub fn credential(&self) -> Credential<'_> {
        match self {
            Self::Header(authorization) => Credential::Header(authorization),
            Self::Session(token) => Credential::Session(token),
            Self::Nothing => Credential::None,
        }
    }
}

impl ProjectScope {
    /// Project `raw_id` for `caller`: NOT_FOUND if there is no such project
    /// (or the id is malformed) or the caller is a person who is not a
    /// member, FORBIDDEN if the caller is a key of another project. Says
    /// nothing about the other project.
    pub async fn resolve(app: &AppState, caller: &Caller, raw_id: &str) -> Result<Self, Error> {
        let id = project_id(raw_id)?;
        let project = app
            .store
            .known_project(id)
            .await?
            .ok_or(Error::NotFound("project"))?;
        if !caller.principal.can_see(project.row().id) {
            // A key is told it is at the wrong endpoint (its own project is
            // known to it); a person who is not a member must not learn that
            // the project exists.
            return Err(match caller.principal.key() {
                Some(_) => {
                    caller.forbidden(app);
                    Error::Forbidden("these credentials belong to another project")
                }
                None => Error::NotFound("project"),
            });
        }
        Ok(Self(project))
    }

    /// What the extractor checks, for an answer that needs nothing of the
    /// project's row (`/verify`): a key of this very project is let through
    /// without reading it, since a key valid now implies its project exists
    /// (deleting a project deletes its keys, and revokes them everywhere);
    /// a person, to any project that exists, for `verify` to judge their
    /// role in it.
    pub async fn confirm(parts: &mut Parts, app: &AppState) -> Result<i64, Error> {
        let caller = Caller::from_request_parts(parts, app).await?;
        let raw = route_project_id(parts, app).await?;
        if let Some(key) = caller.principal.key()
            && project_id(&raw)? == key.project_id
        {
            return Ok(key.project_id);
        }
        // A person is judged by their role there (verify's requirements):
        // one who is not a member is refused with 403, which a proxy shows
        // as "forbidden" (a 404 would be a mistake in its configuration).
        if caller.principal.person().is_some() && !caller.principal.is_admin() {
            let id = project_id(&raw)?;
            return match app.store.known_project(id).await? {
                Some(project) => Ok(project.row().id),
                None => Err(Error::NotFound("project")),
            };
        }
        Self::resolve(app, &caller, &raw)
            .await
            .map(|Self(project)| project.row().id)
    }
}

/// GET and HEAD only read (GraphQL over HTTP runs no mutation on GET).
fn is_read(method: &axum::http::Method) -> bool {
    method == axum::http::Method::GET || method == axum::http::Method::HEAD
}

/// The `{project_id}` of the route, as sent (percent-decoded).
async fn route_project_id(parts: &mut Parts, app: &AppState) -> Result<String, Error> {
    let params = RawPathParams::from_request_parts(parts, app)
        .await
        .map_err(|_| Error::NotFound("project"))?;
    params
        .iter()
        .find(|(name, _)| *name == "project_id")
        .map(|(_, value)| value.to_owned())
        .ok_or(Error::NotFound("project"))
}

/// The database id of a project's global id; NOT_FOUND if it is not one.
fn project_id(raw: &str) -> Result<i64, Error> {
    GlobalId::parse(raw)
        .filter(|gid| gid.kind == NodeKind::Project)
        .map(|gid| gid.id)
        .ok_or(Error::NotFound("project"))
}

/// The `{project_id}` of the route, scoped for the request's [`Caller`].
/// Authentication comes first, so that nothing, not even whether a project
/// exists, is told to a caller without valid credentials.
impl FromRequestParts<AppState> for ProjectScope {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Error> {
        let caller = Caller::from_request_parts(parts, app).await?;
        let raw = route_project_id(parts, app).await?;
        Self::resolve(app, &caller, &raw).await
    }
}

/// The client's address: the socket's peer, unless the peer is a trusted
/// proxy; then the nearest untrusted address in `X-Forwarded-For` (walking
/// from the right, where each proxy appends what it saw).
fn client_address(trusted: &[IpAddr], peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|hop| !trusted.contains(hop))
        .unwrap_or(peer)
}

/// The request's id, set by `SetRequestIdLayer` unless a trusted proxy did.
pub(super) fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get(REQUEST_ID)
        .and_then(|id| id.to_str().ok())
        .map(str::to_owned)
}

/// Base URL of project endpoints: the configured public URL, else `http://`
/// and the request's Host, else the listening address.
fn base_url(app: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &app.public_url {
        return url.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<Authority>().ok())
        // An authority with userinfo ("user@host") is not a Host header.
        .filter(|authority| !authority.as_str().contains('@'));
    match host {
        Some(host) => format!("http://{host}"),
        None => format!("http://{}", app.listen),
    }
}
