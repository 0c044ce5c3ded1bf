//! `/verify` and `/projects/{projectId}/verify`: the forward-auth endpoint
//! that nginx (`auth_request`), Caddy (`forward_auth`), Traefik
//! (`forwardAuth`) and Envoy (`ext_authz`) ask before letting a request
//! through to the service behind them.
//!
//! It authenticates exactly as the GraphQL endpoint does (the same
//! [`Caller`], so the same throttling, cache, expiry, `lastUsedAt` and
//! failure counts) and never runs GraphQL. The answer is the status the
//! proxy acts on, and the caller's facts as `X-Keyward-*` headers the proxy
//! passes on to the service.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::Method;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::{AppState, Caller, ProjectScope};
use crate::auth::{KeyPrincipal, Principal};
use crate::error::{Error, Unmet};
use crate::ids::GlobalId;
use crate::scopes::Scopes;
use crate::store::Role;

/// The original request's method, as Traefik and Caddy forward it.
const FORWARDED_METHOD: &str = "x-forwarded-method";
/// The original request's method, as nginx configurations usually send it.
const ORIGINAL_METHOD: &str = "x-original-method";

/// `/verify` (and any path below it): any project's keys.
pub(super) async fn verify(State(app): State<AppState>, parts: Parts) -> Response {
    answer(&app, parts, false).await
}

/// `/projects/{projectId}/verify` (and any path below it): that project's
/// keys only.
pub(super) async fn verify_project(State(app): State<AppState>, parts: Parts) -> Response {
    answer(&app, parts, true).await
}

async fn answer(app: &AppState, mut parts: Parts, project_scoped: bool) -> Response {
    match judge(app, &mut parts, project_scoped).await {
        Ok(Allowed {
            principal: Principal::ApiKey(key),
            ..
        }) => app.key_answers.response(&key),
        Ok(allowed) => allowed
            .render()
            .map_or_else(IntoResponse::into_response, ok),
        // A proxy tells "retry later" from "refused" by the status alone.
        Err(Error::Internal(cause)) => Error::Unavailable(cause).into_response(),
        Err(refused) => refused.into_response(),
    }
    .with_no_store()
}

/// The verdict: who passed, or why not. Malformed requirements are the
/// proxy's configuration, refused before any credentials are looked at;
/// then authentication, then the project, then the requirements.
async fn judge(app: &AppState, parts: &mut Parts, project_scoped: bool) -> Result<Allowed, Error> {
    let requirements = Requirements::of(parts)?;
    let caller = Caller::for_verify(parts, app).await?;
    let project = if project_scoped {
        Some(ProjectScope::confirm(parts, app).await?)
    } else {
        None
    };
    if let Err(unmet) = requirements.check(&caller.principal, project) {
        caller.forbidden(app);
        return Err(unmet);
    }
    Ok(Allowed {
        principal: caller.principal,
        project,
    })
}

/// What the proxy asks of the key: the least role (from `role=` and the
/// original method) and the scopes it must hold (every `scope=`).
#[derive(Debug, PartialEq, Eq)]
struct Requirements {
    least: Role,
    scopes: Scopes,
}

impl Requirements {
    fn of(parts: &Parts) -> Result<Self, Error> {
        let query = parts.uri.query().unwrap_or_default();
        let mut asked_role = None;
        let mut scopes = Vec::new();
        // Other parameters are ignored: Envoy appends the original request's
        // path and query to the verify URL.
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*name {
                "role" => {
                    let role = Role::from_name(&value).ok_or_else(|| {
                        Error::bad_input("role", "must be READ_ONLY, MEMBER or OWNER")
                    })?;
                    // Asked twice, the stricter holds.
                    asked_role = Some(asked_role.map_or(role, |asked: Role| {
                        if role.at_least(asked) { role } else { asked }
                    }));
                }
                "scope" => scopes.push(value.into_owned()),
                _ => {}
            }
        }
        let scopes = Scopes::parse("scope", &scopes)?;
        let by_method = if reads_only(parts) {
            Role::ReadOnly
        } else {
            Role::Member
        };
        let least = match asked_role {
            Some(asked) if asked.at_least(by_method) => asked,
            _ => by_method,
        };
        Ok(Self { least, scopes })
    }

    /// The administrator, and everyone while access control is off, pass
    /// every requirement; a key must have the role and every scope.
    ///
    /// A person who is not an administrator holds every scope (scopes
    /// restrict keys, not people) and is judged by their role in `project`
    /// (the endpoint's: the highest of their own membership and their
    /// groups'), refused if they are not a member; at `/verify`, which
    /// names no project, they count as READ_ONLY (reads pass).
    fn check(&self, principal: &Principal, project: Option<i64>) -> Result<(), Error> {
        if principal.is_admin() {
            return Ok(());
        }
        let (held, scopes) = match principal {
            Principal::ApiKey(key) => (key.role, Some(&key.scopes)),
            _ => (person_role(principal, project)?, None),
        };
        if !held.at_least(self.least) {
            return Err(Error::Unmet(Unmet::Role {
                held: held.as_str(),
                least: self.least.as_str(),
            }));
        }
        if let Some(missing) = scopes.and_then(|held| self.scopes.first_missing_from(held)) {
            return Err(Error::Unmet(Unmet::Scope(missing.to_owned())));
        }
        Ok(())
    }
}

/// A person's role at a verify URL: their role in `project`, or READ_ONLY
/// where no project is named; FORBIDDEN for a project they are not a
/// member of.
fn person_role(principal: &Principal, project: Option<i64>) -> Result<Role, Error> {
    match project {
        None => Ok(Role::ReadOnly),
        Some(id) => principal.role_in(id).ok_or(Error::Forbidden(
            "the signed-in user is not a member of this project",
        )),
    }
}

/// Whether the request the proxy is asking about only reads, by the
/// method it forwarded (`X-Forwarded-Method`, `X-Original-Method`), else
/// this request's own (Envoy sends the original method as its own).
///
/// When both headers are there, both must read: a proxy sets one of them
/// and passes the client's headers on, so a client could otherwise send the
/// other one and choose the method it is judged by.
fn reads_only(parts: &Parts) -> bool {
    let forwarded: Vec<&HeaderValue> = [FORWARDED_METHOD, ORIGINAL_METHOD]
        .iter()
        .flat_map(|name| parts.headers.get_all(*name))
        .collect();
    if forwarded.is_empty() {
        return is_read(&parts.method);
    }
    forwarded
        .iter()
        .all(|value| Method::from_bytes(value.as_bytes()).is_ok_and(|method| is_read(&method)))
}

/// GET, HEAD and OPTIONS read; every other method (unknown ones included,
/// and methods are case-sensitive) may change something.
fn is_read(method: &Method) -> bool {
    [Method::GET, Method::HEAD, Method::OPTIONS].contains(method)
}

/// A caller that passed, at the endpoint of `project` (if any).
struct Allowed {
    principal: Principal,
    project: Option<i64>,
}

/// The JSON body of a `200`: the same facts as the headers.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AllowedBody {
    kind: &'static str,
    project_id: Option<String>,
    key_id: Option<String>,
    access_key: Option<String>,
    role: Option<&'static str>,
    scopes: Option<Vec<String>>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    user_id: Option<String>,
    username: Option<String>,
    groups: Option<Vec<String>>,
}

impl Allowed {
    /// The answer's headers and JSON body.
    fn render(&self) -> Result<(HeaderMap, Bytes), Error> {
        let body = match &self.principal {
            Principal::Anonymous => AllowedBody {
                kind: kind(&self.principal),
                project_id: None,
                key_id: None,
                access_key: None,
                role: None,
                scopes: None,
                expires_at: None,
                user_id: None,
                username: None,
                groups: None,
            },
            Principal::Person(person) => AllowedBody {
                kind: kind(&self.principal),
                project_id: self.project.map(|id| GlobalId::project(id).to_string()),
                key_id: None,
                access_key: None,
                // The administrator has every right, and no role to name.
                role: if person.administrator {
                    None
                } else {
                    person_role(&self.principal, self.project)
                        .ok()
                        .map(Role::as_str)
                },
                scopes: None,
                expires_at: None,
                user_id: Some(GlobalId::user(person.user_id).to_string()),
                username: Some(person.username.clone()),
                groups: Some(person.groups.to_vec()),
            },
            Principal::ApiKey(key) => AllowedBody {
                kind: kind(&self.principal),
                project_id: Some(GlobalId::project(key.project_id).to_string()),
                key_id: Some(GlobalId::api_key(key.key_id).to_string()),
                access_key: Some(key.access_key.clone()),
                role: Some(key.role.as_str()),
                scopes: Some(key.scopes.as_slice().to_vec()),
                expires_at: key.expires_at,
                user_id: None,
                username: None,
                groups: None,
            },
        };
        let mut headers = HeaderMap::new();
        let mut set = |name: &'static str, value: &str| {
            // Ids, access keys, role and scope names are ASCII; usernames
            // and groups may not be, and are percent-encoded (see
            // `header_text`), so that every header is always set.
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        };
        // Every header on every 200, empty when it does not apply (to the
        // administrator, or anyone while access control is off), so that a
        // proxy copying them always overwrites what a client sent under the
        // same names.
        set("x-keyward-kind", body.kind);
        set(
            "x-keyward-project-id",
            body.project_id.as_deref().unwrap_or_default(),
        );
        set(
            "x-keyward-key-id",
            body.key_id.as_deref().unwrap_or_default(),
        );
        set(
            "x-keyward-access-key",
            body.access_key.as_deref().unwrap_or_default(),
        );
        set("x-keyward-role", body.role.unwrap_or_default());
        set(
            "x-keyward-scopes",
            &body.scopes.as_deref().unwrap_or_default().join(" "),
        );
        set(
            "x-keyward-user-id",
            body.user_id.as_deref().unwrap_or_default(),
        );
        set(
            "x-keyward-username",
            &header_text(body.username.as_deref().unwrap_or_default(), true),
        );
        // Space-separated: a space inside a group's name is encoded.
        let groups: Vec<String> = body
            .groups
            .iter()
            .flatten()
            .map(|group| header_text(group, false))
            .collect();
        set("x-keyward-groups", &groups.join(" "));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let body = serde_json::to_vec(&body)
            .map_err(|err| Error::internal(format!("cannot write /verify's answer: {err}")))?;
        Ok((headers, body.into()))
    }
}

/// A `200` with these headers and body.
fn ok((headers, body): (HeaderMap, Bytes)) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.headers_mut() = headers;
    response
}

/// The answers to keys, rendered once per key and reused while the key's
/// facts stay the same: a proxy asks about the same few keys again and
/// again, and rendering their ids, headers and JSON body cost as much as
/// the rest of a verification. Keyed by the key's id and checked against
/// the whole principal, so a key whose facts changed (a new role, say, or
/// its successor after rotation) is rendered anew. Bounded: past
/// [`MAX_KEY_ANSWERS`] keys it starts over.
#[derive(Default)]
pub struct KeyAnswers(RwLock<HashMap<i64, Arc<KeyAnswer>>>);

/// How many keys' answers are kept (about 1 KiB each).
const MAX_KEY_ANSWERS: usize = 10_000;

struct KeyAnswer {
    key: KeyPrincipal,
    headers: HeaderMap,
    body: Bytes,
}

impl KeyAnswers {
    fn response(&self, key: &KeyPrincipal) -> Response {
        let known = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key.key_id)
            .filter(|answer| answer.key == *key)
            .cloned();
        let answer = match known {
            Some(answer) => answer,
            None => {
                let allowed = Allowed {
                    principal: Principal::ApiKey(key.clone()),
                    project: Some(key.project_id),
                };
                let (headers, body) = match allowed.render() {
                    Ok(rendered) => rendered,
                    Err(err) => return err.into_response(),
                };
                let answer = Arc::new(KeyAnswer {
                    key: key.clone(),
                    headers,
                    body,
                });
                let mut answers = self.0.write().unwrap_or_else(PoisonError::into_inner);
                if answers.len() >= MAX_KEY_ANSWERS {
                    answers.clear();
                }
                answers.insert(key.key_id, Arc::clone(&answer));
                answer
            }
        };
        ok((answer.headers.clone(), answer.body.clone()))
    }
}

/// `value` as a header value: visible ASCII (and spaces, if `spaces`) as
/// they are; `%`, control characters and anything beyond ASCII
/// percent-encoded (UTF-8), so `Zoë` travels as `Zo%C3%AB`.
fn header_text(value: &str, spaces: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if ((spaces && c == ' ') || c.is_ascii_graphic()) && c != '%' {
            out.push(c);
        } else {
            let mut buffer = [0u8; 4];
            for byte in c.encode_utf8(&mut buffer).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    out
}

/// `X-Keyward-Kind`, as `Viewer.kind` names it.
fn kind(principal: &Principal) -> &'static str {
    match principal {
        Principal::Anonymous => "ANONYMOUS",
        Principal::Person(person) if person.administrator => "ADMIN",
        Principal::Person(_) => "USER",
        Principal::ApiKey(_) => "API_KEY",
    }
}

trait NoStore {
    fn with_no_store(self) -> Self;
}

impl NoStore for Response {
    /// A verdict holds for one request: a cache in front must not reuse it
    /// after a key is revoked.
    fn with_no_store(mut self) -> Self {
        self.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn parts(method: Method, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut request = axum::http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).expect("a request").into_parts().0
    }

    fn least(method: Method, uri: &str, headers: &[(&str, &str)]) -> Result<Role, ErrorCode> {
        Requirements::of(&parts(method, uri, headers))
            .map(|requirements| requirements.least)
            .map_err(|err| err.code())
    }

    #[test]
    fn names_travel_in_headers_percent_encoded_where_they_must() {
        let cases = [
            ("ada", true, "ada"),
            ("Ada Lovelace", true, "Ada Lovelace"),
            ("platform team", false, "platform%20team"),
            ("Zoë", true, "Zo%C3%AB"),
            ("100%", true, "100%25"),
            ("a\r\nb", true, "a%0D%0Ab"),
        ];
        for (value, spaces, expected) in cases {
            assert_eq!(header_text(value, spaces), expected, "{value:?}");
        }
    }

    #[test]
    fn the_original_method_sets_the_least_role() {
        use Role::*;
        type Forwarded = &'static [(&'static str, &'static str)];
        let cases: &[(Method, Forwarded, Role)] = &[
            (Method::GET, &[], ReadOnly),
            (Method::HEAD, &[], ReadOnly),
            (Method::OPTIONS, &[], ReadOnly),
            (Method::POST, &[], Member),
            (Method::DELETE, &[], Member),
            (Method::GET, &[("x-forwarded-method", "POST")], Member),
            (Method::GET, &[("x-original-method", "PATCH")], Member),
            (Method::POST, &[("x-forwarded-method", "GET")], ReadOnly),
            // A proxy sets one header and passes the client's on: the client
            // cannot talk its way down with the other one.
            (
                Method::GET,
                &[("x-forwarded-method", "GET"), ("x-original-method", "POST")],
                Member,
            ),
            (Method::GET, &[("x-forwarded-method", "")], Member),
            (Method::GET, &[("x-original-method", "PROPFIND")], Member),
            // Methods are case-sensitive: "get" is not GET.
            (Method::GET, &[("x-forwarded-method", "get")], Member),
            (
                Method::GET,
                &[("x-forwarded-method", "PUT"), ("x-original-method", "GET")],
                Member,
            ),
        ];
        for (method, headers, expected) in cases {
            assert_eq!(
                least(method.clone(), "/verify", headers),
                Ok(*expected),
                "{method} {headers:?}"
            );
        }
    }

    #[test]
    fn role_asks_for_more_never_less() {
        use Role::*;
        let cases = [
            ("/verify?role=OWNER", Method::GET, Ok(Owner)),
            ("/verify?role=READ_ONLY", Method::POST, Ok(Member)),
            ("/verify?role=MEMBER&role=OWNER", Method::GET, Ok(Owner)),
            ("/verify?role=OWNER&role=READ_ONLY", Method::GET, Ok(Owner)),
            (
                "/verify?role=owner",
                Method::GET,
                Err(ErrorCode::BadUserInput),
            ),
            ("/verify?role=", Method::GET, Err(ErrorCode::BadUserInput)),
            ("/verify/deploy?x=1&role=MEMBER", Method::GET, Ok(Member)),
        ];
        for (uri, method, expected) in cases {
            assert_eq!(least(method, uri, &[]), expected, "{uri}");
        }
    }

    #[test]
    fn scopes_are_every_scope_parameter() {
        let requirements =
            Requirements::of(&parts(Method::GET, "/verify?scope=deploy&scope=a%3Ab", &[]))
                .expect("valid");
        assert_eq!(requirements.scopes, Scopes::from_stored("a:b deploy"));
        let bad = Requirements::of(&parts(Method::GET, "/verify?scope=Not+Valid", &[]));
        assert_eq!(
            bad.map_err(|e| e.code()).err(),
            Some(ErrorCode::BadUserInput)
        );
    }

    #[test]
    fn keys_need_the_role_and_every_scope_admins_pass() {
        let key = |role, scopes: &str| {
            Principal::ApiKey(KeyPrincipal {
                key_id: 1,
                access_key: "AK".into(),
                project_id: 1,
                role,
                expires_at: None,
                scopes: Scopes::from_stored(scopes),
            })
        };
        let needs = |least, scopes: &str| Requirements {
            least,
            scopes: Scopes::from_stored(scopes),
        };
        let person = |administrator, memberships: &[(i64, Role)]| {
            Principal::Person(crate::auth::PersonPrincipal {
                user_id: 1,
                username: "ada".into(),
                administrator,
                memberships: std::sync::Arc::new(memberships.iter().copied().collect()),
                groups: std::sync::Arc::default(),
                via: crate::auth::PersonCredential::Password {
                    hash: String::new(),
                },
            })
        };
        let admin = || person(true, &[]);
        let requirement = |result: Result<(), Error>| match result {
            Ok(()) => None,
            Err(Error::Unmet(unmet)) => Some(unmet.requirement()),
            Err(other) => panic!("unexpected {other:?}"),
        };
        let cases = [
            (key(Role::ReadOnly, ""), needs(Role::ReadOnly, ""), None),
            (
                key(Role::ReadOnly, ""),
                needs(Role::Member, ""),
                Some("role"),
            ),
            (key(Role::Member, ""), needs(Role::Owner, ""), Some("role")),
            (key(Role::Owner, ""), needs(Role::Member, ""), None),
            (
                key(Role::Owner, ""),
                needs(Role::ReadOnly, "deploy"),
                Some("scope"),
            ),
            (
                key(Role::Member, "deploy x"),
                needs(Role::Member, "deploy"),
                None,
            ),
            (
                key(Role::Member, "deploy"),
                needs(Role::Member, "deploy x"),
                Some("scope"),
            ),
            (admin(), needs(Role::Owner, "anything"), None),
            // People hold every scope, and their role in the endpoint's project.
            (
                person(false, &[(1, Role::Member)]),
                needs(Role::Member, "x"),
                None,
            ),
            (
                person(false, &[(1, Role::ReadOnly)]),
                needs(Role::Member, ""),
                Some("role"),
            ),
            (Principal::Anonymous, needs(Role::Owner, "anything"), None),
        ];
        for (principal, requirements, expected) in cases {
            assert_eq!(
                requirement(requirements.check(&principal, Some(1))),
                expected,
                "{principal:?} against {requirements:?}"
            );
        }
    }
}
