//! Keys that expire by themselves, and failed authentications counted on the
//! key.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::json;

use crate::backend::on_every_backend;
use crate::helpers::*;

on_every_backend!(
    a_key_expiring_two_seconds_after_creation_is_accepted_before_and_refused_after,
    expiry_must_be_in_the_future_and_within_the_maximum_lifetime,
    keys_list_and_count_by_reported_state,
    wrong_secrets_are_counted_on_the_key,
);

const KEY_STATE: &str = "query($id: ID!) { node(id: $id) { ... on ApiKey { state expiresAt failedAuthCount lastFailedAuthAt } } }";

fn in_seconds(seconds: i64) -> String {
    (Utc::now() + chrono::Duration::seconds(seconds)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

async fn create_expiring(app: &TestApp, auth: &Auth, project: &str, expires_at: &str) -> TestKey {
    let data = app
        .ok(
            CREATE_KEY,
            json!({ "i": { "projectId": project, "name": "short-lived", "expiresAt": expires_at } }),
            auth,
        )
        .await;
    key_from(&data)
}

async fn a_key_expiring_two_seconds_after_creation_is_accepted_before_and_refused_after() {
    let a = TestApp::spawn().await;
    let b = a.replica().await;
    a.enable_access_control().await;
    let project = a.default_project(&Auth::admin()).await;
    let expires_at = Utc::now() + chrono::Duration::seconds(2);
    let key = create_expiring(&a, &Auth::admin(), &project, &expires_at.to_rfc3339()).await;

    // Before: accepted on both replicas (and cached there).
    for app in [&a, &b] {
        app.ok(VIEWER, json!({}), &key.auth()).await;
    }
    let data = a
        .ok(KEY_STATE, json!({ "id": key.id }), &Auth::admin())
        .await;
    assert_eq!(data["node"]["state"], "ACTIVE");

    // After: refused on both, cache or not, with nothing else changing.
    let wait = (expires_at - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(50)).await;
    for app in [&a, &b] {
        app.gql(VIEWER, json!({}), &key.auth())
            .await
            .assert_unauthenticated();
    }
    let data = a
        .ok(KEY_STATE, json!({ "id": key.id }), &Auth::admin())
        .await;
    assert_eq!(data["node"]["state"], "EXPIRED");

    // It cannot come back; it can go without being deactivated first.
    a.gql(
        SET_STATE,
        json!({ "i": { "id": key.id, "state": "ACTIVE" } }),
        &Auth::admin(),
    )
    .await
    .assert_code("CONFLICT");
    a.gql(VIEWER, json!({}), &key.auth())
        .await
        .assert_unauthenticated();
    let data = a
        .ok(DELETE_KEY, json!({ "i": { "id": key.id } }), &Auth::admin())
        .await;
    assert_eq!(data["deleteKey"]["deletedKeyId"], json!(key.id));
}

async fn expiry_must_be_in_the_future_and_within_the_maximum_lifetime() {
    let app = TestApp::spawn_with(|config| config.max_key_lifetime_days = Some(1)).await;
    let project = app.default_project(&Auth::None).await;
    for (expires_at, what) in [
        (in_seconds(-1), "in the past"),
        (in_seconds(2 * 86_400), "past the maximum"),
    ] {
        let reply = app
            .gql(
                CREATE_KEY,
                json!({ "i": { "projectId": project, "name": "k", "expiresAt": expires_at } }),
                &Auth::None,
            )
            .await;
        let message = reply.assert_code("BAD_USER_INPUT");
        assert!(message.contains("expiresAt"), "{what}: {message}");
    }
    app.gql(
        CREATE_KEY,
        json!({ "i": { "projectId": project, "name": "k", "expiresAt": "tomorrow" } }),
        &Auth::None,
    )
    .await
    .assert_code("BAD_USER_INPUT");
    app.gql(
        SET_STATE,
        json!({ "i": { "id": "QXBpS2V5OjE", "state": "EXPIRED" } }),
        &Auth::None,
    )
    .await
    .assert_code("BAD_USER_INPUT");

    // Without expiresAt, a key gets the maximum lifetime.
    let key = app.create_key(&Auth::None, &project, "OWNER").await;
    let data = app
        .ok(KEY_STATE, json!({ "id": key.id }), &Auth::None)
        .await;
    let expires_at = chrono::DateTime::parse_from_rfc3339(
        data["node"]["expiresAt"].as_str().expect("expiresAt"),
    )
    .expect("RFC 3339");
    let lifetime = expires_at.with_timezone(&Utc) - Utc::now();
    assert!(
        lifetime > chrono::Duration::hours(23) && lifetime <= chrono::Duration::days(1),
        "{lifetime}"
    );
}

async fn keys_list_and_count_by_reported_state() {
    let app = TestApp::spawn().await;
    let project = app.default_project(&Auth::None).await;
    let expiring = create_expiring(&app, &Auth::None, &project, &in_seconds(1)).await;
    let active = app.create_key(&Auth::None, &project, "OWNER").await;
    let inactive = app.create_key(&Auth::None, &project, "OWNER").await;
    app.ok(
        SET_STATE,
        json!({ "i": { "id": inactive.id, "state": "INACTIVE" } }),
        &Auth::None,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    let query = "query($p: ID!, $s: KeyState) { project(id: $p) {
        apiKeys(state: $s) { totalCount edges { node { id state } } } } }";
    for (state, expected) in [
        ("ACTIVE", &active),
        ("INACTIVE", &inactive),
        ("EXPIRED", &expiring),
    ] {
        let data = app
            .ok(query, json!({ "p": project, "s": state }), &Auth::None)
            .await;
        let keys = &data["project"]["apiKeys"];
        assert_eq!(keys["totalCount"], 1, "{state}: {keys}");
        assert_eq!(
            keys["edges"][0]["node"]["id"],
            json!(expected.id),
            "{state}"
        );
        assert_eq!(keys["edges"][0]["node"]["state"], state);
    }
    let data = app.ok(query, json!({ "p": project }), &Auth::None).await;
    assert_eq!(data["project"]["apiKeys"]["totalCount"], 3);
}

async fn wrong_secrets_are_counted_on_the_key() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let key = app.create_key(&Auth::admin(), &project, "OWNER").await;
    let data = app
        .ok(KEY_STATE, json!({ "id": key.id }), &Auth::admin())
        .await;
    assert_eq!(data["node"]["failedAuthCount"], 0);
    assert_eq!(data["node"]["lastFailedAuthAt"], json!(null));
    for n in 0..2 {
        app.gql(
            VIEWER,
            json!({}),
            &Auth::basic(&key.access_key, &format!("{n:0>40}")),
        )
        .await
        .assert_unauthenticated();
    }
    let data = app
        .ok(KEY_STATE, json!({ "id": key.id }), &Auth::admin())
        .await;
    assert_eq!(data["node"]["failedAuthCount"], 2);
    assert!(data["node"]["lastFailedAuthAt"].is_string());
}
