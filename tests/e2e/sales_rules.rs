//! Field-sales rules declared in the registry: the order lifecycle, prices and stock
//! checked on submit, append-only notes, counters, server-owned stock, restoring an
//! overwritten value, and territory reassignment.

use std::collections::BTreeSet;

use fieldsync_protocol::Role;
use fieldsync_server::args;
use serde_json::{json, Value};

use crate::support::{put, TestClient, TestServer};

fn new_order(c: &mut TestClient, customer: &str, product: &str, qty: &str) -> (String, String) {
    let order = c.create("orders", &[("customer_id", customer)]);
    let line = c.create("order_lines", &[("order_id", &order), ("product_id", product), ("quantity", qty)]);
    (order, line)
}

/// Pushes one status change as `user` over HTTP (for users whose app could not even show
/// the order) and returns the per-mutation result.
async fn raw_status(srv: &TestServer, user: &str, order: &str, status: &str) -> Value {
    srv.push_raw(user, vec![put("orders", order, json!({"status": status}))]).await.remove(0)
}

fn status_of(c: &TestClient, order: &str) -> Value {
    c.get("orders", order).map(|o| o["status"].clone()).unwrap_or(Value::Null)
}

/// `c` changes the order's status and syncs; returns the rejection reason, if any.
async fn try_status(c: &mut TestClient, order: &str, status: &str) -> Option<String> {
    c.set("orders", order, &[("status", status)]);
    let report = c.sync().await;
    (report.rejected > 0).then(|| c.engine.attention().unwrap().last().unwrap().reason.clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_order_transition_is_enforced_for_every_role() {
    let srv = TestServer::demo().await;
    srv.add_user("manager2", Role::Manager, &[], None);
    srv.add_user("rep9", Role::Rep, &["NORTH"], Some("manager2"));
    let (mut rep1, mut mgr) = (srv.client("rep1").await, srv.client("manager1").await);
    rep1.sync().await;
    let customer = rep1.ids("customers")[0].clone();
    let product = rep1.ids("products")[0].clone();
    let (order, _) = new_order(&mut rep1, &customer, &product, "1");
    assert_eq!(status_of(&rep1, &order), json!("draft"), "orders start as drafts");
    rep1.sync().await;
    mgr.sync().await;

    // Not allowed yet: approving a draft, or anyone but the owner submitting.
    let reason = try_status(&mut mgr, &order, "approved").await.expect("a draft cannot be approved");
    assert!(reason.contains("draft") && reason.contains("cannot become approved"), "{reason}");
    for user in ["rep2", "rep9", "shipper1", "manager2"] {
        let r = raw_status(&srv, user, &order, "submitted").await;
        assert_eq!((r["status"].clone(), r["code"].clone()), (json!("rejected"), json!("not_found")), "{user}: {r}");
    }
    assert!(try_status(&mut rep1, &order, "submitted").await.is_none(), "the owner submits");

    // Submitted: lines are frozen, the rep cannot approve, only the team's manager can.
    rep1.set("orders", &order, &[("notes", "one more thing")]);
    rep1.sync().await;
    let locked = rep1.engine.attention().unwrap().last().unwrap().clone();
    assert_eq!(locked.code, "locked");
    assert!(locked.reason.contains("submitted"), "{}", locked.reason);
    let line = rep1.create("order_lines", &[("order_id", &order), ("product_id", &product), ("quantity", "2")]);
    rep1.sync().await;
    assert!(rep1.get("order_lines", &line).is_none(), "a line added to a submitted order is undone locally");
    assert!(rep1.engine.attention().unwrap().last().unwrap().reason.contains("can no longer change"));
    let reason = try_status(&mut rep1, &order, "approved").await.expect("reps do not approve");
    assert!(reason.contains("As a rep you may not move"), "{reason}");
    let r = raw_status(&srv, "manager2", &order, "approved").await;
    assert_eq!(r["code"], json!("not_found"), "another team's manager: {r}");
    mgr.sync().await;
    mgr.engine.review(&order, true, Some("Fine")).unwrap();
    let report = mgr.sync().await;
    assert_eq!((report.applied, report.rejected), (2, 0), "status change and review record");

    // Approved: the rep cannot pull it back; the manager delivers it.
    rep1.sync().await;
    assert_eq!(status_of(&rep1, &order), json!("approved"));
    let reviews = rep1.list("order_reviews");
    let review = reviews.iter().find(|r| r["order_id"] == json!(order)).expect("the decision syncs to the rep");
    assert_eq!((review["decision"].clone(), review["comment"].clone()), (json!("approved"), json!("Fine")));
    let reason = try_status(&mut rep1, &order, "draft").await.expect("approved orders stay approved");
    assert!(reason.contains("cannot become draft"), "{reason}");
    assert!(try_status(&mut mgr, &order, "delivered").await.is_none());
    let reason = try_status(&mut mgr, &order, "cancelled").await.expect("delivered is final");
    assert!(reason.contains("cannot change any more"), "{reason}");

    // Every refusal left the order as the last allowed transition made it.
    let mut fresh = srv.client("manager1").await;
    fresh.sync().await;
    let stored = fresh.get("orders", &order).unwrap();
    assert_eq!((stored["status"].clone(), stored["notes"].clone()), (json!("delivered"), Value::Null));
    assert_eq!(fresh.list("order_lines").iter().filter(|l| l["order_id"] == json!(order)).count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_order_goes_back_to_the_rep_with_the_comment_and_can_be_fixed() {
    let srv = TestServer::demo().await;
    let (mut rep1, mut mgr) = (srv.client("rep1").await, srv.client("manager1").await);
    rep1.sync().await;
    let (customer, product) = (rep1.ids("customers")[1].clone(), rep1.ids("products")[1].clone());
    let (order, line) = new_order(&mut rep1, &customer, &product, "4");
    rep1.set("orders", &order, &[("status", "submitted")]);
    let unsent = |c: &crate::support::TestClient| {
        let all = fieldsync_client::ReviewFilter { status: Some("all".into()), ..Default::default() };
        c.engine.review_queue(&all).unwrap().into_iter().find(|o| o.id == order).unwrap().unsent
    };
    assert!(unsent(&rep1), "the order is marked until the server has it");
    rep1.sync().await;
    assert!(!unsent(&rep1));
    mgr.sync().await;
    let queue = mgr.engine.review_queue(&Default::default()).unwrap();
    let item = queue.iter().find(|o| o.id == order).expect("in the manager's queue");
    assert_eq!((item.rep.as_str(), item.lines), ("rep1", 1));
    assert!(item.total_cents > 0);
    assert!(mgr.engine.review(&order, false, None).is_err(), "rejecting needs a comment");
    mgr.engine.review(&order, false, Some("Quantity too low for a pallet")).unwrap();
    mgr.sync().await;
    rep1.sync().await;
    assert_eq!(status_of(&rep1, &order), json!("rejected"));
    let comment =
        rep1.list("order_reviews").into_iter().find(|r| r["order_id"] == json!(order)).unwrap()["comment"].clone();
    assert_eq!(comment, json!("Quantity too low for a pallet"));
    let all = fieldsync_client::ReviewFilter { status: Some("all".into()), ..Default::default() };
    let seen_by_rep = rep1.engine.review_queue(&all).unwrap().into_iter().find(|o| o.id == order).unwrap();
    assert_eq!(seen_by_rep.history[0]["reviewer"], json!("a manager"), "a name, never an id");
    assert!(try_status(&mut rep1, &order, "draft").await.is_none());
    rep1.set("order_lines", &line, &[("quantity", "40")]);
    assert!(try_status(&mut rep1, &order, "submitted").await.is_none());
    mgr.sync().await;
    let history =
        &mgr.engine.review_queue(&Default::default()).unwrap().into_iter().find(|o| o.id == order).unwrap().history;
    assert_eq!(history.len(), 1, "the earlier rejection is in the review history");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_taken_at_yesterdays_price_is_flagged_and_resent_at_the_new_price() {
    let srv = TestServer::demo().await;
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;
    let customer = rep1.get("customers", &rep1.ids("customers")[2]).unwrap();
    let product = rep1.ids("products")[2].clone();
    let (order, line) = new_order(&mut rep1, customer["id"].as_str().unwrap(), &product, "2");
    let old_price = rep1.get("order_lines", &line).unwrap()["unit_price_cents"].as_i64().unwrap();
    rep1.set("orders", &order, &[("status", "submitted")]);

    // Meanwhile the office raises the price on the customer's list.
    let new_price = old_price + 250;
    srv.with_db(|tx| {
        let list = customer["price_list_id"].as_str().unwrap();
        let item: String = tx
            .value(
                "SELECT id FROM price_list_items WHERE product_id = ?1 AND price_list_id = ?2",
                args![&product, list],
            )
            .unwrap();
        tx.execute("UPDATE price_list_items SET unit_price_cents = ?1 WHERE id = ?2", args![new_price, &item]).unwrap();
        fieldsync_server::records::log_change(tx, "price_list_items", &item, false).unwrap();
    });

    let report = rep1.sync().await;
    assert_eq!(report.rejected, 1, "the submit is refused, the order and lines are kept");
    let item = rep1.engine.attention().unwrap().pop().unwrap();
    assert_eq!(item.code, "price_changed");
    let money = |c: i64| format!("{}.{:02}", c / 100, c % 100);
    assert!(item.reason.contains(&money(old_price)) && item.reason.contains(&money(new_price)), "{}", item.reason);
    assert_eq!(status_of(&rep1, &order), json!("draft"));
    let flagged = rep1.get("order_lines", &line).unwrap();
    assert_eq!(flagged["unit_price_cents"], json!(old_price), "nothing is silently repriced");
    let flag = flagged["flags"].as_str().expect("the line is flagged");
    assert!(flag.contains(&money(old_price)) && flag.contains(&money(new_price)), "{flag}");

    // "Update prices and resubmit" (the app's button and the CLI's --accept-prices).
    assert_eq!(rep1.engine.resend_at_current_prices(&item.mutation_id.to_string(), Default::default()).unwrap(), 1);
    assert!(rep1.engine.attention().unwrap().is_empty());
    let report = rep1.sync().await;
    assert_eq!((report.applied, report.rejected), (2, 0));
    assert_eq!(status_of(&rep1, &order), json!("submitted"));
    let line_now = rep1.get("order_lines", &line).unwrap();
    assert_eq!((line_now["unit_price_cents"].clone(), line_now["flags"].clone()), (json!(new_price), Value::Null));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_beyond_stock_is_flagged_not_lost() {
    let srv = TestServer::demo().await;
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;
    let (customer, product) = (rep1.ids("customers")[3].clone(), rep1.ids("products")[3].clone());
    let (order, _) = new_order(&mut rep1, &customer, &product, "100000");
    rep1.set("orders", &order, &[("status", "submitted")]);
    let report = rep1.sync().await;
    assert_eq!(report.rejected, 0);
    let stored = rep1.get("orders", &order).unwrap();
    assert_eq!(stored["status"], json!("submitted"));
    let flags = stored["flags"].as_str().expect("flagged");
    assert!(flags.starts_with("Not enough stock") && flags.contains("ordered 100000"), "{flags}");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_notes_both_survive_and_counters_add_up() {
    let srv = TestServer::demo().await;
    let (mut rep1, mut rep2, mut mgr) =
        (srv.client("rep1").await, srv.client("rep2").await, srv.client("manager1").await);
    rep1.sync().await;
    let customer = rep1.ids("customers")[4].clone();
    let visit = rep1.create("visits", &[("customer_id", &customer), ("notes", "Met the buyer.")]);
    rep1.sync().await;
    mgr.sync().await;
    rep2.sync().await;
    // Offline, at the same time: rep1 and the manager add notes; rep1 and rep2 hand out samples.
    rep1.set("visits", &visit, &[("notes", "Left the winter catalogue.")]);
    mgr.set("visits", &visit, &[("notes", "Call back about pallets.")]);
    rep1.set("customers", &customer, &[("samples_given", "3")]);
    rep2.set("customers", &customer, &[("samples_given", "5")]);
    for _ in 0..2 {
        for c in [&mut rep1, &mut mgr, &mut rep2] {
            c.sync().await;
        }
    }
    for c in [&rep1, &mgr] {
        let notes = c.get("visits", &visit).unwrap()["notes"].as_str().unwrap().to_string();
        for n in ["Met the buyer.", "Left the winter catalogue.", "Call back about pallets."] {
            assert!(notes.contains(n), "{}: {notes:?} lacks {n:?}", c.user);
        }
    }
    for c in [&rep1, &rep2] {
        assert_eq!(c.get("customers", &customer).unwrap()["samples_given"], json!(8), "{}", c.user);
    }
    assert!(rep1.engine.conflicts().unwrap().is_empty(), "appends and counters never conflict");
}

#[tokio::test(flavor = "multi_thread")]
async fn stock_is_server_owned_and_clients_converge_to_it() {
    let srv = TestServer::demo().await;
    let (mut rep1, mut rep2) = (srv.client("rep1").await, srv.client("rep2").await);
    rep1.sync().await;
    rep2.sync().await;
    let level = rep1.list("inventory_levels")[0].clone();
    let id = level["id"].as_str().unwrap();
    rep1.set("inventory_levels", id, &[("on_hand", "1")]);
    rep2.set("inventory_levels", id, &[("on_hand", "999")]);
    assert_eq!((rep1.sync().await.rejected, rep2.sync().await.rejected), (1, 1));
    for c in [&rep1, &rep2] {
        assert_eq!(c.get("inventory_levels", id).unwrap()["on_hand"], level["on_hand"], "{}", c.user);
        let item = &c.engine.attention().unwrap()[0];
        assert!(item.reason.contains("may not change inventory levels"));
        // Described for people: the record by what it belongs to, the field by its label.
        assert!(item.what.starts_with("inventory level for ") && !item.what.contains(id), "{}", item.what);
        let fixable: Vec<_> =
            item.fixable.iter().map(|f| (f.field.as_str(), f.label.as_str(), f.input.as_str())).collect();
        assert_eq!(fixable, [("on_hand", "On hand", "number")]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_overwritten_value_can_be_restored_as_a_new_edit() {
    let srv = TestServer::demo().await;
    let (mut rep1, mut rep2) = (srv.client("rep1").await, srv.client("rep2").await);
    rep1.sync().await;
    rep2.sync().await;
    let customer = rep1.ids("customers")[5].clone();
    rep1.set("customers", &customer, &[("email", "rep1@example.test")]);
    srv.clock.advance(1_000);
    rep2.set("customers", &customer, &[("email", "rep2@example.test")]);
    rep2.sync().await;
    rep1.sync().await;
    assert_eq!(rep1.get("customers", &customer).unwrap()["email"], json!("rep2@example.test"));
    let conflict = rep1.engine.conflicts().unwrap().pop().unwrap();
    assert_eq!(conflict.overwritten, json!("rep1@example.test"));
    rep1.engine.restore_conflict(&conflict.conflict_id).unwrap();
    assert_eq!(rep1.get("customers", &customer).unwrap()["email"], json!("rep1@example.test"));
    rep1.sync().await;
    rep2.sync().await;
    assert_eq!(rep2.get("customers", &customer).unwrap()["email"], json!("rep1@example.test"));
}

fn ids_of(c: &TestClient, entity: &str) -> BTreeSet<String> {
    c.ids(entity).into_iter().collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn moving_twelve_customers_moves_exactly_them_and_their_records() {
    let srv = TestServer::demo().await;
    let (mut rep1, mut rep3) = (srv.client("rep1").await, srv.client("rep3").await);
    rep1.sync().await;
    rep3.sync().await;
    let moved: Vec<String> = rep1.ids("customers").into_iter().skip(100).take(12).collect();
    let dependents = ["contacts", "addresses", "invoices"];
    let related = |c: &TestClient, entity: &str| -> BTreeSet<String> {
        c.list(entity)
            .into_iter()
            .filter(|r| moved.iter().any(|m| r["customer_id"] == json!(m)))
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let moved_deps: Vec<BTreeSet<String>> = dependents.iter().map(|e| related(&rep1, e)).collect();
    let moved_plans = related(&rep1, "visit_plans");
    let (rep1_before, rep3_before) = (ids_of(&rep1, "customers"), ids_of(&rep3, "customers"));
    // rep1 edits one of them offline, not yet synced.
    rep1.set("customers", &moved[0], &[("notes", "edited before the move")]);

    srv.with_db(|tx| {
        let reg = srv.config.registry.clone();
        fieldsync_server::admin::move_customers(tx, &reg, "SOUTH", &moved, 1_764_000_000_000).unwrap()
    });
    let r1 = rep1.sync().await;
    let r3 = rep3.sync().await;

    let moved_set: BTreeSet<String> = moved.iter().cloned().collect();
    assert_eq!(ids_of(&rep1, "customers"), rep1_before.difference(&moved_set).cloned().collect());
    assert_eq!(ids_of(&rep3, "customers"), rep3_before.union(&moved_set).cloned().collect());
    for (entity, ids) in dependents.iter().zip(&moved_deps) {
        assert!(ids.iter().all(|id| rep1.get(entity, id).is_none()), "rep1 still has moved {entity}");
        assert!(ids.iter().all(|id| rep3.get(entity, id).is_some()), "rep3 lacks moved {entity}");
    }
    assert!(moved_plans.iter().all(|id| rep1.get("visit_plans", id).is_none()), "rep1 keeps plans for moved customers");
    // The unsynced edit was pushed first; the server now refuses it, with a reason.
    assert_eq!(r1.rejected, 1);
    let parked = rep1.engine.attention().unwrap().pop().unwrap();
    assert!(parked.reason.contains("moved out of your territories"), "{}", parked.reason);
    assert!(
        r1.notices
            .iter()
            .any(|n| n.starts_with("12 customers") && n.contains("no longer visible") && n.contains("SOUTH")),
        "{:?}",
        r1.notices
    );
    assert!(r3.notices.iter().any(|n| n.starts_with("12 customers") && n.contains("now visible")), "{:?}", r3.notices);
}

#[tokio::test(flavor = "multi_thread")]
async fn territory_assignment_over_the_admin_api_adds_and_removes_a_territory() {
    let srv = TestServer::demo_with(|c| c.admin_token = Some("test-admin-token-123".into())).await;
    let mut rep2 = srv.client("rep2").await;
    rep2.sync().await;
    let north = ids_of(&rep2, "customers");
    let http = reqwest::Client::new();
    let call = |path: &str, token: &str| {
        http.post(format!("{}/v1/admin/territories/{path}", srv.url))
            .bearer_auth(token)
            .json(&json!({"territory": "SOUTH", "user": "rep2"}))
            .send()
    };
    assert_eq!(call("assign", "wrong").await.unwrap().status(), 401);
    assert_eq!(call("assign", "test-admin-token-123").await.unwrap().status(), 200);
    let report = rep2.sync().await;
    let both = ids_of(&rep2, "customers");
    assert!(both.len() >= north.len() + 500 && both.is_superset(&north));
    assert!(report.notices.iter().any(|n| n.contains("rep2 now covers SOUTH")), "{:?}", report.notices);
    assert_eq!(call("unassign", "test-admin-token-123").await.unwrap().status(), 200);
    rep2.sync().await;
    assert_eq!(ids_of(&rep2, "customers"), north);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_line_cannot_be_moved_into_a_submitted_order() {
    let srv = TestServer::demo().await;
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;
    let (customer, product) = (rep1.ids("customers")[6].clone(), rep1.ids("products")[6].clone());
    let (submitted, _) = new_order(&mut rep1, &customer, &product, "1");
    rep1.set("orders", &submitted, &[("status", "submitted")]);
    let (_draft, line) = new_order(&mut rep1, &customer, &product, "2");
    rep1.sync().await;
    rep1.set("order_lines", &line, &[("order_id", &submitted)]);
    let report = rep1.sync().await;
    assert_eq!(report.rejected, 1);
    assert_eq!(rep1.engine.attention().unwrap()[0].code, "locked");
    assert_ne!(rep1.get("order_lines", &line).unwrap()["order_id"], json!(submitted));
}

/// Every transition of the declared lifecycle, and every move it does not declare,
/// tried by the owning rep and by their manager (other reps, other teams' managers and
/// shippers cannot even see the order: see the test above). An allowed move lands; a
/// refused one leaves the order as it was and waits in the actor's "needs attention"
/// list with the reason.
#[tokio::test(flavor = "multi_thread")]
async fn the_whole_lifecycle_table_is_enforced() {
    use fieldsync_protocol::standard::{ORDER_LIFECYCLE, ORDER_STATUSES};
    let srv = TestServer::demo().await;
    let (mut rep1, mut mgr) = (srv.client("rep1").await, srv.client("manager1").await);
    rep1.sync().await;
    let customer = rep1.ids("customers")[8].clone();
    let mut checked = 0;
    for from in ORDER_STATUSES {
        for to in ORDER_STATUSES.iter().filter(|t| *t != from) {
            // An order of rep1's, put into `from` by the back office.
            let order = rep1.create("orders", &[("customer_id", &customer)]);
            rep1.sync().await;
            srv.with_db(|tx| back_office_status(tx, &order, from));
            for (actor, role) in [(&mut rep1, Role::Rep), (&mut mgr, Role::Manager)] {
                actor.sync().await;
                let allowed = ORDER_LIFECYCLE
                    .transitions
                    .iter()
                    .any(|t| t.from == *from && t.to == *to && t.roles.contains(&role));
                let before = actor.engine.attention().unwrap().len();
                actor.set("orders", &order, &[("status", to)]);
                let report = actor.sync().await;
                let after = status_of(actor, &order);
                if allowed {
                    assert_eq!((report.rejected, after), (0, json!(to)), "{role} {from} -> {to} should be allowed");
                    // Put it back for the other actor.
                    srv.with_db(|tx| back_office_status(tx, &order, from));
                } else {
                    assert_eq!((report.rejected, after), (1, json!(from)), "{role} {from} -> {to} should be refused");
                    let items = actor.engine.attention().unwrap();
                    assert_eq!(items.len(), before + 1);
                    assert!(items.last().unwrap().reason.contains(to), "{}", items.last().unwrap().reason);
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, ORDER_STATUSES.len() * (ORDER_STATUSES.len() - 1) * 2);
}

/// The back office sets an order's status directly (logged as a change, as every server
/// write is).
fn back_office_status(tx: &fieldsync_server::sql::Tx<'_>, order: &str, status: &str) {
    tx.execute("UPDATE orders SET status = ?1 WHERE id = ?2", args![status, order]).unwrap();
    fieldsync_server::records::log_change(tx, "orders", order, false).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_review_decision_applies_whole_or_not_at_all() {
    let srv = TestServer::demo().await;
    let mut manager = srv.client("manager1").await;
    let mut rep1 = srv.client("rep1").await;
    manager.sync().await;
    rep1.sync().await;
    let rep1_id = rep1.my_id();
    let order = manager
        .list("orders")
        .into_iter()
        .find(|o| o["status"] == "submitted" && o["rep_id"] == rep1_id.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reviews_of = |srv: &TestServer| -> i64 {
        srv.with_db(|tx| {
            tx.value("SELECT count(*) FROM order_reviews WHERE order_id = ?1", fieldsync_server::args![order.as_str()])
                .unwrap()
        })
    };
    let before = reviews_of(&srv);

    // Offline, the manager approves; meanwhile the rep takes the order back to draft.
    manager.engine.review(&order, true, Some("Fine")).unwrap();
    rep1.set("orders", &order, &[("status", "draft")]);
    rep1.sync().await;
    manager.sync().await;

    assert_eq!(reviews_of(&srv), before, "no approval is recorded for an order that was not approved");
    assert_eq!(manager.get("orders", &order).unwrap()["status"], "draft");
    let local_reviews = manager.list("order_reviews").into_iter().filter(|r| r["order_id"] == order.as_str()).count();
    assert_eq!(local_reviews as i64, before, "the manager's laptop drops the decision too");
    let attention = manager.engine.attention().unwrap();
    let about: Vec<_> = attention
        .iter()
        .filter(|a| a.id == order || a.fields.get("order_id").and_then(|v| v.as_str()) == Some(order.as_str()))
        .collect();
    assert_eq!(about.len(), 2, "both halves wait in the manager's attention list: {attention:?}");
    assert!(about.iter().any(|a| a.reason.contains("did not apply")), "{about:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_change_to_a_record_whose_owner_is_not_here_reads_as_a_noun() {
    let srv = TestServer::demo().await;
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;
    // A visit for a customer this computer does not hold (gone, or never seen).
    let gone = uuid::Uuid::now_v7().to_string();
    rep1.create("visits", &[("customer_id", &gone)]);
    assert_eq!(rep1.sync().await.rejected, 1);
    let item = &rep1.engine.attention().unwrap()[0];
    assert_eq!(item.what, "a visit", "no id and no bare type name: {item:?}");
}
