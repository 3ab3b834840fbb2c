-- Seed 001's queue limiter. A job may carry a rate key (its own budget when its type is limited
-- per key). Each row counts the jobs of one (type, key) started in the window beginning at
-- `window_start`; a claim of a limited type locks the type's row (key '') first, so claims of
-- one limited type are serialised across workers and instances, and counts never overshoot.
ALTER TABLE worker_jobs ADD COLUMN rate_key TEXT;
CREATE TABLE worker_job_rate_limits (
    job_type TEXT NOT NULL,
    rate_key TEXT NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    used INTEGER NOT NULL,
    PRIMARY KEY (job_type, rate_key)
);
