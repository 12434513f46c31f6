//! `fieldsync-bench import`: how fast a company's price list loads through
//! `fieldsync-server import` (the same code, in process), and how fast a small delta lands
//! in the big table. Rows are price list items, matched by (price list code, SKU), as an
//! ERP would send them. The baseline, in the same run, is a bare SQLite bulk insert of the
//! same rows (CSV parsed, one prepared INSERT, one transaction, no index but the key).

use std::fmt::Write as _;
use std::time::Instant;

use fieldsync_protocol::Registry;
use fieldsync_server::db::{Db, Location};
use fieldsync_server::import::{self, Format, Options, Report};
use serde_json::{json, Value};

use crate::round;

/// Products per price list: the million rows are `rows / PRODUCTS` lists of this many.
const PRODUCTS: usize = 2_000;

pub fn run(rows: usize, delta: usize, database: Option<String>) -> anyhow::Result<Value> {
    anyhow::ensure!(rows >= PRODUCTS && delta <= rows, "--rows must be at least {PRODUCTS} and --delta at most --rows");
    let dir = tempfile::tempdir()?;
    let location = match &database {
        Some(url) => Location::Postgres(url.clone()),
        None => Location::Sqlite(dir.path().join("server")),
    };
    let reg = Registry::standard();
    let db = Db::open(&location, &fieldsync_protocol::Registry::standard(), &[])?;
    let lists = rows / PRODUCTS;
    let load = |entity: &str, text: &str| -> anyhow::Result<(Report, f64)> {
        let def = import::entity(&reg, entity)?;
        let started = Instant::now();
        let options = Options { format: Format::Csv, ..Options::default() };
        let report = import::run(&db, &reg, def, text.as_bytes(), options, None, now())?;
        anyhow::ensure!(report.rejected == 0, "{entity}: {:?}", report.errors.first());
        Ok((report, started.elapsed().as_secs_f64()))
    };
    load("product_categories", "code,name\nALL,Everything\n")?;
    let mut products = String::from("sku,name,category_id,unit,active\n");
    for p in 0..PRODUCTS {
        writeln!(products, "SKU-{p:05},Product {p},ALL,each,true")?;
    }
    load("products", &products)?;
    let mut price_lists = String::from("code,name,currency\n");
    for l in 0..lists {
        writeln!(price_lists, "PL-{l:04},Price list {l},EUR")?;
    }
    load("price_lists", &price_lists)?;

    let items = price_list_items(lists);
    let rows = lists * PRODUCTS;
    let (first, first_secs) = load("price_list_items", &items)?;
    anyhow::ensure!(first.created as usize == rows, "created {} of {rows}", first.created);
    // The same file again: every row read, matched and found unchanged.
    let (again, again_secs) = load("price_list_items", &items)?;
    anyhow::ensure!(again.unchanged as usize == rows && again.changed() == 0, "re-import changed {}", again.changed());
    // A delta: `delta` prices changed, spread over the table.
    let step = rows / delta.max(1);
    let mut changed = String::from("price_list_id,product_id,unit_price_cents\n");
    for i in (0..rows).step_by(step.max(1)).take(delta) {
        let (l, p) = (i / PRODUCTS, i % PRODUCTS);
        writeln!(changed, "PL-{l:04},SKU-{p:05},{}", price(l, p) + 1)?;
    }
    let (delta_report, delta_secs) = load("price_list_items", &changed)?;
    anyhow::ensure!(delta_report.updated as usize == delta, "the delta updated {}", delta_report.updated);
    drop(db);

    let baseline = raw_insert_rate(&items)?;
    let rate = rows as f64 / first_secs;
    Ok(json!({
        "bench": "import",
        "backend": if database.is_some() { "postgres" } else { "sqlite" },
        "rows": rows,
        "first_import_seconds": round(first_secs, 2),
        "rows_per_s": rate.round(),
        "unchanged_reimport_seconds": round(again_secs, 2),
        "unchanged_rows_per_s": (rows as f64 / again_secs).round(),
        "delta_rows": delta,
        "delta_seconds": round(delta_secs, 3),
        "baseline_raw_sqlite_insert_rows_per_s": baseline.round(),
        "ratio_to_baseline": round(rate / baseline, 3),
    }))
}

fn price(list: usize, product: usize) -> usize {
    100 + (list * 7 + product * 13) % 9_000
}

fn price_list_items(lists: usize) -> String {
    let mut out = String::with_capacity(lists * PRODUCTS * 32);
    out.push_str("price_list_id,product_id,unit_price_cents\n");
    for l in 0..lists {
        for p in 0..PRODUCTS {
            let _ = writeln!(out, "PL-{l:04},SKU-{p:05},{}", price(l, p));
        }
    }
    out
}

/// Rows per second of the plainest possible load of the same CSV into SQLite.
fn raw_insert_rate(csv_text: &str) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let mut conn = fieldsync_sqlkit::open(&dir.path().join("raw.db"))?;
    conn.execute_batch(
        "CREATE TABLE items (id TEXT PRIMARY KEY, price_list TEXT, product TEXT, unit_price_cents INTEGER)",
    )?;
    let started = Instant::now();
    let tx = conn.transaction()?;
    let mut n = 0usize;
    {
        let mut insert = tx.prepare("INSERT INTO items VALUES (?1, ?2, ?3, ?4)")?;
        let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
        for record in reader.records() {
            let record = record?;
            let cents: i64 = record[2].parse()?;
            insert.execute(rusqlite::params![uuid::Uuid::now_v7().to_string(), &record[0], &record[1], cents])?;
            n += 1;
        }
    }
    tx.commit()?;
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

fn now() -> i64 {
    fieldsync_protocol::time::Clock::now_ms(&fieldsync_protocol::time::SystemClock)
}
