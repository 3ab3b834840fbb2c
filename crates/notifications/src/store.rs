//! SQL of the notifications module, one function per statement.

use platform::{Db, Reads, Timestamp, Tx, on_db, on_read, on_tx};
use sqlx::types::Json;

use crate::domain::Notification;

type Row = (i64, i64, i64, Json<serde_json::Value>, bool, Timestamp);
const COLUMNS: &str = "id, seq, user_id, data, read, created_at";

fn from_row((id, seq, user_id, data, read, created_at): Row) -> Notification {
    Notification {
        id,
        seq,
        user_id,
        data: data.0,
        read,
        created_at,
    }
}

/// Serialises writers per user, so sequence numbers are handed out in commit order (SQLite's
/// `BEGIN IMMEDIATE` already serialises every writer). False if the user does not exist.
pub async fn lock_user(tx: &mut Tx, user_id: i64) -> Result<bool, sqlx::Error> {
    let sql = match tx {
        Tx::Postgres(_) => "SELECT id FROM users WHERE id = $1 FOR UPDATE",
        Tx::Sqlite(_) => "SELECT id FROM users WHERE id = $1",
    };
    let found: Option<i64> = on_tx!(tx, conn => sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(user_id).fetch_optional(conn).await)?;
    Ok(found.is_some())
}

pub async fn insert_notification(
    tx: &mut Tx,
    user_id: i64,
    data: &serde_json::Value,
    now: Timestamp,
) -> Result<Notification, sqlx::Error> {
    let row: Row = on_tx!(tx, conn => {
        sqlx::query_as(
            "INSERT INTO notifications (user_id, seq, data, read, created_at, updated_at) \
             VALUES ($1, COALESCE((SELECT MAX(seq) FROM notifications WHERE user_id = $1), 0) + 1, $2, FALSE, $3, $3) \
             RETURNING id, seq, user_id, data, read, created_at",
        )
        .bind(user_id)
        .bind(Json(data))
        .bind(now)
        .fetch_one(conn)
        .await
    })?;
    Ok(from_row(row))
}

/// A page, newest first, with the user's total in the same statement (one round trip; the
/// uncorrelated subquery runs once). `None` for the total when the page is empty.
pub async fn page_with_total(
    reads: &Reads,
    user_id: i64,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Notification>, Option<i64>), sqlx::Error> {
    type PageRow = (i64, i64, i64, Json<serde_json::Value>, bool, Timestamp, i64);
    let rows: Vec<PageRow> = on_read!(reads, exec => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS}, (SELECT COUNT(*) FROM notifications WHERE user_id = $1) \
             FROM notifications WHERE user_id = $1 ORDER BY seq DESC LIMIT $2 OFFSET $3"
        )))
        .bind(user_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(exec)
        .await
    })?;
    let total = rows.first().map(|row| row.6);
    let page = rows
        .into_iter()
        .map(|(id, seq, user_id, data, read, created_at, _)| {
            from_row((id, seq, user_id, data, read, created_at))
        })
        .collect();
    Ok((page, total))
}

pub async fn count_notifications(reads: &Reads, user_id: i64) -> Result<i64, sqlx::Error> {
    on_read!(reads, exec => sqlx::query_scalar("SELECT COUNT(*) FROM notifications WHERE user_id = $1").bind(user_id).fetch_one(exec).await)
}

pub async fn count_unread(reads: &Reads, user_id: i64) -> Result<i64, sqlx::Error> {
    on_read!(reads, exec => {
        sqlx::query_scalar("SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read = FALSE").bind(user_id).fetch_one(exec).await
    })
}

pub async fn mark_read(
    db: &Db,
    user_id: i64,
    id: i64,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let affected = on_db!(db, pool => {
        sqlx::query("UPDATE notifications SET read = TRUE, updated_at = $1 WHERE id = $2 AND user_id = $3")
            .bind(now)
            .bind(id)
            .bind(user_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(affected == 1)
}

pub async fn mark_all_read(db: &Db, user_id: i64, now: Timestamp) -> Result<u64, sqlx::Error> {
    on_db!(db, pool => {
        sqlx::query("UPDATE notifications SET read = TRUE, updated_at = $1 WHERE user_id = $2 AND read = FALSE")
            .bind(now)
            .bind(user_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    })
}

/// Oldest first: what a client that has seen up to `after_seq` missed.
pub async fn notifications_after(
    db: &Db,
    user_id: i64,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<Notification>, sqlx::Error> {
    let rows: Vec<Row> = on_db!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM notifications WHERE user_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        )))
        .bind(user_id)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(pool)
        .await
    })?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// Oldest first: what no connection has acknowledged yet.
pub async fn unacknowledged(
    db: &Db,
    user_id: i64,
    limit: i64,
) -> Result<Vec<Notification>, sqlx::Error> {
    let rows: Vec<Row> = on_db!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM notifications WHERE user_id = $1 AND delivered_at IS NULL ORDER BY seq LIMIT $2"
        )))
        .bind(user_id)
        .bind(limit)
        .fetch_all(pool)
        .await
    })?;
    Ok(rows.into_iter().map(from_row).collect())
}

pub async fn find_notification(
    reads: &Reads,
    id: i64,
) -> Result<Option<Notification>, sqlx::Error> {
    let row: Option<Row> = on_read!(reads, exec => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM notifications WHERE id = $1")))
            .bind(id)
            .fetch_optional(exec)
            .await
    })?;
    Ok(row.map(from_row))
}

/// `(lowest, highest)` sequence numbers kept for a user (0, 0 when none).
pub async fn seq_range(reads: &Reads, user_id: i64) -> Result<(i64, i64), sqlx::Error> {
    on_read!(reads, exec => {
        sqlx::query_as("SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM notifications WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(exec)
            .await
    })
}

/// Records delivery of everything up to `seq` for the user.
pub async fn acknowledge(
    db: &Db,
    user_id: i64,
    up_to_seq: i64,
    now: Timestamp,
) -> Result<u64, sqlx::Error> {
    on_db!(db, pool => {
        sqlx::query("UPDATE notifications SET delivered_at = $1 WHERE user_id = $2 AND seq <= $3 AND delivered_at IS NULL")
            .bind(now)
            .bind(user_id)
            .bind(up_to_seq)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    })
}
