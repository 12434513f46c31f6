-- Client-only state beside the entity tables (which mirror the server's).

-- Profile settings and sync progress: server url, user, client id, pull cursor, clock offset.
CREATE TABLE meta (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- Local changes not yet acknowledged by the server, in the order they were made.
-- Written in the same transaction as the change to the entity table.
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    mutation_id TEXT NOT NULL UNIQUE,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    op TEXT NOT NULL,
    fields TEXT NOT NULL,
    base_cursor INTEGER NOT NULL,
    edited_at_ms INTEGER NOT NULL
);
CREATE INDEX outbox_record ON outbox (entity, record_id);

-- The last known server state of records that have local changes in flight (NULL data:
-- the server has no such record). Visible row = shadow + pending outbox entries, which is
-- how pulled server state is rebased under local edits.
CREATE TABLE shadows (
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    data TEXT,
    PRIMARY KEY (entity, record_id)
) WITHOUT ROWID;

-- Mutations the server rejected, waiting for the user to fix and resend, or discard.
CREATE TABLE attention (
    mutation_id TEXT PRIMARY KEY NOT NULL,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    op TEXT NOT NULL,
    fields TEXT NOT NULL,
    code TEXT NOT NULL,
    reason TEXT NOT NULL,
    rejected_at_ms INTEGER NOT NULL
);

-- Indexes for looking records up by their parent (a customer's contacts, an order's
-- lines, ...). A customer's territory and price list are not looked up that way here.
CREATE INDEX users_manager_id ON users (manager_id);
CREATE INDEX contacts_customer_id ON contacts (customer_id);
CREATE INDEX addresses_customer_id ON addresses (customer_id);
CREATE INDEX products_category_id ON products (category_id);
CREATE INDEX price_list_items_price_list_id ON price_list_items (price_list_id);
CREATE INDEX price_list_items_product_id ON price_list_items (product_id);
CREATE INDEX promotions_product_id ON promotions (product_id);
CREATE INDEX inventory_levels_warehouse_id ON inventory_levels (warehouse_id);
CREATE INDEX inventory_levels_product_id ON inventory_levels (product_id);
CREATE INDEX orders_customer_id ON orders (customer_id);
CREATE INDEX orders_rep_id ON orders (rep_id);
CREATE INDEX order_lines_order_id ON order_lines (order_id);
CREATE INDEX order_lines_product_id ON order_lines (product_id);
CREATE INDEX order_reviews_order_id ON order_reviews (order_id);
CREATE INDEX order_reviews_reviewer_id ON order_reviews (reviewer_id);
CREATE INDEX visits_customer_id ON visits (customer_id);
CREATE INDEX visits_rep_id ON visits (rep_id);
CREATE INDEX visit_plans_customer_id ON visit_plans (customer_id);
CREATE INDEX visit_plans_rep_id ON visit_plans (rep_id);
CREATE INDEX tasks_customer_id ON tasks (customer_id);
CREATE INDEX tasks_assignee_id ON tasks (assignee_id);
CREATE INDEX tasks_visit_id ON tasks (visit_id);
CREATE INDEX invoices_customer_id ON invoices (customer_id);
CREATE INDEX payments_invoice_id ON payments (invoice_id);
CREATE INDEX returns_customer_id ON returns (customer_id);
CREATE INDEX returns_order_id ON returns (order_id);
CREATE INDEX return_lines_return_id ON return_lines (return_id);
CREATE INDEX return_lines_product_id ON return_lines (product_id);
CREATE INDEX samples_visit_id ON samples (visit_id);
CREATE INDEX samples_product_id ON samples (product_id);
CREATE INDEX competitor_observations_visit_id ON competitor_observations (visit_id);
CREATE INDEX competitor_observations_product_id ON competitor_observations (product_id);
CREATE INDEX deliveries_order_id ON deliveries (order_id);
CREATE INDEX deliveries_address_id ON deliveries (address_id);
CREATE INDEX deliveries_shipper_id ON deliveries (shipper_id);
CREATE INDEX sync_conflicts_kept_by_id ON sync_conflicts (kept_by_id);
CREATE INDEX sync_conflicts_overwritten_by_id ON sync_conflicts (overwritten_by_id);
