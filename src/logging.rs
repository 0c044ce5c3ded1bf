//! Log lines on standard output, for people (`text`) or for log pipelines
//! (`json`, one object per line): `--log-format` / `KEYWARD_LOG_FORMAT`.
//! `RUST_LOG` filters them either way.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

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
    install(options, "info,sqlx::postgres::notice=warn", std::io::stdout);
}

/// Installs the log subscriber of an operations command (`migrate`,
/// `admin`, `backup`): warnings (a replica that did not acknowledge a
/// revocation, say) on standard error, below the command's report on
/// standard output.
pub fn init_for_command(options: LogOptions) {
    install(options, "warn", std::io::stderr);
}

fn install<W>(options: LogOptions, default_filter: &str, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let lines = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match options.log_format {
        LogFormat::Text => lines.init(),
        LogFormat::Json => lines
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .init(),
    }
}
