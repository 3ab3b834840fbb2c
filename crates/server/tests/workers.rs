//! Worker processes of the real `quickdapp` binary: jobs run in supervised children that report
//! in `/health/ready`; a SIGKILLed worker's job completes elsewhere after its lease, once; a
//! SIGSTOPped worker's late completion is rejected; a `kill -9` of the whole server loses none
//! of 1,000 pending jobs; three instances fire each cron tick once; SIGTERM lets a running job
//! finish; a job's notification is committed by the worker itself, so it survives a frozen and
//! killed parent and reaches the user's socket live or after a restart. Everything on
//! 127.0.0.1, bounded in time, and stopped at the end.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use jobs::domain::{JobStatus, NewJob};
use jobs::service::{self, JobFilter};
use platform::Db;
use serde_json::{Value, json};
use test_support::{Backend, TestDb, TestWallet, both_backends};
use tokio_tungstenite::tungstenite::Message;

const KEY: &str = "test-session-key-0123456789abcdef0123456789abcdef";

/// A `quickdapp serve` child process with its stderr collected.
struct Server {
    child: Child,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
    client: reqwest::Client,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Server {
    fn start(database_url: &str, env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let port_text = port.to_string();
        let dir = std::env::temp_dir();
        let mut command = Command::new(env!("CARGO_BIN_EXE_quickdapp"));
        command
            .arg("serve")
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("APP_MODE", "test")
            .env("HOST", "127.0.0.1")
            .env("PORT", &port_text)
            .env("BASE_URL", format!("http://127.0.0.1:{port}"))
            .env("DATABASE_URL", database_url)
            .env("SESSION_ENCRYPTION_KEY", KEY)
            .env("LOG_LEVEL", "info")
            .env("JOB_POLL_INTERVAL", "200ms")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("quickdapp starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = log.clone();
        let echo = std::env::var_os("TEST_LOG").is_some();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if echo {
                    eprintln!("[server] {line}");
                }
                if let Ok(mut lines) = sink.lock() {
                    lines.push(line);
                }
            }
        });
        Server {
            child,
            port,
            log,
            client: reqwest::Client::new(),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn readiness(&self) -> Option<Value> {
        let response = self
            .client
            .get(format!("http://127.0.0.1:{}/health/ready", self.port))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        response.json().await.ok()
    }

    /// Waits until `/health/ready` reports `count` ready workers; returns their pids.
    async fn wait_ready(&self, count: usize) -> Vec<u32> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(body) = self.readiness().await {
                let workers = &body["checks"]["workers"];
                if workers["ready"] == json!(count) && body["status"] == "ready" {
                    return workers["workers"]
                        .as_array()
                        .map(|w| {
                            w.iter()
                                .filter_map(|slot| slot["pid"].as_u64())
                                .filter_map(|pid| u32::try_from(pid).ok())
                                .collect()
                        })
                        .unwrap_or_default();
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the workers did not get ready:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn logged(&self, needle: &[&str]) -> bool {
        self.log.lock().is_ok_and(|lines| {
            lines
                .iter()
                .any(|line| needle.iter().all(|part| line.contains(part)))
        })
    }

    fn log_text(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    async fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("waitable") {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the server did not exit:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Its workers stop by themselves when the parent's pipe closes.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} {pid}");
}

/// Polls `condition` every 20 ms until it holds, failing after `within`.
async fn wait_for<F, Fut>(what: &str, within: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn connect(test_db: &TestDb) -> Db {
    let db = Db::connect(&test_db.url, Duration::from_secs(10))
        .await
        .expect("connects");
    db.migrate(&server::modules()).await.expect("migrated");
    db
}

async fn job(db: &Db, id: i64) -> jobs::WorkerJob {
    service::find_job(db, id).await.expect("the job exists")
}

/// The pid of the worker process holding a running job (`locked_by` is `<pid>-<uuid>`).
fn holder_pid(job: &jobs::WorkerJob) -> u32 {
    job.locked_by
        .as_deref()
        .and_then(|l| l.split('-').next())
        .and_then(|pid| pid.parse().ok())
        .expect("a running job names its worker")
}

async fn worker_processes_run_jobs_and_report_in_readiness(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let server = Server::start(
        &test_db.url,
        &[("WORKER_COUNT", "2"), ("LOG_LEVEL", "info,worker=debug")],
    );
    let pids = server.wait_ready(2).await;
    assert_eq!(pids.len(), 2);
    let db = connect(&test_db).await;
    let enqueued = jobs::enqueue(
        &db,
        &NewJob::new("diagnostics.echo").data(json!({ "hello": "worker" })),
    )
    .await
    .expect("enqueued");
    wait_for("the job to finish", Duration::from_secs(10), || async {
        job(&db, enqueued.id).await.finished.is_some()
    })
    .await;
    let done = job(&db, enqueued.id).await;
    assert_eq!(done.status(), JobStatus::Succeeded);
    let result = done.result.expect("a result").0;
    assert_eq!(result["data"]["hello"], "worker");
    let ran_in = u32::try_from(result["pid"].as_u64().expect("pid")).expect("pid");
    assert!(
        pids.contains(&ran_in),
        "ran in a worker process {ran_in} of {pids:?}"
    );
    assert_ne!(ran_in, server.pid(), "not in the web process");

    let metrics = server
        .client
        .get(format!("http://127.0.0.1:{}/metrics", server.port))
        .send()
        .await
        .expect("answers")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("jobs_succeeded_total{type=\"diagnostics.echo\",outcome=\"succeeded\"} 1"),
        "worker events reach the parent's metrics:\n{metrics}"
    );
    assert!(
        metrics.contains("jobs_schedule_to_start_seconds"),
        "{metrics}"
    );
    db.close().await;
}

async fn a_killed_worker_is_restarted_and_its_job_completes_elsewhere_once(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let server = Server::start(&test_db.url, &[("WORKER_COUNT", "2"), ("JOB_LEASE", "1s")]);
    server.wait_ready(2).await;
    let db = connect(&test_db).await;
    let enqueued = jobs::enqueue(
        &db,
        &NewJob::new("diagnostics.sleep").data(json!({ "ms": 1500 })),
    )
    .await
    .expect("enqueued");
    wait_for("the job to start", Duration::from_secs(10), || async {
        job(&db, enqueued.id).await.status() == JobStatus::Running
    })
    .await;
    let victim = holder_pid(&job(&db, enqueued.id).await);
    signal(victim, "KILL");

    wait_for(
        "the job to finish elsewhere",
        Duration::from_secs(15),
        || async { job(&db, enqueued.id).await.finished.is_some() },
    )
    .await;
    let done = job(&db, enqueued.id).await;
    assert_eq!(done.status(), JobStatus::Succeeded, "{done:#?}");
    assert_eq!(done.attempts, 2, "run once more after the lease expired");
    let result = done.result.expect("a result").0;
    assert_ne!(result["pid"], json!(victim), "completed by another worker");
    assert_eq!(result["attempt"], 2);

    // The supervisor restarted the killed child.
    wait_for("the restart", Duration::from_secs(15), || async {
        server.readiness().await.is_some_and(|body| {
            let workers = &body["checks"]["workers"];
            workers["ready"] == 2
                && workers["workers"]
                    .as_array()
                    .is_some_and(|w| w.iter().any(|slot| slot["restarts"] == 1))
        })
    })
    .await;
    db.close().await;
}

async fn a_stopped_worker_past_its_lease_has_its_late_completion_rejected(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let server = Server::start(&test_db.url, &[("WORKER_COUNT", "2"), ("JOB_LEASE", "1s")]);
    server.wait_ready(2).await;
    let db = connect(&test_db).await;
    let enqueued = jobs::enqueue(
        &db,
        &NewJob::new("diagnostics.sleep").data(json!({ "ms": 1200 })),
    )
    .await
    .expect("enqueued");
    wait_for("the job to start", Duration::from_secs(10), || async {
        job(&db, enqueued.id).await.status() == JobStatus::Running
    })
    .await;
    let frozen = holder_pid(&job(&db, enqueued.id).await);
    signal(frozen, "STOP");

    wait_for(
        "another worker to finish it",
        Duration::from_secs(15),
        || async { job(&db, enqueued.id).await.finished.is_some() },
    )
    .await;
    let done = job(&db, enqueued.id).await;
    assert_eq!(done.status(), JobStatus::Succeeded);
    assert_eq!(done.attempts, 2);
    let winner = done.result.clone().expect("a result").0["pid"].clone();
    assert_ne!(winner, json!(frozen));

    signal(frozen, "CONT");
    let job_field = format!("job_id={}", enqueued.id);
    wait_for(
        "the late run to be fenced out",
        Duration::from_secs(15),
        || async { server.logged(&["lease lost", &job_field]) },
    )
    .await;
    let after = job(&db, enqueued.id).await;
    assert_eq!(after.result.expect("a result").0["pid"], winner);
    assert_eq!(after.attempts, 2);
    assert_eq!(
        after.finished, done.finished,
        "the row was not touched again"
    );
    db.close().await;
}

async fn killing_the_whole_server_loses_none_of_1000_pending_jobs(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = connect(&test_db).await;
    let env = [
        ("WORKER_COUNT", "2"),
        ("JOB_LEASE", "1s"),
        ("JOB_CONCURRENCY", "4"),
    ];
    let mut first = Server::start(&test_db.url, &env);
    first.wait_ready(2).await;
    let mut tx = jobs::Tx::begin(&db).await.expect("a transaction");
    let mut ids = Vec::new();
    for i in 0..1000 {
        let job = jobs::schedule_job(
            &mut tx.conn(),
            &NewJob::new("diagnostics.sleep").data(json!({ "ms": 5, "n": i })),
        )
        .await
        .expect("enqueued");
        ids.push(job.id);
    }
    tx.commit().await.expect("committed");

    wait_for("some jobs to finish", Duration::from_secs(30), || async {
        service::unfinished_count(&db).await.expect("counted") <= 981
    })
    .await;
    let children = first.wait_ready(2).await;
    signal(first.pid(), "KILL");
    first.wait_exit(Duration::from_secs(5)).await;
    let left = service::unfinished_count(&db).await.expect("counted");
    assert!(left > 100, "killed with most jobs pending ({left} left)");

    // The orphaned workers stop by themselves (their parent's pipe closed).
    wait_for(
        "the orphaned workers to exit",
        Duration::from_secs(20),
        || async {
            children.iter().all(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map_or(true, |stat| stat.contains(") Z "))
            })
        },
    )
    .await;

    let second = Server::start(&test_db.url, &env);
    second.wait_ready(2).await;
    wait_for("every job to finish", Duration::from_secs(60), || async {
        service::unfinished_count(&db).await.expect("counted") == 1
    })
    .await;
    for id in ids {
        let done = job(&db, id).await;
        assert_eq!(done.status(), JobStatus::Succeeded, "{done:#?}");
    }
    let pending = service::list_jobs(
        &db,
        &JobFilter {
            status: Some(JobStatus::Pending),
            ..JobFilter::default()
        },
    )
    .await
    .expect("listed");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].job_type, "removeOldWorkerJobs");
    drop(second);
    db.close().await;
}

async fn sigterm_lets_a_running_job_finish(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let mut server = Server::start(
        &test_db.url,
        &[("WORKER_COUNT", "1"), ("SHUTDOWN_TIMEOUT", "5s")],
    );
    server.wait_ready(1).await;
    let db = connect(&test_db).await;
    let enqueued = jobs::enqueue(
        &db,
        &NewJob::new("diagnostics.sleep").data(json!({ "ms": 700 })),
    )
    .await
    .expect("enqueued");
    wait_for("the job to start", Duration::from_secs(10), || async {
        job(&db, enqueued.id).await.status() == JobStatus::Running
    })
    .await;
    signal(server.pid(), "TERM");
    let status = server.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "clean exit: {status:?}");
    assert_eq!(job(&db, enqueued.id).await.status(), JobStatus::Succeeded);
    assert!(
        server.logged(&["worker process stopped"]) && !server.logged(&["did not stop in time"]),
        "the worker stopped by itself, not killed:\n{}",
        server.log_text()
    );
    db.close().await;
}

/// Runs `quickdapp jobs <args>` against `database_url`; returns stdout, failing on a non-zero exit.
fn jobs_cli(database_url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_quickdapp"))
        .arg("jobs")
        .args(args)
        .current_dir(std::env::temp_dir())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("APP_MODE", "test")
        .env("DATABASE_URL", database_url)
        .env("SESSION_ENCRYPTION_KEY", KEY)
        .env("LOG_LEVEL", "warn")
        .output()
        .expect("quickdapp runs")
}

fn json_of(output: &std::process::Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

async fn operators_manage_jobs_from_the_command_line(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let url = test_db.url.clone();
    let created = json_of(&jobs_cli(
        &url,
        &[
            "enqueue",
            "diagnostics.echo",
            r#"{"x":1}"#,
            "--delay",
            "1h",
            "--user",
            "3",
        ],
    ));
    assert_eq!(created["status"], "pending");
    assert_eq!(created["userId"], 3);
    let id = created["id"].as_i64().expect("an id").to_string();

    let shown = json_of(&jobs_cli(&url, &["show", &id]));
    assert_eq!(shown["data"]["x"], 1);
    let listed = jobs_cli(&url, &["list", "--status", "pending"]);
    assert!(listed.status.success());
    let table = String::from_utf8_lossy(&listed.stdout);
    assert!(table.contains("diagnostics.echo"), "{table}");

    let retry_early = jobs_cli(&url, &["retry", &id]);
    assert!(
        !retry_early.status.success(),
        "a pending job cannot be retried"
    );
    assert!(String::from_utf8_lossy(&retry_early.stderr).contains("has not finished"));

    let cancelled = json_of(&jobs_cli(&url, &["cancel", &id]));
    assert_eq!(cancelled["status"], "cancelled");
    let retried = json_of(&jobs_cli(&url, &["retry", &id]));
    assert_eq!(retried["rescheduledFromJob"].to_string(), id);

    let unknown = jobs_cli(&url, &["enqueue", "no.such.job"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no handler"));
    let cron = json_of(&jobs_cli(
        &url,
        &["enqueue", "diagnostics.noop", "--cron", "0 */5 * * * *"],
    ));
    assert_eq!(cron["cronSchedule"], "0 */5 * * * *");
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl Server {
    /// Signs `wallet` in over HTTP (SIWE, bearer mode); returns the access token and user id.
    async fn sign_in(&self, wallet: &TestWallet) -> (String, i64) {
        let base = format!("http://127.0.0.1:{}", self.port);
        let nonce: Value = self
            .client
            .get(format!("{base}/auth/nonce"))
            .send()
            .await
            .expect("GET /auth/nonce")
            .json()
            .await
            .expect("json");
        let nonce = nonce["nonce"].as_str().expect("a nonce");
        let message = wallet.siwe_fields(&base, 1, nonce).render();
        let body: Value = self
            .client
            .post(format!("{base}/auth/siwe"))
            .json(&json!({ "message": message, "signature": wallet.sign_message(&message) }))
            .send()
            .await
            .expect("POST /auth/siwe")
            .json()
            .await
            .expect("json");
        let token = body["token"].as_str().expect("a token").to_owned();
        (token, body["user"]["id"].as_i64().expect("a user id"))
    }

    /// A socket signed in as the token's user, replaying everything after `since`.
    async fn socket(&self, token: &str, since: i64) -> Socket {
        let url = format!("ws://127.0.0.1:{}/api/ws", self.port);
        let mut socket = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects")
            .0;
        let hello =
            json!({ "type": "user_authenticated", "data": { "token": token, "since": since } });
        socket
            .send(Message::text(hello.to_string()))
            .await
            .expect("sent");
        socket
    }
}

/// The next message of type `kind` on `socket` (at most 10 s).
async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} message within 10 s"))
            .expect("the socket stays open")
            .expect("a frame");
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(text.as_str()).expect("JSON");
            if std::env::var_os("TEST_LOG").is_some() {
                eprintln!("[socket] {value}");
            }
            if value["type"] == kind {
                return value;
            }
        }
    }
}

async fn a_jobs_notification_is_stored_by_its_worker_and_survives_the_parent(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let wallet = TestWallet::from_seed(71);
    let mut server = Server::start(&test_db.url, &[("WORKER_COUNT", "1")]);
    server.wait_ready(1).await;
    let db = connect(&test_db).await;
    let (token, user_id) = server.sign_in(&wallet).await;
    let notify = |message: &str| {
        NewJob::new("diagnostics.notifyUser")
            .user(user_id)
            .data(json!({ "message": message }))
    };

    // Live: the worker stores it, and it reaches the socket the parent holds.
    let mut socket = server.socket(&token, 0).await;
    next_of(&mut socket, "user_authenticated").await;
    jobs::enqueue(&db, &notify("first"))
        .await
        .expect("enqueued");
    let first = next_of(&mut socket, "notification").await;
    assert_eq!(first["data"]["data"]["message"], "first", "{first}");
    assert_eq!(first["data"]["seq"], 1);

    // The parent frozen, then killed: the worker's job still commits its notification...
    signal(server.pid(), "STOP");
    let second = jobs::enqueue(&db, &notify("second"))
        .await
        .expect("enqueued");
    wait_for(
        "the job to succeed while the parent is frozen",
        Duration::from_secs(10),
        || async { job(&db, second.id).await.status() == JobStatus::Succeeded },
    )
    .await;
    signal(server.pid(), "KILL");
    server.wait_exit(Duration::from_secs(10)).await;
    drop(socket);

    // ...and the user gets it from the next server, after the one they saw. (Its port, so its
    // token audience, differs: the user signs in again.)
    let server = Server::start(&test_db.url, &[("WORKER_COUNT", "0")]);
    server.wait_ready(0).await;
    let (token, same_user) = server.sign_in(&wallet).await;
    assert_eq!(same_user, user_id);
    let mut socket = server.socket(&token, 1).await;
    let replayed = next_of(&mut socket, "notification").await;
    assert_eq!(replayed["data"]["data"]["message"], "second", "{replayed}");
    assert_eq!(replayed["data"]["seq"], 2);
    db.close().await;
}

both_backends!(
    a_jobs_notification_is_stored_by_its_worker_and_survives_the_parent,
    operators_manage_jobs_from_the_command_line,
    worker_processes_run_jobs_and_report_in_readiness,
    a_killed_worker_is_restarted_and_its_job_completes_elsewhere_once,
    a_stopped_worker_past_its_lease_has_its_late_completion_rejected,
    killing_the_whole_server_loses_none_of_1000_pending_jobs,
    sigterm_lets_a_running_job_finish,
);

/// Three instances (one of them workers-only) share one PostgreSQL database and a cron
/// schedule firing every second: each tick is enqueued and run exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_on_three_instances_enqueues_each_tick_once() {
    let test_db = TestDb::new(Backend::Postgres).await;
    let db = connect(&test_db).await;
    let instances = [
        Server::start(&test_db.url, &[("WORKER_COUNT", "1")]),
        Server::start(&test_db.url, &[("WORKER_COUNT", "1")]),
        Server::start(
            &test_db.url,
            &[("WORKER_COUNT", "1"), ("WEB_ENABLED", "false")],
        ),
    ];
    instances[0].wait_ready(1).await;
    instances[1].wait_ready(1).await;
    wait_for(
        "the workers-only instance",
        Duration::from_secs(20),
        || async { instances[2].logged(&["worker process ready"]) },
    )
    .await;
    for _ in 0..3 {
        let mut pooled = jobs::Pooled::acquire(&db).await.expect("a connection");
        jobs::schedule_cron_job(
            &mut pooled.conn(),
            &NewJob::new("diagnostics.echo"),
            "* * * * * *",
        )
        .await
        .expect("scheduled");
    }
    let ticks = |db: Db| async move {
        service::list_jobs(
            &db,
            &JobFilter {
                job_type: Some("diagnostics.echo".into()),
                limit: Some(500),
                ..JobFilter::default()
            },
        )
        .await
        .expect("listed")
    };
    wait_for("four ticks to run", Duration::from_secs(20), || {
        let db = db.clone();
        async move {
            ticks(db)
                .await
                .iter()
                .filter(|j| j.status() == JobStatus::Succeeded)
                .count()
                >= 4
        }
    })
    .await;
    drop(instances);

    let all = ticks(db.clone()).await;
    let mut dues: Vec<_> = all.iter().map(|j| j.due).collect();
    dues.sort();
    dues.dedup();
    assert_eq!(dues.len(), all.len(), "a tick enqueued twice: {all:#?}");
    let unfinished = all.iter().filter(|j| j.finished.is_none()).count();
    assert!(
        unfinished <= 1,
        "one pending occurrence at a time: {all:#?}"
    );
    for job in &all {
        assert_eq!(job.due.timestamp_subsec_millis(), 0, "on a whole second");
        assert!(job.attempts <= 1, "no tick ran twice: {job:#?}");
    }
    let cleanup = service::list_jobs(
        &db,
        &JobFilter {
            job_type: Some("removeOldWorkerJobs".into()),
            ..JobFilter::default()
        },
    )
    .await
    .expect("listed");
    assert_eq!(cleanup.len(), 1, "three instances ensured one cleanup job");
    db.close().await;
}

/// The job and chain variables are validated with the rest of the configuration.
#[test]
fn invalid_job_variables_are_each_reported() {
    let output = Command::new(env!("CARGO_BIN_EXE_quickdapp"))
        .args(["config", "check"])
        .current_dir(std::env::temp_dir())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SESSION_ENCRYPTION_KEY", KEY)
        .env("JOB_LEASE", "10ms")
        .env("JOB_CONCURRENCY", "0")
        .env("JOB_ACK_BATCH", "many")
        .env("JOB_RETRY_DELAY", "soon")
        .env("CHAIN_RPC_ENDPOINT", "ftp://node.example")
        .env("CHAIN_BLOCK_RANGE", "0")
        .env("CHAIN_POLL_SCHEDULE", "*/5 * * * *")
        .output()
        .expect("quickdapp runs");
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    for name in [
        "JOB_LEASE",
        "JOB_CONCURRENCY",
        "JOB_ACK_BATCH",
        "JOB_RETRY_DELAY",
        "CHAIN_RPC_ENDPOINT",
        "CHAIN_BLOCK_RANGE",
        "CHAIN_POLL_SCHEDULE",
    ] {
        assert!(message.contains(name), "{name} missing from:\n{message}");
    }
}
