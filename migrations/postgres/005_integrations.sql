-- PostgreSQL twin of server/004_integrations.sql.

-- Tokens of back-office systems: only the SHA-256 of a token is stored.
CREATE TABLE integrations (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    -- Space-separated scopes: import:ENTITY, export:ENTITY ('*' for every type).
    scopes TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    last_used_at_ms BIGINT,
    revoked_at_ms BIGINT
);
CREATE INDEX integrations_name ON integrations (name);

-- Where events are POSTed; the secret signs each delivery (HMAC-SHA256).
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY NOT NULL,
    url TEXT NOT NULL,
    -- Space-separated event names, e.g. "order.approved order.rejected".
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    removed_at_ms BIGINT
);

-- The delivery log and queue: a row is written in the transaction that caused the event,
-- so an event is never lost and never sent for a change that was rolled back.
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    webhook_id TEXT NOT NULL,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    -- pending (waiting for its next attempt), delivered, or failed (gave up).
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT NOT NULL,
    last_status BIGINT,
    last_error TEXT,
    delivered_at_ms BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at_ms);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at_ms);

-- The manager's dashboard counts each user's refused changes of the last days.
CREATE INDEX applied_mutations_user ON applied_mutations (user_id, at_ms);
