//! Checks the registry attaches to state transitions ([`Check`]): prices must still be
//! current when an order is submitted, and stock shortages are flagged. They act on the
//! children that are frozen with the record (order lines of an order).

use fieldsync_protocol::time::pricing_day;
use fieldsync_protocol::ErrorCode;
use fieldsync_protocol::{Check, EntityDef, Registry, Transition};
use fieldsync_sqlkit::pricing::{Price, CURRENT_PRICE_SQL};
use serde_json::Value;

use crate::args;
use crate::error::AppError;
use crate::records;
use crate::sql::{DbError, Tx};

/// A transition refused by a check. The mutation is rolled back; the flags it raised
/// (lines marked with their new price) are then written on their own, so the user sees
/// which lines to fix.
pub struct Refusal {
    pub code: ErrorCode,
    pub reason: String,
    pub flags: Vec<Flag>,
}

/// A server-written `flags` value for one record.
pub struct Flag {
    pub entity: &'static str,
    pub id: String,
    pub value: Value,
}

impl Flag {
    pub fn write(&self, reg: &Registry, tx: &Tx<'_>) -> Result<(), AppError> {
        let def = reg.get(self.entity).ok_or_else(|| AppError::Internal(format!("no entity {}", self.entity)))?;
        records::set_server_field(tx, def, &self.id, "flags", self.value.clone())?;
        Ok(())
    }
}

/// Child entity types frozen with `def` (e.g. order_lines of orders) and their link field.
fn children<'r>(reg: &'r Registry, def: &EntityDef) -> Vec<(&'r EntityDef, &'static str)> {
    reg.entities()
        .iter()
        .filter_map(|c| {
            let link = c.frozen_with?;
            (c.field(link)?.references()? == def.name).then_some((c, link))
        })
        .collect()
}

/// A line as the checks see it.
struct Line {
    id: String,
    product_id: String,
    sku: String,
    quantity: i64,
    unit_price_cents: i64,
    discount_pct: f64,
    flags: Option<String>,
}

/// The price a line for `product_id` on `order_id` should carry `today` (the rule the
/// client uses too; see `fieldsync_sqlkit::pricing`).
pub fn current_price(tx: &Tx<'_>, order_id: &str, product_id: &str, today: &str) -> Result<Option<Price>, DbError> {
    tx.query_opt(CURRENT_PRICE_SQL, args![order_id, product_id, today], |r| {
        Ok(Price { unit_price_cents: r.get(0)?, discount_pct: r.get(1)? })
    })
}

fn lines(tx: &Tx<'_>, child: &EntityDef, link: &str, parent_id: &str) -> Result<Vec<Line>, DbError> {
    let has = |f: &str| child.field(f).is_some();
    if !(has("product_id") && has("quantity") && has("unit_price_cents")) {
        return Ok(Vec::new());
    }
    let discount = if has("discount_pct") { "coalesce(l.discount_pct, 0.0)" } else { "0.0" };
    let flags = if has("flags") { "l.flags" } else { "CAST(NULL AS TEXT)" };
    let sql = format!(
        "SELECT l.id, l.product_id, coalesce(p.sku, l.product_id), l.quantity, l.unit_price_cents, {discount}, {flags}
         FROM \"{}\" l LEFT JOIN products p ON p.id = l.product_id WHERE l.\"{link}\" = ?1 ORDER BY l.id",
        child.name
    );
    tx.query(&sql, args![parent_id], |r| {
        Ok(Line {
            id: r.get(0)?,
            product_id: r.get(1)?,
            sku: r.get(2)?,
            quantity: r.get(3)?,
            unit_price_cents: r.get(4)?,
            discount_pct: r.get(5)?,
            flags: r.get(6)?,
        })
    })
}

fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

fn price_text(cents: i64, pct: f64) -> String {
    if pct > 0.0 {
        format!("{} less {pct}%", money(cents))
    } else {
        money(cents)
    }
}

/// Runs once a transition and the rest of its mutation are written (so it sees the
/// customer the order ends up with), before they commit. Returns a refusal to undo them:
/// every line needs a quantity its field allows and a price that is still current on the
/// customer's price list; a line with no price there cannot be submitted at all.
pub fn before_transition(
    reg: &Registry,
    tx: &Tx<'_>,
    def: &EntityDef,
    id: &str,
    t: &Transition,
    now_ms: i64,
) -> Result<Option<Refusal>, AppError> {
    if t.checks.contains(&Check::ReferencesActive) {
        if let Some(refusal) = inactive_reference(reg, tx, def, id)? {
            return Ok(Some(refusal));
        }
    }
    if !t.checks.contains(&Check::PricesCurrent) {
        return Ok(None);
    }
    let today = pricing_day(now_ms);
    let (mut changed, mut unpriced, mut impossible, mut flags) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (child, link) in children(reg, def) {
        let min_quantity = child.field("quantity").and_then(|f| f.min);
        for line in lines(tx, child, link, id)? {
            if min_quantity.is_some_and(|min| line.quantity < min) {
                impossible.push(format!("{} (quantity {})", line.sku, line.quantity));
            }
            let Some(now) = current_price(tx, id, &line.product_id, &today)? else {
                unpriced.push(line.sku);
                continue;
            };
            if now.unit_price_cents == line.unit_price_cents && (now.discount_pct - line.discount_pct).abs() < 1e-9 {
                continue;
            }
            let note = format!(
                "Price changed: ordered at {}, now {}",
                price_text(line.unit_price_cents, line.discount_pct),
                price_text(now.unit_price_cents, now.discount_pct)
            );
            if child.field("flags").is_some() && line.flags.as_deref() != Some(note.as_str()) {
                flags.push(Flag { entity: child.name, id: line.id.clone(), value: Value::from(note.clone()) });
            }
            changed.push(format!("{} ({})", line.sku, note.to_lowercase()));
        }
    }
    let refusal = |code, reason| Ok(Some(Refusal { code, reason, flags: Vec::new() }));
    if !impossible.is_empty() {
        return refusal(
            ErrorCode::OutOfRange,
            format!(
                "This {} has lines with an impossible quantity: {}. Correct them and resend.",
                def.noun(),
                impossible.join(", ")
            ),
        );
    }
    if !unpriced.is_empty() {
        return refusal(ErrorCode::NoPrice,
            format!(
                "This {} cannot move on: {} {} no price for this customer. Remove {} or ask your manager to set the customer's price list.",
                def.noun(),
                unpriced.join(", "),
                if unpriced.len() == 1 { "has" } else { "have" },
                if unpriced.len() == 1 { "that line" } else { "those lines" },
            ),
        );
    }
    if changed.is_empty() {
        return Ok(None);
    }
    Ok(Some(Refusal {
        code: ErrorCode::PriceChanged,
        reason: format!(
            "Prices changed since this {} was taken: {}. Update the prices and resubmit it.",
            def.noun(),
            changed.join("; ")
        ),
        flags,
    }))
}

/// Refuses a move of a record that refers to a retired one (an order for an archived
/// customer), naming it the way the user knows it.
fn inactive_reference(reg: &Registry, tx: &Tx<'_>, def: &EntityDef, id: &str) -> Result<Option<Refusal>, AppError> {
    let Some(record) = records::load(tx, def, id)? else { return Ok(None) };
    let record = record.to_object(def);
    for field in def.fields {
        let target = field.references().and_then(|t| reg.get(t)).filter(|t| t.active_field.is_some());
        let (Some(target), Some(ref_id)) = (target, record.get(field.name).and_then(Value::as_str)) else {
            continue;
        };
        let Some(referenced) = records::load(tx, target, ref_id)? else { continue };
        let referenced = referenced.to_object(target);
        if !target.is_inactive(&referenced) {
            continue;
        }
        let name = ["name", "code"].iter().find_map(|f| referenced.get(*f).and_then(Value::as_str)).unwrap_or(ref_id);
        let what = target.name.trim_end_matches('s');
        return Ok(Some(Refusal {
            code: ErrorCode::Inactive,
            reason: format!(
                "{name} is no longer an active {what}: the office archived it, so this {} cannot go ahead. Cancel it, or ask your manager.",
                def.name.trim_end_matches('s')
            ),
            flags: Vec::new(),
        }));
    }
    Ok(None)
}

/// Runs after a transition is written: clears stale line flags and flags shortages.
pub fn after_transition(
    reg: &Registry,
    tx: &Tx<'_>,
    def: &EntityDef,
    id: &str,
    t: &Transition,
    _now_ms: i64,
) -> Result<(), AppError> {
    // Quantities per product across all lines: two lines of one product draw on the same stock.
    let mut wanted: std::collections::BTreeMap<(String, String), i64> = std::collections::BTreeMap::new();
    for (child, link) in children(reg, def) {
        for line in lines(tx, child, link, id)? {
            if t.checks.contains(&Check::PricesCurrent) && line.flags.is_some() {
                records::set_server_field(tx, child, &line.id, "flags", Value::Null)?;
            }
            *wanted.entry((line.sku, line.product_id)).or_default() += line.quantity;
        }
    }
    let mut shortages = Vec::new();
    if t.checks.contains(&Check::StockAvailable) {
        for ((sku, product), quantity) in wanted {
            let available: i64 = tx.value(
                "SELECT CAST(coalesce(sum(on_hand - reserved), 0) AS BIGINT) FROM inventory_levels WHERE product_id = ?1",
                args![product],
            )?;
            if quantity > available {
                shortages.push(format!("{sku} ordered {quantity}, {} in stock", available.max(0)));
            }
        }
    }
    if t.checks.contains(&Check::StockAvailable) && def.field("flags").is_some() {
        let flag = (!shortages.is_empty()).then(|| format!("Not enough stock: {}", shortages.join("; ")));
        records::set_server_field(tx, def, id, "flags", flag.map_or(Value::Null, Value::from))?;
    }
    Ok(())
}
