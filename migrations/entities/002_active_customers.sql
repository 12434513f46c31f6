-- Customers can be archived (active = 0) instead of deleted: an ERP import with
-- --delete-missing retires customers it no longer lists. NULL means active.
ALTER TABLE customers ADD COLUMN active INTEGER;
