//! The `keyward` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use keyward::{Application, Config};

/// See `mimalloc` in Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A GraphQL server for project-scoped API keys.
#[derive(Parser)]
#[command(
    name = "keyward",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// With no subcommand, keyward serves with these options.
    #[command(flatten)]
    serve: Config,

    #[command(flatten)]
    logging: keyward::logging::LogOptions,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the GraphQL API (the default).
    Serve(Box<Config>),
    /// Print the GraphQL schema (SDL) to stdout.
    Schema,
    /// Apply the database's pending migrations, and exit (for servers
    /// started with --no-migrate).
    Migrate(keyward::cli::migrate::MigrateArgs),
    /// Break-glass, on the database directly: for an operator who has lost
    /// the administrator's password.
    #[command(subcommand)]
    Admin(keyward::cli::admin::AdminCommand),
    /// Copy a SQLite database into a new file, consistently, while the
    /// server runs.
    Backup(keyward::cli::backup::BackupArgs),
    /// A client of a running server's GraphQL API, for scripts: projects,
    /// keys, webhooks, the audit trail (credentials from the environment).
    Client(keyward::cli::client::ClientArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match cli.command {
        #[allow(clippy::print_stdout, reason = "the schema is the command's output")]
        Some(Command::Schema) => {
            print!("{}", keyward::sdl());
            return ExitCode::SUCCESS;
        }
        Some(Command::Migrate(args)) => {
            keyward::logging::init_for_command(cli.logging);
            return keyward::cli::migrate::run(args).await;
        }
        Some(Command::Admin(command)) => {
            keyward::logging::init_for_command(cli.logging);
            return keyward::cli::admin::run(command).await;
        }
        Some(Command::Backup(args)) => {
            keyward::logging::init_for_command(cli.logging);
            return keyward::cli::backup::run(args).await;
        }
        Some(Command::Client(args)) => {
            keyward::logging::init_for_command(cli.logging);
            return keyward::cli::client::run(args).await;
        }
        Some(Command::Serve(config)) => *config,
        None => cli.serve,
    };
    keyward::logging::init(cli.logging);
    match Application::build(config).await {
        Ok(app) => {
            app.run_until(shutdown_signal()).await;
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!(error = %err, "keyward could not start");
            ExitCode::FAILURE
        }
    }
}

/// Ctrl-C, or SIGTERM from a service manager.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
