//! The single runner (seed 004's "Global Manager"): exactly one process across all instances
//! runs a named periodic cycle. Leadership is a session advisory lock held on a dedicated
//! connection on PostgreSQL (released by the server the moment that connection ends), and a
//! lease row with a fencing token on SQLite. Each cycle runs in one transaction that also
//! records its cycle key, on the leader's own connection (PostgreSQL) or behind a lease check
//! (SQLite), so a former leader commits nothing and a cycle is applied once even when a new
//! leader runs it again after a takeover.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};
use platform::Db;
use sqlx::{Connection, PgConnection};
use tokio::sync::watch;

use crate::conn::{Conn, Tx};
use crate::error::JobsError;
use crate::store;
use platform::Timestamp;

/// What one cycle returns.
pub type CycleFuture<'a> = Pin<Box<dyn Future<Output = Result<(), JobsError>> + Send + 'a>>;

/// The work of one cycle. It gets the cycle's transaction (commit is the runner's) and its key;
/// writes made through `conn` are committed together with the cycle's record, or not at all.
pub trait Cycle: Send + Sync {
    fn run<'a>(&'a self, conn: Conn<'a>, key: &'a CycleKey) -> CycleFuture<'a>;
}

/// Which cycle this is: the start of its period (periods are aligned to the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleKey {
    pub name: String,
    pub at: DateTime<Utc>,
}

impl CycleKey {
    /// The cycle of `name` whose period contains `now`.
    pub fn current(name: &str, every: Duration, now: DateTime<Utc>) -> CycleKey {
        let every_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX).max(1);
        let now_ms = now.timestamp_millis();
        CycleKey {
            name: name.to_owned(),
            at: DateTime::from_timestamp_millis(now_ms - now_ms.rem_euclid(every_ms))
                .unwrap_or(now),
        }
    }

    /// The stored key: the period's start in Unix milliseconds.
    pub fn key(&self) -> String {
        self.at.timestamp_millis().to_string()
    }
}

/// How `run_cycle` went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CycleRun {
    /// The cycle ran and committed.
    Ran,
    /// A leader (this one or a former one) had already committed this cycle: nothing ran.
    AlreadyDone,
}

/// Leadership held by this process.
#[derive(Debug)]
pub enum Leader {
    /// The connection holding the advisory lock; the cycles' transactions run on it.
    Postgres(PgConnection),
    /// The lease's token (the fencing token of this leadership).
    Sqlite { token: i64 },
}

/// One contender for leadership of `name`. Every instance starts one; only the leader runs
/// cycles.
#[derive(Debug, Clone)]
pub struct SingleRunner {
    db: Db,
    name: String,
    every: Duration,
    heartbeat: Duration,
    holder: String,
    leading: watch::Sender<bool>,
}

impl SingleRunner {
    /// A contender running `name`'s cycle once per `every`. By default it checks its
    /// leadership (and a follower tries to take over) every second; on SQLite the lease lasts
    /// three heartbeats.
    pub fn new(db: Db, name: impl Into<String>, every: Duration) -> SingleRunner {
        SingleRunner {
            db,
            name: name.into(),
            every,
            heartbeat: Duration::from_secs(1),
            holder: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            leading: watch::channel(false).0,
        }
    }

    pub fn heartbeat(mut self, heartbeat: Duration) -> SingleRunner {
        self.heartbeat = heartbeat.max(Duration::from_millis(10));
        self
    }

    /// This contender's id, recorded with each cycle it commits.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// True while this contender leads.
    pub fn leading(&self) -> watch::Receiver<bool> {
        self.leading.subscribe()
    }

    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.heartbeat * 3).unwrap_or(chrono::Duration::seconds(3))
    }

    /// Takes leadership if no live leader holds it.
    pub async fn try_lead(&self) -> Result<Option<Leader>, JobsError> {
        match &self.db {
            Db::Postgres(pool) => {
                let mut conn = PgConnection::connect_with(&pool.connect_options()).await?;
                if store::try_leader_lock(&mut Conn::Postgres(&mut conn), &self.name).await? {
                    Ok(Some(Leader::Postgres(conn)))
                } else {
                    let _ = conn.close().await;
                    Ok(None)
                }
            }
            Db::Sqlite(_) => {
                let now = Utc::now();
                let mut tx = Tx::begin(&self.db).await?;
                let token = store::acquire_leader_lease(
                    &mut tx.conn(),
                    &self.name,
                    &self.holder,
                    Timestamp::from(now + self.lease()),
                    Timestamp::from(now),
                )
                .await?;
                tx.commit().await?;
                Ok(token.map(|token| Leader::Sqlite { token }))
            }
        }
    }

    /// Confirms `leader` still leads (and, on SQLite, extends its lease).
    pub async fn confirm(&self, leader: &mut Leader) -> Result<(), JobsError> {
        let held = match leader {
            Leader::Postgres(conn) => conn.ping().await.is_ok(),
            Leader::Sqlite { token } => self.move_lease_end(*token, self.lease()).await?,
        };
        if held { Ok(()) } else { Err(self.lost()) }
    }

    /// Moves the end of this holder's lease `token` to `from_now` from now (SQLite); false when
    /// it no longer holds it.
    async fn move_lease_end(
        &self,
        token: i64,
        from_now: chrono::Duration,
    ) -> Result<bool, JobsError> {
        let now = Utc::now();
        let mut tx = Tx::begin(&self.db).await?;
        let held = store::renew_leader_lease(
            &mut tx.conn(),
            &self.name,
            &self.holder,
            token,
            Timestamp::from(now + from_now),
            Timestamp::from(now),
        )
        .await?;
        tx.commit().await?;
        Ok(held)
    }

    fn lost(&self) -> JobsError {
        JobsError::LeadershipLost(self.name.clone())
    }

    /// Runs cycle `key` as `leader`, in one transaction with its record: `AlreadyDone` when
    /// it was committed before; `LeadershipLost` (nothing committed) when `leader` no longer
    /// leads.
    pub async fn run_cycle(
        &self,
        leader: &mut Leader,
        cycle: &dyn Cycle,
        key: &CycleKey,
    ) -> Result<CycleRun, JobsError> {
        let stored_key = key.key();
        match leader {
            Leader::Postgres(conn) => {
                // On the lock's own connection: if that connection is gone, so is the lock,
                // and this transaction cannot commit.
                let mut tx = conn.begin().await.map_err(|_| self.lost())?;
                let fresh = store::record_leader_cycle(
                    &mut Conn::Postgres(&mut tx),
                    &self.name,
                    &stored_key,
                    &self.holder,
                    Timestamp::from(Utc::now()),
                )
                .await
                .map_err(|_| self.lost())?;
                if !fresh {
                    return Ok(CycleRun::AlreadyDone);
                }
                cycle.run(Conn::Postgres(&mut tx), key).await?;
                tx.commit().await.map_err(|_| self.lost())?;
                Ok(CycleRun::Ran)
            }
            Leader::Sqlite { token } => {
                let now = Utc::now();
                let mut tx = Tx::begin(&self.db).await?;
                // The fence: this transaction holds SQLite's write lock, so the lease checked
                // here cannot change hands before it commits.
                if !store::renew_leader_lease(
                    &mut tx.conn(),
                    &self.name,
                    &self.holder,
                    *token,
                    Timestamp::from(now + self.lease()),
                    Timestamp::from(now),
                )
                .await?
                {
                    return Err(self.lost());
                }
                if !store::record_leader_cycle(
                    &mut tx.conn(),
                    &self.name,
                    &stored_key,
                    &self.holder,
                    Timestamp::from(now),
                )
                .await?
                {
                    return Ok(CycleRun::AlreadyDone);
                }
                cycle.run(tx.conn(), key).await?;
                tx.commit().await?;
                Ok(CycleRun::Ran)
            }
        }
    }

    /// Hands leadership back at once (a stopping process), instead of letting it lapse.
    pub async fn resign(&self, leader: Leader) -> Result<(), JobsError> {
        match leader {
            Leader::Postgres(mut conn) => {
                store::leader_unlock(&mut Conn::Postgres(&mut conn), &self.name).await?;
                let _ = conn.close().await;
            }
            Leader::Sqlite { token } => {
                self.move_lease_end(token, chrono::Duration::zero()).await?;
            }
        }
        Ok(())
    }

    /// Contends for leadership until `shutdown` resolves; while leading, runs each period's
    /// cycle once (a failed cycle is tried again at the next heartbeat). Errors are logged,
    /// never fatal: a database outage makes this contender a follower until it returns.
    pub async fn run(self, cycle: impl Cycle, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        let mut leader: Option<Leader> = None;
        // The last cycle this leader ran or found done.
        let mut done: Option<DateTime<Utc>> = None;
        let mut next = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep_until(next) => {}
            }
            next = tokio::time::Instant::now() + self.heartbeat;
            let mut current = match leader.take() {
                Some(mut held) => match self.confirm(&mut held).await {
                    Ok(()) => held,
                    Err(e) => {
                        self.step_down(&e);
                        continue;
                    }
                },
                None => match self.try_lead().await {
                    Ok(Some(held)) => {
                        tracing::info!(target: "leader", name = %self.name, holder = %self.holder, "leading");
                        self.leading.send_replace(true);
                        done = None;
                        held
                    }
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::warn!(target: "leader", name = %self.name, error = %e, "cannot contend for leadership");
                        continue;
                    }
                },
            };
            let key = CycleKey::current(&self.name, self.every, Utc::now());
            if done != Some(key.at) {
                match self.run_cycle(&mut current, &cycle, &key).await {
                    Ok(run) => {
                        tracing::debug!(target: "leader", name = %self.name, cycle = %key.key(), ?run, "cycle");
                        done = Some(key.at);
                    }
                    Err(e @ JobsError::LeadershipLost(_)) => {
                        self.step_down(&e);
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(target: "leader", name = %self.name, cycle = %key.key(), error = %e, "cycle failed; trying again");
                    }
                }
            }
            if done == Some(key.at) {
                // Sleep to the next period unless a heartbeat is due first.
                let period_end = key.at
                    + chrono::Duration::from_std(self.every).unwrap_or(chrono::Duration::MAX);
                let until_next = (period_end - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                next = next.min(tokio::time::Instant::now() + until_next);
            }
            leader = Some(current);
        }
        if let Some(held) = leader {
            self.leading.send_replace(false);
            if let Err(e) = self.resign(held).await {
                tracing::warn!(target: "leader", name = %self.name, error = %e, "cannot resign; the leadership will lapse");
            }
        }
    }

    fn step_down(&self, error: &JobsError) {
        tracing::warn!(target: "leader", name = %self.name, holder = %self.holder, error = %error, "no longer leading");
        self.leading.send_replace(false);
    }
}
