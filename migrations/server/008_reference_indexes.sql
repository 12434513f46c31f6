-- Every reference is indexed (visibility rules and delete checks follow references):
-- invoices.order_id, added by entities/002_erp_fields.sql, was not.
CREATE INDEX invoices_order_id ON invoices (order_id);
