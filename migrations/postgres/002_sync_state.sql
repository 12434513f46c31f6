-- PostgreSQL dialect of migrations/server/001_sync_state.sql: server-only bookkeeping
-- beside the entity tables.

-- Password hashes (argon2id, PHC strings) live apart from the synced users table.
CREATE TABLE credentials (
    user_id TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL
);

-- Bearer sessions; only the SHA-256 of a token is stored.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Assignments that decide visibility (admin-managed, not synced as entities).
CREATE TABLE user_territories (
    user_id TEXT NOT NULL,
    territory_id TEXT NOT NULL,
    PRIMARY KEY (user_id, territory_id)
);
CREATE TABLE territory_categories (
    territory_id TEXT NOT NULL,
    category_id TEXT NOT NULL,
    PRIMARY KEY (territory_id, category_id)
);

-- The change log: one row per record (and per target user, see below), holding the
-- sequence number of its latest change. A new change takes a fresh seq from the sequence.
-- Sequences alone do not give commit order (a transaction can take seq 10, another 11
-- and commit first); every writer therefore holds an advisory lock until it commits
-- (crates/server/src/db.rs), so a reader can never see seq N+1 before seq N.
-- target '' is a change for everyone who can see the record. A non-empty target is a
-- user id: a record that became visible (deleted = 0) or invisible (deleted = 1) to that
-- user alone because assignments changed; entity '_notice' rows point at `notices`.
CREATE TABLE changes (
    seq BIGSERIAL PRIMARY KEY,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0,
    target TEXT NOT NULL DEFAULT '',
    UNIQUE (entity, record_id, target)
);

-- Messages for one user about what changed for them ("12 customers moved to SOUTH").
CREATE TABLE notices (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    text TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);

-- Per-field edit stamps for last-write-wins: when (server time) and by whom each field of
-- a record was last written, and the seq of that write.
CREATE TABLE field_stamps (
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    field TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (entity, record_id, field)
);

-- Results of every mutation ever applied or rejected: a retried push returns these
-- instead of applying again (exactly-once).
CREATE TABLE applied_mutations (
    mutation_id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    result TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);

CREATE TABLE server_meta (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- Every reference is indexed: visibility rules and delete checks follow references.
CREATE INDEX users_manager_id ON users (manager_id);
CREATE INDEX customers_territory_id ON customers (territory_id);
CREATE INDEX customers_price_list_id ON customers (price_list_id);
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
