-- Seed 004's single runner ("Global Manager"): each committed cycle of a named periodic task,
-- written in the cycle's own transaction, so a cycle re-run after a takeover applies nothing
-- twice. (On PostgreSQL leadership is a session advisory lock; no table.)
CREATE TABLE job_leader_cycles (
    name TEXT NOT NULL,
    cycle_key TEXT NOT NULL,
    holder TEXT NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (name, cycle_key)
);
