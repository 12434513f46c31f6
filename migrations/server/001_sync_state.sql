-- Server-only bookkeeping beside the entity tables.

-- Password hashes (argon2id, PHC strings) live apart from the synced users table.
CREATE TABLE credentials (
    user_id TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL
);

-- Bearer sessions; only the SHA-256 of a token is stored.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Assignments that decide visibility (admin-managed, not synced as entities).
CREATE TABLE user_territories (
    user_id TEXT NOT NULL,
    territory_id TEXT NOT NULL,
    PRIMARY KEY (user_id, territory_id)
) WITHOUT ROWID;
CREATE TABLE territory_categories (
    territory_id TEXT NOT NULL,
    category_id TEXT NOT NULL,
    PRIMARY KEY (territory_id, category_id)
) WITHOUT ROWID;

-- The change log: one row per record (and per target user, see below), holding the
-- sequence number of its latest change. A new change replaces the row, so AUTOINCREMENT
-- hands out a fresh, never reused seq. seq is allocated inside the (single) writer
-- transaction, so changes become visible in seq order: a reader can never see seq N+1
-- before seq N has committed.
-- target '' is a change for everyone who can see the record. A non-empty target is a
-- user id: a record that became visible (deleted = 0) or invisible (deleted = 1) to that
-- user alone because assignments changed; entity '_notice' rows point at `notices`.
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    target TEXT NOT NULL DEFAULT '',
    UNIQUE (entity, record_id, target)
);

-- Messages for one user about what changed for them ("12 customers moved to SOUTH").
CREATE TABLE notices (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    text TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);

-- Per-field edit stamps for last-write-wins: when (server time) and by whom each field of
-- a record was last written, and the seq of that write.
CREATE TABLE field_stamps (
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    field TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (entity, record_id, field)
) WITHOUT ROWID;

-- Results of every mutation ever applied or rejected: a retried push returns these
-- instead of applying again (exactly-once).
CREATE TABLE applied_mutations (
    mutation_id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    result TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);

CREATE TABLE server_meta (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
