-- Per-device sync health (POST /v1/device-report, `fieldsync-server devices`): the newest
-- report of each client, and its outcomes per UTC day (kept DEVICE_DAYS_KEPT days).
CREATE TABLE devices (
    client_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    app_version TEXT,
    pending INTEGER NOT NULL DEFAULT 0,
    last_report_ms INTEGER NOT NULL,
    last_ok_ms INTEGER,
    last_error TEXT,
    last_error_ms INTEGER
);
CREATE TABLE device_days (
    client_id TEXT NOT NULL,
    day TEXT NOT NULL,
    ok INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    offline INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (client_id, day)
);
