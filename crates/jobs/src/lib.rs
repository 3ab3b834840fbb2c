//! Jobs module (seed 000 "Worker System"): owns the `worker_jobs` table; the queue, worker
//! processes and cron arrive with issue #5.

use platform::{Migration, Module, migration};

pub const MIGRATIONS: &[Migration] = &[migration!(
    202611210201,
    "worker jobs",
    "202611210201_worker_jobs"
)];

pub fn module() -> Module {
    Module {
        name: "jobs",
        migrations: MIGRATIONS,
        provide: platform::module::provides_nothing,
        routes: platform::module::no_routes,
    }
}
