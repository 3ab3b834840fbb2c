-- Queue semantics on top of seed 000's columns: attempts (also the fencing token of a lease),
-- a retry budget, priority, an idempotency key unique while the job is pending or running,
-- the lease of the worker running it, how it ended, and a unique key per cron tick.
ALTER TABLE worker_jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE worker_jobs ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 5;
ALTER TABLE worker_jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE worker_jobs ADD COLUMN idempotency_key TEXT;
ALTER TABLE worker_jobs ADD COLUMN cron_tick_key TEXT;
ALTER TABLE worker_jobs ADD COLUMN lease_expires_at TIMESTAMPTZ;
ALTER TABLE worker_jobs ADD COLUMN locked_by TEXT;
ALTER TABLE worker_jobs ADD COLUMN outcome TEXT
    CHECK (outcome IN ('succeeded', 'failed', 'rescheduled', 'dead', 'cancelled'));
ALTER TABLE worker_jobs ADD COLUMN last_error TEXT;

DROP INDEX worker_jobs_pending_idx;
CREATE INDEX worker_jobs_claim_idx ON worker_jobs (priority DESC, due, id)
    WHERE started IS NULL AND finished IS NULL;
CREATE INDEX worker_jobs_lease_idx ON worker_jobs (lease_expires_at)
    WHERE started IS NOT NULL AND finished IS NULL;
CREATE UNIQUE INDEX worker_jobs_idempotency_key_idx ON worker_jobs (idempotency_key)
    WHERE finished IS NULL AND idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX worker_jobs_cron_tick_key_idx ON worker_jobs (cron_tick_key);
CREATE INDEX worker_jobs_type_idx ON worker_jobs (type, id);
