-- The 25 synced entity types of the standard registry plus the conflict log.
-- Applied on both the server and every client (the client cache mirrors these tables).
-- Columns mirror crates/protocol/src/standard.rs; a test checks they agree.
-- References are indexed; integrity is checked by the server, which names the broken
-- reference in its error, so there are no SQL foreign key clauses here.

CREATE TABLE territories (
    id TEXT PRIMARY KEY NOT NULL,
    code TEXT,
    name TEXT
);

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT,
    display_name TEXT,
    role TEXT,
    manager_id TEXT
);
CREATE INDEX users_manager_id ON users (manager_id);

CREATE TABLE customers (
    id TEXT PRIMARY KEY NOT NULL,
    code TEXT,
    name TEXT,
    territory_id TEXT,
    price_list_id TEXT,
    phone TEXT,
    email TEXT,
    city TEXT,
    credit_limit_cents INTEGER,
    notes TEXT,
    samples_given INTEGER
);
CREATE INDEX customers_territory_id ON customers (territory_id);
CREATE INDEX customers_price_list_id ON customers (price_list_id);

CREATE TABLE contacts (
    id TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT,
    name TEXT,
    job_title TEXT,
    phone TEXT,
    email TEXT
);
CREATE INDEX contacts_customer_id ON contacts (customer_id);

CREATE TABLE addresses (
    id TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT,
    kind TEXT,
    street TEXT,
    city TEXT,
    postal_code TEXT,
    country TEXT
);
CREATE INDEX addresses_customer_id ON addresses (customer_id);

CREATE TABLE product_categories (
    id TEXT PRIMARY KEY NOT NULL,
    code TEXT,
    name TEXT
);

CREATE TABLE products (
    id TEXT PRIMARY KEY NOT NULL,
    sku TEXT,
    name TEXT,
    category_id TEXT,
    unit TEXT,
    active INTEGER
);
CREATE INDEX products_category_id ON products (category_id);

CREATE TABLE price_lists (
    id TEXT PRIMARY KEY NOT NULL,
    code TEXT,
    name TEXT,
    currency TEXT
);

CREATE TABLE price_list_items (
    id TEXT PRIMARY KEY NOT NULL,
    price_list_id TEXT,
    product_id TEXT,
    unit_price_cents INTEGER
);
CREATE INDEX price_list_items_price_list_id ON price_list_items (price_list_id);
CREATE INDEX price_list_items_product_id ON price_list_items (product_id);

CREATE TABLE promotions (
    id TEXT PRIMARY KEY NOT NULL,
    product_id TEXT,
    name TEXT,
    discount_pct REAL,
    starts_on TEXT,
    ends_on TEXT
);
CREATE INDEX promotions_product_id ON promotions (product_id);

CREATE TABLE warehouses (
    id TEXT PRIMARY KEY NOT NULL,
    code TEXT,
    name TEXT,
    city TEXT
);

CREATE TABLE inventory_levels (
    id TEXT PRIMARY KEY NOT NULL,
    warehouse_id TEXT,
    product_id TEXT,
    on_hand INTEGER,
    reserved INTEGER
);
CREATE INDEX inventory_levels_warehouse_id ON inventory_levels (warehouse_id);
CREATE INDEX inventory_levels_product_id ON inventory_levels (product_id);

CREATE TABLE orders (
    id TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT,
    rep_id TEXT,
    status TEXT,
    order_date TEXT,
    notes TEXT,
    total_cents INTEGER,
    flags TEXT
);
CREATE INDEX orders_customer_id ON orders (customer_id);
CREATE INDEX orders_rep_id ON orders (rep_id);

CREATE TABLE order_lines (
    id TEXT PRIMARY KEY NOT NULL,
    order_id TEXT,
    product_id TEXT,
    quantity INTEGER,
    unit_price_cents INTEGER,
    discount_pct REAL,
    flags TEXT
);
CREATE INDEX order_lines_order_id ON order_lines (order_id);
CREATE INDEX order_lines_product_id ON order_lines (product_id);

CREATE TABLE order_reviews (
    id TEXT PRIMARY KEY NOT NULL,
    order_id TEXT,
    reviewer_id TEXT,
    decision TEXT,
    comment TEXT,
    reviewed_at TEXT
);
CREATE INDEX order_reviews_order_id ON order_reviews (order_id);
CREATE INDEX order_reviews_reviewer_id ON order_reviews (reviewer_id);

CREATE TABLE visits (
    id TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT,
    rep_id TEXT,
    visited_at TEXT,
    outcome TEXT,
    notes TEXT
);
CREATE INDEX visits_customer_id ON visits (customer_id);
CREATE INDEX visits_rep_id ON visits (rep_id);

CREATE TABLE visit_plans (
    id TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT,
    rep_id TEXT,
    planned_on TEXT,
    purpose TEXT,
    status TEXT
);
CREATE INDEX visit_plans_customer_id ON visit_plans (customer_id);
CREATE INDEX visit_plans_rep_id ON visit_plans (rep_id);

CREATE TABLE tasks (
    id TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT,
    assignee_id TEXT,
    visit_id TEXT,
    title TEXT,
    due_on TEXT,
    done INTEGER,
    comments TEXT
);
CREATE INDEX tasks_customer_id ON tasks (customer_id);
CREATE INDEX tasks_assignee_id ON tasks (assignee_id);
CREATE INDEX tasks_visit_id ON tasks (visit_id);

CREATE TABLE invoices (
    id TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT,
    number TEXT,
    issued_on TEXT,
    due_on TEXT,
    amount_cents INTEGER,
    open_cents INTEGER
);
CREATE INDEX invoices_customer_id ON invoices (customer_id);

CREATE TABLE payments (
    id TEXT PRIMARY KEY NOT NULL,
    invoice_id TEXT,
    amount_cents INTEGER,
    paid_on TEXT,
    method TEXT
);
CREATE INDEX payments_invoice_id ON payments (invoice_id);

CREATE TABLE returns (
    id TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT,
    order_id TEXT,
    reason TEXT,
    status TEXT,
    created_on TEXT
);
CREATE INDEX returns_customer_id ON returns (customer_id);
CREATE INDEX returns_order_id ON returns (order_id);

CREATE TABLE return_lines (
    id TEXT PRIMARY KEY NOT NULL,
    return_id TEXT,
    product_id TEXT,
    quantity INTEGER
);
CREATE INDEX return_lines_return_id ON return_lines (return_id);
CREATE INDEX return_lines_product_id ON return_lines (product_id);

CREATE TABLE samples (
    id TEXT PRIMARY KEY NOT NULL,
    visit_id TEXT,
    product_id TEXT,
    quantity INTEGER
);
CREATE INDEX samples_visit_id ON samples (visit_id);
CREATE INDEX samples_product_id ON samples (product_id);

CREATE TABLE competitor_observations (
    id TEXT PRIMARY KEY NOT NULL,
    visit_id TEXT,
    competitor TEXT,
    product_id TEXT,
    observed_price_cents INTEGER,
    notes TEXT
);
CREATE INDEX competitor_observations_visit_id ON competitor_observations (visit_id);
CREATE INDEX competitor_observations_product_id ON competitor_observations (product_id);

CREATE TABLE deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    order_id TEXT,
    address_id TEXT,
    shipper_id TEXT,
    status TEXT,
    scheduled_on TEXT,
    delivered_at TEXT
);
CREATE INDEX deliveries_order_id ON deliveries (order_id);
CREATE INDEX deliveries_address_id ON deliveries (address_id);
CREATE INDEX deliveries_shipper_id ON deliveries (shipper_id);

CREATE TABLE sync_conflicts (
    id TEXT PRIMARY KEY NOT NULL,
    entity TEXT,
    record_id TEXT,
    field TEXT,
    kept TEXT,
    overwritten TEXT,
    kept_by TEXT,
    overwritten_by TEXT,
    kept_by_id TEXT,
    overwritten_by_id TEXT,
    at TEXT
);
CREATE INDEX sync_conflicts_kept_by_id ON sync_conflicts (kept_by_id);
CREATE INDEX sync_conflicts_overwritten_by_id ON sync_conflicts (overwritten_by_id);

CREATE INDEX customers_name ON customers (name COLLATE NOCASE);
