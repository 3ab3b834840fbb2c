//! Notification types and rules (no IO).

use platform::Timestamp;
use serde::Serialize;

/// A stored notification. `seq` increases by one per user, in commit order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: i64,
    pub seq: i64,
    pub user_id: i64,
    pub data: serde_json::Value,
    pub read: bool,
    pub created_at: Timestamp,
}

/// Largest page `getMyNotifications` serves.
pub const MAX_PER_PAGE: i64 = 100;
/// Largest notification payload accepted, in bytes of JSON.
pub const MAX_DATA_BYTES: usize = 16 * 1024;
/// How many missed notifications a reconnecting client is replayed before it is told to
/// reset (refetch the list) instead.
pub const MAX_REPLAY: i64 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    #[error("no such notification")]
    NotFound,
    #[error("no such user")]
    UnknownUser,
    #[error("{0}")]
    Invalid(&'static str),
    #[error("database error")]
    Database(String),
}

impl From<sqlx::Error> for NotificationError {
    fn from(error: sqlx::Error) -> NotificationError {
        tracing::error!(target: "notifications", error = %error, "database error");
        NotificationError::Database(error.to_string())
    }
}

/// Checks a page request: `startIndex` ≥ 0, 1 ≤ `perPage` ≤ 100.
pub fn check_page(start_index: i64, per_page: i64) -> Result<(), NotificationError> {
    if start_index < 0 {
        return Err(NotificationError::Invalid("startIndex must be 0 or more"));
    }
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(NotificationError::Invalid(
            "perPage must be between 1 and 100",
        ));
    }
    Ok(())
}

pub fn check_data(data: &serde_json::Value) -> Result<(), NotificationError> {
    if !data.is_object() {
        return Err(NotificationError::Invalid(
            "notification data must be a JSON object",
        ));
    }
    if data.to_string().len() > MAX_DATA_BYTES {
        return Err(NotificationError::Invalid(
            "notification data is larger than 16 KiB",
        ));
    }
    Ok(())
}
