//! The `quickdapp` server: assembles modules, middleware, health and the embedded UI into one
//! application that binds, migrates, serves and shuts down gracefully.

pub mod assets;
pub mod cli;
pub mod edge;
pub mod graphql;
pub mod health;
pub mod http;
pub mod serve;
pub mod timeout;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use jobs::{LocalEvents, Supervisor, SupervisorOptions, WorkersStatus};
use platform::bus::EventBus;
use platform::{AppState, Config, Db, DbError, JobRegistry, Module};
use tokio::net::TcpListener;

/// How long after the start the metrics recorder is installed, unless a metric needs it sooner
/// (see `jobs::metrics::install_in_background`).
const METRICS_SETTLE: std::time::Duration = std::time::Duration::from_secs(1);

/// The version reported by `/health` and the UI.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Every module this binary ships, in migration order. A deployment may run a subset.
pub fn modules() -> Vec<Module> {
    vec![
        platform::module(),
        auth::module(),
        notifications::module(),
        jobs::module(),
    ]
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error(transparent)]
    Database(DbError),
    #[error("jobs: {0}")]
    Jobs(jobs::JobsError),
}

/// A bound, migrated application that has not started serving yet.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    workers: Workers,
}

impl Application {
    /// Connects to the database (retrying up to `DATABASE_CONNECT_TIMEOUT`), applies pending
    /// migrations, and binds `HOST:PORT` (port 0 picks a free one).
    pub async fn build(config: Config, modules: &[Module]) -> Result<Application, StartError> {
        let db = Application::open_database(&config, modules).await?;
        let workers = Workers::prepare(&config, modules, &db).await?;
        tracing::debug!(target: "server", "start: job registry checked, crons ensured");
        let addr = config.listen_addr();
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| StartError::Bind(addr, e))?;
        Application::assemble(config, modules, db, listener, workers).await
    }

    /// Like `build`, on a listener the caller already bound (tests learn the port first so
    /// that `BASE_URL` can name it).
    pub async fn build_on(
        config: Config,
        modules: &[Module],
        listener: TcpListener,
    ) -> Result<Application, StartError> {
        let db = Application::open_database(&config, modules).await?;
        let workers = Workers::prepare(&config, modules, &db).await?;
        Application::assemble(config, modules, db, listener, workers).await
    }

    async fn open_database(config: &Config, modules: &[Module]) -> Result<Db, StartError> {
        let db = Db::connect(
            config.database_url.expose(),
            config.database_connect_timeout,
        )
        .await
        .map_err(StartError::Database)?;
        let applied = db.migrate(modules).await.map_err(StartError::Database)?;
        if applied.is_empty() {
            tracing::info!(target: "database", backend = ?db.backend(), "schema up to date");
        } else {
            tracing::info!(target: "database", backend = ?db.backend(), applied = ?applied, "applied migrations");
        }
        Ok(db)
    }

    async fn assemble(
        config: Config,
        modules: &[Module],
        db: Db,
        listener: TcpListener,
        workers: Workers,
    ) -> Result<Application, StartError> {
        let bus = EventBus::start(db.clone())
            .await
            .map_err(|e| StartError::Database(DbError::Query(e)))?;
        let mut state = AppState {
            config: Arc::new(config),
            db,
            started_at: Instant::now(),
            bus,
            services: Default::default(),
        };
        let mut services = axum::http::Extensions::new();
        for module in modules {
            (module.provide)(&state, &mut services);
        }
        state.services = Arc::new(services);
        tracing::debug!(target: "server", "start: bus started, module services provided");
        // What worker processes published on their in-process bus (SQLite) reaches this one.
        let bus = state.bus.clone();
        tokio::spawn(platform::bus::forward(
            workers.events.relayed.subscribe(),
            move |event| bus.publish_local(event),
        ));
        let router = http::router(state.clone(), modules, workers.status.clone());
        Ok(Application {
            listener,
            router,
            state,
            workers,
        })
    }

    /// `WEB_ENABLED=false`: runs the worker processes (no HTTP) until `shutdown` resolves.
    pub async fn run_workers_only(
        config: Config,
        modules: &[Module],
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let db = Application::open_database(&config, modules).await?;
        let workers = Workers::prepare(&config, modules, &db).await?;
        let supervisor = workers.start(&config, db.backend());
        shutdown.await;
        tracing::info!(target: "server", "shutting down: stopping worker processes");
        if let Some(supervisor) = supervisor {
            supervisor.stop().await;
        }
        db.close().await;
        Ok(())
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests finish
    /// within `SHUTDOWN_TIMEOUT`, and closes the database.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Application {
            listener,
            router,
            state,
            workers,
        } = self;
        let supervisor = workers.start(&state.config, state.db.backend());
        let grace = state.config.shutdown_timeout;
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let front = http::stack(router, &state.config);
        let server = serve::serve(listener, front, async move {
            shutdown.await;
            tracing::info!(target: "server", grace_ms = grace.as_millis() as u64, "shutting down: no new connections, finishing in-flight requests");
            let _ = stopping_tx.send(());
        });
        let deadline = async move {
            if stopping_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let result = tokio::select! {
            result = server => result,
            () = deadline => {
                tracing::warn!(target: "server", "shutdown deadline passed; dropping the requests still running");
                Ok(())
            }
        };
        if let Some(supervisor) = supervisor {
            supervisor.stop().await;
        }
        state.db.close().await;
        tracing::info!(target: "server", "stopped");
        result
    }
}

/// The job side of a serving process: the registry (checked, crons ensured), the children's
/// status for `/health/ready`, and where their events land.
#[derive(Debug)]
struct Workers {
    registry: Arc<JobRegistry>,
    status: WorkersStatus,
    events: LocalEvents,
}

impl Workers {
    async fn prepare(config: &Config, modules: &[Module], db: &Db) -> Result<Workers, StartError> {
        let registry = jobs::build_registry(modules, config).map_err(StartError::Jobs)?;
        jobs::metrics::install_in_background(METRICS_SETTLE);
        jobs::service::ensure_crons(db, &registry)
            .await
            .map_err(StartError::Jobs)?;
        Ok(Workers {
            registry: Arc::new(registry),
            status: WorkersStatus::new(config.worker_count.resolve()),
            events: LocalEvents::new(),
        })
    }

    /// Starts `WORKER_COUNT` children running this same binary's `worker` command.
    fn start(&self, config: &Config, backend: platform::Backend) -> Option<Supervisor> {
        let count = config.worker_count.resolve();
        if count == 0 {
            return None;
        }
        let program = match std::env::current_exe() {
            Ok(program) => program,
            Err(e) => {
                tracing::error!(target: "server", error = %e, "cannot find this binary to start workers");
                return None;
            }
        };
        tracing::info!(target: "server", count, job_types = self.registry.job_types().count(), "starting worker processes");
        Some(Supervisor::start(
            SupervisorOptions {
                program,
                args: vec!["worker".to_owned()],
                count,
                grace: config.shutdown_timeout,
                forward_wakeups: backend == platform::Backend::Sqlite,
            },
            self.status.clone(),
            self.events.clone(),
        ))
    }
}

/// How jobs in a worker process notify users: a notification service of their own (no sockets
/// there) that commits each notification before the job goes on, and publishes it on `bus`.
pub fn job_notifier(db: Db, bus: Arc<EventBus>) -> Arc<dyn platform::job::UserNotifier> {
    let no_sockets = Arc::new(realtime::Hub::new(realtime::Limits {
        max_connections: 0,
        max_connections_per_user: 0,
        queue: 1,
    }));
    Arc::new(notifications::NotificationService::new(db, bus, no_sockets))
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when this is called, not
/// when the future is first polled, so a signal that arrives in between is not lost.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    jobs::supervisor::terminate_signal()
}
