//! Auth module: Sign-In with Ethereum (EIP-4361) with server nonces, EOA and ERC-1271
//! signatures, JWT access tokens with revocable, rotating refresh sessions, and the
//! extractors every other module uses to know who is calling.

pub mod erc1271;
pub mod error;
pub mod graphql;
pub mod http;
pub mod service;
pub mod signature;
pub mod siwe;
pub mod store;
pub mod tokens;

use std::sync::Arc;

use axum::http::Extensions;
pub use error::AuthError;
pub use http::{AdminUser, MaybeAuthUser, authenticate};
use platform::{AppState, Migration, Module, migration};
pub use service::{AuthService, AuthUser, ClientInfo};

pub const MIGRATIONS: &[Migration] = &[migration!(
    202611220301,
    "nonces, sessions, refresh tokens",
    "202611220301_auth"
)];

pub fn module() -> Module {
    Module {
        name: "auth",
        migrations: MIGRATIONS,
        provide,
        routes: http::routes,
        register_jobs: platform::module::no_jobs,
    }
}

fn provide(state: &AppState, services: &mut Extensions) {
    let service = Arc::new(AuthService::new(
        &state.config,
        state.db.clone(),
        state.bus.clone(),
    ));
    service.forget_revoked_sessions();
    services.insert(service);
}
