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
    /// What the job events written since the last line add up to, per job type: a busy
    /// worker process sends one of these per write instead of two lines per job.
    Stats {
        #[serde(rename = "jobTypes")]
        job_types: Vec<TypeStats>,
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

/// Started, finished and enqueued jobs of one type, added up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeStats {
    pub job_type: String,
    pub started: u64,
    /// Each start's schedule-to-start latency, in milliseconds.
    pub waits_ms: Vec<f64>,
    pub enqueued: u64,
    /// Finished runs per outcome (`succeeded`, `retry_later`, `dead`...).
    pub outcomes: Vec<(String, u64)>,
}

impl TypeStats {
    /// Adds a job event to `stats`; false (and nothing added) for other events.
    pub fn add(stats: &mut Vec<TypeStats>, event: &WorkerEvent) -> bool {
        let job_type = match event {
            WorkerEvent::JobStarted { job_type, .. }
            | WorkerEvent::JobCompleted { job_type, .. }
            | WorkerEvent::JobsEnqueued { job_type, .. } => job_type,
            _ => return false,
        };
        let index = match stats.iter().position(|s| &s.job_type == job_type) {
            Some(index) => index,
            None => {
                stats.push(TypeStats {
                    job_type: job_type.clone(),
                    ..TypeStats::default()
                });
                stats.len() - 1
            }
        };
        let entry = &mut stats[index];
        match event {
            WorkerEvent::JobStarted { wait_ms, .. } => {
                entry.started += 1;
                entry.waits_ms.push(*wait_ms);
            }
            WorkerEvent::JobCompleted { outcome, .. } => {
                match entry.outcomes.iter_mut().find(|(o, _)| o == outcome) {
                    Some((_, count)) => *count += 1,
                    None => entry.outcomes.push((outcome.clone(), 1)),
                }
            }
            WorkerEvent::JobsEnqueued { count, .. } => entry.enqueued += count,
            _ => {}
        }
        true
    }
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
            relayed: tokio::sync::broadcast::channel(platform::bus::CAPACITY).0,
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
    fn events_are_json_lines_and_job_events_add_up() {
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
        let mut stats = Vec::new();
        let started = |job_type: &str, wait_ms| WorkerEvent::JobStarted {
            job_id: 1,
            job_type: job_type.into(),
            attempt: 1,
            wait_ms,
        };
        let completed = |outcome: &str| WorkerEvent::JobCompleted {
            job_id: 1,
            job_type: "echo".into(),
            outcome: outcome.into(),
            duration_ms: 0.1,
        };
        for event in [
            started("echo", 1.5),
            started("echo", 2.5),
            started("noop", 0.5),
            completed("succeeded"),
            completed("succeeded"),
            completed("dead"),
        ] {
            assert!(TypeStats::add(&mut stats, &event));
        }
        assert!(!TypeStats::add(&mut stats, &WorkerEvent::Stopped));
        assert_eq!(stats.len(), 2);
        assert_eq!(stats[0].job_type, "echo");
        assert_eq!(stats[0].started, 2);
        assert_eq!(stats[0].waits_ms, vec![1.5, 2.5]);
        assert_eq!(
            stats[0].outcomes,
            vec![("succeeded".to_owned(), 2), ("dead".to_owned(), 1)]
        );
        assert_eq!(stats[1].job_type, "noop");
        assert_eq!(stats[1].started, 1);
        let parsed: ParentMessage =
            serde_json::from_str(r#"{"type":"shutdown","graceful":true}"#).expect("parses");
        assert_eq!(parsed, ParentMessage::Shutdown { graceful: true });
    }
}
