-- An order's number for people ("B-0042"): the laptop's number prefix and its own
-- counter, given when the order is created, offline too (FieldDefault::Sequence).
-- Not UNIQUE here: the server refuses a number another order holds (`duplicate`).
ALTER TABLE orders ADD COLUMN number TEXT;
CREATE INDEX orders_number ON orders (number);
