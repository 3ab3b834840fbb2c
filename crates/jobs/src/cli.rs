//! `quickdapp jobs list|show|retry|cancel|enqueue`: the operator's commands, parsed by clap and
//! run against the database; each returns the text to print.

use std::time::Duration;

use clap::Subcommand;
use platform::{Db, JobRegistry};

use crate::domain::{JobStatus, NewJob, WorkerJob};
use crate::error::JobsError;
use crate::http::job_json;
use crate::service::{self, JobFilter};

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs, newest first.
    List {
        /// Only jobs of this type.
        #[arg(long = "type")]
        job_type: Option<String>,
        /// pending, running, succeeded, failed, rescheduled, dead or cancelled.
        #[arg(long)]
        status: Option<String>,
        /// Only jobs with a smaller id (the next page).
        #[arg(long)]
        before: Option<i64>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print one job as JSON.
    Show { id: i64 },
    /// Run a finished job again, as a new job pointing back to it.
    Retry { id: i64 },
    /// Cancel a pending or running job (a cron occurrence: its schedule stops).
    Cancel { id: i64 },
    /// Enqueue a job of a registered type.
    Enqueue {
        job_type: String,
        /// The job's data, as JSON.
        #[arg(default_value = "{}")]
        data: String,
        #[arg(long, default_value_t = 0)]
        user: i64,
        /// Due after this delay (500ms, 30s, 2m).
        #[arg(long)]
        delay: Option<String>,
        #[arg(long, default_value_t = 0)]
        priority: i32,
        /// Idempotency key: while a job holding it is pending or running, that job is returned.
        #[arg(long)]
        key: Option<String>,
        #[arg(long)]
        max_attempts: Option<u32>,
        /// Run on this six-field cron schedule (seconds first) instead of once.
        #[arg(long)]
        cron: Option<String>,
        /// Enqueue this many copies in one transaction (load tests); prints only the count.
        #[arg(long, default_value_t = 1, conflicts_with_all = ["cron", "key"])]
        count: u32,
    },
}

/// Runs `command`; the text it returns is for stdout.
pub async fn run(
    command: JobsCommand,
    db: &Db,
    registry: &JobRegistry,
) -> Result<String, JobsError> {
    match command {
        JobsCommand::List {
            job_type,
            status,
            before,
            limit,
            json,
        } => {
            let filter = JobFilter {
                job_type,
                status: status.as_deref().map(JobStatus::parse).transpose()?,
                before_id: before,
                limit: Some(limit),
            };
            let jobs = service::list_jobs(db, &filter).await?;
            Ok(if json {
                jobs.iter()
                    .map(|job| format!("{}\n", job_json(job)))
                    .collect()
            } else {
                table(&jobs)
            })
        }
        JobsCommand::Show { id } => pretty(&service::find_job(db, id).await?),
        JobsCommand::Retry { id } => pretty(&service::retry_job(db, id).await?),
        JobsCommand::Cancel { id } => pretty(&service::cancel_job(db, id).await?),
        JobsCommand::Enqueue {
            job_type,
            data,
            user,
            delay,
            priority,
            key,
            max_attempts,
            cron,
            count,
        } => {
            if registry.handler(&job_type).is_none() {
                return Err(JobsError::UnknownJobType(job_type));
            }
            let data = serde_json::from_str(&data)
                .map_err(|e| JobsError::Invalid(format!("data is not JSON: {e}")))?;
            let mut job = NewJob::new(job_type)
                .data(data)
                .user(user)
                .priority(priority);
            if let Some(delay) = delay {
                let delay = platform::config::parse_duration(&delay).ok_or_else(|| {
                    JobsError::Invalid(format!("delay {delay:?} is not like 500ms, 30s or 2m"))
                })?;
                job = job.due_at(chrono::Utc::now() + to_chrono(delay));
            }
            if let Some(key) = key {
                job = job.idempotency_key(key);
            }
            if let Some(attempts) = max_attempts {
                job = job.max_attempts(attempts);
            }
            if count > 1 {
                let mut tx = crate::conn::Tx::begin(db).await?;
                for _ in 0..count {
                    service::schedule_job(&mut tx.conn(), &job).await?;
                }
                tx.commit().await?;
                return Ok(format!("enqueued {count} jobs\n"));
            }
            let created = match cron {
                Some(schedule) => {
                    let mut pooled = crate::conn::Pooled::acquire(db).await?;
                    service::schedule_cron_job(&mut pooled.conn(), &job, &schedule).await?
                }
                None => service::enqueue(db, &job).await?,
            };
            pretty(&created)
        }
    }
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or_default()
}

fn pretty(job: &WorkerJob) -> Result<String, JobsError> {
    serde_json::to_string_pretty(&job_json(job))
        .map(|text| text + "\n")
        .map_err(|e| JobsError::Invalid(e.to_string()))
}

fn table(jobs: &[WorkerJob]) -> String {
    let mut out = format!(
        "{:>8}  {:<24}  {:<11}  {:>8}  {:<24}  {}\n",
        "ID", "TYPE", "STATUS", "ATTEMPTS", "DUE", "LAST ERROR"
    );
    for job in jobs {
        out.push_str(&format!(
            "{:>8}  {:<24}  {:<11}  {:>8}  {:<24}  {}\n",
            job.id,
            job.job_type,
            job.status().as_str(),
            format!("{}/{}", job.attempts, job.max_attempts),
            job.due.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            job.last_error.as_deref().unwrap_or("")
        ));
    }
    out
}
