//! The admin's read-only job endpoints (`admin_routes`, mounted by the server behind the admin
//! guard) and the Prometheus `/metrics` text.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::routing::get;
use platform::{ApiError, AppState};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::{JobStatus, WorkerJob};
use crate::service::{self, JobFilter};

/// `GET /api/admin/jobs` (filters: `type`, `status`, `before`, `limit`) and
/// `GET /api/admin/jobs/{id}`. Read-only; the caller must be an admin: the server mounts these
/// behind its admin guard.
pub fn admin_routes() -> Router<AppState> {
    Router::new()
        .route("/api/admin/jobs", get(list_jobs))
        .route("/api/admin/jobs/{id}", get(show_job))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(rename = "type")]
    job_type: Option<String>,
    status: Option<String>,
    before: Option<i64>,
    limit: Option<u32>,
}

async fn list_jobs(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let filter = JobFilter {
        job_type: query.job_type,
        status: query.status.as_deref().map(JobStatus::parse).transpose()?,
        before_id: query.before,
        limit: query.limit,
    };
    let jobs = service::list_jobs(&state.db, &filter).await?;
    let next = jobs.last().map(|job| job.id);
    Ok(Json(json!({
        "jobs": jobs.iter().map(job_json).collect::<Vec<_>>(),
        "next": next,
    })))
}

async fn show_job(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let job = service::find_job(&state.db, id).await?;
    Ok(Json(json!({ "job": job_json(&job) })))
}

/// A job as the API and the CLI print it: the row plus its derived status.
pub fn job_json(job: &WorkerJob) -> Value {
    let mut value = serde_json::to_value(job).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        object.insert("status".to_owned(), json!(job.status()));
    }
    value
}

/// `GET /metrics`: the Prometheus text, with the queue depth read just before.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    crate::metrics::refresh_queue_depth(&state.db).await;
    let body = crate::metrics::install().map_or_else(String::new, |handle| handle.render());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
