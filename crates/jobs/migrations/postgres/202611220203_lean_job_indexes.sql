-- Fewer index entries per job: a row's claim and its completion are not HOT updates, so each
-- writes an entry into every index whose predicate the new row version matches. Only finished
-- jobs are ever deleted by `remove_at`, and only cron ticks carry a tick key, so those two
-- indexes now hold just the rows they serve (a unique index's NULLs never conflicted anyway).
DROP INDEX worker_jobs_remove_at_idx;
CREATE INDEX worker_jobs_remove_at_idx ON worker_jobs (remove_at) WHERE finished IS NOT NULL;
DROP INDEX worker_jobs_cron_tick_key_idx;
CREATE UNIQUE INDEX worker_jobs_cron_tick_key_idx ON worker_jobs (cron_tick_key)
    WHERE cron_tick_key IS NOT NULL;
