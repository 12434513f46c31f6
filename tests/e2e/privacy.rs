//! Derived data is as private as the records it comes from: a conflict record reaches only
//! users who can see the record it is about (and leaves with it when the record moves away),
//! and a deletion's tombstone reaches only users who could see the deleted record.

use crate::support::TestServer;

fn conflicts_about(c: &crate::support::TestClient, record: &str) -> usize {
    c.list("sync_conflicts").iter().filter(|k| k["record_id"] == record).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conflict_record_leaves_with_the_customer_it_is_about() {
    let srv = TestServer::demo().await;
    let (mut rep1, mut rep2, mut manager) =
        (srv.client("rep1").await, srv.client("rep2").await, srv.client("manager1").await);
    rep1.sync().await;
    rep2.sync().await;
    let customer = rep1.list("customers")[0].clone();
    let (id, code) = (customer["id"].as_str().unwrap().to_string(), customer["code"].as_str().unwrap().to_string());

    // Concurrent edits of the same phone: the later one wins, the other is logged.
    rep1.set("customers", &id, &[("phone", "+47 111")]);
    srv.clock.advance(1_000);
    rep2.set("customers", &id, &[("phone", "+47 222")]);
    rep1.sync().await;
    rep2.sync().await;
    rep1.sync().await;
    manager.sync().await;
    assert_eq!(conflicts_about(&rep1, &id), 1, "the loser sees the conflict");
    assert_eq!(conflicts_about(&manager, &id), 1);

    // The customer moves to SOUTH: rep1 loses it, and the conflict about it with it.
    let registry = srv.config.registry.clone();
    srv.with_db(|tx| {
        fieldsync_server::admin::move_customers(
            tx,
            &registry,
            "SOUTH",
            std::slice::from_ref(&code),
            srv.clock.now_ms_for_tests(),
        )
        .unwrap()
    });
    rep1.sync().await;
    assert!(rep1.get("customers", &id).is_none(), "the customer moved away");
    assert_eq!(conflicts_about(&rep1, &id), 0, "the conflict (with SOUTH's phone number) left with it");
    manager.sync().await;
    assert_eq!(conflicts_about(&manager, &id), 1, "the manager still covers SOUTH");

    // A rep of SOUTH sees the customer but was in neither side of the conflict.
    let mut rep3 = srv.client("rep3").await;
    rep3.sync().await;
    assert!(rep3.get("customers", &id).is_some());
    assert_eq!(conflicts_about(&rep3, &id), 0);
}

/// The ids of `entity` records deleted in a pull of `user` from `cursor`.
async fn tombstones(srv: &TestServer, user: &str, cursor: i64, entity: &str) -> Vec<String> {
    let page = srv.pull_raw(user, cursor, 20_000).await;
    assert!(page["cursor"].is_string(), "{user}: {page}");
    // An empty page leaves `changes` out.
    page["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["entity"] == entity)
        .flat_map(|c| c["deleted"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tombstone_reaches_only_users_who_could_see_the_record() {
    let srv = TestServer::demo().await;
    let mut rep3 = srv.client("rep3").await;
    rep3.sync().await;
    let contact = rep3.ids("contacts")[0].clone();
    let before = srv.head().await;

    rep3.engine.delete("contacts", &contact).unwrap();
    assert_eq!(rep3.sync().await.applied, 1);

    assert_eq!(tombstones(&srv, "manager1", before, "contacts").await, vec![contact.clone()]);
    assert!(
        tombstones(&srv, "rep1", before, "contacts").await.is_empty(),
        "a NORTH rep learned the id of a SOUTH contact it never saw"
    );
    // The deletion still holds: the record cannot be brought back.
    let mut again = srv.client("rep3").await;
    again.sync().await;
    assert!(again.get("contacts", &contact).is_none());
}
