//! A company's own data in and orders out, through the real `fieldsync-server import` and
//! `export` commands beside a running server: reps receive exactly their territory's new
//! rows, bad rows are reported and kept out, re-imports change nothing, retired records
//! are archived rather than vanishing, and exports from a cursor are exactly once.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use fieldsync_server::export::{self, Query};
use serde_json::{json, Value};

use crate::support::{off_runtime, put, TestServer};

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn codes(client: &crate::support::TestClient, entity: &str) -> BTreeSet<String> {
    client.list(entity).iter().filter_map(|c| c["code"].as_str().map(String::from)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn imported_customers_reach_exactly_their_territorys_reps_and_bad_rows_are_reported() {
    let srv = TestServer::demo().await;
    let (mut rep1, mut rep3) = (srv.client("rep1").await, srv.client("rep3").await);
    rep1.sync().await;
    rep3.sync().await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "customers.csv",
        "code,name,territory_id,price_list_id,city,credit_limit_cents\n\
         CX-1,Fjord Foods,NORTH,STD,Bergen,100000\n\
         CX-2,Sol Market,SOUTH,KEY,Faro,\n\
         CX-3,Nowhere Shop,NOWHERE,STD,Oslo,\n\
         CX-4,,NORTH,STD,Oslo,\n\
         CX-5,Minus Mart,NORTH,STD,Oslo,-5\n\
         CX-6,Lots Of Credit,NORTH,STD,Oslo,many\n\
         CX-1,Fjord Foods again,NORTH,STD,Bergen,\n",
    );
    // rep1 waits for news in a long poll while the import runs in another process.
    let head = srv.head().await;
    let token = srv.token("rep1").await;
    let url = format!("{}/v1/pull?cursor={}&wait_ms=60000", srv.url, srv.cursor_at(head));
    let poll = tokio::spawn(async move { reqwest::Client::new().get(url).bearer_auth(token).send().await });
    let (ok, out, _) = off_runtime(|| srv.server_cli(&["import", "customers", "--file", &file]));
    assert!(!ok, "rejected rows make the exit status non-zero: {out}");
    for expected in [
        "line 4, territory_id: no territories record has the code or id NOWHERE",
        "line 5, name: is required but empty",
        "line 6, credit_limit_cents:",
        "line 7, credit_limit_cents: must be a whole number, got 'many'",
        "line 8: names the same record as line 2",
        "2 created, 0 updated, 0 unchanged, 5 rejected",
    ] {
        assert!(out.contains(expected), "missing '{expected}' in:\n{out}");
    }
    let rejected = std::fs::read_to_string(format!("{file}.rejected.csv")).unwrap();
    assert_eq!(rejected.lines().count(), 6, "header + 5 bad rows:\n{rejected}");
    assert!(rejected.starts_with("code,name,territory_id,price_list_id,city,credit_limit_cents,reason\n"));
    assert!(rejected.contains("CX-3,Nowhere Shop,NOWHERE,STD,Oslo,,\"line 4, territory_id:"), "{rejected}");

    let woke = tokio::time::timeout(std::time::Duration::from_secs(30), poll).await;
    let page: Value = woke.expect("the long poll woke").unwrap().unwrap().json().await.unwrap();
    assert!(!page["changes"].as_array().unwrap().is_empty(), "{page}");

    rep1.sync().await;
    rep3.sync().await;
    let (north, south) = (codes(&rep1, "customers"), codes(&rep3, "customers"));
    assert!(north.contains("CX-1") && !north.contains("CX-2"), "rep1 gets the NORTH row only");
    assert!(south.contains("CX-2") && !south.contains("CX-1"), "rep3 gets the SOUTH row only");
    assert!(!north.contains("CX-4") && !north.contains("CX-5") && !north.contains("CX-6"));
    let cx1 = rep1.list("customers").into_iter().find(|c| c["code"] == "CX-1").unwrap();
    let std_list = rep1.list("price_lists").into_iter().find(|p| p["code"] == "STD").unwrap();
    assert_eq!(cx1["price_list_id"], std_list["id"], "the code STD was stored as the price list's id");
    assert_eq!(cx1["credit_limit_cents"], 100_000);

    // The same file again: nothing changes, nothing is logged, nobody pulls anything.
    let before = srv.head().await;
    let (_, out, _) = off_runtime(|| srv.server_cli(&["import", "customers", "--file", &file]));
    assert!(out.contains("0 created, 0 updated, 2 unchanged, 5 rejected"), "{out}");
    assert_eq!(srv.head().await, before, "an unchanged re-import logs no change");
    assert_eq!(rep1.sync().await.pulled, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn all_or_nothing_and_dry_runs_store_nothing() {
    let srv = TestServer::demo().await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "strict.csv",
        "code,name,territory_id,price_list_id\nCX-10,Good Row,NORTH,STD\nCX-11,,NORTH,STD\n",
    );
    let head = srv.head().await;
    let (ok, out, _) = off_runtime(|| srv.server_cli(&["import", "customers", "--file", &file, "--all-or-nothing"]));
    assert!(!ok && out.contains("line 3, name: is required but empty"), "{out}");
    assert!(out.contains("nothing was stored"), "{out}");
    let good = write(dir.path(), "good.csv", "code,name,territory_id\nCX-12,Good Row,NORTH\n");
    let (ok, out, _) = off_runtime(|| srv.server_cli(&["import", "customers", "--file", &good, "--dry-run"]));
    assert!(ok && out.contains("1 created") && out.contains("dry run: nothing was stored"), "{out}");
    assert_eq!(srv.head().await, head, "neither run logged a change");
    let stored: i64 =
        srv.with_db(|tx| tx.value("SELECT count(*) FROM customers WHERE code LIKE 'CX-1%'", &[]).unwrap());
    assert_eq!(stored, 0);
    let (ok, out, _) = off_runtime(|| srv.server_cli(&["import", "customers", "--file", &good, "--all-or-nothing"]));
    assert!(ok && out.contains("1 created"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn composite_keys_update_prices_and_stock_in_place_and_moves_follow_the_territory() {
    let srv = TestServer::demo().await;
    let (mut rep1, mut rep3) = (srv.client("rep1").await, srv.client("rep3").await);
    rep1.sync().await;
    rep3.sync().await;
    let dir = tempfile::tempdir().unwrap();
    // SKU-0001 is in a category rep1 sees; the price list item is matched by (list, SKU).
    let prices = write(
        dir.path(),
        "prices.jsonl",
        "{\"price_list_id\": \"STD\", \"product_id\": \"SKU-0001\", \"unit_price_cents\": 4321}\n\
         \n\
         {\"price_list_id\": \"STD\", \"product_id\": \"SKU-9999\", \"unit_price_cents\": 1}\n\
         not json\n",
    );
    let (_, out, _) = off_runtime(|| srv.server_cli(&["import", "price_list_items", "--file", &prices]));
    assert!(out.contains("0 created, 1 updated, 0 unchanged, 2 rejected"), "{out}");
    assert!(out.contains("line 3, product_id: no products record has the sku or id SKU-9999"), "{out}");
    assert!(out.contains("line 4: is not valid JSON"), "{out}");
    let product = rep1.list("products").into_iter().find(|p| p["sku"] == "SKU-0001").unwrap();
    let std_list = rep1.list("price_lists").into_iter().find(|p| p["code"] == "STD").unwrap();
    let item_count = rep1.list("price_list_items").len();
    rep1.sync().await;
    let items = rep1.list("price_list_items");
    assert_eq!(items.len(), item_count, "updated in place, not added");
    let item = items.iter().find(|i| i["product_id"] == product["id"] && i["price_list_id"] == std_list["id"]).unwrap();
    assert_eq!(item["unit_price_cents"], 4321);

    // Moving a customer by import moves it, with what hangs off it, between reps.
    let moved = write(dir.path(), "move.csv", "code,territory_id\nCN-0001,SOUTH\n");
    let (ok, out, err) = off_runtime(|| srv.server_cli(&["import", "customers", "--file", &moved]));
    assert!(ok && out.contains("1 updated"), "{out}{err}");
    let report = rep1.sync().await;
    assert!(!codes(&rep1, "customers").contains("CN-0001"));
    assert_eq!(report.notices.len(), 1, "{:?}", report.notices);
    rep3.sync().await;
    assert!(codes(&rep3, "customers").contains("CN-0001"));
    for client in [&rep1, &rep3] {
        srv.assert_matches_fresh_download(client, "after a move by import").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_re_imports_unchanged_and_delete_missing_archives_with_a_clear_refusal() {
    let srv = TestServer::demo().await;
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;
    let dir = tempfile::tempdir().unwrap();
    let (ok, csv, err) = off_runtime(|| srv.server_cli(&["export", "customers", "--format", "csv"]));
    assert!(ok, "{err}");
    assert!(err.contains("next cursor:"), "{err}");
    assert!(csv.lines().nth(1).is_some_and(|l| l.contains(",NORTH,") || l.contains(",SOUTH,")), "codes, not ids");
    let full = write(dir.path(), "all.csv", &csv);
    let head = srv.head().await;
    let (ok, out, _) = off_runtime(|| srv.server_cli(&["import", "customers", "--file", &full]));
    assert!(ok && out.contains("0 created, 0 updated, 1040 unchanged, 0 rejected"), "{out}");
    assert_eq!(srv.head().await, head, "a round trip changes nothing");

    // rep1 takes an order offline for a customer the ERP then drops.
    let customer = rep1.list("customers").into_iter().find(|c| c["code"] == "CN-0005").unwrap();
    let cid = customer["id"].as_str().unwrap().to_string();
    let product = rep1.list("products").into_iter().find(|p| p["active"] == true).unwrap();
    let order = rep1.create("orders", &[("customer_id", &cid)]);
    rep1.create(
        "order_lines",
        &[("order_id", &order), ("product_id", product["id"].as_str().unwrap()), ("quantity", "2")],
    );
    rep1.set("orders", &order, &[("status", "submitted")]);
    let without: String = csv.lines().filter(|l| !l.contains(",CN-0005,")).map(|l| format!("{l}\n")).collect();
    let file = write(dir.path(), "without.csv", &without);
    let (ok, out, err) = off_runtime(|| srv.server_cli(&["import", "customers", "--file", &file, "--delete-missing"]));
    assert!(ok && out.contains("1 archived, 0 deleted"), "{out}{err}");
    let report = rep1.sync().await;
    let kept = rep1.get("customers", &cid).expect("an archived customer stays visible");
    assert_eq!(kept["active"], false);
    let attention = rep1.engine.attention().unwrap();
    let refusal = attention
        .iter()
        .find(|a| a.code == "inactive")
        .unwrap_or_else(|| panic!("the submit is refused as inactive: {attention:?} / {report:?}"));
    assert!(refusal.reason.contains(customer["name"].as_str().unwrap()), "{}", refusal.reason);
    assert!(refusal.reason.contains("archived"), "{}", refusal.reason);
    assert_eq!(rep1.get("orders", &order).unwrap()["status"], "draft", "the order is still there, unsent");

    // Price list items have no active flag: the missing ones are deleted, and reps lose them.
    let (_, items, _) = off_runtime(|| srv.server_cli(&["export", "price_list_items", "--format", "csv"]));
    let first_item = items.lines().nth(1).unwrap().split(',').next().unwrap().to_string();
    let rest: String = items.lines().filter(|l| !l.starts_with(&first_item)).map(|l| format!("{l}\n")).collect();
    let file = write(dir.path(), "items.csv", &rest);
    let (ok, out, _) =
        off_runtime(|| srv.server_cli(&["import", "price_list_items", "--file", &file, "--delete-missing"]));
    assert!(ok && out.contains("0 archived, 1 deleted"), "{out}");
    rep1.sync().await;
    assert!(rep1.get("price_list_items", &first_item).is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn exports_from_a_cursor_are_exactly_once_while_orders_are_being_approved() {
    let srv = TestServer::demo().await;
    let mut manager = srv.client("manager1").await;
    manager.sync().await;
    let submitted = manager.ids_where("orders", "status", "submitted");
    assert!(submitted.len() >= 60, "{}", submitted.len());
    let db = off_runtime(|| fieldsync_server::db::Db::open(&srv.config.location(), &srv.config.registry, &[]).unwrap());
    let registry = srv.config.registry.clone();
    let exporting = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let exporter = {
        let (db, registry, exporting) = (db.clone(), registry.clone(), exporting.clone());
        tokio::task::spawn_blocking(move || {
            let def = registry.get("orders").unwrap();
            let mut seen: HashMap<String, usize> = HashMap::new();
            let mut query = Query { since: 0, status: Some("approved".into()) };
            let mut last_round = false;
            loop {
                // Small pages, many runs: each run continues from the cursor the last printed.
                let page = db.read_blocking(|tx| export::page(tx, &registry, def, &query, 7)).expect("export page");
                for r in &page.records {
                    *seen.entry(r["id"].as_str().unwrap().to_string()).or_default() += 1;
                    assert!(!r["order_lines"].as_array().unwrap().is_empty(), "orders come with their lines");
                }
                query.since = page.next_cursor;
                if !page.more && last_round {
                    return seen;
                }
                if !page.more && !exporting.load(std::sync::atomic::Ordering::SeqCst) {
                    last_round = true;
                }
            }
        })
    };
    for chunk in submitted.chunks(5) {
        let mutations: Vec<Value> = chunk.iter().map(|id| put("orders", id, json!({"status": "approved"}))).collect();
        let results = srv.push_raw("manager1", mutations).await;
        assert!(results.iter().all(|r| r["status"] == "applied"), "{results:?}");
    }
    exporting.store(false, std::sync::atomic::Ordering::SeqCst);
    let seen = exporter.await.unwrap();
    let repeated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "exported more than once: {repeated:?}");
    let approved: BTreeSet<String> = srv
        .with_db(|tx| tx.query("SELECT id FROM orders WHERE status = 'approved'", &[], |r| r.get(0)).unwrap())
        .into_iter()
        .collect();
    let exported: BTreeSet<String> = seen.into_keys().collect();
    assert_eq!(exported, approved, "every approved order exported, once");
    assert!(submitted.iter().all(|id| exported.contains(id)));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_erp_round_trip_prices_in_orders_out_invoice_numbers_back_in() {
    let srv = TestServer::demo().await;
    let mut manager = srv.client("manager1").await;
    manager.sync().await;
    let dir = tempfile::tempdir().unwrap();
    let (ok, orders, err) =
        off_runtime(|| srv.server_cli(&["export", "orders", "--status", "approved", "--format", "jsonl"]));
    assert!(ok, "{err}");
    let order: Value = serde_json::from_str(orders.lines().next().unwrap()).unwrap();
    let (id, customer) = (order["id"].as_str().unwrap(), order["customer_id"].as_str().unwrap());
    let invoices = write(
        dir.path(),
        "invoices.csv",
        &format!(
            "number,customer_id,order_id,issued_on,due_on,amount_cents,open_cents\n\
             INV-ERP-1,{customer},{id},2026-11-30,2026-12-30,{total},{total}\n",
            total = order["total_cents"]
        ),
    );
    let (ok, out, err) = off_runtime(|| srv.server_cli(&["import", "invoices", "--file", &invoices]));
    assert!(ok && out.contains("1 created"), "{out}{err}");
    manager.sync().await;
    let invoice = manager.list("invoices").into_iter().find(|i| i["number"] == "INV-ERP-1").unwrap();
    assert_eq!(invoice["order_id"], id, "the invoice names the order it bills");
    // Paid in part the next night: the same number updates it in place.
    let paid = write(dir.path(), "paid.csv", "number,open_cents\nINV-ERP-1,0\n");
    let (ok, out, err) = off_runtime(|| srv.server_cli(&["import", "invoices", "--file", &paid]));
    assert!(ok && out.contains("1 updated"), "{out}{err}");
    manager.sync().await;
    let invoice = manager.list("invoices").into_iter().find(|i| i["number"] == "INV-ERP-1").unwrap();
    assert_eq!(invoice["open_cents"], 0);
}
