use serde_json::json;

use crate::backend::on_every_backend;
use crate::helpers::*;

on_every_backend!(
    a_project_endpoint_scopes_project_and_create_api_key_to_its_project,
    a_key_is_refused_on_another_projects_endpoint_with_403,
    unknown_or_malformed_project_ids_get_404_but_only_after_authentication,
    endpoints_are_absolute_urls_from_the_host_or_the_public_url,
);

fn endpoint_path(project_id: &str) -> String {
    format!("/projects/{project_id}/graphql")
}

async fn a_project_endpoint_scopes_project_and_create_api_key_to_its_project() {
    let app = TestApp::spawn().await;
    let other = app.create_project(&Auth::None, "other").await;
    let path = endpoint_path(&other);

    let data = app
        .post(
            &path,
            "{ project { id name } viewer { kind project { id } } }",
            json!({}),
            &Auth::None,
        )
        .await;
    assert_eq!(data.data()["project"]["id"], json!(other));
    assert_eq!(data.data()["viewer"]["project"]["id"], json!(other));

    let reply = app
        .post(
            &path,
            CREATE_KEY,
            json!({ "i": { "name": "scoped" } }),
            &Auth::None,
        )
        .await;
    assert_eq!(
        reply.data()["createApiKey"]["apiKey"]["project"]["id"],
        json!(other)
    );

    // On the root endpoint there is no project to imply.
    let data = app.ok("{ project { id } }", json!({}), &Auth::None).await;
    assert_eq!(data["project"], json!(null));
    let reply = app
        .gql(
            CREATE_KEY,
            json!({ "i": { "name": "where?" } }),
            &Auth::None,
        )
        .await;
    let message = reply.assert_code("BAD_USER_INPUT");
    assert!(message.contains("projectId"), "{message}");
}

async fn a_key_is_refused_on_another_projects_endpoint_with_403() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let home = app.default_project(&admin).await;
    let other = app.create_project(&admin, "other").await;
    let key = app.create_key(&admin, &home, "OWNER").await;

    let reply = app
        .post(&endpoint_path(&other), VIEWER, json!({}), &key.auth())
        .await;
    assert_eq!(reply.status, 403);
    reply.assert_code("FORBIDDEN");

    // Its own project's endpoint works, and the key's default project is its own.
    let reply = app
        .post(
            &endpoint_path(&home),
            "{ project { id } }",
            json!({}),
            &key.auth(),
        )
        .await;
    assert_eq!(reply.data()["project"]["id"], json!(home));
    let data = app.ok("{ project { id } }", json!({}), &key.auth()).await;
    assert_eq!(data["project"]["id"], json!(home));
    let data = app
        .ok(
            CREATE_KEY,
            json!({ "i": { "name": "sibling" } }),
            &key.auth(),
        )
        .await;
    assert_eq!(data["createApiKey"]["apiKey"]["project"]["id"], json!(home));
}

async fn unknown_or_malformed_project_ids_get_404_but_only_after_authentication() {
    let app = TestApp::spawn().await;
    let project = app.create_project(&Auth::None, "doomed").await;
    app.ok(
        DELETE_PROJECT,
        json!({ "i": { "id": project } }),
        &Auth::None,
    )
    .await;
    let key = app
        .create_key(
            &Auth::None,
            &app.default_project(&Auth::None).await,
            "OWNER",
        )
        .await;

    for path in [
        endpoint_path(&project),
        endpoint_path("not-an-id"),
        endpoint_path(&key.id),
    ] {
        let reply = app.post(&path, VIEWER, json!({}), &Auth::None).await;
        assert_eq!(reply.status, 404, "{path}: {reply:?}");
        reply.assert_code("NOT_FOUND");
    }

    app.enable_access_control().await;
    let reply = app
        .post(&endpoint_path(&project), VIEWER, json!({}), &Auth::None)
        .await;
    reply.assert_unauthenticated();
}

async fn endpoints_are_absolute_urls_from_the_host_or_the_public_url() {
    let app = TestApp::spawn().await;
    let data = app
        .ok(
            "{ projects { edges { node { id endpoint } } } }",
            json!({}),
            &Auth::None,
        )
        .await;
    let node = &data["projects"]["edges"][0]["node"];
    let expected = format!("http://{}/projects/{}/graphql", app.addr, id_of(node));
    assert_eq!(node["endpoint"], json!(expected));

    // The endpoint it names is one that answers.
    let reply = app
        .post(
            &endpoint_path(&id_of(node)),
            "{ project { id } }",
            json!({}),
            &Auth::None,
        )
        .await;
    assert_eq!(reply.data()["project"]["id"], node["id"]);

    let app = TestApp::spawn_with(|config| {
        config.public_url = Some("https://keys.example.com/keyward".into());
    })
    .await;
    let data = app
        .ok(
            "{ project: projects { edges { node { id endpoint } } } }",
            json!({}),
            &Auth::None,
        )
        .await;
    let node = &data["project"]["edges"][0]["node"];
    assert_eq!(
        node["endpoint"],
        json!(format!(
            "https://keys.example.com/keyward/projects/{}/graphql",
            id_of(node)
        ))
    );
}
