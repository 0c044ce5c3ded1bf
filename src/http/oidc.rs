//! Signing in through an identity provider, and the sign-in page's door
//! for the tools behind the gate:
//!
//! - `GET /auth/providers`: the enabled providers' names, for the sign-in
//!   page (public: they are what the page shows anyway).
//! - `GET /auth/oidc/{name}/start?return_to=URL`: keeps a sign-in under way
//!   (its `state`, `nonce` and PKCE verifier, in the database so that any
//!   replica can finish it) and sends the browser to the provider.
//! - `GET /auth/oidc/{name}/callback`: where the provider sends the browser
//!   back; the sign-in is taken (once), the code exchanged, the ID token
//!   checked, the person signed in with the same cookie as a password
//!   sign-in, and sent to `return_to`.
//! - `GET /auth/sign-in?return_to=URL`: where a proxy sends a browser that
//!   has no session: straight back if it has one after all, else to the
//!   console's sign-in screen, which carries `return_to` on.
//!
//! A sign-in is bound to the browser that started it: `/start` sets a
//! short-lived cookie holding its `state`, and the callback takes the
//! sign-in only from a browser presenting the same (RFC 6749 §10.12).
//! Without it, anyone could start a sign-in as themself and have someone
//! else's browser finish it, signing that person in as the attacker.
//!
//! Every failure ends on the sign-in page, `/?signInError=<code>` (see
//! `auth::oidc::Failure`), with nothing secret in the URL.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::{AppState, RequestOrigin, return_to, session};
use crate::auth::oidc::Failure;
use crate::auth::{Credential, Secret};
use crate::store::{identity_provider, oidc_sign_in};

/// How long a sign-in may stay at the provider.
const SIGN_IN_TIMEOUT: chrono::TimeDelta = chrono::TimeDelta::minutes(10);
/// The cookie binding a sign-in to the browser that started it.
const BINDING_COOKIE: &str = "keyward_sign_in";

/// Most sign-ins under way at once, on all replicas: each is a row until it
/// comes back or expires.
const MOST_UNDER_WAY: u64 = 50_000;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Providers {
    providers: Vec<ProviderLink>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProviderLink {
    name: String,
    start_url: String,
}

/// `GET /auth/providers`.
pub(super) async fn providers(State(app): State<AppState>) -> Response {
    match app.store.identity_providers().await {
        Ok(all) => Json(Providers {
            providers: all
                .into_iter()
                .filter(|provider| provider.enabled)
                .map(|provider| ProviderLink {
                    start_url: format!("/auth/oidc/{}/start", provider.name),
                    name: provider.name,
                })
                .collect(),
        })
        .into_response(),
        Err(err) => err.into_response(),
    }
}

#[derive(Deserialize)]
pub(super) struct ReturnTo {
    return_to: Option<String>,
}

/// `GET /auth/oidc/{name}/start`.
pub(super) async fn start(
    State(app): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<ReturnTo>,
    parts: Parts,
) -> Response {
    let return_to = return_to::checked(&app, &parts.headers, query.return_to.as_deref());
    match begin(&app, &parts, &name, &return_to).await {
        Ok((url, state)) => {
            let binding =
                binding_cookie(&app, &parts, state.expose(), SIGN_IN_TIMEOUT.num_seconds());
            ([(header::SET_COOKIE, binding)], Redirect::to(&url)).into_response()
        }
        Err(failure) => to_sign_in_page(failure, &return_to),
    }
}

/// The `Set-Cookie` binding a sign-in to this browser (`value` its state),
/// or clearing it (`max_age` 0). `SameSite=Lax`: the provider sends the
/// browser back with a top-level GET, which carries it.
fn binding_cookie(app: &AppState, parts: &Parts, value: &str, max_age: i64) -> HeaderValue {
    let cookie = format!(
        "{BINDING_COOKIE}={value}; HttpOnly; SameSite=Lax; Path=/auth/oidc/; Max-Age={max_age}{}",
        session::secure_attribute(app, parts)
    );
    // A state is URL-safe base64: always a valid header value.
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Whether this browser started the sign-in of `state` (see the module's
/// comment); compared in constant time.
fn bound_to_this_browser(parts: &Parts, state: &str) -> bool {
    use subtle::ConstantTimeEq;
    session::cookie_values(&parts.headers, BINDING_COOKIE)
        .any(|value| bool::from(value.as_bytes().ct_eq(state.as_bytes())))
}

async fn begin(
    app: &AppState,
    parts: &Parts,
    name: &str,
    return_to: &str,
) -> Result<(String, Secret), Failure> {
    let settings = app.store.settings().await.map_err(internal)?;
    if !settings.access_control_enabled {
        return Err(Failure::AccessControlOff);
    }
    let provider = enabled_provider(app, name).await?;
    let origin = RequestOrigin::of(app, parts).map_err(internal)?;
    app.auth.start_sign_in(origin.client)?;
    let redirect_uri = format!("{}/auth/oidc/{}/callback", origin.base_url, provider.name);
    let (url, pending) = app.oidc.begin(&provider, &redirect_uri).await?;
    let kept = app
        .store
        .begin_oidc_sign_in(
            oidc_sign_in::Model {
                state_hash: crate::auth::secret_digest(&pending.state),
                provider_id: provider.id,
                nonce: pending.nonce.expose().to_owned(),
                pkce_verifier: pending.pkce_verifier.expose().to_owned(),
                redirect_uri,
                return_to: return_to.to_owned(),
                expires_at: crate::store::now() + SIGN_IN_TIMEOUT,
            },
            MOST_UNDER_WAY,
        )
        .await
        .map_err(internal)?;
    if !kept {
        tracing::warn!("too many sign-ins through identity providers are under way");
        return Err(Failure::TooManySignIns);
    }
    Ok((url, pending.state))
}

/// What a provider sends back (RFC 6749 §4.1.2 and §4.1.2.1).
#[derive(Deserialize)]
pub(super) struct Callback {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

/// `GET /auth/oidc/{name}/callback`.
pub(super) async fn callback(
    State(app): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<Callback>,
    parts: Parts,
) -> Response {
    // Taken before anything else (but only by the browser that started
    // it), so that a state is used once whatever happens next.
    let taken = match &query.state {
        Some(state) if !bound_to_this_browser(&parts, state) => {
            tracing::debug!("a sign-in came back to a browser that did not start it");
            Ok(None)
        }
        Some(state) => app
            .store
            .take_oidc_sign_in(&crate::auth::secret_digest(&Secret::new(state.clone())))
            .await
            .map_err(internal),
        None => Ok(None),
    };
    let sign_in = match taken {
        Ok(Some(sign_in)) => sign_in,
        Ok(None) => return to_sign_in_page(Failure::StateInvalid, return_to::HOME),
        Err(failure) => return to_sign_in_page(failure, return_to::HOME),
    };
    let return_to = sign_in.return_to.clone();
    match finish(&app, &parts, &name, query, sign_in).await {
        Ok(cookie) => ([(header::SET_COOKIE, cookie)], Redirect::to(&return_to)).into_response(),
        Err(failure) => to_sign_in_page(failure, &return_to),
    }
}

async fn finish(
    app: &AppState,
    parts: &Parts,
    name: &str,
    query: Callback,
    sign_in: oidc_sign_in::Model,
) -> Result<axum::http::HeaderValue, Failure> {
    let provider = enabled_provider(app, name).await?;
    if provider.id != sign_in.provider_id {
        tracing::debug!("a sign-in came back to another provider's callback");
        return Err(Failure::StateInvalid);
    }
    if let Some(error) = &query.error {
        // The provider's own words are not shown: anyone can put them in a URL.
        tracing::debug!(provider = %provider.name, %error, "the provider did not sign the person in");
        return Err(Failure::ProviderDenied);
    }
    let code = query.code.ok_or(Failure::ProviderDenied)?;
    let pending = crate::auth::oidc::Pending {
        state: Secret::new(String::new()),
        nonce: Secret::new(sign_in.nonce.clone()),
        pkce_verifier: Secret::new(sign_in.pkce_verifier.clone()),
    };
    let identity = app
        .oidc
        .finish(&provider, &sign_in.redirect_uri, &code, pending)
        .await?;
    let origin = RequestOrigin::of(app, parts).map_err(internal)?;
    let signed_in = app
        .auth
        .sign_in_through(&provider, identity, Some(origin.client))
        .await?;
    tracing::info!(
        provider = %provider.name,
        user_id = signed_in.user.id,
        "signed in through an identity provider"
    );
    Ok(session::set_cookie(app, parts, &signed_in))
}

/// `GET /auth/sign-in`.
pub(super) async fn sign_in_page(State(app): State<AppState>, parts: Parts) -> Response {
    let raw = door_return_to(parts.uri.query().unwrap_or_default());
    let return_to = return_to::checked(&app, &parts.headers, raw.as_deref());
    if signed_in(&app, &parts).await {
        return Redirect::to(&return_to).into_response();
    }
    let page = format!(
        "/?returnTo={}",
        form_urlencoded::byte_serialize(return_to.as_bytes()).collect::<String>()
    );
    Redirect::to(&page).into_response()
}

/// The door's `return_to`. Proxies cannot encode the tool's URL they put
/// there (nginx's `$request_uri`, Caddy's `{uri}`), so an unencoded URL —
/// one that starts with `http://`, `https://` or `/` — is the rest of the
/// query string, `&`s and all; an encoded one is one parameter as usual.
fn door_return_to(query: &str) -> Option<String> {
    let at = if query.starts_with("return_to=") {
        0
    } else {
        query.find("&return_to=")? + 1
    };
    let value = &query[at + "return_to=".len()..];
    let unencoded = ["http://", "https://", "/"]
        .iter()
        .any(|start| value.starts_with(start));
    if unencoded {
        return Some(value.to_owned());
    }
    form_urlencoded::parse(value.as_bytes())
        .next()
        .map(|(first, rest)| {
            // `value` was `return_to`'s value up to its first `&`: the
            // parser reads it as a name (and an empty value).
            if rest.is_empty() {
                first.into_owned()
            } else {
                format!("{first}={rest}")
            }
        })
}

/// Whether the request's cookie is a live session.
async fn signed_in(app: &AppState, parts: &Parts) -> bool {
    let Some(token) = session::cookie(&parts.headers) else {
        return false;
    };
    let Ok(origin) = RequestOrigin::of(app, parts) else {
        return false;
    };
    app.auth
        .authenticate(
            Credential::Session(&token),
            Some(origin.client),
            origin.endpoint,
        )
        .await
        .is_ok_and(|principal| principal.person().is_some())
}

async fn enabled_provider(app: &AppState, name: &str) -> Result<identity_provider::Model, Failure> {
    app.store
        .identity_provider_named(name)
        .await
        .map_err(internal)?
        .filter(|provider| provider.enabled)
        .ok_or(Failure::UnknownProvider)
}

/// The sign-in page, saying what failed, and still offering the way back.
fn to_sign_in_page(failure: Failure, return_to: &str) -> Response {
    tracing::debug!(
        code = failure.code(),
        "a sign-in through an identity provider failed"
    );
    let mut page = format!("/?signInError={}", failure.code());
    if return_to != return_to::HOME {
        page.push_str("&returnTo=");
        page.extend(form_urlencoded::byte_serialize(return_to.as_bytes()));
    }
    Redirect::to(&page).into_response()
}

fn internal(err: impl std::fmt::Display) -> Failure {
    tracing::warn!(error = %err, "a sign-in through an identity provider failed");
    Failure::Internal
}

#[cfg(test)]
mod tests {
    use super::door_return_to;

    #[test]
    fn the_door_takes_a_proxys_unencoded_url_whole() {
        let cases = [
            (
                "return_to=https://tools.example/d?a=1&b=2",
                Some("https://tools.example/d?a=1&b=2"),
            ),
            ("return_to=/projects?x=1&y=2", Some("/projects?x=1&y=2")),
            (
                "return_to=https%3A%2F%2Ftools.example%2Fd%3Fa%3D1%26b%3D2",
                Some("https://tools.example/d?a=1&b=2"),
            ),
            ("x=1&return_to=%2Fhome&other=2", Some("/home")),
            ("return_to=", None),
            ("x=1", None),
            ("", None),
        ];
        for (query, expected) in cases {
            assert_eq!(door_return_to(query).as_deref(), expected, "{query}");
        }
    }
}
