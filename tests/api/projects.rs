use serde_json::json;

use crate::backend::on_every_backend;
use crate::helpers::*;

on_every_backend!(
    projects_are_created_renamed_listed_and_deleted,
    deleting_a_project_stops_its_keys_at_once,
    project_names_are_unique,
);

async fn projects_are_created_renamed_listed_and_deleted() {
    let app = TestApp::spawn().await;
    let data = app
        .ok(
            CREATE_PROJECT,
            json!({ "i": { "name": "payments", "description": "card flows" } }),
            &Auth::None,
        )
        .await;
    let project = id_of(&data["createProject"]["project"]);
    assert_eq!(
        data["createProject"]["project"]["description"],
        "card flows"
    );

    let data = app
        .ok(
            UPDATE_PROJECT,
            json!({ "i": { "id": project, "name": "billing" } }),
            &Auth::None,
        )
        .await;
    assert_eq!(data["updateProject"]["project"]["name"], "billing");
    assert_eq!(
        data["updateProject"]["project"]["description"],
        "card flows"
    );
    let data = app
        .ok(
            UPDATE_PROJECT,
            json!({ "i": { "id": project, "description": null } }),
            &Auth::None,
        )
        .await;
    assert_eq!(data["updateProject"]["project"]["description"], json!(null));

    let data = app
        .ok(
            "{ projects { totalCount edges { node { name } } } }",
            json!({}),
            &Auth::None,
        )
        .await;
    assert_eq!(data["projects"]["totalCount"], 2);
    assert_eq!(data["projects"]["edges"][1]["node"]["name"], "billing");

    let data = app
        .ok(
            DELETE_PROJECT,
            json!({ "i": { "id": project } }),
            &Auth::None,
        )
        .await;
    assert_eq!(data["deleteProject"]["deletedProjectId"], json!(project));
    let data = app
        .ok(
            "query($id: ID!) { project(id: $id) { id } }",
            json!({ "id": project }),
            &Auth::None,
        )
        .await;
    assert_eq!(data["project"], json!(null));
    app.gql(
        DELETE_PROJECT,
        json!({ "i": { "id": project } }),
        &Auth::None,
    )
    .await
    .assert_code("NOT_FOUND");
}

async fn deleting_a_project_stops_its_keys_at_once() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let project = app.create_project(&Auth::admin(), "short-lived").await;
    let key = app.create_key(&Auth::admin(), &project, "OWNER").await;
    app.ok(VIEWER, json!({}), &key.auth()).await;

    app.ok(
        DELETE_PROJECT,
        json!({ "i": { "id": project } }),
        &Auth::admin(),
    )
    .await;
    app.gql(VIEWER, json!({}), &key.auth())
        .await
        .assert_unauthenticated();
    let data = app
        .ok(
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": key.id }),
            &Auth::admin(),
        )
        .await;
    assert_eq!(data["node"], json!(null), "its keys went with it");
}

async fn project_names_are_unique() {
    let app = TestApp::spawn().await;
    let reply = app
        .gql(
            CREATE_PROJECT,
            json!({ "i": { "name": "Default" } }),
            &Auth::None,
        )
        .await;
    reply.assert_code("CONFLICT");
    let other = app.create_project(&Auth::None, "other").await;
    app.gql(
        UPDATE_PROJECT,
        json!({ "i": { "id": other, "name": " Default " } }),
        &Auth::None,
    )
    .await
    .assert_code("CONFLICT");
    let data = app
        .ok("{ projects { totalCount } }", json!({}), &Auth::None)
        .await;
    assert_eq!(data["projects"]["totalCount"], 2);
}
