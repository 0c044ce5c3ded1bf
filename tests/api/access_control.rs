use serde_json::json;

use crate::backend::on_every_backend;
use crate::helpers::*;

on_every_backend!(
    a_fresh_server_is_open_with_one_default_project,
    enabling_access_control_requires_credentials_on_every_request,
    disabling_access_control_opens_the_server_again_and_is_idempotent,
    unknown_keys_wrong_secrets_and_inactive_keys_are_refused_alike,
    a_browser_is_prompted_for_credentials_then_gets_graphiql,
    weak_or_malformed_administrator_credentials_are_refused,
);

const ENABLE: &str =
    "mutation($i: EnableAccessControlInput!) { enableAccessControl(input: $i) { enabled } }";

async fn a_fresh_server_is_open_with_one_default_project() {
    let app = TestApp::spawn().await;
    // Credentials or not, everyone is anonymous with full access.
    for auth in [Auth::None, Auth::basic("nobody", "nothing-at-all")] {
        let data = app
            .ok(
                "{ accessControl { enabled } viewer { kind role apiKey { id } }
                   projects { totalCount edges { node { name } } } }",
                json!({}),
                &auth,
            )
            .await;
        assert_eq!(data["accessControl"]["enabled"], false);
        assert_eq!(data["viewer"]["kind"], "ANONYMOUS");
        assert_eq!(data["viewer"]["role"], json!(null));
        assert_eq!(data["projects"]["totalCount"], 1);
        assert_eq!(data["projects"]["edges"][0]["node"]["name"], "Default");
    }
}

async fn enabling_access_control_requires_credentials_on_every_request() {
    let app = TestApp::spawn().await;
    let project = app.default_project(&Auth::None).await;
    let key = app.create_key(&Auth::None, &project, "OWNER").await;
    app.enable_access_control().await;

    app.gql(VIEWER, json!({}), &Auth::None)
        .await
        .assert_unauthenticated();
    app.gql(VIEWER, json!({}), &Auth::basic(ADMIN.0, "wrong password!"))
        .await
        .assert_unauthenticated();
    let admin = app.ok(VIEWER, json!({}), &Auth::admin()).await;
    assert_eq!(admin["viewer"]["kind"], "ADMIN");
    // Keys made while access control was off work once it is on.
    let viewer = app.ok(VIEWER, json!({}), &key.auth()).await;
    assert_eq!(viewer["viewer"]["kind"], "API_KEY");

    let reply = app
        .gql(
            ENABLE,
            json!({ "i": { "username": "x", "password": "yyyyyyyyyyyy" } }),
            &Auth::admin(),
        )
        .await;
    reply.assert_code("CONFLICT");
    // The CONFLICT did not replace the administrator.
    app.ok(VIEWER, json!({}), &Auth::admin()).await;
    app.gql(VIEWER, json!({}), &Auth::basic("x", "yyyyyyyyyyyy"))
        .await
        .assert_unauthenticated();
}

async fn disabling_access_control_opens_the_server_again_and_is_idempotent() {
    let app = TestApp::spawn().await;
    // Off already: a no-op that succeeds.
    let data = app
        .ok(
            "mutation { disableAccessControl { enabled } }",
            json!({}),
            &Auth::None,
        )
        .await;
    assert_eq!(data["disableAccessControl"]["enabled"], false);

    app.enable_access_control().await;
    let data = app
        .ok(
            "mutation { disableAccessControl { enabled } }",
            json!({}),
            &Auth::admin(),
        )
        .await;
    assert_eq!(data["disableAccessControl"]["enabled"], false);
    let data = app.ok(VIEWER, json!({}), &Auth::None).await;
    assert_eq!(data["viewer"]["kind"], "ANONYMOUS");

    // It can be enabled again, with a new administrator.
    app.ok(
        ENABLE,
        json!({ "i": { "username": "root", "password": "another long password" } }),
        &Auth::None,
    )
    .await;
    let data = app
        .ok(
            VIEWER,
            json!({}),
            &Auth::basic("root", "another long password"),
        )
        .await;
    assert_eq!(data["viewer"]["kind"], "ADMIN");
    // People are kept while access control is off: the first administrator
    // is still one.
    let data = app.ok(VIEWER, json!({}), &Auth::admin()).await;
    assert_eq!(data["viewer"]["kind"], "ADMIN");
}

async fn unknown_keys_wrong_secrets_and_inactive_keys_are_refused_alike() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let key = app.create_key(&Auth::admin(), &project, "OWNER").await;
    let inactive = app.create_key(&Auth::admin(), &project, "OWNER").await;
    app.ok(
        SET_STATE,
        json!({ "i": { "id": inactive.id, "state": "INACTIVE" } }),
        &Auth::admin(),
    )
    .await;

    let attempts = [
        Auth::basic("AAAAAAAAAAAAAAAAAAAA", &key.secret),
        Auth::basic(&key.access_key, "0123456789012345678901234567890123456789"),
        inactive.auth(),
    ];
    let mut bodies = Vec::new();
    for auth in attempts {
        let reply = app.gql(VIEWER, json!({}), &auth).await;
        reply.assert_unauthenticated();
        bodies.push(reply.body);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "bodies differ: {bodies:?}"
    );
}

async fn a_browser_is_prompted_for_credentials_then_gets_graphiql() {
    let app = TestApp::spawn().await;
    let browser = |auth: &Auth| {
        with_auth(
            app.client
                .get(app.url("/graphql"))
                .header("Accept", "text/html,application/xhtml+xml"),
            auth,
        )
    };
    let open = send(browser(&Auth::None)).await;
    assert_eq!(open.status, 200);
    assert!(
        open.body["_raw"]
            .as_str()
            .unwrap_or_default()
            .contains("graphiql")
    );

    app.enable_access_control().await;
    let prompted = send(browser(&Auth::None)).await;
    prompted.assert_unauthenticated();
    let signed_in = send(browser(&Auth::admin())).await;
    assert_eq!(signed_in.status, 200);
}

async fn weak_or_malformed_administrator_credentials_are_refused() {
    let app = TestApp::spawn().await;
    for (username, password, field) in [
        ("admin", "short", "input.password"),
        ("", "correct horse battery staple", "input.username"),
        ("ad:min", "correct horse battery staple", "input.username"),
    ] {
        let reply = app
            .gql(
                ENABLE,
                json!({ "i": { "username": username, "password": password } }),
                &Auth::None,
            )
            .await;
        let message = reply.assert_code("BAD_USER_INPUT");
        assert!(message.contains(field), "{message}");
    }
    let data = app
        .ok("{ accessControl { enabled } }", json!({}), &Auth::None)
        .await;
    assert_eq!(
        data["accessControl"]["enabled"], false,
        "nothing was enabled"
    );
}
