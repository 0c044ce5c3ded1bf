//! KEY_EXPIRING: warnings at `--key-expiry-warnings` before a key expires,
//! once per key and threshold however many replicas sweep, and
//! `ApiKey.expiresSoon` within the first threshold.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};

use crate::backend::on_every_backend;
use crate::helpers::*;

on_every_backend!(
    each_threshold_warns_once_per_key_across_two_replicas,
    a_key_created_within_several_thresholds_is_warned_once_and_marked_expiring_soon,
    rotated_keys_in_their_grace_period_do_not_hold_back_other_keys_warnings,
);

async fn warnings_about(app: &TestApp, key: &TestKey) -> Vec<String> {
    let data = app
        .ok(
            "{ auditEvents(first: 100, action: KEY_EXPIRING) { edges { node {
                targetKeyId reason actorKind outcome } } } }",
            json!({}),
            &Auth::admin(),
        )
        .await;
    data["auditEvents"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|edge| &edge["node"])
        .filter(|node| node["targetKeyId"] == json!(key.id))
        .inspect(|node| {
            assert_eq!(node["actorKind"], "SYSTEM");
            assert_eq!(node["outcome"], "SUCCEEDED");
        })
        .filter_map(|node| node["reason"].as_str().map(str::to_owned))
        .collect()
}

async fn create_expiring_in(app: &TestApp, project: &str, seconds: i64) -> TestKey {
    let at = (Utc::now() + chrono::Duration::seconds(seconds)).to_rfc3339();
    let data = app
        .ok(
            CREATE_KEY,
            json!({ "i": { "projectId": project, "name": "expiring", "expiresAt": at } }),
            &Auth::admin(),
        )
        .await;
    key_from(&data)
}

async fn each_threshold_warns_once_per_key_across_two_replicas() {
    let warnings = |config: &mut keyward::Config| {
        config.key_expiry_warnings = "3s,2s".parse().expect("durations");
    };
    let a = TestApp::spawn_with(warnings).await;
    let b = a.replica_with(warnings).await;
    a.enable_access_control().await;
    let project = a.default_project(&Auth::admin()).await;
    let key = create_expiring_in(&a, &project, 5).await;
    let other = create_expiring_in(&b, &project, 60).await;

    // Nothing yet: the key is 5 s from its end.
    assert!(warnings_about(&a, &key).await.is_empty());
    // Past both thresholds and its expiry, each recorded once by one of the
    // two replicas.
    tokio::time::sleep(Duration::from_millis(5_800)).await;
    let mut reasons = warnings_about(&a, &key).await;
    reasons.sort();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].starts_with("expires within 2s (at "),
        "{reasons:?}"
    );
    assert!(
        reasons[1].starts_with("expires within 3s (at "),
        "{reasons:?}"
    );
    assert!(warnings_about(&a, &other).await.is_empty());

    // Later sweeps add nothing.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(warnings_about(&b, &key).await.len(), 2);
}

async fn a_key_created_within_several_thresholds_is_warned_once_and_marked_expiring_soon() {
    let app = TestApp::spawn_with(|config| {
        config.key_expiry_warnings = "2h,30m".parse().expect("durations");
    })
    .await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let soon = create_expiring_in(&app, &project, 600).await;
    let later = create_expiring_in(&app, &project, 3 * 3600).await;
    let never = app.create_key(&Auth::admin(), &project, "MEMBER").await;
    let rotated = create_expiring_in(&app, &project, 5 * 3600).await;
    app.ok(
        "mutation($i: RotateKeyInput!) { rotateKey(input: $i) { apiKey { id } } }",
        json!({ "i": { "id": rotated.id, "gracePeriodSeconds": 600 } }),
        &Auth::admin(),
    )
    .await;

    let mut reasons = Vec::new();
    for _ in 0..40 {
        reasons = warnings_about(&app, &soon).await;
        if !reasons.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // One event, for the smallest threshold it is within.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let reasons_now = warnings_about(&app, &soon).await;
    assert_eq!(reasons_now, reasons);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].starts_with("expires within 30m"), "{reasons:?}");
    for key in [&later, &never, &rotated] {
        assert!(warnings_about(&app, key).await.is_empty(), "{}", key.id);
    }

    let query = "query($id: ID!) { node(id: $id) { ... on ApiKey { expiresSoon } } }";
    for (key, expected) in [(&soon, true), (&later, false), (&never, false)] {
        let data = app.ok(query, json!({ "id": key.id }), &Auth::admin()).await;
        assert_eq!(
            data["node"]["expiresSoon"],
            Value::Bool(expected),
            "{}",
            key.id
        );
    }
}

/// Rotated keys are never warned; more of them inside a threshold than one
/// sweep takes (100), all expiring before an ordinary key, must not keep the
/// sweep from reaching it.
async fn rotated_keys_in_their_grace_period_do_not_hold_back_other_keys_warnings() {
    let app = TestApp::spawn_with(|config| {
        config.key_expiry_warnings = "1h".parse().expect("durations");
    })
    .await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    // Each rotated with a 10-minute grace period: ACTIVE, expiring within
    // the hour, and before the ordinary key.
    let mut rotated = Vec::new();
    for _ in 0..105 {
        let key = app.create_key(&Auth::admin(), &project, "MEMBER").await;
        app.ok(
            "mutation($i: RotateKeyInput!) { rotateKey(input: $i) { apiKey { id } } }",
            json!({ "i": { "id": key.id, "gracePeriodSeconds": 600 } }),
            &Auth::admin(),
        )
        .await;
        rotated.push(key);
    }
    let ordinary = create_expiring_in(&app, &project, 1800).await;

    let mut reasons = Vec::new();
    for _ in 0..50 {
        reasons = warnings_about(&app, &ordinary).await;
        if !reasons.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].starts_with("expires within 1h"), "{reasons:?}");
    let data = app
        .ok(
            "{ auditEvents(first: 100, action: KEY_EXPIRING) { edges { node { targetKeyId } } } }",
            json!({}),
            &Auth::admin(),
        )
        .await;
    let warned: Vec<&Value> = data["auditEvents"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|edge| &edge["node"]["targetKeyId"])
        .collect();
    assert_eq!(warned, vec![&json!(ordinary.id)], "only the ordinary key");
    assert_eq!(rotated.len(), 105);
}
