//! Field-sales workflows on top of the generic record API: the manager's review queue,
//! approving and rejecting orders, accepting new prices, restoring an overwritten value.
//! All of them work offline and queue ordinary mutations.

use fieldsync_protocol::{EntityDef, Role};
use serde::Serialize;
use serde_json::Value;

use crate::error::{ClientError, Result};
use crate::{Engine, Object};

/// One order in the review queue.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ReviewItem {
    pub id: String,
    /// The order's number for people (`B-0042`); none on orders from before numbers.
    pub number: Option<String>,
    pub status: String,
    pub order_date: String,
    pub customer_id: String,
    pub customer: String,
    pub rep_id: String,
    pub rep: String,
    #[ts(type = "number")]
    pub lines: i64,
    #[ts(type = "number")]
    pub total_cents: i64,
    /// The currency of the customer's price list (the total's), when known.
    pub currency: Option<String>,
    /// Stock or price flags the server raised.
    pub flags: Option<String>,
    /// Earlier decisions on the order, oldest first: {decision, comment, reviewer, at}.
    #[ts(type = "Array<Record<string, unknown>>")]
    pub history: Vec<Object>,
    /// Changes to the order or its lines made here that the server has not acknowledged
    /// yet ("not sent").
    pub unsent: bool,
}

/// A product as the order editor's picker offers it: with the customer's price today and
/// the stock available.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct PickerProduct {
    #[ts(type = "Record<string, unknown> & { id: string }")]
    pub product: Object,
    /// From the customer's price list; `None` when the list lacks the product (a line of it
    /// cannot be priced).
    #[ts(type = "number | null")]
    pub unit_price_cents: Option<i64>,
    /// The best promotion running today, or 0.
    pub discount_pct: f64,
    /// On hand less reserved, over every warehouse; `None` when no warehouse stocks it.
    #[ts(type = "number | null")]
    pub available: Option<i64>,
}

/// Filters for the review queue; `status` defaults to "submitted".
#[derive(Debug, Clone, Default)]
pub struct ReviewFilter {
    pub status: Option<String>,
    pub rep: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// The fields a search looks in, where an entity type has them.
const SEARCHED_FIELDS: &[&str] = &["name", "code", "city", "sku"];

/// The order search results are listed in: by name (ASCII letters in any case), then id.
fn search_order(def: &EntityDef) -> &'static str {
    if def.field("name").is_some() {
        "name COLLATE NOCASE, id"
    } else {
        "id"
    }
}

/// `text` with LIKE's wildcards escaped (with `\`), to match literally.
fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

impl Engine {
    fn role(&self) -> Result<Role> {
        self.store
            .meta("role")?
            .and_then(|r| Role::parse(&r))
            .ok_or_else(|| ClientError::NotSignedIn("You are not signed in; sign in first.".into()))
    }

    /// The team's orders waiting for review (or matching `filter`), newest first, with
    /// totals computed from their lines.
    pub fn review_queue(&self, filter: &ReviewFilter) -> Result<Vec<ReviewItem>> {
        let status = filter.status.clone().unwrap_or_else(|| "submitted".into());
        let rows = self.store.query(
            &format!(
                "SELECT o.id, o.number, o.status, o.order_date, o.customer_id, coalesce(c.name, o.customer_id) AS customer,
                    o.rep_id, coalesce(u.username, o.rep_id) AS rep, o.flags,
                    (SELECT pl.currency FROM price_lists pl WHERE pl.id = c.price_list_id) AS currency,
                    (SELECT count(*) FROM order_lines l WHERE l.order_id = o.id) AS lines,
                    (SELECT coalesce(sum({}), 0) FROM order_lines WHERE order_id = o.id) AS total,
                    EXISTS (SELECT 1 FROM outbox x WHERE (x.entity = 'orders' AND x.record_id = o.id)
                        OR (x.entity = 'order_lines' AND x.record_id IN (SELECT id FROM order_lines WHERE order_id = o.id)))
                        AS unsent
             FROM orders o LEFT JOIN customers c ON c.id = o.customer_id LEFT JOIN users u ON u.id = o.rep_id
             WHERE (?1 = 'all' OR o.status = ?1) AND (?2 IS NULL OR u.username = ?2 OR o.rep_id = ?2)
               AND (?3 IS NULL OR o.order_date >= ?3) AND (?4 IS NULL OR o.order_date <= ?4)
             ORDER BY o.order_date DESC, o.id DESC",
                fieldsync_sqlkit::pricing::LINE_TOTAL_SQL
            ),
            &[&status, &filter.rep, &filter.from, &filter.to],
        )?;
        let text = |o: &Object, k: &str| o.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id = text(&r, "id");
            let history = self.store.query(
                // A rep does not see the users above them: the reviewer is then "a manager".
                "SELECT rv.decision, rv.comment, coalesce(u.display_name, u.username, 'a manager') AS reviewer, rv.reviewed_at AS at
                 FROM order_reviews rv LEFT JOIN users u ON u.id = rv.reviewer_id
                 WHERE rv.order_id = ?1 ORDER BY rv.reviewed_at",
                &[&id],
            )?;
            out.push(ReviewItem {
                number: r.get("number").and_then(Value::as_str).map(String::from),
                status: text(&r, "status"),
                order_date: text(&r, "order_date"),
                customer_id: text(&r, "customer_id"),
                customer: text(&r, "customer"),
                rep_id: text(&r, "rep_id"),
                rep: text(&r, "rep"),
                lines: r.get("lines").and_then(Value::as_i64).unwrap_or(0),
                total_cents: r.get("total").and_then(|v| v.as_f64()).unwrap_or(0.0) as i64,
                flags: r.get("flags").and_then(Value::as_str).map(String::from),
                currency: r.get("currency").and_then(Value::as_str).map(String::from),
                history,
                unsent: r.get("unsent").and_then(Value::as_i64).unwrap_or(0) != 0,
                id,
            });
        }
        Ok(out)
    }

    /// Approves or rejects a submitted order: moves its status and records the decision as
    /// an `order_reviews` record that syncs to the rep. Rejecting needs a comment.
    pub fn review(&mut self, order_id: &str, approve: bool, comment: Option<&str>) -> Result<()> {
        if self.role()? != Role::Manager {
            return Err(ClientError::BadInput("Only managers review orders.".into()));
        }
        let comment = comment.map(str::trim).filter(|c| !c.is_empty());
        if !approve && comment.is_none() {
            return Err(ClientError::BadInput("Say why the order is rejected, so the rep can fix it.".into()));
        }
        let order = self.get("orders", order_id)?;
        if order.get("status").and_then(Value::as_str) != Some("submitted") {
            return Err(ClientError::BadInput(format!(
                "Order {order_id} is {}, not submitted; only submitted orders can be reviewed.",
                order.get("status").and_then(Value::as_str).unwrap_or("unknown")
            )));
        }
        let decision = if approve { "approved" } else { "rejected" };
        let mut status = Object::new();
        status.insert("status".into(), Value::from(decision));
        self.update("orders", order_id, status)?;
        let mut review = Object::new();
        review.insert("order_id".into(), Value::from(order_id));
        review.insert("decision".into(), Value::from(decision));
        if let Some(c) = comment {
            review.insert("comment".into(), Value::from(c));
        }
        self.create("order_reviews", review)?;
        Ok(())
    }

    /// Re-prices the lines of a record (e.g. an order) from today's price list and
    /// promotions, as edits that sync. Returns how many lines changed.
    pub fn accept_current_prices(&mut self, entity: &str, id: &str) -> Result<usize> {
        let def = self.store.entity(entity)?;
        let children: Vec<_> = self
            .store
            .registry()
            .entities()
            .iter()
            .filter(|c| c.frozen_with.and_then(|l| c.field(l)).and_then(|f| f.references()) == Some(def.name))
            .copied()
            .collect();
        let mut changed = 0;
        for child in children {
            let link = child.frozen_with.expect("filtered on frozen_with");
            let lines = self.list(child.name, &[(link.to_string(), id.to_string())])?;
            for line in lines {
                let product = line.get("product_id").and_then(Value::as_str).unwrap_or_default();
                let Some(price) = self.store.price(id, product, &self.pricing_day())? else { continue };
                let mut fields = Object::new();
                fields.insert("unit_price_cents".into(), Value::from(price.unit_price_cents));
                if child.field("discount_pct").is_some() {
                    fields.insert("discount_pct".into(), Value::from(price.discount_pct));
                }
                let line_id = line.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
                changed += usize::from(self.update(child.name, &line_id, fields)? > 0);
            }
        }
        Ok(changed)
    }

    /// "Update prices and resubmit", the fix a `price_changed` refusal asks for: re-prices
    /// the lines of the record the rejected change is about from today's price list and
    /// promotions, then sends that change again with `fixes`. Returns how many lines
    /// changed. The CLI (`attention resend --accept-prices`) and the app share it.
    pub fn resend_at_current_prices(&mut self, mutation_id: &str, fixes: Object) -> Result<usize> {
        let item = self.store.attention_item(mutation_id)?;
        let repriced = self.accept_current_prices(&item.entity, &item.id)?;
        self.resend(mutation_id, fixes)?;
        Ok(repriced)
    }

    /// Records of `entity` matching `query` in name, code, city or SKU, ordered by name:
    /// every word of the query appears somewhere in those fields (ASCII letters in any
    /// case), so "150", "item 150" and "0150" all find "Item 0150". At most `limit`
    /// records; a caller shows more by asking for a higher limit. Answered from the
    /// in-memory index (`search.rs`), which reads the table again after any change; a word
    /// it cannot hold is searched in SQL ([`Engine::search_sql`]), with the same result.
    pub fn search(&self, entity: &str, query: &str, limit: usize) -> Result<Vec<Object>> {
        let def = self.store.entity(entity)?;
        let fields: Vec<&'static str> = SEARCHED_FIELDS.iter().copied().filter(|f| def.field(f).is_some()).collect();
        let words: Vec<&str> = query.split_whitespace().collect();
        if fields.is_empty() || !words.iter().all(|w| crate::search::indexable(w)) {
            return self.search_sql(entity, query, limit);
        }
        let ids =
            self.search.lock().unwrap_or_else(|p| p.into_inner()).find(&self.store, &def, &fields, &words, limit)?;
        ids.iter().map(|id| self.get(def.name, id)).collect()
    }

    /// [`Engine::search`] by reading the table: once in storage order (`NOT INDEXED`),
    /// sorting only the matches (walking the name index instead ends early for common words
    /// but costs a random row read per entry for rare ones, three times slower at 50,000
    /// customers: docs/PERFORMANCE.md).
    pub fn search_sql(&self, entity: &str, query: &str, limit: usize) -> Result<Vec<Object>> {
        let def = self.store.entity(entity)?;
        let fields: Vec<&str> = SEARCHED_FIELDS.iter().copied().filter(|f| def.field(f).is_some()).collect();
        let order = search_order(&def);
        let words: Vec<&str> = if fields.is_empty() { Vec::new() } else { query.split_whitespace().collect() };
        // LIKE ignores case for ASCII letters only: a word with other letters ("ærø") is
        // compared with both sides folded (`fold`, see `Store::open`), which costs more, so
        // only those words pay for it.
        let patterns: Vec<String> = words
            .iter()
            .map(|w| {
                format!("%{}%", escape_like(&if w.is_ascii() { w.to_string() } else { fieldsync_sqlkit::fold(w) }))
            })
            .collect();
        let limit = limit as i64;
        let mut args: Vec<&dyn rusqlite::ToSql> = patterns.iter().map(|w| w as &dyn rusqlite::ToSql).collect();
        args.push(&limit);
        let conds: Vec<String> = words
            .iter()
            .enumerate()
            .map(|(i, word)| {
                let any: Vec<String> = fields
                    .iter()
                    .map(|f| match word.is_ascii() {
                        true => format!("\"{f}\" LIKE ?{} ESCAPE '\\'", i + 1),
                        false => format!("fold(\"{f}\") LIKE ?{} ESCAPE '\\'", i + 1),
                    })
                    .collect();
                format!("({})", any.join(" OR "))
            })
            .collect();
        let filter =
            if conds.is_empty() { String::new() } else { format!("NOT INDEXED WHERE {}", conds.join(" AND ")) };
        let sql = format!("SELECT id FROM \"{}\" {filter} ORDER BY {order} LIMIT ?{}", def.name, patterns.len() + 1);
        let ids = self.store.query(&sql, &args)?;
        // Typed values (bools, reals) as the registry declares them.
        ids.iter().map(|r| self.get(def.name, r.get("id").and_then(Value::as_str).unwrap_or_default())).collect()
    }

    /// Products matching `query` (as [`Engine::search`]) for an order of `customer_id`,
    /// each with the customer's price today and the stock available.
    pub fn picker_products(&self, customer_id: &str, query: &str, limit: usize) -> Result<Vec<PickerProduct>> {
        let customer = self.get("customers", customer_id)?;
        let list = customer.get("price_list_id").and_then(Value::as_str).unwrap_or_default().to_string();
        let today = self.pricing_day();
        let mut out = Vec::new();
        for product in self.search("products", query, limit)? {
            let id = product.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
            let price = self.store.query(fieldsync_sqlkit::pricing::LIST_PRICE_SQL, &[&list, &id, &today])?;
            let stock = self.store.query(
                "SELECT sum(on_hand - reserved) AS available FROM inventory_levels WHERE product_id = ?1",
                &[&id],
            )?;
            let price = price.first();
            out.push(PickerProduct {
                unit_price_cents: price.and_then(|p| p.get("price")).and_then(Value::as_i64),
                discount_pct: price.and_then(|p| p.get("discount")).and_then(Value::as_f64).unwrap_or(0.0),
                available: stock.first().and_then(|s| s.get("available")).and_then(Value::as_i64),
                product,
            });
        }
        Ok(out)
    }

    /// Brings back the value a conflict overwrote, as a new edit that syncs.
    pub fn restore_conflict(&mut self, conflict_id: &str) -> Result<()> {
        let c = self.conflicts()?.into_iter().find(|c| c.conflict_id == conflict_id).ok_or_else(|| {
            ClientError::NotFound(format!(
                "There is no conflict {conflict_id}; run 'fieldsync conflicts' to list them."
            ))
        })?;
        if c.field == fieldsync_protocol::wire::DELETED_RECORD {
            // A delete discarded an edit: bring the record back as it was, as a new record
            // (the server keeps deleted ids deleted).
            let Value::Object(mut fields) = c.overwritten.clone() else {
                return Err(ClientError::Internal(format!("conflict {conflict_id} holds no record")));
            };
            fields.remove("id");
            self.create(&c.entity, fields)?;
            return Ok(());
        }
        let mut fields = Object::new();
        fields.insert(c.field.clone(), c.overwritten.clone());
        if self.update(&c.entity, &c.id, fields)? == 0 {
            return Err(ClientError::BadInput(format!(
                "{}.{} already holds the overwritten value.",
                c.entity, c.field
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(engine: &Engine, query: &str, limit: usize) -> Vec<String> {
        let found = engine.search("customers", query, limit).unwrap();
        found.iter().map(|c| c["name"].as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn search_finds_every_word_anywhere_in_name_code_or_city_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut engine = Engine::open(dir.path()).unwrap();
        let territory = uuid::Uuid::now_v7().to_string();
        for (name, code, city) in [
            ("Olsen Bakery", "C-0150", "Bergen"),
            ("Berg Hardware", "C-0002", "Oslo"),
            ("Fjord_Fish 100%", "C-0003", "Tromsø"),
            ("ÆRØ KJØKKEN", "C-0004", "Ærøskøbing"),
        ] {
            let sets: Vec<(String, String)> =
                [("name", name), ("code", code), ("city", city), ("territory_id", &territory)]
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
            engine.create("customers", engine.parse_sets("customers", &sets).unwrap()).unwrap();
        }
        assert_eq!(names(&engine, "150", 10), ["Olsen Bakery"]);
        assert_eq!(names(&engine, "0150", 10), ["Olsen Bakery"]);
        assert_eq!(names(&engine, "bakery 150", 10), ["Olsen Bakery"]);
        assert_eq!(names(&engine, "AKER", 10), ["Olsen Bakery"]);
        assert_eq!(names(&engine, "  berg  ", 10), ["Berg Hardware", "Olsen Bakery"], "name or city");
        assert_eq!(names(&engine, "berg oslo", 10), ["Berg Hardware"], "every word must match");
        assert!(names(&engine, "coffee", 10).is_empty());
        // LIKE's wildcards are matched literally.
        assert_eq!(names(&engine, "d_f", 10), ["Fjord_Fish 100%"]);
        assert!(names(&engine, "n_b", 10).is_empty(), "'_' is not any character");
        assert_eq!(names(&engine, "%", 10), ["Fjord_Fish 100%"]);
        // Case is ignored beyond ASCII too, in the name and the city.
        assert_eq!(names(&engine, "tromsø", 10), ["Fjord_Fish 100%"]);
        assert_eq!(names(&engine, "TROMSØ", 10), ["Fjord_Fish 100%"]);
        assert_eq!(names(&engine, "ærø kjøkken", 10), ["ÆRØ KJØKKEN"]);
        assert_eq!(names(&engine, "skøbing", 10), ["ÆRØ KJØKKEN"]);
        assert!(names(&engine, "æ_ø", 10).is_empty(), "'_' is still not any character");
        // An empty query lists everything; the limit cuts, and a higher one shows more.
        assert_eq!(names(&engine, "", 2), ["Berg Hardware", "Fjord_Fish 100%"]);
        assert_eq!(names(&engine, "", 4).len(), 4);
    }

    fn customer(engine: &mut Engine, territory: &str, name: &str, code: &str, city: &str) -> String {
        let mut sets = vec![("name", name), ("code", code), ("territory_id", territory)];
        sets.extend([("city", city)].into_iter().filter(|(_, v)| !v.is_empty()));
        let sets: Vec<(String, String)> = sets.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let created = engine.create("customers", engine.parse_sets("customers", &sets).unwrap()).unwrap();
        created["id"].as_str().unwrap().to_string()
    }

    /// The in-memory index answers exactly as the SQL search: the same records in the same
    /// order, for words of every kind (case, letters beyond ASCII, LIKE's wildcards, empty
    /// fields, equal names), at every limit.
    #[test]
    fn the_in_memory_search_finds_what_the_sql_search_finds() {
        let dir = tempfile::tempdir().unwrap();
        let mut engine = Engine::open(dir.path()).unwrap();
        let territory = uuid::Uuid::now_v7().to_string();
        let names =
            ["Olsen Bakery", "olsen bakery", "ÆRØ Kjøkken", "Fjord_Fish 100%", "Kiosk 12", "kiosk 120", "Σοφία ΣΑΣ"];
        let cities = ["Bergen", "Tromsø", "", "ÆRØSKØBING", "Oslo"];
        for i in 0..60 {
            let code = format!("C-{:04}", i * 37 % 1000);
            customer(&mut engine, &territory, names[i % names.len()], &code, cities[i % cities.len()]);
        }
        let queries = [
            "",
            "o",
            "OLSEN",
            "bakery olsen",
            "aker 0",
            "ærø",
            "ÆRØ",
            "kjøkken",
            "KJØKKEN bergen",
            "_",
            "d_f",
            "%",
            "100%",
            "tromsø",
            "TROMSØ",
            "12",
            "kiosk 12",
            "c-00",
            "σας",
            "ΣΟΦΊΑ",
            "0 0",
            "zzz",
            "-",
        ];
        for q in queries {
            for limit in [0, 1, 5, 100] {
                let ids = |found: Vec<Object>| -> Vec<String> {
                    found.iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
                };
                assert_eq!(
                    ids(engine.search("customers", q, limit).unwrap()),
                    ids(engine.search_sql("customers", q, limit).unwrap()),
                    "query {q:?}, limit {limit}"
                );
            }
        }
    }

    /// The index never answers from data older than the database: an edit made through
    /// the same engine, and a record written by another connection to the profile (the
    /// app's sync, while its lists read through their own), are found by the next search.
    #[test]
    fn the_search_finds_what_was_written_since_it_last_answered() {
        let dir = tempfile::tempdir().unwrap();
        let mut engine = Engine::open(dir.path()).unwrap();
        let territory = uuid::Uuid::now_v7().to_string();
        let id = customer(&mut engine, &territory, "Olsen Bakery", "C-1", "Bergen");
        assert_eq!(names(&engine, "bakery", 10), ["Olsen Bakery"]);
        let fields = engine.parse_sets("customers", &[("name".to_string(), "Olsen Deli".to_string())]).unwrap();
        engine.update("customers", &id, fields).unwrap();
        assert!(names(&engine, "bakery", 10).is_empty(), "an edit through the same engine");
        assert_eq!(names(&engine, "deli", 10), ["Olsen Deli"]);
        let mut other = Engine::open(dir.path()).unwrap();
        customer(&mut other, &territory, "Berg Bakery", "C-2", "Oslo");
        assert_eq!(names(&engine, "bakery", 10), ["Berg Bakery"], "a record written by another connection");
    }
}
