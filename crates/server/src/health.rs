//! `/health` (liveness: the process answers), `/health/ready` (every dependency answers,
//! and every worker process is up) and `/api/config` (the public client configuration the
//! web UI reads at start; never secrets).

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use platform::AppState;
use serde_json::{Value, json};

/// Longest a readiness check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, serde::Serialize)]
pub struct Health {
    status: &'static str,
    version: &'static str,
    timestamp: String,
}

pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: crate::VERSION,
        timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })
}

/// 200 when every check passes, else 503; the body names each check and why it failed.
pub async fn ready(
    State(state): State<AppState>,
    Extension(workers): Extension<jobs::WorkersStatus>,
) -> (StatusCode, Json<Value>) {
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
        Json(json!({ "status": word, "version": crate::VERSION, "checks": checks })),
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

/// What the web UI needs to know about this deployment. Nothing here is secret.
pub async fn client_config(State(state): State<AppState>) -> Json<Value> {
    let config = &state.config;
    Json(json!({
        "appName": "QuickDapp",
        "version": crate::VERSION,
        "appMode": config.app_mode.as_str(),
        "baseUrl": config.base_url.as_str().trim_end_matches('/'),
        "chainIds": config.siwe_chain_ids,
        "defaultChainId": config.siwe_chain_ids.first(),
    }))
}
