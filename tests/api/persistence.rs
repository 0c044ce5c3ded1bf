use serde_json::json;

use crate::backend::on_every_backend;
use crate::helpers::*;

on_every_backend!(keys_states_and_access_control_survive_a_restart,);

async fn keys_states_and_access_control_survive_a_restart() {
    let mut app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let project = app.create_project(&admin, "payments").await;
    let active = app.create_key(&admin, &project, "MEMBER").await;
    let inactive = app.create_key(&admin, &project, "READ_ONLY").await;
    app.ok(
        SET_STATE,
        json!({ "i": { "id": inactive.id, "state": "INACTIVE" } }),
        &admin,
    )
    .await;

    app.restart().await;

    // Access control is still on, with the same administrator.
    app.gql(VIEWER, json!({}), &Auth::None)
        .await
        .assert_unauthenticated();
    app.ok(VIEWER, json!({}), &admin).await;
    // The active key's secret still works, with its role and project.
    let viewer = app.ok(VIEWER, json!({}), &active.auth()).await;
    assert_eq!(viewer["viewer"]["role"], "MEMBER");
    assert_eq!(viewer["viewer"]["project"]["name"], "payments");
    // The inactive key is still inactive, and can still be activated.
    app.gql(VIEWER, json!({}), &inactive.auth())
        .await
        .assert_unauthenticated();
    app.ok(
        SET_STATE,
        json!({ "i": { "id": inactive.id, "state": "ACTIVE" } }),
        &admin,
    )
    .await;
    app.ok(VIEWER, json!({}), &inactive.auth()).await;
    // Ids are stable across restarts.
    let data = app
        .ok(
            "query($id: ID!) { node(id: $id) { id ... on ApiKey { name } } }",
            json!({ "id": active.id }),
            &admin,
        )
        .await;
    assert_eq!(data["node"]["id"], json!(active.id));
}
