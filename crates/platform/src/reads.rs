//! Connections kept out of sqlx's pool and lent one use at a time (`Lender`), and hot
//! single-statement reads on them: on PostgreSQL, `Reads` lends such connections one
//! statement at a time (`on_read!`); on SQLite it is the pool itself.
//!
//! Why: sqlx's pool pings every connection it gets back (`Sync`, then a wait for
//! `ReadyForQuery`: a second round trip per statement, a spawned task, and a wake-up of a
//! PostgreSQL backend). A connection here goes back to the idle list only after its statement
//! completed successfully, so it is never left mid-protocol; one whose statement failed or was
//! cancelled is closed instead.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use sqlx::{PgConnection, PgPool, SqlitePool};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::db::Db;

/// How long a read waits for one of the lent connections before it fails like a pool timeout.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug)]
pub struct Reads {
    target: Target,
}

#[derive(Debug)]
enum Target {
    Sqlite(SqlitePool),
    Postgres(PgReads),
}

#[derive(Debug)]
struct PgReads {
    pool: PgPool,
    lender: Lender<PgConnection>,
}

/// Connections of type `C` taken out of sqlx's pool, lent one use at a time. A lent connection
/// goes back to the idle list only if its user called `Lent::keep` (its statements
/// completed); otherwise it is closed on drop, so none is ever reused mid-protocol.
#[derive(Debug)]
pub struct Lender<C> {
    idle: Mutex<Vec<C>>,
    /// At most this many connections exist outside the pool (idle or lent).
    permits: Semaphore,
}

impl<C> Lender<C> {
    /// `connections`: how many may be held outside the pool.
    pub fn new(connections: usize) -> Lender<C> {
        Lender {
            idle: Mutex::default(),
            permits: Semaphore::new(connections.max(1)),
        }
    }

    /// An idle connection, or a new one from `open`, once one of the permits is free (waiting
    /// at most `wait`, then failing like a pool timeout).
    pub async fn lend<F>(
        &self,
        wait: Option<Duration>,
        open: impl FnOnce() -> F,
    ) -> Result<Lent<'_, C>, sqlx::Error>
    where
        F: Future<Output = Result<C, sqlx::Error>>,
    {
        let permit = match wait {
            Some(wait) => tokio::time::timeout(wait, self.permits.acquire())
                .await
                .map_err(|_| sqlx::Error::PoolTimedOut)?,
            None => self.permits.acquire().await,
        }
        .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = self.lock().pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open().await?,
        };
        Ok(Lent {
            owner: self,
            conn: Some(conn),
            keep: false,
            _permit: permit,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<C>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Where one read runs: the SQLite pool, or a lent PostgreSQL connection.
#[derive(Debug)]
pub enum ReadTarget<'a> {
    Sqlite(&'a SqlitePool),
    Postgres(Lent<'a, PgConnection>),
}

impl Reads {
    /// `connections`: how many PostgreSQL connections may be held outside the pool.
    pub fn new(db: &Db, connections: usize) -> Reads {
        let target = match db {
            Db::Sqlite(pool) => Target::Sqlite(pool.clone()),
            Db::Postgres(pool) => Target::Postgres(PgReads {
                pool: pool.clone(),
                lender: Lender::new(connections),
            }),
        };
        Reads { target }
    }

    /// A place to run one statement; see `on_read!`.
    pub async fn target(&self) -> Result<ReadTarget<'_>, sqlx::Error> {
        let reads = match &self.target {
            Target::Sqlite(pool) => return Ok(ReadTarget::Sqlite(pool)),
            Target::Postgres(reads) => reads,
        };
        let lent = reads
            .lender
            .lend(Some(ACQUIRE_TIMEOUT), || async {
                Ok(reads.pool.acquire().await?.detach())
            })
            .await?;
        Ok(ReadTarget::Postgres(lent))
    }
}

/// A connection lent by a `Lender`. Back to the idle list on drop only if `keep` was called
/// (its statements completed); otherwise closed.
#[derive(Debug)]
pub struct Lent<'a, C> {
    owner: &'a Lender<C>,
    conn: Option<C>,
    keep: bool,
    _permit: SemaphorePermit<'a>,
}

impl<C> Lent<'_, C> {
    pub fn conn(&mut self) -> &mut C {
        self.conn
            .as_mut()
            .expect("a lent connection is present until drop")
    }

    /// Its statements completed: the connection is idle and may be lent again.
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl<C> Drop for Lent<'_, C> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take().filter(|_| self.keep) {
            self.owner.lock().push(conn);
        }
    }
}

/// Runs `$body` with `$exec` bound to the SQLite pool or to a lent `&mut PgConnection`; the
/// body is compiled once per engine and must evaluate to `Result<_, sqlx::Error>`.
#[macro_export]
macro_rules! on_read {
    ($reads:expr, $exec:ident => $body:expr) => {
        match $reads.target().await {
            Err(e) => Err(e),
            Ok($crate::reads::ReadTarget::Sqlite($exec)) => $body,
            Ok($crate::reads::ReadTarget::Postgres(mut lent)) => {
                let result = {
                    let $exec = lent.conn();
                    $body
                };
                if result.is_ok() {
                    lent.keep();
                }
                result
            }
        }
    };
}
