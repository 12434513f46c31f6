//! Demo data: two territories, five users, and every entity type populated at a realistic
//! size (500+ customers per territory, 300 products in 6 categories, ...). Deterministic
//! (fixed random seed) and idempotent (a marker row records that it ran).

use fieldsync_protocol::time::{date_from_days, rfc3339_ms};
use fieldsync_protocol::{Registry, Role};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use fieldsync_sqlkit::pricing::{line_total_cents, Price};

use crate::args;
use crate::checks::current_price;
use crate::records;
use crate::sql::Tx;

pub const CUSTOMERS_PER_TERRITORY: usize = 520;
pub const PRODUCTS: usize = 300;

/// Time-ordered (UUIDv7) ids from a fixed start, so seeds are reproducible and inserts
/// land in index order.
struct Ids {
    ms: u64,
    rng: StdRng,
}

impl Ids {
    fn next(&mut self) -> String {
        self.ms += 1;
        let mut rand_bytes = [0u8; 10];
        self.rng.fill(&mut rand_bytes);
        uuid::Builder::from_unix_timestamp_millis(self.ms, &rand_bytes).into_uuid().to_string()
    }
}

struct Seeder<'a, 'c> {
    tx: &'a Tx<'c>,
    reg: &'a Registry,
    ids: Ids,
    rng: StdRng,
    rows: usize,
}

impl Seeder<'_, '_> {
    /// Inserts a record given as a JSON object; missing fields are null.
    fn put(&mut self, entity: &str, obj: Value) -> anyhow::Result<String> {
        let def = self.reg.get(entity).ok_or_else(|| anyhow::anyhow!("no entity {entity}"))?;
        let id = self.ids.next();
        let obj = obj.as_object().ok_or_else(|| anyhow::anyhow!("a {entity} record must be a JSON object"))?;
        records::upsert_object(self.tx, def, &id, obj)?;
        self.rows += 1;
        Ok(id)
    }

    fn pick<'v>(&mut self, list: &'v [String]) -> &'v String {
        list.choose(&mut self.rng).expect("non-empty list")
    }
}

const FIRST: &[&str] =
    &["Anna", "Ben", "Chloe", "David", "Emma", "Felix", "Grace", "Hugo", "Iris", "Jonas", "Karin", "Liam"];
const LAST: &[&str] = &["Berg", "Costa", "Dubois", "Meyer", "Novak", "Olsen", "Rossi", "Schmidt", "Weber", "Young"];
const SHOPS: &[&str] =
    &["Market", "Grocers", "Pharmacy", "Hardware", "Foods", "Trading", "Supplies", "Stores", "Kiosk", "Depot"];
const NORTH_CITIES: &[&str] = &["Aberdeen", "Bergen", "Tromso", "Umea", "Oulu", "Inverness", "Trondheim", "Lulea"];
const SOUTH_CITIES: &[&str] = &["Seville", "Naples", "Porto", "Valencia", "Malaga", "Bari", "Faro", "Palermo"];
const CATEGORIES: &[(&str, &str)] = &[
    ("BEV", "Beverages"),
    ("SNK", "Snacks"),
    ("DRY", "Dry goods"),
    ("HOME", "Household"),
    ("CARE", "Personal care"),
    ("FRZ", "Frozen"),
];

/// Seeds the demo data unless already present. Returns the number of records written.
/// Run it in one write transaction: a crash part way leaves no half-seeded database.
pub fn seed_demo(tx: &Tx<'_>, reg: &Registry) -> anyhow::Result<usize> {
    let done: Option<String> =
        tx.query_opt("SELECT value FROM server_meta WHERE key = 'demo_seeded'", args![], |r| r.get(0))?;
    if done.is_some() {
        return Ok(0);
    }
    let mut rows = {
        let mut s = Seeder {
            tx,
            reg,
            ids: Ids { ms: 1_764_000_000_000, rng: StdRng::seed_from_u64(7) },
            rng: StdRng::seed_from_u64(42),
            rows: 0,
        };
        populate(&mut s)?;
        s.rows
    };
    for (name, role, territories, manager) in [
        ("manager1", Role::Manager, vec![], None),
        ("rep1", Role::Rep, vec!["NORTH".to_string()], Some("manager1")),
        ("rep2", Role::Rep, vec!["NORTH".to_string()], Some("manager1")),
        ("rep3", Role::Rep, vec!["SOUTH".to_string()], Some("manager1")),
        ("shipper1", Role::Shipper, vec!["NORTH".to_string(), "SOUTH".to_string()], Some("manager1")),
    ] {
        crate::admin::save_user(tx, reg, name, role, &territories, manager, "demo")?;
        rows += 1;
    }
    rows += seed_activity(tx, reg)?;
    tx.execute("INSERT INTO server_meta (key, value) VALUES ('demo_seeded', ?1)", args![rows.to_string()])?;
    Ok(rows)
}

fn populate(s: &mut Seeder<'_, '_>) -> anyhow::Result<()> {
    let today = crate::db::now_ms() / 86_400_000;
    let date = |offset: i64| date_from_days(today + offset);
    let north = s.put("territories", json!({"code": "NORTH", "name": "North region"}))?;
    let south = s.put("territories", json!({"code": "SOUTH", "name": "South region"}))?;
    let mut categories = Vec::new();
    for (code, name) in CATEGORIES {
        categories.push(s.put("product_categories", json!({"code": code, "name": name}))?);
    }
    // NORTH sells the first four categories, SOUTH the last four: overlapping catalogues.
    for (territory, cats) in [(&north, &categories[..4]), (&south, &categories[2..])] {
        for c in cats {
            s.tx.execute("INSERT INTO territory_categories VALUES (?1, ?2)", args![territory.as_str(), c])?;
        }
    }
    let standard = s.put("price_lists", json!({"code": "STD", "name": "Standard", "currency": "EUR"}))?;
    let key = s.put("price_lists", json!({"code": "KEY", "name": "Key accounts", "currency": "EUR"}))?;
    let warehouses = vec![
        s.put("warehouses", json!({"code": "WH-N", "name": "Northern depot", "city": "Trondheim"}))?,
        s.put("warehouses", json!({"code": "WH-S", "name": "Southern depot", "city": "Valencia"}))?,
    ];
    let mut products = Vec::new();
    for i in 0..PRODUCTS {
        let cat = &categories[i % categories.len()];
        let p = s.put(
            "products",
            json!({"sku": format!("SKU-{i:04}"), "name": format!("{} item {i}", CATEGORIES[i % CATEGORIES.len()].1),
                   "category_id": cat, "unit": if i % 3 == 0 { "case" } else { "each" }, "active": i % 29 != 0}),
        )?;
        let price = s.rng.gen_range(150..9_000);
        s.put("price_list_items", json!({"price_list_id": standard, "product_id": p, "unit_price_cents": price}))?;
        s.put("price_list_items", json!({"price_list_id": key, "product_id": p, "unit_price_cents": price * 9 / 10}))?;
        for w in &warehouses {
            let on_hand = s.rng.gen_range(0..500);
            s.put(
                "inventory_levels",
                json!({"warehouse_id": w, "product_id": p, "on_hand": on_hand, "reserved": on_hand / 10}),
            )?;
        }
        if i % 15 == 0 {
            s.put(
                "promotions",
                json!({"product_id": p, "name": format!("Winter deal {i}"), "discount_pct": 10.0,
                                        "starts_on": date(-10), "ends_on": date(20)}),
            )?;
        }
        products.push(p);
    }
    for (territory, code, cities) in [(&north, "N", NORTH_CITIES), (&south, "S", SOUTH_CITIES)] {
        for i in 0..CUSTOMERS_PER_TERRITORY {
            let city = *cities.choose(&mut s.rng).expect("cities");
            let name = format!("{} {} {}", LAST.choose(&mut s.rng).expect("names"), SHOPS[i % SHOPS.len()], i);
            let phone = format!("+47 {:08}", s.rng.gen_range(10_000_000..99_999_999));
            let credit = s.rng.gen_range(1..50) * 100_000;
            let c = s.put(
                "customers",
                json!({"code": format!("C{code}-{i:04}"), "name": name, "territory_id": territory,
                       "price_list_id": if i % 7 == 0 { &key } else { &standard },
                       "phone": phone,
                       "email": format!("orders{i}@{}.example", code.to_lowercase()), "city": city,
                       "credit_limit_cents": credit}),
            )?;
            let first = *FIRST.choose(&mut s.rng).expect("first");
            let last = *LAST.choose(&mut s.rng).expect("last");
            let phone = format!("+47 {:08}", s.rng.gen_range(10_000_000..99_999_999));
            s.put(
                "contacts",
                json!({"customer_id": c, "name": format!("{first} {last}"), "job_title": "Buyer", "phone": phone}),
            )?;
            if i % 2 == 0 {
                s.put("contacts", json!({"customer_id": c, "name": format!("{last} {first}"), "job_title": "Owner"}))?;
            }
            s.put(
                "addresses",
                json!({"customer_id": c, "kind": "shipping", "street": format!("{} Harbour Road", i + 1),
                                       "city": city, "postal_code": format!("{:05}", 1000 + i), "country": "EU"}),
            )?;
            if i % 3 == 0 {
                let amount = s.rng.gen_range(5_000..500_000);
                let inv = s.put("invoices", json!({"customer_id": c, "number": format!("INV-{code}{i:05}"),
                    "issued_on": date(-40), "due_on": date(-10 + (i % 30) as i64), "amount_cents": amount, "open_cents": amount / 2}))?;
                if i % 6 == 0 {
                    s.put("payments", json!({"invoice_id": inv, "amount_cents": amount / 2, "paid_on": date(-5), "method": "transfer"}))?;
                }
            }
        }
    }
    Ok(())
}

/// Orders, visits, tasks, returns and deliveries belong to users, so they are seeded after
/// the users exist.
fn seed_activity(tx: &Tx<'_>, reg: &Registry) -> anyhow::Result<usize> {
    let user = |name: &str| -> anyhow::Result<String> {
        Ok(tx.value("SELECT id FROM users WHERE username = ?1", args![name])?)
    };
    let reps = [(user("rep1")?, "NORTH"), (user("rep2")?, "NORTH"), (user("rep3")?, "SOUTH")];
    let (manager, shipper) = (user("manager1")?, user("shipper1")?);
    let products: Vec<String> = tx.query("SELECT id FROM products ORDER BY id", args![], |r| r.get(0))?;
    let mut s = Seeder {
        tx,
        reg,
        ids: Ids { ms: 1_765_000_000_000, rng: StdRng::seed_from_u64(8) },
        rng: StdRng::seed_from_u64(43),
        rows: 0,
    };
    let today = crate::db::now_ms() / 86_400_000;
    let date = |offset: i64| date_from_days(today + offset);
    for (rep, territory) in &reps {
        let customers: Vec<(String, String)> = s.tx.query(
            "SELECT c.id, a.id FROM customers c JOIN territories t ON t.id = c.territory_id \
             JOIN addresses a ON a.customer_id = c.id WHERE t.code = ?1 ORDER BY c.id LIMIT 120",
            args![*territory],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        for (i, (customer, address)) in customers.iter().enumerate() {
            let status = ["draft", "submitted", "approved", "delivered"][i % 4];
            let order = s.put(
                "orders",
                json!({"customer_id": customer, "rep_id": rep, "status": status,
                "order_date": date(-(i as i64 % 30)), "notes": null, "total_cents": 0}),
            )?;
            let mut total = 0;
            for _ in 0..3 {
                // Lines carry the customer's list price and today's promotion, as a
                // client would price them.
                let p = s.pick(&products).clone();
                let qty = s.rng.gen_range(1..20);
                let price = current_price(s.tx, &order, &p, &date(0))?
                    .unwrap_or(Price { unit_price_cents: 1_000, discount_pct: 0.0 });
                total += line_total_cents(qty, price.unit_price_cents, price.discount_pct);
                s.put(
                    "order_lines",
                    json!({"order_id": order, "product_id": p, "quantity": qty,
                           "unit_price_cents": price.unit_price_cents, "discount_pct": price.discount_pct}),
                )?;
            }
            s.tx.execute("UPDATE orders SET total_cents = ?1 WHERE id = ?2", args![total, &order])?;
            if status != "draft" && status != "submitted" {
                s.put(
                    "order_reviews",
                    json!({"order_id": order, "reviewer_id": manager, "decision": "approved",
                    "comment": "Fine", "reviewed_at": rfc3339_ms(crate::db::now_ms() - 86_400_000)}),
                )?;
            }
            if status == "approved" || status == "delivered" {
                s.put(
                    "deliveries",
                    json!({"order_id": order, "address_id": address, "shipper_id": shipper,
                    "status": if status == "delivered" { "delivered" } else { "scheduled" }, "scheduled_on": date(2)}),
                )?;
            }
            if i % 2 == 0 {
                let visit = s.put(
                    "visits",
                    json!({"customer_id": customer, "rep_id": rep,
                    "visited_at": rfc3339_ms(crate::db::now_ms() - (i as i64 + 1) * 3_600_000),
                    "outcome": "order_taken", "notes": "Discussed the winter range."}),
                )?;
                let p = s.pick(&products).clone();
                s.put("samples", json!({"visit_id": visit, "product_id": p, "quantity": 2}))?;
                s.put(
                    "competitor_observations",
                    json!({"visit_id": visit, "competitor": "Acme Foods",
                    "product_id": p, "observed_price_cents": 1_299, "notes": "Shelf end display"}),
                )?;
                s.put(
                    "tasks",
                    json!({"customer_id": customer, "assignee_id": rep, "visit_id": visit,
                    "title": "Send the new catalogue", "due_on": date(7), "done": false}),
                )?;
            }
            if i % 4 == 1 {
                s.put(
                    "visit_plans",
                    json!({"customer_id": customer, "rep_id": rep, "planned_on": date(i as i64 % 5),
                    "purpose": "Quarterly review", "status": "planned"}),
                )?;
            }
            if i % 20 == 3 {
                let ret = s.put(
                    "returns",
                    json!({"customer_id": customer, "order_id": order, "reason": "Damaged in transit",
                    "status": "requested", "created_on": date(-2)}),
                )?;
                let p = s.pick(&products).clone();
                s.put("return_lines", json!({"return_id": ret, "product_id": p, "quantity": 1}))?;
            }
        }
    }
    Ok(s.rows)
}
