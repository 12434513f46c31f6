//! Pricing rules over the entity tables, shared by client (to price a new order line) and
//! server (to re-check prices on submit), so both always agree.

use rusqlite::{params, Connection, OptionalExtension};

/// The price a line for `product_id` on `order_id` should carry today.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    /// From the price list of the order's customer.
    pub unit_price_cents: i64,
    /// The best promotion active on `today` for the product, or 0.
    pub discount_pct: f64,
}

/// The best promotion running on `?3` for product `?2`, or 0: one SQL expression, so every
/// query that prices a line applies the same rule.
macro_rules! best_discount {
    () => {
        "coalesce((SELECT max(p.discount_pct) FROM promotions p
                  WHERE p.product_id = ?2 AND p.starts_on <= ?3 AND p.ends_on >= ?3), 0.0)"
    };
}

/// The query behind [`current_price`]: parameters order id, product id, today. Portable
/// SQL, so the server runs the same text on PostgreSQL.
pub const CURRENT_PRICE_SQL: &str = concat!(
    "SELECT pli.unit_price_cents, ",
    best_discount!(),
    " FROM orders o
 JOIN customers c ON c.id = o.customer_id
 JOIN price_list_items pli ON pli.price_list_id = c.price_list_id AND pli.product_id = ?2
 WHERE o.id = ?1"
);

/// A product's price on a price list and its discount today, before there is an order
/// (the order editor's picker): parameters price list id, product id, today. One row; the
/// price is NULL when the list lacks the product.
pub const LIST_PRICE_SQL: &str = concat!(
    "SELECT (SELECT unit_price_cents FROM price_list_items WHERE price_list_id = ?1 AND product_id = ?2) AS price, ",
    best_discount!(),
    " AS discount"
);

/// Looks up the current price; `None` when the customer's price list lacks the product.
/// `today` is `YYYY-MM-DD`.
pub fn current_price(
    conn: &Connection,
    order_id: &str,
    product_id: &str,
    today: &str,
) -> rusqlite::Result<Option<Price>> {
    conn.prepare_cached(CURRENT_PRICE_SQL)?
        .query_row(params![order_id, product_id, today], |r| {
            Ok(Price { unit_price_cents: r.get(0)?, discount_pct: r.get(1)? })
        })
        .optional()
}

/// [`line_total_cents`] in SQL, over a row with `quantity`, `unit_price_cents` and
/// `discount_pct` columns: what the review list and the dashboard sum per order. A test
/// below keeps the two in step.
pub const LINE_TOTAL_SQL: &str = "round(quantity * unit_price_cents * (1 - coalesce(discount_pct, 0) / 100.0))";

/// Amount of one line in cents after its discount, rounded half up.
pub fn line_total_cents(quantity: i64, unit_price_cents: i64, discount_pct: f64) -> i64 {
    ((quantity * unit_price_cents) as f64 * (1.0 - discount_pct / 100.0)).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sql_line_total_is_the_rust_one() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for (q, p, d) in [(3, 1250, 0.0), (1, 899, 10.0), (7, 333, 12.5), (2, 1, 50.0), (19, 8495, 15.0)] {
            let sql: i64 = conn
                .query_row(
                    &format!("SELECT CAST({LINE_TOTAL_SQL} AS INTEGER) FROM (SELECT ?1 AS quantity, ?2 AS unit_price_cents, ?3 AS discount_pct)"),
                    rusqlite::params![q, p, d],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(sql, line_total_cents(q, p, d), "{q} x {p} less {d}%");
        }
    }
}
