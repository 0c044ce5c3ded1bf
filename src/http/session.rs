//! Signing in with a browser: `POST /auth/sign-in`, `POST /auth/sign-out`,
//! `GET /auth/session`, the `keyward_session` cookie, and the two rules
//! that make a cookie safe to accept.
//!
//! - **No cross-site requests.** A browser attaches the cookie to requests
//!   that other sites' pages make. `SameSite=Lax` keeps it off cross-site
//!   POSTs, but not off requests from a sibling subdomain; so a request
//!   authenticated by the cookie that may change something (any POST to the
//!   API, sign-out, a WebSocket upgrade) must come from keyward's own
//!   origin, by `Sec-Fetch-Site` or else `Origin` ([`require_same_origin`]).
//!   Basic credentials are never attached by a browser on its own, so
//!   requests carrying them are unaffected.
//! - **No password prompt over the console.** A request that carried the
//!   cookie and no `Authorization` never gets a `WWW-Authenticate: Basic`
//!   challenge ([`no_basic_challenge`]): a browser would answer it with a
//!   password dialog over the page.

use axum::Json;
use axum::extract::State;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{StatusCode, request::Parts};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AppState, RequestOrigin};
use crate::auth::{SESSION_COOKIE, Secret, SignedIn};
use crate::error::Error;
use crate::ids::GlobalId;
use crate::store::user;

/// The session cookie's value in `headers`, if any.
pub(super) fn cookie(headers: &HeaderMap) -> Option<Secret> {
    cookie_values(headers, SESSION_COOKIE)
        .next()
        .map(|value| Secret::new(value.trim_matches('"')))
        .filter(|value| !value.expose().is_empty())
}

/// The values of every cookie named `name` in `headers`' `Cookie` lines.
pub(super) fn cookie_values<'a>(
    headers: &'a HeaderMap,
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(move |(found, _)| *found == name)
        .map(|(_, value)| value)
}

/// FORBIDDEN unless the request comes from keyward's own pages: by
/// `Sec-Fetch-Site` (`same-origin`, or `none` for what the user typed),
/// else by `Origin` (the public URL's origin, or the request's own host).
/// A request with neither header is no browser's, and no forgery.
pub(super) fn require_same_origin(app: &AppState, headers: &HeaderMap) -> Result<(), Error> {
    let refused = || {
        Error::Forbidden(
            "a request signed in by the session cookie must come from keyward's own pages",
        )
    };
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.as_bytes() {
            b"same-origin" | b"none" => Ok(()),
            _ => Err(refused()),
        };
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().map_err(|_| refused())?;
    if is_own_origin(app, headers, origin) {
        Ok(())
    } else {
        Err(refused())
    }
}

/// Whether `origin` (an `Origin` header's value) is keyward's own: the
/// request's own host, or the origin of the public URL (`--public-url`,
/// without its path).
pub(super) fn is_own_origin(app: &AppState, headers: &HeaderMap, origin: &str) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok());
    let own_host = host.is_some_and(|host| {
        origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
    });
    let public = app.public_url.as_deref().is_some_and(|url| {
        let authority_end = url
            .find("://")
            .map(|scheme| scheme + 3)
            .and_then(|start| url[start..].find('/').map(|end| start + end))
            .unwrap_or(url.len());
        url[..authority_end].eq_ignore_ascii_case(origin)
    });
    own_host || public
}

/// Whether the answer to a request with these headers goes without its
/// Basic challenge: one that came with the session cookie and without
/// `Authorization` (see the module's comment). The envelope drops it.
///
/// A page's own script (`fetch`, `Sec-Fetch-Mode` other than `navigate`)
/// that sent no credentials is not challenged either: its cookie may have
/// just ended (signed out in another tab), and the console, not a browser
/// dialog, should ask for a sign-in. Navigations, and clients that are no
/// browsers (no `Sec-Fetch-Mode`), keep the challenge.
pub(super) fn no_basic_challenge(headers: &HeaderMap) -> bool {
    let scripted = headers
        .get("sec-fetch-mode")
        .is_some_and(|mode| mode.as_bytes() != b"navigate");
    !headers.contains_key(header::AUTHORIZATION) && (cookie(headers).is_some() || scripted)
}

/// What `POST /auth/sign-in` takes, as JSON or as an HTML form.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SignIn {
    username: String,
    password: String,
    /// Where the page should go next (checked: see `return_to`).
    #[serde(default)]
    return_to: Option<String>,
}

/// Who is signed in, as `POST /auth/sign-in` and `GET /auth/session` say.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionBody {
    user: SessionUser,
    expires_at: Option<DateTime<Utc>>,
    /// After a sign-in that named one, where to go next, once checked
    /// (`return_to`); null otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    return_to: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionUser {
    id: String,
    username: String,
    display_name: String,
    administrator: bool,
}

impl From<&user::Model> for SessionUser {
    fn from(user: &user::Model) -> Self {
        Self {
            id: GlobalId::user(user.id).to_string(),
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            administrator: user.administrator,
        }
    }
}

/// `POST /auth/sign-in`: a JSON body answers 200 with who signed in (or the
/// error, without a Basic challenge); an HTML form is sent back to the
/// console, `/` on success and `/?signInFailed=1` otherwise. Either way a
/// success sets a new cookie.
pub(super) async fn sign_in(
    State(app): State<AppState>,
    parts: Parts,
    body: axum::body::Bytes,
) -> Response {
    let form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    let answer = async {
        let origin = RequestOrigin::of(&app, &parts)?;
        let SignIn {
            username,
            password,
            return_to,
        } = if form {
            let mut fields = form_urlencoded::parse(&body);
            let mut field = |name: &str| {
                fields
                    .find(|(key, _)| key == name)
                    .map(|(_, value)| value.into_owned())
            };
            let username = field("username");
            let password = field("password");
            let return_to = field("return_to");
            match (username, password) {
                (Some(username), Some(password)) => SignIn {
                    username,
                    password,
                    return_to,
                },
                _ => {
                    return Err(Error::bad_input(
                        "body",
                        "must have the fields username and password",
                    ));
                }
            }
        } else {
            serde_json::from_slice(&body).map_err(|_| {
                Error::bad_input("body", "must be JSON: {\"username\": …, \"password\": …}")
            })?
        };
        let return_to = return_to
            .as_deref()
            .map(|raw| super::return_to::checked(&app, &parts.headers, Some(raw)));
        app.auth
            .sign_in(&username, Secret::new(password), Some(origin.client))
            .await
            .map(|signed_in| (signed_in, return_to))
    }
    .await;
    match (answer, form) {
        (Ok((signed_in, return_to)), false) => {
            let body = SessionBody {
                user: SessionUser::from(&signed_in.user),
                expires_at: Some(signed_in.expires_at),
                return_to,
            };
            let cookie = set_cookie(&app, &parts, &signed_in);
            ([(header::SET_COOKIE, cookie)], Json(body)).into_response()
        }
        (Ok((signed_in, return_to)), true) => {
            let cookie = set_cookie(&app, &parts, &signed_in);
            let next = return_to.unwrap_or_else(|| super::return_to::HOME.to_owned());
            ([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response()
        }
        (Err(Error::RateLimited { retry_after }), true) => {
            tracing::debug!(?retry_after, "a form sign-in was throttled");
            Redirect::to("/?signInFailed=1").into_response()
        }
        (Err(err), true) if err.code() != crate::error::ErrorCode::Internal => {
            Redirect::to("/?signInFailed=1").into_response()
        }
        (Err(err), _) => without_challenge(err.into_response()),
    }
}

/// `POST /auth/sign-out`: ends the cookie's session (everywhere, from the
/// next request) and clears the cookie. 204 whether or not there was one;
/// a cross-site request is refused (it would sign people out at will).
pub(super) async fn sign_out(State(app): State<AppState>, parts: Parts) -> Response {
    let Some(token) = cookie(&parts.headers) else {
        return StatusCode::NO_CONTENT.into_response();
    };
    if let Err(err) = require_same_origin(&app, &parts.headers) {
        return err.into_response();
    }
    if let Err(err) = app.auth.sign_out(&token).await {
        return err.into_response();
    }
    let cleared = format!(
        "{SESSION_COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0{}{}",
        domain_attribute(&app),
        secure_attribute(&app, &parts)
    );
    match HeaderValue::from_str(&cleared) {
        Ok(cleared) => (StatusCode::NO_CONTENT, [(header::SET_COOKIE, cleared)]).into_response(),
        Err(_) => StatusCode::NO_CONTENT.into_response(),
    }
}

/// `GET /auth/session`: who the cookie signs in, or 401 (no challenge).
pub(super) async fn session(State(app): State<AppState>, parts: Parts) -> Response {
    let answer = async {
        let origin = RequestOrigin::of(&app, &parts)?;
        let token = cookie(&parts.headers).ok_or(Error::Unauthenticated)?;
        let principal = app
            .auth
            .authenticate(
                crate::auth::Credential::Session(&token),
                Some(origin.client),
                origin.endpoint,
            )
            .await?;
        let person = principal.person().ok_or(Error::Unauthenticated)?;
        let user = app
            .store
            .user(person.user_id)
            .await?
            .ok_or(Error::Unauthenticated)?;
        let expires_at = match &person.via {
            crate::auth::PersonCredential::Session { expires_at, .. } => Some(*expires_at),
            crate::auth::PersonCredential::Password { .. } => None,
        };
        Ok::<_, Error>(SessionBody {
            user: SessionUser::from(&user),
            expires_at,
            return_to: None,
        })
    }
    .await;
    match answer {
        Ok(body) => Json(body).into_response(),
        Err(err) => without_challenge(err.into_response()),
    }
}

fn without_challenge(mut response: Response) -> Response {
    response.headers_mut().remove(header::WWW_AUTHENTICATE);
    response
}

/// The `Set-Cookie` of a new session: `HttpOnly`, `SameSite=Lax`, `Path=/`,
/// `Secure` over HTTPS, `Domain` with `--session-cookie-domain`, ending
/// with the session.
pub(super) fn set_cookie(app: &AppState, parts: &Parts, signed_in: &SignedIn) -> HeaderValue {
    let max_age = (signed_in.expires_at - crate::store::now())
        .num_seconds()
        .max(0);
    let cookie = format!(
        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{}{}",
        signed_in.token.expose(),
        domain_attribute(app),
        secure_attribute(app, parts)
    );
    // The value is [A-Za-z0-9]: always a valid header value.
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `; Domain=…` with `--session-cookie-domain`: the cookie then reaches
/// the tools' hosts under that domain, and through their proxies, `/verify`.
fn domain_attribute(app: &AppState) -> String {
    app.sign_in
        .cookie_domain
        .as_deref()
        .map(|domain| format!("; Domain={domain}"))
        .unwrap_or_default()
}

/// `; Secure` when the request came over HTTPS: the public URL is https,
/// or a trusted proxy (`--trusted-proxy`) says so with
/// `X-Forwarded-Proto: https`.
pub(super) fn secure_attribute(app: &AppState, parts: &Parts) -> &'static str {
    let public_https = app
        .public_url
        .as_deref()
        .is_some_and(|url| url.starts_with("https://"));
    let from_trusted_proxy = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .is_some_and(|peer| app.trusted_proxies.contains(&peer.0.ip()));
    let forwarded_https = from_trusted_proxy
        && parts
            .headers
            .get("x-forwarded-proto")
            .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"));
    if public_https || forwarded_https {
        "; Secure"
    } else {
        ""
    }
}
