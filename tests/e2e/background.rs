//! The background task against a real server: syncs on its own after local changes,
//! picks up other users' changes through the long poll, goes offline when the server
//! is down and recovers when it is back, and raises events for the user.

use std::sync::Arc;
use std::time::Duration;

use fieldsync_client::background::{Background, Event};
use fieldsync_client::schedule::{Policy, SyncState};
use serde_json::json;
use tokio::sync::Mutex;

use crate::support::TestServer;

/// Fast timings so the test does not wait on production delays.
fn quick() -> Policy {
    Policy {
        debounce_ms: 20,
        periodic_ms: 60_000,
        probe_ms: 50,
        reconnect_ms: 50,
        backoff_base_ms: 50,
        backoff_max_ms: 400,
        jitter: 0.2,
    }
}

/// Waits (on state changes, not on time) until `pred` holds; fails after 20 s.
async fn until(bg: &Background, what: &str, pred: impl Fn(&SyncState) -> bool) -> SyncState {
    let mut rx = bg.state();
    let wait = async {
        loop {
            let s = rx.borrow_and_update().clone();
            if pred(&s) {
                return s;
            }
            rx.changed().await.expect("background task alive");
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait).await.unwrap_or_else(|_| panic!("never reached: {what}"))
}

fn up_to_date_after(t: i64) -> impl Fn(&SyncState) -> bool {
    move |s| matches!(s, SyncState::UpToDate { last_ok_ms } if *last_ok_ms > t)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_background_task_syncs_changes_both_ways_and_survives_an_outage() {
    let mut srv = TestServer::demo().await;
    let rep1 = srv.client("rep1").await;
    let mut rep2 = srv.client("rep2").await;
    rep2.sync().await;
    let engine = Arc::new(Mutex::new(rep1.engine));
    let bg = Background::start(engine.clone(), quick());
    let mut events = bg.events();
    until(&bg, "first sync", up_to_date_after(0)).await;
    match events.recv().await.unwrap() {
        Event::FirstSyncDone { rows } => assert!(rows > 1_000, "{rows}"),
        other => panic!("expected the first-sync event, got {other:?}"),
    }

    // A local change syncs by itself.
    let customer = engine.lock().await.list("customers", &[]).unwrap()[0]["id"].as_str().unwrap().to_string();
    let t = srv.clock.now_ms_for_tests();
    {
        let mut e = engine.lock().await;
        let fields = e.parse_sets("customers", &[("notes".into(), "from the background".into())]).unwrap();
        e.update("customers", &customer, fields).unwrap();
    }
    bg.local_change();
    until(&bg, "local change synced", up_to_date_after(t)).await;
    assert_eq!(engine.lock().await.status().unwrap().pending, 0);
    rep2.sync().await;
    assert_eq!(rep2.get("customers", &customer).unwrap()["notes"], json!("from the background"));

    // Another rep's change arrives through the open long poll, without a local trigger.
    rep2.set("customers", &customer, &[("city", "Hammerfest")]);
    rep2.sync().await;
    let arrived = async {
        loop {
            if engine.lock().await.get("customers", &customer).unwrap()["city"] == json!("Hammerfest") {
                return;
            }
            bg.state().changed().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(20), arrived).await.expect("live change never arrived");

    // The server goes away: a local change leaves the task offline, the change queued.
    let addr = srv.stop_server().await;
    {
        let mut e = engine.lock().await;
        let fields = e.parse_sets("customers", &[("phone".into(), "+47 000".into())]).unwrap();
        e.update("customers", &customer, fields).unwrap();
    }
    bg.local_change();
    until(&bg, "offline", |s| matches!(s, SyncState::Offline { .. })).await;
    assert_eq!(engine.lock().await.status().unwrap().pending, 1);

    // It comes back on the same address: the task reconnects and pushes the change.
    let t = srv.clock.now_ms_for_tests();
    srv.restart_server(addr).await;
    until(&bg, "back online", up_to_date_after(t)).await;
    assert_eq!(engine.lock().await.status().unwrap().pending, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_change_raises_one_event_naming_the_record_and_reason() {
    let srv = TestServer::demo().await;
    let rep1 = srv.client("rep1").await;
    let engine = Arc::new(Mutex::new(rep1.engine));
    let bg = Background::start(engine.clone(), quick());
    let mut events = bg.events();
    until(&bg, "first sync", up_to_date_after(0)).await;
    let level = {
        let mut e = engine.lock().await;
        let level = e.list("inventory_levels", &[]).unwrap()[0]["id"].as_str().unwrap().to_string();
        let fields = e.parse_sets("inventory_levels", &[("on_hand".into(), "1".into())]).unwrap();
        e.update("inventory_levels", &level, fields).unwrap();
        level
    };
    bg.local_change();
    let rejected = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Event::Rejected { count, latest } = events.recv().await.unwrap() {
                return (count, latest);
            }
        }
    })
    .await
    .expect("no rejection event");
    assert_eq!(rejected.0, 1);
    assert!(!rejected.1.contains(&level) && rejected.1.contains("may not change inventory levels."), "{}", rejected.1);
}
