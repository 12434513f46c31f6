//! Order numbers a rep can read to a customer: given offline at creation, one prefix per
//! laptop, so numbers made on different laptops at the same time never clash, and set once.

use std::collections::HashSet;

use serde_json::json;

use crate::support::{put, TestClient, TestServer};

/// Creates a draft order for the first customer the client has, returning its number.
fn new_order(client: &mut TestClient) -> (String, String) {
    let customer = client.ids("customers")[0].clone();
    let id = client.create("orders", &[("customer_id", &customer)]);
    let number = client.get("orders", &id).unwrap()["number"].as_str().expect("numbered at creation").to_string();
    (id, number)
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_taken_offline_on_several_laptops_get_distinct_numbers_that_sync_unchanged() {
    let srv = TestServer::demo().await;
    // rep1 on two laptops, rep2 on a third: each laptop is a profile of its own.
    let mut laptops = [srv.client("rep1").await, srv.client("rep1").await, srv.client("rep2").await];
    for l in &mut laptops {
        l.sync().await;
    }
    let prefixes: Vec<String> =
        laptops.iter().map(|l| l.engine.store().meta("number_prefix").unwrap().expect("a prefix at sign-in")).collect();
    assert_eq!(prefixes.iter().collect::<HashSet<_>>().len(), 3, "one prefix per laptop: {prefixes:?}");

    // All three offline at once: nobody asks the server.
    let mut taken = Vec::new();
    for (l, prefix) in laptops.iter_mut().zip(&prefixes) {
        let numbers: Vec<String> = (0..3).map(|_| new_order(l)).map(|(_, n)| n).collect();
        assert_eq!(numbers, ["0001", "0002", "0003"].map(|c| format!("{prefix}-{c}")), "counted on the laptop");
        taken.extend(numbers);
    }
    assert_eq!(taken.iter().collect::<HashSet<_>>().len(), 9);

    for l in &mut laptops {
        let report = l.sync().await;
        assert_eq!((report.applied, report.rejected), (3, 0), "{}'s numbered orders are accepted", l.user);
    }
    let mut manager = srv.client("manager1").await;
    manager.sync().await;
    let seen: HashSet<String> =
        manager.list("orders").iter().filter_map(|o| o["number"].as_str().map(String::from)).collect();
    for number in &taken {
        assert!(seen.contains(number), "the manager reads order {number} as the rep saw it");
    }

    // Signing in again on a laptop keeps its prefix, and its counter goes on.
    let first = &mut laptops[0];
    first.engine.login(&srv.url, "rep1", "demo").await.unwrap();
    assert_eq!(first.engine.store().meta("number_prefix").unwrap().as_deref(), Some(prefixes[0].as_str()));
    assert_eq!(new_order(first).1, format!("{}-0004", prefixes[0]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_number_is_set_once_and_never_held_by_two_orders() {
    let srv = TestServer::demo().await;
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;
    let (id, number) = new_order(&mut rep1);
    rep1.sync().await;

    // The rep may change the order, but not its number.
    let results = srv.push_raw("rep1", vec![put("orders", &id, json!({"number": "Z-9999"}))]).await;
    assert_eq!(results[0]["code"], "forbidden", "{results:?}");
    assert_eq!(rep1.get("orders", &id).unwrap()["number"], json!(number));

    // Another order may not take a number that is held.
    let customer = rep1.ids("customers")[0].clone();
    let other = uuid::Uuid::now_v7().to_string();
    let results = srv
        .push_raw("rep1", vec![put("orders", &other, json!({"customer_id": customer, "rep_id": rep1.my_id(), "status": "draft", "order_date": "2026-11-25", "number": number}))])
        .await;
    assert_eq!(results[0]["code"], "duplicate", "{results:?}");
    assert!(results[0]["reason"].as_str().unwrap().contains(&number), "the message names the number: {results:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_laptop_signed_in_before_prefixes_existed_gets_its_own_at_the_next_sync() {
    let srv = TestServer::demo().await;
    let mut rep1 = srv.client("rep1").await;
    let prefix = rep1.engine.store().meta("number_prefix").unwrap().unwrap();
    rep1.engine.store().delete_meta("number_prefix").unwrap();
    rep1.sync().await;
    assert_eq!(
        rep1.engine.store().meta("number_prefix").unwrap(),
        Some(prefix.clone()),
        "the same client, the same prefix"
    );
    assert_eq!(new_order(&mut rep1).1, format!("{prefix}-0001"));
}
