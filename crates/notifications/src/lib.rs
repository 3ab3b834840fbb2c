//! Notifications module (seed 000): owns the `notifications` table; the GraphQL API, the
//! WebSocket delivery and `notify_user` arrive with issue #4.

use platform::{Migration, Module, migration};

pub const MIGRATIONS: &[Migration] = &[migration!(
    202611210101,
    "notifications",
    "202611210101_notifications"
)];

pub fn module() -> Module {
    Module {
        name: "notifications",
        migrations: MIGRATIONS,
        routes: platform::module::no_routes,
        register_jobs: platform::module::no_jobs,
    }
}
