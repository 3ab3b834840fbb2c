//! Users (seed 000 `users`): the platform table every module may reference by `user_id`.
//! Wallets are stored lower-cased; `disabled` users cannot sign in.

use serde::Serialize;

use crate::db::{Db, Tx};
use crate::time::Timestamp;
use crate::{on_db, on_tx};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: i64,
    pub wallet: String,
    pub settings: Option<serde_json::Value>,
    pub disabled: bool,
    pub created_at: Timestamp,
}

type UserRow = (
    i64,
    String,
    Option<sqlx::types::Json<serde_json::Value>>,
    bool,
    Timestamp,
);

fn user_from_row((id, wallet, settings, disabled, created_at): UserRow) -> User {
    User {
        id,
        wallet,
        settings: settings.map(|s| s.0),
        disabled,
        created_at,
    }
}

/// Finds or creates the user of `wallet` (any case) inside the caller's transaction.
pub async fn upsert_user_by_wallet(tx: &mut Tx, wallet: &str) -> Result<User, sqlx::Error> {
    let wallet = wallet.to_ascii_lowercase();
    let now = Timestamp::now();
    let row: UserRow = on_tx!(tx, conn => {
        sqlx::query_as(
            "INSERT INTO users (wallet, created_at, updated_at) VALUES ($1, $2, $2) \
             ON CONFLICT (wallet) DO UPDATE SET updated_at = excluded.updated_at \
             RETURNING id, wallet, settings, disabled, created_at",
        )
        .bind(&wallet)
        .bind(now)
        .fetch_one(conn)
        .await
    })?;
    Ok(user_from_row(row))
}

pub async fn find_user(db: &Db, id: i64) -> Result<Option<User>, sqlx::Error> {
    let row: Option<UserRow> = on_db!(db, pool => {
        sqlx::query_as("SELECT id, wallet, settings, disabled, created_at FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await
    })?;
    Ok(row.map(user_from_row))
}

pub async fn set_user_disabled(db: &Db, id: i64, disabled: bool) -> Result<bool, sqlx::Error> {
    let now = Timestamp::now();
    let result = on_db!(db, pool => {
        sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
            .bind(disabled)
            .bind(now)
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(result == 1)
}
