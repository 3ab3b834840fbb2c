//! What a worker reports while it runs jobs (`WorkerEvent`), the IPC messages a parent sends
//! (`ParentMessage`), and where events go: metrics in this process, or a worker process's stdout.
//! On SQLite a worker also relays its bus events (a notification it stored) to the parent, whose
//! in-process bus reaches the sockets.

use platform::bus::BusEvent;
use serde::{Deserialize, Serialize};

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
    /// An event of the worker's bus for the parent's (SQLite, where the bus is in-process):
    /// the row it names is already committed.
    Relay {
        event: BusEvent,
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

/// In the parent (or a test): record metrics and hand relayed bus events to the owner of the
/// bus.
#[derive(Debug, Clone)]
pub struct LocalEvents {
    pub relayed: tokio::sync::broadcast::Sender<BusEvent>,
}

impl LocalEvents {
    pub fn new() -> LocalEvents {
        LocalEvents {
            relayed: tokio::sync::broadcast::channel(8192).0,
        }
    }
}

impl Default for LocalEvents {
    fn default() -> Self {
        LocalEvents::new()
    }
}

impl WorkerEvents for LocalEvents {
    fn emit(&self, event: WorkerEvent) {
        crate::metrics::record(&event);
        match event {
            WorkerEvent::Relay { event } => {
                let _ = self.relayed.send(event);
            }
            WorkerEvent::LeaseLost { job_id, attempt } => {
                tracing::warn!(target: "worker", job_id, attempt, "lease lost: this run's result was rejected");
            }
            _ => {}
        }
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
