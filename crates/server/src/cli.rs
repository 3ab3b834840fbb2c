//! The command line: `serve` (default), `worker`, `jobs ...`, `migrate`, `config check`.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "quickdapp",
    version,
    about = "One binary for the API, real-time channel, jobs and web UI of a dapp."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API and the web UI (the default). Applies pending migrations first.
    Serve,
    /// Run as a worker process (started by `serve`; talks to it over stdin/stdout).
    #[command(hide = true)]
    Worker,
    /// Inspect and manage background jobs.
    Jobs {
        #[command(subcommand)]
        command: jobs::cli::JobsCommand,
    },
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print every resolved value (secrets redacted) and where
    /// it came from. Exits 2 if the configuration is invalid.
    Check,
}
