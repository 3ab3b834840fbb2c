//! Wake-up on enqueue: an in-process signal every local worker waits on, fed by local enqueues,
//! by the parent's IPC `wake` (SQLite) and by `LISTEN worker_jobs` (PostgreSQL, where
//! `schedule_job` sends `NOTIFY` inside the caller's transaction, delivered at commit).

use std::sync::OnceLock;
use std::time::Duration;

use platform::Db;
use tokio::sync::watch;

/// The PostgreSQL channel `schedule_job` notifies.
pub const CHANNEL: &str = "worker_jobs";

fn sender() -> &'static watch::Sender<u64> {
    static SENDER: OnceLock<watch::Sender<u64>> = OnceLock::new();
    SENDER.get_or_init(|| watch::channel(0).0)
}

/// Tells this process's workers that a job may be due. On SQLite a worker woken before the
/// enqueuing transaction commits blocks on the write lock in its claim, then sees the row.
pub fn signal() {
    sender().send_modify(|count| *count = count.wrapping_add(1));
}

/// A receiver that changes at each `signal`.
pub fn subscribe() -> watch::Receiver<u64> {
    sender().subscribe()
}

/// On PostgreSQL, turns notifications on `worker_jobs` into local signals until the process
/// ends; reconnects with a short backoff (polling covers the gap).
pub fn listen(db: &Db) {
    let Db::Postgres(pool) = db else {
        return;
    };
    let pool = pool.clone();
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(100);
        loop {
            match sqlx::postgres::PgListener::connect_with(&pool).await {
                Ok(mut listener) => {
                    if let Err(e) = listener.listen(CHANNEL).await {
                        tracing::warn!(target: "worker", error = %e, "LISTEN failed");
                    } else {
                        delay = Duration::from_millis(100);
                        // A reconnect may have missed notifications: look once.
                        signal();
                        loop {
                            match listener.recv().await {
                                Ok(_) => signal(),
                                Err(_) if pool.is_closed() => return,
                                Err(e) => {
                                    tracing::warn!(target: "worker", error = %e, "LISTEN connection lost");
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(_) if pool.is_closed() => return,
                Err(e) => {
                    tracing::warn!(target: "worker", error = %e, "cannot open the LISTEN connection")
                }
            }
            if pool.is_closed() {
                return;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    });
}
