//! What a worker reports while it runs jobs (`WorkerEvent`), the IPC messages a parent sends
//! (`ParentMessage`), and where events go: metrics in this process, or a worker process's stdout.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One line a worker process writes to its parent (JSON, one object per line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkerEvent {
    Ready {
        pid: u32,
    },
    JobStarted {
        #[serde(rename = "jobId")]
        job_id: i64,
        #[serde(rename = "jobType")]
        job_type: String,
        attempt: i32,
        /// From due to start, in milliseconds.
        #[serde(rename = "waitMs")]
        wait_ms: f64,
    },
    JobCompleted {
        #[serde(rename = "jobId")]
        job_id: i64,
        #[serde(rename = "jobType")]
        job_type: String,
        outcome: String,
        #[serde(rename = "durationMs")]
        duration_ms: f64,
    },
    JobsEnqueued {
        #[serde(rename = "jobType")]
        job_type: String,
        count: u64,
    },
    /// This run was fenced out: its lease had expired and the job was taken over or cancelled.
    LeaseLost {
        #[serde(rename = "jobId")]
        job_id: i64,
        attempt: i32,
    },
    NotifyUser {
        #[serde(rename = "userId")]
        user_id: i64,
        data: Value,
    },
    Stopped,
}

/// One line a parent writes to a worker process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ParentMessage {
    /// Stop claiming; `graceful`: let running jobs finish within the grace period.
    Shutdown { graceful: bool },
    /// A job was enqueued (SQLite, where there is no LISTEN/NOTIFY).
    Wake,
}

/// Where a runner reports.
pub trait WorkerEvents: Send + Sync + 'static {
    fn emit(&self, event: WorkerEvent);
}

/// In the parent (or a test): record metrics and forward user notifications.
#[derive(Debug, Clone)]
pub struct LocalEvents {
    pub notifications: tokio::sync::broadcast::Sender<UserNotification>,
}

impl LocalEvents {
    pub fn new() -> LocalEvents {
        LocalEvents {
            notifications: tokio::sync::broadcast::channel(1024).0,
        }
    }
}

impl Default for LocalEvents {
    fn default() -> Self {
        LocalEvents::new()
    }
}

/// A "notify this user" event a job raised, delivered to whoever owns the user's sockets.
#[derive(Debug, Clone, PartialEq)]
pub struct UserNotification {
    pub user_id: i64,
    pub data: Value,
}

impl WorkerEvents for LocalEvents {
    fn emit(&self, event: WorkerEvent) {
        crate::metrics::record(&event);
        match event {
            WorkerEvent::NotifyUser { user_id, data } => {
                let _ = self.notifications.send(UserNotification { user_id, data });
            }
            WorkerEvent::LeaseLost { job_id, attempt } => {
                tracing::warn!(target: "worker", job_id, attempt, "lease lost: this run's result was rejected");
            }
            _ => {}
        }
    }
}

/// Lets a job's `notify_user` reach the event sink.
pub struct EventNotifier<E: WorkerEvents + ?Sized>(pub std::sync::Arc<E>);

impl<E: WorkerEvents + ?Sized> platform::job::UserNotifier for EventNotifier<E> {
    fn notify_user(&self, user_id: i64, data: Value) {
        self.0.emit(WorkerEvent::NotifyUser { user_id, data });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_one_json_object_with_a_type() {
        let line = serde_json::to_string(&WorkerEvent::JobCompleted {
            job_id: 7,
            job_type: "echo".into(),
            outcome: "succeeded".into(),
            duration_ms: 1.5,
        })
        .expect("serialises");
        assert_eq!(
            line,
            r#"{"type":"job_completed","jobId":7,"jobType":"echo","outcome":"succeeded","durationMs":1.5}"#
        );
        let parsed: ParentMessage =
            serde_json::from_str(r#"{"type":"shutdown","graceful":true}"#).expect("parses");
        assert_eq!(parsed, ParentMessage::Shutdown { graceful: true });
    }
}
