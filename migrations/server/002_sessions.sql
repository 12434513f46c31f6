-- Sessions name the device they were opened from and when they were last used, so IT can
-- list and revoke them. A revoked session stays (until it expires) so that its client is
-- told why it was signed out.
ALTER TABLE sessions ADD COLUMN created_at_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN last_seen_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN client_id TEXT;
ALTER TABLE sessions ADD COLUMN host_name TEXT;
ALTER TABLE sessions ADD COLUMN app_version TEXT;
ALTER TABLE sessions ADD COLUMN revoked_at_ms INTEGER;
ALTER TABLE sessions ADD COLUMN revoked_reason TEXT;

-- A disabled user cannot sign in (set by `fieldsync-server user disable`).
ALTER TABLE credentials ADD COLUMN disabled_at_ms INTEGER;
