//! `keyward admin`: break-glass, for an operator who has lost the
//! administrator's password. Works on the database directly; each command
//! bumps the auth epoch in its transaction, so that, exactly as after a
//! revoking mutation, no replica trusts a verification made before it (on
//! PostgreSQL the command returns once every running replica has
//! acknowledged it), and is recorded in the audit trail with actor `SYSTEM`
//! and a reason naming the command.

use std::io::{BufRead, IsTerminal, Read};
use std::process::ExitCode;

use super::{CommandError, DatabaseUrl, connect_current, require_existing};
use crate::auth::{Hasher, Secret};
use crate::config::{DatabaseOptions, HashingConfig};
use crate::store::{AuditAction, AuditContext, DatabaseLock, Store};
use crate::validation;

/// The longest line read as the new password, in bytes: more than the
/// policy's 1024 characters can take, so that the policy, not a cut, says
/// why a longer one is refused.
const MAX_PASSWORD_LINE_BYTES: u64 = 4 * 1024 + 2;

#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// Give the administrator a new password, read from standard input (one
    /// line), and the username given. The old password is refused from the
    /// next request on, on every replica.
    ResetPassword(ResetPasswordArgs),
    /// Turn access control off and forget the administrator: anyone who can
    /// reach the server then has full access, until access control is
    /// turned on again (enableAccessControl) with a new administrator.
    DisableAccessControl(DisableAccessControlArgs),
}

#[derive(Debug, clap::Args)]
pub struct ResetPasswordArgs {
    /// The administrator's username from now on (the Basic username).
    #[arg(long)]
    pub username: String,

    #[command(flatten)]
    pub url: DatabaseUrl,

    #[command(flatten)]
    pub pool: DatabaseOptions,

    #[command(flatten)]
    pub hashing: HashingConfig,
}

#[derive(Debug, clap::Args)]
pub struct DisableAccessControlArgs {
    #[command(flatten)]
    pub url: DatabaseUrl,

    #[command(flatten)]
    pub pool: DatabaseOptions,
}

pub async fn run(command: AdminCommand) -> ExitCode {
    match command {
        AdminCommand::ResetPassword(args) => {
            super::run("admin reset-password", reset_password(args)).await
        }
        AdminCommand::DisableAccessControl(args) => {
            super::run("admin disable-access-control", disable_access_control(args)).await
        }
    }
}

async fn reset_password(args: ResetPasswordArgs) -> Result<String, CommandError> {
    let url = &args.url.database_url;
    let username =
        validation::admin_username("--username", &args.username).map_err(CommandError::Input)?;
    // Before the password is asked for: a running server is said at once.
    require_existing(url)?;
    let _lock = DatabaseLock::acquire(url)?;
    let password = read_password(&username)?;
    validation::admin_password("the new password (standard input)", password.expose())
        .map_err(CommandError::Input)?;
    let store = connect_current(url, &args.pool).await?;
    let reset = reset_in(&store, &username, password, args.hashing).await;
    store.close().await;
    reset?;
    Ok(format!(
        "the administrator is now {username:?}, with the new password; the old one is refused \
         from the next request on (an ADMIN_PASSWORD_RESET event is in the audit trail)"
    ))
}

/// Gives the administrator `username` and `password`, in `store`.
async fn reset_in(
    store: &Store,
    username: &str,
    password: Secret,
    hashing: HashingConfig,
) -> Result<(), CommandError> {
    if !store.read_settings().await?.access_control_enabled {
        return Err(CommandError::AccessControlOff);
    }
    let hash = Hasher::new(hashing).await?.hash(password).await?;
    let reset = store
        .reset_admin_password(
            username,
            &hash,
            &AuditContext::system(AuditAction::AdminPasswordReset),
            "break-glass: `keyward admin reset-password` on the command line".to_owned(),
        )
        .await?;
    if !reset {
        // Turned off since it was read.
        return Err(CommandError::AccessControlOff);
    }
    Ok(())
}

async fn disable_access_control(args: DisableAccessControlArgs) -> Result<String, CommandError> {
    let url = &args.url.database_url;
    require_existing(url)?;
    let _lock = DatabaseLock::acquire(url)?;
    let store = connect_current(url, &args.pool).await?;
    let was_on = disable_in(&store).await;
    store.close().await;
    let was_on = was_on?;
    Ok(format!(
        "access control is off{}: anyone who can reach the server has full access, and /verify \
         lets every request through. Turn it on again with the enableAccessControl mutation \
         (or in the web console), with a new administrator",
        if was_on { "" } else { " (it was already)" }
    ))
}

/// Turns access control off in `store`; whether it was on.
async fn disable_in(store: &Store) -> Result<bool, CommandError> {
    let was_on = store.read_settings().await?.access_control_enabled;
    store
        .disable_access_control_noting(
            &AuditContext::system(AuditAction::AccessControlDisabled),
            Some("break-glass: `keyward admin disable-access-control` on the command line".into()),
        )
        .await?;
    Ok(was_on)
}

/// One line of standard input, without its line ending. At a terminal,
/// asks for it on standard error and does not show what is typed.
fn read_password(username: &str) -> Result<Secret, CommandError> {
    let stdin = std::io::stdin();
    let _hidden = if stdin.is_terminal() {
        let hidden = HiddenInput::start(&stdin);
        let shown = if hidden.restore.is_some() {
            " (not shown)"
        } else {
            ""
        };
        eprint!("New password for {username}{shown}: ");
        Some(hidden)
    } else {
        None
    };
    let mut line = String::new();
    let read = stdin
        .lock()
        .take(MAX_PASSWORD_LINE_BYTES)
        .read_line(&mut line)
        .map_err(CommandError::ReadPassword);
    if stdin.is_terminal() {
        eprintln!();
    }
    if read? == 0 {
        return Err(CommandError::NoPassword);
    }
    if let Some(stripped) = line.strip_suffix('\n') {
        let stripped = stripped.strip_suffix('\r').unwrap_or(stripped);
        line.truncate(stripped.len());
    }
    Ok(Secret::new(line))
}

/// Terminal echo turned off until dropped.
struct HiddenInput {
    restore: Option<rustix::termios::Termios>,
}

impl HiddenInput {
    fn start(stdin: &std::io::Stdin) -> Self {
        use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
        let Ok(saved) = tcgetattr(stdin) else {
            return Self { restore: None };
        };
        let mut hidden = saved.clone();
        hidden.local_modes.remove(LocalModes::ECHO);
        match tcsetattr(stdin, OptionalActions::Now, &hidden) {
            Ok(()) => Self {
                restore: Some(saved),
            },
            Err(_) => Self { restore: None },
        }
    }
}

impl Drop for HiddenInput {
    fn drop(&mut self) {
        if let Some(saved) = self.restore.take() {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                &saved,
            );
        }
    }
}
