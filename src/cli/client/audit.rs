//! `keyward client audit list`: the audit trail, newest first.
//!
//! JSON fields of an event: `id`, `at`, `action`, `outcome`, `actorKind`,
//! `actorAccessKey`, `actorUsername`, `projectId`, `targetKeyId`,
//! `targetAccessKey`, `newKeyId`, `reason`, `requestId`.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::connection::{Connection, Credentials};
use super::output::{Printed, table};
use super::{ClientError, every_node};
use crate::expiry_warnings::parse_duration;

const FIELDS: &str = "id at action outcome actorKind actorAccessKey actorUsername projectId \
                      targetKeyId targetAccessKey newKeyId reason requestId";
const COLUMNS: &[(&str, &str)] = &[
    ("AT", "at"),
    ("ACTION", "action"),
    ("OUTCOME", "outcome"),
    ("ACTOR", "actorKind"),
    ("ACCESS KEY", "actorAccessKey"),
    ("USER", "actorUsername"),
    ("TARGET KEY", "targetAccessKey"),
    ("REASON", "reason"),
];

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Audit events, newest first: a project's (`--project`, or the calling
    /// key's own), or for a person without `--project` the whole trail
    /// (administrators only).
    List {
        #[arg(long)]
        project: Option<String>,
        /// Only events of this action (`KEY_CREATED`, … see the API's
        /// `AuditAction`).
        #[arg(long)]
        action: Option<String>,
        /// Only events since: a duration ago (`1h`, `7d`) or an RFC 3339
        /// instant.
        #[arg(long, value_parser = parse_since)]
        since: Option<DateTime<Utc>>,
        /// At most this many events.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

fn parse_since(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(instant.with_timezone(&Utc));
    }
    parse_duration(text)
        .map(|duration| Utc::now() - duration)
        .map_err(|err| format!("{err}, or an RFC 3339 instant"))
}

pub async fn run(connection: &Connection, command: &AuditCommand) -> Result<Printed, ClientError> {
    let AuditCommand::List {
        project,
        action,
        since,
        limit,
    } = command;
    let arguments = "first: 100, after: $after, action: $action, since: $since";
    let selection = format!("edges {{ node {{ {FIELDS} }} }} pageInfo {{ hasNextPage endCursor }}");
    let variables = json!({
        "p": project,
        "action": action,
        "since": since.map(|at| at.to_rfc3339()),
    });
    let parameters = "$after: String, $action: AuditAction, $since: DateTime";
    // A person without --project reads the whole trail; a key (or a
    // project named) reads the project's.
    let events = if project.is_none()
        && matches!(connection.credentials(), Credentials::User { .. })
    {
        let query = format!("query({parameters}) {{ auditEvents({arguments}) {{ {selection} }} }}");
        every_node(
            connection,
            &query,
            variables,
            &["auditEvents"],
            *limit,
            || ClientError::Protocol("no audit events in the answer".to_owned()),
        )
        .await?
    } else {
        let query = format!(
            "query($p: ID, {parameters}) {{ project(id: $p) {{ auditEvents({arguments}) {{ {selection} }} }} }}"
        );
        let missing = project.clone().map_or_else(
            || "no project: pass --project ID".to_owned(),
            |id| format!("no project {id}"),
        );
        every_node(
            connection,
            &query,
            variables,
            &["project", "auditEvents"],
            *limit,
            || ClientError::not_found(missing.clone()),
        )
        .await?
    };
    Ok(Printed {
        table: table(COLUMNS, &events),
        json: Value::Array(events),
    })
}
