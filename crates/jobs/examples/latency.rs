//! Enqueue-to-start latency inside one process (`bench/README.md`, "Jobs"): a `Runner` waits
//! on an idle queue; every 10 ms one `diagnostics.echo` job is enqueued with `jobs::enqueue`
//! (its commit included) and the handler's start is compared with the time taken just before
//! the enqueue. The worker is woken by the in-process signal (SQLite) or by `LISTEN/NOTIFY`
//! (PostgreSQL). Prints one JSON line: the whole latency, and its two parts: the enqueue
//! (until `jobs::enqueue` returned, its commit included) and commit-to-start (from then to the
//! handler's start: the wake-up, the claim and the spawn).
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
    let test_db = TestDb::new(backend).await;
    let config = test_support::test_config(
        &test_db.url,
        "http://localhost:3000",
        &[("JOB_POLL_INTERVAL", "10s"), ("LOG_LEVEL", "warn")],
    );
    let db = Db::connect(&test_db.url, Duration::from_secs(10))
        .await
        .expect("connects");
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
    let _ = stop_tx.send(());
    running.await.expect("stops").expect("stops cleanly");
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
