//! `keyward client projects list|create|rename|delete`.
//!
//! JSON fields of a project: `id`, `name`, `description`, `endpoint`,
//! `createdAt`. `delete` prints `{"deletedProjectId": …}`.

use serde_json::{Value, json};

use super::connection::Connection;
use super::output::{Printed, table};
use super::{ClientError, at, every_node};

const FIELDS: &str = "id name description endpoint createdAt";
const COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("NAME", "name"),
    ("DESCRIPTION", "description"),
    ("CREATED", "createdAt"),
];

#[derive(Debug, clap::Subcommand)]
pub enum ProjectsCommand {
    /// The projects the credentials can see.
    List,
    /// Creates a project (an administrator or a signed-in user).
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// Renames a project.
    Rename { id: String, name: String },
    /// Deletes a project and all its keys (administrator only).
    Delete { id: String },
}

pub async fn run(
    connection: &Connection,
    command: &ProjectsCommand,
) -> Result<Printed, ClientError> {
    match command {
        ProjectsCommand::List => {
            let query = format!(
                "query($after: String) {{ projects(first: 100, after: $after) {{ \
                 edges {{ node {{ {FIELDS} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"
            );
            let projects = every_node(
                connection,
                &query,
                json!({}),
                &["projects"],
                usize::MAX,
                || ClientError::Protocol("no projects in the answer".to_owned()),
            )
            .await?;
            Ok(Printed {
                table: table(COLUMNS, &projects),
                json: Value::Array(projects),
            })
        }
        ProjectsCommand::Create { name, description } => {
            let query = format!(
                "mutation($i: CreateProjectInput!) {{ createProject(input: $i) {{ project {{ {FIELDS} }} }} }}"
            );
            let input = json!({ "i": { "name": name, "description": description } });
            one(connection, &query, input, "createProject").await
        }
        ProjectsCommand::Rename { id, name } => {
            let query = format!(
                "mutation($i: UpdateProjectInput!) {{ updateProject(input: $i) {{ project {{ {FIELDS} }} }} }}"
            );
            one(
                connection,
                &query,
                json!({ "i": { "id": id, "name": name } }),
                "updateProject",
            )
            .await
        }
        ProjectsCommand::Delete { id } => {
            let data = connection
                .request(
                    "mutation($i: DeleteProjectInput!) { deleteProject(input: $i) { deletedProjectId } }",
                    json!({ "i": { "id": id } }),
                )
                .await?;
            let deleted = data["deleteProject"]["deletedProjectId"].clone();
            Ok(Printed {
                table: format!("deleted project {}", super::output::cell(&deleted)),
                json: json!({ "deletedProjectId": deleted }),
            })
        }
    }
}

/// A mutation's `project`, printed.
async fn one(
    connection: &Connection,
    query: &str,
    variables: Value,
    mutation: &str,
) -> Result<Printed, ClientError> {
    let data = connection.request(query, variables).await?;
    let project = at(&data, &[mutation, "project"])
        .cloned()
        .ok_or_else(|| ClientError::Protocol(format!("no project in {mutation}'s answer")))?;
    Ok(Printed {
        table: table(COLUMNS, std::slice::from_ref(&project)),
        json: project,
    })
}
