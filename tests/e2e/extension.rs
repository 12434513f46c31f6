//! Adding a 26th entity type takes a registry entry and a migration, and it syncs with
//! visibility and write rules like the built-in ones, through unchanged sync code.

use std::sync::Arc;

use fieldsync_protocol::registry::FieldType::{Date, Int, Ref, Text};
use fieldsync_protocol::{Access, EntityDef, FieldDef as F, Registry, Role, Scope};
use fieldsync_sqlkit::Migration;
use serde_json::json;

use crate::support::TestServer;

const EXPENSE_CLAIMS: EntityDef = EntityDef::new(
    "expense_claims",
    &[
        F::new("rep_id", Ref("users")).required(),
        F::new("customer_id", Ref("customers")),
        F::new("spent_on", Date).required(),
        F::new("amount_cents", Int).required(),
        F::new("purpose", Text),
    ],
    Scope::Team("rep_id"),
    &[Role::Rep, Role::Manager],
    &[Access::full(Role::Rep), Access::update_only(Role::Manager, &["purpose"])],
);

const MIGRATION: Migration = Migration {
    set: "extension",
    version: 1,
    name: "expense_claims",
    sql: "CREATE TABLE expense_claims (id TEXT PRIMARY KEY NOT NULL, rep_id TEXT, customer_id TEXT, \
          spent_on TEXT, amount_cents BIGINT, purpose TEXT);",
};

#[tokio::test(flavor = "multi_thread")]
async fn a_26th_entity_type_syncs_without_new_sync_code() {
    let registry = Arc::new(Registry::standard().with(&[EXPENSE_CLAIMS]).unwrap());
    assert_eq!(registry.entities().len(), 27, "25 product types + conflict log + the new one");
    let srv = TestServer::demo_with(|c| {
        c.registry = registry.clone();
        c.extra_migrations = vec![MIGRATION];
    })
    .await;
    let (mut rep1, mut rep3, mut mgr) =
        (srv.client("rep1").await, srv.client("rep3").await, srv.client("manager1").await);
    for c in [&mut rep1, &mut rep3, &mut mgr] {
        c.sync().await;
    }
    let me = rep1.my_id();
    let claim = rep1.create(
        "expense_claims",
        &[("rep_id", &me), ("spent_on", "2026-11-24"), ("amount_cents", "1850"), ("purpose", "Fuel")],
    );
    rep1.sync().await;
    mgr.sync().await;
    rep3.sync().await;
    assert_eq!(mgr.get("expense_claims", &claim).unwrap()["amount_cents"], json!(1850));
    assert!(rep3.get("expense_claims", &claim).is_none(), "another rep must not see the claim");

    // The manager may edit the purpose, not the amount: the same rules engine applies.
    mgr.set("expense_claims", &claim, &[("purpose", "Fuel, client visit")]);
    mgr.set("expense_claims", &claim, &[("amount_cents", "99999")]);
    let report = mgr.sync().await;
    assert_eq!((report.applied, report.rejected), (1, 1));
    rep1.sync().await;
    let seen = rep1.get("expense_claims", &claim).unwrap();
    assert_eq!((seen["purpose"].clone(), seen["amount_cents"].clone()), (json!("Fuel, client visit"), json!(1850)));
}
