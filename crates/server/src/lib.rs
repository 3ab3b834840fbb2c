//! The `quickdapp` server: assembles modules, middleware, health and the embedded UI into one
//! application that binds, migrates, serves and shuts down gracefully.

pub mod assets;
pub mod cli;
pub mod graphql;
pub mod health;
pub mod http;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use platform::bus::EventBus;
use platform::{AppState, Config, Db, DbError, Module};
use tokio::net::TcpListener;

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
}

/// A bound, migrated application that has not started serving yet.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    /// Connects to the database (retrying up to `DATABASE_CONNECT_TIMEOUT`), applies pending
    /// migrations, and binds `HOST:PORT` (port 0 picks a free one).
    pub async fn build(config: Config, modules: &[Module]) -> Result<Application, StartError> {
        let db = Application::open_database(&config, modules).await?;
        let addr = config.listen_addr();
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| StartError::Bind(addr, e))?;
        Application::assemble(config, modules, db, listener).await
    }

    /// Like `build`, on a listener the caller already bound (tests learn the port first so
    /// that `BASE_URL` can name it).
    pub async fn build_on(
        config: Config,
        modules: &[Module],
        listener: TcpListener,
    ) -> Result<Application, StartError> {
        let db = Application::open_database(&config, modules).await?;
        Application::assemble(config, modules, db, listener).await
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
        let router = http::router(state.clone(), modules);
        Ok(Application {
            listener,
            router,
            state,
        })
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
        } = self;
        let grace = state.config.shutdown_timeout;
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let server = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
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
            result = server.into_future() => result,
            () = deadline => {
                tracing::warn!(target: "server", "shutdown deadline passed; dropping the requests still running");
                Ok(())
            }
        };
        state.db.close().await;
        tracing::info!(target: "server", "stopped");
        result
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
