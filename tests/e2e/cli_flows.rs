//! Workflows driven entirely through the two CLIs, as IT and scripts use them.

use serde_json::json;

use crate::support::{cli, cli_json, TestServer};

#[tokio::test(flavor = "multi_thread")]
async fn review_flow_from_two_cli_profiles() {
    let srv = TestServer::demo().await;
    let (rep1, mgr) = (srv.client("rep1").await, srv.client("manager1").await);
    let (r, m) = (rep1.profile(), mgr.profile());
    cli_json(&r, &["sync"]);
    cli_json(&m, &["sync"]);
    let customer = cli_json(&r, &["list", "customers"])[0]["id"].as_str().unwrap().to_string();
    let product = cli_json(&r, &["list", "products"])[0]["id"].as_str().unwrap().to_string();
    let (ok, out, err) = cli(&r, &["create", "orders", "--set", &format!("customer_id={customer}")]);
    assert!(ok, "{err}");
    let order = out.trim().to_string();
    let line = cli_json(
        &r,
        &[
            "create",
            "order_lines",
            "--set",
            &format!("order_id={order}"),
            "--set",
            &format!("product_id={product}"),
            "--set",
            "quantity=3",
        ],
    );
    assert!(line["unit_price_cents"].as_i64().unwrap() > 0, "priced from the customer's list: {line}");
    assert!(cli(&r, &["update", "orders", &order, "--set", "status=submitted"]).0);
    assert_eq!(cli_json(&r, &["sync"])["rejected"], json!(0));

    cli_json(&m, &["sync"]);
    let queue = cli_json(&m, &["review", "list"]);
    let item = queue.as_array().unwrap().iter().find(|o| o["id"] == json!(order)).expect("queued for review");
    assert_eq!((item["rep"].clone(), item["lines"].clone()), (json!("rep1"), json!(1)));
    assert_eq!(
        cli_json(&m, &["review", "list", "--rep", "rep2"])
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["id"] == json!(order))
            .count(),
        0
    );
    let (ok, _, err) = cli(&m, &["review", "reject", &order]);
    assert!(!ok && err.contains("--comment"), "{err}");
    assert!(cli(&m, &["review", "approve", &order, "--comment", "ok"]).0);
    cli_json(&m, &["sync"]);
    cli_json(&r, &["sync"]);
    assert_eq!(cli_json(&r, &["get", "orders", &order])["status"], json!("approved"));
    let (ok, _, err) = cli(&r, &["review", "approve", &order]);
    assert!(!ok && err.contains("Only managers"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn conflicts_restore_from_the_cli() {
    let srv = TestServer::demo().await;
    let (rep1, rep2) = (srv.client("rep1").await, srv.client("rep2").await);
    let (a, b) = (rep1.profile(), rep2.profile());
    cli_json(&a, &["sync"]);
    cli_json(&b, &["sync"]);
    let customer = cli_json(&a, &["list", "customers"])[7]["id"].as_str().unwrap().to_string();
    assert!(cli(&a, &["update", "customers", &customer, "--set", "city=Alta"]).0);
    srv.clock.advance(1_000);
    assert!(cli(&b, &["update", "customers", &customer, "--set", "city=Bodo"]).0);
    cli_json(&b, &["sync"]);
    assert_eq!(cli_json(&a, &["sync"])["conflicts"], json!(1));
    let conflict = cli_json(&a, &["conflicts"])[0].clone();
    assert_eq!((conflict["kept"].clone(), conflict["overwritten"].clone()), (json!("Bodo"), json!("Alta")));
    assert!(cli(&a, &["conflicts", "restore", conflict["conflict_id"].as_str().unwrap()]).0);
    cli_json(&a, &["sync"]);
    cli_json(&b, &["sync"]);
    assert_eq!(cli_json(&b, &["get", "customers", &customer])["city"], json!("Alta"));
}

#[tokio::test(flavor = "multi_thread")]
async fn territory_commands_of_the_server_cli() {
    let srv = TestServer::demo().await;
    let rep3 = srv.client("rep3").await;
    let p = rep3.profile();
    cli_json(&p, &["sync"]);
    let before = cli_json(&p, &["list", "customers"]).as_array().unwrap().len();
    let server = |args: &[&str]| srv.server_cli(args);
    let (ok, out, err) = server(&["territory", "assign", "NORTH", "--customer", "CS-0001", "--customer", "CS-0002"]);
    assert!(ok, "{err}");
    assert!(out.contains("rep3: gains 0 records, loses"), "{out}");
    let (ok, _, err) = server(&["territory", "assign", "NOWHERE", "--user", "rep3"]);
    assert!(!ok && err.contains("there is no territory 'NOWHERE'"), "{err}");
    let report = cli_json(&p, &["sync"]);
    assert!(report["notices"][0].as_str().unwrap().starts_with("2 customers"), "{report}");
    assert_eq!(cli_json(&p, &["list", "customers"]).as_array().unwrap().len(), before - 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn list_prints_named_columns_and_stops_quietly_when_the_reader_does() {
    let srv = TestServer::demo().await;
    let rep1 = srv.client("rep1").await;
    let p = rep1.profile();
    cli_json(&p, &["sync"]);
    let (ok, out, err) = cli(&p, &["list", "customers"]);
    assert!(ok, "{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("name\tcode\tphone\temail\tid"), "a header row, the name first");
    let first: Vec<&str> = lines.next().unwrap().split('\t').collect();
    assert!(first[0].contains(' ') && first[1].starts_with("CN-"), "{first:?}");

    let (ok, out, _) = cli(&p, &["list", "products", "--columns", "sku,name"]);
    assert!(ok && out.starts_with("sku\tname\nSKU-"), "{out}");
    let (ok, _, err) = cli(&p, &["list", "products", "--columns", "sku,colour"]);
    assert!(!ok && err.contains("products has no field 'colour'"), "{err}");

    // `fieldsync list customers | head -1`: the reader leaves after one line.
    let mut child = std::process::Command::new(crate::support::workspace_bin("fieldsync"))
        .arg("--profile")
        .arg(&p)
        .args(["list", "customers"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.is_empty(), "{:?}: {stderr}", out.status);
}
