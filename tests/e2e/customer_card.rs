//! The customer card: what a rep reads before a visit, from the local store, checked
//! against a count made independently from the synced records.

use std::collections::HashMap;

use fieldsync_sqlkit::pricing::line_total_cents;
use serde_json::Value;

use crate::support::TestServer;

fn text(o: &fieldsync_client::Object, k: &str) -> String {
    o.get(k).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn int(o: &fieldsync_client::Object, k: &str) -> i64 {
    o.get(k).and_then(Value::as_i64).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_customer_card_shows_the_latest_orders_and_visits_and_the_credit_left() {
    let srv = TestServer::demo().await;
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;
    // The customer with the most orders, and two visits of today so the visit list has a
    // known head.
    let orders = rep1.list("orders");
    let mut per_customer: HashMap<String, usize> = HashMap::new();
    for o in &orders {
        *per_customer.entry(text(o, "customer_id")).or_default() += 1;
    }
    let (customer, _) = per_customer.into_iter().max_by_key(|(id, n)| (*n, id.clone())).unwrap();
    rep1.create("visits", &[("customer_id", &customer), ("visited_at", "2031-01-02T09:00:00Z"), ("notes", "first")]);
    rep1.create("visits", &[("customer_id", &customer), ("visited_at", "2031-01-02T15:00:00Z"), ("notes", "latest")]);
    // More orders than the card shows, on days before and after the synced ones.
    for day in ["2020-03-01", "2031-01-02", "2031-01-03", "2020-03-02"] {
        rep1.create("orders", &[("customer_id", &customer), ("order_date", day)]);
    }
    let orders = rep1.list("orders");

    let card = rep1.engine.customer_card(&customer, 3).unwrap();

    // Orders: the newest three, each with its total from its lines.
    let lines = rep1.list("order_lines");
    let total = |order: &str| -> i64 {
        lines
            .iter()
            .filter(|l| text(l, "order_id") == order)
            .map(|l| {
                let discount = l.get("discount_pct").and_then(Value::as_f64).unwrap_or(0.0);
                line_total_cents(int(l, "quantity"), int(l, "unit_price_cents"), discount)
            })
            .sum()
    };
    let mut theirs: Vec<_> = orders.iter().filter(|o| text(o, "customer_id") == customer).collect();
    theirs.sort_by_key(|o| std::cmp::Reverse((text(o, "order_date"), text(o, "id"))));
    let want: Vec<(String, i64)> = theirs.iter().take(3).map(|o| (text(o, "id"), total(&text(o, "id")))).collect();
    let got: Vec<(String, i64)> = card.recent_orders.iter().map(|o| (o.id.clone(), o.total_cents)).collect();
    assert_eq!(got, want);

    // Visits: latest first, with who made them.
    let visits = rep1.list("visits").into_iter().filter(|v| text(v, "customer_id") == customer).count();
    assert_eq!(card.visits.len(), visits.min(3));
    assert_eq!(card.visits[0].notes.as_deref(), Some("latest"));
    assert_eq!(card.visits[1].notes.as_deref(), Some("first"));
    assert!(!card.visits[0].rep.is_empty());

    // Credit: open invoices plus orders owed and not yet invoiced, against the limit.
    let invoices = rep1.list("invoices");
    let invoiced: Vec<String> = invoices.iter().map(|i| text(i, "order_id")).collect();
    let owed_orders: i64 = theirs
        .iter()
        .filter(|o| ["submitted", "approved", "delivered"].contains(&text(o, "status").as_str()))
        .filter(|o| !invoiced.contains(&text(o, "id")))
        .map(|o| total(&text(o, "id")))
        .sum();
    let open: i64 = invoices.iter().filter(|i| text(i, "customer_id") == customer).map(|i| int(i, "open_cents")).sum();
    assert_eq!(card.open_balance_cents, open + owed_orders);
    let record = rep1.get("customers", &customer).unwrap();
    let limit = record.get("credit_limit_cents").and_then(Value::as_i64);
    assert_eq!(card.credit_limit_cents, limit);
    assert_eq!(card.available_credit_cents, limit.map(|l| l - open - owed_orders));
    assert!(card.open_invoices.iter().all(|i| int(i, "open_cents") > 0));

    // The price list by name, with its currency.
    let list = rep1.get("price_lists", &text(&record, "price_list_id"));
    assert_eq!(card.price_list, list.as_ref().map(|l| text(l, "name")), "{record:?}");
    assert_eq!(card.currency, list.as_ref().map(|l| text(l, "currency")));
    let addresses = rep1.list("addresses").into_iter().filter(|a| text(a, "customer_id") == customer).count();
    assert_eq!(card.addresses.len(), addresses);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_card_marks_a_field_a_later_edit_overwrote_until_the_user_restores_it() {
    let srv = TestServer::demo().await;
    let (mut rep1, mut rep2) = (srv.client("rep1").await, srv.client("rep2").await);
    rep1.sync().await;
    rep2.sync().await;
    let customer = rep1.ids("customers")[0].clone();
    rep1.set("customers", &customer, &[("phone", "+47 1111")]);
    rep1.sync().await;
    rep2.set("customers", &customer, &[("phone", "+47 2222")]);
    rep2.sync().await;
    rep1.sync().await;

    let card = rep1.engine.customer_card(&customer, 5).unwrap();
    let marks: Vec<_> = card.overwritten.iter().map(|o| (o.label.as_str(), o.by.as_str(), o.yours.as_str())).collect();
    assert_eq!(marks, [("Phone", "rep2", "+47 1111")]);
    assert!(rep2.engine.customer_card(&customer, 5).unwrap().overwritten.is_empty(), "rep2's value stands");

    let conflict = rep1.engine.conflicts().unwrap().pop().unwrap();
    rep1.engine.restore_conflict(&conflict.conflict_id).unwrap();
    assert!(rep1.engine.customer_card(&customer, 5).unwrap().overwritten.is_empty(), "restored: nothing to mark");
}
