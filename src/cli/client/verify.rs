//! `keyward client verify`: whether the server knows the configured
//! credentials (exit 0) or not (exit 1, UNAUTHENTICATED) — the first step
//! of a pipeline, before it changes anything.
//!
//! JSON fields: `kind` (`API_KEY`, `USER`, `ADMIN`), `role`, `accessKey`,
//! `username`, `projectId`, `projectName`.

use serde_json::json;

use super::ClientError;
use super::connection::Connection;
use super::output::{Printed, cell};

pub async fn run(connection: &Connection) -> Result<Printed, ClientError> {
    if !connection.credentials().is_some() {
        return Err(ClientError::Refused {
            code: "UNAUTHENTICATED".to_owned(),
            message: "no credentials are configured: set KEYWARD_ACCESS_KEY and \
                      KEYWARD_SECRET_KEY, or KEYWARD_USERNAME and KEYWARD_PASSWORD"
                .to_owned(),
        });
    }
    let data = connection
        .request(
            "{ viewer { kind role apiKey { accessKey } user { username } project { id name } } }",
            json!({}),
        )
        .await?;
    let viewer = &data["viewer"];
    if viewer["kind"] == "ANONYMOUS" {
        return Err(ClientError::Refused {
            code: "UNAUTHENTICATED".to_owned(),
            message: "the server took the request as anonymous (is its access control off?)"
                .to_owned(),
        });
    }
    let json = json!({
        "kind": viewer["kind"],
        "role": viewer["role"],
        "accessKey": viewer["apiKey"]["accessKey"],
        "username": viewer["user"]["username"],
        "projectId": viewer["project"]["id"],
        "projectName": viewer["project"]["name"],
    });
    let who = match (
        viewer["apiKey"]["accessKey"].as_str(),
        viewer["user"]["username"].as_str(),
    ) {
        (Some(access_key), _) => format!("API key {access_key}"),
        (None, Some(username)) => format!("user {username}"),
        (None, None) => "the administrator".to_owned(),
    };
    let mut table = format!("authenticated as {who} ({})", cell(&viewer["kind"]));
    if let Some(project) = viewer["project"]["name"].as_str() {
        table.push_str(&format!(
            ", role {} in project {project}",
            cell(&viewer["role"])
        ));
    }
    Ok(Printed { json, table })
}
