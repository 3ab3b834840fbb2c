//! The job contract modules implement: the `Job` trait, what a run receives (`JobContext`), how
//! a run fails (`JobFailure`), and the `JobRegistry` each module fills through `Module`.
//!
//! Only the contract lives here, so that `Module` can name it; the queue, the workers and the
//! built-in jobs are in the `jobs` crate.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::config::Config;
use crate::db::Db;

/// What one run of a job returns: its JSON result, or why it failed.
pub type JobFuture = Pin<Box<dyn Future<Output = Result<Value, JobFailure>> + Send + 'static>>;

/// A job handler. Any `Fn(JobContext) -> impl Future<Output = Result<Value, JobFailure>>`
/// is one, so most modules register an `async fn`.
pub trait Job: Send + Sync + 'static {
    fn run(&self, context: JobContext) -> JobFuture;
}

impl<F, Fut> Job for F
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, JobFailure>> + Send + 'static,
{
    fn run(&self, context: JobContext) -> JobFuture {
        Box::pin(self(context))
    }
}

/// What `UserNotifier::notify_user` returns.
pub type NotifyFuture<'a> = Pin<Box<dyn Future<Output = Result<(), JobFailure>> + Send + 'a>>;

/// How a running job notifies a user: the notification is stored (committed) before the call
/// returns, then pushed to the user's sockets on every instance. A job that notifies and then
/// succeeds has therefore lost nothing, whatever happens to the processes afterwards.
pub trait UserNotifier: Send + Sync + 'static {
    fn notify_user(&self, user_id: i64, payload: Value) -> NotifyFuture<'_>;
}

/// The notifier of a process without a notification service: every call fails for good.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoNotifier;

impl UserNotifier for NoNotifier {
    fn notify_user(&self, _: i64, _: Value) -> NotifyFuture<'_> {
        Box::pin(async {
            Err(JobFailure::permanent(
                "this process has no notification service",
            ))
        })
    }
}

/// Everything one run of a job can reach.
#[derive(Clone)]
pub struct JobContext {
    pub id: i64,
    pub job_type: String,
    pub user_id: i64,
    pub data: Value,
    /// 1 on the first run; fencing token of this run's lease.
    pub attempt: i32,
    pub db: Db,
    pub config: Arc<Config>,
    pub registry: Arc<JobRegistry>,
    pub notifier: Arc<dyn UserNotifier>,
}

impl fmt::Debug for JobContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobContext")
            .field("id", &self.id)
            .field("job_type", &self.job_type)
            .field("attempt", &self.attempt)
            .finish()
    }
}

impl JobContext {
    /// Stores a notification for `user_id` and pushes it to their sockets (see `UserNotifier`).
    pub async fn notify_user(&self, user_id: i64, payload: Value) -> Result<(), JobFailure> {
        self.notifier.notify_user(user_id, payload).await
    }
}

/// Why a run failed. A retryable failure is retried with backoff (or rescheduled, when the job
/// asks for it); a permanent one ends the job at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    pub message: String,
    pub retryable: bool,
}

impl JobFailure {
    pub fn new(message: impl Into<String>) -> JobFailure {
        JobFailure {
            message: message.into(),
            retryable: true,
        }
    }

    pub fn permanent(message: impl Into<String>) -> JobFailure {
        JobFailure {
            message: message.into(),
            retryable: false,
        }
    }
}

impl fmt::Display for JobFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error> From<E> for JobFailure {
    fn from(error: E) -> JobFailure {
        JobFailure::new(error.to_string())
    }
}

/// A recurring job a module wants running: ensured (at most one pending occurrence) at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronRegistration {
    pub job_type: String,
    /// Six fields, seconds first: `*/10 * * * * *`.
    pub schedule: String,
    pub data: Value,
}

/// EVM logs a module wants: every log of `event` emitted by `address` is handed, once, to a
/// job of type `handler` whose data is the log (see the `jobs` crate's `ChainLog`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSubscription {
    /// Stable name; part of each delivery's identity.
    pub name: String,
    /// `0x`-prefixed contract address.
    pub address: String,
    /// Solidity event signature, e.g. `Transfer(address,address,uint256)`.
    pub event: String,
    /// The job type that receives each log.
    pub handler: String,
}

/// Seed 001's queue limiter: at most `max` jobs of a type start per `per` (a fixed window
/// aligned to the Unix epoch), counted across every worker process and instance in the
/// database. Jobs over the limit stay pending, without using an attempt, until a window has
/// room. With `by_key`, each job's rate key (`NewJob::rate_key` in the `jobs` crate) has its
/// own budget; jobs without a key share one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub per: Duration,
    pub by_key: bool,
}

impl RateLimit {
    /// At most `max` starts per `per` for the whole job type.
    pub fn new(max: u32, per: Duration) -> RateLimit {
        RateLimit {
            max,
            per,
            by_key: false,
        }
    }

    /// The same budget for each rate key instead of the whole type.
    pub fn per_key(mut self) -> RateLimit {
        self.by_key = true;
        self
    }
}

/// The job types a binary can run, with the recurring jobs and chain subscriptions modules ask
/// for. Filled once at start by each module's `register_jobs`.
#[derive(Default)]
pub struct JobRegistry {
    handlers: BTreeMap<String, Arc<dyn Job>>,
    rate_limits: BTreeMap<String, RateLimit>,
    crons: Vec<CronRegistration>,
    chain_subscriptions: Vec<ChainSubscription>,
}

impl fmt::Debug for JobRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobRegistry")
            .field("handlers", &self.handlers.keys().collect::<Vec<_>>())
            .field("rate_limits", &self.rate_limits)
            .field("crons", &self.crons)
            .field("chain_subscriptions", &self.chain_subscriptions)
            .finish()
    }
}

impl JobRegistry {
    pub fn new() -> JobRegistry {
        JobRegistry::default()
    }

    /// Registers the handler of `job_type`; a second registration of one type replaces the
    /// first (tests rely on it to swap a handler).
    pub fn register(&mut self, job_type: impl Into<String>, job: impl Job) {
        self.handlers.insert(job_type.into(), Arc::new(job));
    }

    pub fn handler(&self, job_type: &str) -> Option<Arc<dyn Job>> {
        self.handlers.get(job_type).cloned()
    }

    pub fn job_types(&self) -> impl Iterator<Item = &str> {
        self.handlers.keys().map(String::as_str)
    }

    /// Registers `job_type` with a start-rate limit (see `RateLimit`).
    pub fn register_limited(
        &mut self,
        job_type: impl Into<String>,
        job: impl Job,
        limit: RateLimit,
    ) {
        let job_type = job_type.into();
        self.rate_limits.insert(job_type.clone(), limit);
        self.register(job_type, job);
    }

    /// Limits how many jobs of `job_type` start per window (replaces an earlier limit).
    pub fn limit_rate(&mut self, job_type: impl Into<String>, limit: RateLimit) {
        self.rate_limits.insert(job_type.into(), limit);
    }

    pub fn rate_limit(&self, job_type: &str) -> Option<RateLimit> {
        self.rate_limits.get(job_type).copied()
    }

    /// Every limited job type, in name order.
    pub fn rate_limits(&self) -> impl Iterator<Item = (&str, RateLimit)> {
        self.rate_limits.iter().map(|(t, l)| (t.as_str(), *l))
    }

    /// Asks for `job_type` to run on `schedule` (six fields, seconds first).
    pub fn schedule_cron(&mut self, job_type: impl Into<String>, schedule: impl Into<String>) {
        self.crons.push(CronRegistration {
            job_type: job_type.into(),
            schedule: schedule.into(),
            data: Value::Object(Default::default()),
        });
    }

    pub fn crons(&self) -> &[CronRegistration] {
        &self.crons
    }

    pub fn watch_chain_events(&mut self, subscription: ChainSubscription) {
        self.chain_subscriptions.push(subscription);
    }

    pub fn chain_subscriptions(&self) -> &[ChainSubscription] {
        &self.chain_subscriptions
    }
}
