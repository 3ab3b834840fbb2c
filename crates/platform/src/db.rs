//! The database handle: one SQLite or PostgreSQL pool behind `Db`, connection with retry, and
//! the migration runner that applies every module's embedded migrations in version order.

use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::migrate::{MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use crate::module::Module;

/// Runs `$body` with `$pool` bound to the concrete pool of `$db`; the body is compiled once per
/// engine, so the same SQL text and binds serve both.
#[macro_export]
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// Like `on_db!`, with `$conn` bound to the open transaction's connection.
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(tx) => {
                let $conn = &mut **tx;
                $body
            }
            $crate::db::Tx::Postgres(tx) => {
                let $conn = &mut **tx;
                $body
            }
        }
    };
}

/// An open write transaction on either engine. On SQLite it starts with `BEGIN IMMEDIATE`
/// so read-then-write transactions take the write lock up front instead of failing with
/// `database is locked` under concurrency.
#[derive(Debug)]
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }
}

/// Which engine a `Db` talks to; the few backend-specific statements switch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A pool on one of the two supported engines. Cloning is cheap (the pools are `Arc`s).
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("DATABASE_URL is not usable: {0}")]
    BadUrl(String),
    #[error("cannot prepare the SQLite file: {0}")]
    SqliteFile(std::io::Error),
    #[error("database unreachable after {waited:.1?}: {cause}")]
    Unreachable {
        waited: Duration,
        cause: sqlx::Error,
    },
    #[error("migration failed: {0}")]
    Migration(sqlx::migrate::MigrateError),
    #[error("two migrations share version {0}: every module must use its own versions")]
    DuplicateMigrationVersion(i64),
    #[error(transparent)]
    Query(#[from] sqlx::Error),
}

/// How long a request may wait for a pooled connection before the database counts as down.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

impl Db {
    /// Opens the pool, retrying with backoff (100 ms doubling to 2 s) until `give_up_after`.
    /// Each attempt is one plain connection, which fails at once when nothing listens; the
    /// pool is built only once the server answers.
    pub async fn connect(url: &str, give_up_after: Duration) -> Result<Db, DbError> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(100);
        loop {
            match Db::connect_once(url).await {
                Ok(db) => return Ok(db),
                Err(DbError::Query(cause)) if is_transient(&cause) => {
                    let waited = started.elapsed();
                    if waited + delay > give_up_after {
                        return Err(DbError::Unreachable { waited, cause });
                    }
                    tracing::warn!(target: "database", error = %cause, retry_in_ms = delay.as_millis() as u64, "database not reachable yet");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(other) => return Err(other),
            }
        }
    }

    async fn connect_once(url: &str) -> Result<Db, DbError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| DbError::BadUrl(e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            let file = options.get_filename();
            if let Some(parent) = file
                .parent()
                .filter(|p| !p.as_os_str().is_empty() && file.as_os_str() != ":memory:")
            {
                std::fs::create_dir_all(parent).map_err(DbError::SqliteFile)?;
            }
            // No ping before each acquire: a SQLite connection is a file in this process and
            // does not go stale, and the ping is a trip to the connection's thread and back
            // on every statement's critical path (the pool still pings on release).
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .min_connections(1)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .test_before_acquire(false)
                .connect_with(options)
                .await?;
            Ok(Db::Sqlite(pool))
        } else {
            let mut options =
                PgConnectOptions::from_str(url).map_err(|e| DbError::BadUrl(e.to_string()))?;
            // sqlx, like libpq, defaults to `sslmode=prefer`: a TLS handshake per connection
            // (about 100 ms here, most of a cold start). On loopback TLS protects nothing, so
            // unless the URL asks for a mode, a local server is reached in plain text.
            if !url.contains("sslmode=") && is_loopback_host(options.get_host()) {
                options = options.ssl_mode(sqlx::postgres::PgSslMode::Disable);
            }
            let probe = <sqlx::PgConnection as sqlx::Connection>::connect_with(&options).await?;
            sqlx::Connection::close(probe).await?;
            let pool = PgPoolOptions::new()
                .max_connections(20)
                .min_connections(1)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .test_before_acquire(false)
                .connect_with(options)
                .await?;
            Ok(Db::Postgres(pool))
        }
    }

    /// Starts a write transaction (see `Tx`).
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        match self {
            Db::Sqlite(pool) => Ok(Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?)),
            Db::Postgres(pool) => Ok(Tx::Postgres(pool.begin().await?)),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// One round trip; `/health/ready` calls it. A pooled connection whose server went away
    /// fails once and is discarded, so one retry tells a dead connection from a dead server.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        match self.ping_once().await {
            Err(sqlx::Error::Io(_) | sqlx::Error::Protocol(_)) => self.ping_once().await,
            other => other,
        }
    }

    async fn ping_once(&self) -> Result<(), sqlx::Error> {
        match self {
            Db::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
            Db::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
        }
    }

    /// Applies every pending migration of `modules`; returns the versions it applied.
    pub async fn migrate(&self, modules: &[Module]) -> Result<Vec<i64>, DbError> {
        let backend = self.backend();
        let mut migrations = Vec::new();
        for module in modules {
            for m in module.migrations {
                let sql = match backend {
                    Backend::Sqlite => m.sqlite,
                    Backend::Postgres => m.postgres,
                };
                let description = format!("{}: {}", module.name, m.description);
                migrations.push(sqlx::migrate::Migration::new(
                    m.version,
                    description.into(),
                    MigrationType::Simple,
                    sqlx::AssertSqlSafe(sql).into_sql_str(),
                    false,
                ));
            }
        }
        let mut versions: Vec<i64> = migrations.iter().map(|m| m.version).collect();
        versions.sort_unstable();
        if let Some(pair) = versions.windows(2).find(|w| w[0] == w[1]) {
            return Err(DbError::DuplicateMigrationVersion(pair[0]));
        }
        if self.already_applied(&migrations).await {
            return Ok(Vec::new());
        }
        let mut migrator = Migrator::with_migrations(migrations);
        // A deployment may enable a subset of modules; their applied migrations stay recorded.
        migrator.set_ignore_missing(true);

        let before = self.applied_versions().await?;
        match self {
            Db::Sqlite(pool) => migrator.run(pool).await.map_err(DbError::Migration)?,
            Db::Postgres(pool) => {
                // sqlx's migrator returns on an error without releasing its session-level
                // advisory lock; that connection must not go back to the pool, or every later
                // migration (this process or another) waits on it forever.
                let mut conn = pool.acquire().await?;
                if let Err(e) = migrator.run(&mut *conn).await {
                    let _ = sqlx::Connection::close(conn.detach()).await;
                    return Err(DbError::Migration(e));
                }
            }
        }
        let after = self.applied_versions().await?;
        Ok(after.into_iter().filter(|v| !before.contains(v)).collect())
    }

    /// The common start: every migration is already recorded as applied, with the checksum of
    /// the SQL this binary carries. One read instead of the migrator's lock, table check,
    /// listing and unlock; anything else (a table missing, a version pending, a checksum
    /// changed, a failed run) takes the migrator's path, which applies or reports it.
    async fn already_applied(&self, migrations: &[sqlx::migrate::Migration]) -> bool {
        let select = "SELECT version, checksum FROM _sqlx_migrations WHERE success";
        let applied: Result<Vec<(i64, Vec<u8>)>, sqlx::Error> = match self {
            Db::Sqlite(pool) => sqlx::query_as(select).fetch_all(pool).await,
            Db::Postgres(pool) => sqlx::query_as(select).fetch_all(pool).await,
        };
        let Ok(applied) = applied else {
            return false;
        };
        let applied: std::collections::HashMap<i64, Vec<u8>> = applied.into_iter().collect();
        migrations.iter().all(|m| {
            applied
                .get(&m.version)
                .is_some_and(|checksum| checksum.as_slice() == &*m.checksum)
        })
    }

    /// Versions recorded in sqlx's `_sqlx_migrations` table (empty before the first run).
    pub async fn applied_versions(&self) -> Result<Vec<i64>, DbError> {
        let exists_sql = match self.backend() {
            Backend::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            Backend::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'"
            }
        };
        let select = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";
        let versions = match self {
            Db::Sqlite(pool) => {
                let exists: i64 = sqlx::query_scalar(exists_sql).fetch_one(pool).await?;
                if exists == 0 {
                    return Ok(Vec::new());
                }
                sqlx::query_scalar(select).fetch_all(pool).await?
            }
            Db::Postgres(pool) => {
                let exists: i64 = sqlx::query_scalar(exists_sql).fetch_one(pool).await?;
                if exists == 0 {
                    return Ok(Vec::new());
                }
                sqlx::query_scalar(select).fetch_all(pool).await?
            }
        };
        Ok(versions)
    }

    /// Waits for checked-out connections to return, then closes the pool.
    pub async fn close(&self) {
        match self {
            Db::Sqlite(pool) => pool.close().await,
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

/// Errors worth retrying at start: the server is not up (yet), or is restarting.
fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) => true,
        // 57P03: cannot_connect_now (starting up); 53300: too_many_connections.
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("57P03" | "53300")),
        _ => false,
    }
}

use sqlx::SqlSafeStr as _;

/// `localhost`, a loopback address, or a Unix socket directory.
fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host.starts_with('/')
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn only_local_hosts_skip_tls() {
        for local in [
            "localhost",
            "127.0.0.1",
            "127.0.0.2",
            "::1",
            "[::1]",
            "/var/run/postgresql",
        ] {
            assert!(is_loopback_host(local), "{local}");
        }
        for remote in [
            "db.example.com",
            "10.0.0.5",
            "2001:db8::1",
            "localhost.example.com",
        ] {
            assert!(!is_loopback_host(remote), "{remote}");
        }
    }
}
