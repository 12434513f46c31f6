-- Client-only state beside the entity tables (which mirror the server's).

-- Profile settings and sync progress: server url, user, client id, pull cursor, clock offset.
CREATE TABLE meta (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- Local changes not yet acknowledged by the server, in the order they were made.
-- Written in the same transaction as the change to the entity table.
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    mutation_id TEXT NOT NULL UNIQUE,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    op TEXT NOT NULL,
    fields TEXT NOT NULL,
    base_cursor INTEGER NOT NULL,
    edited_at_ms INTEGER NOT NULL
);
CREATE INDEX outbox_record ON outbox (entity, record_id);

-- The last known server state of records that have local changes in flight (NULL data:
-- the server has no such record). Visible row = shadow + pending outbox entries, which is
-- how pulled server state is rebased under local edits.
CREATE TABLE shadows (
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    data TEXT,
    PRIMARY KEY (entity, record_id)
) WITHOUT ROWID;

-- Mutations the server rejected, waiting for the user to fix and resend, or discard.
CREATE TABLE attention (
    mutation_id TEXT PRIMARY KEY NOT NULL,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    op TEXT NOT NULL,
    fields TEXT NOT NULL,
    code TEXT NOT NULL,
    reason TEXT NOT NULL,
    rejected_at_ms INTEGER NOT NULL
);
