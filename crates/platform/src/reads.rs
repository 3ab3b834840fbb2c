//! Hot single-statement reads without sqlx's release round trip: on PostgreSQL, `Reads` keeps a
//! few connections taken out of the pool and lends them one statement at a time (`on_read!`);
//! on SQLite it is the pool itself.
//!
//! Why: sqlx's pool pings every connection it gets back (`Sync`, then a wait for
//! `ReadyForQuery`: a second round trip per statement, a spawned task, and a wake-up of a
//! PostgreSQL backend). A connection here goes back to the idle list only after its statement
//! completed successfully, so it is never left mid-protocol; one whose statement failed or was
//! cancelled is closed instead.

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
    idle: Mutex<Vec<PgConnection>>,
    /// At most this many connections exist outside the pool (idle or lent).
    permits: Semaphore,
}

/// Where one read runs: the SQLite pool, or a lent PostgreSQL connection.
#[derive(Debug)]
pub enum ReadTarget<'a> {
    Sqlite(&'a SqlitePool),
    Postgres(Lent<'a>),
}

impl Reads {
    /// `connections`: how many PostgreSQL connections may be held outside the pool.
    pub fn new(db: &Db, connections: usize) -> Reads {
        let target = match db {
            Db::Sqlite(pool) => Target::Sqlite(pool.clone()),
            Db::Postgres(pool) => Target::Postgres(PgReads {
                pool: pool.clone(),
                idle: Mutex::default(),
                permits: Semaphore::new(connections.max(1)),
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
        let permit = tokio::time::timeout(ACQUIRE_TIMEOUT, reads.permits.acquire())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = reads.lock().pop();
        let conn = match idle {
            Some(conn) => conn,
            None => reads.pool.acquire().await?.detach(),
        };
        Ok(ReadTarget::Postgres(Lent {
            owner: reads,
            conn: Some(conn),
            keep: false,
            _permit: permit,
        }))
    }
}

impl PgReads {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<PgConnection>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A PostgreSQL connection lent for one statement. Back to the idle list on drop only if
/// `keep` was called (the statement completed); otherwise closed.
#[derive(Debug)]
pub struct Lent<'a> {
    owner: &'a PgReads,
    conn: Option<PgConnection>,
    keep: bool,
    _permit: SemaphorePermit<'a>,
}

impl Lent<'_> {
    pub fn conn(&mut self) -> &mut PgConnection {
        self.conn
            .as_mut()
            .expect("a lent connection is present until drop")
    }

    /// The statement completed: the connection is idle and may be lent again.
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for Lent<'_> {
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
