//! The module contract: what a vertical slice (notifications, tasks, gifts...) hands the server.

use axum::http::Extensions;
use utoipa_axum::router::OpenApiRouter;

use crate::config::Config;
use crate::job::JobRegistry;
use crate::state::AppState;

/// One schema change, written once per backend and embedded in the binary.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Globally unique and increasing; by convention `YYYYMMDDNNNN` of when it was written.
    pub version: i64,
    pub description: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// A module as the server wires it in: its migrations, applied in version order across all
/// modules; the services it provides to every handler (`AppState::service::<T>()`), built
/// once at start in module order; its HTTP routes, merged into the one router; and its job
/// handlers (with the recurring jobs and chain subscriptions it asks for). Routes are
/// registered with `utoipa_axum::routes!`, so each one's OpenAPI operation comes from the
/// handler's own `#[utoipa::path]` and the served document cannot drift from the router.
/// GraphQL objects are merged statically in the server crate.
#[derive(Clone, Copy)]
pub struct Module {
    pub name: &'static str,
    pub migrations: &'static [Migration],
    pub provide: fn(&AppState, &mut Extensions),
    pub routes: fn() -> OpenApiRouter<AppState>,
    pub register_jobs: fn(&mut JobRegistry, &Config),
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("name", &self.name)
            .field("migrations", &self.migrations.len())
            .finish()
    }
}

/// A module that provides no services.
pub fn provides_nothing(_: &AppState, _: &mut Extensions) {}

/// A module with no routes of its own.
pub fn no_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}

/// A module with no jobs of its own.
pub fn no_jobs(_: &mut JobRegistry, _: &Config) {}

/// Declares a migration from the pair of files `migrations/{sqlite,postgres}/<file>.sql`
/// of the calling crate.
#[macro_export]
macro_rules! migration {
    ($version:expr, $description:expr, $file:literal) => {
        $crate::module::Migration {
            version: $version,
            description: $description,
            sqlite: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/migrations/sqlite/",
                $file,
                ".sql"
            )),
            postgres: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/migrations/postgres/",
                $file,
                ".sql"
            )),
        }
    };
}
