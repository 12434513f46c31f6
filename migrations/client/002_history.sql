-- Cursors became opaque tokens naming the server's database and history epoch, and every
-- mutation carries the client's own growing count (client_seq), so the server can tell a
-- copied profile. Pending changes keep their place; their base cursor is unknown (''),
-- which the server reads as "saw nothing": a concurrent edit is logged as a conflict.
CREATE TABLE outbox_v2 (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    mutation_id TEXT NOT NULL UNIQUE,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    op TEXT NOT NULL,
    fields TEXT NOT NULL,
    base_cursor TEXT NOT NULL,
    client_seq INTEGER NOT NULL,
    edited_at_ms INTEGER NOT NULL
);
INSERT INTO outbox_v2 (seq, mutation_id, entity, record_id, op, fields, base_cursor, client_seq, edited_at_ms)
    SELECT seq, mutation_id, entity, record_id, op, fields, '', seq, edited_at_ms FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v2 RENAME TO outbox;
CREATE INDEX outbox_record ON outbox (entity, record_id);
INSERT OR REPLACE INTO meta (key, value) VALUES ('client_seq', (SELECT coalesce(max(seq), 0) FROM outbox));
DELETE FROM meta WHERE key = 'cursor';

-- Changes the server acknowledged, kept for `resend_days` after the acknowledgement: a
-- server restored from an earlier backup (`history_changed`) gets them again, ahead of
-- the pending ones, and applies those it does not have.
CREATE TABLE sent (
    mutation_id TEXT PRIMARY KEY NOT NULL,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    op TEXT NOT NULL,
    fields TEXT NOT NULL,
    base_cursor TEXT NOT NULL,
    client_seq INTEGER NOT NULL,
    edited_at_ms INTEGER NOT NULL,
    acked_at_ms INTEGER NOT NULL
);
CREATE INDEX sent_acked_at ON sent (acked_at_ms);
