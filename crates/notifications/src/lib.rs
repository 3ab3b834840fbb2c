//! Notifications module (seed 000): stored first, then pushed to every socket of the user on
//! every instance; replayed in order after a reconnect; listed, counted and marked read over
//! GraphQL. `NotificationService::notify_user` is the API other modules and jobs call.

pub mod domain;
pub mod graphql;
pub mod service;
pub mod store;
pub mod ws;

use std::sync::Arc;

use axum::http::Extensions;
use axum::routing::get;
use platform::{AppState, Migration, Module, migration};
use realtime::{Hub, Limits};
pub use service::NotificationService;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub const MIGRATIONS: &[Migration] = &[
    migration!(202611210101, "notifications", "202611210101_notifications"),
    migration!(
        202611220101,
        "per-user sequence and delivery acks",
        "202611220101_notification_seq"
    ),
];

pub fn module() -> Module {
    Module {
        name: "notifications",
        migrations: MIGRATIONS,
        provide,
        routes,
        register_jobs: platform::module::no_jobs,
    }
}

fn provide(state: &AppState, services: &mut Extensions) {
    let config = &state.config;
    let hub = Arc::new(Hub::new(Limits {
        max_connections: config.ws_max_connections as usize,
        max_connections_per_user: config.ws_max_connections_per_user as usize,
        queue: 1024,
    }));
    // One task paces every socket's ping, instead of a timer in each.
    hub.start_ticker(ws::PING_INTERVAL);
    let service = Arc::new(NotificationService::new(
        state.db.clone(),
        state.bus.clone(),
        hub,
    ));
    service.dispatch_events();
    services.insert(service);
}

fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ws::upgrade))
        .route("/ws", get(ws::upgrade))
}
