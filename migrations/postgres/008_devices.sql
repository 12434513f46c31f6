-- PostgreSQL twin of server/007_devices.sql.
CREATE TABLE devices (
    client_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    app_version TEXT,
    pending BIGINT NOT NULL DEFAULT 0,
    last_report_ms BIGINT NOT NULL,
    last_ok_ms BIGINT,
    last_error TEXT,
    last_error_ms BIGINT
);
CREATE TABLE device_days (
    client_id TEXT NOT NULL,
    day TEXT NOT NULL,
    ok BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    offline BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (client_id, day)
);
