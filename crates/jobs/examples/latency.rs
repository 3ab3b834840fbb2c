//! Enqueue-to-start latency on an idle queue (`bench/README.md`, "Jobs"): one
//! `diagnostics.echo` job is enqueued with `jobs::enqueue` every 10 ms (its commit included)
//! and the handler's start is compared with the time taken just before the enqueue. Prints
//! one JSON line: the whole latency, and its two parts: the enqueue (until `jobs::enqueue`
//! returned, its commit included) and commit-to-start (from then to the handler's start: the
//! wake-up, the claim and the spawn).
//!
//! By default a `Runner` in this process runs the jobs, woken by the in-process signal
//! (SQLite) or by `LISTEN/NOTIFY` (PostgreSQL), on a fresh test database. With
//! `LATENCY_DATABASE_URL` set (PostgreSQL), this process only enqueues, into that database,
//! and the worker processes of a `quickdapp serve` on it run the jobs: the enqueuing process,
//! PostgreSQL and the worker are three processes, as a web process and its workers are
//! (`bench/jobs_bench.py latency` runs it so).
//!
//! `cargo run --release -p jobs --example latency -- sqlite|postgres [samples]`

use std::sync::Arc;
use std::time::Duration;

use jobs::domain::NewJob;
use jobs::{Runner, service};
use platform::Db;
use serde_json::json;
use test_support::{Backend, TestDb};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let backend = match args.next().as_deref() {
        Some("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    let samples: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(300);
    let external = std::env::var("LATENCY_DATABASE_URL").ok();
    assert!(
        external.is_none() || backend == Backend::Postgres,
        "LATENCY_DATABASE_URL is for PostgreSQL: on SQLite, workers in another process are \
         woken by their parent's enqueues only"
    );
    // Dropped at the end: the test database goes with it.
    let test_db = match &external {
        Some(_) => None,
        None => Some(TestDb::new(backend).await),
    };
    let url = external
        .clone()
        .unwrap_or_else(|| test_db.as_ref().expect("created").url.clone());
    let db = Db::connect(&url, Duration::from_secs(10))
        .await
        .expect("connects");
    // This process's runner, unless another process's workers run the jobs.
    let mut local = None;
    if external.is_none() {
        let config = test_support::test_config(
            &url,
            "http://localhost:3000",
            &[("JOB_POLL_INTERVAL", "10s"), ("LOG_LEVEL", "warn")],
        );
        db.migrate(&server::modules()).await.expect("migrates");
        let registry = jobs::build_registry(&server::modules(), &config).expect("a valid registry");
        jobs::wakeup::listen(&db);
        let runner = Runner::new(db.clone(), Arc::new(config), Arc::new(registry));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(runner.run(
            async move {
                let _ = stop_rx.await;
            },
            Duration::from_secs(5),
        ));
        local = Some((stop_tx, running));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut ids = Vec::with_capacity(samples);
    let mut committed_at = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = chrono::Utc::now().timestamp_micros();
        let job = jobs::enqueue(
            &db,
            &NewJob::new("diagnostics.echo").data(json!({ "t": t })),
        )
        .await
        .expect("enqueued");
        ids.push(job.id);
        committed_at.push(chrono::Utc::now().timestamp_micros());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut latencies = Vec::with_capacity(samples);
    let mut enqueues = Vec::with_capacity(samples);
    let mut after_commit = Vec::with_capacity(samples);
    for (id, committed) in ids.into_iter().zip(committed_at) {
        let job = loop {
            let job = service::find_job(&db, id).await.expect("found");
            if job.finished.is_some() {
                break job;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let result = job.result.expect("a result").0;
        let started = result["startedAtMicros"].as_i64().expect("a start");
        let enqueued = job.data.0["t"].as_i64().expect("an enqueue time");
        latencies.push((started - enqueued) as f64 / 1000.0);
        enqueues.push((committed - enqueued) as f64 / 1000.0);
        after_commit.push((started - committed) as f64 / 1000.0);
    }
    if let Some((stop_tx, running)) = local {
        let _ = stop_tx.send(());
        running.await.expect("stops").expect("stops cleanly");
    }
    for series in [&mut latencies, &mut enqueues, &mut after_commit] {
        series.sort_by(f64::total_cmp);
    }
    let at = |series: &[f64], p: f64| series[((series.len() - 1) as f64 * p) as usize];
    let q = |p: f64| at(&latencies, p);
    println!(
        "{}",
        json!({
            "backend": format!("{backend:?}").to_lowercase(),
            "samples": latencies.len(),
            "p50_ms": q(0.5),
            "p90_ms": q(0.9),
            "p99_ms": q(0.99),
            "max_ms": q(1.0),
            "enqueue_p50_ms": at(&enqueues, 0.5),
            "commit_to_start_p50_ms": at(&after_commit, 0.5),
        })
    );
}
