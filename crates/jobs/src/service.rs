//! Queue use cases: enqueue (inside the caller's transaction), cron, claim, renew, complete,
//! fail, release, and the operator's list / show / retry / cancel. Transport and workers call
//! these; SQL stays in `store.rs`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use platform::Db;
use platform::job::{JobFailure, JobRegistry, RateLimit};
use serde_json::Value;

use crate::conn::{Conn, Pooled, Tx, Via};
use crate::domain::{
    CronSchedule, JobStatus, NewJob, Outcome, WorkerJob, cron_chain_key, cron_tick_key, millis,
    millis_i32, retry_delay,
};
use crate::error::JobsError;
use crate::store::{self, JobFinish, JobInsert};
use crate::{metrics, wakeup};
use platform::Timestamp;

/// Runs a job gets when it does not set its own.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

fn now() -> DateTime<Utc> {
    Utc::now()
}

/// Enqueues `job` on `conn`, typically the caller's open transaction, so the job exists exactly
/// when the caller's writes do. With an idempotency key already held by a pending or running
/// job, returns that job instead. Workers are woken when the transaction commits.
pub async fn schedule_job(conn: &mut Conn<'_>, job: &NewJob) -> Result<WorkerJob, JobsError> {
    job.validate()?;
    let now = now();
    let due = job.due.unwrap_or(now);
    let insert = JobInsert {
        job_type: &job.job_type,
        user_id: job.user_id,
        data: &job.data,
        due: Timestamp::from(due),
        remove_at: Timestamp::from(
            due + chrono::Duration::from_std(job.remove_delay).unwrap_or_default(),
        ),
        cron_schedule: None,
        auto_reschedule_on_failure: job.reschedule_on_failure.is_some(),
        auto_reschedule_on_failure_delay: job
            .reschedule_on_failure
            .map_or(Ok(0), |d| millis_i32(d, "reschedule delay"))?,
        remove_delay: millis_i32(job.remove_delay, "remove delay")?,
        rescheduled_from_job: None,
        max_attempts: i32::try_from(job.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS))
            .unwrap_or(i32::MAX),
        priority: job.priority,
        idempotency_key: job.idempotency_key.as_deref(),
        cron_tick_key: None,
        rate_key: job.rate_key.as_deref(),
        now: Timestamp::from(now),
    };
    insert_or_existing(conn, &insert).await
}

/// `schedule_job` on a connection of its own (committed when it returns).
pub async fn enqueue(db: &Db, job: &NewJob) -> Result<WorkerJob, JobsError> {
    let mut pooled = Pooled::acquire(db).await?;
    schedule_job(&mut pooled.conn(), job).await
}

/// Starts a recurring job: one occurrence is pending at a time (its key is the type and the
/// schedule), each tick has its own unique key, and the next occurrence is created when the
/// current one finishes, from its own tick onwards, so a clock stepping back repeats nothing.
/// Returns the pending occurrence (an existing one if the schedule is already running).
pub async fn schedule_cron_job(
    conn: &mut Conn<'_>,
    job: &NewJob,
    schedule: &str,
) -> Result<WorkerJob, JobsError> {
    job.validate()?;
    let schedule = CronSchedule::parse(schedule)?;
    let now = now();
    let tick = schedule.next_after(job.due.unwrap_or(now))?;
    let chain_key = job
        .idempotency_key
        .clone()
        .unwrap_or_else(|| cron_chain_key(&job.job_type, schedule.as_str()));
    let tick_key = cron_tick_key(&job.job_type, schedule.as_str(), tick);
    let insert = JobInsert {
        job_type: &job.job_type,
        user_id: job.user_id,
        data: &job.data,
        due: Timestamp::from(tick),
        remove_at: Timestamp::from(
            tick + chrono::Duration::from_std(job.remove_delay).unwrap_or_default(),
        ),
        cron_schedule: Some(schedule.as_str()),
        auto_reschedule_on_failure: job.reschedule_on_failure.is_some(),
        auto_reschedule_on_failure_delay: job
            .reschedule_on_failure
            .map_or(Ok(0), |d| millis_i32(d, "reschedule delay"))?,
        remove_delay: millis_i32(job.remove_delay, "remove delay")?,
        rescheduled_from_job: None,
        max_attempts: i32::try_from(job.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS))
            .unwrap_or(i32::MAX),
        priority: job.priority,
        idempotency_key: Some(&chain_key),
        cron_tick_key: Some(&tick_key),
        rate_key: job.rate_key.as_deref(),
        now: Timestamp::from(now),
    };
    insert_or_existing(conn, &insert).await
}

/// Inserts, or returns the unfinished job holding the same idempotency key. A key released
/// between the two statements (its job just finished) is retried once.
async fn insert_or_existing(
    conn: &mut Conn<'_>,
    insert: &JobInsert<'_>,
) -> Result<WorkerJob, JobsError> {
    for _ in 0..2 {
        if let Some(job) = store::insert_job(conn, insert).await? {
            metrics::record_enqueued(&job.job_type, 1);
            wakeup::signal();
            return Ok(job);
        }
        if let Some(key) = insert.idempotency_key
            && let Some(existing) = store::find_unfinished_job_by_idempotency_key(conn, key).await?
        {
            return Ok(existing);
        }
        if insert.idempotency_key.is_none() {
            // Only the cron tick key can have conflicted: that tick exists already.
            break;
        }
    }
    Err(JobsError::Invalid(format!(
        "job {:?} conflicts with one that already ran for the same cron tick",
        insert.job_type
    )))
}

/// The registry's rate-limited job types, as claims need them (see `RateLimit`).
#[derive(Debug, Clone, Default)]
pub struct RateLimits {
    limits: Vec<(String, RateLimit)>,
    types: Vec<String>,
}

impl RateLimits {
    /// No limits: every job type is claimed freely.
    pub fn none() -> RateLimits {
        RateLimits::default()
    }

    pub fn from_registry(registry: &JobRegistry) -> RateLimits {
        let limits: Vec<(String, RateLimit)> = registry
            .rate_limits()
            .map(|(job_type, limit)| (job_type.to_owned(), limit))
            .collect();
        let types = limits.iter().map(|(t, _)| t.clone()).collect();
        RateLimits { limits, types }
    }

    pub fn is_empty(&self) -> bool {
        self.limits.is_empty()
    }
}

/// What one claim got. `held_back`: limited job types that had due jobs left pending because
/// their window was full; `window_opens`: when the earliest of those windows ends.
#[derive(Debug, Default)]
pub struct Claimed {
    pub jobs: Vec<WorkerJob>,
    pub held_back: Vec<String>,
    pub window_opens: Option<DateTime<Utc>>,
}

/// Claims up to `limit` due jobs for `worker`, leased for `lease`: first those of each
/// rate-limited type within its window's budget, then any other type.
pub async fn claim_jobs<'a>(
    via: impl Into<Via<'a>>,
    worker: &str,
    lease: Duration,
    limit: usize,
    limits: &RateLimits,
) -> Result<Claimed, JobsError> {
    let via = via.into();
    let db = via.db();
    let mut claimed = Claimed::default();
    for (job_type, rate) in &limits.limits {
        let room = limit.saturating_sub(claimed.jobs.len());
        if room == 0 {
            return Ok(claimed);
        }
        claim_limited(db, worker, lease, room, job_type, *rate, &mut claimed).await?;
    }
    let room = limit.saturating_sub(claimed.jobs.len());
    if room == 0 {
        return Ok(claimed);
    }
    let now = now();
    let lease_until = now + chrono::Duration::from_std(lease).unwrap_or_default();
    let _gate = match db {
        Db::Sqlite(_) => Some(crate::conn::sqlite_write_gate().lock().await),
        Db::Postgres(_) => None,
    };
    let mut pooled = Pooled::acquire(via).await?;
    let room = i64::try_from(room).unwrap_or(i64::MAX);
    claimed.jobs.extend(
        store::claim_due_jobs(
            &mut pooled.conn(),
            Timestamp::from(now),
            Timestamp::from(lease_until),
            &claim_token(worker),
            room,
            &limits.types,
        )
        .await?,
    );
    pooled.done();
    Ok(claimed)
}

/// Each claim's own `locked_by` (`<worker>/<n>`): it names the claim's rows, and with the
/// attempt it fences the runs (two claims never share it, even when a claim's commit was lost
/// and the job's attempt count went back).
fn claim_token(worker: &str) -> String {
    static CLAIMS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let claim = CLAIMS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{worker}/{claim}")
}

/// Claims due jobs of one rate-limited type within its window's budget, in one transaction
/// that holds the type's limit row: the count read and the count written cannot interleave
/// with another claimer's, on any instance. The clock is read once the row is held, so a
/// window's starts are counted against that window.
async fn claim_limited(
    db: &Db,
    worker: &str,
    lease: Duration,
    room: usize,
    job_type: &str,
    rate: RateLimit,
    claimed: &mut Claimed,
) -> Result<(), JobsError> {
    let mut tx = Tx::begin(db).await?;
    store::lock_rate_limit(&mut tx.conn(), job_type, Timestamp::from(now())).await?;
    let now = platform::Timestamp::now().datetime();
    let per_ms = i64::try_from(rate.per.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    let now_ms = now.timestamp_millis();
    let window_start =
        DateTime::from_timestamp_millis(now_ms - now_ms.rem_euclid(per_ms)).unwrap_or(now);
    let window_end = window_start + chrono::Duration::milliseconds(per_ms);
    let max = i32::try_from(rate.max).unwrap_or(i32::MAX);
    // Per key, jobs over their key's budget may precede others: look further ahead.
    let scan = if rate.by_key {
        room.saturating_mul(4).min(1_000)
    } else {
        room.min(rate.max as usize)
    };
    let candidates = store::due_jobs_of_type(
        &mut tx.conn(),
        job_type,
        Timestamp::from(now),
        i64::try_from(scan).unwrap_or(i64::MAX),
    )
    .await?;
    if candidates.is_empty() {
        return Ok(());
    }
    let mut used: std::collections::HashMap<String, (i32, bool)> =
        store::rate_limit_counts(&mut tx.conn(), job_type, Timestamp::from(window_start))
            .await?
            .into_iter()
            .map(|(key, used)| (key, (used, false)))
            .collect();
    let mut chosen = Vec::new();
    let mut held_back = false;
    for (id, key) in candidates {
        if chosen.len() == room {
            break;
        }
        let key = if rate.by_key {
            key.unwrap_or_default()
        } else {
            String::new()
        };
        let (count, changed) = used.entry(key).or_insert((0, false));
        if *count < max {
            *count += 1;
            *changed = true;
            chosen.push(id);
        } else {
            held_back = true;
        }
    }
    for (key, (count, changed)) in &used {
        if *changed {
            store::set_rate_limit_count(
                &mut tx.conn(),
                job_type,
                key,
                Timestamp::from(window_start),
                *count,
            )
            .await?;
        }
    }
    if !chosen.is_empty() {
        let lease_until = now + chrono::Duration::from_std(lease).unwrap_or_default();
        let mut jobs = store::claim_jobs_by_id(
            &mut tx.conn(),
            &chosen,
            Timestamp::from(now),
            Timestamp::from(lease_until),
            &claim_token(worker),
        )
        .await?;
        jobs.sort_by(|a, b| (b.priority, a.due, a.id).cmp(&(a.priority, b.due, b.id)));
        tx.commit().await?;
        claimed.jobs.extend(jobs);
    }
    if held_back {
        claimed.held_back.push(job_type.to_owned());
        claimed.window_opens = Some(
            claimed
                .window_opens
                .map_or(window_end, |t| t.min(window_end)),
        );
    }
    Ok(())
}

/// Extends the lease of `job`'s current run; `LeaseLost` when the run was fenced out.
pub async fn renew_lease<'a>(
    via: impl Into<Via<'a>>,
    job: &WorkerJob,
    lease: Duration,
) -> Result<(), JobsError> {
    let now = now();
    let lease_until = now + chrono::Duration::from_std(lease).unwrap_or_default();
    let mut pooled = Pooled::acquire(via).await?;
    let renewed = store::renew_lease(
        &mut pooled.conn(),
        job.id,
        job.attempts,
        job.locked_by.as_deref(),
        Timestamp::from(lease_until),
        Timestamp::from(now),
    )
    .await?;
    pooled.done();
    if renewed {
        Ok(())
    } else {
        Err(lease_lost(job))
    }
}

fn lease_lost(job: &WorkerJob) -> JobsError {
    JobsError::LeaseLost {
        id: job.id,
        attempt: job.attempts,
    }
}

/// What settling a run did: how it ended and which jobs it created.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    pub outcome: Outcome,
    pub follow_ups: Vec<WorkerJob>,
}

/// Records a successful run (and enqueues the next cron tick, in the same transaction).
pub async fn complete_job<'a>(
    via: impl Into<Via<'a>>,
    job: &WorkerJob,
    result: &Value,
) -> Result<Settled, JobsError> {
    let via = via.into();
    let now = now();
    let finish = JobFinish {
        id: job.id,
        attempt: job.attempts,
        locked_by: job.locked_by.as_deref(),
        now: Timestamp::from(now),
        success: true,
        result: Some(result),
        outcome: Outcome::Succeeded.as_str(),
        last_error: None,
        remove_at: Timestamp::from(now + millis(job.remove_delay)),
    };
    if job.cron_schedule.is_none() {
        let mut pooled = Pooled::acquire(via).await?;
        let finished = store::finish_job(&mut pooled.conn(), &finish).await?;
        pooled.done();
        if !finished {
            return Err(lease_lost(job));
        }
        return Ok(Settled {
            outcome: Outcome::Succeeded,
            follow_ups: Vec::new(),
        });
    }
    let mut tx = Tx::begin(via.db()).await?;
    if !store::finish_job(&mut tx.conn(), &finish).await? {
        return Err(lease_lost(job));
    }
    let follow_ups = next_cron_tick(&mut tx.conn(), job, now).await?;
    tx.commit().await?;
    wake_if_any(&follow_ups);
    Ok(Settled {
        outcome: Outcome::Succeeded,
        follow_ups,
    })
}

/// One run of a job: the job, its attempt and its claim's `locked_by` (together the lease's
/// fencing token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunId {
    pub id: i64,
    pub attempt: i32,
    pub locked_by: String,
}

/// Records many successful runs of jobs without a cron schedule at once (one statement on
/// PostgreSQL, one transaction on SQLite). Returns, per job, whether its run still held the
/// lease (false: fenced out, nothing recorded).
pub async fn complete_jobs<'a>(
    via: impl Into<Via<'a>>,
    completions: &[(&RunId, &Value)],
) -> Result<Vec<bool>, JobsError> {
    let via = via.into();
    let now = now();
    match via.db() {
        Db::Postgres(_) => {
            let ids: Vec<i64> = completions.iter().map(|(run, _)| run.id).collect();
            let attempts: Vec<i32> = completions.iter().map(|(run, _)| run.attempt).collect();
            let locked_by: Vec<&str> = completions
                .iter()
                .map(|(run, _)| run.locked_by.as_str())
                .collect();
            let results: Vec<sqlx::types::Json<&Value>> = completions
                .iter()
                .map(|(_, result)| sqlx::types::Json(*result))
                .collect();
            let mut pooled = Pooled::acquire(via).await?;
            let finished = store::finish_succeeded_jobs_postgres(
                &mut pooled.conn(),
                Timestamp::from(now),
                &ids,
                &attempts,
                &locked_by,
                &results,
            )
            .await?;
            pooled.done();
            let finished: std::collections::HashSet<i64> = finished.into_iter().collect();
            Ok(ids.iter().map(|id| finished.contains(id)).collect())
        }
        Db::Sqlite(_) => {
            let runs = Value::Array(
                completions
                    .iter()
                    .map(|(run, result)| {
                        serde_json::json!({
                            "id": run.id,
                            "attempt": run.attempt,
                            "locked_by": run.locked_by,
                            "result": result,
                        })
                    })
                    .collect(),
            )
            .to_string();
            let _gate = crate::conn::sqlite_write_gate().lock().await;
            let mut pooled = Pooled::acquire(via).await?;
            let written = store::finish_succeeded_jobs_sqlite(
                &mut pooled.conn(),
                Timestamp::from(now),
                &runs,
            )
            .await?;
            pooled.done();
            if written == completions.len() as u64 {
                return Ok(vec![true; completions.len()]);
            }
            // Some run was fenced out: read back which ones this statement finished.
            let finished =
                store::succeeded_at_sqlite(&mut pooled.conn(), Timestamp::from(now), &runs).await?;
            pooled.done();
            let finished: std::collections::HashSet<i64> = finished.into_iter().collect();
            Ok(completions
                .iter()
                .map(|(run, _)| finished.contains(&run.id))
                .collect())
        }
    }
}

/// Records a failed run: a follow-up job when the job asked for one, else a retry after
/// backoff while attempts remain, else dead (at once for a permanent failure).
pub async fn fail_job(
    db: &Db,
    job: &WorkerJob,
    failure: &JobFailure,
    base_retry_delay: Duration,
) -> Result<Settled, JobsError> {
    let now = now();
    let error_result = serde_json::json!({ "error": failure.message });
    let out_of_attempts = job.attempts >= job.max_attempts;
    let outcome = if job.auto_reschedule_on_failure {
        Outcome::Rescheduled
    } else if !failure.retryable {
        Outcome::Failed
    } else if out_of_attempts {
        Outcome::Dead
    } else {
        Outcome::RetryLater
    };
    let mut tx = Tx::begin(db).await?;
    let mut follow_ups = Vec::new();
    if outcome == Outcome::RetryLater {
        let due = now
            + chrono::Duration::from_std(retry_delay(base_retry_delay, job.attempts))
                .unwrap_or_default();
        if !store::schedule_retry(
            &mut tx.conn(),
            job.id,
            job.attempts,
            job.locked_by.as_deref(),
            Timestamp::from(due),
            &failure.message,
            Timestamp::from(now),
        )
        .await?
        {
            return Err(lease_lost(job));
        }
    } else {
        let finish = JobFinish {
            id: job.id,
            attempt: job.attempts,
            locked_by: job.locked_by.as_deref(),
            now: Timestamp::from(now),
            success: false,
            result: Some(&error_result),
            outcome: outcome.as_str(),
            last_error: Some(&failure.message),
            remove_at: Timestamp::from(now + millis(job.remove_delay)),
        };
        if !store::finish_job(&mut tx.conn(), &finish).await? {
            return Err(lease_lost(job));
        }
        if outcome == Outcome::Rescheduled {
            follow_ups.push(insert_follow_up(&mut tx.conn(), job, now).await?);
        }
        follow_ups.extend(next_cron_tick(&mut tx.conn(), job, now).await?);
    }
    tx.commit().await?;
    wake_if_any(&follow_ups);
    Ok(Settled {
        outcome,
        follow_ups,
    })
}

/// The job `autoRescheduleOnFailure` creates: same type, user, data and options, due after
/// the delay, pointing back with `rescheduled_from_job`. A cron occurrence's follow-up is a
/// one-off (the schedule continues with its next tick).
async fn insert_follow_up(
    conn: &mut Conn<'_>,
    job: &WorkerJob,
    now: DateTime<Utc>,
) -> Result<WorkerJob, JobsError> {
    let due = now + millis(job.auto_reschedule_on_failure_delay);
    let key = if job.cron_schedule.is_some() {
        None
    } else {
        job.idempotency_key.as_deref()
    };
    let insert = JobInsert {
        job_type: &job.job_type,
        user_id: job.user_id,
        data: &job.data.0,
        due: Timestamp::from(due),
        remove_at: Timestamp::from(due + millis(job.remove_delay)),
        cron_schedule: None,
        auto_reschedule_on_failure: true,
        auto_reschedule_on_failure_delay: job.auto_reschedule_on_failure_delay,
        remove_delay: job.remove_delay,
        rescheduled_from_job: Some(job.id),
        max_attempts: job.max_attempts,
        priority: job.priority,
        idempotency_key: key,
        cron_tick_key: None,
        rate_key: job.rate_key.as_deref(),
        now: Timestamp::from(now),
    };
    let inserted = store::insert_job(conn, &insert).await?;
    inserted.ok_or_else(|| {
        JobsError::Invalid(format!("job {}'s follow-up conflicts with another", job.id))
    })
}

/// For a cron occurrence that just finished: the next tick after both its own tick and now.
async fn next_cron_tick(
    conn: &mut Conn<'_>,
    job: &WorkerJob,
    now: DateTime<Utc>,
) -> Result<Vec<WorkerJob>, JobsError> {
    let Some(pattern) = job.cron_schedule.as_deref() else {
        return Ok(Vec::new());
    };
    let schedule = CronSchedule::parse(pattern)?;
    let tick = schedule.next_after(job.due.max(now))?;
    let chain_key = job
        .idempotency_key
        .clone()
        .unwrap_or_else(|| cron_chain_key(&job.job_type, schedule.as_str()));
    let tick_key = cron_tick_key(&job.job_type, schedule.as_str(), tick);
    let insert = JobInsert {
        job_type: &job.job_type,
        user_id: job.user_id,
        data: &job.data.0,
        due: Timestamp::from(tick),
        remove_at: Timestamp::from(tick + millis(job.remove_delay)),
        cron_schedule: Some(schedule.as_str()),
        auto_reschedule_on_failure: job.auto_reschedule_on_failure,
        auto_reschedule_on_failure_delay: job.auto_reschedule_on_failure_delay,
        remove_delay: job.remove_delay,
        rescheduled_from_job: None,
        max_attempts: job.max_attempts,
        priority: job.priority,
        idempotency_key: Some(&chain_key),
        cron_tick_key: Some(&tick_key),
        rate_key: job.rate_key.as_deref(),
        now: Timestamp::from(now),
    };
    let inserted = store::insert_job(conn, &insert).await?;
    Ok(inserted.into_iter().collect())
}

fn wake_if_any(jobs: &[WorkerJob]) {
    if !jobs.is_empty() {
        wakeup::signal();
    }
}

/// Hands a claimed job back unrun (graceful shutdown); false when the run no longer held it.
pub async fn release_job(db: &Db, job: &WorkerJob) -> Result<bool, JobsError> {
    let mut pooled = Pooled::acquire(db).await?;
    let released = store::release_job(
        &mut pooled.conn(),
        job.id,
        job.attempts,
        job.locked_by.as_deref(),
        Timestamp::from(now()),
    )
    .await?;
    if released {
        wakeup::signal();
    }
    Ok(released)
}

/// Makes jobs whose lease expired claimable again; returns how many.
pub async fn release_expired_leases<'a>(via: impl Into<Via<'a>>) -> Result<u64, JobsError> {
    let mut pooled = Pooled::acquire(via).await?;
    let released =
        store::release_expired_leases(&mut pooled.conn(), Timestamp::from(now())).await?;
    pooled.done();
    if released > 0 {
        tracing::info!(target: "worker", released, "released jobs whose lease expired");
        wakeup::signal();
    }
    Ok(released)
}

/// When the next pending job falls due and the next lease expires (for an idle worker's nap).
/// `exclude`: job types not to count (rate-limited ones held back until their window opens).
pub async fn next_wake_times<'a>(
    via: impl Into<Via<'a>>,
    exclude: &[String],
) -> Result<(Option<DateTime<Utc>>, Option<DateTime<Utc>>), JobsError> {
    let mut pooled = Pooled::acquire(via).await?;
    let times = store::next_wake_times(&mut pooled.conn(), exclude).await?;
    pooled.done();
    Ok(times)
}

pub async fn find_job(db: &Db, id: i64) -> Result<WorkerJob, JobsError> {
    let mut pooled = Pooled::acquire(db).await?;
    store::find_job(&mut pooled.conn(), id)
        .await?
        .ok_or(JobsError::NotFound(id))
}

/// A page of jobs, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    pub job_type: Option<String>,
    pub status: Option<JobStatus>,
    pub before_id: Option<i64>,
    pub limit: Option<u32>,
}

/// Jobs matching `filter`, newest first (at most 500).
pub async fn list_jobs(db: &Db, filter: &JobFilter) -> Result<Vec<WorkerJob>, JobsError> {
    let limit = i64::from(filter.limit.unwrap_or(50).clamp(1, 500));
    let mut pooled = Pooled::acquire(db).await?;
    Ok(store::list_jobs(
        &mut pooled.conn(),
        filter.job_type.as_deref(),
        filter.status.map(JobStatus::as_str),
        filter.before_id,
        limit,
    )
    .await?)
}

/// Runs a finished job again as a new job (due now) pointing back with `rescheduled_from_job`.
pub async fn retry_job(db: &Db, id: i64) -> Result<WorkerJob, JobsError> {
    let mut tx = Tx::begin(db).await?;
    let job = store::find_job(&mut tx.conn(), id)
        .await?
        .ok_or(JobsError::NotFound(id))?;
    if job.finished.is_none() {
        return Err(JobsError::NotFinished(id));
    }
    let now = now();
    let insert = JobInsert {
        job_type: &job.job_type,
        user_id: job.user_id,
        data: &job.data.0,
        due: Timestamp::from(now),
        remove_at: Timestamp::from(now + millis(job.remove_delay)),
        cron_schedule: None,
        auto_reschedule_on_failure: job.auto_reschedule_on_failure,
        auto_reschedule_on_failure_delay: job.auto_reschedule_on_failure_delay,
        remove_delay: job.remove_delay,
        rescheduled_from_job: Some(job.id),
        max_attempts: job.max_attempts,
        priority: job.priority,
        idempotency_key: None,
        cron_tick_key: None,
        rate_key: job.rate_key.as_deref(),
        now: Timestamp::from(now),
    };
    let created = insert_or_existing(&mut tx.conn(), &insert).await?;
    tx.commit().await?;
    Ok(created)
}

/// Cancels a pending or running job (a running one's worker is fenced out at its next renewal
/// or completion). A cancelled cron occurrence ends its schedule.
pub async fn cancel_job(db: &Db, id: i64) -> Result<WorkerJob, JobsError> {
    let mut tx = Tx::begin(db).await?;
    let job = store::find_job(&mut tx.conn(), id)
        .await?
        .ok_or(JobsError::NotFound(id))?;
    let now = now();
    if !store::cancel_job(
        &mut tx.conn(),
        id,
        Timestamp::from(now),
        Timestamp::from(now + millis(job.remove_delay)),
    )
    .await?
    {
        return Err(JobsError::AlreadyFinished(id));
    }
    let cancelled = store::find_job(&mut tx.conn(), id)
        .await?
        .ok_or(JobsError::NotFound(id))?;
    tx.commit().await?;
    Ok(cancelled)
}

/// Deletes finished jobs whose `remove_at` has passed, in batches; returns how many.
pub async fn remove_old_jobs(db: &Db) -> Result<u64, JobsError> {
    let mut removed = 0;
    loop {
        let mut pooled = Pooled::acquire(db).await?;
        let batch =
            store::delete_removable_jobs(&mut pooled.conn(), Timestamp::from(now()), 5_000).await?;
        removed += batch;
        if batch < 5_000 {
            // Counts of rate-limit windows long over (no window is longer than 24 days).
            store::delete_rate_limit_counts_before(
                &mut pooled.conn(),
                Timestamp::from(now() - chrono::Duration::days(25)),
            )
            .await?;
            // Single-runner cycle records: a cycle older than this is never run again.
            store::delete_leader_cycles_before(
                &mut pooled.conn(),
                Timestamp::from(now() - chrono::Duration::days(30)),
            )
            .await?;
            return Ok(removed);
        }
    }
}

/// Pending jobs per type.
pub async fn queue_depth(db: &Db) -> Result<Vec<(String, i64)>, JobsError> {
    let mut pooled = Pooled::acquire(db).await?;
    Ok(store::count_pending_jobs_by_type(&mut pooled.conn()).await?)
}

/// Jobs pending or running.
pub async fn unfinished_count(db: &Db) -> Result<i64, JobsError> {
    let mut pooled = Pooled::acquire(db).await?;
    Ok(store::count_unfinished_jobs(&mut pooled.conn()).await?)
}

/// Ensures each recurring job the modules registered has its pending occurrence.
pub async fn ensure_crons(
    db: &Db,
    registry: &platform::JobRegistry,
) -> Result<Vec<WorkerJob>, JobsError> {
    let mut ensured = Vec::new();
    for cron in registry.crons() {
        let job = NewJob::new(&cron.job_type).data(cron.data.clone());
        let mut pooled = Pooled::acquire(db).await?;
        // Every start but the first finds the chain's next job with one read, so it writes
        // nothing: on SQLite a first write re-creates the WAL, two fsyncs on the way to ready.
        let chain_key =
            cron_chain_key(&job.job_type, CronSchedule::parse(&cron.schedule)?.as_str());
        if let Some(existing) =
            store::find_unfinished_job_by_idempotency_key(&mut pooled.conn(), &chain_key).await?
        {
            ensured.push(existing);
            continue;
        }
        ensured.push(schedule_cron_job(&mut pooled.conn(), &job, &cron.schedule).await?);
    }
    Ok(ensured)
}
