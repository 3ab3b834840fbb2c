//! `EventBus`: events that must reach every instance (a stored notification, a revoked
//! session). On PostgreSQL they travel through `LISTEN/NOTIFY` on one channel (and a
//! `NOTIFY` issued inside a transaction is delivered only if it commits); on SQLite, where
//! there is one instance, through an in-process broadcast.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::db::{Db, Tx};

/// The PostgreSQL channel every instance listens on.
pub const CHANNEL: &str = "quickdapp_events";

/// Events a subscriber may fall behind by before it lags (a lag is logged and skipped).
/// tokio's broadcast allocates and writes every slot up front (80 bytes each): 8192 slots cost
/// 0.65 MB and 160 page faults per channel at every start; 2048 still holds twice the largest
/// burst the tests send (1,000 notifications).
pub const CAPACITY: usize = 2048;

/// One event: a topic and a small JSON payload (ids, never whole rows: NOTIFY payloads are
/// limited to 8000 bytes and receivers read the rows they need).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusEvent {
    pub topic: String,
    pub payload: serde_json::Value,
}

/// Hands every event `from` receives to `to` until its sender is gone; a lag is logged and
/// skipped (sockets recover what a lost event announced on their next heartbeat).
pub async fn forward(mut from: broadcast::Receiver<BusEvent>, mut to: impl FnMut(BusEvent)) {
    loop {
        match from.recv().await {
            Ok(event) => to(event),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(target: "bus", missed, "events not forwarded");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

#[derive(Debug)]
pub struct EventBus {
    db: Db,
    local: broadcast::Sender<BusEvent>,
}

impl EventBus {
    /// Starts the bus; on PostgreSQL it spawns the listener task (sqlx's `PgListener`
    /// reconnects by itself after a connection loss).
    pub async fn start(db: Db) -> Result<Arc<EventBus>, sqlx::Error> {
        let (local, _) = broadcast::channel(CAPACITY);
        let bus = Arc::new(EventBus {
            db: db.clone(),
            local,
        });
        if let Db::Postgres(pool) = &db {
            let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
            listener.listen(CHANNEL).await?;
            let sender = bus.local.clone();
            let pool = pool.clone();
            tokio::spawn(async move {
                loop {
                    match listener.recv().await {
                        Ok(notification) => {
                            match serde_json::from_str::<BusEvent>(notification.payload()) {
                                Ok(event) => {
                                    let _ = sender.send(event);
                                }
                                Err(e) => {
                                    tracing::warn!(target: "bus", error = %e, "ignoring a malformed event")
                                }
                            }
                        }
                        Err(_) if pool.is_closed() => return,
                        Err(e) => {
                            tracing::warn!(target: "bus", error = %e, "event listener lost its connection; reconnecting");
                            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        }
                    }
                }
            });
        }
        Ok(bus)
    }

    /// A bus that publishes but does not listen to other instances (a worker process: its
    /// subscribers see only what it publishes itself, on SQLite).
    pub fn publisher(db: Db) -> Arc<EventBus> {
        Arc::new(EventBus {
            db,
            local: broadcast::channel(CAPACITY).0,
        })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<BusEvent> {
        self.local.subscribe()
    }

    /// Publishes now (outside any transaction).
    pub async fn publish(&self, event: BusEvent) -> Result<(), sqlx::Error> {
        match &self.db {
            Db::Postgres(pool) => {
                let payload = serde_json::to_string(&event).unwrap_or_default();
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(payload)
                    .execute(pool)
                    .await?;
            }
            Db::Sqlite(_) => {
                let _ = self.local.send(event);
            }
        }
        Ok(())
    }

    /// Publishes when `tx` commits. On PostgreSQL the `NOTIFY` joins the transaction; on
    /// SQLite the caller gets the event back to `publish_local` after its commit.
    pub async fn publish_in(
        &self,
        tx: &mut Tx,
        event: BusEvent,
    ) -> Result<Option<BusEvent>, sqlx::Error> {
        match tx {
            Tx::Postgres(tx) => {
                let payload = serde_json::to_string(&event).unwrap_or_default();
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(payload)
                    .execute(&mut **tx)
                    .await?;
                Ok(None)
            }
            Tx::Sqlite(_) => Ok(Some(event)),
        }
    }

    /// Delivers an event to this instance only (SQLite after commit, or an event a worker
    /// process forwarded to its parent).
    pub fn publish_local(&self, event: BusEvent) {
        let _ = self.local.send(event);
    }
}
