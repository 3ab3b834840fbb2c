//! A worker process (`quickdapp worker`): talks to its parent over stdin (`ParentMessage`
//! lines) and stdout (`WorkerEvent` lines), and runs a `Runner` until told to stop, its parent
//! goes away, or it gets SIGTERM/SIGINT. On SQLite it relays its bus events to the parent.

use std::io::{BufRead, Write};
use std::sync::{Arc, mpsc as std_mpsc};

use platform::bus::EventBus;
use platform::job::UserNotifier;
use platform::{Config, Db, JobRegistry};
use tokio::sync::mpsc;

use crate::error::JobsError;
use crate::events::{ParentMessage, TypeStats, WorkerEvent, WorkerEvents};
use crate::wakeup;
use crate::worker::Runner;

/// Events go to stdout, one JSON line each, written in order by one thread that writes
/// whatever has queued up with one system call; the job events of one write are added up
/// into one `stats` line.
struct IpcEvents {
    lines: std_mpsc::Sender<WorkerEvent>,
}

impl WorkerEvents for IpcEvents {
    fn emit(&self, event: WorkerEvent) {
        let _ = self.lines.send(event);
    }
}

/// Runs this process as a worker until it is told to stop; running jobs get
/// `SHUTDOWN_TIMEOUT` to finish, the rest are released. Jobs notify users through `notifier`,
/// which publishes on `bus`; on SQLite that bus is in-process, so its events are relayed to
/// the parent (on PostgreSQL they travel by `NOTIFY` already).
pub async fn run_worker_process(
    config: Arc<Config>,
    db: Db,
    registry: Arc<JobRegistry>,
    notifier: Arc<dyn UserNotifier>,
    bus: Arc<EventBus>,
) -> Result<(), JobsError> {
    let (lines_tx, lines_rx) = std_mpsc::channel::<WorkerEvent>();
    let writer = std::thread::spawn(move || {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
        let write = |out: &mut std::io::BufWriter<_>, event: &WorkerEvent| {
            if serde_json::to_writer(&mut *out, event).is_ok() {
                let _ = out.write_all(b"\n");
            }
        };
        let write_stats = |out: &mut std::io::BufWriter<_>, stats: &mut Vec<TypeStats>| {
            if !stats.is_empty() {
                let job_types = std::mem::take(stats);
                write(out, &WorkerEvent::Stats { job_types });
            }
        };
        let mut stats = Vec::new();
        while let Ok(first) = lines_rx.recv() {
            // Bounded, so a worker that never runs dry still reports.
            for event in std::iter::once(first).chain(lines_rx.try_iter().take(4096)) {
                if !TypeStats::add(&mut stats, &event) {
                    // Whatever happened before this event is reported before it.
                    write_stats(&mut out, &mut stats);
                    write(&mut out, &event);
                }
            }
            write_stats(&mut out, &mut stats);
            if out.flush().is_err() {
                break;
            }
        }
        let _ = out.flush();
    });
    let events = Arc::new(IpcEvents { lines: lines_tx });
    let relay = if let Db::Sqlite(_) = db {
        let relay = events.clone();
        Some(tokio::spawn(platform::bus::forward(
            bus.subscribe(),
            move |event| relay.emit(WorkerEvent::Relay { event }),
        )))
    } else {
        None
    };

    // stdin is read on a plain thread: a blocking read must not hold up the runtime's exit.
    let (stop_tx, mut stop_rx) = mpsc::unbounded_channel::<&'static str>();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            match serde_json::from_str::<ParentMessage>(&line) {
                Ok(ParentMessage::Wake) => wakeup::signal(),
                Ok(ParentMessage::Shutdown { .. }) => {
                    let _ = stop_tx.send("the parent asked");
                }
                Err(e) => {
                    tracing::warn!(target: "worker", error = %e, "unreadable message from the parent")
                }
            }
        }
        let _ = stop_tx.send("the parent closed its pipe");
    });

    wakeup::listen(&db);
    events.emit(WorkerEvent::Ready {
        pid: std::process::id(),
    });
    let grace = config.shutdown_timeout;
    let runner =
        Runner::with_events(db.clone(), config, registry, events.clone()).with_notifier(notifier);
    let signalled = crate::supervisor::terminate_signal();
    let shutdown = async move {
        let reason = tokio::select! {
            reason = stop_rx.recv() => reason.unwrap_or("the parent went away"),
            () = signalled => "a signal",
        };
        tracing::info!(target: "worker", reason, "worker stopping");
    };
    // A task on the runtime's threads, not the `block_on` of `main`: they own the I/O driver,
    // so a loop run there would be handed every notification, claim and finished job through a
    // second thread, a wake-up and a context switch each time.
    let result = match tokio::spawn(runner.run(shutdown, grace)).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(JobsError::Invalid(format!(
            "the job loop was cancelled: {e}"
        ))),
    };
    // The relay holds a sender of the event lines: stop it, or the writer never finishes.
    if let Some(relay) = relay {
        relay.abort();
        let _ = relay.await;
    }
    events.emit(WorkerEvent::Stopped);
    drop(events);
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    db.close().await;
    result
}
