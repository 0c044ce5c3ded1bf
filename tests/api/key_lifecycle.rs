use std::time::Duration;

use serde_json::json;

use crate::backend::on_every_backend;
use crate::helpers::*;

on_every_backend!(
    a_key_is_created_used_deactivated_activated_and_deleted,
    the_secret_key_is_returned_once_and_never_again,
    renaming_changes_only_name_and_description,
    keys_cannot_be_given_a_new_access_or_secret_key,
    last_used_at_appears_within_seconds_of_first_use,
    a_projects_keys_page_through_with_cursors_and_filter_by_state,
);

async fn a_key_is_created_used_deactivated_activated_and_deleted() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let project = app.default_project(&admin).await;

    let data = app
        .ok(
            CREATE_KEY,
            json!({ "i": { "projectId": project, "name": "ci deploy", "description": "pipeline" } }),
            &admin,
        )
        .await;
    let created = &data["createApiKey"]["apiKey"];
    assert_eq!(created["state"], "ACTIVE");
    assert_eq!(created["role"], "OWNER", "OWNER is the default role");
    assert_eq!(created["name"], "ci deploy");
    assert_eq!(created["description"], "pipeline");
    assert_eq!(created["lastUsedAt"], json!(null));
    let key = key_from(&data);
    assert_eq!(key.project_id, project);
    assert_eq!(key.access_key.len(), 20);
    assert!(
        key.access_key
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    );
    assert_eq!(key.secret.len(), 40);
    assert!(key.secret.bytes().all(|b| b.is_ascii_alphanumeric()));

    // The key authenticates, as itself, in its project.
    let viewer = app.ok(VIEWER, json!({}), &key.auth()).await;
    assert_eq!(viewer["viewer"]["kind"], "API_KEY");
    assert_eq!(viewer["viewer"]["role"], "OWNER");
    assert_eq!(viewer["viewer"]["apiKey"]["id"], json!(key.id));
    assert_eq!(viewer["viewer"]["project"]["id"], json!(project));

    // An active key cannot be deleted; it keeps working.
    let reply = app
        .gql(DELETE_KEY, json!({ "i": { "id": key.id } }), &admin)
        .await;
    reply.assert_code("CONFLICT");
    app.ok(VIEWER, json!({}), &key.auth()).await;

    // Deactivated: refused from the very next request.
    let data = app
        .ok(
            SET_STATE,
            json!({ "i": { "id": key.id, "state": "INACTIVE" } }),
            &admin,
        )
        .await;
    assert_eq!(data["setKeyState"]["apiKey"]["state"], "INACTIVE");
    app.gql(VIEWER, json!({}), &key.auth())
        .await
        .assert_unauthenticated();

    // Setting the same state again is a no-op that succeeds and changes nothing.
    let again = app
        .ok(
            SET_STATE,
            json!({ "i": { "id": key.id, "state": "INACTIVE" } }),
            &admin,
        )
        .await;
    assert_eq!(
        again["setKeyState"]["apiKey"]["updatedAt"],
        data["setKeyState"]["apiKey"]["updatedAt"]
    );

    // Activated: the same credentials work again.
    app.ok(
        SET_STATE,
        json!({ "i": { "id": key.id, "state": "ACTIVE" } }),
        &admin,
    )
    .await;
    app.ok(VIEWER, json!({}), &key.auth()).await;

    // Deactivated and deleted: gone, through every door.
    app.ok(
        SET_STATE,
        json!({ "i": { "id": key.id, "state": "INACTIVE" } }),
        &admin,
    )
    .await;
    let data = app
        .ok(DELETE_KEY, json!({ "i": { "id": key.id } }), &admin)
        .await;
    assert_eq!(data["deleteKey"]["deletedKeyId"], json!(key.id));
    let data = app
        .ok(
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": key.id }),
            &admin,
        )
        .await;
    assert_eq!(data["node"], json!(null));
    app.gql(VIEWER, json!({}), &key.auth())
        .await
        .assert_unauthenticated();
    app.gql(DELETE_KEY, json!({ "i": { "id": key.id } }), &admin)
        .await
        .assert_code("NOT_FOUND");
    app.gql(
        SET_STATE,
        json!({ "i": { "id": key.id, "state": "ACTIVE" } }),
        &admin,
    )
    .await
    .assert_code("NOT_FOUND");
}

async fn the_secret_key_is_returned_once_and_never_again() {
    let app = TestApp::spawn().await;
    let project = app.default_project(&Auth::None).await;
    let key = app.create_key(&Auth::None, &project, "OWNER").await;

    // Every field reachable from the key, the project and the listing.
    let everything = app
        .ok(
            "query($id: ID!) {
                node(id: $id) { ... on ApiKey { id accessKey name description state role createdAt updatedAt lastUsedAt
                    project { id name description endpoint createdAt updatedAt
                        apiKeys(first: 100) { totalCount edges { cursor node { id accessKey name } } } } } }
                projects { edges { node { apiKeys { edges { node { accessKey } } } } } }
            }",
            json!({ "id": key.id }),
            &Auth::None,
        )
        .await;
    assert_eq!(everything["node"]["accessKey"], json!(key.access_key));
    assert!(!everything.to_string().contains(&key.secret));
}

async fn renaming_changes_only_name_and_description() {
    let app = TestApp::spawn().await;
    let project = app.default_project(&Auth::None).await;
    let key = app.create_key(&Auth::None, &project, "OWNER").await;

    let data = app
        .ok(
            RENAME,
            json!({ "i": { "id": key.id, "name": "  renamed  ", "description": "new" } }),
            &Auth::None,
        )
        .await;
    let renamed = &data["renameKey"]["apiKey"];
    assert_eq!(renamed["name"], "renamed", "names are trimmed");
    assert_eq!(renamed["description"], "new");
    assert_eq!(renamed["accessKey"], json!(key.access_key));

    // Left out: unchanged. Null description: cleared.
    let data = app
        .ok(
            RENAME,
            json!({ "i": { "id": key.id, "description": null } }),
            &Auth::None,
        )
        .await;
    assert_eq!(data["renameKey"]["apiKey"]["name"], "renamed");
    assert_eq!(data["renameKey"]["apiKey"]["description"], json!(null));
    let data = app
        .ok(
            RENAME,
            json!({ "i": { "id": key.id, "description": "back" } }),
            &Auth::None,
        )
        .await;
    assert_eq!(data["renameKey"]["apiKey"]["name"], "renamed");
    assert_eq!(data["renameKey"]["apiKey"]["description"], "back");

    // The renamed key's credentials are the same credentials.
    app.enable_access_control().await;
    app.ok(VIEWER, json!({}), &key.auth()).await;
}

async fn keys_cannot_be_given_a_new_access_or_secret_key() {
    let app = TestApp::spawn().await;
    let project = app.default_project(&Auth::None).await;
    let key = app.create_key(&Auth::None, &project, "OWNER").await;
    for field in ["accessKey", "secretKey", "secretHash"] {
        let reply = app
            .gql(
                RENAME,
                json!({ "i": { "id": key.id, field: "X" } }),
                &Auth::None,
            )
            .await;
        reply.assert_code("BAD_USER_INPUT");
    }
}

async fn last_used_at_appears_within_seconds_of_first_use() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let key = app.create_key(&Auth::admin(), &project, "READ_ONLY").await;
    app.ok(VIEWER, json!({}), &key.auth()).await;

    let query = "query($id: ID!) { node(id: $id) { ... on ApiKey { lastUsedAt } } }";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let data = app.ok(query, json!({ "id": key.id }), &Auth::admin()).await;
        if data["node"]["lastUsedAt"].is_string() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "lastUsedAt still null after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_projects_keys_page_through_with_cursors_and_filter_by_state() {
    let app = TestApp::spawn().await;
    let project = app.default_project(&Auth::None).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.create_key(&Auth::None, &project, "MEMBER").await.id);
    }
    app.ok(
        SET_STATE,
        json!({ "i": { "id": ids[1], "state": "INACTIVE" } }),
        &Auth::None,
    )
    .await;

    let page = "query($p: ID!, $after: String, $state: KeyState) { project(id: $p) {
        apiKeys(first: 2, after: $after, state: $state) { totalCount
            pageInfo { hasNextPage hasPreviousPage endCursor } edges { cursor node { id } } } } }";
    let mut seen = Vec::new();
    let mut after = json!(null);
    loop {
        let data = app
            .ok(page, json!({ "p": project, "after": after }), &Auth::None)
            .await;
        let keys = &data["project"]["apiKeys"];
        assert_eq!(keys["totalCount"], 5);
        for edge in keys["edges"].as_array().expect("edges") {
            seen.push(id_of(&edge["node"]));
        }
        if keys["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = keys["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, ids, "every key once, oldest first");

    let data = app
        .ok(
            page,
            json!({ "p": project, "state": "INACTIVE" }),
            &Auth::None,
        )
        .await;
    let inactive = &data["project"]["apiKeys"];
    assert_eq!(inactive["totalCount"], 1);
    assert_eq!(inactive["edges"][0]["node"]["id"], json!(ids[1]));
}
