//! One push that moves several records (two customers to another territory, a contact to
//! one of them): every affected user gains and loses exactly what a fresh download would
//! give them, from one capture of the views before the batch and one after it.

use serde_json::{json, Value};

use crate::support::{put, snapshot, TestServer};

#[tokio::test(flavor = "multi_thread")]
async fn a_push_that_moves_records_leaves_every_affected_user_as_a_fresh_download_would() {
    let srv = TestServer::demo().await;
    let (mut rep1, mut rep3, mut manager) =
        (srv.client("rep1").await, srv.client("rep3").await, srv.client("manager1").await);
    for c in [&mut rep1, &mut rep3, &mut manager] {
        c.sync().await;
    }
    let south = rep3.list("territories").into_iter().find(|t| t["code"] == "SOUTH").unwrap()["id"].clone();
    let contacts = rep1.list("contacts");
    let x = contacts[0]["customer_id"].clone();
    let y = contacts.iter().map(|c| c["customer_id"].clone()).find(|c| *c != x).unwrap();
    let stray = contacts.iter().find(|c| c["customer_id"] != x && c["customer_id"] != y).unwrap()["id"].clone();
    let id = |v: &Value| v.as_str().unwrap().to_string();
    let results = srv
        .push_raw(
            "manager1",
            vec![
                put("customers", &id(&x), json!({"territory_id": south})),
                put("customers", &id(&y), json!({"territory_id": south})),
                put("contacts", &id(&stray), json!({"customer_id": x})),
            ],
        )
        .await;
    assert!(results.iter().all(|r| r["status"] == "applied"), "{results:?}");

    let rep1_report = rep1.sync().await;
    assert!(
        rep1.get("customers", x.as_str().unwrap()).is_none() && rep1.get("contacts", stray.as_str().unwrap()).is_none()
    );
    assert_eq!(rep1_report.notices.len(), 1, "one notice for the whole push: {:?}", rep1_report.notices);
    assert!(rep1_report.notices[0].contains("no longer visible to you"), "{:?}", rep1_report.notices);
    rep3.sync().await;
    assert!(rep3.get("contacts", stray.as_str().unwrap()).is_some(), "rep3 gained the contact moved to x");
    for (name, client) in [("rep1", &rep1), ("rep3", &rep3)] {
        let fresh = srv.client(name).await;
        let mut fresh = fresh;
        fresh.sync().await;
        assert!(
            snapshot(client, &srv.config.registry) == snapshot(&fresh, &srv.config.registry),
            "{name} differs from a fresh download"
        );
    }
}
