//! Jobs (seed 000 "Worker System", seed 001 "Queue System"): the durable queue on
//! `worker_jobs` (leases, fencing, retries, idempotency, cron), the runner, worker processes and
//! their supervisor, job metrics, the operator's commands and endpoint, the built-in jobs
//! (`removeOldWorkerJobs`, `watchChain`, `diagnostics.*`), and the single runner of periodic
//! cycles across instances (seed 004's "Global Manager").

pub mod builtin;
pub mod chain;
pub mod cli;
pub mod conn;
pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod process;
pub mod service;
pub mod store;
pub mod supervisor;
pub mod wakeup;
pub mod worker;

use platform::{Config, JobRegistry, Migration, Module, migration};

pub use conn::{Conn, Pooled, Tx};
pub use domain::{CronSchedule, JobStatus, NewJob, Outcome, WorkerJob};
pub use error::JobsError;
pub use events::{LocalEvents, WorkerEvent};
pub use leader::{Cycle, CycleKey, CycleRun, SingleRunner};
pub use service::{Claimed, RateLimits, enqueue, schedule_cron_job, schedule_job};
pub use supervisor::{Supervisor, SupervisorOptions, WorkersStatus};
pub use worker::{Ran, RunOutcome, Runner};

pub const MIGRATIONS: &[Migration] = &[
    migration!(202611210201, "worker jobs", "202611210201_worker_jobs"),
    migration!(
        202611220201,
        "job leases, attempts, priority, idempotency and cron tick keys",
        "202611220201_job_leases"
    ),
    migration!(
        202611220202,
        "chain deliveries",
        "202611220202_chain_deliveries"
    ),
    migration!(
        202611220203,
        "partial remove_at and cron tick key indexes",
        "202611220203_lean_job_indexes"
    ),
    migration!(
        202611220204,
        "job rate limits",
        "202611220204_job_rate_limits"
    ),
    migration!(202611220205, "single runner", "202611220205_single_runner"),
];

pub fn module() -> Module {
    Module {
        name: "jobs",
        migrations: MIGRATIONS,
        provide: platform::module::provides_nothing,
        routes: platform::module::no_routes,
        register_jobs: builtin::register,
    }
}

/// The registry every module filled, checked: each cron pattern parses and names a registered
/// job type.
pub fn build_registry(modules: &[Module], config: &Config) -> Result<JobRegistry, JobsError> {
    let mut registry = JobRegistry::new();
    for module in modules {
        (module.register_jobs)(&mut registry, config);
    }
    for cron in registry.crons() {
        CronSchedule::parse(&cron.schedule)?;
        if registry.handler(&cron.job_type).is_none() {
            return Err(JobsError::UnknownJobType(cron.job_type.clone()));
        }
    }
    for (job_type, limit) in registry.rate_limits() {
        if registry.handler(job_type).is_none() {
            return Err(JobsError::UnknownJobType(job_type.to_owned()));
        }
        if limit.max == 0
            || limit.per < std::time::Duration::from_millis(1)
            || limit.per > std::time::Duration::from_secs(24 * 24 * 3600)
        {
            return Err(JobsError::Invalid(format!(
                "the rate limit of {job_type:?} must allow at least 1 job per window of 1 ms to 24 days"
            )));
        }
    }
    for subscription in registry.chain_subscriptions() {
        if registry.handler(&subscription.handler).is_none() {
            return Err(JobsError::UnknownJobType(subscription.handler.clone()));
        }
    }
    Ok(registry)
}
