-- Per-user sequence numbers (resume and de-duplication on reconnect) and delivery acks.
ALTER TABLE notifications ADD COLUMN seq BIGINT;
UPDATE notifications SET seq = numbered.rn
FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY id) AS rn FROM notifications) AS numbered
WHERE numbered.id = notifications.id;
ALTER TABLE notifications ALTER COLUMN seq SET NOT NULL;
CREATE UNIQUE INDEX notifications_user_seq_idx ON notifications (user_id, seq);
ALTER TABLE notifications ADD COLUMN delivered_at TIMESTAMPTZ;
