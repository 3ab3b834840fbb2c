//! The queue through its public surface (service functions and `Runner::run_one`), on SQLite
//! and PostgreSQL: results, cron, reschedule on failure, backoff to dead, idempotency under
//! concurrency, one claim among many claimers, lease fencing, priority, cancel/retry, graceful
//! stop, the admin endpoint, and rate limits across workers and instances.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use jobs::domain::{JobStatus, NewJob, Outcome};
use jobs::service;
use jobs::{RunOutcome, Runner};
use platform::job::{JobContext, JobFailure, RateLimit};
use platform::{Config, Db, JobRegistry};
use serde_json::{Value, json};
use test_support::{Backend, TestDb, both_backends};

struct Queue {
    db: Db,
    config: Arc<Config>,
    registry: Arc<JobRegistry>,
    _test_db: TestDb,
}

impl Queue {
    async fn new(backend: Backend, overrides: &[(&str, &str)]) -> Queue {
        Queue::with_registry(backend, overrides, |_| {}).await
    }

    async fn with_registry(
        backend: Backend,
        overrides: &[(&str, &str)],
        extra: impl FnOnce(&mut JobRegistry),
    ) -> Queue {
        let test_db = TestDb::new(backend).await;
        let config = test_support::test_config(&test_db.url, "http://localhost:3000", overrides);
        let db = Db::connect(&test_db.url, Duration::from_secs(10))
            .await
            .expect("connects");
        db.migrate(&server::modules()).await.expect("migrates");
        let mut registry =
            jobs::build_registry(&server::modules(), &config).expect("a valid registry");
        extra(&mut registry);
        Queue {
            db,
            config: Arc::new(config),
            registry: Arc::new(registry),
            _test_db: test_db,
        }
    }

    fn runner(&self) -> Runner {
        Runner::new(self.db.clone(), self.config.clone(), self.registry.clone())
    }
}

async fn one_time_job_runs_with_its_result(backend: Backend) {
    let queue = Queue::new(backend, &[]).await;
    let job = jobs::enqueue(
        &queue.db,
        &NewJob::new("diagnostics.echo")
            .user(1)
            .data(json!({ "testValue": "integration-test" })),
    )
    .await
    .expect("enqueued");
    assert_eq!(job.status(), JobStatus::Pending);

    let ran = queue
        .runner()
        .run_one()
        .await
        .expect("runs")
        .expect("a job was due");
    assert_eq!(ran.job_id, job.id);
    assert_eq!(ran.outcome, RunOutcome::Settled(Outcome::Succeeded));

    let done = service::find_job(&queue.db, job.id).await.expect("found");
    assert_eq!(done.status(), JobStatus::Succeeded);
    assert_eq!(done.success, Some(true));
    assert!(done.finished.is_some() && done.started.is_some());
    let result = done.result.expect("a result").0;
    assert_eq!(result["data"]["testValue"], "integration-test");
    assert_eq!(done.attempts, 1);
    assert!(queue.runner().run_one().await.expect("runs").is_none());
}

async fn cron_creates_recurring_jobs_and_never_repeats_a_tick(backend: Backend) {
    let queue = Queue::new(backend, &[]).await;
    let schedule = "*/10 * * * * *";
    // Scheduled from a moment in the past, so its first tick is already due.
    let from = Utc::now() - chrono::Duration::seconds(30);
    let job = NewJob::new("diagnostics.echo").due_at(from);
    let mut pooled = jobs::Pooled::acquire(&queue.db)
        .await
        .expect("a connection");
    let first = jobs::schedule_cron_job(&mut pooled.conn(), &job, schedule)
        .await
        .expect("scheduled");
    let again = jobs::schedule_cron_job(&mut pooled.conn(), &job, schedule)
        .await
        .expect("scheduled again");
    assert_eq!(first.id, again.id, "one pending occurrence per schedule");
    assert_eq!(first.cron_schedule.as_deref(), Some(schedule));

    let ran = queue.runner().run_one().await.expect("runs").expect("due");
    assert_eq!(ran.job_id, first.id);
    let all = service::list_jobs(&queue.db, &service::JobFilter::default())
        .await
        .expect("listed");
    let next: Vec<_> = all
        .iter()
        .filter(|j| j.job_type == "diagnostics.echo" && j.status() == JobStatus::Pending)
        .collect();
    assert_eq!(next.len(), 1, "the next occurrence was created: {all:#?}");
    assert_eq!(next[0].cron_schedule.as_deref(), Some(schedule));
    assert!(next[0].due > Utc::now(), "the next tick is in the future");
    assert_eq!(next[0].due.timestamp() % 10, 0, "on a tick of the schedule");

    // A clock stepped back (scheduling again from before the tick that ran) repeats nothing.
    let stepped_back = jobs::schedule_cron_job(&mut pooled.conn(), &job, schedule)
        .await
        .expect("scheduled");
    assert_eq!(stepped_back.id, next[0].id);
    let all = service::list_jobs(&queue.db, &service::JobFilter::default())
        .await
        .expect("listed");
    let mut ticks: Vec<_> = all
        .iter()
        .filter(|j| j.job_type == "diagnostics.echo")
        .map(|j| j.due)
        .collect();
    let count = ticks.len();
    ticks.sort();
    ticks.dedup();
    assert_eq!(ticks.len(), count, "no tick enqueued twice");
    assert_eq!(count, 2);
    assert!(queue.runner().run_one().await.expect("runs").is_none());
}

async fn failing_job_is_rescheduled_with_rescheduled_from_job(backend: Backend) {
    let queue = Queue::new(backend, &[]).await;
    let job = jobs::enqueue(
        &queue.db,
        &NewJob::new("diagnostics.fail")
            .user(1)
            .reschedule_on_failure(Duration::ZERO),
    )
    .await
    .expect("enqueued");
    let ran = queue.runner().run_one().await.expect("runs").expect("due");
    assert_eq!(ran.outcome, RunOutcome::Settled(Outcome::Rescheduled));

    let failed = service::find_job(&queue.db, job.id).await.expect("found");
    assert_eq!(failed.success, Some(false));
    assert_eq!(failed.status(), JobStatus::Rescheduled);
    assert!(failed.last_error.is_some());

    let retry = queue
        .runner()
        .run_one()
        .await
        .expect("runs")
        .expect("follow-up due");
    let follow_up = service::find_job(&queue.db, retry.job_id)
        .await
        .expect("found");
    assert_eq!(follow_up.rescheduled_from_job, Some(job.id));
    assert!(follow_up.auto_reschedule_on_failure);
    assert_eq!(follow_up.user_id, 1);
}

async fn failing_job_backs_off_then_is_dead(backend: Backend) {
    let queue = Queue::new(backend, &[("JOB_RETRY_DELAY", "60ms")]).await;
    let job = jobs::enqueue(&queue.db, &NewJob::new("diagnostics.fail").max_attempts(3))
        .await
        .expect("enqueued");
    let runner = queue.runner();
    let mut delays = Vec::new();
    for attempt in 1..=3 {
        // Wait for the retry to fall due (time passing, not synchronisation).
        let row = service::find_job(&queue.db, job.id).await.expect("found");
        if let Ok(wait) = (row.due - Utc::now()).to_std() {
            assert!(
                runner.run_one().await.expect("runs").is_none(),
                "not due before its backoff"
            );
            tokio::time::sleep(wait + Duration::from_millis(5)).await;
        }
        let ran = runner.run_one().await.expect("runs").expect("due");
        let row = service::find_job(&queue.db, job.id).await.expect("found");
        assert_eq!(row.attempts, attempt);
        if attempt < 3 {
            assert_eq!(ran.outcome, RunOutcome::Settled(Outcome::RetryLater));
            assert_eq!(row.status(), JobStatus::Pending);
            delays.push((row.due - row.updated_at).num_milliseconds());
        } else {
            assert_eq!(ran.outcome, RunOutcome::Settled(Outcome::Dead));
            assert_eq!(row.status(), JobStatus::Dead);
            assert_eq!(row.success, Some(false));
        }
    }
    assert!(
        (55..=70).contains(&delays[0]),
        "first retry after ~60ms: {delays:?}"
    );
    assert!(
        (175..=190).contains(&delays[1]),
        "second retry after ~3x: {delays:?}"
    );
}

async fn idempotency_key_makes_one_row_from_100_concurrent_enqueues(backend: Backend) {
    let queue = Queue::new(backend, &[]).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100 {
        let db = queue.db.clone();
        tasks.spawn(async move {
            jobs::enqueue(
                &db,
                &NewJob::new("diagnostics.echo")
                    .data(json!({ "caller": i }))
                    .idempotency_key("send-welcome-mail:42"),
            )
            .await
            .expect("enqueue succeeds")
            .id
        });
    }
    let mut ids = Vec::new();
    while let Some(id) = tasks.join_next().await {
        ids.push(id.expect("task"));
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every caller got the same job");
    assert_eq!(
        service::unfinished_count(&queue.db).await.expect("counts"),
        1
    );

    // Once it has run, the key is free again.
    queue.runner().run_until_idle().await.expect("drains");
    let again = jobs::enqueue(
        &queue.db,
        &NewJob::new("diagnostics.echo").idempotency_key("send-welcome-mail:42"),
    )
    .await
    .expect("enqueued");
    assert_ne!(again.id, ids[0]);
}

async fn sixteen_concurrent_claimers_on_one_job_get_one_claim(backend: Backend) {
    let queue = Queue::new(backend, &[]).await;
    let job = jobs::enqueue(&queue.db, &NewJob::new("diagnostics.noop"))
        .await
        .expect("enqueued");
    let barrier = Arc::new(tokio::sync::Barrier::new(16));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let db = queue.db.clone();
        let barrier = barrier.clone();
        tasks.spawn(async move {
            barrier.wait().await;
            service::claim_jobs(
                &db,
                &format!("claimer-{i}"),
                Duration::from_secs(30),
                1,
                &jobs::RateLimits::none(),
            )
            .await
            .expect("claim runs")
            .jobs
        });
    }
    let mut claimed = Vec::new();
    while let Some(jobs) = tasks.join_next().await {
        claimed.extend(jobs.expect("task"));
    }
    let mine: Vec<_> = claimed.iter().filter(|j| j.id == job.id).collect();
    assert_eq!(mine.len(), 1, "exactly one claimer got the job");
    assert_eq!(mine[0].attempts, 1);
}

async fn an_expired_lease_is_taken_over_and_the_stale_run_is_fenced_out(backend: Backend) {
    let queue = Queue::new(backend, &[]).await;
    let job = jobs::enqueue(&queue.db, &NewJob::new("diagnostics.echo"))
        .await
        .expect("enqueued");
    let lease = Duration::from_millis(150);
    let none = jobs::RateLimits::none();
    let stale = service::claim_jobs(&queue.db, "stale", lease, 1, &none)
        .await
        .expect("claims")
        .jobs
        .pop()
        .expect("claimed");
    assert!(
        service::claim_jobs(&queue.db, "other", lease, 1, &none)
            .await
            .expect("claims")
            .jobs
            .is_empty(),
        "a live lease is not claimable"
    );
    tokio::time::sleep(lease + Duration::from_millis(20)).await;
    assert_eq!(
        service::release_expired_leases(&queue.db)
            .await
            .expect("sweeps"),
        1
    );
    let fresh = service::claim_jobs(&queue.db, "other", lease * 20, 1, &none)
        .await
        .expect("claims")
        .jobs
        .pop()
        .expect("claimable again");
    assert_eq!(fresh.attempts, 2);

    let late = service::complete_job(&queue.db, &stale, &json!({ "by": "stale" })).await;
    assert!(
        matches!(late, Err(jobs::JobsError::LeaseLost { .. })),
        "{late:?}"
    );
    assert!(matches!(
        service::renew_lease(&queue.db, &stale, lease).await,
        Err(jobs::JobsError::LeaseLost { .. })
    ));
    assert!(matches!(
        service::fail_job(&queue.db, &stale, &JobFailure::new("late"), lease).await,
        Err(jobs::JobsError::LeaseLost { .. })
    ));
    service::complete_job(&queue.db, &fresh, &json!({ "by": "fresh" }))
        .await
        .expect("the current run completes");
    let done = service::find_job(&queue.db, job.id).await.expect("found");
    assert_eq!(done.result.expect("result").0["by"], "fresh");
}

/// A claim's commit is not flushed on PostgreSQL, so a PostgreSQL crash can lose it: the job is
/// pending again with its attempt count back, while the run that claimed it may still go on.
/// The next claim then gives the same attempt number; the lost run must still be fenced out.
async fn a_run_whose_claim_was_lost_is_fenced_out_of_the_next_claim_with_the_same_attempt(
    backend: Backend,
) {
    let queue = Queue::new(backend, &[]).await;
    let job = jobs::enqueue(&queue.db, &NewJob::new("diagnostics.echo"))
        .await
        .expect("enqueued");
    let lease = Duration::from_secs(60);
    let none = jobs::RateLimits::none();
    let lost = service::claim_jobs(&queue.db, "worker", lease, 1, &none)
        .await
        .expect("claims")
        .jobs
        .pop()
        .expect("claimed");
    // What recovery after the crash leaves: the row as it was before the claim.
    const UNDO_CLAIM: &str = "UPDATE worker_jobs SET started = NULL, lease_expires_at = NULL, \
        locked_by = NULL, attempts = attempts - 1 WHERE id = $1";
    match &queue.db {
        Db::Sqlite(pool) => sqlx::query(UNDO_CLAIM)
            .bind(job.id)
            .execute(pool)
            .await
            .map(drop),
        Db::Postgres(pool) => sqlx::query(UNDO_CLAIM)
            .bind(job.id)
            .execute(pool)
            .await
            .map(drop),
    }
    .expect("claim undone");
    let fresh = service::claim_jobs(&queue.db, "worker", lease, 1, &none)
        .await
        .expect("claims")
        .jobs
        .pop()
        .expect("claimable again");
    assert_eq!(
        fresh.attempts, lost.attempts,
        "the attempt number comes again"
    );

    assert!(matches!(
        service::renew_lease(&queue.db, &lost, lease).await,
        Err(jobs::JobsError::LeaseLost { .. })
    ));
    let late = service::complete_job(&queue.db, &lost, &json!({ "by": "lost" })).await;
    assert!(
        matches!(late, Err(jobs::JobsError::LeaseLost { .. })),
        "{late:?}"
    );
    assert!(matches!(
        service::fail_job(&queue.db, &lost, &JobFailure::new("late"), lease).await,
        Err(jobs::JobsError::LeaseLost { .. })
    ));
    assert!(
        !service::release_job(&queue.db, &lost)
            .await
            .expect("releases"),
        "a lost run cannot hand the job back"
    );
    let batched = service::complete_jobs(
        &queue.db,
        &[(
            &service::RunId {
                id: lost.id,
                attempt: lost.attempts,
                locked_by: lost
                    .locked_by
                    .clone()
                    .expect("a claimed job names its claim"),
            },
            &json!({ "by": "lost" }),
        )],
    )
    .await
    .expect("writes");
    assert_eq!(
        batched,
        vec![false],
        "a batched acknowledgement is fenced too"
    );

    service::complete_job(&queue.db, &fresh, &json!({ "by": "fresh" }))
        .await
        .expect("the current run completes");
    let done = service::find_job(&queue.db, job.id).await.expect("found");
    assert_eq!(done.result.expect("result").0["by"], "fresh");
}

async fn higher_priority_runs_first(backend: Backend) {
    let queue = Queue::new(backend, &[]).await;
    let low = jobs::enqueue(&queue.db, &NewJob::new("diagnostics.noop"))
        .await
        .expect("enqueued");
    let high = jobs::enqueue(&queue.db, &NewJob::new("diagnostics.noop").priority(10))
        .await
        .expect("enqueued");
    let runner = queue.runner();
    assert_eq!(
        runner.run_one().await.expect("runs").expect("due").job_id,
        high.id
    );
    assert_eq!(
        runner.run_one().await.expect("runs").expect("due").job_id,
        low.id
    );
}

async fn cancel_and_retry_through_the_service(backend: Backend) {
    let queue = Queue::new(backend, &[]).await;
    let later = jobs::enqueue(
        &queue.db,
        &NewJob::new("diagnostics.echo").due_at(Utc::now() + chrono::Duration::hours(1)),
    )
    .await
    .expect("enqueued");
    let cancelled = service::cancel_job(&queue.db, later.id)
        .await
        .expect("cancels");
    assert_eq!(cancelled.status(), JobStatus::Cancelled);
    assert!(matches!(
        service::cancel_job(&queue.db, later.id).await,
        Err(jobs::JobsError::AlreadyFinished(_))
    ));
    let retried = service::retry_job(&queue.db, later.id)
        .await
        .expect("retries");
    assert_eq!(retried.rescheduled_from_job, Some(later.id));
    assert_eq!(retried.status(), JobStatus::Pending);
    assert!(matches!(
        service::retry_job(&queue.db, retried.id).await,
        Err(jobs::JobsError::NotFinished(_))
    ));
    assert!(matches!(
        service::find_job(&queue.db, 999_999).await,
        Err(jobs::JobsError::NotFound(999_999))
    ));
}

async fn unknown_types_and_panics_fail_without_killing_the_runner(backend: Backend) {
    let queue = Queue::with_registry(backend, &[], |registry| {
        registry.register("test.panics", |_: JobContext| async move {
            if Utc::now().timestamp() > 0 {
                panic!("a bug in a handler");
            }
            Ok::<Value, JobFailure>(Value::Null)
        });
    })
    .await;
    let unknown = jobs::enqueue(&queue.db, &NewJob::new("no.such.type"))
        .await
        .expect("enqueued");
    let panics = jobs::enqueue(&queue.db, &NewJob::new("test.panics").max_attempts(1))
        .await
        .expect("enqueued");
    queue.runner().run_until_idle().await.expect("drains");
    let unknown = service::find_job(&queue.db, unknown.id)
        .await
        .expect("found");
    assert_eq!(unknown.status(), JobStatus::Failed);
    assert!(unknown.last_error.expect("error").contains("no handler"));
    let panics = service::find_job(&queue.db, panics.id)
        .await
        .expect("found");
    assert_eq!(panics.status(), JobStatus::Dead);
    assert!(panics.last_error.expect("error").contains("panicked"));
}

async fn graceful_stop_lets_a_running_job_finish_and_releases_one_past_the_grace(backend: Backend) {
    let queue = Queue::new(backend, &[("JOB_POLL_INTERVAL", "50ms")]).await;
    let short = jobs::enqueue(
        &queue.db,
        &NewJob::new("diagnostics.sleep").data(json!({ "ms": 300 })),
    )
    .await
    .expect("enqueued");
    let long = jobs::enqueue(
        &queue.db,
        &NewJob::new("diagnostics.sleep").data(json!({ "ms": 60_000 })),
    )
    .await
    .expect("enqueued");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let runner = queue.runner();
    let running = tokio::spawn(runner.run(
        async move {
            let _ = stop_rx.await;
        },
        // Ten times the short job's length, so a loaded machine still finishes it in time.
        Duration::from_millis(3000),
    ));
    // Both started: wait for their rows to say so.
    wait_until(&queue.db, |jobs| {
        jobs.iter()
            .filter(|j| j.status() == JobStatus::Running)
            .count()
            == 2
    })
    .await;
    let _ = stop_tx.send(());
    running
        .await
        .expect("the runner task ends")
        .expect("the runner stops cleanly");

    let short = service::find_job(&queue.db, short.id).await.expect("found");
    assert_eq!(
        short.status(),
        JobStatus::Succeeded,
        "finished within the grace"
    );
    let long = service::find_job(&queue.db, long.id).await.expect("found");
    assert_eq!(
        long.status(),
        JobStatus::Pending,
        "released for another worker"
    );
    assert_eq!(long.attempts, 1);
    assert_eq!(long.max_attempts, 6, "a release does not use up an attempt");
}

async fn admin_endpoint_lists_and_shows_jobs(backend: Backend) {
    // The server mounts the admin endpoints behind the admin guard (`ADMIN_WALLETS`).
    let admin = test_support::TestWallet::from_seed(60);
    let admins = admin.checksummed();
    let app = test_support::TestApp::spawn_with(backend, &[("ADMIN_WALLETS", &admins)], &[]).await;
    let anonymous = app
        .client
        .get(app.url("/api/admin/jobs"))
        .send()
        .await
        .expect("answers");
    assert_eq!(anonymous.status(), 401, "admins only");
    let outsider = app.sign_in(&test_support::TestWallet::from_seed(61)).await;
    let forbidden = app
        .client
        .get(app.url("/api/admin/jobs"))
        .bearer_auth(outsider["token"].as_str().expect("token"))
        .send()
        .await
        .expect("answers");
    assert_eq!(forbidden.status(), 403, "signed in is not enough");
    let token = app.sign_in(&admin).await["token"]
        .as_str()
        .expect("token")
        .to_owned();
    // A type of its own: the metrics recorder is shared by every test in this process.
    let job = jobs::enqueue(&app.db, &NewJob::new("admin.listed").user(7))
        .await
        .expect("enqueued");
    let list: Value = app
        .client
        .get(app.url("/api/admin/jobs?type=admin.listed&status=pending"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    assert_eq!(list["jobs"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list["jobs"][0]["id"], job.id);
    assert_eq!(list["jobs"][0]["status"], "pending");
    assert_eq!(list["jobs"][0]["userId"], 7);

    let shown = app
        .client
        .get(app.url(&format!("/api/admin/jobs/{}", job.id)))
        .bearer_auth(&token)
        .send()
        .await
        .expect("answers");
    assert_eq!(shown.status(), 200);
    let missing = app
        .client
        .get(app.url("/api/admin/jobs/424242"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("answers");
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.expect("json");
    assert_eq!(body["error"]["code"], "jobs.not_found");
    let bad = app
        .client
        .get(app.url("/api/admin/jobs?status=sleeping"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("answers");
    assert_eq!(bad.status(), 400);

    let scrape = || async {
        app.client
            .get(app.url("/metrics"))
            .send()
            .await
            .expect("answers")
            .text()
            .await
            .expect("text")
    };
    let metrics = scrape().await;
    assert!(
        metrics.contains("jobs_queue_depth{type=\"admin.listed\"} 1"),
        "{metrics}"
    );
    service::cancel_job(&app.db, job.id)
        .await
        .expect("cancelled");
    let emptied = scrape().await;
    assert!(
        emptied.contains("jobs_queue_depth{type=\"admin.listed\"} 0"),
        "an emptied queue reads 0: {emptied}"
    );
    assert!(metrics.contains("jobs_enqueued_total"), "{metrics}");
    app.stop().await;
}

/// Records what jobs notify, or refuses every call like a store that is down.
struct RecordingNotifier {
    sent: std::sync::Mutex<Vec<(i64, Value)>>,
    down: bool,
}

impl platform::job::UserNotifier for RecordingNotifier {
    fn notify_user(&self, user_id: i64, payload: Value) -> platform::job::NotifyFuture<'_> {
        Box::pin(async move {
            if self.down {
                return Err(JobFailure::new("the notification store is down"));
            }
            self.sent
                .lock()
                .expect("not poisoned")
                .push((user_id, payload));
            Ok(())
        })
    }
}

async fn a_job_notifies_its_user_and_fails_when_the_notification_is_not_stored(backend: Backend) {
    let queue = Queue::new(backend, &[]).await;
    let runner = |down: bool| {
        let notifier = Arc::new(RecordingNotifier {
            sent: Default::default(),
            down,
        });
        let runner = Runner::new(
            queue.db.clone(),
            queue.config.clone(),
            queue.registry.clone(),
        )
        .with_notifier(notifier.clone());
        (runner, notifier)
    };
    let notify = NewJob::new("diagnostics.notifyUser")
        .user(42)
        .data(json!({ "message": "your export is ready" }));

    let (working, notifier) = runner(false);
    jobs::enqueue(&queue.db, &notify).await.expect("enqueued");
    let ran = working.run_one().await.expect("runs").expect("due");
    assert_eq!(ran.outcome, RunOutcome::Settled(Outcome::Succeeded));
    let sent = notifier.sent.lock().expect("not poisoned").clone();
    assert_eq!(
        sent,
        vec![(42, json!({ "message": "your export is ready" }))]
    );

    // Not stored means not done: the job is retried, never marked succeeded.
    let (broken, notifier) = runner(true);
    jobs::enqueue(&queue.db, &notify).await.expect("enqueued");
    let ran = broken.run_one().await.expect("runs").expect("due");
    assert_eq!(ran.outcome, RunOutcome::Settled(Outcome::RetryLater));
    assert!(notifier.sent.lock().expect("not poisoned").is_empty());
}

fn limited_noop(_: JobContext) -> impl std::future::Future<Output = Result<Value, JobFailure>> {
    std::future::ready(Ok(Value::Null))
}

async fn a_rate_limit_holds_across_workers_and_instances(backend: Backend) {
    const MAX: usize = 3;
    const PER_MS: i64 = 150;
    const JOBS: usize = 15;
    let overrides = [("JOB_POLL_INTERVAL", "50ms"), ("JOB_CONCURRENCY", "8")];
    let limit = RateLimit::new(MAX as u32, Duration::from_millis(PER_MS as u64));
    let queue = Queue::with_registry(backend, &overrides, |registry| {
        registry.register_limited("limited.noop", limited_noop, limit);
    })
    .await;
    for _ in 0..JOBS {
        jobs::enqueue(&queue.db, &NewJob::new("limited.noop"))
            .await
            .expect("enqueued");
    }
    // Two instances (their own pools on the same database), two workers each.
    let other = Db::connect(&queue._test_db.url, Duration::from_secs(10))
        .await
        .expect("connects");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut workers = tokio::task::JoinSet::new();
    for db in [&queue.db, &other, &queue.db, &other] {
        let runner = Runner::new(db.clone(), queue.config.clone(), queue.registry.clone());
        let mut stop = stop_rx.clone();
        workers.spawn(runner.run(
            async move {
                let _ = stop.wait_for(|stop| *stop).await;
            },
            Duration::from_secs(5),
        ));
    }
    wait_until(&queue.db, |jobs| {
        jobs.iter()
            .filter(|j| j.status() == JobStatus::Succeeded)
            .count()
            == JOBS
    })
    .await;
    let _ = stop_tx.send(true);
    while let Some(stopped) = workers.join_next().await {
        stopped
            .expect("the runner task ends")
            .expect("stops cleanly");
    }

    let done = service::list_jobs(&queue.db, &service::JobFilter::default())
        .await
        .expect("listed");
    let mut per_window = std::collections::BTreeMap::<i64, usize>::new();
    for job in &done {
        let started = job.started.expect("started").timestamp_millis();
        *per_window.entry(started.div_euclid(PER_MS)).or_default() += 1;
        assert_eq!(job.attempts, 1, "waiting for a window uses no attempt");
        assert_eq!(job.max_attempts, 5);
    }
    assert!(
        per_window.values().all(|&started| started <= MAX),
        "at most {MAX} starts per window: {per_window:?}"
    );
    assert!(per_window.len() >= JOBS / MAX);
}

async fn a_per_key_rate_limit_holds_back_only_the_full_keys(backend: Backend) {
    // One start per key per window; the windows are 24 days long, so the test runs in one.
    let limit = RateLimit::new(1, Duration::from_secs(24 * 24 * 3600)).per_key();
    let queue = Queue::with_registry(backend, &[], |registry| {
        registry.register_limited("limited.perKey", limited_noop, limit);
    })
    .await;
    let mut enqueued = Vec::new();
    for key in [Some("a"), Some("a"), Some("b"), None, Some("b"), None] {
        let job = NewJob::new("limited.perKey");
        let job = match key {
            Some(key) => job.rate_key(key),
            None => job,
        };
        enqueued.push(jobs::enqueue(&queue.db, &job).await.expect("enqueued"));
    }
    let unlimited = jobs::enqueue(&queue.db, &NewJob::new("diagnostics.noop"))
        .await
        .expect("enqueued");
    assert_eq!(queue.runner().run_until_idle().await.expect("runs"), 4);

    let mut ran_keys = Vec::new();
    for job in &enqueued {
        let job = service::find_job(&queue.db, job.id).await.expect("found");
        match job.status() {
            JobStatus::Succeeded => ran_keys.push(job.rate_key.clone()),
            JobStatus::Pending => assert_eq!(job.attempts, 0, "held back, not attempted"),
            other => panic!("unexpected {other:?}"),
        }
    }
    ran_keys.sort();
    assert_eq!(ran_keys, [None, Some("a".to_owned()), Some("b".to_owned())]);
    let unlimited = service::find_job(&queue.db, unlimited.id)
        .await
        .expect("found");
    assert_eq!(
        unlimited.status(),
        JobStatus::Succeeded,
        "other types are not held"
    );
}

/// Waits (checking every 10 ms, at most 10 s) until the job list satisfies `condition`.
async fn wait_until(db: &Db, condition: impl Fn(&[jobs::WorkerJob]) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let jobs = service::list_jobs(db, &service::JobFilter::default())
            .await
            .expect("listed");
        if condition(&jobs) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached: {jobs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

both_backends!(
    one_time_job_runs_with_its_result,
    cron_creates_recurring_jobs_and_never_repeats_a_tick,
    failing_job_is_rescheduled_with_rescheduled_from_job,
    failing_job_backs_off_then_is_dead,
    idempotency_key_makes_one_row_from_100_concurrent_enqueues,
    sixteen_concurrent_claimers_on_one_job_get_one_claim,
    an_expired_lease_is_taken_over_and_the_stale_run_is_fenced_out,
    a_run_whose_claim_was_lost_is_fenced_out_of_the_next_claim_with_the_same_attempt,
    higher_priority_runs_first,
    cancel_and_retry_through_the_service,
    unknown_types_and_panics_fail_without_killing_the_runner,
    graceful_stop_lets_a_running_job_finish_and_releases_one_past_the_grace,
    admin_endpoint_lists_and_shows_jobs,
    a_job_notifies_its_user_and_fails_when_the_notification_is_not_stored,
    a_rate_limit_holds_across_workers_and_instances,
    a_per_key_rate_limit_holds_back_only_the_full_keys,
);
