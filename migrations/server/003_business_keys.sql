-- Lookups by business key (EntityDef::key in the registry): import upserts by them and
-- resolves references given as codes. Not UNIQUE: a key is enforced by the server's
-- checks, and an import reports a key that matches two records instead of failing here.
CREATE INDEX territories_code ON territories (code);
CREATE INDEX users_username ON users (username);
CREATE INDEX customers_code_key ON customers (code);
CREATE INDEX product_categories_code ON product_categories (code);
CREATE INDEX products_sku_key ON products (sku);
CREATE INDEX price_lists_code ON price_lists (code);
CREATE INDEX price_list_items_key ON price_list_items (price_list_id, product_id);
CREATE INDEX promotions_key ON promotions (product_id, name, starts_on);
CREATE INDEX warehouses_code ON warehouses (code);
CREATE INDEX inventory_levels_key ON inventory_levels (warehouse_id, product_id);
CREATE INDEX invoices_number ON invoices (number);
-- Export reads a type's change-log entries in seq order.
CREATE INDEX changes_entity_seq ON changes (entity, seq);
