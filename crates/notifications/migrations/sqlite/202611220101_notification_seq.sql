-- Per-user sequence numbers (resume and de-duplication on reconnect) and delivery acks.
ALTER TABLE notifications ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE notifications SET seq = (
    SELECT COUNT(*) FROM notifications AS earlier
    WHERE earlier.user_id = notifications.user_id AND earlier.id <= notifications.id
);
CREATE UNIQUE INDEX notifications_user_seq_idx ON notifications (user_id, seq);
ALTER TABLE notifications ADD COLUMN delivered_at TEXT;
