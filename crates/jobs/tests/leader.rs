//! The single runner (seed 004) on SQLite and PostgreSQL: one leader among contenders that
//! each have their own pool (as separate instances do), takeover when the leader dies, fencing
//! of a former leader, and cycles applied once.

use std::time::Duration;

use jobs::leader::{Cycle, CycleFuture, CycleKey, CycleRun, Leader, SingleRunner};
use jobs::{Conn, JobsError};
use platform::Db;
use test_support::{Backend, TestDb, both_backends};

/// A cycle's effect: one row per run, in the cycle's transaction (no unique key, so a cycle
/// applied twice would show as two rows).
struct RecordRun {
    holder: String,
}

impl Cycle for RecordRun {
    fn run<'a>(&'a self, conn: Conn<'a>, key: &'a CycleKey) -> CycleFuture<'a> {
        Box::pin(async move {
            const SQL: &str = "INSERT INTO leader_effects (cycle_key, holder) VALUES ($1, $2)";
            match conn {
                Conn::Sqlite(c) => sqlx::query(SQL)
                    .bind(key.key())
                    .bind(&self.holder)
                    .execute(&mut *c)
                    .await
                    .map(drop)?,
                Conn::Postgres(c) => sqlx::query(SQL)
                    .bind(key.key())
                    .bind(&self.holder)
                    .execute(&mut *c)
                    .await
                    .map(drop)?,
            }
            Ok::<(), JobsError>(())
        })
    }
}

async fn database(backend: Backend) -> (TestDb, Db) {
    let test_db = TestDb::new(backend).await;
    let db = connect(&test_db).await;
    db.migrate(&server::modules()).await.expect("migrates");
    execute(
        &db,
        "CREATE TABLE leader_effects (cycle_key TEXT NOT NULL, holder TEXT NOT NULL)",
    )
    .await;
    (test_db, db)
}

async fn connect(test_db: &TestDb) -> Db {
    Db::connect(&test_db.url, Duration::from_secs(10))
        .await
        .expect("connects")
}

async fn execute(db: &Db, sql: &'static str) {
    platform::on_db!(db, pool => sqlx::query(sql).execute(pool).await.map(drop)).expect("runs");
}

/// Every recorded effect: (cycle key, holder), in cycle order.
async fn effects(db: &Db) -> Vec<(String, String)> {
    const SQL: &str = "SELECT cycle_key, holder FROM leader_effects ORDER BY cycle_key";
    platform::on_db!(db, pool => sqlx::query_as::<_, (String, String)>(SQL).fetch_all(pool).await)
        .expect("reads")
}

/// Ends the session holding `name`'s advisory lock (PostgreSQL): the leader's connection drops.
async fn drop_leader_connection(db: &Db) {
    let Db::Postgres(pool) = db else {
        unreachable!("PostgreSQL only")
    };
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_locks \
         WHERE locktype = 'advisory' AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_all(pool)
    .await
    .expect("terminates");
    assert_eq!(ended, [true], "one session held the lock");
}

async fn one_leader_among_three_and_a_takeover_when_it_dies(backend: Backend) {
    let (test_db, db) = database(backend).await;
    let every = Duration::from_millis(100);
    let heartbeat = Duration::from_millis(100);
    let mut contenders = Vec::new();
    for _ in 0..3 {
        let own = connect(&test_db).await;
        let runner = SingleRunner::new(own, "test.cycle", every).heartbeat(heartbeat);
        let holder = runner.holder().to_owned();
        let leading = runner.leading();
        let cycle = RecordRun {
            holder: holder.clone(),
        };
        let task = tokio::spawn(runner.run(cycle, std::future::pending()));
        contenders.push((holder, leading, task));
    }

    // A few cycles under the first leader.
    let first = wait_for_effects(&db, |effects| effects.len() >= 3).await[0]
        .1
        .clone();
    let leaders: Vec<&str> = contenders
        .iter()
        .filter(|(_, leading, _)| *leading.borrow())
        .map(|(holder, _, _)| holder.as_str())
        .collect();
    assert_eq!(leaders, [first.as_str()], "exactly one contender leads");

    // The leader dies: its task (and so its connection or its lease renewals) ends at once.
    let index = contenders
        .iter()
        .position(|(holder, _, _)| *holder == first)
        .expect("the leader is a contender");
    let (_, _, task) = contenders.remove(index);
    task.abort();
    let _ = task.await;
    let after = wait_for_effects(&db, |effects| {
        effects
            .iter()
            .filter(|(_, holder)| *holder != first)
            .count()
            >= 3
    })
    .await;
    let second = after.last().expect("effects").1.clone();
    assert_ne!(second, first, "another contender took over");

    for (_, _, task) in &contenders {
        task.abort();
    }
    let all = effects(&db).await;
    let mut keys: Vec<&str> = all.iter().map(|(key, _)| key.as_str()).collect();
    keys.dedup();
    assert_eq!(keys.len(), all.len(), "no cycle applied twice: {all:?}");
    // The first leader's cycles, then only the new leader's.
    let switch = all
        .iter()
        .position(|(_, holder)| *holder != first)
        .expect("a takeover");
    assert!(all[..switch].iter().all(|(_, holder)| *holder == first));
    assert!(all[switch..].iter().all(|(_, holder)| *holder == second));
}

/// Waits (checking every 10 ms, at most 10 s) until the effects satisfy `condition`.
async fn wait_for_effects(
    db: &Db,
    condition: impl Fn(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let all = effects(db).await;
        if condition(&all) {
            return all;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not reached: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn a_former_leader_is_fenced_out_and_a_cycle_applies_once(backend: Backend) {
    let (test_db, db) = database(backend).await;
    let heartbeat = Duration::from_millis(40);
    let every = Duration::from_secs(3600);
    let runner = |db: Db| SingleRunner::new(db, "test.fence", every).heartbeat(heartbeat);
    let a = runner(connect(&test_db).await);
    let b = runner(connect(&test_db).await);
    let mut a_leads = a.try_lead().await.expect("contends").expect("a leads");
    assert!(
        b.try_lead().await.expect("contends").is_none(),
        "one leader while it lives"
    );

    // A loses leadership without knowing: its connection drops (PostgreSQL), or it stops
    // renewing until its lease (three heartbeats) runs out (SQLite).
    match backend {
        Backend::Postgres => drop_leader_connection(&db).await,
        Backend::Sqlite => tokio::time::sleep(heartbeat * 3 + Duration::from_millis(20)).await,
    }
    let mut b_leads = b.try_lead().await.expect("contends").expect("b takes over");
    if let (Leader::Sqlite { token: a_token }, Leader::Sqlite { token: b_token }) =
        (&a_leads, &b_leads)
    {
        assert!(b_token > a_token, "a takeover raises the fencing token");
    }

    let key = CycleKey::current("test.fence", every, chrono::Utc::now());
    let cycle_of = |runner: &SingleRunner| RecordRun {
        holder: runner.holder().to_owned(),
    };
    let late = a.run_cycle(&mut a_leads, &cycle_of(&a), &key).await;
    assert!(
        matches!(late, Err(JobsError::LeadershipLost(_))),
        "{late:?}"
    );
    assert!(a.confirm(&mut a_leads).await.is_err());
    assert_eq!(
        b.run_cycle(&mut b_leads, &cycle_of(&b), &key)
            .await
            .expect("runs"),
        CycleRun::Ran
    );
    // The same cycle again (a leader restarted mid-period) applies nothing.
    assert_eq!(
        b.run_cycle(&mut b_leads, &cycle_of(&b), &key)
            .await
            .expect("runs"),
        CycleRun::AlreadyDone
    );
    assert_eq!(effects(&db).await, [(key.key(), b.holder().to_owned())]);

    // Resigning hands over at once.
    b.resign(b_leads).await.expect("resigns");
    assert!(a.try_lead().await.expect("contends").is_some());
}

both_backends!(
    one_leader_among_three_and_a_takeover_when_it_dies,
    a_former_leader_is_fenced_out_and_a_cycle_applies_once,
);
