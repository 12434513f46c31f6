-- A record's screen marks the fields a conflict overwrote (the customer card): it looks
-- the conflict log up by record instead of reading all of it.
CREATE INDEX sync_conflicts_record ON sync_conflicts (entity, record_id);
