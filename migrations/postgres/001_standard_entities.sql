-- PostgreSQL dialect of migrations/entities/001_standard_entities.sql (the same tables and
-- columns; a test checks both against the registry). Integers are BIGINT so every value
-- the SQLite store accepts fits; reals are DOUBLE PRECISION.

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

CREATE TABLE customers (
    id TEXT PRIMARY KEY NOT NULL,
    code TEXT,
    name TEXT,
    territory_id TEXT,
    price_list_id TEXT,
    phone TEXT,
    email TEXT,
    city TEXT,
    credit_limit_cents BIGINT,
    notes TEXT,
    samples_given BIGINT
);

CREATE TABLE contacts (
    id TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT,
    name TEXT,
    job_title TEXT,
    phone TEXT,
    email TEXT
);

CREATE TABLE addresses (
    id TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT,
    kind TEXT,
    street TEXT,
    city TEXT,
    postal_code TEXT,
    country TEXT
);

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
    active BIGINT
);

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
    unit_price_cents BIGINT
);

CREATE TABLE promotions (
    id TEXT PRIMARY KEY NOT NULL,
    product_id TEXT,
    name TEXT,
    discount_pct DOUBLE PRECISION,
    starts_on TEXT,
    ends_on TEXT
);

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
    on_hand BIGINT,
    reserved BIGINT
);

CREATE TABLE orders (
    id TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT,
    rep_id TEXT,
    status TEXT,
    order_date TEXT,
    notes TEXT,
    total_cents BIGINT,
    flags TEXT
);

CREATE TABLE order_lines (
    id TEXT PRIMARY KEY NOT NULL,
    order_id TEXT,
    product_id TEXT,
    quantity BIGINT,
    unit_price_cents BIGINT,
    discount_pct DOUBLE PRECISION,
    flags TEXT
);

CREATE TABLE order_reviews (
    id TEXT PRIMARY KEY NOT NULL,
    order_id TEXT,
    reviewer_id TEXT,
    decision TEXT,
    comment TEXT,
    reviewed_at TEXT
);

CREATE TABLE visits (
    id TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT,
    rep_id TEXT,
    visited_at TEXT,
    outcome TEXT,
    notes TEXT
);

CREATE TABLE visit_plans (
    id TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT,
    rep_id TEXT,
    planned_on TEXT,
    purpose TEXT,
    status TEXT
);

CREATE TABLE tasks (
    id TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT,
    assignee_id TEXT,
    visit_id TEXT,
    title TEXT,
    due_on TEXT,
    done BIGINT,
    comments TEXT
);

CREATE TABLE invoices (
    id TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT,
    number TEXT,
    issued_on TEXT,
    due_on TEXT,
    amount_cents BIGINT,
    open_cents BIGINT
);

CREATE TABLE payments (
    id TEXT PRIMARY KEY NOT NULL,
    invoice_id TEXT,
    amount_cents BIGINT,
    paid_on TEXT,
    method TEXT
);

CREATE TABLE returns (
    id TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT,
    order_id TEXT,
    reason TEXT,
    status TEXT,
    created_on TEXT
);

CREATE TABLE return_lines (
    id TEXT PRIMARY KEY NOT NULL,
    return_id TEXT,
    product_id TEXT,
    quantity BIGINT
);

CREATE TABLE samples (
    id TEXT PRIMARY KEY NOT NULL,
    visit_id TEXT,
    product_id TEXT,
    quantity BIGINT
);

CREATE TABLE competitor_observations (
    id TEXT PRIMARY KEY NOT NULL,
    visit_id TEXT,
    competitor TEXT,
    product_id TEXT,
    observed_price_cents BIGINT,
    notes TEXT
);

CREATE TABLE deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    order_id TEXT,
    address_id TEXT,
    shipper_id TEXT,
    status TEXT,
    scheduled_on TEXT,
    delivered_at TEXT
);

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

-- Case-insensitive prefix search (client search box).
CREATE INDEX customers_name ON customers (lower(name));
CREATE INDEX customers_code ON customers (lower(code));
CREATE INDEX customers_city ON customers (lower(city));
CREATE INDEX products_name ON products (lower(name));
CREATE INDEX products_sku ON products (lower(sku));
