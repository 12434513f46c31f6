-- PostgreSQL twin of server/008_reference_indexes.sql.
CREATE INDEX invoices_order_id ON invoices (order_id);
