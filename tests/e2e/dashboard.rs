//! The manager's desk in the engine: the dashboard's aggregates agree with a count made
//! independently from the records, bulk review is all-or-nothing, the CSV holds the
//! filtered list, and the team's laptops come from the server.

use std::collections::BTreeMap;

use fieldsync_client::dashboard::{TAKEN, WEEKS};
use fieldsync_client::ReviewFilter;
use serde_json::Value;

use crate::support::TestServer;

fn line_total(l: &serde_json::Map<String, Value>) -> i64 {
    let q = l["quantity"].as_i64().unwrap() as f64;
    let p = l["unit_price_cents"].as_i64().unwrap() as f64;
    let d = l["discount_pct"].as_f64().unwrap_or(0.0);
    (q * p * (1.0 - d / 100.0)).round() as i64
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_adds_up_and_bulk_review_is_all_or_nothing() {
    let srv = TestServer::demo().await;
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;
    let mut manager = srv.client("manager1").await;
    manager.sync().await;
    let today = fieldsync_protocol::time::date_from_days(srv.clock.now_ms_for_tests().div_euclid(86_400_000));
    let d = manager.engine.dashboard(&today).unwrap();

    assert_eq!(d.weeks.len(), WEEKS);
    assert!(d.weeks.windows(2).all(|w| w[0] < w[1]), "oldest first: {:?}", d.weeks);
    assert!(d.weeks[WEEKS - 1].as_str() <= today.as_str());
    assert_eq!(d.reps.iter().map(|r| r.rep.as_str()).collect::<Vec<_>>(), ["rep1", "rep2", "rep3"]);

    // The same figures, counted from the records themselves.
    let users: BTreeMap<String, String> = manager
        .list("users")
        .iter()
        .map(|u| (u["id"].as_str().unwrap().to_string(), u["username"].as_str().unwrap().to_string()))
        .collect();
    let mut totals: BTreeMap<String, i64> = BTreeMap::new();
    for l in manager.list("order_lines") {
        *totals.entry(l["order_id"].as_str().unwrap().to_string()).or_default() += line_total(&l);
    }
    let (mut orders, mut revenue, mut submitted) = (BTreeMap::<String, i64>::new(), BTreeMap::<String, i64>::new(), 0);
    let mut by_customer: BTreeMap<String, i64> = BTreeMap::new();
    for o in manager.list("orders") {
        let status = o["status"].as_str().unwrap();
        let id = o["id"].as_str().unwrap();
        submitted += i64::from(status == "submitted");
        let date = o["order_date"].as_str().unwrap();
        if TAKEN.contains(&status) && date >= d.weeks[0].as_str() && date <= today.as_str() {
            let rep = users[o["rep_id"].as_str().unwrap()].clone();
            *orders.entry(rep.clone()).or_default() += 1;
            *revenue.entry(rep).or_default() += totals.get(id).copied().unwrap_or(0);
            *by_customer.entry(o["customer_id"].as_str().unwrap().to_string()).or_default() +=
                totals.get(id).copied().unwrap_or(0);
        }
    }
    for r in &d.reps {
        assert_eq!(r.orders.iter().sum::<i64>(), orders.get(&r.rep).copied().unwrap_or(0), "{}", r.rep);
        assert_eq!(r.revenue_cents.iter().sum::<i64>(), revenue.get(&r.rep).copied().unwrap_or(0), "{}", r.rep);
    }
    let visits_rep1 = manager.list("visits").iter().filter(|v| users[v["rep_id"].as_str().unwrap()] == "rep1").count();
    assert_eq!(d.reps[0].visits.iter().sum::<i64>(), visits_rep1 as i64);
    assert_eq!(d.open_reviews, submitted);
    let best = by_customer.values().max().copied().unwrap();
    assert_eq!(d.top_customers[0].revenue_cents, best);
    assert!(d.top_customers.windows(2).all(|w| w[0].revenue_cents >= w[1].revenue_cents));
    let laptops: Vec<&str> = d.laptops.iter().map(|l| l.user.as_str()).collect();
    assert!(laptops.contains(&"rep1") && laptops.contains(&"manager1"), "{laptops:?}");
    assert!(d.laptops_as_of.is_some());
    // Amounts carry the currency when every price list shares one.
    let mut currencies: Vec<_> = manager.list("price_lists").iter().map(|p| p["currency"].clone()).collect();
    currencies.sort_by_key(|c| c.to_string());
    currencies.dedup();
    let single = if currencies.len() == 1 { currencies[0].as_str().map(String::from) } else { None };
    assert_eq!(d.currency, single);

    // Bulk review: one order not waiting for review stops the whole batch.
    let queue = manager.engine.review_queue(&ReviewFilter::default()).unwrap();
    let picked: Vec<String> = queue.iter().take(3).map(|o| o.id.clone()).collect();
    let draft = manager.list("orders").into_iter().find(|o| o["status"] == "draft").unwrap()["id"].clone();
    let mut with_draft = picked.clone();
    with_draft.push(draft.as_str().unwrap().to_string());
    let err = manager.engine.review_many(&with_draft, true, Some("Fine")).unwrap_err().to_string();
    assert!(err.contains("draft") && err.contains("not waiting for review"), "{err}");
    assert_eq!(manager.engine.review_queue(&ReviewFilter::default()).unwrap().len(), queue.len(), "nothing done");
    let done = manager.engine.review_many(&picked, true, Some("Approved in bulk")).unwrap();
    assert_eq!(done.reviewed, 3);
    manager.sync().await;
    for id in &picked {
        let status: String = srv.with_db(|tx| {
            tx.value("SELECT status FROM orders WHERE id = ?1", fieldsync_server::args![id.as_str()]).unwrap()
        });
        assert_eq!(status, "approved");
        let comment: String = srv.with_db(|tx| {
            tx.value("SELECT comment FROM order_reviews WHERE order_id = ?1", fieldsync_server::args![id.as_str()])
                .unwrap()
        });
        assert_eq!(comment, "Approved in bulk");
    }

    // The CSV holds exactly the filtered list.
    let filter = ReviewFilter { status: Some("all".into()), rep: Some("rep1".into()), ..Default::default() };
    let csv = manager.engine.orders_csv(&filter).unwrap();
    let rows = manager.engine.review_queue(&filter).unwrap();
    assert!(csv.starts_with("number,order_date,rep,customer,status,lines,total,flags,order_id\n"));
    assert_eq!(csv.lines().count(), rows.len() + 1);
    assert!(csv.lines().skip(1).all(|l| l.split(',').nth(2) == Some("rep1")));
}

#[tokio::test(flavor = "multi_thread")]
async fn only_managers_see_the_teams_laptops_and_what_was_refused() {
    let srv = TestServer::demo().await;
    // One refused change of rep1's: reps may not write stock.
    let refused = srv
        .push_raw(
            "rep1",
            vec![crate::support::put(
                "inventory_levels",
                &uuid::Uuid::now_v7().to_string(),
                serde_json::json!({"on_hand": 1}),
            )],
        )
        .await;
    assert_eq!(refused[0]["status"], "rejected");
    let body = srv.get_json("rep1", "/v1/team/devices").await;
    assert_eq!(body["error"]["code"], "forbidden", "{body}");
    let body = srv.get_json("manager1", "/v1/team/devices").await;
    let users: Vec<&str> = body["devices"].as_array().unwrap().iter().map(|d| d["user"].as_str().unwrap()).collect();
    assert!(users.contains(&"manager1") && users.contains(&"rep1"), "{body}");
    let rep1 = body["devices"].as_array().unwrap().iter().find(|d| d["user"] == "rep1").unwrap();
    assert_eq!(rep1["rejected_recently"], 1, "{body}");
    let manager = body["devices"].as_array().unwrap().iter().find(|d| d["user"] == "manager1").unwrap();
    assert_eq!(manager["rejected_recently"], 0, "{body}");
}
