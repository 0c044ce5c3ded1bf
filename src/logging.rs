//! Log lines on standard output, for people (`text`) or for log pipelines
//! (`json`, one object per line): `--log-format` / `KEYWARD_LOG_FORMAT`.
//! `RUST_LOG` filters them either way, within [`library_caps`]: no filter
//! makes a library log what a request or a frame carries. Text lines are
//! coloured only on a terminal, and never under `NO_COLOR`: a log file or
//! a pipe gets no escape codes.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message`
    /// and the event's fields at the top level, and `spans` (the request's
    /// method, path and request id first) for lines logged while handling
    /// one.
    Json,
}

/// The logging options every command takes.
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct LogOptions {
    /// Format of log lines: `text` for people, `json` (one object per line)
    /// for log pipelines.
    #[arg(
        long,
        env = "KEYWARD_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        global = true
    )]
    pub log_format: LogFormat,
}

/// Installs the server's log subscriber: `info` and up on standard output.
pub fn init(options: LogOptions) {
    let colour = colour(
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR"),
    );
    install(
        options,
        "info,sqlx::postgres::notice=warn",
        std::io::stdout,
        colour,
    );
}

/// Installs the log subscriber of an operations command (`migrate`,
/// `admin`, `backup`): warnings (a replica that did not acknowledge a
/// revocation, say) on standard error, below the command's report on
/// standard output.
pub fn init_for_command(options: LogOptions) {
    let colour = colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR"),
    );
    install(options, "warn", std::io::stderr, colour);
}

/// Whether text lines may carry colour codes: only for a terminal (a file
/// or a pipe would keep them as `\x1b[…m`), and not when `NO_COLOR` is set
/// to anything but the empty string (<https://no-color.org>).
fn colour(is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    is_terminal && no_color.is_none_or(|value| value.is_empty())
}

fn install<W>(options: LogOptions, default_filter: &str, writer: W, colour: bool)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let lines = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(writer);
    // A layer of its own rather than directives added to `RUST_LOG`'s: a
    // more specific directive (`tungstenite::protocol=trace`) would win
    // over an added one, whereas every event must pass both filters.
    match options.log_format {
        LogFormat::Text => lines.finish().with(library_caps()).init(),
        LogFormat::Json => lines
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .finish()
            .with(library_caps())
            .init(),
    }
}

/// The most each library that logs payloads may log, whatever `RUST_LOG`
/// says: below these levels they log what requests and frames carry —
/// `connection_init`'s `Basic` credentials, `Authorization` headers,
/// database URLs and bound values. Everything else, keyward's own lines
/// included, is left to `RUST_LOG` (keyward never logs a secret, at any
/// level).
///
/// Checked and left alone: `h2` (its frames' `Debug` leave out header
/// blocks and data), `hyper` (its tracing needs
/// `--cfg hyper_unstable_tracing`), `hyper_util` and `tokio_tungstenite`
/// (connections and addresses only), `sqlx` (statement logging is off, and
/// it logs statements without their bound values anyway), `tower_http`
/// (the request span holds method and path only).
fn library_caps() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        // At trace, every frame and message received or sent (a
        // subscription's `connection_init` with its credentials, documents
        // and their variables), and a client handshake's request headers.
        .with_target("tungstenite", LevelFilter::DEBUG)
        // At trace, with `connection_verbose`, every byte a webhook
        // delivery writes and reads; at debug, the URI of each connection.
        .with_target("reqwest", LevelFilter::INFO)
        // At trace, spans recording the connect options, the database URL
        // and its password included; at debug (with `debug-print`), each
        // statement with its values inlined, signing secrets included.
        .with_target("sea_orm", LevelFilter::INFO)
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::*;

    #[test]
    fn libraries_that_log_payloads_are_capped_below_them_and_others_are_not() {
        let caps = library_caps();
        for (target, payloads) in [
            ("tungstenite::protocol", Level::TRACE),
            ("reqwest::connect::verbose", Level::TRACE),
            ("reqwest::connect", Level::DEBUG),
            ("sea_orm::driver::sqlx_postgres", Level::TRACE),
            ("sea_orm::driver::sqlx_postgres", Level::DEBUG),
        ] {
            assert!(
                !caps.would_enable(target, &payloads),
                "{target} at {payloads}"
            );
        }
        assert!(caps.would_enable("tungstenite::protocol", &Level::DEBUG));
        assert!(caps.would_enable("keyward::auth", &Level::TRACE));
        assert!(caps.would_enable("h2::codec", &Level::TRACE));
    }

    #[test]
    fn lines_are_coloured_only_on_a_terminal_and_never_under_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some("".into())), "an empty NO_COLOR is unset");
        assert!(!colour(true, Some("1".into())));
        assert!(!colour(false, None), "a file or a pipe");
        assert!(!colour(false, Some("1".into())));
    }
}
