-- Lookups by business key (EntityDef::key in the registry): import upserts by them and
-- resolves references given as codes. Not UNIQUE: a key is enforced by the server's
-- checks, and an import reports a key that matches two records instead of failing here.
-- A composite key index starts with the reference it replaces the single index of.
CREATE INDEX territories_code ON territories (code);
CREATE INDEX users_username ON users (username);
CREATE INDEX customers_code_key ON customers (code);
CREATE INDEX product_categories_code ON product_categories (code);
CREATE INDEX products_sku_key ON products (sku);
CREATE INDEX price_lists_code ON price_lists (code);
CREATE INDEX price_list_items_key ON price_list_items (price_list_id, product_id);
DROP INDEX price_list_items_price_list_id;
CREATE INDEX promotions_key ON promotions (product_id, name, starts_on);
DROP INDEX promotions_product_id;
CREATE INDEX warehouses_code ON warehouses (code);
CREATE INDEX inventory_levels_key ON inventory_levels (warehouse_id, product_id);
DROP INDEX inventory_levels_warehouse_id;
CREATE INDEX invoices_number ON invoices (number);
