//! `/verify` and `/projects/{projectId}/verify`, spoken to as a proxy's
//! forward-auth subrequest would (the real proxies are in `proxies`).

use std::time::Duration;

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::backend::on_every_backend;
use crate::helpers::*;

on_every_backend!(
    verify_answers_each_requirement_as_specified,
    an_allowed_key_gets_its_facts_as_headers_and_body,
    every_refused_credential_gets_one_401_body_with_the_challenge,
    every_method_and_any_path_below_verify_is_answered,
    unknown_or_malformed_projects_get_404_only_after_authentication,
    revocation_holds_for_the_very_next_verification_on_every_replica,
    an_expired_key_is_refused_from_its_expiry_on,
    verification_counts_use_and_failures_like_the_graphql_endpoint,
    verification_is_throttled_with_retry_after,
    with_access_control_off_everyone_passes_as_anonymous,
    verify_never_runs_graphql,
    malformed_requirements_are_400_before_credentials_are_looked_at,
);

/// Keys of a world with two projects, access control on.
struct World {
    app: TestApp,
    project: String,
    other_project: String,
    /// OWNER of `project`, scopes `deploy` and `metrics:read`.
    owner: TestKey,
    /// MEMBER of `project`, no scopes.
    member: TestKey,
    /// READ_ONLY of `project`, scope `deploy`.
    reader: TestKey,
    /// MEMBER of `other_project`, scope `deploy`.
    outsider: TestKey,
}

impl World {
    async fn new() -> Self {
        Self::on(TestApp::spawn().await).await
    }

    async fn on(app: TestApp) -> Self {
        app.enable_access_control().await;
        let admin = Auth::admin();
        let project = app.default_project(&admin).await;
        let other_project = app.create_project(&admin, "other").await;
        let owner = create_scoped(&app, &project, "OWNER", &["metrics:read", "deploy"]).await;
        let member = create_scoped(&app, &project, "MEMBER", &[]).await;
        let reader = create_scoped(&app, &project, "READ_ONLY", &["deploy"]).await;
        let outsider = create_scoped(&app, &other_project, "MEMBER", &["deploy"]).await;
        Self {
            app,
            project,
            other_project,
            owner,
            member,
            reader,
            outsider,
        }
    }
}

pub async fn create_scoped(app: &TestApp, project: &str, role: &str, scopes: &[&str]) -> TestKey {
    let reply = app
        .gql(
            CREATE_KEY,
            json!({ "i": { "projectId": project, "name": format!("{role} key"),
                           "role": role, "scopes": scopes } }),
            &Auth::admin(),
        )
        .await;
    key_from(reply.data())
}

/// One verification, as a proxy sends it.
pub async fn verify(
    app: &TestApp,
    method: Method,
    path: &str,
    auth: &Auth,
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = app.client.request(method, app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(with_auth(request, auth)).await
}

fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
    reply
        .headers
        .get(name)
        .and_then(|value| value.to_str().ok())
}

async fn verify_answers_each_requirement_as_specified() {
    let w = World::new().await;
    let project = format!("/projects/{}/verify", w.project);
    let other = format!("/projects/{}/verify", w.other_project);
    let (owner, member, reader, outsider, admin) = (
        w.owner.auth(),
        w.member.auth(),
        w.reader.auth(),
        w.outsider.auth(),
        Auth::admin(),
    );
    let get = Method::GET;
    let post = Method::POST;
    type Headers = &'static [(&'static str, &'static str)];
    let fwd_post: Headers = &[("X-Forwarded-Method", "POST")];
    let orig_delete: Headers = &[("X-Original-Method", "DELETE")];
    let fwd_get: Headers = &[("X-Forwarded-Method", "GET")];
    // (who, method, forwarded method, path, status, the failed requirement)
    type Case<'a> = (
        &'a str,
        &'a Auth,
        Method,
        Headers,
        String,
        u16,
        Option<&'a str>,
    );
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("reader GET", &reader, get.clone(), &[], "/verify".into(), 200, None),
        ("reader HEAD", &reader, Method::HEAD, &[], "/verify".into(), 200, None),
        ("reader OPTIONS", &reader, Method::OPTIONS, &[], "/verify".into(), 200, None),
        ("reader POST", &reader, post.clone(), &[], "/verify".into(), 403, Some("role")),
        ("reader PUT", &reader, Method::PUT, &[], "/verify".into(), 403, Some("role")),
        ("reader, forwarded POST", &reader, get.clone(), fwd_post, "/verify".into(), 403, Some("role")),
        ("reader, original DELETE", &reader, get.clone(), orig_delete, "/verify".into(), 403, Some("role")),
        ("reader, POST forwarded as GET", &reader, post.clone(), fwd_get, "/verify".into(), 200, None),
        ("member POST", &member, post.clone(), &[], "/verify".into(), 200, None),
        ("member, role=OWNER", &member, get.clone(), &[], "/verify?role=OWNER".into(), 403, Some("role")),
        ("owner, role=OWNER", &owner, get.clone(), &[], "/verify?role=OWNER".into(), 200, None),
        ("member, role=READ_ONLY on POST", &member, post.clone(), &[], "/verify?role=READ_ONLY".into(), 200, None),
        ("reader, role=READ_ONLY on POST", &reader, post.clone(), &[], "/verify?role=READ_ONLY".into(), 403, Some("role")),
        ("reader, held scope", &reader, get.clone(), &[], "/verify?scope=deploy".into(), 200, None),
        ("member, scope not held", &member, get.clone(), &[], "/verify?scope=deploy".into(), 403, Some("scope")),
        ("owner, both scopes", &owner, get.clone(), &[], "/verify?scope=deploy&scope=metrics:read".into(), 200, None),
        ("reader, one of two scopes", &reader, get.clone(), &[], "/verify?scope=deploy&scope=metrics:read".into(), 403, Some("scope")),
        ("owner, own project", &owner, get.clone(), &[], project.clone(), 200, None),
        ("outsider, another project", &outsider, get.clone(), &[], project.clone(), 403, None),
        ("outsider, its project", &outsider, post.clone(), &[], format!("{other}?scope=deploy"), 200, None),
        ("admin, any project, every requirement", &admin, post.clone(), &[], format!("{other}?role=OWNER&scope=anything"), 200, None),
        ("admin, root", &admin, Method::DELETE, &[], "/verify?role=OWNER&scope=x".into(), 200, None),
    ];
    for (what, auth, method, headers, path, status, requirement) in cases {
        let reply = verify(&w.app, method, &path, auth, headers).await;
        assert_eq!(reply.status.as_u16(), status, "{what}: {reply:?}");
        if status == 403 {
            reply.assert_code("FORBIDDEN");
            let extensions = &reply.body["errors"][0]["extensions"];
            assert_eq!(
                extensions["requirement"].as_str(),
                requirement,
                "{what}: {reply:?}"
            );
            let message = reply.body["errors"][0]["message"]
                .as_str()
                .unwrap_or_default();
            assert!(
                !message.contains(&w.other_project),
                "{what}: nothing about other projects: {message}"
            );
        }
        assert_eq!(
            header(&reply, "cache-control"),
            Some("no-store"),
            "{what}: a verdict is never cached"
        );
    }
}

async fn an_allowed_key_gets_its_facts_as_headers_and_body() {
    let w = World::new().await;
    // Whole seconds: PostgreSQL keeps microseconds.
    let expiry = (Utc::now() + chrono::Duration::days(3))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let reply = w
        .app
        .gql(
            CREATE_KEY,
            json!({ "i": { "projectId": w.project, "name": "ci", "role": "MEMBER",
                           "scopes": ["metrics:read", "deploy", "deploy"], "expiresAt": expiry } }),
            &Auth::admin(),
        )
        .await;
    let key = key_from(reply.data());
    let reply = verify(
        &w.app,
        Method::GET,
        &format!("/projects/{}/verify", w.project),
        &key.auth(),
        &[],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let expected = [
        ("x-keyward-kind", "API_KEY"),
        ("x-keyward-project-id", w.project.as_str()),
        ("x-keyward-key-id", key.id.as_str()),
        ("x-keyward-access-key", key.access_key.as_str()),
        ("x-keyward-role", "MEMBER"),
        ("x-keyward-scopes", "deploy metrics:read"),
    ];
    for (name, value) in expected {
        assert_eq!(header(&reply, name), Some(value), "{name}");
    }
    assert_eq!(reply.body["kind"], "API_KEY");
    assert_eq!(reply.body["projectId"], json!(w.project));
    assert_eq!(reply.body["keyId"], json!(key.id));
    assert_eq!(reply.body["accessKey"], json!(key.access_key));
    assert_eq!(reply.body["role"], "MEMBER");
    assert_eq!(reply.body["scopes"], json!(["deploy", "metrics:read"]));
    let at = reply.body["expiresAt"].as_str().expect("expiresAt");
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(at).ok(),
        chrono::DateTime::parse_from_rfc3339(&expiry).ok()
    );
    assert!(!reply.body.to_string().contains(&key.secret), "no secret");

    // A key without scopes: the header is there, and empty.
    let reply = verify(&w.app, Method::GET, "/verify", &w.member.auth(), &[]).await;
    assert_eq!(header(&reply, "x-keyward-scopes"), Some(""));
    assert_eq!(reply.body["scopes"], json!([]));
    assert_eq!(reply.body["expiresAt"], Value::Null);

    // The administrator: its kind, and nothing of a key (every header is
    // there, empty, so a proxy copying them overwrites a client's own).
    let reply = verify(&w.app, Method::GET, "/verify", &Auth::admin(), &[]).await;
    assert_eq!(header(&reply, "x-keyward-kind"), Some("ADMIN"));
    for name in [
        "x-keyward-project-id",
        "x-keyward-key-id",
        "x-keyward-access-key",
        "x-keyward-role",
        "x-keyward-scopes",
    ] {
        assert_eq!(header(&reply, name), Some(""), "{name}");
    }
    assert_eq!(reply.body["kind"], "ADMIN");
    assert_eq!(reply.body["keyId"], Value::Null);
}

async fn every_refused_credential_gets_one_401_body_with_the_challenge() {
    let w = World::new().await;
    let admin = Auth::admin();
    let inactive = create_scoped(&w.app, &w.project, "MEMBER", &[]).await;
    let set_state = |key: &TestKey, state: &str| json!({ "i": { "id": key.id, "state": state } });
    w.app
        .ok(SET_STATE, set_state(&inactive, "INACTIVE"), &admin)
        .await;
    let deleted = create_scoped(&w.app, &w.project, "MEMBER", &[]).await;
    w.app
        .ok(SET_STATE, set_state(&deleted, "INACTIVE"), &admin)
        .await;
    w.app
        .ok(DELETE_KEY, json!({ "i": { "id": deleted.id } }), &admin)
        .await;
    let soon = (Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    let reply = w
        .app
        .gql(
            CREATE_KEY,
            json!({ "i": { "projectId": w.project, "name": "brief", "expiresAt": soon } }),
            &admin,
        )
        .await;
    let expired = key_from(reply.data());
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    let cases = [
        ("no credentials", Auth::None),
        ("not Basic", Auth::Raw(b"Bearer abc".to_vec())),
        ("not base64", Auth::Raw(b"Basic %%%".to_vec())),
        ("wrong secret", Auth::basic(&w.member.access_key, "wrong")),
        (
            "unknown access key",
            Auth::basic("AKUNKNOWN0000000000", "secret"),
        ),
        (
            "wrong admin password",
            Auth::basic("admin", "not the password"),
        ),
        ("inactive key", inactive.auth()),
        ("deleted key", deleted.auth()),
        ("expired key", expired.auth()),
    ];
    let mut bodies = Vec::new();
    for (what, auth) in cases {
        for path in [
            "/verify".to_owned(),
            format!("/projects/{}/verify", w.project),
        ] {
            let reply = verify(&w.app, Method::GET, &path, &auth, &[]).await;
            reply.assert_unauthenticated();
            bodies.push((what, reply.body));
        }
    }
    let first = bodies[0].1.clone();
    for (what, body) in bodies {
        assert_eq!(body, first, "{what}: one body whatever the cause");
    }
}

async fn every_method_and_any_path_below_verify_is_answered() {
    let w = World::new().await;
    let methods = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ];
    let paths = [
        "/verify".to_owned(),
        "/verify/deploy/v1/apps?page=2".to_owned(),
        format!("/projects/{}/verify", w.project),
        format!("/projects/{}/verify/a/b/c", w.project),
    ];
    for method in methods {
        for path in &paths {
            let reply = verify(&w.app, method.clone(), path, &w.member.auth(), &[]).await;
            assert_eq!(reply.status, StatusCode::OK, "{method} {path}: {reply:?}");
            assert_eq!(header(&reply, "x-keyward-role"), Some("MEMBER"));
            let refused = verify(&w.app, method.clone(), path, &Auth::None, &[]).await;
            assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        }
    }
}

async fn unknown_or_malformed_projects_get_404_only_after_authentication() {
    let w = World::new().await;
    let gone = w.app.create_project(&Auth::admin(), "gone").await;
    w.app
        .ok(
            DELETE_PROJECT,
            json!({ "i": { "id": gone } }),
            &Auth::admin(),
        )
        .await;
    for project in [
        gone.as_str(),
        "garbage",
        "UHJvamVjdDo5OTk5OTk",
        w.member.id.as_str(),
    ] {
        let path = format!("/projects/{project}/verify");
        let reply = verify(&w.app, Method::GET, &path, &w.member.auth(), &[]).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{project}: {reply:?}");
        reply.assert_code("NOT_FOUND");
        let reply = verify(&w.app, Method::GET, &path, &Auth::None, &[]).await;
        reply.assert_unauthenticated();
    }
}

async fn revocation_holds_for_the_very_next_verification_on_every_replica() {
    let w = World::new().await;
    let replica = w.app.replica().await;
    let admin = Auth::admin();
    let key = create_scoped(&w.app, &w.project, "MEMBER", &[]).await;
    for app in [&w.app, &replica] {
        let reply = verify(app, Method::GET, "/verify", &key.auth(), &[]).await;
        assert_eq!(reply.status, StatusCode::OK, "warm on each replica");
    }
    w.app
        .ok(
            SET_STATE,
            json!({ "i": { "id": key.id, "state": "INACTIVE" } }),
            &admin,
        )
        .await;
    for app in [&w.app, &replica] {
        verify(app, Method::GET, "/verify", &key.auth(), &[])
            .await
            .assert_unauthenticated();
    }
    w.app
        .ok(
            SET_STATE,
            json!({ "i": { "id": key.id, "state": "ACTIVE" } }),
            &admin,
        )
        .await;
    for app in [&w.app, &replica] {
        let reply = verify(app, Method::GET, "/verify", &key.auth(), &[]).await;
        assert_eq!(reply.status, StatusCode::OK, "active again");
    }
    // Deleting the project takes its keys with it.
    let doomed = w.app.create_project(&admin, "doomed").await;
    let doomed_key = create_scoped(&w.app, &doomed, "OWNER", &[]).await;
    let path = format!("/projects/{doomed}/verify");
    for app in [&w.app, &replica] {
        let reply = verify(app, Method::GET, &path, &doomed_key.auth(), &[]).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    w.app
        .ok(DELETE_PROJECT, json!({ "i": { "id": doomed } }), &admin)
        .await;
    for app in [&w.app, &replica] {
        verify(app, Method::GET, "/verify", &doomed_key.auth(), &[])
            .await
            .assert_unauthenticated();
    }
    // Access control off: everyone passes, on every replica, at once.
    w.app
        .ok(
            "mutation { disableAccessControl { enabled } }",
            json!({}),
            &admin,
        )
        .await;
    for app in [&w.app, &replica] {
        let reply = verify(app, Method::POST, "/verify?role=OWNER", &Auth::None, &[]).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(header(&reply, "x-keyward-kind"), Some("ANONYMOUS"));
    }
}

async fn an_expired_key_is_refused_from_its_expiry_on() {
    let w = World::new().await;
    let expires_at = Utc::now() + chrono::Duration::seconds(2);
    let reply = w
        .app
        .gql(
            CREATE_KEY,
            json!({ "i": { "projectId": w.project, "name": "brief", "expiresAt": expires_at.to_rfc3339() } }),
            &Auth::admin(),
        )
        .await;
    let key = key_from(reply.data());
    let reply = verify(&w.app, Method::GET, "/verify", &key.auth(), &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "verified, and cached");
    let wait = (expires_at - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(50)).await;
    verify(&w.app, Method::GET, "/verify", &key.auth(), &[])
        .await
        .assert_unauthenticated();
}

async fn verification_counts_use_and_failures_like_the_graphql_endpoint() {
    let w = World::new().await;
    async fn state(w: &World) -> Value {
        let query =
            "query($id: ID!) { node(id: $id) { ... on ApiKey { lastUsedAt failedAuthCount } } }";
        w.app
            .ok(query, json!({ "id": w.member.id }), &Auth::admin())
            .await["node"]
            .clone()
    }
    assert_eq!(state(&w).await["lastUsedAt"], Value::Null);
    verify(&w.app, Method::GET, "/verify", &w.member.auth(), &[]).await;
    // lastUsedAt is written behind the request; give it a moment.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while state(&w).await["lastUsedAt"].is_null() {
        assert!(tokio::time::Instant::now() < deadline, "lastUsedAt is set");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..3 {
        let wrong = Auth::basic(&w.member.access_key, "wrong secret");
        verify(&w.app, Method::GET, "/verify", &wrong, &[])
            .await
            .assert_unauthenticated();
    }
    assert_eq!(state(&w).await["failedAuthCount"], 3);
}

async fn verification_is_throttled_with_retry_after() {
    let app = TestApp::spawn_with(|config| {
        config.limits.auth_failures_per_key = 3;
        config.limits.auth_throttle_delay_ms = 0;
    })
    .await;
    let w = World::on(app).await;
    let wrong = Auth::basic(&w.member.access_key, "wrong secret");
    let mut throttled = None;
    for _ in 0..10 {
        let reply = verify(&w.app, Method::GET, "/verify", &wrong, &[]).await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some(reply);
            break;
        }
        reply.assert_unauthenticated();
    }
    let reply = throttled.expect("throttled after the key's failure limit");
    reply.assert_code("RATE_LIMITED");
    let retry_after: u64 = header(&reply, "retry-after")
        .and_then(|value| value.parse().ok())
        .expect("a Retry-After in seconds");
    assert!(retry_after >= 1, "{retry_after}");
    // Even the right secret waits (no oracle).
    let reply = verify(&w.app, Method::GET, "/verify", &w.member.auth(), &[]).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
}

async fn with_access_control_off_everyone_passes_as_anonymous() {
    let app = TestApp::spawn().await;
    let project = app.default_project(&Auth::None).await;
    for path in [
        "/verify?role=OWNER&scope=deploy".to_owned(),
        format!("/projects/{project}/verify"),
    ] {
        for auth in [Auth::None, Auth::basic("whoever", "whatever")] {
            let reply = verify(&app, Method::DELETE, &path, &auth, &[]).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}: {reply:?}");
            assert_eq!(header(&reply, "x-keyward-kind"), Some("ANONYMOUS"));
            assert_eq!(reply.body["kind"], "ANONYMOUS");
        }
    }
    let reply = verify(
        &app,
        Method::GET,
        "/projects/garbage/verify",
        &Auth::None,
        &[],
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::NOT_FOUND,
        "the project must exist"
    );
}

async fn verify_never_runs_graphql() {
    let app = TestApp::spawn().await;
    let request = app
        .client
        .post(app.url("/verify"))
        .json(&json!({ "query": "mutation { createProject(input: { name: \"via verify\" }) { project { id } } }" }));
    let reply = send(request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["kind"], "ANONYMOUS");
    assert!(reply.body.get("data").is_none(), "{reply:?}");
    let data = app
        .ok(
            "{ projects(first: 10) { edges { node { name } } } }",
            json!({}),
            &Auth::None,
        )
        .await;
    assert!(!data.to_string().contains("via verify"), "{data}");
}

async fn malformed_requirements_are_400_before_credentials_are_looked_at() {
    let w = World::new().await;
    for query in [
        "role=owner",
        "role=ADMIN",
        "scope=Not%20a%20scope",
        "scope=",
        "scope=-x",
    ] {
        let path = format!("/verify?{query}");
        let reply = verify(&w.app, Method::GET, &path, &Auth::None, &[]).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}: {reply:?}");
        let message = reply.assert_code("BAD_USER_INPUT");
        let named = query.split('=').next().unwrap_or_default();
        assert!(message.starts_with(named), "{query}: {message}");
    }
    // Parameters other than role and scope are the original request's own.
    let reply = verify(
        &w.app,
        Method::GET,
        "/verify?page=2&role",
        &w.member.auth(),
        &[],
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::BAD_REQUEST,
        "an empty role is malformed"
    );
    let reply = verify(
        &w.app,
        Method::GET,
        "/verify?page=2&q=x",
        &w.member.auth(),
        &[],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
}
