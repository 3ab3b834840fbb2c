//! The parent's side of worker processes: starts `WORKER_COUNT` children (`<program> worker`),
//! reads their events (metrics, user notifications, lease losses), forwards wake-ups on SQLite,
//! restarts a crashed child with backoff, reports them for `/health/ready`, and stops them
//! gracefully.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinSet;

use crate::events::{LocalEvents, ParentMessage, WorkerEvent, WorkerEvents};
use crate::wakeup;

/// A child that lived this long before crashing restarts after the shortest backoff again.
const STABLE_AFTER: Duration = Duration::from_secs(30);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct SupervisorOptions {
    /// The binary to run (normally this one: `std::env::current_exe()`).
    pub program: PathBuf,
    /// Its arguments (`["worker"]`).
    pub args: Vec<String>,
    pub count: usize,
    /// How long running jobs get to finish after a graceful stop (the child's own grace
    /// comes from its `SHUTDOWN_TIMEOUT`; the parent waits a little longer, then kills).
    pub grace: Duration,
    /// Send each child a `wake` line when this process enqueues (SQLite, which has no NOTIFY).
    pub forward_wakeups: bool,
}

/// One child as `/health/ready` reports it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WorkerSlot {
    pub index: usize,
    pub pid: Option<u32>,
    pub ready: bool,
    pub restarts: u32,
}

/// The children's state, shared with the health check.
#[derive(Debug, Clone)]
pub struct WorkersStatus {
    expected: usize,
    slots: Arc<Mutex<Vec<WorkerSlot>>>,
}

impl WorkersStatus {
    pub fn new(expected: usize) -> WorkersStatus {
        WorkersStatus {
            expected,
            slots: Arc::new(Mutex::new(
                (0..expected)
                    .map(|index| WorkerSlot {
                        index,
                        pid: None,
                        ready: false,
                        restarts: 0,
                    })
                    .collect(),
            )),
        }
    }

    fn update(&self, index: usize, change: impl FnOnce(&mut WorkerSlot)) {
        if let Ok(mut slots) = self.slots.lock()
            && let Some(slot) = slots.get_mut(index)
        {
            change(slot);
        }
    }

    pub fn slots(&self) -> Vec<WorkerSlot> {
        self.slots.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The `workers` readiness check: ok when every expected child is up and ready.
    pub fn check(&self) -> Value {
        let slots = self.slots();
        let ready = slots.iter().filter(|s| s.ready).count();
        let mut check = serde_json::json!({
            "ok": ready == self.expected,
            "expected": self.expected,
            "ready": ready,
            "workers": slots,
        });
        if ready != self.expected {
            check["error"] = Value::from(format!(
                "{ready} of {} worker processes ready",
                self.expected
            ));
        }
        check
    }
}

/// Running children. Dropping it kills them; call `stop` for a graceful stop.
#[derive(Debug)]
pub struct Supervisor {
    status: WorkersStatus,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    events: LocalEvents,
}

impl Supervisor {
    /// Starts the children; their events are recorded and forwarded through `events`.
    pub fn start(
        options: SupervisorOptions,
        status: WorkersStatus,
        events: LocalEvents,
    ) -> Supervisor {
        let (stop, _) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let options = Arc::new(options);
        for index in 0..options.count {
            tasks.spawn(supervise(
                index,
                options.clone(),
                status.clone(),
                stop.subscribe(),
                events.clone(),
            ));
        }
        Supervisor {
            status,
            stop,
            tasks,
            events,
        }
    }

    pub fn status(&self) -> &WorkersStatus {
        &self.status
    }

    /// Bus events the children relayed (SQLite), for the owner of this process's bus.
    pub fn relayed_events(&self) -> broadcast::Receiver<platform::bus::BusEvent> {
        self.events.relayed.subscribe()
    }

    /// Asks every child to stop gracefully and waits until they all have.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn supervise(
    index: usize,
    options: Arc<SupervisorOptions>,
    status: WorkersStatus,
    mut stop: watch::Receiver<bool>,
    events: LocalEvents,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        if *stop.borrow() {
            return;
        }
        let spawned = Command::new(&options.program)
            .args(&options.args)
            .env("WORKER_ID", index.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn();
        let started = Instant::now();
        match spawned {
            Ok(child) => {
                let stopped = run_child(index, child, &options, &status, &mut stop, &events).await;
                status.update(index, |slot| {
                    slot.pid = None;
                    slot.ready = false;
                });
                if stopped {
                    return;
                }
                status.update(index, |slot| slot.restarts += 1);
            }
            Err(e) => {
                tracing::error!(target: "worker", index, program = %options.program.display(), error = %e, "cannot start a worker process");
            }
        }
        if started.elapsed() > STABLE_AFTER {
            backoff = MIN_BACKOFF;
        }
        tracing::warn!(target: "worker", index, retry_in_ms = backoff.as_millis() as u64, "restarting worker process");
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Drives one child until it exits; true when it exited because we asked it to stop.
async fn run_child(
    index: usize,
    mut child: Child,
    options: &SupervisorOptions,
    status: &WorkersStatus,
    stop: &mut watch::Receiver<bool>,
    events: &LocalEvents,
) -> bool {
    let pid = child.id();
    status.update(index, |slot| slot.pid = pid);
    tracing::info!(target: "worker", index, pid, "worker process started");
    let mut stdin = child.stdin.take();
    let Some(stdout) = child.stdout.take() else {
        let _ = child.start_kill();
        let _ = child.wait().await;
        return false;
    };
    let mut lines = BufReader::new(stdout).lines();
    let mut wake = wakeup::subscribe();
    let mut reading = true;
    loop {
        tokio::select! {
            exit = child.wait() => {
                match exit {
                    Ok(code) => tracing::warn!(target: "worker", index, pid, %code, "worker process exited"),
                    Err(e) => tracing::warn!(target: "worker", index, pid, error = %e, "worker process lost"),
                }
                return false;
            }
            line = lines.next_line(), if reading => match line {
                Ok(Some(line)) => handle_line(index, &line, status, events),
                Ok(None) | Err(_) => reading = false,
            },
            _ = stop.changed() => {
                stop_child(index, &mut child, stdin.take(), &mut lines, options.grace, status, events).await;
                return true;
            }
            changed = wake.changed(), if options.forward_wakeups => {
                if changed.is_ok() {
                    wake.borrow_and_update();
                    send(&mut stdin, &ParentMessage::Wake).await;
                }
            }
        }
    }
}

async fn stop_child(
    index: usize,
    child: &mut Child,
    mut stdin: Option<ChildStdin>,
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    grace: Duration,
    status: &WorkersStatus,
    events: &LocalEvents,
) {
    send(&mut stdin, &ParentMessage::Shutdown { graceful: true }).await;
    let deadline = tokio::time::sleep(grace + Duration::from_secs(2));
    tokio::pin!(deadline);
    let mut reading = true;
    loop {
        tokio::select! {
            _ = child.wait() => break,
            line = lines.next_line(), if reading => match line {
                Ok(Some(line)) => handle_line(index, &line, status, events),
                Ok(None) | Err(_) => reading = false,
            },
            () = &mut deadline => {
                tracing::warn!(target: "worker", index, "worker process did not stop in time; killing it");
                let _ = child.start_kill();
                let _ = child.wait().await;
                break;
            }
        }
    }
    tracing::info!(target: "worker", index, "worker process stopped");
}

async fn send(stdin: &mut Option<ChildStdin>, message: &ParentMessage) {
    let Some(pipe) = stdin.as_mut() else {
        return;
    };
    let Ok(mut line) = serde_json::to_vec(message) else {
        return;
    };
    line.push(b'\n');
    if pipe.write_all(&line).await.is_err() || pipe.flush().await.is_err() {
        *stdin = None;
    }
}

fn handle_line(index: usize, line: &str, status: &WorkersStatus, events: &LocalEvents) {
    match serde_json::from_str::<WorkerEvent>(line) {
        Ok(WorkerEvent::Ready { pid }) => {
            tracing::info!(target: "worker", index, pid, "worker process ready");
            status.update(index, |slot| slot.ready = true);
        }
        Ok(WorkerEvent::Stopped) => status.update(index, |slot| slot.ready = false),
        Ok(event) => {
            if let WorkerEvent::LeaseLost { job_id, attempt } = &event {
                tracing::warn!(target: "worker", index, job_id, attempt, "lease lost: the worker's late result was rejected");
            }
            if let WorkerEvent::JobCompleted {
                job_id,
                job_type,
                outcome,
                ..
            } = &event
            {
                tracing::debug!(target: "worker", index, job_id, job_type, outcome, "job completed");
            }
            match event {
                WorkerEvent::LeaseLost { .. } => crate::metrics::record(&event),
                other => events.emit(other),
            }
        }
        Err(_) => {
            tracing::warn!(target: "worker", index, line, "unreadable line from a worker process")
        }
    }
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called (not at the
/// first poll), so a signal arriving before the caller awaits it is not lost.
pub fn terminate_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let terminate = signal(SignalKind::terminate()).ok();
        let interrupt = signal(SignalKind::interrupt()).ok();
        async move {
            let wait = |signal: Option<tokio::signal::unix::Signal>| async move {
                match signal {
                    Some(mut signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(terminate) => {}
                () = wait(interrupt) => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
