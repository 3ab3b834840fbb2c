//! Job metrics (Prometheus): enqueued, started, succeeded and failed by type, queue depth, and
//! schedule-to-start latency. Worker processes report over IPC; the parent records.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use platform::Db;

use crate::events::{TypeStats, WorkerEvent};

/// The process-wide Prometheus recorder, installed once; later calls return the same handle.
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
/// This process records metrics (`install` or `install_in_background` was called); worker
/// processes and the CLI never install, and their `record_*` calls stay no-ops.
static WANTED: AtomicBool = AtomicBool::new(false);

/// Installs the process-wide Prometheus recorder once; later calls return the same handle.
pub fn install() -> Option<PrometheusHandle> {
    WANTED.store(true, Ordering::Release);
    HANDLE.get_or_init(build).clone()
}

/// Installs the recorder on a thread of its own, `after` a delay: building it calibrates
/// `quanta`'s clock, which spins a core for 0.5 ms to 200 ms, so a server installs it once it
/// is up rather than while it starts (on one core the spin halves the start's speed). A metric
/// recorded before then installs the recorder itself and is not lost.
pub fn install_in_background(after: std::time::Duration) {
    WANTED.store(true, Ordering::Release);
    let spawned = std::thread::Builder::new()
        .name("metrics-install".to_owned())
        .spawn(move || {
            std::thread::sleep(after);
            HANDLE.get_or_init(build);
        });
    if let Err(e) = spawned {
        tracing::warn!(target: "jobs", error = %e, "no thread for the metrics recorder; installing inline");
        install();
    }
}

/// Before recording: the recorder is in place if this process wants one.
fn ready() {
    if WANTED.load(Ordering::Acquire) {
        HANDLE.get_or_init(build);
    }
}

fn build() -> Option<PrometheusHandle> {
    let builder = PrometheusBuilder::new()
        .set_buckets(&[
            0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            30.0, 60.0,
        ])
        .ok()?;
    match builder.install_recorder() {
        Ok(handle) => Some(handle),
        Err(e) => {
            tracing::warn!(target: "jobs", error = %e, "metrics recorder not installed");
            None
        }
    }
}

pub fn record_enqueued(job_type: &str, count: u64) {
    ready();
    metrics::counter!("jobs_enqueued_total", "type" => job_type.to_owned()).increment(count);
}

/// Turns a worker's event into metrics.
pub fn record(event: &WorkerEvent) {
    ready();
    match event {
        WorkerEvent::JobStarted {
            job_type, wait_ms, ..
        } => {
            metrics::counter!("jobs_started_total", "type" => job_type.clone()).increment(1);
            metrics::histogram!("jobs_schedule_to_start_seconds", "type" => job_type.clone())
                .record(wait_ms.max(0.0) / 1000.0);
        }
        WorkerEvent::JobCompleted {
            job_type, outcome, ..
        } => {
            let name = if outcome == "succeeded" {
                "jobs_succeeded_total"
            } else {
                "jobs_failed_total"
            };
            metrics::counter!(name, "type" => job_type.clone(), "outcome" => outcome.clone())
                .increment(1);
        }
        WorkerEvent::JobsEnqueued { job_type, count } => record_enqueued(job_type, *count),
        WorkerEvent::Stats { job_types } => job_types.iter().for_each(record_stats),
        WorkerEvent::LeaseLost { .. } => metrics::counter!("jobs_lease_lost_total").increment(1),
        WorkerEvent::Ready { .. } | WorkerEvent::Relay { .. } | WorkerEvent::Stopped => {}
    }
}

fn record_stats(stats: &TypeStats) {
    let job_type = &stats.job_type;
    if stats.started > 0 {
        metrics::counter!("jobs_started_total", "type" => job_type.clone())
            .increment(stats.started);
        let latency =
            metrics::histogram!("jobs_schedule_to_start_seconds", "type" => job_type.clone());
        for wait_ms in &stats.waits_ms {
            latency.record(wait_ms.max(0.0) / 1000.0);
        }
    }
    if stats.enqueued > 0 {
        record_enqueued(job_type, stats.enqueued);
    }
    for (outcome, count) in &stats.outcomes {
        let name = if outcome == "succeeded" {
            "jobs_succeeded_total"
        } else {
            "jobs_failed_total"
        };
        metrics::counter!(name, "type" => job_type.clone(), "outcome" => outcome.clone())
            .increment(*count);
    }
}

/// Sets the queue-depth gauges from the database, just before a scrape. A type whose queue has
/// emptied since the last scrape is set to 0, so the gauge never keeps a stale depth.
pub async fn refresh_queue_depth(db: &Db) {
    ready();
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    match crate::service::queue_depth(db).await {
        Ok(depths) => {
            let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
            for job_type in seen.iter() {
                if !depths.iter().any(|(t, _)| t == job_type) {
                    metrics::gauge!("jobs_queue_depth", "type" => job_type.clone()).set(0.0);
                }
            }
            for (job_type, depth) in depths {
                if !seen.contains(&job_type) {
                    seen.push(job_type.clone());
                }
                metrics::gauge!("jobs_queue_depth", "type" => job_type).set(depth as f64);
            }
        }
        Err(e) => tracing::warn!(target: "jobs", error = %e, "queue depth not read"),
    }
}
