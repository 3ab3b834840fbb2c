//! Notification use cases: store-then-push (`notify_user`), listing, counting, marking read,
//! replay after a reconnect, acknowledgement; and the dispatcher that turns bus events into
//! socket messages on this instance.

use std::sync::Arc;

use platform::bus::{BusEvent, EventBus};
use platform::{Db, Reads, Timestamp};
use realtime::{Hub, Outbound, envelope};
use serde_json::json;

use crate::domain::{self, Notification, NotificationError};
use crate::store;

/// PostgreSQL connections the service may hold outside the pool for its frequent reads.
const READ_CONNECTIONS: usize = 16;

/// Topic of the event that announces a stored notification: `{userId, id, seq}`.
pub const NOTIFICATION_STORED: &str = "notifications.stored";
/// Topic of an unstored message for every socket, or a room's: `{room?, type, data}`.
pub const REALTIME_MESSAGE: &str = "realtime.message";

#[derive(Debug)]
pub struct NotificationService {
    db: Db,
    /// The frequent reads (a page, counts, a socket's position, a row to push) on
    /// connections lent outside sqlx's pool: one round trip each instead of two.
    reads: Reads,
    bus: Arc<EventBus>,
    pub hub: Arc<Hub>,
}

impl NotificationService {
    pub fn new(db: Db, bus: Arc<EventBus>, hub: Arc<Hub>) -> NotificationService {
        let reads = Reads::new(&db, READ_CONNECTIONS);
        NotificationService {
            db,
            reads,
            bus,
            hub,
        }
    }

    /// Stores a notification for `user_id`, then pushes it to every socket of that user on
    /// every instance. The write is committed before anyone is told.
    pub async fn notify_user(
        &self,
        user_id: i64,
        data: serde_json::Value,
    ) -> Result<Notification, NotificationError> {
        domain::check_data(&data)?;
        let mut tx = self.db.begin().await?;
        if !store::lock_user(&mut tx, user_id).await? {
            return Err(NotificationError::UnknownUser);
        }
        let notification =
            store::insert_notification(&mut tx, user_id, &data, Timestamp::now()).await?;
        let event = stored_event(&notification);
        let after_commit = self.bus.publish_in(&mut tx, event).await?;
        tx.commit().await?;
        if let Some(event) = after_commit {
            self.bus.publish_local(event);
        }
        Ok(notification)
    }

    /// Newest first, with the total count.
    pub async fn page(
        &self,
        user_id: i64,
        start_index: i64,
        per_page: i64,
    ) -> Result<(Vec<Notification>, i64), NotificationError> {
        domain::check_page(start_index, per_page)?;
        let (notifications, total) =
            store::page_with_total(&self.reads, user_id, start_index, per_page).await?;
        let total = match total {
            Some(total) => total,
            // An empty first page: the user has none.
            None if start_index == 0 => 0,
            // Past the end: the count alone.
            None => store::count_notifications(&self.reads, user_id).await?,
        };
        Ok((notifications, total))
    }

    pub async fn unread_count(&self, user_id: i64) -> Result<i64, NotificationError> {
        Ok(store::count_unread(&self.reads, user_id).await?)
    }

    /// Another user's notification is "not found", exactly like a missing one.
    pub async fn mark_read(&self, user_id: i64, id: i64) -> Result<(), NotificationError> {
        if store::mark_read(&self.db, user_id, id, Timestamp::now()).await? {
            Ok(())
        } else {
            Err(NotificationError::NotFound)
        }
    }

    pub async fn mark_all_read(&self, user_id: i64) -> Result<u64, NotificationError> {
        Ok(store::mark_all_read(&self.db, user_id, Timestamp::now()).await?)
    }

    pub async fn after(
        &self,
        user_id: i64,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<Notification>, NotificationError> {
        Ok(store::notifications_after(&self.db, user_id, after_seq, limit).await?)
    }

    pub async fn unacknowledged(
        &self,
        user_id: i64,
        limit: i64,
    ) -> Result<Vec<Notification>, NotificationError> {
        Ok(store::unacknowledged(&self.db, user_id, limit).await?)
    }

    pub async fn seq_range(&self, user_id: i64) -> Result<(i64, i64), NotificationError> {
        Ok(store::seq_range(&self.reads, user_id).await?)
    }

    pub async fn acknowledge(
        &self,
        user_id: i64,
        up_to_seq: i64,
    ) -> Result<u64, NotificationError> {
        Ok(store::acknowledge(&self.db, user_id, up_to_seq, Timestamp::now()).await?)
    }

    /// Sends a message (not stored, not replayed) to every open socket on every instance, or
    /// to the sockets subscribed to `room` (seed 000 `broadcastToAll`).
    pub async fn broadcast(
        &self,
        room: Option<&str>,
        kind: &str,
        data: serde_json::Value,
    ) -> Result<(), NotificationError> {
        let event = BusEvent {
            topic: REALTIME_MESSAGE.to_owned(),
            payload: json!({ "room": room, "type": kind, "data": data }),
        };
        Ok(self.bus.publish(event).await?)
    }

    /// Routes bus events to this instance's sockets for the life of the process: stored
    /// notifications to their user's sockets (read once here, not once per socket), revoked
    /// sessions to a close.
    pub fn dispatch_events(self: &Arc<NotificationService>) {
        let mut events = self.bus.subscribe();
        let service = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let event = match events.recv().await {
                    Ok(event) => event,
                    // Missed events are recovered by each connection's gap check.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(target: "realtime", missed, "event dispatcher lagged");
                        continue;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                let Some(service) = service.upgrade() else {
                    return;
                };
                service.dispatch(&event).await;
            }
        });
    }

    async fn dispatch(&self, event: &BusEvent) {
        match event.topic.as_str() {
            NOTIFICATION_STORED => {
                let Some(id) = event.payload["id"].as_i64() else {
                    return;
                };
                match store::find_notification(&self.reads, id).await {
                    Ok(Some(notification)) => {
                        let message = Outbound::Sequenced {
                            seq: notification.seq,
                            text: envelope("notification", &notification),
                        };
                        self.hub.send_to_user(notification.user_id, &message);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(target: "realtime", error = %e, "cannot read a stored notification")
                    }
                }
            }
            REALTIME_MESSAGE => {
                let kind = event.payload["type"].as_str().unwrap_or("notification");
                let message = Outbound::Text(envelope(kind, &event.payload["data"]));
                match event.payload["room"].as_str() {
                    Some(room) => self.hub.send_to_room(room, &message),
                    None => self.hub.broadcast(&message),
                };
            }
            auth::AuthService::SESSIONS_REVOKED => {
                for id in event.payload["sessionIds"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str())
                {
                    self.hub.close_session(id);
                }
            }
            _ => {}
        }
    }
}

fn stored_event(notification: &Notification) -> BusEvent {
    BusEvent {
        topic: NOTIFICATION_STORED.to_owned(),
        payload: json!({ "userId": notification.user_id, "id": notification.id, "seq": notification.seq }),
    }
}

/// Jobs notify users through the service: the row is committed before the job goes on, so a
/// job that succeeded has stored its notifications even if its process dies right after.
impl platform::job::UserNotifier for NotificationService {
    fn notify_user(
        &self,
        user_id: i64,
        payload: serde_json::Value,
    ) -> platform::job::NotifyFuture<'_> {
        Box::pin(async move {
            match NotificationService::notify_user(self, user_id, payload).await {
                Ok(_) => Ok(()),
                Err(e @ (NotificationError::UnknownUser | NotificationError::Invalid(_))) => {
                    Err(platform::JobFailure::permanent(e.to_string()))
                }
                Err(e) => Err(platform::JobFailure::new(e.to_string())),
            }
        })
    }
}
