//! `/health` (liveness: the process answers), `/health/ready` (every dependency answers,
//! and every worker process is up) and `/api/config` (the public client configuration the
//! web UI reads at start; never secrets).

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use platform::AppState;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// Longest a readiness check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    status: &'static str,
    version: &'static str,
    #[schema(format = DateTime)]
    timestamp: String,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: crate::VERSION,
        timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    status: &'static str,
    version: &'static str,
    /// One entry per dependency (`database`, `workers`): `{ok, error?, ...details}`.
    #[schema(value_type = Object)]
    checks: Value,
}

/// Readiness: 200 when every check passes, else 503; the body names each check and why it
/// failed.
#[utoipa::path(get, path = "/health/ready", tag = "health", responses(
    (status = 200, body = Readiness),
    (status = 503, description = "a dependency failed its check", body = Readiness),
))]
pub async fn ready(
    State(state): State<AppState>,
    Extension(workers): Extension<jobs::WorkersStatus>,
) -> (StatusCode, Json<Readiness>) {
    let started = Instant::now();
    let database = match tokio::time::timeout(CHECK_TIMEOUT, state.db.ping()).await {
        Ok(Ok(())) => json!({ "ok": true, "latency_ms": started.elapsed().as_secs_f64() * 1000.0 }),
        Ok(Err(e)) => {
            tracing::warn!(target: "health", error = %e, "database check failed");
            json!({ "ok": false, "error": database_error_summary(&e) })
        }
        Err(_) => {
            json!({ "ok": false, "error": format!("no answer within {} ms", CHECK_TIMEOUT.as_millis()) })
        }
    };
    let checks = json!({ "database": database, "workers": workers.check() });
    let all_ok = checks
        .as_object()
        .is_some_and(|checks| checks.values().all(|check| check["ok"] == json!(true)));
    let (status, word) = if all_ok {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    (
        status,
        Json(Readiness {
            status: word,
            version: crate::VERSION,
            checks,
        }),
    )
}

/// A short, credential-free description of why the database check failed.
fn database_error_summary(error: &sqlx::Error) -> &'static str {
    match error {
        sqlx::Error::PoolTimedOut => "no connection available (database unreachable or overloaded)",
        sqlx::Error::Io(_) => "connection failed",
        sqlx::Error::Database(_) => "query failed",
        _ => "database error",
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientConfig {
    app_name: &'static str,
    version: &'static str,
    /// `development`, `production` or `test`.
    app_mode: &'static str,
    base_url: String,
    /// Chains a wallet may sign in from.
    chain_ids: Vec<u64>,
    default_chain_id: Option<u64>,
}

/// What the web UI needs to know about this deployment. Nothing here is secret.
#[utoipa::path(get, path = "/api/config", tag = "health", responses((status = 200, body = ClientConfig)))]
pub async fn client_config(State(state): State<AppState>) -> Json<ClientConfig> {
    let config = &state.config;
    Json(ClientConfig {
        app_name: "QuickDapp",
        version: crate::VERSION,
        app_mode: config.app_mode.as_str(),
        base_url: config.base_url.as_str().trim_end_matches('/').to_owned(),
        chain_ids: config.siwe_chain_ids.clone(),
        default_chain_id: config.siwe_chain_ids.first().copied(),
    })
}

/// The OpenAPI document of every REST route, built once from the handlers' annotations.
#[utoipa::path(get, path = "/api/openapi.json", tag = "health", responses(
    (status = 200, description = "OpenAPI 3.1", content_type = "application/json", body = Object),
))]
pub async fn openapi(
    Extension(document): Extension<OpenApiJson>,
) -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document.0,
    )
}

/// The serialized document, shared by every request.
#[derive(Debug, Clone)]
pub struct OpenApiJson(pub axum::body::Bytes);
