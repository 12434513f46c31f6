//! A user whose role changes (`user add NAME --role ...` on an existing user) ends up
//! with exactly what a fresh download under the new role gives: records of types the new
//! role reads arrive, and records of types it no longer reads leave the laptop.

use fieldsync_protocol::Role;

use crate::support::TestServer;

#[tokio::test(flavor = "multi_thread")]
async fn a_role_change_publishes_exactly_what_the_user_gains_and_loses() {
    let srv = TestServer::demo().await;
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;
    assert!(rep1.list("deliveries").is_empty(), "reps do not read deliveries");

    // rep1 becomes a manager: the deliveries of the team arrive.
    srv.add_user("rep1", Role::Manager, &["NORTH"], Some("manager1"));
    rep1.sync().await;
    assert!(!rep1.list("deliveries").is_empty(), "a manager reads deliveries");
    assert_eq!(rep1.engine.store().meta("role").unwrap().as_deref(), Some("manager"), "the profile knows its new role");
    srv.assert_matches_fresh_download(&rep1, "rep -> manager").await;

    // ... then a shipper: products, prices, orders and lines leave the laptop.
    srv.add_user("rep1", Role::Shipper, &["NORTH"], Some("manager1"));
    rep1.sync().await;
    for gone in ["products", "price_list_items", "orders", "order_lines"] {
        assert!(rep1.list(gone).is_empty(), "a shipper does not read {gone}");
    }
    srv.assert_matches_fresh_download(&rep1, "manager -> shipper").await;

    // ... and a rep again.
    srv.add_user("rep1", Role::Rep, &["NORTH"], Some("manager1"));
    rep1.sync().await;
    srv.assert_matches_fresh_download(&rep1, "shipper -> rep").await;
    assert_eq!(rep1.engine.store().meta("role").unwrap().as_deref(), Some("rep"));
}
