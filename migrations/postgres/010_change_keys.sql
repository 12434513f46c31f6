-- Who a change-log entry is for, as keys a pull can find by index instead of reading every
-- entry since its cursor (crates/server/src/rules.rs, `record_keys` and `keys_of`): '*'
-- (everyone who reads the type), 't:' || territory, 'c:' || category, 'u:' || user. An
-- entry for everyone (target '') has one row per key of its record when it was written;
-- a user's pull reads the entries under the keys its team holds, then checks each
-- record's visibility as before, so a key only has to name a superset of the viewers.
-- Rows follow their entry: replaced when it is, deleted with it.
CREATE TABLE change_keys (
    key TEXT NOT NULL,
    seq BIGINT NOT NULL,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    PRIMARY KEY (key, seq)
);
CREATE INDEX change_keys_record ON change_keys (entity, record_id);

-- Entries logged before keys existed reach everyone who may see their record, as they did.
INSERT INTO change_keys (key, seq, entity, record_id)
SELECT '*', seq, entity, record_id FROM changes WHERE target = '';

-- A pull's entries for this user alone (assignment changes, notices).
CREATE INDEX changes_targeted ON changes (target, seq) WHERE target <> '';
