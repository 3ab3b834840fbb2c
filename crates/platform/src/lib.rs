//! Platform: configuration, database and migrations, the API error envelope, telemetry and
//! the module contract that every QuickDapp crate builds on.

pub mod bus;
pub mod config;
pub mod db;
pub mod dotenvx;
pub mod error;
pub mod job;
pub mod module;
pub mod net;
pub mod reads;
pub mod state;
pub mod telemetry;
pub mod time;
pub mod users;

pub use config::Config;
pub use db::{Backend, Db, DbError, Tx};
pub use error::{ApiError, ErrorBody};
pub use job::{Job, JobContext, JobFailure, JobRegistry};
pub use module::{Migration, Module};
pub use reads::Reads;
pub use state::AppState;
pub use time::Timestamp;

/// The platform's own tables: `settings` and `users` (seed 000 "DrizzleORM Schema Design").
pub const MIGRATIONS: &[Migration] = &[migration!(
    202611210001,
    "settings and users",
    "202611210001_settings_users"
)];

/// The platform as a module: its tables, no routes of its own (the server mounts health).
pub fn module() -> Module {
    Module {
        name: "platform",
        migrations: MIGRATIONS,
        provide: module::provides_nothing,
        routes: module::no_routes,
        register_jobs: module::no_jobs,
    }
}
