//! `keyward client keys list|create|show|activate|deactivate|rename|rotate|delete`.
//!
//! JSON fields of a key: `id`, `accessKey`, `name`, `description`, `state`,
//! `role`, `scopes`, `expiresAt`, `lastUsedAt`, `createdAt`, `rotatedAt`,
//! `projectId`. `create` and `rotate` print `{"key": …, "secretKey": …}`
//! (`rotate` adds `previousKey`); with `--secret-file` the secret goes only
//! to that file (mode 0600) and `secretFile` names it instead.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::connection::Connection;
use super::output::{Printed, cell, table};
use super::{ClientError, at, every_node, project_id, with_project_id};
use crate::expiry_warnings::parse_duration;

const FIELDS: &str = "id accessKey name description state role scopes expiresAt lastUsedAt \
                      createdAt rotatedAt project { id }";
const COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("ACCESS KEY", "accessKey"),
    ("NAME", "name"),
    ("STATE", "state"),
    ("ROLE", "role"),
    ("SCOPES", "scopes"),
    ("EXPIRES", "expiresAt"),
    ("LAST USED", "lastUsedAt"),
];

/// `--role`: the API's roles.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    Owner,
    Member,
    ReadOnly,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Self::Owner => "OWNER",
            Self::Member => "MEMBER",
            Self::ReadOnly => "READ_ONLY",
        }
    }
}

/// `--state` of `keys list`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    Active,
    Inactive,
    Expired,
}

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// A project's keys, oldest first.
    List {
        /// The project (default: the calling key's own).
        #[arg(long)]
        project: Option<String>,
        /// Only keys in this state.
        #[arg(long, value_enum, ignore_case = true)]
        state: Option<State>,
    },
    /// Creates a key; prints its secret key once.
    Create {
        name: String,
        /// The project (default: the calling key's own).
        #[arg(long)]
        project: Option<String>,
        #[arg(long, value_enum, ignore_case = true, default_value = "OWNER")]
        role: Role,
        /// A scope the key is limited to (repeatable).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// When the key expires: a duration from now (`90d`, `12h`) or an
        /// RFC 3339 instant.
        #[arg(long, value_parser = parse_expiry)]
        expires: Option<DateTime<Utc>>,
        #[arg(long)]
        description: Option<String>,
        /// Write the secret key to this file (mode 0600) instead of
        /// standard output.
        #[arg(long)]
        secret_file: Option<PathBuf>,
    },
    /// One key.
    Show { id: String },
    /// Makes an INACTIVE key ACTIVE again.
    Activate { id: String },
    /// Makes a key INACTIVE: it stops working at once.
    Deactivate { id: String },
    /// Renames a key (and changes its description with --description).
    Rename {
        id: String,
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// Replaces a key by a new one with the same role and scopes; prints
    /// the new secret key once.
    Rotate {
        id: String,
        /// How long the old key keeps working (`1h`, `7d`).
        #[arg(long, value_parser = parse_duration)]
        grace: Option<chrono::Duration>,
        /// When the new key expires: a duration from now or an RFC 3339
        /// instant.
        #[arg(long, value_parser = parse_expiry)]
        expires: Option<DateTime<Utc>>,
        /// Write the new secret key to this file (mode 0600) instead of
        /// standard output.
        #[arg(long)]
        secret_file: Option<PathBuf>,
    },
    /// Deletes an INACTIVE or EXPIRED key for good.
    Delete { id: String },
}

/// `--expires`: `90d` from now, or an instant.
fn parse_expiry(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(instant.with_timezone(&Utc));
    }
    parse_duration(text)
        .map(|duration| Utc::now() + duration)
        .map_err(|err| format!("{err}, or an RFC 3339 instant"))
}

pub async fn run(connection: &Connection, command: &KeysCommand) -> Result<Printed, ClientError> {
    match command {
        KeysCommand::List { project, state } => {
            let project = project_id(connection, project.as_ref()).await?;
            let query = format!(
                "query($p: ID, $after: String, $state: KeyState) {{ project(id: $p) {{ \
                 apiKeys(first: 100, after: $after, state: $state) {{ \
                 edges {{ node {{ {FIELDS} }} }} pageInfo {{ hasNextPage endCursor }} }} }} }}"
            );
            let state = state.map(|state| format!("{state:?}").to_uppercase());
            let keys = every_node(
                connection,
                &query,
                json!({ "p": project, "state": state }),
                &["project", "apiKeys"],
                usize::MAX,
                || ClientError::not_found(format!("no project {project}")),
            )
            .await?;
            let keys: Vec<Value> = keys.into_iter().map(with_project_id).collect();
            Ok(Printed {
                table: table(COLUMNS, &keys),
                json: Value::Array(keys),
            })
        }
        KeysCommand::Create {
            name,
            project,
            role,
            scopes,
            expires,
            description,
            secret_file,
        } => {
            let project = project_id(connection, project.as_ref()).await?;
            let file = secret_file.as_deref().map(SecretFile::create).transpose()?;
            let query = format!(
                "mutation($i: CreateApiKeyInput!) {{ createApiKey(input: $i) {{ \
                 secretKey apiKey {{ {FIELDS} }} }} }}"
            );
            let mut input = json!({
                "projectId": project,
                "name": name,
                "role": role.name(),
                "description": description,
                "expiresAt": expires.map(|at| at.to_rfc3339()),
            });
            if !scopes.is_empty() {
                input["scopes"] = json!(scopes);
            }
            let data = connection.request(&query, json!({ "i": input })).await?;
            let created = &data["createApiKey"];
            let key = with_project_id(created["apiKey"].clone());
            let mut json = json!({ "key": key });
            let mut text = table(COLUMNS, std::slice::from_ref(&key));
            deliver_secret(&created["secretKey"], file, &mut json, &mut text, &key)?;
            Ok(Printed { json, table: text })
        }
        KeysCommand::Show { id } => {
            let query =
                format!("query($id: ID!) {{ node(id: $id) {{ ... on ApiKey {{ {FIELDS} }} }} }}");
            let data = connection.request(&query, json!({ "id": id })).await?;
            let key = at(&data, &["node", "accessKey"])
                .and(data.get("node"))
                .cloned()
                .ok_or_else(|| ClientError::not_found(format!("no key {id}")))?;
            single(with_project_id(key))
        }
        KeysCommand::Activate { id } => set_state(connection, id, "ACTIVE").await,
        KeysCommand::Deactivate { id } => set_state(connection, id, "INACTIVE").await,
        KeysCommand::Rename {
            id,
            name,
            description,
        } => {
            let query = format!(
                "mutation($i: RenameKeyInput!) {{ renameKey(input: $i) {{ apiKey {{ {FIELDS} }} }} }}"
            );
            let mut input = json!({ "id": id, "name": name });
            if let Some(description) = description {
                input["description"] = json!(description);
            }
            let data = connection.request(&query, json!({ "i": input })).await?;
            single(with_project_id(data["renameKey"]["apiKey"].clone()))
        }
        KeysCommand::Rotate {
            id,
            grace,
            expires,
            secret_file,
        } => {
            let file = secret_file.as_deref().map(SecretFile::create).transpose()?;
            let query = format!(
                "mutation($i: RotateKeyInput!) {{ rotateKey(input: $i) {{ \
                 secretKey apiKey {{ {FIELDS} }} previousKey {{ {FIELDS} }} }} }}"
            );
            let input = json!({
                "id": id,
                "gracePeriodSeconds": grace.map(|grace| grace.num_seconds()),
                "expiresAt": expires.map(|at| at.to_rfc3339()),
            });
            let data = connection.request(&query, json!({ "i": input })).await?;
            let rotated = &data["rotateKey"];
            let key = with_project_id(rotated["apiKey"].clone());
            let previous = with_project_id(rotated["previousKey"].clone());
            let mut json = json!({ "key": key, "previousKey": previous });
            let mut text = table(COLUMNS, &[key.clone(), previous]);
            deliver_secret(&rotated["secretKey"], file, &mut json, &mut text, &key)?;
            Ok(Printed { json, table: text })
        }
        KeysCommand::Delete { id } => {
            let data = connection
                .request(
                    "mutation($i: DeleteKeyInput!) { deleteKey(input: $i) { deletedKeyId } }",
                    json!({ "i": { "id": id } }),
                )
                .await?;
            let deleted = data["deleteKey"]["deletedKeyId"].clone();
            Ok(Printed {
                table: format!("deleted key {}", cell(&deleted)),
                json: json!({ "deletedKeyId": deleted }),
            })
        }
    }
}

async fn set_state(connection: &Connection, id: &str, state: &str) -> Result<Printed, ClientError> {
    let query = format!(
        "mutation($i: SetKeyStateInput!) {{ setKeyState(input: $i) {{ apiKey {{ {FIELDS} }} }} }}"
    );
    let data = connection
        .request(&query, json!({ "i": { "id": id, "state": state } }))
        .await?;
    single(with_project_id(data["setKeyState"]["apiKey"].clone()))
}

fn single(key: Value) -> Result<Printed, ClientError> {
    Ok(Printed {
        table: table(COLUMNS, std::slice::from_ref(&key)),
        json: key,
    })
}

/// Puts a new key's secret where it goes: into the secret file, or into
/// the output (standard output), once.
fn deliver_secret(
    secret: &Value,
    file: Option<SecretFile>,
    json: &mut Value,
    text: &mut String,
    key: &Value,
) -> Result<(), ClientError> {
    let secret = secret
        .as_str()
        .ok_or_else(|| ClientError::Protocol("no secret key in the answer".to_owned()))?;
    match file {
        Some(file) => {
            let path = file.finish(secret).map_err(|err| {
                ClientError::SecretFile(format!(
                    "the key {} was made, but its secret key could not be written: {err}; \
                     deactivate it and try again",
                    cell(&key["id"])
                ))
            })?;
            json["secretFile"] = json!(path.display().to_string());
            text.push_str(&format!("secret key written to {}\n", path.display()));
        }
        None => {
            json["secretKey"] = json!(secret);
            text.push_str(&format!(
                "secret key: {secret}\n(shown this once: keep it now)\n"
            ));
        }
    }
    Ok(())
}

/// A file for a new secret: a temporary file made (mode 0600) before the
/// key is, so a path that cannot be written fails before anything
/// changes, then renamed over the path once it holds the secret — the
/// path never holds a partial secret nor one readable by others.
struct SecretFile {
    temporary: PathBuf,
    path: PathBuf,
    file: std::fs::File,
    /// Whether the temporary file has become `path`.
    done: bool,
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        if !self.done {
            // Nothing was written, or the writing failed: leave no file.
            let _removed = std::fs::remove_file(&self.temporary);
        }
    }
}

impl SecretFile {
    fn create(path: &Path) -> Result<Self, ClientError> {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{}.tmp", std::process::id()));
        let temporary = path.with_file_name(name);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(|err| {
                ClientError::SecretFile(format!(
                    "cannot write the secret file {}: {err}",
                    path.display()
                ))
            })?;
        Ok(Self {
            temporary,
            path: path.to_owned(),
            file,
            done: false,
        })
    }

    fn finish(mut self, secret: &str) -> std::io::Result<PathBuf> {
        writeln!(self.file, "{secret}")?;
        self.file.sync_all()?;
        std::fs::rename(&self.temporary, &self.path)?;
        self.done = true;
        Ok(self.path.clone())
    }
}
