//! `JobsError`, and the one place its variants become HTTP statuses and public codes.

use axum::http::StatusCode;
use platform::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    #[error("job {0} does not exist")]
    NotFound(i64),
    #[error("{0}")]
    Invalid(String),
    #[error("no handler is registered for job type {0:?}")]
    UnknownJobType(String),
    #[error("job {0} has not finished; only a finished job can be retried")]
    NotFinished(i64),
    #[error("job {0} has already finished")]
    AlreadyFinished(i64),
    /// The run's lease expired and the job was claimed again (or cancelled): this run may no
    /// longer complete, fail or renew it.
    #[error("job {id} attempt {attempt} no longer holds its lease")]
    LeaseLost { id: i64, attempt: i32 },
    /// This process no longer leads the named single runner (its lock connection dropped, or
    /// its lease expired and another process took over): the cycle recorded nothing.
    #[error("no longer the leader of {0:?}")]
    LeadershipLost(String),
    #[error("chain: {0}")]
    Chain(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<JobsError> for ApiError {
    fn from(error: JobsError) -> ApiError {
        let (status, code) = match &error {
            JobsError::NotFound(_) => (StatusCode::NOT_FOUND, "jobs.not_found"),
            JobsError::Invalid(_) => (StatusCode::BAD_REQUEST, "jobs.invalid"),
            JobsError::UnknownJobType(_) => (StatusCode::BAD_REQUEST, "jobs.unknown_type"),
            JobsError::NotFinished(_) => (StatusCode::CONFLICT, "jobs.not_finished"),
            JobsError::AlreadyFinished(_) => (StatusCode::CONFLICT, "jobs.already_finished"),
            JobsError::LeaseLost { .. } => (StatusCode::CONFLICT, "jobs.lease_lost"),
            JobsError::LeadershipLost(_) | JobsError::Chain(_) | JobsError::Database(_) => {
                return ApiError::internal(error);
            }
        };
        ApiError::new(status, code, error.to_string())
    }
}
