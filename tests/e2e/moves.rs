//! One push that moves several records (two customers to another territory, a contact to
//! one of them): every affected user gains and loses exactly what a fresh download would
//! give them, from one capture of the views before the batch and one after it.

use serde_json::{json, Value};

use crate::support::{put, TestServer};

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
    for client in [&rep1, &rep3] {
        srv.assert_matches_fresh_download(client, "after a push that moved records").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_office_move_is_stamped_so_an_older_offline_edit_cannot_silently_undo_it() {
    let srv = TestServer::demo().await;
    let reg = srv.config.registry.clone();
    // A third territory on manager1's team, so the manager can move customers into it.
    srv.with_db(|tx| {
        let territories = reg.get("territories").unwrap();
        let id = uuid::Uuid::now_v7().to_string();
        let west = json!({"code": "WEST", "name": "West region"});
        fieldsync_server::records::upsert_object(tx, territories, &id, west.as_object().unwrap()).unwrap();
        fieldsync_server::admin::set_user_territory(tx, &reg, "WEST", "rep3", true, 1).unwrap();
    });
    let mut manager = srv.client("manager1").await;
    manager.sync().await;
    let west = manager.list("territories").into_iter().find(|t| t["code"] == "WEST").unwrap()["id"].clone();
    let customer = manager.list("customers").into_iter().find(|c| c["code"] == "CN-0001").unwrap();
    let id = customer["id"].as_str().unwrap().to_string();

    // Offline, the manager moves the customer to WEST; later the office moves it to SOUTH.
    manager.set("customers", &id, &[("territory_id", west.as_str().unwrap())]);
    srv.clock.advance(60_000);
    let now = srv.clock.now_ms_for_tests();
    srv.with_db(|tx| {
        fieldsync_server::admin::move_customers(tx, &reg, "SOUTH", &["CN-0001".to_string()], now).unwrap()
    });
    let report = manager.sync().await;

    let territory: String = srv.with_db(|tx| {
        tx.value(
            "SELECT t.code FROM customers c JOIN territories t ON t.id = c.territory_id WHERE c.id = ?1",
            fieldsync_server::args![id.as_str()],
        )
        .unwrap()
    });
    assert_eq!(territory, "SOUTH", "the later office move stands: {report:?}");
    let conflicts = manager.engine.conflicts().unwrap();
    assert!(
        conflicts.iter().any(|c| c.id == id && c.field == "territory_id"),
        "the manager's older move is in the conflict log, restorable: {conflicts:?}"
    );
}
