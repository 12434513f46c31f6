//! Role filtering, forbidden writes landing in "needs attention", and fixing or
//! discarding them from the CLI.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::support::{cli, cli_json, TestServer};

#[tokio::test(flavor = "multi_thread")]
async fn each_role_sees_exactly_its_share() {
    let srv = TestServer::demo().await;
    let (mut rep1, mut shipper, mut mgr) =
        (srv.client("rep1").await, srv.client("shipper1").await, srv.client("manager1").await);
    for c in [&mut rep1, &mut shipper, &mut mgr] {
        c.sync().await;
    }
    let territories = rep1.list("territories");
    assert_eq!(territories.len(), 1);
    assert_eq!(territories[0]["code"], json!("NORTH"));
    let north = territories[0]["id"].clone();
    let customers = rep1.list("customers");
    assert!(customers.len() >= 500);
    assert!(customers.iter().all(|c| c["territory_id"] == north), "rep1 sees a customer outside NORTH");
    let categories: HashSet<Value> = rep1.list("product_categories").iter().map(|c| c["id"].clone()).collect();
    assert_eq!(categories.len(), 4, "NORTH sells four of the six categories");
    let products = rep1.list("products");
    assert!(!products.is_empty() && products.iter().all(|p| categories.contains(&p["category_id"])));
    assert!(rep1.list("deliveries").is_empty(), "reps get no shipper data");
    assert!(rep1.list("orders").iter().all(|o| o["rep_id"] == json!(rep1.my_id())), "rep1 sees only own orders");

    assert!(!shipper.list("deliveries").is_empty());
    assert!(!shipper.list("addresses").is_empty());
    for priced in ["price_list_items", "orders", "order_lines", "invoices", "products"] {
        assert!(shipper.list(priced).is_empty(), "shipper1 sees {priced}");
    }

    let team_reps: HashSet<Value> = mgr.list("orders").iter().map(|o| o["rep_id"].clone()).collect();
    assert_eq!(team_reps.len(), 3, "manager1 sees the orders of rep1..rep3");
    assert!(mgr.list("customers").len() > customers.len());
}

/// Drives the CLI binary: forbidden writes are rejected with reasons, the rest of the
/// batch lands, and the rejected changes can be fixed and resent, or discarded.
#[tokio::test(flavor = "multi_thread")]
async fn forbidden_writes_wait_in_attention_and_can_be_fixed_or_discarded_from_the_cli() {
    let srv = TestServer::demo().await;
    let mut mgr = srv.client("manager1").await;
    mgr.sync().await;
    let rep1 = srv.client("rep1").await; // signs the profile in; the CLI takes it from here
    let p = rep1.profile();
    cli_json(&p, &["sync"]);
    let customers = cli_json(&p, &["list", "customers"]);
    let (c0, c1) = (customers[0]["id"].as_str().unwrap(), customers[1]["id"].as_str().unwrap());
    let rep3 = mgr.list("users").into_iter().find(|u| u["username"] == json!("rep3")).unwrap()["id"].clone();

    assert!(cli(&p, &["update", "customers", c0, "--set", "phone=+47 1"]).0);
    assert!(
        cli(&p, &["update", "customers", c0, "--set", "credit_limit_cents=99"]).0,
        "reps may not raise credit limits"
    );
    let order = cli_json(
        &p,
        &[
            "create",
            "orders",
            "--set",
            &format!("customer_id={c1}"),
            "--set",
            &format!("rep_id={}", rep3.as_str().unwrap()),
            "--set",
            "status=draft",
            "--set",
            "order_date=2026-11-25",
        ],
    );
    assert!(cli(&p, &["update", "customers", c1, "--set", "notes=valid after the bad ones"]).0);

    let report = cli_json(&p, &["sync"]);
    assert_eq!(
        (report["pushed"].clone(), report["applied"].clone(), report["rejected"].clone()),
        (json!(4), json!(2), json!(2))
    );
    let attention = cli_json(&p, &["attention"]);
    let reasons: Vec<&str> = attention.as_array().unwrap().iter().map(|a| a["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons.len(), 2);
    assert!(reasons.iter().any(|r| r.contains("the credit limit of a")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("outside your territories or team")), "{reasons:?}");
    assert_eq!(cli_json(&p, &["status"])["needs_attention"], json!(2));
    // The rejected values are not shown as if they had been saved.
    assert_ne!(cli_json(&p, &["get", "customers", c0])["credit_limit_cents"], json!(99));
    assert!(!cli(&p, &["get", "orders", order["id"].as_str().unwrap()]).0);

    // Fix the order (it is rep1's own) and resend; discard the credit-limit change.
    let me = cli_json(&p, &["status"]);
    assert_eq!(me["user"], json!("rep1"));
    let find = |code_hint: &str| {
        attention.as_array().unwrap().iter().find(|a| a["entity"] == json!(code_hint)).unwrap()["mutation_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (order_mutation, credit_mutation) = (find("orders"), find("customers"));
    let rep1_id = rep1.my_id();
    assert!(cli(&p, &["attention", "resend", &order_mutation, "--set", &format!("rep_id={rep1_id}")]).0);
    let (ok, _, _) = cli(&p, &["attention", "discard", &credit_mutation]);
    assert!(ok);
    let (ok, _, err) = cli(&p, &["attention", "discard", &credit_mutation]);
    assert!(!ok && err.contains("no rejected change"), "{err}");
    let report = cli_json(&p, &["sync"]);
    assert_eq!((report["applied"].clone(), report["rejected"].clone()), (json!(1), json!(0)));
    assert_eq!(cli_json(&p, &["attention"]), json!([]));

    mgr.sync().await;
    let synced = mgr.get("orders", order["id"].as_str().unwrap()).expect("fixed order reached the server");
    assert_eq!(synced["rep_id"], json!(rep1_id));
    let c0_server = mgr.get("customers", c0).unwrap();
    assert_eq!(c0_server["phone"], json!("+47 1"));
    assert_ne!(c0_server["credit_limit_cents"], json!(99));
    assert_eq!(mgr.get("customers", c1).unwrap()["notes"], json!("valid after the bad ones"));
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_errors_are_one_clear_sentence() {
    let srv = TestServer::demo().await;
    let rep1 = srv.client("rep1").await;
    let p = rep1.profile();
    for (args, needle) in [
        (vec!["list", "customer"], "There is no entity type 'customer'"),
        (vec!["update", "customers", "x", "--set", "emial=a"], "customers has no field 'emial'"),
        (vec!["create", "orders", "--set", "status=shipped"], "orders.status must be one of draft"),
        (vec!["get", "customers", "nope"], "There is no customers record nope"),
    ] {
        let (ok, _, err) = cli(&p, &args);
        assert!(!ok, "{args:?} should fail");
        assert!(err.starts_with("error: ") && err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    let empty = tempfile::tempdir().unwrap();
    let (ok, _, err) = cli(empty.path(), &["sync"]);
    assert!(!ok && err.contains("not signed in"), "{err}");
}
