-- How the last syncs went, for the diagnostics a support desk asks for (the newest
-- `diagnostics::KEEP_SYNCS` are kept). Counts and the error in words only: no record values.
CREATE TABLE sync_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'offline', 'failed')),
    code TEXT,
    message TEXT,
    pushed INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0,
    pulled INTEGER NOT NULL DEFAULT 0,
    conflicts INTEGER NOT NULL DEFAULT 0
);
