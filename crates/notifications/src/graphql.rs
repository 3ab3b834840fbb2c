//! Seed 000's notification schema: `getMyNotifications`, `getMyUnreadNotificationsCount`,
//! `markNotificationAsRead`, `markAllNotificationsAsRead`, and `createNotification` for
//! admins. Thin: guards, then the service.

use async_graphql::{Context, InputObject, Json, Object, SimpleObject};
use auth::graphql::{PositiveInt, Success, error, require_admin, require_user};
use chrono::{DateTime, Utc};
use platform::AppState;

use crate::domain::{Notification, NotificationError};
use crate::service::NotificationService;

fn service<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a NotificationService> {
    let state = ctx.data::<AppState>()?;
    Ok(state.service::<NotificationService>())
}

fn to_graphql(e: NotificationError) -> async_graphql::Error {
    match e {
        NotificationError::NotFound => error("NOT_FOUND", "no such notification"),
        NotificationError::UnknownUser => error("NOT_FOUND", "no such user"),
        NotificationError::Invalid(message) => error("BAD_USER_INPUT", message),
        NotificationError::Database(_) => error("INTERNAL", "internal error"),
    }
}

#[derive(Debug, InputObject)]
pub struct PageParam {
    pub start_index: i32,
    pub per_page: PositiveInt,
}

/// A notification as the API shows it.
#[derive(Debug, SimpleObject)]
#[graphql(name = "Notification")]
pub struct NotificationObject {
    pub id: PositiveInt,
    pub seq: PositiveInt,
    pub user_id: PositiveInt,
    pub data: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub read: bool,
}

impl From<Notification> for NotificationObject {
    fn from(n: Notification) -> NotificationObject {
        NotificationObject {
            id: PositiveInt(n.id),
            seq: PositiveInt(n.seq),
            user_id: PositiveInt(n.user_id),
            data: Json(n.data),
            created_at: n.created_at.datetime(),
            read: n.read,
        }
    }
}

#[derive(Debug, SimpleObject)]
pub struct MyNotifications {
    pub notifications: Vec<NotificationObject>,
    pub start_index: i32,
    pub total: i32,
}

#[derive(Debug, Default)]
pub struct NotificationsQuery;

#[Object]
impl NotificationsQuery {
    /// The caller's notifications, newest first.
    async fn get_my_notifications(
        &self,
        ctx: &Context<'_>,
        page_param: PageParam,
    ) -> async_graphql::Result<MyNotifications> {
        let user = require_user(ctx)?;
        let (rows, total) = service(ctx)?
            .page(
                user.user_id,
                i64::from(page_param.start_index),
                page_param.per_page.0,
            )
            .await
            .map_err(to_graphql)?;
        Ok(MyNotifications {
            notifications: rows.into_iter().map(NotificationObject::from).collect(),
            start_index: page_param.start_index,
            total: i32::try_from(total).unwrap_or(i32::MAX),
        })
    }

    async fn get_my_unread_notifications_count(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<i32> {
        let user = require_user(ctx)?;
        let count = service(ctx)?
            .unread_count(user.user_id)
            .await
            .map_err(to_graphql)?;
        Ok(i32::try_from(count).unwrap_or(i32::MAX))
    }
}

#[derive(Debug, Default)]
pub struct NotificationsMutation;

#[Object]
impl NotificationsMutation {
    async fn mark_notification_as_read(
        &self,
        ctx: &Context<'_>,
        id: PositiveInt,
    ) -> async_graphql::Result<Success> {
        let user = require_user(ctx)?;
        service(ctx)?
            .mark_read(user.user_id, id.0)
            .await
            .map_err(to_graphql)?;
        Ok(Success { success: true })
    }

    async fn mark_all_notifications_as_read(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Success> {
        let user = require_user(ctx)?;
        service(ctx)?
            .mark_all_read(user.user_id)
            .await
            .map_err(to_graphql)?;
        Ok(Success { success: true })
    }

    /// Stores and pushes a notification to a user (admin only).
    async fn create_notification(
        &self,
        ctx: &Context<'_>,
        user_id: PositiveInt,
        data: Json<serde_json::Value>,
    ) -> async_graphql::Result<NotificationObject> {
        require_admin(ctx)?;
        let notification = service(ctx)?
            .notify_user(user_id.0, data.0)
            .await
            .map_err(to_graphql)?;
        Ok(notification.into())
    }
}
