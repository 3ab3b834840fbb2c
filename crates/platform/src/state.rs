//! `AppState`: what every handler can reach (configuration, database, start time).

use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::db::Db;

#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub started_at: Instant,
}
