//! Connections and transactions over either backend (`Conn`, `Tx`), so that `store.rs` writes
//! each statement once; times are bound as `platform::Timestamp`.

use std::sync::OnceLock;

use platform::Db;
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, Postgres, Sqlite, SqliteConnection, Transaction};
use tokio::sync::{Mutex, MutexGuard};

/// A connection the caller lends: its open transaction (so a job is enqueued atomically with
/// the caller's writes) or a pooled connection.
#[derive(Debug)]
pub enum Conn<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
}

impl<'c> From<&'c mut SqliteConnection> for Conn<'c> {
    fn from(conn: &'c mut SqliteConnection) -> Conn<'c> {
        Conn::Sqlite(conn)
    }
}

impl<'c> From<&'c mut PgConnection> for Conn<'c> {
    fn from(conn: &'c mut PgConnection) -> Conn<'c> {
        Conn::Postgres(conn)
    }
}

impl Conn<'_> {
    /// A shorter borrow of the same connection, for the next statement.
    pub fn reborrow(&mut self) -> Conn<'_> {
        match self {
            Conn::Sqlite(c) => Conn::Sqlite(c),
            Conn::Postgres(c) => Conn::Postgres(c),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Conn::Postgres(_))
    }
}

/// Runs the same tokens against whichever backend `conn` is on; `$c` is the native connection.
macro_rules! on_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::conn::Conn::Sqlite($c) => $body,
            $crate::conn::Conn::Postgres($c) => $body,
        }
    };
}
pub(crate) use on_conn;

/// A pooled connection without a transaction (each statement commits by itself).
#[derive(Debug)]
pub enum Pooled {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

impl Pooled {
    pub async fn acquire(db: &Db) -> Result<Pooled, sqlx::Error> {
        Ok(match db {
            Db::Sqlite(pool) => Pooled::Sqlite(pool.acquire().await?),
            Db::Postgres(pool) => Pooled::Postgres(pool.acquire().await?),
        })
    }

    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Pooled::Sqlite(c) => Conn::Sqlite(c),
            Pooled::Postgres(c) => Conn::Postgres(c),
        }
    }
}

/// One job-queue writer at a time per process on SQLite. Two connections of one process that
/// both write would otherwise meet SQLite's busy handler, which sleeps a millisecond or more
/// per conflict; queueing here costs microseconds.
pub fn sqlite_write_gate() -> &'static Mutex<()> {
    static GATE: OnceLock<Mutex<()>> = OnceLock::new();
    GATE.get_or_init(|| Mutex::new(()))
}

/// A write transaction. On SQLite it starts with `BEGIN IMMEDIATE` (a deferred transaction that
/// reads and then writes fails with "database is locked" under concurrency) and holds this
/// process's write gate until it ends.
#[derive(Debug)]
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>, MutexGuard<'static, ()>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    pub async fn begin(db: &Db) -> Result<Tx, sqlx::Error> {
        Ok(match db {
            Db::Sqlite(pool) => {
                let gate = sqlite_write_gate().lock().await;
                Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?, gate)
            }
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Tx::Sqlite(tx, _) => Conn::Sqlite(tx),
            Tx::Postgres(tx) => Conn::Postgres(tx),
        }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx, _gate) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }
}
