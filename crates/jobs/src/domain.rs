//! Queue domain: a job as stored (`WorkerJob`), a job to enqueue (`NewJob`), its status, cron
//! schedules, and the retry rules. No IO.

use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;

use crate::error::JobsError;

/// The user id system jobs run as (seed 000 uses `userId: 0`).
pub const SYSTEM_USER: i64 = 0;

/// Longest wait between two retries, however many attempts came before.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);

/// One row of `worker_jobs`, as every query returns it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkerJob {
    pub id: i64,
    #[serde(rename = "type")]
    pub job_type: String,
    pub user_id: i64,
    #[serde(serialize_with = "serialize_json")]
    #[schema(value_type = Object)]
    pub data: Json<Value>,
    pub due: DateTime<Utc>,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
    pub remove_at: DateTime<Utc>,
    pub success: Option<bool>,
    #[serde(serialize_with = "serialize_optional_json")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<Json<Value>>,
    pub cron_schedule: Option<String>,
    pub auto_reschedule_on_failure: bool,
    /// Milliseconds.
    pub auto_reschedule_on_failure_delay: i32,
    /// Milliseconds.
    pub remove_delay: i32,
    pub rescheduled_from_job: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub priority: i32,
    pub idempotency_key: Option<String>,
    pub cron_tick_key: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub locked_by: Option<String>,
    pub outcome: Option<String>,
    pub last_error: Option<String>,
    /// The budget this job counts against when its type is rate-limited per key.
    pub rate_key: Option<String>,
}

/// Decodes a `worker_jobs` row on either backend (the same column names and Rust types).
macro_rules! worker_job_from_row {
    ($row:ty) => {
        impl<'r> sqlx::FromRow<'r, $row> for WorkerJob {
            fn from_row(row: &'r $row) -> Result<WorkerJob, sqlx::Error> {
                use sqlx::Row as _;
                Ok(WorkerJob {
                    id: row.try_get("id")?,
                    job_type: row.try_get("type")?,
                    user_id: row.try_get("user_id")?,
                    data: row.try_get("data")?,
                    due: row.try_get("due")?,
                    started: row.try_get("started")?,
                    finished: row.try_get("finished")?,
                    remove_at: row.try_get("remove_at")?,
                    success: row.try_get("success")?,
                    result: row.try_get("result")?,
                    cron_schedule: row.try_get("cron_schedule")?,
                    auto_reschedule_on_failure: row.try_get("auto_reschedule_on_failure")?,
                    auto_reschedule_on_failure_delay: row
                        .try_get("auto_reschedule_on_failure_delay")?,
                    remove_delay: row.try_get("remove_delay")?,
                    rescheduled_from_job: row.try_get("rescheduled_from_job")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                    attempts: row.try_get("attempts")?,
                    max_attempts: row.try_get("max_attempts")?,
                    priority: row.try_get("priority")?,
                    idempotency_key: row.try_get("idempotency_key")?,
                    cron_tick_key: row.try_get("cron_tick_key")?,
                    lease_expires_at: row.try_get("lease_expires_at")?,
                    locked_by: row.try_get("locked_by")?,
                    outcome: row.try_get("outcome")?,
                    last_error: row.try_get("last_error")?,
                    rate_key: row.try_get("rate_key")?,
                })
            }
        }
    };
}
worker_job_from_row!(sqlx::sqlite::SqliteRow);
worker_job_from_row!(sqlx::postgres::PgRow);

fn serialize_json<S: serde::Serializer>(value: &Json<Value>, s: S) -> Result<S::Ok, S::Error> {
    value.0.serialize(s)
}

fn serialize_optional_json<S: serde::Serializer>(
    value: &Option<Json<Value>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    value.as_ref().map(|v| &v.0).serialize(s)
}

/// A `worker_jobs` row as SQLite's `json_object` writes it (booleans are 0/1, times text).
#[derive(serde::Deserialize)]
struct SqliteJobJson {
    id: i64,
    #[serde(rename = "type")]
    job_type: String,
    user_id: i64,
    data: Value,
    due: DateTime<Utc>,
    started: Option<DateTime<Utc>>,
    finished: Option<DateTime<Utc>>,
    remove_at: DateTime<Utc>,
    success: Option<i64>,
    result: Option<Value>,
    cron_schedule: Option<String>,
    auto_reschedule_on_failure: i64,
    auto_reschedule_on_failure_delay: i32,
    remove_delay: i32,
    rescheduled_from_job: Option<i64>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    attempts: i32,
    max_attempts: i32,
    priority: i32,
    idempotency_key: Option<String>,
    cron_tick_key: Option<String>,
    lease_expires_at: Option<DateTime<Utc>>,
    locked_by: Option<String>,
    outcome: Option<String>,
    last_error: Option<String>,
    rate_key: Option<String>,
}

impl WorkerJob {
    /// Decodes rows that SQLite returned as one JSON array of `json_object`s (see
    /// `store::claim_due_jobs`).
    pub fn from_sqlite_json_array(text: &str) -> Result<Vec<WorkerJob>, serde_json::Error> {
        let rows: Vec<SqliteJobJson> = serde_json::from_str(text)?;
        Ok(rows
            .into_iter()
            .map(|row| WorkerJob {
                id: row.id,
                job_type: row.job_type,
                user_id: row.user_id,
                data: Json(row.data),
                due: row.due,
                started: row.started,
                finished: row.finished,
                remove_at: row.remove_at,
                success: row.success.map(|s| s != 0),
                result: row.result.map(Json),
                cron_schedule: row.cron_schedule,
                auto_reschedule_on_failure: row.auto_reschedule_on_failure != 0,
                auto_reschedule_on_failure_delay: row.auto_reschedule_on_failure_delay,
                remove_delay: row.remove_delay,
                rescheduled_from_job: row.rescheduled_from_job,
                created_at: row.created_at,
                updated_at: row.updated_at,
                attempts: row.attempts,
                max_attempts: row.max_attempts,
                priority: row.priority,
                idempotency_key: row.idempotency_key,
                cron_tick_key: row.cron_tick_key,
                lease_expires_at: row.lease_expires_at,
                locked_by: row.locked_by,
                outcome: row.outcome,
                last_error: row.last_error,
                rate_key: row.rate_key,
            })
            .collect())
    }

    pub fn status(&self) -> JobStatus {
        match (&self.finished, &self.started, self.outcome.as_deref()) {
            (None, None, _) => JobStatus::Pending,
            (None, Some(_), _) => JobStatus::Running,
            (Some(_), _, Some("succeeded")) => JobStatus::Succeeded,
            (Some(_), _, Some("rescheduled")) => JobStatus::Rescheduled,
            (Some(_), _, Some("dead")) => JobStatus::Dead,
            (Some(_), _, Some("cancelled")) => JobStatus::Cancelled,
            (Some(_), _, _) if self.success == Some(true) => JobStatus::Succeeded,
            (Some(_), _, _) => JobStatus::Failed,
        }
    }
}

/// Where a job is in its life. `Failed` is a finished failure with no follow-up
/// (a permanent failure); `Rescheduled` failed and has a follow-up job; `Dead` used up its
/// attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Rescheduled,
    Dead,
    Cancelled,
}

impl JobStatus {
    pub fn parse(value: &str) -> Result<JobStatus, JobsError> {
        Ok(match value {
            "pending" => JobStatus::Pending,
            "running" => JobStatus::Running,
            "succeeded" => JobStatus::Succeeded,
            "failed" => JobStatus::Failed,
            "rescheduled" => JobStatus::Rescheduled,
            "dead" => JobStatus::Dead,
            "cancelled" => JobStatus::Cancelled,
            other => {
                return Err(JobsError::Invalid(format!(
                    "status {other:?} is not one of pending, running, succeeded, failed, rescheduled, dead, cancelled"
                )));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Rescheduled => "rescheduled",
            JobStatus::Dead => "dead",
            JobStatus::Cancelled => "cancelled",
        }
    }
}

/// How a finished run ended, as stored in `outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    /// Failed for good (a permanent failure).
    Failed,
    /// Failed; a follow-up job was created (`autoRescheduleOnFailure`).
    Rescheduled,
    /// Failed and is due again later (backoff); the row stays pending.
    RetryLater,
    /// Failed on its last allowed attempt.
    Dead,
    Cancelled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Rescheduled => "rescheduled",
            Outcome::RetryLater => "retry_later",
            Outcome::Dead => "dead",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// A job to enqueue. Built with `NewJob::new(type)` and the setters; validated by `validate`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub job_type: String,
    pub user_id: i64,
    pub data: Value,
    /// `None`: due now.
    pub due: Option<DateTime<Utc>>,
    pub priority: i32,
    pub idempotency_key: Option<String>,
    /// `None`: `JOB_MAX_ATTEMPTS`.
    pub max_attempts: Option<u32>,
    /// `Some(delay)`: on failure, finish this job and create a follow-up due after `delay`
    /// (seed 000 `autoRescheduleOnFailure`), instead of retrying with backoff.
    pub reschedule_on_failure: Option<Duration>,
    /// How long a finished job is kept before `removeOldWorkerJobs` deletes it.
    pub remove_delay: Duration,
    /// Which budget the job counts against when its type is rate-limited per key.
    pub rate_key: Option<String>,
}

impl NewJob {
    pub fn new(job_type: impl Into<String>) -> NewJob {
        NewJob {
            job_type: job_type.into(),
            user_id: SYSTEM_USER,
            data: Value::Object(Default::default()),
            due: None,
            priority: 0,
            idempotency_key: None,
            max_attempts: None,
            reschedule_on_failure: None,
            remove_delay: Duration::ZERO,
            rate_key: None,
        }
    }

    pub fn user(mut self, user_id: i64) -> NewJob {
        self.user_id = user_id;
        self
    }

    pub fn data(mut self, data: Value) -> NewJob {
        self.data = data;
        self
    }

    pub fn due_at(mut self, due: DateTime<Utc>) -> NewJob {
        self.due = Some(due);
        self
    }

    /// Higher runs sooner (seed 001: 1-10, higher = sooner); default 0.
    pub fn priority(mut self, priority: i32) -> NewJob {
        self.priority = priority;
        self
    }

    /// While a job with this key is pending or running, enqueuing another returns it instead.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> NewJob {
        self.idempotency_key = Some(key.into());
        self
    }

    /// The budget this job counts against when its type is limited per key (e.g. a recipient).
    pub fn rate_key(mut self, key: impl Into<String>) -> NewJob {
        self.rate_key = Some(key.into());
        self
    }

    pub fn max_attempts(mut self, attempts: u32) -> NewJob {
        self.max_attempts = Some(attempts);
        self
    }

    pub fn reschedule_on_failure(mut self, delay: Duration) -> NewJob {
        self.reschedule_on_failure = Some(delay);
        self
    }

    pub fn remove_after(mut self, delay: Duration) -> NewJob {
        self.remove_delay = delay;
        self
    }

    pub fn validate(&self) -> Result<(), JobsError> {
        if self.job_type.is_empty() || self.job_type.len() > 100 {
            return Err(JobsError::Invalid(
                "a job type is 1 to 100 characters".to_owned(),
            ));
        }
        if self
            .idempotency_key
            .as_ref()
            .is_some_and(|k| k.is_empty() || k.len() > 200)
        {
            return Err(JobsError::Invalid(
                "an idempotency key is 1 to 200 characters".to_owned(),
            ));
        }
        if self
            .rate_key
            .as_ref()
            .is_some_and(|k| k.is_empty() || k.len() > 200)
        {
            return Err(JobsError::Invalid(
                "a rate key is 1 to 200 characters".to_owned(),
            ));
        }
        if self.max_attempts == Some(0) {
            return Err(JobsError::Invalid(
                "max attempts must be at least 1".to_owned(),
            ));
        }
        millis_i32(self.remove_delay, "remove delay")?;
        if let Some(delay) = self.reschedule_on_failure {
            millis_i32(delay, "reschedule delay")?;
        }
        Ok(())
    }
}

/// A duration as the milliseconds the seed's integer columns hold.
pub fn millis_i32(duration: Duration, what: &str) -> Result<i32, JobsError> {
    i32::try_from(duration.as_millis())
        .map_err(|_| JobsError::Invalid(format!("{what} must be under 24 days")))
}

pub fn millis(value: i32) -> chrono::Duration {
    chrono::Duration::milliseconds(i64::from(value.max(0)))
}

/// Delay before retry number `attempt` + 1: `base`, then three times longer each time
/// (seed 001: 5 s, 15 s, 45 s), never more than `MAX_RETRY_DELAY`.
pub fn retry_delay(base: Duration, attempt: i32) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1).clamp(0, 20)).unwrap_or(0);
    base.saturating_mul(3u32.saturating_pow(exponent))
        .min(MAX_RETRY_DELAY)
}

/// A parsed six-field cron pattern (seconds first), e.g. `*/10 * * * * *`.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    pattern: String,
    cron: Cron,
}

impl CronSchedule {
    pub fn parse(pattern: &str) -> Result<CronSchedule, JobsError> {
        let pattern = pattern.trim();
        if pattern.split_whitespace().count() != 6 {
            return Err(JobsError::Invalid(format!(
                "cron {pattern:?} must have six fields, seconds first (e.g. */10 * * * * *)"
            )));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .year(Year::Disallowed)
            .build()
            .parse(pattern)
            .map_err(|e| JobsError::Invalid(format!("cron {pattern:?}: {e}")))?;
        Ok(CronSchedule {
            pattern: pattern.to_owned(),
            cron,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// The first tick strictly after `instant`.
    pub fn next_after(&self, instant: DateTime<Utc>) -> Result<DateTime<Utc>, JobsError> {
        self.cron
            .find_next_occurrence(&instant, false)
            .map_err(|e| JobsError::Invalid(format!("cron {:?}: {e}", self.pattern)))
    }
}

/// The key that keeps one pending occurrence per (type, schedule).
pub fn cron_chain_key(job_type: &str, schedule: &str) -> String {
    format!("cron:{job_type}:{schedule}")
}

/// The key unique to one tick of one schedule: the same tick is never enqueued twice.
pub fn cron_tick_key(job_type: &str, schedule: &str, tick: DateTime<Utc>) -> String {
    format!("{job_type}|{schedule}|{}", tick.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_three_times_longer_each_time_up_to_an_hour() {
        let base = Duration::from_secs(5);
        assert_eq!(retry_delay(base, 1), Duration::from_secs(5));
        assert_eq!(retry_delay(base, 2), Duration::from_secs(15));
        assert_eq!(retry_delay(base, 3), Duration::from_secs(45));
        assert_eq!(retry_delay(base, 30), MAX_RETRY_DELAY);
    }

    #[test]
    fn cron_needs_six_fields_with_seconds() {
        assert!(CronSchedule::parse("* * * * *").is_err());
        assert!(CronSchedule::parse("not a cron at all x").is_err());
        let every_ten = CronSchedule::parse("*/10 * * * * *").expect("valid");
        let at = DateTime::parse_from_rfc3339("2026-01-01T00:00:03Z")
            .expect("time")
            .with_timezone(&Utc);
        let next = every_ten.next_after(at).expect("next");
        assert_eq!(next.to_rfc3339(), "2026-01-01T00:00:10+00:00");
        assert_eq!(
            every_ten.next_after(next).expect("next").to_rfc3339(),
            "2026-01-01T00:00:20+00:00"
        );
    }
}
