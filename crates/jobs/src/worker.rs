//! The runner every worker process (and any test) uses: claim due jobs, run their handlers
//! while renewing their leases, settle the outcome, wake on enqueue, and stop gracefully.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::FutureExt;
use platform::job::{JobContext, JobFailure, JobRegistry, NoNotifier, UserNotifier};
use platform::{Config, Db};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::conn::Lender;
use crate::domain::{Outcome, WorkerJob};
use crate::error::JobsError;
use crate::events::{LocalEvents, WorkerEvent, WorkerEvents};
use crate::{service, wakeup};

/// How one claimed job ended in this runner.
#[derive(Debug, Clone, PartialEq)]
pub struct Ran {
    pub job_id: i64,
    pub job_type: String,
    pub outcome: RunOutcome,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    Settled(Outcome),
    /// The lease was lost (expired and taken over, or the job was cancelled): nothing recorded.
    LeaseLost,
    /// Handed back unrun or unfinished at shutdown.
    Released,
}

/// A successful run waiting for its acknowledgement to be written.
struct Ack {
    run: service::RunId,
    result: Value,
    /// `Ok(true)`: recorded; `Ok(false)`: fenced out; `Err`: the write failed.
    reply: oneshot::Sender<Result<bool, String>>,
}

/// Writes acknowledgements: each write takes every completion queued meanwhile (up to
/// `max`), so a busy worker commits many jobs at once and an idle one commits each at once.
async fn acknowledge(lender: Arc<Lender>, max: usize, mut queue: mpsc::UnboundedReceiver<Ack>) {
    let mut batch: Vec<Ack> = Vec::with_capacity(max);
    while let Some(first) = queue.recv().await {
        batch.push(first);
        while batch.len() < max {
            match queue.try_recv() {
                Ok(ack) => batch.push(ack),
                Err(_) => break,
            }
        }
        let completions: Vec<(&service::RunId, &Value)> =
            batch.iter().map(|ack| (&ack.run, &ack.result)).collect();
        let written = service::complete_jobs(&*lender, &completions).await;
        drop(completions);
        match written {
            Ok(held) => {
                for (ack, held) in batch.drain(..).zip(held) {
                    let _ = ack.reply.send(Ok(held));
                }
            }
            Err(e) => {
                let message = e.to_string();
                for ack in batch.drain(..) {
                    let _ = ack.reply.send(Err(message.clone()));
                }
            }
        }
    }
}

/// A claim running beside the jobs.
type ClaimTask = JoinHandle<Result<service::Claimed, JobsError>>;

/// Claims and runs jobs. Cheap to clone.
#[derive(Clone)]
pub struct Runner {
    db: Db,
    /// Connections kept out of the pool for the runner's own statements.
    lender: Arc<Lender>,
    config: Arc<Config>,
    registry: Arc<JobRegistry>,
    worker_id: String,
    events: Arc<dyn WorkerEvents>,
    notifier: Arc<dyn UserNotifier>,
    limits: Arc<service::RateLimits>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("worker_id", &self.worker_id)
            .finish()
    }
}

impl Runner {
    /// A runner reporting to this process's metrics, without a notification service.
    pub fn new(db: Db, config: Arc<Config>, registry: Arc<JobRegistry>) -> Runner {
        Runner::with_events(db, config, registry, Arc::new(LocalEvents::new()))
    }

    pub fn with_events(
        db: Db,
        config: Arc<Config>,
        registry: Arc<JobRegistry>,
        events: Arc<dyn WorkerEvents>,
    ) -> Runner {
        Runner {
            // PostgreSQL: as many as runs that may acknowledge one by one at once
            // (`JOB_ACK_BATCH=1`), 2-16, opened on demand besides the pool's and kept while
            // the runner lives. SQLite writes one at a time (the write gate).
            lender: Arc::new(Lender::new(
                &db,
                match &db {
                    Db::Sqlite(_) => 2,
                    Db::Postgres(_) => config.jobs.concurrency.clamp(2, 16),
                },
            )),
            db,
            config,
            limits: Arc::new(service::RateLimits::from_registry(&registry)),
            registry,
            worker_id: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            events,
            notifier: Arc::new(NoNotifier),
        }
    }

    /// How this runner's jobs notify users (`JobContext::notify_user`).
    pub fn with_notifier(mut self, notifier: Arc<dyn UserNotifier>) -> Runner {
        self.notifier = notifier;
        self
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Claims one due job, runs it to its end and records the outcome; `None` when nothing is
    /// due. Tests drain the queue with it instead of sleeping.
    pub async fn run_one(&self) -> Result<Option<Ran>, JobsError> {
        let mut claimed = service::claim_jobs(
            &*self.lender,
            &self.worker_id,
            self.config.jobs.lease,
            1,
            &self.limits,
        )
        .await?;
        let Some(job) = claimed.jobs.pop() else {
            return Ok(None);
        };
        let (_stop_tx, stop_rx) = watch::channel(false);
        Ok(Some(self.execute(job, stop_rx, None).await))
    }

    /// Runs due jobs one after another until none is due; returns how many ran.
    pub async fn run_until_idle(&self) -> Result<usize, JobsError> {
        let mut ran = 0;
        while self.run_one().await?.is_some() {
            ran += 1;
        }
        Ok(ran)
    }

    /// Runs one claimed job: its handler inline (a panic is a failure), with the
    /// lease renewed every third of its length. `abandon` turning true (shutdown grace over)
    /// stops the handler and releases the job.
    async fn execute(
        &self,
        job: WorkerJob,
        mut abandon: watch::Receiver<bool>,
        acks: Option<mpsc::UnboundedSender<Ack>>,
    ) -> Ran {
        let started = Instant::now();
        let wait_ms = (Utc::now() - job.due).num_microseconds().unwrap_or(0) as f64 / 1000.0;
        self.events.emit(WorkerEvent::JobStarted {
            job_id: job.id,
            job_type: job.job_type.clone(),
            attempt: job.attempts,
            wait_ms,
        });
        let lease = self.config.jobs.lease;
        let result: Result<Value, JobFailure> = if job.attempts > job.max_attempts {
            Err(JobFailure::permanent(
                "no attempts left: the last one's lease expired (the worker died or hung)",
            ))
        } else if let Some(handler) = self.registry.handler(&job.job_type) {
            let context = JobContext {
                id: job.id,
                job_type: job.job_type.clone(),
                user_id: job.user_id,
                data: job.data.0.clone(),
                attempt: job.attempts,
                db: self.db.clone(),
                config: self.config.clone(),
                registry: self.registry.clone(),
                notifier: self.notifier.clone(),
            };
            // Run inline (no task of its own); a panic is caught and is a failure.
            let mut run = AssertUnwindSafe(handler.run(context)).catch_unwind();
            let mut renew_at = tokio::time::Instant::now() + lease / 3;
            loop {
                tokio::select! {
                    ran = &mut run => {
                        break ran.unwrap_or_else(|_| Err(JobFailure::new("the job handler panicked")));
                    }
                    () = tokio::time::sleep_until(renew_at) => {
                        // Boxed, as every rare path here: the future every job is spawned with
                        // stays small, which keeps spawning cheap.
                        match Box::pin(service::renew_lease(&*self.lender, &job, lease)).await {
                            Ok(()) => renew_at = tokio::time::Instant::now() + lease / 3,
                            Err(JobsError::LeaseLost { .. }) => return self.lease_lost(&job),
                            Err(e) => {
                                tracing::warn!(target: "worker", job_id = job.id, error = %e, "lease renewal failed; retrying");
                                renew_at = tokio::time::Instant::now() + lease / 10;
                            }
                        }
                    }
                    changed = abandon.changed() => {
                        if changed.is_err() || *abandon.borrow() {
                            drop(run);
                            return Box::pin(self.release(&job)).await;
                        }
                    }
                }
            }
        } else {
            Err(JobFailure::permanent(format!(
                "no handler is registered for job type {:?}",
                job.job_type
            )))
        };
        let settled = match result {
            Ok(value) if job.cron_schedule.is_none() && acks.is_some() => {
                let (reply, replied) = oneshot::channel();
                let queued = acks.as_ref().is_some_and(|acks| {
                    acks.send(Ack {
                        run: service::RunId {
                            id: job.id,
                            attempt: job.attempts,
                            locked_by: job.locked_by.clone().unwrap_or_default(),
                        },
                        result: value,
                        reply,
                    })
                    .is_ok()
                });
                match (queued, replied.await) {
                    (true, Ok(Ok(true))) => Ok(service::Settled {
                        outcome: Outcome::Succeeded,
                        follow_ups: Vec::new(),
                    }),
                    (true, Ok(Ok(false))) => Err(JobsError::LeaseLost {
                        id: job.id,
                        attempt: job.attempts,
                    }),
                    (_, Ok(Err(message))) => Err(JobsError::Invalid(message)),
                    _ => Err(JobsError::Invalid(
                        "the acknowledgement writer stopped".to_owned(),
                    )),
                }
            }
            Ok(value) => Box::pin(service::complete_job(&*self.lender, &job, &value)).await,
            Err(failure) => {
                tracing::info!(target: "worker", job_id = job.id, job_type = %job.job_type, attempt = job.attempts, error = %failure, "job failed");
                Box::pin(service::fail_job(
                    &self.db,
                    &job,
                    &failure,
                    self.config.jobs.retry_delay,
                ))
                .await
            }
        };
        match settled {
            Ok(settled) => {
                for follow_up in &settled.follow_ups {
                    self.events.emit(WorkerEvent::JobsEnqueued {
                        job_type: follow_up.job_type.clone(),
                        count: 1,
                    });
                }
                self.events.emit(WorkerEvent::JobCompleted {
                    job_id: job.id,
                    job_type: job.job_type.clone(),
                    outcome: settled.outcome.as_str().to_owned(),
                    duration_ms: started.elapsed().as_secs_f64() * 1000.0,
                });
                Ran {
                    job_id: job.id,
                    job_type: job.job_type,
                    outcome: RunOutcome::Settled(settled.outcome),
                }
            }
            Err(JobsError::LeaseLost { .. }) => self.lease_lost(&job),
            Err(e) => {
                // The row keeps its lease; when it expires another run takes the job over.
                tracing::error!(target: "worker", job_id = job.id, error = %e, "cannot record the job's outcome");
                Ran {
                    job_id: job.id,
                    job_type: job.job_type,
                    outcome: RunOutcome::LeaseLost,
                }
            }
        }
    }

    fn lease_lost(&self, job: &WorkerJob) -> Ran {
        self.events.emit(WorkerEvent::LeaseLost {
            job_id: job.id,
            attempt: job.attempts,
        });
        Ran {
            job_id: job.id,
            job_type: job.job_type.clone(),
            outcome: RunOutcome::LeaseLost,
        }
    }

    async fn release(&self, job: &WorkerJob) -> Ran {
        match service::release_job(&self.db, job).await {
            Ok(_) => tracing::info!(target: "worker", job_id = job.id, "released at shutdown"),
            Err(e) => {
                tracing::warn!(target: "worker", job_id = job.id, error = %e, "release failed; the lease will expire")
            }
        }
        Ran {
            job_id: job.id,
            job_type: job.job_type.clone(),
            outcome: RunOutcome::Released,
        }
    }

    /// Runs jobs until `shutdown` resolves: up to `JOB_CONCURRENCY` at once, woken on enqueue,
    /// polling only as a fallback. A claim runs beside the running jobs, and with `JOB_PREFETCH`
    /// it claims ahead of the slots: the next round is claimed and waiting while this one runs,
    /// so a claim's round trip overlaps with work instead of following it. On shutdown it stops
    /// claiming, hands back the jobs still waiting, lets running jobs finish within `grace`,
    /// then stops and releases the rest.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send,
        grace: Duration,
    ) -> Result<(), JobsError> {
        let concurrency = self.config.jobs.concurrency.max(1);
        let capacity = concurrency.saturating_add(self.config.jobs.prefetch);
        let poll = self.config.jobs.poll_interval;
        let lease = self.config.jobs.lease;
        let sweep_every = (lease / 2).min(poll).max(Duration::from_millis(50));
        let mut wake = wakeup::subscribe();
        let (abandon_tx, abandon_rx) = watch::channel(false);
        let mut running: JoinSet<Ran> = JoinSet::new();
        // Claimed, leased, waiting for a slot.
        let mut ready: VecDeque<WorkerJob> = VecDeque::new();
        // The claim in flight and how many jobs it asked for.
        let mut claiming: Option<(usize, ClaimTask)> = None;
        // False once a claim came back short: the queue is drained until something wakes us.
        let mut more = true;
        // The last claim was full: more work is queued, so wait for a quarter of the room to
        // free up and take it with one claim (one commit) rather than one job per claim.
        let mut saturated = false;
        let mut idle_until: Option<tokio::time::Instant> = None;
        // Rate-limited types the last claim left pending (their window was full), and when the
        // first of those windows opens.
        let mut held_back: Vec<String> = Vec::new();
        let mut window_opens: Option<chrono::DateTime<Utc>> = None;
        let mut next_sweep = tokio::time::Instant::now();
        let ack_batch = self.config.jobs.ack_batch.max(1);
        let (acks, ack_queue) = mpsc::unbounded_channel::<Ack>();
        let acker = tokio::spawn(acknowledge(self.lender.clone(), ack_batch, ack_queue));
        tokio::pin!(shutdown);
        tracing::info!(target: "worker", worker_id = %self.worker_id, concurrency, "worker running");

        loop {
            let now = tokio::time::Instant::now();
            if now >= next_sweep {
                match service::release_expired_leases(&*self.lender).await {
                    Ok(released) if released > 0 => more = true,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(target: "worker", error = %e, "lease sweep failed"),
                }
                next_sweep = tokio::time::Instant::now() + sweep_every;
            }
            let mut started_jobs = false;
            while running.len() < concurrency {
                let Some(job) = ready.pop_front() else { break };
                started_jobs = true;
                let runner = self.clone();
                let abandon = abandon_rx.clone();
                // JOB_ACK_BATCH=1: each run commits its own acknowledgement, concurrently.
                let acks = (ack_batch > 1).then(|| acks.clone());
                running.spawn(async move { runner.execute(job, abandon, acks).await });
            }
            let room = capacity.saturating_sub(ready.len() + running.len());
            let min_claim = if saturated {
                (concurrency / 4).max(1)
            } else {
                1
            };
            if claiming.is_none() && more && room >= min_claim {
                let limit = room;
                let (lender, worker) = (self.lender.clone(), self.worker_id.clone());
                let limits = self.limits.clone();
                claiming = Some((
                    limit,
                    tokio::spawn(async move {
                        service::claim_jobs(&*lender, &worker, lease, limit, &limits).await
                    }),
                ));
                idle_until = None;
            }
            if claiming.is_none() && !more && idle_until.is_none() {
                if started_jobs {
                    // Let the jobs just spawned start before this look-up takes the
                    // database's (and on SQLite its connection thread's) turn.
                    tokio::task::yield_now().await;
                }
                idle_until = Some(
                    tokio::time::Instant::now()
                        + self.idle_nap(poll, &held_back, window_opens).await,
                );
            }
            let nap_until = idle_until.map_or(next_sweep, |idle| idle.min(next_sweep));
            tokio::select! {
                () = &mut shutdown => break,
                claimed = async { claiming.as_mut().map(|(_, task)| task).expect("in flight").await }, if claiming.is_some() => {
                    let limit = claiming.take().map_or(0, |(limit, _)| limit);
                    match claimed {
                        Ok(Ok(claimed)) => {
                            more = claimed.jobs.len() == limit;
                            saturated = more;
                            held_back = claimed.held_back;
                            window_opens = claimed.window_opens;
                            ready.extend(claimed.jobs);
                        }
                        Ok(Err(e)) => {
                            tracing::warn!(target: "worker", error = %e, "claim failed");
                            more = false;
                        }
                        Err(e) => {
                            tracing::error!(target: "worker", error = %e, "claim task failed");
                            more = false;
                        }
                    }
                }
                Some(_) = running.join_next(), if !running.is_empty() => {}
                changed = wake.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep(poll).await;
                    }
                    wake.borrow_and_update();
                    more = true;
                }
                () = tokio::time::sleep_until(nap_until) => {
                    more = true;
                    saturated = false;
                }
            }
        }

        tracing::info!(target: "worker", running = running.len(), waiting = ready.len(), grace_ms = grace.as_millis() as u64, "stopping: no new claims, letting running jobs finish");
        if let Some((_, task)) = claiming.take()
            && let Ok(Ok(claimed)) = task.await
        {
            ready.extend(claimed.jobs);
        }
        for job in ready.drain(..) {
            self.release(&job).await;
        }
        let deadline = tokio::time::sleep(grace);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                joined = running.join_next() => {
                    if joined.is_none() {
                        break;
                    }
                }
                () = &mut deadline => {
                    tracing::warn!(target: "worker", still_running = running.len(), "grace period over: releasing unfinished jobs");
                    let _ = abandon_tx.send(true);
                    while running.join_next().await.is_some() {}
                    break;
                }
            }
        }
        drop(acks);
        let _ = acker.await;
        Ok(())
    }

    /// How long an idle worker may sleep: until the next pending job falls due, at most
    /// `poll`. (A due job it could not claim is held by another claimer for a moment: 5 ms.)
    /// Job types held back by their rate limit do not count, but their window's opening does.
    async fn idle_nap(
        &self,
        poll: Duration,
        held_back: &[String],
        window_opens: Option<chrono::DateTime<Utc>>,
    ) -> Duration {
        let nap = match service::next_wake_times(&*self.lender, held_back).await {
            Ok((Some(due), _)) => (due - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .clamp(Duration::from_millis(5), poll),
            Ok((None, _)) | Err(_) => poll,
        };
        match window_opens {
            Some(opens) => nap.min((opens - Utc::now()).to_std().unwrap_or(Duration::ZERO)),
            None => nap,
        }
    }
}
