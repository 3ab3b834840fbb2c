//! SQL of the auth module, one function per statement: nonces, sessions, refresh tokens.

use platform::{Db, Timestamp, Tx, on_db, on_tx};

pub async fn insert_nonce(
    db: &Db,
    nonce: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<(), sqlx::Error> {
    on_db!(db, pool => {
        sqlx::query("INSERT INTO auth_nonces (nonce, created_at, expires_at) VALUES ($1, $2, $3)")
            .bind(nonce)
            .bind(now)
            .bind(expires_at)
            .execute(pool)
            .await
            .map(drop)
    })?;
    Ok(())
}

/// Forgets nonces that expired before `before` (used or not).
pub async fn delete_expired_nonces(db: &Db, before: Timestamp) -> Result<u64, sqlx::Error> {
    on_db!(db, pool => {
        sqlx::query("DELETE FROM auth_nonces WHERE expires_at < $1")
            .bind(before)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    })
}

/// Marks the nonce used if it is unused and unexpired; true if this call consumed it.
pub async fn consume_nonce(tx: &mut Tx, nonce: &str, now: Timestamp) -> Result<bool, sqlx::Error> {
    let affected = on_tx!(tx, conn => {
        sqlx::query("UPDATE auth_nonces SET consumed_at = $1 WHERE nonce = $2 AND consumed_at IS NULL AND expires_at > $1")
            .bind(now)
            .bind(nonce)
            .execute(conn)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(affected == 1)
}

/// `(expires_at, consumed_at)` of a nonce, to explain a failed consumption.
pub async fn find_nonce(
    tx: &mut Tx,
    nonce: &str,
) -> Result<Option<(Timestamp, Option<Timestamp>)>, sqlx::Error> {
    on_tx!(tx, conn => {
        sqlx::query_as("SELECT expires_at, consumed_at FROM auth_nonces WHERE nonce = $1")
            .bind(nonce)
            .fetch_optional(conn)
            .await
    })
}

pub struct NewSession<'a> {
    pub id: &'a str,
    pub user_id: i64,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub user_agent: Option<&'a str>,
    pub ip: Option<&'a str>,
}

pub async fn insert_session(tx: &mut Tx, session: &NewSession<'_>) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO auth_sessions (id, user_id, created_at, expires_at, user_agent, ip) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(session.id)
        .bind(session.user_id)
        .bind(session.created_at)
        .bind(session.expires_at)
        .bind(session.user_agent)
        .bind(session.ip)
        .execute(conn)
        .await
        .map(drop)
    })?;
    Ok(())
}

pub async fn insert_refresh_token(
    tx: &mut Tx,
    token_hash: &str,
    session_id: &str,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => {
        sqlx::query("INSERT INTO auth_refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(session_id)
            .bind(now)
            .execute(conn)
            .await
            .map(drop)
    })?;
    Ok(())
}

/// Marks a refresh token used if it was unused; returns its session if this call spent it.
pub async fn spend_refresh_token(
    tx: &mut Tx,
    token_hash: &str,
    now: Timestamp,
) -> Result<Option<String>, sqlx::Error> {
    on_tx!(tx, conn => {
        sqlx::query_scalar("UPDATE auth_refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL RETURNING session_id")
            .bind(now)
            .bind(token_hash)
            .fetch_optional(conn)
            .await
    })
}

/// The session of a refresh token that exists but could not be spent (it was used before).
pub async fn find_spent_refresh_token(
    tx: &mut Tx,
    token_hash: &str,
) -> Result<Option<String>, sqlx::Error> {
    on_tx!(tx, conn => {
        sqlx::query_scalar("SELECT session_id FROM auth_refresh_tokens WHERE token_hash = $1 AND used_at IS NOT NULL")
            .bind(token_hash)
            .fetch_optional(conn)
            .await
    })
}

pub async fn revoke_session(
    tx: &mut Tx,
    session_id: &str,
    now: Timestamp,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    let affected = on_tx!(tx, conn => {
        sqlx::query("UPDATE auth_sessions SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL")
            .bind(now)
            .bind(reason)
            .bind(session_id)
            .execute(conn)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(affected == 1)
}

/// Revokes every live session of a user; returns their ids.
pub async fn revoke_user_sessions(
    tx: &mut Tx,
    user_id: i64,
    now: Timestamp,
    reason: &str,
) -> Result<Vec<String>, sqlx::Error> {
    on_tx!(tx, pool => {
        sqlx::query_scalar("UPDATE auth_sessions SET revoked_at = $1, revoked_reason = $2 WHERE user_id = $3 AND revoked_at IS NULL RETURNING id")
            .bind(now)
            .bind(reason)
            .bind(user_id)
            .fetch_all(pool)
            .await
    })
}

/// What an authenticated request needs to know about its session, joined with its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStatus {
    pub user_id: i64,
    pub wallet: String,
    pub disabled: bool,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

type SessionRow = (i64, String, bool, Timestamp, Timestamp, Option<Timestamp>);

const SESSION_STATUS: &str = "SELECT s.user_id, u.wallet, u.disabled, s.created_at, s.expires_at, s.revoked_at \
     FROM auth_sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1";

fn session_from_row(
    (user_id, wallet, disabled, created_at, expires_at, revoked_at): SessionRow,
) -> SessionStatus {
    SessionStatus {
        user_id,
        wallet,
        disabled,
        created_at,
        expires_at,
        revoked_at,
    }
}

pub async fn session_status(
    db: &Db,
    session_id: &str,
) -> Result<Option<SessionStatus>, sqlx::Error> {
    let row: Option<SessionRow> = on_db!(db, pool => sqlx::query_as(SESSION_STATUS).bind(session_id).fetch_optional(pool).await)?;
    Ok(row.map(session_from_row))
}

/// The same, inside a transaction (refresh checks the session it rotates).
pub async fn session_status_in(
    tx: &mut Tx,
    session_id: &str,
) -> Result<Option<SessionStatus>, sqlx::Error> {
    let row: Option<SessionRow> = on_tx!(tx, conn => sqlx::query_as(SESSION_STATUS).bind(session_id).fetch_optional(conn).await)?;
    Ok(row.map(session_from_row))
}
