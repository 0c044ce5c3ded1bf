//! `keyward client …`: a command-line client of a running server's GraphQL
//! API, for scripts and pipelines (rotating a key from CI, say).
//!
//! A subcommand group of the one binary rather than a second binary: one
//! file to install, in the package and the image, and its version is
//! always the server's it was built with.
//!
//! Exit codes: 0 done; 1 refused by the server (its GraphQL error code and
//! message on standard error); 2 a usage error (clap's, or credentials or a
//! URL the client cannot use); 3 the server could not be reached.
//! Secrets (a new key's secret key, a webhook's signing secret) are printed
//! once, on standard output only, or written only to `--secret-file`.

pub mod audit;
pub mod connection;
pub mod keys;
pub mod output;
pub mod projects;
pub mod verify;
pub mod webhooks;

use std::process::ExitCode;

use serde_json::{Value, json};

use connection::{Connection, Credentials};
use output::{Format, Printed};

/// The client's options and command.
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    /// The server's base URL.
    #[arg(
        long,
        env = "KEYWARD_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,

    /// `table` for people, `json` for scripts.
    #[arg(long, value_enum, default_value_t, global = true)]
    pub output: Format,

    #[command(subcommand)]
    pub command: ClientCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// Projects: list, create, rename, delete.
    #[command(subcommand)]
    Projects(projects::ProjectsCommand),
    /// API keys: list, create, show, activate, deactivate, rename, rotate,
    /// delete.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Webhooks: list, create, delete.
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Checks the configured credentials: exit 0 if the server knows them,
    /// 1 if not.
    Verify,
}

/// Why a client command did nothing (or could not say what it did).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server refused: its GraphQL error code and message.
    #[error("{code}: {message}")]
    Refused { code: String, message: String },
    #[error("{0}")]
    Usage(String),
    #[error("cannot reach the server at {0}")]
    Unreachable(String),
    #[error("{0}")]
    Protocol(String),
    /// The secret file could not be written (never with the secret).
    #[error("{0}")]
    SecretFile(String),
}

impl ClientError {
    /// A refusal the client makes itself, for what the API answers with
    /// null (an id that names nothing the caller can see).
    fn not_found(what: String) -> Self {
        Self::Refused {
            code: "NOT_FOUND".to_owned(),
            message: what,
        }
    }

    fn exit_code(&self) -> ExitCode {
        match self {
            Self::Refused { .. } | Self::Protocol(_) | Self::SecretFile(_) => ExitCode::FAILURE,
            Self::Usage(_) => ExitCode::from(2),
            Self::Unreachable(_) => ExitCode::from(3),
        }
    }
}

pub async fn run(args: ClientArgs) -> ExitCode {
    match execute(&args).await {
        Ok(printed) => {
            println!("{}", printed.render(args.output));
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("keyward client: {err}");
            err.exit_code()
        }
    }
}

async fn execute(args: &ClientArgs) -> Result<Printed, ClientError> {
    let connection = Connection::new(&args.url, Credentials::from_env()?)?;
    match &args.command {
        ClientCommand::Projects(command) => projects::run(&connection, command).await,
        ClientCommand::Keys(command) => keys::run(&connection, command).await,
        ClientCommand::Webhooks(command) => webhooks::run(&connection, command).await,
        ClientCommand::Audit(command) => audit::run(&connection, command).await,
        ClientCommand::Verify => verify::run(&connection).await,
    }
}

/// The value at `path` in `data`, `None` where it is null or absent.
fn at<'a>(data: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter()
        .try_fold(data, |value, field| value.get(field))
        .filter(|value| !value.is_null())
}

/// Every node of a connection, page after page: `query` takes `$after`
/// and has the connection (`edges { node }` and `pageInfo`) at `path`;
/// `missing` says what a null on the way means.
async fn every_node(
    connection: &Connection,
    query: &str,
    mut variables: Value,
    path: &[&str],
    limit: usize,
    missing: impl Fn() -> ClientError,
) -> Result<Vec<Value>, ClientError> {
    let mut nodes = Vec::new();
    loop {
        let data = connection.request(query, variables.clone()).await?;
        let page = at(&data, path).ok_or_else(&missing)?;
        nodes.extend(
            page["edges"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|edge| edge["node"].clone()),
        );
        let next = page["pageInfo"]["hasNextPage"].as_bool().unwrap_or(false);
        if !next || nodes.len() >= limit {
            nodes.truncate(limit);
            return Ok(nodes);
        }
        variables["after"] = page["pageInfo"]["endCursor"].clone();
    }
}

/// The project a command is about: `--project`, else the calling key's own
/// (the API's `project` without an id).
async fn project_id(
    connection: &Connection,
    project: Option<&String>,
) -> Result<String, ClientError> {
    if let Some(id) = project {
        return Ok(id.clone());
    }
    let data = connection.request("{ project { id } }", json!({})).await?;
    at(&data, &["project", "id"])
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            ClientError::Usage(
                "which project? pass --project ID (only an API key has a project of its own)"
                    .to_owned(),
            )
        })
}

/// An object of the API with its `project { id }` as `projectId`, as the
/// JSON output names it.
fn with_project_id(mut object: Value) -> Value {
    let project = object["project"]["id"].clone();
    if let Some(fields) = object.as_object_mut() {
        fields.remove("project");
        fields.insert("projectId".to_owned(), project);
    }
    object
}
