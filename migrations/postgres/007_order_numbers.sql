-- PostgreSQL twin of entities/003_order_numbers.sql and server/006_number_prefixes.sql.
ALTER TABLE orders ADD COLUMN number TEXT;
CREATE INDEX orders_number ON orders (number);

CREATE TABLE number_prefixes (
    n BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id TEXT NOT NULL UNIQUE
);
