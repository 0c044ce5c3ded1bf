//! `rotateKey`: a new pair with the old key's name, description, role and
//! scopes; the old key working for the grace period, on every replica, and
//! refused from its end on; who may rotate, and what cannot be rotated.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::backend::on_every_backend;
use crate::helpers::*;

on_every_backend!(
    without_a_grace_period_the_old_key_stops_at_once_on_every_replica,
    with_a_grace_period_the_old_key_works_until_it_ends_then_is_refused_everywhere,
    a_member_key_rotates_itself_and_the_new_key_carries_its_role_and_scopes,
    rotation_is_refused_to_read_only_keys_and_for_keys_that_cannot_be_rotated,
);

const ROTATE: &str = "mutation($i: RotateKeyInput!) { rotateKey(input: $i) {
    secretKey
    apiKey { id accessKey name description role scopes state expiresAt project { id }
             rotatedFrom { id } rotatedTo { id } rotatedAt }
    previousKey { id state expiresAt rotatedTo { id } rotatedFrom { id } rotatedAt } } }";

const KEY: &str = "query($id: ID!) { node(id: $id) { ... on ApiKey { id state expiresAt
    rotatedFrom { id } rotatedTo { id } rotatedAt } } }";

/// Rotates `key` as `auth`, returning the payload and the new key.
async fn rotate(app: &TestApp, auth: &Auth, input: Value) -> (Value, TestKey) {
    let data = app.ok(ROTATE, json!({ "i": input }), auth).await;
    let payload = data["rotateKey"].clone();
    let new = TestKey {
        id: id_of(&payload["apiKey"]),
        access_key: payload["apiKey"]["accessKey"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        secret: payload["secretKey"].as_str().unwrap_or_default().to_owned(),
        project_id: id_of(&payload["apiKey"]["project"]),
    };
    (payload, new)
}

async fn without_a_grace_period_the_old_key_stops_at_once_on_every_replica() {
    let a = TestApp::spawn().await;
    let b = a.replica().await;
    a.enable_access_control().await;
    let admin = Auth::admin();
    let project = a.default_project(&admin).await;
    let old = a.create_key(&admin, &project, "OWNER").await;
    // Verified, and so remembered, on both replicas.
    for app in [&a, &b] {
        app.ok(VIEWER, json!({}), &old.auth()).await;
    }

    let (payload, new) = rotate(&a, &admin, json!({ "id": old.id })).await;
    assert_eq!(payload["previousKey"]["id"], json!(old.id));
    assert_eq!(payload["previousKey"]["state"], "EXPIRED");
    assert_eq!(payload["previousKey"]["rotatedTo"]["id"], json!(new.id));
    assert_eq!(payload["apiKey"]["rotatedFrom"]["id"], json!(old.id));
    assert_eq!(payload["apiKey"]["rotatedTo"], Value::Null);
    let rotated_at: DateTime<Utc> = payload["previousKey"]["rotatedAt"]
        .as_str()
        .and_then(|at| at.parse().ok())
        .expect("the old key's rotatedAt");
    assert!(
        (Utc::now() - rotated_at).num_seconds().abs() < 60,
        "{rotated_at}"
    );
    assert_eq!(payload["apiKey"]["rotatedAt"], Value::Null);
    assert_eq!(payload["apiKey"]["state"], "ACTIVE");
    assert_ne!(new.access_key, old.access_key);
    assert_ne!(new.secret, old.secret);

    for app in [&a, &b] {
        app.gql(VIEWER, json!({}), &old.auth())
            .await
            .assert_unauthenticated();
        let viewer = app.ok(VIEWER, json!({}), &new.auth()).await;
        assert_eq!(viewer["viewer"]["apiKey"]["id"], json!(new.id));
    }

    // One event, about the old key, naming the new one.
    let events = a
        .ok(
            "{ auditEvents(first: 5, action: KEY_ROTATED) { edges { node {
                outcome targetKeyId newKeyId actorKind } } } }",
            json!({}),
            &admin,
        )
        .await;
    let edges = events["auditEvents"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(edges.len(), 1, "{events}");
    let event = &edges[0]["node"];
    assert_eq!(event["outcome"], "SUCCEEDED");
    assert_eq!(event["targetKeyId"], json!(old.id));
    assert_eq!(event["newKeyId"], json!(new.id));
    assert_eq!(event["actorKind"], "ADMIN");
}

async fn with_a_grace_period_the_old_key_works_until_it_ends_then_is_refused_everywhere() {
    let a = TestApp::spawn().await;
    let b = a.replica().await;
    a.enable_access_control().await;
    let admin = Auth::admin();
    let project = a.default_project(&admin).await;
    let old = a.create_key(&admin, &project, "MEMBER").await;
    for app in [&a, &b] {
        app.ok(VIEWER, json!({}), &old.auth()).await;
    }

    let (payload, new) = rotate(&a, &admin, json!({ "id": old.id, "gracePeriodSeconds": 2 })).await;
    let grace_ends: DateTime<Utc> = payload["previousKey"]["expiresAt"]
        .as_str()
        .and_then(|at| at.parse().ok())
        .expect("the old key's expiresAt is the end of the grace period");
    assert_eq!(payload["previousKey"]["state"], "ACTIVE");
    let left = grace_ends - Utc::now();
    assert!(
        left > chrono::Duration::zero() && left <= chrono::Duration::seconds(2),
        "{grace_ends}"
    );

    // During the grace period both keys work on both replicas.
    for app in [&a, &b] {
        app.ok(VIEWER, json!({}), &old.auth()).await;
        app.ok(VIEWER, json!({}), &new.auth()).await;
    }
    // From its end on, the old key is refused everywhere, the new one not.
    let wait = (grace_ends - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(50)).await;
    for app in [&a, &b] {
        app.gql(VIEWER, json!({}), &old.auth())
            .await
            .assert_unauthenticated();
        app.ok(VIEWER, json!({}), &new.auth()).await;
    }
    let data = a.ok(KEY, json!({ "id": old.id }), &admin).await;
    assert_eq!(data["node"]["state"], "EXPIRED");
    assert_eq!(data["node"]["rotatedTo"]["id"], json!(new.id));

    // The grace period never outlives the key's own expiry.
    let soon = (Utc::now() + chrono::Duration::seconds(30)).to_rfc3339();
    let data = a
        .ok(
            CREATE_KEY,
            json!({ "i": { "projectId": project, "name": "short", "expiresAt": soon } }),
            &admin,
        )
        .await;
    let short = key_from(&data);
    let (payload, _) = rotate(
        &a,
        &admin,
        json!({ "id": short.id, "gracePeriodSeconds": 604800 }),
    )
    .await;
    let kept: DateTime<Utc> = payload["previousKey"]["expiresAt"]
        .as_str()
        .and_then(|at| at.parse().ok())
        .expect("expiresAt");
    let soon: DateTime<Utc> = soon.parse().expect("a date");
    assert!(
        (kept - soon).num_milliseconds().abs() < 1000,
        "{kept} vs {soon}"
    );
}

async fn a_member_key_rotates_itself_and_the_new_key_carries_its_role_and_scopes() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let project = app.default_project(&admin).await;
    let data = app
        .ok(
            CREATE_KEY
                .replace("project { id name }", "project { id name } scopes")
                .as_str(),
            json!({ "i": { "projectId": project, "name": "ci job", "description": "nightly",
                           "role": "MEMBER", "scopes": ["deploy", "read:logs"] } }),
            &admin,
        )
        .await;
    let old = key_from(&data);
    let in_a_day = (Utc::now() + chrono::Duration::days(1)).to_rfc3339();

    let (payload, new) = rotate(
        &app,
        &old.auth(),
        json!({ "id": old.id, "expiresAt": in_a_day, "gracePeriodSeconds": 3600 }),
    )
    .await;
    let key = &payload["apiKey"];
    assert_eq!(key["name"], "ci job");
    assert_eq!(key["description"], "nightly");
    assert_eq!(key["role"], "MEMBER");
    assert_eq!(key["scopes"], json!(["deploy", "read:logs"]));
    assert_eq!(new.project_id, project);
    let expires: DateTime<Utc> = key["expiresAt"]
        .as_str()
        .and_then(|at| at.parse().ok())
        .expect("expiresAt");
    let asked: DateTime<Utc> = in_a_day.parse().expect("a date");
    assert!((expires - asked).num_milliseconds().abs() < 1000);
    // Both work for the hour of grace.
    app.ok(VIEWER, json!({}), &old.auth()).await;
    app.ok(VIEWER, json!({}), &new.auth()).await;
    // The actor of the event is the key itself.
    let events = app
        .ok(
            "{ auditEvents(first: 1, action: KEY_ROTATED) { edges { node { actorKeyId targetKeyId } } } }",
            json!({}),
            &admin,
        )
        .await;
    let event = &events["auditEvents"]["edges"][0]["node"];
    assert_eq!(event["actorKeyId"], json!(old.id));
    assert_eq!(event["targetKeyId"], json!(old.id));
}

async fn rotation_is_refused_to_read_only_keys_and_for_keys_that_cannot_be_rotated() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let project = app.default_project(&admin).await;
    let other_project = app.create_project(&admin, "other").await;
    let read_only = app.create_key(&admin, &project, "READ_ONLY").await;
    let member = app.create_key(&admin, &project, "MEMBER").await;
    let owner = app.create_key(&admin, &project, "OWNER").await;
    let elsewhere = app.create_key(&admin, &other_project, "MEMBER").await;
    let inactive = app.create_key(&admin, &project, "MEMBER").await;
    app.ok(
        SET_STATE,
        json!({ "i": { "id": inactive.id, "state": "INACTIVE" } }),
        &admin,
    )
    .await;
    let rotated = app.create_key(&admin, &project, "MEMBER").await;
    rotate(
        &app,
        &admin,
        json!({ "id": rotated.id, "gracePeriodSeconds": 600 }),
    )
    .await;
    let expired = app.create_key(&admin, &project, "MEMBER").await;
    rotate(&app, &admin, json!({ "id": expired.id })).await;
    // Its successor deleted, a key in its grace period is still rotated.
    let orphaned = app.create_key(&admin, &project, "MEMBER").await;
    let (_, successor) = rotate(
        &app,
        &admin,
        json!({ "id": orphaned.id, "gracePeriodSeconds": 600 }),
    )
    .await;
    app.ok(
        SET_STATE,
        json!({ "i": { "id": successor.id, "state": "INACTIVE" } }),
        &admin,
    )
    .await;
    app.ok(DELETE_KEY, json!({ "i": { "id": successor.id } }), &admin)
        .await;
    // It says so: rotatedTo is null again, rotatedAt stays.
    let data = app.ok(KEY, json!({ "id": orphaned.id }), &admin).await;
    assert_eq!(data["node"]["state"], "ACTIVE");
    assert_eq!(data["node"]["rotatedTo"], Value::Null);
    assert!(data["node"]["rotatedAt"].is_string(), "{data}");

    let (read_only_auth, member_auth, owner_auth) = (read_only.auth(), member.auth(), owner.auth());
    let cases: Vec<(&str, &Auth, Value, &str)> = vec![
        (
            "a READ_ONLY key, itself",
            &read_only_auth,
            json!({ "id": read_only.id }),
            "FORBIDDEN",
        ),
        (
            "a READ_ONLY key, another key",
            &read_only_auth,
            json!({ "id": member.id }),
            "FORBIDDEN",
        ),
        (
            "a MEMBER key, an OWNER key",
            &member_auth,
            json!({ "id": owner.id }),
            "FORBIDDEN",
        ),
        (
            "a key of another project",
            &owner_auth,
            json!({ "id": elsewhere.id }),
            "NOT_FOUND",
        ),
        (
            "an INACTIVE key",
            &admin,
            json!({ "id": inactive.id }),
            "CONFLICT",
        ),
        (
            "a key rotated already, in its grace period",
            &admin,
            json!({ "id": rotated.id }),
            "CONFLICT",
        ),
        (
            "an EXPIRED key",
            &admin,
            json!({ "id": expired.id }),
            "CONFLICT",
        ),
        (
            "a key whose successor was deleted",
            &admin,
            json!({ "id": orphaned.id }),
            "CONFLICT",
        ),
        (
            "a negative grace period",
            &admin,
            json!({ "id": member.id, "gracePeriodSeconds": -1 }),
            "BAD_USER_INPUT",
        ),
        (
            "a grace period over seven days",
            &admin,
            json!({ "id": member.id, "gracePeriodSeconds": 604801 }),
            "BAD_USER_INPUT",
        ),
        (
            "an expiry in the past",
            &admin,
            json!({ "id": member.id, "expiresAt": "2020-01-01T00:00:00Z" }),
            "BAD_USER_INPUT",
        ),
        (
            "not a key id",
            &admin,
            json!({ "id": project }),
            "BAD_USER_INPUT",
        ),
    ];
    let count = "query($p: ID) { project(id: $p) { apiKeys(first: 100) { totalCount } } }";
    let before = app.ok(count, json!({ "p": project }), &admin).await;
    for (what, auth, input, code) in cases {
        let reply = app.gql(ROTATE, json!({ "i": input }), auth).await;
        assert_eq!(reply.codes(), vec![code.to_owned()], "{what}: {reply:?}");
    }
    // Nothing was created, and the refusals are in the trail.
    let after = app.ok(count, json!({ "p": project }), &admin).await;
    assert_eq!(before, after);
    let refusals = app
        .ok(
            "{ auditEvents(first: 20, action: KEY_ROTATED) { edges { node { outcome } } } }",
            json!({}),
            &admin,
        )
        .await;
    let outcomes: Vec<&str> = refusals["auditEvents"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|edge| edge["node"]["outcome"].as_str())
        .filter(|outcome| *outcome != "SUCCEEDED")
        .collect();
    assert_eq!(outcomes.len(), 8, "{outcomes:?}");
    // The MEMBER key still works: refusals change nothing.
    app.ok(VIEWER, json!({}), &member.auth()).await;
}
