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
use crate::store::{DatabaseLock, NewUser, Store};
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
    let administrator = NewUser {
        username: username.to_owned(),
        display_name: username.to_owned(),
        password_hash: hash,
        administrator: true,
    };
    let reset = store
        .reset_admin_password(
            administrator,
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
        .break_glass_disable_access_control(
            "break-glass: `keyward admin disable-access-control` on the command line".into(),
        )
        .await?;
    Ok(was_on)
}

/// One line of standard input, without its line ending. At a terminal,
/// asks for it on standard error and does not show what is typed.
fn read_password(username: &str) -> Result<Secret, CommandError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        if let Some(hidden) = HiddenInput::start(&stdin) {
            eprint!("New password for {username} (not shown): ");
            let read = read_hidden(&stdin, hidden.keys);
            // The terminal as it was, before anything more is said.
            drop(hidden);
            eprintln!();
            return read;
        }
        eprint!("New password for {username}: ");
    }
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

/// Reads the password at a terminal [`HiddenInput`] holds, byte by byte,
/// editing the line as the terminal would have.
fn read_hidden(stdin: &std::io::Stdin, keys: Keys) -> Result<Secret, CommandError> {
    let mut line = HiddenLine::new(keys);
    let mut input = stdin.lock();
    let mut byte = [0_u8; 1];
    loop {
        let edit = match input.read(&mut byte) {
            // The terminal hung up.
            Ok(0) => Edit::End,
            Ok(_) => line.feed(byte[0]),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => Edit::More,
            Err(err) => return Err(CommandError::ReadPassword(err)),
        };
        match edit {
            Edit::More => {}
            Edit::Cancelled => return Err(CommandError::Cancelled),
            Edit::End if line.bytes.is_empty() => return Err(CommandError::NoPassword),
            Edit::Done | Edit::End => {
                let text = String::from_utf8(std::mem::take(&mut line.bytes)).map_err(|_| {
                    CommandError::ReadPassword(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "the password is not valid UTF-8",
                    ))
                })?;
                return Ok(Secret::new(text));
            }
        }
    }
}

/// The terminal's editing keys, which [`HiddenLine`] applies itself while
/// the terminal's own line editing and signals are off.
#[derive(Clone, Copy, Debug)]
struct Keys {
    /// Ctrl-C: cancels.
    interrupt: u8,
    /// Ctrl-\\: cancels too (it would have killed the process).
    quit: u8,
    /// Backspace: erases the last character.
    erase: u8,
    /// Ctrl-U: erases the line.
    kill: u8,
    /// Ctrl-D: on an empty line, the end of the input.
    eof: u8,
}

impl Keys {
    /// The usual ones, for tests.
    #[cfg(test)]
    const USUAL: Self = Self {
        interrupt: 0x03,
        quit: 0x1c,
        erase: 0x7f,
        kill: 0x15,
        eof: 0x04,
    };

    fn of(termios: &rustix::termios::Termios) -> Self {
        use rustix::termios::SpecialCodeIndex as Code;
        let codes = &termios.special_codes;
        Self {
            interrupt: codes[Code::VINTR],
            quit: codes[Code::VQUIT],
            erase: codes[Code::VERASE],
            kill: codes[Code::VKILL],
            eof: codes[Code::VEOF],
        }
    }
}

/// What one byte typed at the prompt does.
#[derive(Debug, PartialEq, Eq)]
enum Edit {
    More,
    /// Enter.
    Done,
    /// Ctrl-C (or Ctrl-\\).
    Cancelled,
    /// Ctrl-D on an empty line, or the terminal gone.
    End,
}

/// The line typed so far.
struct HiddenLine {
    bytes: Vec<u8>,
    keys: Keys,
}

impl HiddenLine {
    fn new(keys: Keys) -> Self {
        Self {
            bytes: Vec::new(),
            keys,
        }
    }

    fn feed(&mut self, byte: u8) -> Edit {
        // A key set to 0 is disabled (_POSIX_VDISABLE), not NUL.
        let is = |key: u8| key != 0 && key == byte;
        if byte == b'\n' || byte == b'\r' {
            Edit::Done
        } else if is(self.keys.interrupt) || is(self.keys.quit) {
            Edit::Cancelled
        } else if is(self.keys.eof) {
            if self.bytes.is_empty() {
                Edit::End
            } else {
                Edit::More
            }
        } else if is(self.keys.erase) || byte == 0x08 || byte == 0x7f {
            // One character, however many bytes it took.
            while self.bytes.pop().is_some_and(|byte| byte & 0xC0 == 0x80) {}
            Edit::More
        } else if is(self.keys.kill) {
            self.bytes.clear();
            Edit::More
        } else {
            if (self.bytes.len() as u64) < MAX_PASSWORD_LINE_BYTES {
                self.bytes.push(byte);
            }
            Edit::More
        }
    }
}

/// The terminal without echo, line editing or the signals its keys send,
/// until dropped. With the signals off, Ctrl-C is a byte that
/// [`HiddenLine`] reads as "cancel", and this is dropped: a SIGINT would
/// have ended the process with the echo still off, since nothing runs on
/// the way out of a signal's default action.
struct HiddenInput {
    saved: rustix::termios::Termios,
    keys: Keys,
}

impl HiddenInput {
    fn start(stdin: &std::io::Stdin) -> Option<Self> {
        use rustix::termios::{
            LocalModes, OptionalActions, SpecialCodeIndex, tcgetattr, tcsetattr,
        };
        let saved = tcgetattr(stdin).ok()?;
        let mut hidden = saved.clone();
        hidden
            .local_modes
            .remove(LocalModes::ECHO | LocalModes::ICANON | LocalModes::ISIG);
        // One byte at a time, as it is typed.
        hidden.special_codes[SpecialCodeIndex::VMIN] = 1;
        hidden.special_codes[SpecialCodeIndex::VTIME] = 0;
        tcsetattr(stdin, OptionalActions::Now, &hidden).ok()?;
        Some(Self {
            keys: Keys::of(&saved),
            saved,
        })
    }
}

impl Drop for HiddenInput {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            std::io::stdin(),
            rustix::termios::OptionalActions::Now,
            &self.saved,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(bytes: &[u8]) -> (Edit, Vec<u8>) {
        let mut line = HiddenLine::new(Keys::USUAL);
        for &byte in bytes {
            let edit = line.feed(byte);
            if edit != Edit::More {
                return (edit, line.bytes);
            }
        }
        (Edit::More, line.bytes)
    }

    #[test]
    fn ctrl_c_at_the_hidden_prompt_cancels_whatever_was_typed() {
        assert_eq!(typed(b"half a pass\x03word\n").0, Edit::Cancelled);
        assert_eq!(typed(b"\x1c").0, Edit::Cancelled);
    }

    #[test]
    fn the_prompt_edits_the_line_as_the_terminal_would() {
        assert_eq!(typed(b"secret\n"), (Edit::Done, b"secret".to_vec()));
        assert_eq!(typed(b"secrex\x7ft\r"), (Edit::Done, b"secret".to_vec()));
        assert_eq!(
            typed("caf\u{e9}\x08e\n".as_bytes()),
            (Edit::Done, b"cafe".to_vec())
        );
        assert_eq!(typed(b"wrong\x15right\n"), (Edit::Done, b"right".to_vec()));
        assert_eq!(typed(b"\x04"), (Edit::End, Vec::new()));
        assert_eq!(typed(b"ab\x04c\n"), (Edit::Done, b"abc".to_vec()));
        // A disabled key (0) is not NUL.
        let mut line = HiddenLine::new(Keys {
            interrupt: 0,
            ..Keys::USUAL
        });
        assert_eq!(line.feed(0), Edit::More);
    }
}
