//! `AppState`: what every handler can reach (configuration, database, start time) and the
//! services modules provide to each other (`service::<T>()`).

use std::sync::Arc;
use std::time::Instant;

use axum::http::Extensions;

use crate::bus::EventBus;
use crate::config::Config;
use crate::db::Db;

#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub started_at: Instant,
    /// Cross-instance events (LISTEN/NOTIFY on PostgreSQL, in-process on SQLite).
    pub bus: Arc<EventBus>,
    /// Services modules provided at start (see `Module::provide`), by type.
    pub services: Arc<Extensions>,
}

impl AppState {
    /// The service of type `T` a module provided, if that module is enabled.
    pub fn try_service<T: Send + Sync + 'static>(&self) -> Option<&Arc<T>> {
        self.services.get::<Arc<T>>()
    }

    /// The service of type `T`; the module providing it must be in the module list.
    pub fn service<T: Send + Sync + 'static>(&self) -> &Arc<T> {
        self.try_service::<T>().unwrap_or_else(|| {
            panic!(
                "no {} service: its module is not enabled",
                std::any::type_name::<T>()
            )
        })
    }
}
