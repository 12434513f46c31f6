//! The customer card: everything a rep looks at before a visit, read from the local store
//! in sorted, limited queries (no screen reads every order to sort them itself).

use fieldsync_sqlkit::pricing::LINE_TOTAL_SQL;
use serde::Serialize;
use serde_json::Value;

use crate::error::Result;
use crate::{Engine, Object};

/// Order statuses that still count against a customer's credit until an invoice bills the
/// order (its open amount then counts instead).
const OWED_STATUSES: &str = "'submitted', 'approved', 'delivered'";

/// One customer, with what surrounds it.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct CustomerCard {
    #[ts(type = "Record<string, unknown> & { id: string }")]
    pub customer: Object,
    /// The customer's price list by name, and the currency its prices are in.
    pub price_list: Option<String>,
    pub currency: Option<String>,
    #[ts(type = "number | null")]
    pub credit_limit_cents: Option<i64>,
    /// Open invoices, plus orders sent for approval, approved or delivered that no invoice
    /// bills yet.
    #[ts(type = "number")]
    pub open_balance_cents: i64,
    /// The credit limit less the open balance (negative: over the limit); `None` without a
    /// limit.
    #[ts(type = "number | null")]
    pub available_credit_cents: Option<i64>,
    /// The latest orders, newest first.
    pub recent_orders: Vec<CardOrder>,
    /// The latest visits, newest first.
    pub visits: Vec<CardVisit>,
    /// Billing addresses first, then shipping.
    #[ts(type = "Array<Record<string, unknown> & { id: string }>")]
    pub addresses: Vec<Object>,
    #[ts(type = "Array<Record<string, unknown> & { id: string }>")]
    pub contacts: Vec<Object>,
    /// Invoices with an amount still open, the earliest due first.
    #[ts(type = "Array<Record<string, unknown> & { id: string }>")]
    pub open_invoices: Vec<Object>,
    /// The customer's fields whose value the current user set and a later edit replaced.
    pub overwritten: Vec<Overwritten>,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct CardOrder {
    pub id: String,
    /// The order's number for people; none on orders from before numbers.
    pub number: Option<String>,
    pub status: String,
    pub order_date: String,
    #[ts(type = "number")]
    pub total_cents: i64,
    #[ts(type = "number")]
    pub lines: i64,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct CardVisit {
    pub id: String,
    pub visited_at: String,
    pub outcome: Option<String>,
    pub notes: Option<String>,
    /// Who made the visit ("" when that user is not visible here).
    pub rep: String,
}

/// A field a conflict overwrote: what it is now and who changed it.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Overwritten {
    pub field: String,
    pub label: String,
    /// Who made the edit that was kept.
    pub by: String,
    /// The value the current user had set, in people's words.
    pub yours: String,
}

impl Engine {
    /// The card of customer `id`, with up to `limit` recent orders and visits.
    pub fn customer_card(&self, id: &str, limit: usize) -> Result<CustomerCard> {
        let customer = self.get("customers", id)?;
        let limit = limit as i64;
        let int = |o: &Object, k: &str| o.get(k).and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)));
        let text = |o: &Object, k: &str| o.get(k).and_then(Value::as_str).map(String::from);

        let price_list = match customer.get("price_list_id").and_then(Value::as_str) {
            Some(list) => self.store.query("SELECT name, currency FROM price_lists WHERE id = ?1", &[&list])?.pop(),
            None => None,
        };
        let orders = self.store.query(
            &format!(
                "SELECT o.id, o.number, o.status, o.order_date,
                    (SELECT coalesce(sum({LINE_TOTAL_SQL}), 0) FROM order_lines WHERE order_id = o.id) AS total,
                    (SELECT count(*) FROM order_lines WHERE order_id = o.id) AS lines
                 FROM orders o WHERE o.customer_id = ?1 ORDER BY o.order_date DESC, o.id DESC LIMIT ?2"
            ),
            &[&id, &limit],
        )?;
        let visits = self.store.query(
            "SELECT v.id, v.visited_at, v.outcome, v.notes, coalesce(u.display_name, u.username, '') AS rep
             FROM visits v LEFT JOIN users u ON u.id = v.rep_id
             WHERE v.customer_id = ?1 ORDER BY v.visited_at DESC, v.id DESC LIMIT ?2",
            &[&id, &limit],
        )?;
        let owed = self.store.query(
            &format!(
                "SELECT (SELECT coalesce(sum(open_cents), 0) FROM invoices WHERE customer_id = ?1)
                      + (SELECT coalesce(sum({LINE_TOTAL_SQL}), 0) FROM order_lines l JOIN orders o ON o.id = l.order_id
                         WHERE o.customer_id = ?1 AND o.status IN ({OWED_STATUSES})
                           AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.order_id = o.id)) AS owed"
            ),
            &[&id],
        )?;
        let open_balance_cents = owed.first().and_then(|o| int(o, "owed")).unwrap_or(0);
        let credit_limit_cents = int(&customer, "credit_limit_cents");

        let by_customer = [("customer_id".to_string(), id.to_string())];
        let mut addresses = self.list("addresses", &by_customer)?;
        addresses.sort_by_key(|a| (text(a, "kind") != Some("billing".into()), text(a, "street")));
        let mut contacts = self.list("contacts", &by_customer)?;
        contacts.sort_by_key(|c| text(c, "name").map(|n| n.to_lowercase()));
        let open_invoices = self.store.query(
            "SELECT id, number, issued_on, due_on, amount_cents, open_cents FROM invoices
             WHERE customer_id = ?1 AND open_cents > 0 ORDER BY due_on, number",
            &[&id],
        )?;

        let me = self.store.meta("user")?;
        let overwritten = self
            .conflicts_of(&[("entity".into(), Value::from("customers")), ("record_id".into(), Value::from(id))])?
            .into_iter()
            .rev()
            .filter(|c| Some(&c.overwritten_by) == me.as_ref())
            .filter(|c| c.field != fieldsync_protocol::wire::DELETED_RECORD)
            // A later edit of the same field by the user settles it: only what still stands.
            .filter(|c| customer.get(&c.field) == Some(&c.kept))
            .fold(Vec::<Overwritten>::new(), |mut out, c| {
                if !out.iter().any(|o| o.field == c.field) {
                    out.push(Overwritten {
                        field: c.field,
                        label: c.field_label,
                        by: c.kept_by,
                        yours: c.overwritten_text,
                    });
                }
                out
            });

        Ok(CustomerCard {
            price_list: price_list.as_ref().and_then(|p| text(p, "name")),
            currency: price_list.as_ref().and_then(|p| text(p, "currency")),
            credit_limit_cents,
            open_balance_cents,
            available_credit_cents: credit_limit_cents.map(|l| l - open_balance_cents),
            recent_orders: orders
                .iter()
                .map(|o| CardOrder {
                    id: text(o, "id").unwrap_or_default(),
                    number: text(o, "number"),
                    status: text(o, "status").unwrap_or_default(),
                    order_date: text(o, "order_date").unwrap_or_default(),
                    total_cents: int(o, "total").unwrap_or(0),
                    lines: int(o, "lines").unwrap_or(0),
                })
                .collect(),
            visits: visits
                .iter()
                .map(|v| CardVisit {
                    id: text(v, "id").unwrap_or_default(),
                    visited_at: text(v, "visited_at").unwrap_or_default(),
                    outcome: text(v, "outcome"),
                    notes: text(v, "notes"),
                    rep: text(v, "rep").unwrap_or_default(),
                })
                .collect(),
            addresses,
            contacts,
            open_invoices,
            overwritten,
            customer,
        })
    }
}
