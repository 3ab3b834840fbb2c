//! `quickdapp`: loads the configuration, sets up logging and runs the chosen command.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use platform::{Config, Db, telemetry};
use server::cli::{Cli, Command, ConfigCommand};

/// mimalloc instead of glibc's malloc: size-segregated pages leave far less memory stranded
/// after bursts (sign-ins on connect left 13-17 KB per idle socket under glibc), and its
/// thread-local fast paths are cheaper on the per-request path. See `bench/README.md`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code for an invalid configuration, so scripts can tell it from a runtime failure.
const EXIT_BAD_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let config = match Config::load(&cwd, std::env::vars()) {
        Ok(config) => config,
        Err(errors) => {
            eprint!("quickdapp: {errors}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    let log_level = match cli.command {
        Some(Command::Worker) => &config.worker_log_level,
        _ => &config.log_level,
    };
    telemetry::init(log_level, config.log_format);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("quickdapp: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config).await,
            Command::Worker => worker(config).await,
            Command::Jobs { command } => jobs_command(config, command).await,
            Command::Migrate => migrate(config).await,
            Command::Config {
                command: ConfigCommand::Check,
            } => {
                print_config(&config);
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(target: "server", "{e}");
            eprintln!("quickdapp: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    tracing::info!(target: "server", version = server::VERSION, mode = config.app_mode.as_str(), "starting QuickDapp");
    // Installed before anything is logged as started, so an early SIGTERM is not lost.
    let shutdown = server::shutdown_signal();
    if !config.web_enabled {
        server::Application::run_workers_only(config, &server::modules(), shutdown).await?;
        return Ok(());
    }
    let app = server::Application::build(config, &server::modules()).await?;
    let base_url = app.state().config.base_url.clone();
    tracing::info!(target: "server", addr = %app.local_addr(), %base_url, "listening");
    app.run_until_stopped(shutdown).await?;
    Ok(())
}

/// A worker process: the parent already applied the migrations.
async fn worker(config: Config) -> anyhow::Result<()> {
    let modules = server::modules();
    let registry = jobs::build_registry(&modules, &config)?;
    let db = Db::connect(
        config.database_url.expose(),
        config.database_connect_timeout,
    )
    .await?;
    let bus = platform::bus::EventBus::publisher(db.clone());
    let notifier = server::job_notifier(db.clone(), bus.clone());
    jobs::process::run_worker_process(Arc::new(config), db, Arc::new(registry), notifier, bus)
        .await?;
    Ok(())
}

async fn jobs_command(config: Config, command: jobs::cli::JobsCommand) -> anyhow::Result<()> {
    let modules = server::modules();
    let registry = jobs::build_registry(&modules, &config)?;
    let db = Db::connect(
        config.database_url.expose(),
        config.database_connect_timeout,
    )
    .await?;
    db.migrate(&modules).await?;
    let output = jobs::cli::run(command, &db, &registry).await;
    db.close().await;
    print!("{}", output?);
    Ok(())
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let db = Db::connect(
        config.database_url.expose(),
        config.database_connect_timeout,
    )
    .await?;
    let applied = db.migrate(&server::modules()).await?;
    db.close().await;
    if applied.is_empty() {
        println!("schema up to date; nothing applied");
    } else {
        println!("applied {} migration(s): {applied:?}", applied.len());
    }
    Ok(())
}

fn print_config(config: &Config) {
    let rows = config.describe();
    let width = rows
        .iter()
        .map(|(name, _, _)| name.len())
        .max()
        .unwrap_or(0);
    for (name, value, source) in rows {
        println!("{name:<width$} = {value}    # {source}");
    }
}
