//! SQL for `worker_jobs`, `chain_deliveries` and the chain cursor in `settings`: one function
//! per statement, the same text on both backends except the claim (`SKIP LOCKED` on
//! PostgreSQL), the insert's `pg_notify`, and the PostgreSQL writes committed without waiting
//! for the WAL flush (`no_flush!`).

use serde_json::Value;
use sqlx::Row;
use sqlx::types::Json;

use crate::conn::{Conn, on_conn};
use crate::domain::WorkerJob;
use platform::Timestamp;

/// Every column of `worker_jobs`, in `WorkerJob`'s order.
macro_rules! job_columns {
    () => {
        "id, type, user_id, data, due, started, finished, remove_at, success, result, \
         cron_schedule, auto_reschedule_on_failure, auto_reschedule_on_failure_delay, \
         remove_delay, rescheduled_from_job, created_at, updated_at, attempts, max_attempts, \
         priority, idempotency_key, cron_tick_key, lease_expires_at, locked_by, outcome, last_error, \
         rate_key"
    };
}

/// What a claim sets: the run's start, its attempt (the lease's fencing token), the lease and
/// who holds it (`$1` now, `$2` the lease's end, `$3` the holder).
macro_rules! claim_set {
    () => {
        "UPDATE worker_jobs SET started = $1, attempts = attempts + 1, lease_expires_at = $2, \
         locked_by = $3, updated_at = $1 "
    };
}

/// PostgreSQL: the statement's own transaction commits without waiting for its WAL to reach
/// the disk (`synchronous_commit = off` for that transaction only); the statement names
/// `no_flush` in its `FROM`. For writes whose loss in a PostgreSQL crash only puts a job back a
/// step (claims, lease renewals, releases of expired leases; see ARCHITECTURE.md, "Jobs"):
/// any later durable commit flushes them too, since the WAL is written in order.
macro_rules! no_flush {
    () => {
        "WITH no_flush AS MATERIALIZED \
         (SELECT set_config('synchronous_commit', 'off', true)) "
    };
}

/// The claim of up to `$4` due pending jobs in claim order; `$exclude` narrows their types and
/// `$lock` ends the row choice (`FOR UPDATE SKIP LOCKED` on PostgreSQL). `$with` and `$from`
/// are `no_flush!()` and its `FROM` on PostgreSQL, empty on SQLite.
macro_rules! claim_due {
    ($with:expr, $from:literal, $exclude:literal, $lock:literal) => {
        concat!(
            $with,
            claim_set!(),
            $from,
            "WHERE id IN (SELECT id FROM worker_jobs \
             WHERE started IS NULL AND finished IS NULL AND due <= $1",
            $exclude,
            " ORDER BY priority DESC, due, id LIMIT $4",
            $lock,
            ")"
        )
    };
}

/// A claim statement with its binds: the first text when no type is excluded, else the second
/// with `$excluded` (the excluded types) as `$5`.
macro_rules! claim_query {
    ($make:expr, ($all:expr, $excluding:expr), ($now:expr, $lease_until:expr, $worker:expr, $limit:expr), $exclude:expr, $excluded:expr) => {
        if $exclude.is_empty() {
            $make($all)
                .bind($now)
                .bind($lease_until)
                .bind($worker)
                .bind($limit)
        } else {
            $make($excluding)
                .bind($now)
                .bind($lease_until)
                .bind($worker)
                .bind($limit)
                .bind($excluded)
        }
    };
}

/// A row to insert; the store fills the timestamps it is given.
#[derive(Debug, Clone)]
pub struct JobInsert<'a> {
    pub job_type: &'a str,
    pub user_id: i64,
    pub data: &'a Value,
    pub due: Timestamp,
    pub remove_at: Timestamp,
    pub cron_schedule: Option<&'a str>,
    pub auto_reschedule_on_failure: bool,
    pub auto_reschedule_on_failure_delay: i32,
    pub remove_delay: i32,
    pub rescheduled_from_job: Option<i64>,
    pub max_attempts: i32,
    pub priority: i32,
    pub idempotency_key: Option<&'a str>,
    pub cron_tick_key: Option<&'a str>,
    pub rate_key: Option<&'a str>,
    pub now: Timestamp,
}

/// Inserts a job unless its idempotency key (pending or running) or cron tick key is taken;
/// `None` when it was. On PostgreSQL the same statement sends `NOTIFY worker_jobs` when it
/// inserts (delivered at commit): listening workers wake without a second round trip.
pub async fn insert_job(
    conn: &mut Conn<'_>,
    job: &JobInsert<'_>,
) -> Result<Option<WorkerJob>, sqlx::Error> {
    macro_rules! insert {
        () => {
            "INSERT INTO worker_jobs (type, user_id, data, due, remove_at, cron_schedule, \
             auto_reschedule_on_failure, auto_reschedule_on_failure_delay, remove_delay, \
             rescheduled_from_job, max_attempts, priority, idempotency_key, cron_tick_key, \
             created_at, updated_at, rate_key) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16) \
             ON CONFLICT DO NOTHING RETURNING "
        };
    }
    const SQLITE: &str = concat!(insert!(), job_columns!());
    const POSTGRES: &str = concat!(
        "WITH inserted AS (",
        insert!(),
        job_columns!(),
        ") SELECT ",
        job_columns!(),
        " FROM inserted CROSS JOIN LATERAL (SELECT pg_notify('worker_jobs', '')) AS woken"
    );
    let sql = if conn.is_postgres() { POSTGRES } else { SQLITE };
    on_conn!(conn, c => sqlx::query_as::<_, WorkerJob>(sql)
        .bind(job.job_type)
        .bind(job.user_id)
        .bind(Json(job.data))
        .bind(job.due)
        .bind(job.remove_at)
        .bind(job.cron_schedule)
        .bind(job.auto_reschedule_on_failure)
        .bind(job.auto_reschedule_on_failure_delay)
        .bind(job.remove_delay)
        .bind(job.rescheduled_from_job)
        .bind(job.max_attempts)
        .bind(job.priority)
        .bind(job.idempotency_key)
        .bind(job.cron_tick_key)
        .bind(job.now)
        .bind(job.rate_key)
        .fetch_optional(&mut **c)
        .await)
}

/// The pending or running job holding `key`.
pub async fn find_unfinished_job_by_idempotency_key(
    conn: &mut Conn<'_>,
    key: &str,
) -> Result<Option<WorkerJob>, sqlx::Error> {
    const SQL: &str = concat!(
        "SELECT ",
        job_columns!(),
        " FROM worker_jobs WHERE idempotency_key = $1 AND finished IS NULL"
    );
    on_conn!(conn, c => sqlx::query_as::<_, WorkerJob>(SQL).bind(key).fetch_optional(&mut **c).await)
}

pub async fn find_job(conn: &mut Conn<'_>, id: i64) -> Result<Option<WorkerJob>, sqlx::Error> {
    const SQL: &str = concat!("SELECT ", job_columns!(), " FROM worker_jobs WHERE id = $1");
    on_conn!(conn, c => sqlx::query_as::<_, WorkerJob>(SQL).bind(id).fetch_optional(&mut **c).await)
}

/// Claims up to `limit` due pending jobs, highest priority then earliest due first, of any type
/// but those in `exclude` (the rate-limited ones, claimed by `claim_jobs_by_id`): each gets
/// `attempts + 1` (the new lease's fencing token), `started`, and a lease until `lease_until`.
/// PostgreSQL skips rows other claimers hold; SQLite serialises writers, so the one statement
/// is atomic there.
pub async fn claim_due_jobs(
    conn: &mut Conn<'_>,
    now: Timestamp,
    lease_until: Timestamp,
    worker: &str,
    limit: i64,
    exclude: &[String],
) -> Result<Vec<WorkerJob>, sqlx::Error> {
    const POSTGRES: &str = concat!(
        claim_due!(no_flush!(), "FROM no_flush ", "", " FOR UPDATE SKIP LOCKED"),
        " RETURNING ",
        job_columns!()
    );
    const POSTGRES_EXCLUDING: &str = concat!(
        claim_due!(
            no_flush!(),
            "FROM no_flush ",
            " AND NOT (type = ANY($5))",
            " FOR UPDATE SKIP LOCKED"
        ),
        " RETURNING ",
        job_columns!()
    );
    match conn {
        Conn::Postgres(c) => {
            claim_query!(
                sqlx::query_as::<_, WorkerJob>,
                (POSTGRES, POSTGRES_EXCLUDING),
                (now, lease_until, worker, limit),
                exclude,
                exclude
            )
            .fetch_all(&mut **c)
            .await
        }
        Conn::Sqlite(c) => claim_due_jobs_sqlite(c, now, lease_until, worker, limit, exclude).await,
    }
}

/// SQLite's claim, as two statements sent together (one trip to sqlx's connection thread and
/// back): the `UPDATE`, then one row holding the claimed jobs as a JSON array (a `RETURNING`
/// would send each row across on its own). The caller holds the write gate and `worker` is
/// unique to this claim, so (`locked_by`, `lease_expires_at`) names exactly its rows; no other
/// process touches a row under a live lease but to cancel it (then it is not returned, and
/// does not run).
async fn claim_due_jobs_sqlite(
    c: &mut sqlx::SqliteConnection,
    now: Timestamp,
    lease_until: Timestamp,
    worker: &str,
    limit: i64,
    exclude: &[String],
) -> Result<Vec<WorkerJob>, sqlx::Error> {
    macro_rules! claim_and_read {
        ($exclude:literal) => {
            concat!(
                claim_due!("", "", $exclude, ""),
                "; SELECT json_group_array(json_object(\
                 'id', id, 'type', type, 'user_id', user_id, 'data', json(data), 'due', due, \
                 'started', started, 'finished', finished, 'remove_at', remove_at, \
                 'success', success, 'result', json(result), 'cron_schedule', cron_schedule, \
                 'auto_reschedule_on_failure', auto_reschedule_on_failure, \
                 'auto_reschedule_on_failure_delay', auto_reschedule_on_failure_delay, \
                 'remove_delay', remove_delay, 'rescheduled_from_job', rescheduled_from_job, \
                 'created_at', created_at, 'updated_at', updated_at, 'attempts', attempts, \
                 'max_attempts', max_attempts, 'priority', priority, \
                 'idempotency_key', idempotency_key, 'cron_tick_key', cron_tick_key, \
                 'lease_expires_at', lease_expires_at, 'locked_by', locked_by, \
                 'outcome', outcome, 'last_error', last_error, 'rate_key', rate_key)) \
                 FROM (SELECT * FROM worker_jobs \
                   WHERE started IS NOT NULL AND finished IS NULL AND lease_expires_at = $2 \
                   AND locked_by = $3 ORDER BY priority DESC, due, id)"
            )
        };
    }
    const CLAIM: &str = claim_and_read!("");
    const CLAIM_EXCLUDING: &str =
        claim_and_read!(" AND type NOT IN (SELECT value FROM json_each($5))");
    let claimed: String = claim_query!(
        sqlx::query_scalar,
        (CLAIM, CLAIM_EXCLUDING),
        (now, lease_until, worker, limit),
        exclude,
        json_text(exclude)
    )
    .fetch_one(&mut *c)
    .await?;
    WorkerJob::from_sqlite_json_array(&claimed).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

fn json_text<T: serde::Serialize>(values: &[T]) -> String {
    serde_json::to_string(values).unwrap_or_else(|_| "[]".to_owned())
}

/// Locks (creating it) the rate-limit row of `job_type`: claims of that type wait for each
/// other until this transaction ends.
pub async fn lock_rate_limit(
    conn: &mut Conn<'_>,
    job_type: &str,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO worker_job_rate_limits (job_type, rate_key, window_start, used) \
        VALUES ($1, '', $2, 0) ON CONFLICT (job_type, rate_key) \
        DO UPDATE SET used = worker_job_rate_limits.used";
    on_conn!(conn, c => sqlx::query(SQL).bind(job_type).bind(now).execute(&mut **c).await.map(drop))
}

/// Up to `limit` due pending jobs of `job_type` in claim order: id and rate key.
pub async fn due_jobs_of_type(
    conn: &mut Conn<'_>,
    job_type: &str,
    now: Timestamp,
    limit: i64,
) -> Result<Vec<(i64, Option<String>)>, sqlx::Error> {
    macro_rules! due_of_type {
        ($lock:literal) => {
            concat!(
                "SELECT id, rate_key FROM worker_jobs \
                 WHERE type = $1 AND started IS NULL AND finished IS NULL AND due <= $2 \
                 ORDER BY priority DESC, due, id LIMIT $3",
                $lock
            )
        };
    }
    let sql = if conn.is_postgres() {
        due_of_type!(" FOR UPDATE SKIP LOCKED")
    } else {
        due_of_type!("")
    };
    on_conn!(conn, c => sqlx::query_as(sql).bind(job_type).bind(now).bind(limit).fetch_all(&mut **c).await)
}

/// How many jobs of `job_type` each rate key started in the window beginning at
/// `window_start` (keys without a row there started none).
pub async fn rate_limit_counts(
    conn: &mut Conn<'_>,
    job_type: &str,
    window_start: Timestamp,
) -> Result<Vec<(String, i32)>, sqlx::Error> {
    const SQL: &str = "SELECT rate_key, used FROM worker_job_rate_limits \
        WHERE job_type = $1 AND window_start = $2";
    on_conn!(conn, c => sqlx::query_as(SQL).bind(job_type).bind(window_start).fetch_all(&mut **c).await)
}

/// Records that `used` jobs of (`job_type`, `rate_key`) started in the window beginning at
/// `window_start`.
pub async fn set_rate_limit_count(
    conn: &mut Conn<'_>,
    job_type: &str,
    rate_key: &str,
    window_start: Timestamp,
    used: i32,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO worker_job_rate_limits (job_type, rate_key, window_start, used) \
        VALUES ($1, $2, $3, $4) ON CONFLICT (job_type, rate_key) \
        DO UPDATE SET window_start = excluded.window_start, used = excluded.used";
    on_conn!(conn, c => sqlx::query(SQL).bind(job_type).bind(rate_key).bind(window_start).bind(used)
        .execute(&mut **c).await.map(drop))
}

/// Deletes rate-limit counts of windows that began before `before`.
pub async fn delete_rate_limit_counts_before(
    conn: &mut Conn<'_>,
    before: Timestamp,
) -> Result<u64, sqlx::Error> {
    const SQL: &str = "DELETE FROM worker_job_rate_limits WHERE window_start < $1";
    on_conn!(conn, c => sqlx::query(SQL).bind(before).execute(&mut **c).await.map(|r| r.rows_affected()))
}

/// Claims the pending jobs `ids` (chosen by a rate-limited claim that holds their rows), as
/// `claim_due_jobs` does.
pub async fn claim_jobs_by_id(
    conn: &mut Conn<'_>,
    ids: &[i64],
    now: Timestamp,
    lease_until: Timestamp,
    worker: &str,
) -> Result<Vec<WorkerJob>, sqlx::Error> {
    macro_rules! claim {
        ($ids:literal) => {
            concat!(
                claim_set!(),
                "WHERE started IS NULL AND finished IS NULL AND id IN ",
                $ids,
                " RETURNING ",
                job_columns!()
            )
        };
    }
    const POSTGRES: &str = claim!("(SELECT UNNEST($4::BIGINT[]))");
    const SQLITE: &str = claim!("(SELECT value FROM json_each($4))");
    match conn {
        Conn::Postgres(c) => {
            sqlx::query_as::<_, WorkerJob>(POSTGRES)
                .bind(now)
                .bind(lease_until)
                .bind(worker)
                .bind(ids)
                .fetch_all(&mut **c)
                .await
        }
        Conn::Sqlite(c) => {
            sqlx::query_as::<_, WorkerJob>(SQLITE)
                .bind(now)
                .bind(lease_until)
                .bind(worker)
                .bind(json_text(ids))
                .fetch_all(&mut **c)
                .await
        }
    }
}

/// The run that holds a job: its attempt and its claim's `locked_by`. Both fence: the attempt
/// rises at each durable claim, and `locked_by` tells apart two runs given the same attempt
/// when a claim's commit was lost in a PostgreSQL crash (claims are not flushed, `no_flush!`).
macro_rules! held_by_run {
    () => {
        "id = $1 AND attempts = $2 AND locked_by = $3 AND started IS NOT NULL AND finished IS NULL"
    };
}

/// Extends the lease of run (`attempt`, `locked_by`); false when that run no longer holds the
/// job. Not flushed on PostgreSQL: a renewal lost in a crash shortens the lease.
pub async fn renew_lease(
    conn: &mut Conn<'_>,
    id: i64,
    attempt: i32,
    locked_by: Option<&str>,
    lease_until: Timestamp,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    macro_rules! renew {
        ($with:expr, $from:literal) => {
            concat!(
                $with,
                "UPDATE worker_jobs SET lease_expires_at = $4, updated_at = $5 ",
                $from,
                "WHERE ",
                held_by_run!()
            )
        };
    }
    const POSTGRES: &str = renew!(no_flush!(), "FROM no_flush ");
    const SQLITE: &str = renew!("", "");
    let sql = if conn.is_postgres() { POSTGRES } else { SQLITE };
    on_conn!(conn, c => sqlx::query(sql).bind(id).bind(attempt).bind(locked_by).bind(lease_until).bind(now)
        .execute(&mut **c).await.map(|r| r.rows_affected() == 1))
}

/// How a run ends the job (success, failure for good, rescheduled or dead).
#[derive(Debug, Clone)]
pub struct JobFinish<'a> {
    pub id: i64,
    pub attempt: i32,
    pub locked_by: Option<&'a str>,
    pub now: Timestamp,
    pub success: bool,
    pub result: Option<&'a Value>,
    pub outcome: &'a str,
    pub last_error: Option<&'a str>,
    pub remove_at: Timestamp,
}

/// Finishes the run; false when that run no longer holds the job (fenced).
pub async fn finish_job(conn: &mut Conn<'_>, finish: &JobFinish<'_>) -> Result<bool, sqlx::Error> {
    const SQL: &str = concat!(
        "UPDATE worker_jobs SET finished = $4, success = $5, result = $6, \
         outcome = $7, last_error = COALESCE($8, last_error), remove_at = $9, \
         lease_expires_at = NULL, updated_at = $4 WHERE ",
        held_by_run!()
    );
    on_conn!(conn, c => sqlx::query(SQL)
        .bind(finish.id)
        .bind(finish.attempt)
        .bind(finish.locked_by)
        .bind(finish.now)
        .bind(finish.success)
        .bind(finish.result.map(Json))
        .bind(finish.outcome)
        .bind(finish.last_error)
        .bind(finish.remove_at)
        .execute(&mut **c)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// Marks many successful runs finished in one statement (PostgreSQL); returns the ids that
/// were still held by the given runs (attempt and `locked_by`; the others were fenced out).
pub async fn finish_succeeded_jobs_postgres(
    conn: &mut Conn<'_>,
    now: Timestamp,
    ids: &[i64],
    attempts: &[i32],
    locked_by: &[&str],
    results: &[Json<&Value>],
) -> Result<Vec<i64>, sqlx::Error> {
    const SQL: &str = "UPDATE worker_jobs AS j SET finished = $1, success = TRUE, \
        result = v.result, outcome = 'succeeded', \
        remove_at = $1 + j.remove_delay * INTERVAL '1 millisecond', \
        lease_expires_at = NULL, updated_at = $1 \
        FROM UNNEST($2::BIGINT[], $3::INT[], $4::TEXT[], $5::JSONB[]) \
            AS v(id, attempt, locked_by, result) \
        WHERE j.id = v.id AND j.attempts = v.attempt AND j.locked_by = v.locked_by \
        AND j.started IS NOT NULL AND j.finished IS NULL RETURNING j.id";
    match conn {
        Conn::Postgres(c) => {
            sqlx::query_scalar::<_, i64>(SQL)
                .bind(now)
                .bind(ids)
                .bind(attempts)
                .bind(locked_by)
                .bind(results)
                .fetch_all(&mut **c)
                .await
        }
        Conn::Sqlite(_) => Err(sqlx::Error::Protocol(
            "finish_succeeded_jobs_postgres runs on PostgreSQL only".to_owned(),
        )),
    }
}

/// Marks many successful runs finished in one statement (SQLite): `runs` is a JSON array of
/// `{"id", "attempt", "locked_by", "result"}`. Returns how many were still held by the given
/// runs (no rows come back: on SQLite each returned row costs a hop between threads).
pub async fn finish_succeeded_jobs_sqlite(
    conn: &mut Conn<'_>,
    now: Timestamp,
    runs: &str,
) -> Result<u64, sqlx::Error> {
    const SQL: &str = "UPDATE worker_jobs SET finished = $1, success = TRUE, \
        result = v.value -> '$.result', outcome = 'succeeded', \
        remove_at = strftime('%Y-%m-%dT%H:%M:%fZ', $1, \
            '+' || (worker_jobs.remove_delay / 1000.0) || ' seconds'), \
        lease_expires_at = NULL, updated_at = $1 \
        FROM json_each($2) AS v \
        WHERE worker_jobs.id = v.value ->> '$.id' \
        AND worker_jobs.attempts = v.value ->> '$.attempt' \
        AND worker_jobs.locked_by = v.value ->> '$.locked_by' \
        AND worker_jobs.started IS NOT NULL AND worker_jobs.finished IS NULL";
    match conn {
        Conn::Sqlite(c) => sqlx::query(SQL)
            .bind(now)
            .bind(runs)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()),
        Conn::Postgres(_) => Err(sqlx::Error::Protocol(
            "finish_succeeded_jobs_sqlite runs on SQLite only".to_owned(),
        )),
    }
}

/// Of `runs` (as for `finish_succeeded_jobs_sqlite`), the ids that statement finished: held by
/// the given attempt and marked succeeded at `now`. Only read when some run was fenced out.
pub async fn succeeded_at_sqlite(
    conn: &mut Conn<'_>,
    now: Timestamp,
    runs: &str,
) -> Result<Vec<i64>, sqlx::Error> {
    const SQL: &str = "SELECT worker_jobs.id FROM worker_jobs JOIN json_each($2) AS v \
        ON worker_jobs.id = v.value ->> '$.id' AND worker_jobs.attempts = v.value ->> '$.attempt' \
        AND worker_jobs.locked_by = v.value ->> '$.locked_by' \
        WHERE worker_jobs.finished = $1 AND worker_jobs.outcome = 'succeeded'";
    match conn {
        Conn::Sqlite(c) => {
            sqlx::query_scalar::<_, i64>(SQL)
                .bind(now)
                .bind(runs)
                .fetch_all(&mut **c)
                .await
        }
        Conn::Postgres(_) => Err(sqlx::Error::Protocol(
            "succeeded_at_sqlite runs on SQLite only".to_owned(),
        )),
    }
}

/// Puts a failed run back in the queue, due at `due`; false when fenced.
pub async fn schedule_retry(
    conn: &mut Conn<'_>,
    id: i64,
    attempt: i32,
    locked_by: Option<&str>,
    due: Timestamp,
    last_error: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    const SQL: &str = concat!(
        "UPDATE worker_jobs SET started = NULL, lease_expires_at = NULL, \
         locked_by = NULL, due = $4, last_error = $5, updated_at = $6 WHERE ",
        held_by_run!()
    );
    on_conn!(conn, c => sqlx::query(SQL).bind(id).bind(attempt).bind(locked_by).bind(due).bind(last_error).bind(now)
        .execute(&mut **c).await.map(|r| r.rows_affected() == 1))
}

/// Hands a claimed job back unrun (graceful shutdown); the claim does not use up an attempt.
pub async fn release_job(
    conn: &mut Conn<'_>,
    id: i64,
    attempt: i32,
    locked_by: Option<&str>,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    const SQL: &str = concat!(
        "UPDATE worker_jobs SET started = NULL, lease_expires_at = NULL, \
         locked_by = NULL, max_attempts = max_attempts + 1, updated_at = $4 WHERE ",
        held_by_run!()
    );
    on_conn!(conn, c => sqlx::query(SQL).bind(id).bind(attempt).bind(locked_by).bind(now)
        .execute(&mut **c).await.map(|r| r.rows_affected() == 1))
}

/// Makes every job whose lease expired claimable again; its stale run is fenced out because
/// `started` is cleared and the next claim gives the job another `locked_by` (and, unless the
/// claim is lost in a PostgreSQL crash, another attempt). Not flushed on PostgreSQL: a release
/// lost in a crash is done again by the next sweep.
pub async fn release_expired_leases(
    conn: &mut Conn<'_>,
    now: Timestamp,
) -> Result<u64, sqlx::Error> {
    macro_rules! release {
        ($with:expr, $from:literal) => {
            concat!(
                $with,
                "UPDATE worker_jobs SET started = NULL, lease_expires_at = NULL, \
                 locked_by = NULL, last_error = 'lease expired', updated_at = $1 ",
                $from,
                "WHERE started IS NOT NULL AND finished IS NULL AND lease_expires_at < $1"
            )
        };
    }
    const POSTGRES: &str = release!(no_flush!(), "FROM no_flush ");
    const SQLITE: &str = release!("", "");
    let sql = if conn.is_postgres() { POSTGRES } else { SQLITE };
    on_conn!(conn, c => sqlx::query(sql).bind(now).execute(&mut **c).await.map(|r| r.rows_affected()))
}

/// Cancels a pending or running job; false when it had already finished.
pub async fn cancel_job(
    conn: &mut Conn<'_>,
    id: i64,
    now: Timestamp,
    remove_at: Timestamp,
) -> Result<bool, sqlx::Error> {
    const SQL: &str = "UPDATE worker_jobs SET finished = $2, success = FALSE, \
        outcome = 'cancelled', remove_at = $3, lease_expires_at = NULL, updated_at = $2 \
        WHERE id = $1 AND finished IS NULL";
    on_conn!(conn, c => sqlx::query(SQL).bind(id).bind(now).bind(remove_at)
        .execute(&mut **c).await.map(|r| r.rows_affected() == 1))
}

/// Deletes up to `limit` finished jobs whose `remove_at` has passed.
pub async fn delete_removable_jobs(
    conn: &mut Conn<'_>,
    now: Timestamp,
    limit: i64,
) -> Result<u64, sqlx::Error> {
    const SQL: &str = "DELETE FROM worker_jobs WHERE id IN (SELECT id FROM worker_jobs \
        WHERE finished IS NOT NULL AND remove_at <= $1 ORDER BY remove_at LIMIT $2)";
    on_conn!(conn, c => sqlx::query(SQL).bind(now).bind(limit).execute(&mut **c).await.map(|r| r.rows_affected()))
}

/// Newest first, optionally of one type and one status (`JobStatus::as_str`), below
/// `before_id`.
pub async fn list_jobs(
    conn: &mut Conn<'_>,
    job_type: Option<&str>,
    status: Option<&str>,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<WorkerJob>, sqlx::Error> {
    const SQL: &str = concat!(
        "SELECT ",
        job_columns!(),
        " FROM worker_jobs WHERE ($1 IS NULL OR type = $1) AND ($2 IS NULL OR id < $2) \
         AND ($3 IS NULL \
           OR ($3 = 'pending' AND started IS NULL AND finished IS NULL) \
           OR ($3 = 'running' AND started IS NOT NULL AND finished IS NULL) \
           OR (finished IS NOT NULL AND outcome = $3)) \
         ORDER BY id DESC LIMIT $4"
    );
    on_conn!(conn, c => sqlx::query_as::<_, WorkerJob>(SQL)
        .bind(job_type)
        .bind(before_id)
        .bind(status)
        .bind(limit)
        .fetch_all(&mut **c)
        .await)
}

/// Pending jobs per type (the queue depth).
pub async fn count_pending_jobs_by_type(
    conn: &mut Conn<'_>,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    const SQL: &str = "SELECT type, COUNT(*) FROM worker_jobs \
        WHERE started IS NULL AND finished IS NULL GROUP BY type ORDER BY type";
    on_conn!(conn, c => sqlx::query_as::<_, (String, i64)>(SQL).fetch_all(&mut **c).await)
}

/// Jobs pending or running, of any type.
pub async fn count_unfinished_jobs(conn: &mut Conn<'_>) -> Result<i64, sqlx::Error> {
    const SQL: &str = "SELECT COUNT(*) FROM worker_jobs WHERE finished IS NULL";
    on_conn!(conn, c => sqlx::query_scalar::<_, i64>(SQL).fetch_one(&mut **c).await)
}

/// When the next pending job (of a type not in `exclude`) falls due, and when the next running
/// lease expires.
pub async fn next_wake_times(
    conn: &mut Conn<'_>,
    exclude: &[String],
) -> Result<
    (
        Option<chrono::DateTime<chrono::Utc>>,
        Option<chrono::DateTime<chrono::Utc>>,
    ),
    sqlx::Error,
> {
    macro_rules! wake_times {
        ($exclude:literal) => {
            concat!(
                "SELECT (SELECT MIN(due) FROM worker_jobs WHERE started IS NULL AND finished IS NULL",
                $exclude,
                "), (SELECT MIN(lease_expires_at) FROM worker_jobs \
                 WHERE started IS NOT NULL AND finished IS NULL)"
            )
        };
    }
    const ALL: &str = wake_times!("");
    const POSTGRES_EXCLUDING: &str = wake_times!(" AND NOT (type = ANY($1))");
    const SQLITE_EXCLUDING: &str =
        wake_times!(" AND type NOT IN (SELECT value FROM json_each($1))");
    macro_rules! times {
        ($row:expr) => {{
            let row = $row;
            Ok((row.try_get(0)?, row.try_get(1)?))
        }};
    }
    match conn {
        Conn::Postgres(c) if exclude.is_empty() => {
            times!(sqlx::query(ALL).fetch_one(&mut **c).await?)
        }
        Conn::Postgres(c) => times!(
            sqlx::query(POSTGRES_EXCLUDING)
                .bind(exclude)
                .fetch_one(&mut **c)
                .await?
        ),
        Conn::Sqlite(c) if exclude.is_empty() => {
            times!(sqlx::query(ALL).fetch_one(&mut **c).await?)
        }
        Conn::Sqlite(c) => times!(
            sqlx::query(SQLITE_EXCLUDING)
                .bind(json_text(exclude))
                .fetch_one(&mut **c)
                .await?
        ),
    }
}

pub async fn read_setting(conn: &mut Conn<'_>, key: &str) -> Result<Option<String>, sqlx::Error> {
    const SQL: &str = "SELECT value FROM settings WHERE key = $1";
    on_conn!(conn, c => sqlx::query_scalar::<_, String>(SQL).bind(key).fetch_optional(&mut **c).await)
}

/// Creates `key` unless it exists; false when it did.
pub async fn insert_setting_if_absent(
    conn: &mut Conn<'_>,
    key: &str,
    value: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    const SQL: &str = "INSERT INTO settings (key, value, created_at, updated_at) \
        VALUES ($1, $2, $3, $3) ON CONFLICT (key) DO NOTHING";
    on_conn!(conn, c => sqlx::query(SQL).bind(key).bind(value).bind(now)
        .execute(&mut **c).await.map(|r| r.rows_affected() == 1))
}

/// Deletes `key` only if its value is still `expected`; false otherwise.
pub async fn delete_setting_if(
    conn: &mut Conn<'_>,
    key: &str,
    expected: &str,
) -> Result<bool, sqlx::Error> {
    const SQL: &str = "DELETE FROM settings WHERE key = $1 AND value = $2";
    on_conn!(conn, c => sqlx::query(SQL).bind(key).bind(expected)
        .execute(&mut **c).await.map(|r| r.rows_affected() == 1))
}

/// Replaces `key`'s value only if it is still `expected` (compare-and-set); false otherwise.
pub async fn replace_setting_if(
    conn: &mut Conn<'_>,
    key: &str,
    expected: &str,
    value: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    const SQL: &str =
        "UPDATE settings SET value = $3, updated_at = $4 WHERE key = $1 AND value = $2";
    on_conn!(conn, c => sqlx::query(SQL).bind(key).bind(expected).bind(value).bind(now)
        .execute(&mut **c).await.map(|r| r.rows_affected() == 1))
}

/// One log to hand to a module, as recorded in `chain_deliveries`.
#[derive(Debug, Clone)]
pub struct DeliveryInsert<'a> {
    pub subscription: &'a str,
    pub block_number: i64,
    pub block_hash: &'a str,
    pub transaction_hash: &'a str,
    pub log_index: i64,
    pub log: &'a Value,
}

/// Records a delivery; `None` when this (subscription, block hash, log index) was delivered.
pub async fn insert_chain_delivery(
    conn: &mut Conn<'_>,
    delivery: &DeliveryInsert<'_>,
) -> Result<Option<i64>, sqlx::Error> {
    const SQL: &str = "INSERT INTO chain_deliveries \
        (subscription, block_number, block_hash, transaction_hash, log_index, log) \
        VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id";
    on_conn!(conn, c => sqlx::query_scalar::<_, i64>(SQL)
        .bind(delivery.subscription)
        .bind(delivery.block_number)
        .bind(delivery.block_hash)
        .bind(delivery.transaction_hash)
        .bind(delivery.log_index)
        .bind(Json(delivery.log))
        .fetch_optional(&mut **c)
        .await)
}

pub async fn set_chain_delivery_job(
    conn: &mut Conn<'_>,
    delivery_id: i64,
    job_id: i64,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "UPDATE chain_deliveries SET job_id = $2 WHERE id = $1";
    on_conn!(conn, c => sqlx::query(SQL).bind(delivery_id).bind(job_id).execute(&mut **c).await.map(drop))
}

/// A live (not retracted) delivery: id, block number and hash, and the log as delivered.
pub type LiveDelivery = (i64, i64, String, Json<Value>);

/// Live deliveries at or above `from_block`, lowest block first.
pub async fn list_live_chain_deliveries_from(
    conn: &mut Conn<'_>,
    from_block: i64,
) -> Result<Vec<LiveDelivery>, sqlx::Error> {
    const SQL: &str = "SELECT id, block_number, block_hash, log FROM chain_deliveries \
        WHERE block_number >= $1 AND retracted = FALSE ORDER BY block_number, log_index";
    on_conn!(conn, c => sqlx::query_as::<_, LiveDelivery>(SQL).bind(from_block).fetch_all(&mut **c).await)
}

pub async fn retract_chain_delivery(conn: &mut Conn<'_>, id: i64) -> Result<bool, sqlx::Error> {
    const SQL: &str =
        "UPDATE chain_deliveries SET retracted = TRUE WHERE id = $1 AND retracted = FALSE";
    on_conn!(conn, c => sqlx::query(SQL).bind(id).execute(&mut **c).await.map(|r| r.rows_affected() == 1))
}

/// Takes the session advisory lock of single runner `name` if free (PostgreSQL only); it is
/// held until unlocked or until this connection ends.
pub async fn try_leader_lock(conn: &mut Conn<'_>, name: &str) -> Result<bool, sqlx::Error> {
    const SQL: &str = "SELECT pg_try_advisory_lock(hashtextextended('quickdapp.leader:' || $1, 0))";
    match conn {
        Conn::Postgres(c) => {
            sqlx::query_scalar::<_, bool>(SQL)
                .bind(name)
                .fetch_one(&mut **c)
                .await
        }
        Conn::Sqlite(_) => Err(sqlx::Error::Protocol(
            "advisory locks are PostgreSQL only".to_owned(),
        )),
    }
}

pub async fn leader_unlock(conn: &mut Conn<'_>, name: &str) -> Result<(), sqlx::Error> {
    const SQL: &str = "SELECT pg_advisory_unlock(hashtextextended('quickdapp.leader:' || $1, 0))";
    match conn {
        Conn::Postgres(c) => sqlx::query(SQL)
            .bind(name)
            .execute(&mut **c)
            .await
            .map(drop),
        Conn::Sqlite(_) => Ok(()),
    }
}

/// Takes the lease of single runner `name` (SQLite) if it is free or expired: its token, one
/// more than the last holder's; `None` while another holder's lease runs.
pub async fn acquire_leader_lease(
    conn: &mut Conn<'_>,
    name: &str,
    holder: &str,
    expires_at: Timestamp,
    now: Timestamp,
) -> Result<Option<i64>, sqlx::Error> {
    const SQL: &str = "INSERT INTO job_leaders (name, holder, token, expires_at) \
        VALUES ($1, $2, 1, $3) ON CONFLICT (name) DO UPDATE \
        SET holder = excluded.holder, token = job_leaders.token + 1, \
            expires_at = excluded.expires_at \
        WHERE job_leaders.expires_at <= $4 RETURNING token";
    on_conn!(conn, c => sqlx::query_scalar::<_, i64>(SQL).bind(name).bind(holder).bind(expires_at)
        .bind(now).fetch_optional(&mut **c).await)
}

/// Extends the lease `token` of `name`; false when it expired or another holder took it.
pub async fn renew_leader_lease(
    conn: &mut Conn<'_>,
    name: &str,
    holder: &str,
    token: i64,
    expires_at: Timestamp,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    const SQL: &str = "UPDATE job_leaders SET expires_at = $4 \
        WHERE name = $1 AND holder = $2 AND token = $3 AND expires_at > $5";
    on_conn!(conn, c => sqlx::query(SQL).bind(name).bind(holder).bind(token).bind(expires_at)
        .bind(now).execute(&mut **c).await.map(|r| r.rows_affected() == 1))
}

/// Records cycle `cycle_key` of `name` as done; false when some leader already committed it.
pub async fn record_leader_cycle(
    conn: &mut Conn<'_>,
    name: &str,
    cycle_key: &str,
    holder: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    const SQL: &str = "INSERT INTO job_leader_cycles (name, cycle_key, holder, finished_at) \
        VALUES ($1, $2, $3, $4) ON CONFLICT (name, cycle_key) DO NOTHING";
    on_conn!(conn, c => sqlx::query(SQL).bind(name).bind(cycle_key).bind(holder).bind(now)
        .execute(&mut **c).await.map(|r| r.rows_affected() == 1))
}

/// Deletes the records of cycles finished before `before`.
pub async fn delete_leader_cycles_before(
    conn: &mut Conn<'_>,
    before: Timestamp,
) -> Result<u64, sqlx::Error> {
    const SQL: &str = "DELETE FROM job_leader_cycles WHERE finished_at < $1";
    on_conn!(conn, c => sqlx::query(SQL).bind(before).execute(&mut **c).await.map(|r| r.rows_affected()))
}
