//! Connections and transactions over either backend (`Conn`, `Tx`), so that `store.rs` writes
//! each statement once, and the connections a runner keeps out of the pool (`Lender`); times
//! are bound as `platform::Timestamp`.

use std::sync::OnceLock;

use platform::Db;
use platform::reads::Lent;
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

/// A connection without a transaction (each statement commits by itself): from the pool, or
/// lent by a runner's `Lender`.
#[derive(Debug)]
pub enum Pooled<'a> {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
    Lent(Lent<'a, Detached>),
}

impl<'a> Pooled<'a> {
    pub async fn acquire(via: impl Into<Via<'a>>) -> Result<Pooled<'a>, sqlx::Error> {
        Ok(match via.into() {
            Via::Pool(Db::Sqlite(pool)) => Pooled::Sqlite(pool.acquire().await?),
            Via::Pool(Db::Postgres(pool)) => Pooled::Postgres(pool.acquire().await?),
            Via::Lender(lender) => Pooled::Lent(lender.lend().await?),
        })
    }

    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Pooled::Sqlite(c) => Conn::Sqlite(c),
            Pooled::Postgres(c) => Conn::Postgres(c),
            Pooled::Lent(lent) => match lent.conn() {
                Detached::Sqlite(c) => Conn::Sqlite(c),
                Detached::Postgres(c) => Conn::Postgres(c),
            },
        }
    }

    /// Its statements completed: a lent connection may be lent again (one dropped without
    /// this, its statement failed or cancelled midway, is closed).
    pub fn done(&mut self) {
        if let Pooled::Lent(lent) = self {
            lent.keep();
        }
    }
}

/// Where a statement gets its connection.
#[derive(Debug, Clone, Copy)]
pub enum Via<'a> {
    Pool(&'a Db),
    Lender(&'a Lender),
}

impl Via<'_> {
    pub fn db(&self) -> &Db {
        match self {
            Via::Pool(db) => db,
            Via::Lender(lender) => &lender.db,
        }
    }
}

impl<'a> From<&'a Db> for Via<'a> {
    fn from(db: &'a Db) -> Via<'a> {
        Via::Pool(db)
    }
}

impl<'a> From<&'a Lender> for Via<'a> {
    fn from(lender: &'a Lender) -> Via<'a> {
        Via::Lender(lender)
    }
}

/// Connections a runner keeps out of the pool for its own statements (claims,
/// acknowledgements, renewals, sweeps), lent one use at a time. sqlx's pool pings every
/// connection it gets back: on PostgreSQL a `Sync` and a wait for `ReadyForQuery` (a second
/// round trip and a backend wake-up per statement, and the connection busy meanwhile), on
/// SQLite a trip to the connection's thread. A lent connection goes back to the idle list
/// only once its statements completed (`Pooled::done`); otherwise it is closed.
#[derive(Debug)]
pub struct Lender {
    db: Db,
    lender: platform::reads::Lender<Detached>,
}

/// A connection taken out of either backend's pool.
#[derive(Debug)]
pub enum Detached {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl Lender {
    /// `connections`: how many may be held outside the pool.
    pub fn new(db: &Db, connections: usize) -> Lender {
        Lender {
            db: db.clone(),
            lender: platform::reads::Lender::new(connections),
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    async fn lend(&self) -> Result<Lent<'_, Detached>, sqlx::Error> {
        self.lender
            .lend(None, || async {
                Ok(match &self.db {
                    Db::Sqlite(pool) => Detached::Sqlite(pool.acquire().await?.detach()),
                    Db::Postgres(pool) => Detached::Postgres(pool.acquire().await?.detach()),
                })
            })
            .await
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
