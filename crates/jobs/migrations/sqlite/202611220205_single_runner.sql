-- Seed 004's single runner ("Global Manager"). SQLite has no session locks, so leadership is
-- a lease row: `token` rises at each takeover and fences a former leader's cycles. Each
-- committed cycle of a named periodic task is recorded in the cycle's own transaction, so a
-- cycle re-run after a takeover applies nothing twice.
CREATE TABLE job_leaders (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    token INTEGER NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE job_leader_cycles (
    name TEXT NOT NULL,
    cycle_key TEXT NOT NULL,
    holder TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    PRIMARY KEY (name, cycle_key)
);
