//! `/health` (liveness: the process answers), `/health/ready` (every dependency answers,
//! and every worker process is up) and `/api/config` (the public client configuration the
//! web UI reads at start; never secrets).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use platform::AppState;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// Longest a readiness check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The liveness answer's shape, for the OpenAPI document; `live_body` writes it.
#[derive(Debug, Serialize, ToSchema)]
#[cfg_attr(not(test), allow(dead_code))] // reason: built by `live_body`'s test only; the body is written by hand
pub struct Health {
    #[schema(example = "ok")]
    status: &'static str,
    version: &'static str,
    #[schema(format = DateTime)]
    timestamp: String,
}

/// Liveness: the process answers. (`edge::Front` answers most `GET /health` requests itself
/// with the same body.)
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, body = Health)))]
pub async fn health() -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        live_body(),
    )
}

/// `Health` as JSON, written directly: none of its strings needs escaping (the version is a
/// crate version, the time RFC 3339), and serde's escaping scan was a fifth of the request.
pub fn live_body() -> String {
    live_body_at(&chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

fn live_body_at(timestamp: &str) -> String {
    const HEAD: &str = concat!(
        r#"{"status":"ok","version":""#,
        env!("CARGO_PKG_VERSION"),
        r#"","timestamp":""#
    );
    let mut body = String::with_capacity(HEAD.len() + timestamp.len() + 2);
    body.push_str(HEAD);
    body.push_str(timestamp);
    body.push_str(r#""}"#);
    body
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

/// The OpenAPI document of every REST route, built from the handlers' annotations.
#[utoipa::path(get, path = "/api/openapi.json", tag = "health", responses(
    (status = 200, description = "OpenAPI 3.1", content_type = "application/json", body = Object),
))]
pub async fn openapi(
    Extension(document): Extension<OpenApiJson>,
) -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document.json(),
    )
}

/// The document, serialized by the first request that asks for it (not at start) and then
/// shared by every request.
#[derive(Clone)]
pub struct OpenApiJson(Arc<(utoipa::openapi::OpenApi, OnceLock<Bytes>)>);

impl std::fmt::Debug for OpenApiJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenApiJson")
            .field("serialized", &self.0.1.get().map(Bytes::len))
            .finish()
    }
}

impl OpenApiJson {
    pub fn new(document: utoipa::openapi::OpenApi) -> OpenApiJson {
        OpenApiJson(Arc::new((document, OnceLock::new())))
    }

    pub fn json(&self) -> Bytes {
        let (document, json) = &*self.0;
        json.get_or_init(|| Bytes::from(document.to_json().unwrap_or_default()))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_body_is_what_serde_makes_of_health() {
        let timestamp = "2026-11-29T05:04:05.678Z";
        let expected = serde_json::to_string(&Health {
            status: "ok",
            version: crate::VERSION,
            timestamp: timestamp.to_owned(),
        })
        .expect("serializes");
        assert_eq!(live_body_at(timestamp), expected);
    }
}
