-- The durable job queue (seed 000 `worker_jobs`), columns as in the seed.
CREATE TABLE worker_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    user_id INTEGER NOT NULL,
    data TEXT NOT NULL CHECK (json_valid(data)),
    due TEXT NOT NULL,
    started TEXT,
    finished TEXT,
    remove_at TEXT NOT NULL,
    success INTEGER CHECK (success IN (0, 1)),
    result TEXT CHECK (result IS NULL OR json_valid(result)),
    cron_schedule TEXT,
    auto_reschedule_on_failure INTEGER NOT NULL DEFAULT 0 CHECK (auto_reschedule_on_failure IN (0, 1)),
    auto_reschedule_on_failure_delay INTEGER NOT NULL DEFAULT 0,
    remove_delay INTEGER NOT NULL DEFAULT 0,
    rescheduled_from_job INTEGER,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX worker_jobs_pending_idx ON worker_jobs (due) WHERE started IS NULL;
CREATE INDEX worker_jobs_remove_at_idx ON worker_jobs (remove_at);
