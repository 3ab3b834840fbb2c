//! `Reads` on both backends: a lent PostgreSQL connection is reused after a statement that
//! completed, and one whose statement failed or was cancelled never serves the next read.

use std::time::Duration;

use platform::{Db, Reads, on_read};
use test_support::{Backend, TestDb, both_backends};

async fn reads_reuse_good_connections_and_drop_broken_ones(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = Db::connect(&test_db.url, Duration::from_secs(5))
        .await
        .expect("connect");
    // One connection at most, so every read below would get the same one back.
    let reads = Reads::new(&db, 1);
    let one: i64 = on_read!(reads, exec => sqlx::query_scalar("SELECT CAST(1 AS BIGINT)").fetch_one(exec).await)
        .expect("a read");
    assert_eq!(one, 1);

    // A failed statement: the next read still answers, and answers its own question.
    let failed: Result<i64, _> = on_read!(reads, exec => {
        sqlx::query_scalar("SELECT no_such_column FROM no_such_table").fetch_one(exec).await
    });
    assert!(failed.is_err());
    let two: i64 = on_read!(reads, exec => sqlx::query_scalar("SELECT CAST(2 AS BIGINT)").fetch_one(exec).await)
        .expect("a read after a failed one");
    assert_eq!(two, 2);

    if backend == Backend::Postgres {
        // A kept connection is lent again: the same server process answers.
        let pid = || async {
            on_read!(reads, exec => sqlx::query_scalar::<_, i32>("SELECT pg_backend_pid()").fetch_one(exec).await)
                .expect("pid")
        };
        assert_eq!(pid().await, pid().await);

        // A read cancelled while the server works on it: its answer never reaches the next.
        let slow = async {
            on_read!(reads, exec => {
                sqlx::query_scalar::<_, i64>("SELECT CAST(7 AS BIGINT) FROM pg_sleep(0.5)").fetch_one(exec).await
            })
        };
        assert!(
            tokio::time::timeout(Duration::from_millis(50), slow)
                .await
                .is_err()
        );
        let three: i64 =
            on_read!(reads, exec => sqlx::query_scalar("SELECT CAST(3 AS BIGINT)").fetch_one(exec).await)
                .expect("a read after a cancelled one");
        assert_eq!(three, 3);
    }
}

both_backends!(reads_reuse_good_connections_and_drop_broken_ones);
