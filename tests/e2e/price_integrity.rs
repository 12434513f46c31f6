//! A submitted order always satisfies the price rule for the customer it ends up with:
//! each way a rep could get round the check on submit (the hardening review's findings)
//! ends with the order still a draft and the reason in the rep's attention list.

use serde_json::json;

use crate::support::{put, TestClient, TestServer};

/// The id of a customer of `rep` on the price list with `code`.
fn customer_on_list(rep: &TestClient, code: &str) -> String {
    let list = rep.list("price_lists").into_iter().find(|l| l["code"] == code).expect("price list")["id"].clone();
    rep.list("customers").into_iter().find(|c| c["price_list_id"] == list).expect("a customer on the list")["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The order's status and customer as the server has them.
fn on_server(srv: &TestServer, order: &str) -> (String, String) {
    srv.with_db(|tx| {
        tx.query_opt("SELECT status, customer_id FROM orders WHERE id = ?1", fieldsync_server::args![order], |r| {
            Ok((r.get::<String>(0)?, r.get::<String>(1)?))
        })
        .unwrap()
        .expect("order on the server")
    })
}

/// The newest rejection in the rep's attention list: (code, reason).
fn last_rejection(c: &TestClient) -> (String, String) {
    let a = c.engine.attention().unwrap().last().cloned().expect("a change in the attention list");
    (a.code, a.reason)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rep_cannot_drop_the_price_list_to_submit_a_line_at_one_cent() {
    let srv = TestServer::demo().await;
    let (mut rep1, mut manager) = (srv.client("rep1").await, srv.client("manager1").await);
    rep1.sync().await;
    let customer = customer_on_list(&rep1, "STD");
    let product = rep1.ids("products")[0].clone();
    let order = rep1.create("orders", &[("customer_id", &customer)]);
    rep1.create(
        "order_lines",
        &[("order_id", &order), ("product_id", &product), ("quantity", "5"), ("unit_price_cents", "1")],
    );
    rep1.sync().await;

    // The price list is a manager's decision.
    rep1.set("customers", &customer, &[("price_list_id", "")]);
    assert_eq!(rep1.sync().await.rejected, 1);
    let (code, reason) = last_rejection(&rep1);
    assert_eq!(code, "forbidden", "{reason}");
    assert!(reason.contains("change the price list of a customer"), "{reason}");

    // Submitting at one cent is refused and the line is flagged with the list price.
    rep1.set("orders", &order, &[("status", "submitted")]);
    assert_eq!(rep1.sync().await.rejected, 1);
    let (code, reason) = last_rejection(&rep1);
    assert_eq!(code, "price_changed", "{reason}");
    assert!(reason.contains("ordered at 0.01"), "{reason}");
    assert_eq!(on_server(&srv, &order).0, "draft");

    // Even when a manager takes the customer off every list, a line with no price is refused.
    manager.sync().await;
    manager.set("customers", &customer, &[("price_list_id", "")]);
    assert_eq!(manager.sync().await.rejected, 0);
    rep1.sync().await;
    rep1.set("orders", &order, &[("status", "submitted")]);
    assert_eq!(rep1.sync().await.rejected, 1);
    let (code, reason) = last_rejection(&rep1);
    assert_eq!(code, "no_price", "{reason}");
    assert!(reason.contains("no price for this customer"), "{reason}");
    assert_eq!(on_server(&srv, &order).0, "draft");
}

#[tokio::test(flavor = "multi_thread")]
async fn submitting_and_moving_to_another_customer_in_one_write_is_priced_for_the_new_customer() {
    let srv = TestServer::demo().await;
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;
    let (key, std) = (customer_on_list(&rep1, "KEY"), customer_on_list(&rep1, "STD"));
    let product = rep1.ids("products")[0].clone();
    // Priced by the app for the key-account customer (10% under the standard list).
    let order = rep1.create("orders", &[("customer_id", &key)]);
    rep1.create("order_lines", &[("order_id", &order), ("product_id", &product), ("quantity", "3")]);
    rep1.sync().await;

    // One edit, as the app queues it: submitted, and moved to a standard-list customer.
    let edit = json!({"status": "submitted", "customer_id": std}).as_object().unwrap().clone();
    assert_eq!(rep1.engine.update("orders", &order, edit).unwrap(), 2);
    assert_eq!(rep1.sync().await.rejected, 1);
    let (code, reason) = last_rejection(&rep1);
    assert_eq!(code, "price_changed", "{reason}");
    assert_eq!(on_server(&srv, &order), ("draft".to_string(), key.clone()), "nothing of the mutation is kept");

    // The same order, left with its own customer, submits.
    rep1.set("orders", &order, &[("status", "submitted")]);
    assert_eq!(rep1.sync().await.rejected, 0);
    assert_eq!(on_server(&srv, &order).0, "submitted");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_impossible_quantity_is_refused_when_written_and_when_submitted() {
    let srv = TestServer::demo().await;
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;
    let customer = customer_on_list(&rep1, "STD");
    let product = rep1.ids("products")[0].clone();
    let order = rep1.create("orders", &[("customer_id", &customer)]);
    let line = rep1.create("order_lines", &[("order_id", &order), ("product_id", &product), ("quantity", "2")]);
    rep1.sync().await;

    // The app refuses it before queueing...
    let err = rep1.engine.update("order_lines", &line, json!({"quantity": -1000}).as_object().unwrap().clone());
    assert!(err.unwrap_err().to_string().contains("at least 1"), "refused at once");
    // ...and the server refuses it from any client.
    let results = srv.push_raw("rep1", vec![put("order_lines", &line, json!({"quantity": -1000}))]).await;
    assert_eq!((results[0]["status"].as_str(), results[0]["code"].as_str()), (Some("rejected"), Some("out_of_range")));
    assert!(results[0]["reason"].as_str().unwrap().contains("at least 1"), "{results:?}");

    // A line stored with an impossible quantity before these rules (here written by the
    // back office) still cannot be submitted.
    srv.with_db(|tx| {
        tx.execute("UPDATE order_lines SET quantity = -1000 WHERE id = ?1", fieldsync_server::args![&line]).unwrap()
    });
    let results = srv.push_raw("rep1", vec![put("orders", &order, json!({"status": "submitted"}))]).await;
    assert_eq!(results[0]["code"], "out_of_range", "{results:?}");
    assert!(results[0]["reason"].as_str().unwrap().contains("quantity -1000"), "{results:?}");
    assert_eq!(on_server(&srv, &order).0, "draft");
}

/// The pricing day is the server's UTC date, on both sides: a rep whose laptop clock runs
/// three hours fast (it believes tomorrow has begun) takes an order at 23:00 UTC at today's
/// price, and the server accepts it; once midnight UTC has passed, tomorrow's promotion
/// applies on both sides.
#[tokio::test(flavor = "multi_thread")]
async fn the_pricing_day_is_the_servers_utc_date_for_engine_and_server_across_midnight() {
    use fieldsync_protocol::time::{date_from_days, DAY_MS};
    let srv = TestServer::demo().await;
    const HOUR: i64 = 3_600_000;
    let now = srv.clock.now_ms_for_tests();
    let day = now.div_euclid(DAY_MS) + 1;
    srv.clock.advance(day * DAY_MS + 23 * HOUR - now);
    let fast = std::sync::Arc::new(crate::support::SkewedClock { base: srv.clock.clone(), skew_ms: 3 * HOUR });
    let mut rep1 = srv.client_with("rep1", |o| o.clock = fast).await;
    rep1.sync().await;
    let customer = customer_on_list(&rep1, "STD");
    let list = rep1.get("customers", &customer).unwrap()["price_list_id"].as_str().unwrap().to_string();
    // A product on the customer's list with no promotion of its own.
    let promoted: Vec<_> = rep1.list("promotions").into_iter().map(|p| p["product_id"].clone()).collect();
    let product = rep1
        .list("price_list_items")
        .into_iter()
        .find(|i| i["price_list_id"] == list.as_str() && !promoted.contains(&i["product_id"]))
        .expect("an unpromoted product")["product_id"]
        .as_str()
        .unwrap()
        .to_string();
    // A promotion that starts tomorrow (UTC).
    srv.with_db(|tx| {
        let reg = srv.config.registry.clone();
        let def = reg.get("promotions").unwrap();
        let promotion = json!({
            "product_id": product,
            "name": "Midnight deal",
            "discount_pct": 20.0,
            "starts_on": date_from_days(day + 1),
            "ends_on": date_from_days(day + 30),
        });
        let id = uuid::Uuid::now_v7().to_string();
        fieldsync_server::records::upsert_object(tx, def, &id, promotion.as_object().unwrap()).unwrap();
    });
    rep1.sync().await;
    assert_eq!(rep1.engine.pricing_day(), date_from_days(day), "the laptop prices by the server's day");

    let take_order = |rep1: &mut TestClient| {
        let order = rep1.create("orders", &[("customer_id", &customer)]);
        let line = rep1.create("order_lines", &[("order_id", &order), ("product_id", &product), ("quantity", "2")]);
        rep1.set("orders", &order, &[("status", "submitted")]);
        (order, rep1.get("order_lines", &line).unwrap()["discount_pct"].as_f64().unwrap_or(0.0))
    };
    let (before, discount) = take_order(&mut rep1);
    assert_eq!(discount, 0.0, "tomorrow's promotion does not run yet");
    assert_eq!(rep1.sync().await.rejected, 0, "{:?}", rep1.engine.attention().unwrap());
    assert_eq!(on_server(&srv, &before).0, "submitted");

    srv.clock.advance(2 * HOUR); // 01:00 UTC: the new day
    rep1.sync().await;
    assert_eq!(rep1.engine.pricing_day(), date_from_days(day + 1));
    let (after, discount) = take_order(&mut rep1);
    assert_eq!(discount, 20.0, "the promotion runs from midnight UTC");
    assert_eq!(rep1.sync().await.rejected, 0, "{:?}", rep1.engine.attention().unwrap());
    assert_eq!(on_server(&srv, &after).0, "submitted");
}
