//! Built-in job types: `removeOldWorkerJobs` (hourly cron), and the `diagnostics.*` jobs that
//! operators use to smoke-test a deployment's workers and that the benchmarks run.

use std::time::Duration;

use platform::job::{JobContext, JobFailure, JobRegistry};
use platform::{Config, Db};
use serde_json::{Value, json};

pub const REMOVE_OLD_WORKER_JOBS: &str = "removeOldWorkerJobs";
/// When `removeOldWorkerJobs` runs: at the top of every hour.
pub const REMOVE_OLD_WORKER_JOBS_SCHEDULE: &str = "0 0 * * * *";

/// Registers the built-in jobs (and `watchChain` when `CHAIN_RPC_ENDPOINT` is set).
pub fn register(registry: &mut JobRegistry, config: &Config) {
    registry.register(REMOVE_OLD_WORKER_JOBS, remove_old_worker_jobs);
    registry.schedule_cron(REMOVE_OLD_WORKER_JOBS, REMOVE_OLD_WORKER_JOBS_SCHEDULE);
    registry.register("diagnostics.noop", noop);
    registry.register("diagnostics.echo", echo);
    registry.register("diagnostics.sleep", sleep);
    registry.register("diagnostics.fail", fail);
    registry.register("diagnostics.notifyUser", notify_user);
    crate::chain::register(registry, config);
}

async fn remove_old_worker_jobs(context: JobContext) -> Result<Value, JobFailure> {
    let removed = remove_old(&context.db).await?;
    Ok(json!({ "removed": removed }))
}

async fn remove_old(db: &Db) -> Result<u64, JobFailure> {
    crate::service::remove_old_jobs(db)
        .await
        .map_err(|e| JobFailure::new(e.to_string()))
}

/// Does nothing (throughput benchmarks).
async fn noop(_: JobContext) -> Result<Value, JobFailure> {
    Ok(Value::Null)
}

/// Returns its data, with the process that ran it and when it started (Unix microseconds;
/// the latency benchmark compares it with the enqueue time it put in the data).
async fn echo(context: JobContext) -> Result<Value, JobFailure> {
    let started = chrono::Utc::now().timestamp_micros();
    Ok(json!({
        "data": context.data,
        "pid": std::process::id(),
        "attempt": context.attempt,
        "startedAtMicros": started,
    }))
}

/// Sleeps `data.ms` milliseconds (at most ten minutes), then returns like `echo`.
async fn sleep(context: JobContext) -> Result<Value, JobFailure> {
    let ms = context.data["ms"].as_u64().unwrap_or(0).min(600_000);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(json!({ "sleptMs": ms, "pid": std::process::id(), "attempt": context.attempt }))
}

/// Fails with `data.message`; permanently when `data.permanent` is true.
async fn fail(context: JobContext) -> Result<Value, JobFailure> {
    let message = context.data["message"]
        .as_str()
        .unwrap_or("diagnostics.fail always fails")
        .to_owned();
    if context.data["permanent"].as_bool() == Some(true) {
        Err(JobFailure::permanent(message))
    } else {
        Err(JobFailure::new(message))
    }
}

/// Stores `data` as a notification of the job's user (then pushed to their sockets).
async fn notify_user(context: JobContext) -> Result<Value, JobFailure> {
    context
        .notify_user(context.user_id, context.data.clone())
        .await?;
    Ok(json!({ "notified": context.user_id }))
}
