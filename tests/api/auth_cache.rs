//! Verified credentials are cached (see `src/auth/cache.rs`); these tests pin
//! down that the cache never outlives a revocation, on this server or on
//! another replica of the same database.

use serde_json::json;

use crate::backend::on_every_backend;
use crate::helpers::*;

on_every_backend!(
    a_cached_key_is_refused_on_the_request_right_after_each_revocation,
    a_cached_key_of_a_deleted_project_is_refused_at_once,
    a_cached_admin_is_forgotten_when_access_control_is_turned_off_and_on,
    a_wrong_secret_is_refused_even_while_the_right_one_is_cached,
    revocations_through_one_replica_reach_the_cache_of_another,
);

const ENABLE: &str =
    "mutation($i: EnableAccessControlInput!) { enableAccessControl(input: $i) { enabled } }";

/// Warms the cache with a few successful requests.
async fn use_key(app: &TestApp, key: &TestKey) {
    for _ in 0..3 {
        let data = app.ok(VIEWER, json!({}), &key.auth()).await;
        assert_eq!(data["viewer"]["apiKey"]["id"], json!(key.id));
    }
}

async fn a_cached_key_is_refused_on_the_request_right_after_each_revocation() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let key = app.create_key(&Auth::admin(), &project, "OWNER").await;

    for round in 0..3 {
        use_key(&app, &key).await;
        app.ok(
            SET_STATE,
            json!({ "i": { "id": key.id, "state": "INACTIVE" } }),
            &Auth::admin(),
        )
        .await;
        let reply = app.gql(VIEWER, json!({}), &key.auth()).await;
        assert_eq!(reply.status, 401, "round {round}: {reply:?}");
        app.ok(
            SET_STATE,
            json!({ "i": { "id": key.id, "state": "ACTIVE" } }),
            &Auth::admin(),
        )
        .await;
    }
    use_key(&app, &key).await;

    // A key can deactivate itself; its very next request is refused.
    app.ok(
        SET_STATE,
        json!({ "i": { "id": key.id, "state": "INACTIVE" } }),
        &key.auth(),
    )
    .await;
    app.gql(VIEWER, json!({}), &key.auth())
        .await
        .assert_unauthenticated();
    app.ok(DELETE_KEY, json!({ "i": { "id": key.id } }), &Auth::admin())
        .await;
    app.gql(VIEWER, json!({}), &key.auth())
        .await
        .assert_unauthenticated();
}

async fn a_cached_key_of_a_deleted_project_is_refused_at_once() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let project = app.create_project(&Auth::admin(), "doomed").await;
    let key = app.create_key(&Auth::admin(), &project, "READ_ONLY").await;
    use_key(&app, &key).await;
    app.ok(
        DELETE_PROJECT,
        json!({ "i": { "id": project } }),
        &Auth::admin(),
    )
    .await;
    app.gql(VIEWER, json!({}), &key.auth())
        .await
        .assert_unauthenticated();
}

async fn a_cached_admin_is_forgotten_when_access_control_is_turned_off_and_on() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    for _ in 0..3 {
        app.ok(VIEWER, json!({}), &Auth::admin()).await;
    }
    app.ok(
        "mutation { disableAccessControl { enabled } }",
        json!({}),
        &Auth::admin(),
    )
    .await;
    app.ok(
        ENABLE,
        json!({ "i": { "username": ADMIN.0, "password": "a different password" } }),
        &Auth::None,
    )
    .await;
    app.gql(VIEWER, json!({}), &Auth::admin())
        .await
        .assert_unauthenticated();
    let data = app
        .ok(
            VIEWER,
            json!({}),
            &Auth::basic(ADMIN.0, "a different password"),
        )
        .await;
    assert_eq!(data["viewer"]["kind"], "ADMIN");
}

async fn a_wrong_secret_is_refused_even_while_the_right_one_is_cached() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let key = app.create_key(&Auth::admin(), &project, "MEMBER").await;
    use_key(&app, &key).await;
    let mut wrong = key.secret.clone();
    wrong.replace_range(0..1, if wrong.starts_with('a') { "b" } else { "a" });
    app.gql(VIEWER, json!({}), &Auth::basic(&key.access_key, &wrong))
        .await
        .assert_unauthenticated();
    // The failure did not evict the right secret, nor was it remembered.
    use_key(&app, &key).await;
    app.gql(VIEWER, json!({}), &Auth::basic(&key.access_key, &wrong))
        .await
        .assert_unauthenticated();
}

async fn revocations_through_one_replica_reach_the_cache_of_another() {
    let a = TestApp::spawn().await;
    let b = a.replica().await;
    a.enable_access_control().await;
    let project = a.create_project(&Auth::admin(), "shared").await;
    let key = a.create_key(&Auth::admin(), &project, "OWNER").await;
    let other = a.create_key(&Auth::admin(), &project, "OWNER").await;
    use_key(&a, &key).await;
    use_key(&b, &key).await;
    use_key(&b, &other).await;

    b.ok(
        SET_STATE,
        json!({ "i": { "id": key.id, "state": "INACTIVE" } }),
        &Auth::admin(),
    )
    .await;
    a.gql(VIEWER, json!({}), &key.auth())
        .await
        .assert_unauthenticated();

    // Unrelated revocations do not disturb other cached keys.
    use_key(&a, &other).await;

    a.ok(
        DELETE_PROJECT,
        json!({ "i": { "id": project } }),
        &Auth::admin(),
    )
    .await;
    b.gql(VIEWER, json!({}), &other.auth())
        .await
        .assert_unauthenticated();

    a.ok(
        "mutation { disableAccessControl { enabled } }",
        json!({}),
        &Auth::admin(),
    )
    .await;
    let data = b.ok(VIEWER, json!({}), &Auth::None).await;
    assert_eq!(data["viewer"]["kind"], "ANONYMOUS");
}
