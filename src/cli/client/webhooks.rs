//! `keyward client webhooks list|create|delete`.
//!
//! JSON fields of a webhook: `id`, `url`, `description`, `enabled`,
//! `actions`, `createdAt`. `create` prints `{"webhook": …,
//! "signingSecret": …}`: the signing secret, once.

use serde_json::{Value, json};

use super::connection::Connection;
use super::output::{Printed, cell, table};
use super::{ClientError, at, project_id};

const FIELDS: &str = "id url description enabled actions createdAt";
const COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("URL", "url"),
    ("ENABLED", "enabled"),
    ("ACTIONS", "actions"),
    ("DESCRIPTION", "description"),
];

#[derive(Debug, clap::Subcommand)]
pub enum WebhooksCommand {
    /// A project's webhooks.
    List {
        /// The project (default: the calling key's own).
        #[arg(long)]
        project: Option<String>,
    },
    /// Creates a webhook receiving the project's audit events; prints its
    /// signing secret once.
    Create {
        /// Where the events are POSTed.
        target: String,
        /// The project (default: the calling key's own).
        #[arg(long)]
        project: Option<String>,
        /// Only events of this audit action (repeatable; default: all).
        #[arg(long = "action")]
        actions: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Deletes a webhook.
    Delete { id: String },
}

pub async fn run(
    connection: &Connection,
    command: &WebhooksCommand,
) -> Result<Printed, ClientError> {
    match command {
        WebhooksCommand::List { project } => {
            let project = project_id(connection, project.as_ref()).await?;
            let query =
                format!("query($p: ID) {{ project(id: $p) {{ webhooks {{ {FIELDS} }} }} }}");
            let data = connection.request(&query, json!({ "p": project })).await?;
            let webhooks = at(&data, &["project", "webhooks"])
                .cloned()
                .ok_or_else(|| ClientError::not_found(format!("no project {project}")))?;
            Ok(Printed {
                table: table(COLUMNS, webhooks.as_array().map_or(&[][..], Vec::as_slice)),
                json: webhooks,
            })
        }
        WebhooksCommand::Create {
            target,
            project,
            actions,
            description,
        } => {
            let project = project_id(connection, project.as_ref()).await?;
            let query = format!(
                "mutation($i: CreateWebhookInput!) {{ createWebhook(input: $i) {{ \
                 signingSecret webhook {{ {FIELDS} }} }} }}"
            );
            let mut input =
                json!({ "projectId": project, "url": target, "description": description });
            if !actions.is_empty() {
                input["actions"] = json!(actions);
            }
            let data = connection.request(&query, json!({ "i": input })).await?;
            let created = &data["createWebhook"];
            let webhook = created["webhook"].clone();
            let secret = created["signingSecret"].clone();
            let mut text = table(COLUMNS, std::slice::from_ref(&webhook));
            text.push_str(&format!(
                "signing secret: {}\n(shown this once: keep it now)\n",
                cell(&secret)
            ));
            Ok(Printed {
                json: json!({ "webhook": webhook, "signingSecret": secret }),
                table: text,
            })
        }
        WebhooksCommand::Delete { id } => {
            let data = connection
                .request(
                    "mutation($i: DeleteWebhookInput!) { deleteWebhook(input: $i) { deletedWebhookId } }",
                    json!({ "i": { "id": id } }),
                )
                .await?;
            let deleted: Value = data["deleteWebhook"]["deletedWebhookId"].clone();
            Ok(Printed {
                table: format!("deleted webhook {}", cell(&deleted)),
                json: json!({ "deletedWebhookId": deleted }),
            })
        }
    }
}
