//! The GraphQL specification's "Handling Execution Errors", case by case: a
//! field that fails is `null` with one error naming its path; a `null` in a
//! non-null position makes its parent `null` in turn, up to the nearest
//! nullable ancestor, or to `"data": null` when every field up to the root is
//! non-null. Nothing disappears from `data` (what async-graphql did before
//! keyward patched it, see `vendor/async-graphql/PATCHED.md`).
//!
//! The failures are ones any client can cause: an id that is no global id
//! (`node`, nullable), a page larger than 100 (`apiKeys` and `projects`, both
//! non-null), a field a key is not allowed to read.

use serde_json::{Value, json};

use crate::backend::on_every_backend;
use crate::helpers::*;

on_every_backend!(a_mutation_whose_field_fails_runs_none_of_the_fields_after_it);

/// A nullable field fails (`node` with an id that is no global id).
const NULLABLE: &str = r#"d: node(id: "garbage") { id }"#;
/// A non-null field fails (`apiKeys` with a page too large).
const NON_NULL: &str = "apiKeys(first: 101) { totalCount }";

struct Case {
    name: &'static str,
    query: String,
    data: Value,
    /// The `path` of every error, in any order.
    paths: Vec<Value>,
}

fn cases() -> Vec<Case> {
    let case = |name, query: &str, data, paths| Case {
        name,
        query: query.to_owned(),
        data,
        paths,
    };
    vec![
        case(
            "a failed nullable field is null, its siblings stay",
            &format!("{{ __typename {NULLABLE} }}"),
            json!({ "__typename": "Query", "d": null }),
            vec![json!(["d"])],
        ),
        case(
            "a failed non-null field nulls its nullable parent",
            &format!("query($p: ID) {{ __typename project(id: $p) {{ name {NON_NULL} }} }}"),
            json!({ "__typename": "Query", "project": null }),
            vec![json!(["project", "apiKeys"])],
        ),
        case(
            "a failed non-null field whose ancestors are all non-null nulls data",
            &format!(
                "{{ __typename projects(first: 1) {{ edges {{ node {{ name {NON_NULL} }} }} }} }}"
            ),
            Value::Null,
            vec![json!(["projects", "edges", 0, "node", "apiKeys"])],
        ),
        case(
            "a failed non-null field at the root nulls data",
            "{ __typename projects(first: 101) { totalCount } }",
            Value::Null,
            vec![json!(["projects"])],
        ),
        case(
            "a failed item of a list of nullable items is null, the other items stay",
            &format!(
                "query($p: ID!) {{ nodes(ids: [$p, $p]) {{ id ... on Project {{ {NON_NULL} }} }} \
                 ok: nodes(ids: [$p]) {{ id }} }}"
            ),
            json!({ "nodes": [null, null], "ok": [{ "id": "$p" }] }),
            vec![
                json!(["nodes", 0, "apiKeys"]),
                json!(["nodes", 1, "apiKeys"]),
            ],
        ),
        case(
            "aliases of one field fail or succeed each on its own",
            &format!(
                "query($p: ID) {{ a: project(id: $p) {{ name }} b: project(id: $p) {{ {NON_NULL} }} }}"
            ),
            json!({ "a": { "name": "Default" }, "b": null }),
            vec![json!(["b", "apiKeys"])],
        ),
        case(
            "a failure inside a named fragment nulls the field the fragment is spread in",
            &format!(
                "query($p: ID) {{ project(id: $p) {{ ...F }} }} \
                 fragment F on Project {{ name {NON_NULL} }}"
            ),
            json!({ "project": null }),
            vec![json!(["project", "apiKeys"])],
        ),
        case(
            "a failure inside an inline fragment on an interface nulls the nullable field",
            &format!("query($p: ID!) {{ node(id: $p) {{ id ... on Project {{ {NON_NULL} }} }} }}"),
            json!({ "node": null }),
            vec![json!(["node", "apiKeys"])],
        ),
        case(
            "one field selected twice through fragments, failing in one, is null once",
            &format!(
                "query($p: ID) {{ project(id: $p) {{ name }} ...Q }} \
                 fragment Q on Query {{ project(id: $p) {{ {NON_NULL} }} }}"
            ),
            json!({ "project": null }),
            vec![json!(["project", "apiKeys"])],
        ),
        case(
            "two failed non-null siblings null data and both are reported",
            "{ a: projects(first: 101) { totalCount } b: projects(first: 102) { totalCount } }",
            Value::Null,
            vec![json!(["a"]), json!(["b"])],
        ),
        case(
            "fields keep the order of the query whatever order they finish in",
            &format!("query($p: ID) {{ {NULLABLE} project(id: $p) {{ name }} __typename }}"),
            json!({ "d": null, "project": { "name": "Default" }, "__typename": "Query" }),
            vec![json!(["d"])],
        ),
        case(
            "a selection set whose every field is skipped is an empty object, not null",
            "{ accessControl { enabled @skip(if: true) } }",
            json!({ "accessControl": {} }),
            vec![],
        ),
        case(
            "a field that is null without failing has no error",
            "{ project(id: null) { name } viewer { apiKey { id } } }",
            json!({ "project": null, "viewer": { "apiKey": null } }),
            vec![],
        ),
    ]
}

#[tokio::test]
async fn failed_fields_are_null_and_nulls_propagate_as_the_specification_says() {
    let app = TestApp::spawn().await;
    let project = app.default_project(&Auth::None).await;
    for case in cases() {
        let reply = app
            .gql(&case.query, json!({ "p": project }), &Auth::None)
            .await;
        let name = case.name;
        assert_eq!(reply.status, 200, "{name}: {reply:?}");
        let data = reply
            .body
            .get("data")
            .unwrap_or_else(|| panic!("{name}: no data in {reply:?}"));
        let expected = serde_json::to_string(&case.data)
            .unwrap_or_default()
            .replace("$p", &project);
        let expected: Value = serde_json::from_str(&expected).unwrap_or_default();
        assert_eq!(data, &expected, "{name}: {reply:?}");
        let mut paths: Vec<Value> = reply.body["errors"]
            .as_array()
            .map(|errors| errors.iter().map(|e| e["path"].clone()).collect())
            .unwrap_or_default();
        let mut expected_paths = case.paths.clone();
        paths.sort_by_key(Value::to_string);
        expected_paths.sort_by_key(Value::to_string);
        assert_eq!(paths, expected_paths, "{name}: {reply:?}");
        for error in reply.body["errors"].as_array().into_iter().flatten() {
            assert!(error["extensions"]["code"].is_string(), "{name}: {error}");
            assert!(error["locations"].is_array(), "{name}: {error}");
        }
    }
}

#[tokio::test]
async fn a_field_a_key_may_not_read_nulls_its_parent_and_is_reported_as_forbidden() {
    let app = TestApp::spawn().await;
    let admin = Auth::admin();
    app.enable_access_control().await;
    let project = app.default_project(&admin).await;
    let key = app.create_key(&admin, &project, "READ_ONLY").await;

    // `Query.auditEvents` is the administrator's: non-null at the root.
    let reply = app
        .gql(
            "{ viewer { kind } auditEvents { totalCount } }",
            json!({}),
            &key.auth(),
        )
        .await;
    assert_eq!(reply.body["data"], Value::Null, "{reply:?}");
    assert_eq!(reply.body["errors"][0]["path"], json!(["auditEvents"]));
    reply.assert_code("FORBIDDEN");

    // `Project.webhooks` is the OWNER's: non-null, under the nullable
    // `Viewer.project`, which is null in its place; the rest of `viewer`
    // stays.
    let reply = app
        .gql(
            "{ viewer { kind project { name webhooks { id } } } }",
            json!({}),
            &key.auth(),
        )
        .await;
    assert_eq!(
        reply.body["data"],
        json!({ "viewer": { "kind": "API_KEY", "project": null } }),
        "{reply:?}"
    );
    let errors = reply.body["errors"].as_array().cloned().unwrap_or_default();
    assert_eq!(errors.len(), 1, "{reply:?}");
    assert_eq!(
        errors[0]["path"],
        json!(["viewer", "project", "webhooks"]),
        "{reply:?}"
    );
    reply.assert_code("FORBIDDEN");

    // The key's own project's trail is readable: nothing fails.
    let reply = app
        .gql(
            "{ viewer { kind project { auditEvents(first: 1) { totalCount } } } }",
            json!({}),
            &key.auth(),
        )
        .await;
    assert_eq!(reply.data()["viewer"]["kind"], "API_KEY");
}

async fn a_mutation_whose_field_fails_runs_none_of_the_fields_after_it() {
    let app = TestApp::spawn().await;
    let reply = app
        .gql(
            r#"mutation {
                a: createProject(input: { name: "first" }) { project { id } }
                b: deleteProject(input: { id: "garbage" }) { deletedProjectId }
                c: createProject(input: { name: "third" }) { project { id } }
            }"#,
            json!({}),
            &Auth::None,
        )
        .await;
    assert_eq!(reply.body["data"], Value::Null, "{reply:?}");
    assert_eq!(reply.body["errors"][0]["path"], json!(["b"]), "{reply:?}");
    reply.assert_code("BAD_USER_INPUT");

    let names = app
        .ok(
            "{ projects(first: 100) { edges { node { name } } } }",
            json!({}),
            &Auth::None,
        )
        .await;
    let names: Vec<&str> = names["projects"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|edge| edge["node"]["name"].as_str())
        .collect();
    // The first mutation committed before the second failed; the third
    // never ran.
    assert_eq!(names, ["Default", "first"]);
}
