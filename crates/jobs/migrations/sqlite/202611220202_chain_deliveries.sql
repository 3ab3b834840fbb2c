-- Each EVM log `watchChain` handed to a module, once per (subscription, block hash, log index);
-- `log` is what the handler was given; `retracted` is set when its block left the canonical
-- chain (a reorg).
CREATE TABLE chain_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription TEXT NOT NULL,
    block_number INTEGER NOT NULL,
    block_hash TEXT NOT NULL,
    transaction_hash TEXT NOT NULL,
    log_index INTEGER NOT NULL,
    log TEXT NOT NULL CHECK (json_valid(log)),
    job_id INTEGER,
    retracted INTEGER NOT NULL DEFAULT 0 CHECK (retracted IN (0, 1)),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (subscription, block_hash, log_index)
);
CREATE INDEX chain_deliveries_block_idx ON chain_deliveries (block_number);
