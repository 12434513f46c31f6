//! Per-field merge, last-write-wins in server time, the conflict log, and clock skew.

use std::sync::Arc;

use serde_json::json;

use crate::support::{SkewedClock, TestServer};

async fn concurrent_edits(rep2_syncs_first: bool) {
    let srv = TestServer::demo().await;
    let (mut rep1, mut rep2, mut mgr) =
        (srv.client("rep1").await, srv.client("rep2").await, srv.client("manager1").await);
    for c in [&mut rep1, &mut rep2, &mut mgr] {
        c.sync().await;
    }
    let id = rep1.ids("customers")[0].clone();
    // Offline: rep1 edits name + phone, then rep2 edits email + phone.
    rep1.set("customers", &id, &[("name", "Rep One Name"), ("phone", "+1 111")]);
    rep2.set("customers", &id, &[("email", "two@example.test"), ("phone", "+2 222")]);
    if rep2_syncs_first {
        rep2.sync().await;
        rep1.sync().await;
    } else {
        rep1.sync().await;
        rep2.sync().await;
    }
    rep1.sync().await;
    rep2.sync().await;
    mgr.sync().await;

    let want = (json!("Rep One Name"), json!("two@example.test"), json!("+2 222"));
    for c in [&rep1, &rep2, &mgr] {
        let rec = c.get("customers", &id).expect("record");
        assert_eq!((rec["name"].clone(), rec["email"].clone(), rec["phone"].clone()), want, "{} disagrees", c.user);
        assert_eq!(rec, rep1.get("customers", &id).unwrap(), "{} holds a different record", c.user);
        let log = c.engine.conflicts().unwrap();
        let phone: Vec<_> = log.iter().filter(|x| x.id == id && x.field == "phone").collect();
        assert_eq!(phone.len(), 1, "{} should see exactly one phone conflict: {log:?}", c.user);
        assert_eq!((phone[0].kept.clone(), phone[0].overwritten.clone()), (json!("+2 222"), json!("+1 111")));
        assert_eq!((phone[0].kept_by.as_str(), phone[0].overwritten_by.as_str()), ("rep2", "rep1"));
        // What the conflict log shows: the record's name and the field's label, no ids.
        let shown = (phone[0].what.as_str(), phone[0].field_label.as_str(), phone[0].kept_text.as_str());
        assert_eq!(shown, ("customer Rep One Name", "Phone", "+2 222"));
        assert_eq!(phone[0].overwritten_text, "+1 111");
        assert!(log.iter().all(|x| x.field == "phone"), "only the phone collided: {log:?}");
    }
    assert_eq!(rep1.engine.status().unwrap().pending, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn different_fields_merge_and_the_later_edit_wins_when_the_later_editor_syncs_first() {
    concurrent_edits(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn different_fields_merge_and_the_later_edit_wins_when_the_earlier_editor_syncs_first() {
    concurrent_edits(false).await;
}

/// rep1's laptop clock is three hours fast. rep1 edits first, rep2 edits later; the raw
/// clocks say rep1's edit is newer, server time says rep2's is, and rep2's must win.
#[tokio::test(flavor = "multi_thread")]
async fn a_fast_client_clock_does_not_win_conflicts() {
    const THREE_HOURS: i64 = 3 * 3600 * 1000;
    let srv = TestServer::demo().await;
    let skewed = Arc::new(SkewedClock { base: srv.clock.clone(), skew_ms: THREE_HOURS });
    let mut rep1 = srv.client_with("rep1", |o| o.clock = skewed).await;
    let mut rep2 = srv.client("rep2").await;
    rep1.sync().await;
    rep2.sync().await;
    let offset = rep1.engine.status().unwrap().clock_offset_ms;
    assert!((offset + THREE_HOURS).abs() < 1_000, "measured offset {offset} ms, expected about -3h");

    let id = rep1.ids("customers")[3].clone();
    rep1.set("customers", &id, &[("phone", "from fast clock")]);
    srv.clock.advance(60_000); // a minute later, for real
    rep2.set("customers", &id, &[("phone", "truly later")]);
    rep2.sync().await;
    let report = rep1.sync().await;
    assert_eq!(report.conflicts, 1);
    rep2.sync().await;
    for c in [&rep1, &rep2] {
        assert_eq!(c.get("customers", &id).unwrap()["phone"], json!("truly later"), "{}", c.user);
    }
    let log = rep1.engine.conflicts().unwrap();
    assert_eq!(log[0].kept_by, "rep2");
    assert_eq!(log[0].overwritten, json!("from fast clock"));
}

/// The same skew the other way round: rep1's fast clock edits truly later and must win
/// even though rep2 pushed first.
#[tokio::test(flavor = "multi_thread")]
async fn a_skewed_client_still_wins_when_its_edit_is_truly_later() {
    let srv = TestServer::demo().await;
    let skewed = Arc::new(SkewedClock { base: srv.clock.clone(), skew_ms: -5 * 3600 * 1000 });
    let mut rep1 = srv.client_with("rep1", |o| o.clock = skewed).await;
    let mut rep2 = srv.client("rep2").await;
    rep1.sync().await;
    rep2.sync().await;
    let id = rep1.ids("customers")[4].clone();
    rep2.set("customers", &id, &[("city", "earlier")]);
    srv.clock.advance(30_000);
    rep1.set("customers", &id, &[("city", "later, slow clock")]);
    rep2.sync().await;
    rep1.sync().await;
    rep2.sync().await;
    assert_eq!(rep2.get("customers", &id).unwrap()["city"], json!("later, slow clock"));
}

/// Sequential edits (the second editor had seen the first value) are not conflicts.
#[tokio::test(flavor = "multi_thread")]
async fn sequential_edits_are_not_conflicts() {
    let srv = TestServer::demo().await;
    let (mut rep1, mut rep2) = (srv.client("rep1").await, srv.client("rep2").await);
    rep1.sync().await;
    let id = rep1.ids("customers")[5].clone();
    rep1.set("customers", &id, &[("notes", "first")]);
    rep1.sync().await;
    rep2.sync().await;
    rep2.set("customers", &id, &[("notes", "second")]);
    rep2.sync().await;
    rep1.sync().await;
    assert_eq!(rep1.get("customers", &id).unwrap()["notes"], json!("second"));
    assert!(rep1.engine.conflicts().unwrap().is_empty());
}

/// A pending local edit stays visible when a pull brings other changes to the record.
#[tokio::test(flavor = "multi_thread")]
async fn pending_edits_survive_a_pull_of_the_same_record() {
    let srv = TestServer::demo().await;
    let (mut rep1, mut rep2) = (srv.client("rep1").await, srv.client("rep2").await);
    rep1.sync().await;
    rep2.sync().await;
    let id = rep1.ids("customers")[6].clone();
    rep2.set("customers", &id, &[("city", "Tromso")]);
    rep2.sync().await;
    rep1.set("customers", &id, &[("notes", "local, unsynced")]);
    // Pull without pushing: the server's new city arrives under the pending note.
    rep1.engine.pull(&mut |_| {}).await.unwrap();
    let rec = rep1.get("customers", &id).unwrap();
    assert_eq!((rec["notes"].clone(), rec["city"].clone()), (json!("local, unsynced"), json!("Tromso")));
    assert_eq!(rep1.engine.status().unwrap().pending, 1);
    rep1.sync().await;
    rep2.sync().await;
    assert_eq!(rep2.get("customers", &id).unwrap()["notes"], json!("local, unsynced"));
}
