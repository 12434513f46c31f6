-- The database's identity and history epoch (crates/server/src/history.rs). Cursor tokens
-- name both, so a client notices a database restored from a backup or replaced by another.
INSERT INTO server_meta (key, value) VALUES
    ('database_id', md5(random()::text || clock_timestamp()::text)),
    ('epoch_id', substr(md5(clock_timestamp()::text || random()::text), 1, 16)),
    ('epoch', '1'),
    ('epoch_start', '1');

-- Per client installation, the highest `client_seq` among its applied mutations. A new
-- mutation that repeats an earlier number comes from a copy of the profile
-- (`profile_copied`), whose older edits must not pass for the original's.
CREATE TABLE client_sequences (
    client_id TEXT PRIMARY KEY NOT NULL,
    last_seq BIGINT NOT NULL
);
