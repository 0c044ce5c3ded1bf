use std::collections::BTreeSet;
use std::process::Command;

use serde_json::{Value, json};

use crate::helpers::*;

const SCHEMA_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");

#[test]
fn schema_graphql_is_what_the_server_serves() {
    let committed = std::fs::read_to_string(SCHEMA_FILE).expect("schema.graphql at the root");
    assert!(
        committed == keyward::sdl(),
        "schema.graphql is out of date: run `cargo run -- schema > schema.graphql`"
    );
}

#[test]
fn keyward_schema_prints_schema_graphql_byte_for_byte() {
    let output = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .arg("schema")
        .output()
        .expect("keyward runs");
    assert!(output.status.success(), "{output:?}");
    let committed = std::fs::read(SCHEMA_FILE).expect("schema.graphql at the root");
    assert!(
        output.stdout == committed,
        "`keyward schema` differs from schema.graphql"
    );
}

/// Scripts introspect the schema with the standard query of graphql-js and
/// graphql-core (saved from graphql-core 3.2); the limits must let it through,
/// anonymous or authenticated.
#[tokio::test]
async fn the_standard_introspection_query_is_answered() {
    let app = TestApp::spawn().await;
    let query = include_str!("introspection.graphql");
    for auth in [Auth::None, Auth::admin()] {
        if matches!(auth, Auth::Basic(..)) {
            app.enable_access_control().await;
        }
        let data = app.ok(query, json!({}), &auth).await;
        let types = data["__schema"]["types"].as_array().expect("types");
        assert!(types.iter().any(|t| t["name"] == "ApiKey"));
    }
}

/// Every type, field, argument, input field and enum value of keyward's own
/// schema is documented: the schema is the API's documentation.
#[tokio::test]
async fn every_type_and_field_has_a_description() {
    let app = TestApp::spawn().await;
    let data = app
        .ok(
            "{ __schema { types { name kind description
                fields { name description args { name description } }
                inputFields { name description }
                enumValues { name description } } } }",
            json!({}),
            &Auth::None,
        )
        .await;
    let builtin: BTreeSet<&str> = ["String", "Int", "Float", "Boolean", "ID"].into();
    let described = |v: &Value| {
        v["description"]
            .as_str()
            .is_some_and(|d| !d.trim().is_empty())
    };
    let mut missing = Vec::new();
    for ty in data["__schema"]["types"].as_array().expect("types") {
        let name = ty["name"].as_str().unwrap_or_default();
        if name.starts_with("__") || builtin.contains(name) {
            continue;
        }
        if !described(ty) {
            missing.push(name.to_owned());
        }
        for field in ty["fields"].as_array().into_iter().flatten() {
            if !described(field) {
                missing.push(format!("{name}.{}", field["name"]));
            }
            for arg in field["args"].as_array().into_iter().flatten() {
                if !described(arg) {
                    missing.push(format!("{name}.{}({})", field["name"], arg["name"]));
                }
            }
        }
        for field in ty["inputFields"].as_array().into_iter().flatten() {
            if !described(field) {
                missing.push(format!("{name}.{}", field["name"]));
            }
        }
        for value in ty["enumValues"].as_array().into_iter().flatten() {
            if !described(value) {
                missing.push(format!("{name}.{}", value["name"]));
            }
        }
    }
    assert!(missing.is_empty(), "undocumented: {missing:?}");
}

/// Introspection tells what `schema.graphql` tells: the schema's own
/// description, and `DateTime` as RFC 3339 with its `@specifiedBy` URL and a
/// description written for users. (The conformance suite compares the whole
/// SDL printed from introspection by graphql-js with `schema.graphql`.)
#[tokio::test]
async fn introspection_gives_the_schema_description_and_how_date_times_are_written() {
    let app = TestApp::spawn().await;
    let data = app
        .ok(
            r#"{ __schema { description } __type(name: "DateTime") { description specifiedByURL } }"#,
            json!({}),
            &Auth::None,
        )
        .await;
    let sdl = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql");
    let description = data["__schema"]["description"].as_str().unwrap_or_default();
    assert!(
        description.starts_with("keyward: projects and their API keys"),
        "{description}"
    );
    assert!(sdl.contains(&format!("\"\"\"\n{description}\n\"\"\"\nschema {{")));
    assert_eq!(
        data["__type"]["specifiedByURL"],
        "https://datatracker.ietf.org/doc/html/rfc3339"
    );
    assert!(sdl.contains(
        r#"scalar DateTime @specifiedBy(url: "https://datatracker.ietf.org/doc/html/rfc3339")"#
    ));
    let date_time = data["__type"]["description"].as_str().unwrap_or_default();
    assert!(
        date_time.starts_with("An instant, as an RFC 3339"),
        "{date_time}"
    );

    // And what comes out is what the description says.
    let project = app.default_project(&Auth::None).await;
    let created = app
        .ok(
            "query($id: ID!) { node(id: $id) { ... on Project { createdAt } } }",
            json!({ "id": project }),
            &Auth::None,
        )
        .await;
    let created_at = created["node"]["createdAt"].as_str().unwrap_or_default();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created_at).is_ok() && created_at.ends_with("+00:00"),
        "{created_at}"
    );
}
