-- Fields for data that comes from an ERP (docs/INTEGRATION.md):
-- customers can be archived (active = 0) instead of deleted: an import with
-- --delete-missing retires customers it no longer lists; NULL means active.
ALTER TABLE customers ADD COLUMN active INTEGER;
-- An invoice may name the order it bills, so the rep sees which order it was.
ALTER TABLE invoices ADD COLUMN order_id TEXT;
