//! The admin's read-only job endpoints (`admin_routes`, mounted by the server behind the admin
//! guard) and the Prometheus `/metrics` text.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use platform::{ApiError, AppState, ErrorBody};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::{JobStatus, WorkerJob};
use crate::service::{self, JobFilter};

/// `GET /api/admin/jobs` (filters: `type`, `status`, `before`, `limit`) and
/// `GET /api/admin/jobs/{id}`. Read-only; the caller must be an admin: the server mounts these
/// behind its admin guard.
pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(show_job))
}

/// OpenAPI tag of the operator endpoints.
const TAG: &str = "jobs";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only jobs of this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    job_type: Option<String>,
    /// `pending`, `running`, `succeeded`, `failed`, `rescheduled`, `dead` or `cancelled`.
    status: Option<String>,
    /// Page on: only jobs with a smaller id (the previous page's `next`).
    before: Option<i64>,
    /// Page size (default 50, at most 500).
    limit: Option<u32>,
}

/// A job as the API and the CLI show it: the row plus its derived status.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    #[serde(flatten)]
    job: WorkerJob,
    status: JobStatus,
}

#[derive(Debug, Serialize, ToSchema)]
struct JobPage {
    jobs: Vec<JobView>,
    /// Pass as `before` for the next page; absent on an empty page.
    next: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
struct OneJob {
    job: JobView,
}

/// Jobs, newest first.
#[utoipa::path(get, path = "/api/admin/jobs", tag = TAG, params(ListQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, body = JobPage),
        (status = 400, description = "unknown status", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an admin", body = ErrorBody),
))]
async fn list_jobs(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<JobPage>, ApiError> {
    let filter = JobFilter {
        job_type: query.job_type,
        status: query.status.as_deref().map(JobStatus::parse).transpose()?,
        before_id: query.before,
        limit: query.limit,
    };
    let jobs = service::list_jobs(&state.db, &filter).await?;
    let next = jobs.last().map(|job| job.id);
    Ok(Json(JobPage {
        jobs: jobs.into_iter().map(JobView::from).collect(),
        next,
    }))
}

/// One job by id.
#[utoipa::path(get, path = "/api/admin/jobs/{id}", tag = TAG,
    params(("id" = i64, Path, description = "job id")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, body = OneJob),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
))]
async fn show_job(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<OneJob>, ApiError> {
    let job = service::find_job(&state.db, id).await?;
    Ok(Json(OneJob {
        job: JobView::from(job),
    }))
}

impl From<WorkerJob> for JobView {
    fn from(job: WorkerJob) -> JobView {
        let status = job.status();
        JobView { job, status }
    }
}

/// A job as the API and the CLI print it: the row plus its derived status.
pub fn job_json(job: &WorkerJob) -> Value {
    serde_json::to_value(JobView::from(job.clone())).unwrap_or(Value::Null)
}

/// `GET /metrics`: the Prometheus text, with the queue depth read just before.
#[utoipa::path(get, path = "/metrics", tag = "health", responses(
    (status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain", body = String),
))]
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
