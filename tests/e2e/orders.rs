//! Orders taken offline: client-generated ids, lines referencing the order before the
//! server has seen either; visible to the manager, never to another rep.

use serde_json::json;

use crate::support::TestServer;

#[tokio::test(flavor = "multi_thread")]
async fn an_offline_order_with_lines_syncs_to_the_manager_and_no_other_rep() {
    let srv = TestServer::demo().await;
    let (mut rep1, mut rep2, mut rep3, mut mgr) =
        (srv.client("rep1").await, srv.client("rep2").await, srv.client("rep3").await, srv.client("manager1").await);
    for c in [&mut rep1, &mut rep2, &mut rep3, &mut mgr] {
        c.sync().await;
    }
    let customer = rep1.ids("customers")[10].clone();
    let products = rep1.ids("products");
    let me = rep1.my_id();
    let order = rep1.create(
        "orders",
        &[
            ("customer_id", &customer),
            ("rep_id", &me),
            ("status", "draft"),
            ("order_date", "2026-11-25"),
            ("total_cents", "4200"),
        ],
    );
    let mut lines = Vec::new();
    for (p, qty) in [(&products[0], "3"), (&products[1], "7")] {
        lines.push(rep1.create(
            "order_lines",
            &[("order_id", &order), ("product_id", p), ("quantity", qty), ("unit_price_cents", "300")],
        ));
    }
    assert_eq!(uuid::Uuid::parse_str(&order).unwrap().get_version_num(), 7, "ids are UUIDv7");
    assert_eq!(rep1.engine.status().unwrap().pending, 3);

    let report = rep1.sync().await;
    assert_eq!((report.pushed, report.applied, report.rejected), (3, 3, 0));
    mgr.sync().await;
    rep2.sync().await;
    rep3.sync().await;

    let seen = mgr.get("orders", &order).expect("manager sees the order");
    assert_eq!((seen["rep_id"].clone(), seen["total_cents"].clone()), (json!(me), json!(4200)));
    let mgr_lines: Vec<_> = mgr.list("order_lines").into_iter().filter(|l| l["order_id"] == json!(order)).collect();
    assert_eq!(mgr_lines.len(), 2);
    for other in [&rep2, &rep3] {
        assert!(other.get("orders", &order).is_none(), "{} must not see rep1's order", other.user);
        assert!(lines.iter().all(|l| other.get("order_lines", l).is_none()), "{} sees rep1's lines", other.user);
    }
}
