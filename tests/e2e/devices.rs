//! Per-device sync health as IT reads it: each laptop reports, after a successful sync, how
//! its syncs went since the last report; `fieldsync-server devices` and `/metrics` show it.

use serde_json::Value;

use crate::support::TestServer;

fn devices(srv: &TestServer, extra: &[&str]) -> Vec<Value> {
    let (ok, out, err) = srv.server_cli(&[&["devices", "--json"], extra].concat());
    assert!(ok, "{out}{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_laptops_syncs_offline_time_and_pending_changes_reach_its_device_entry() {
    let mut srv = TestServer::demo().await;
    let mut rep1 = srv.client("rep1").await;
    assert!(devices(&srv, &[]).is_empty(), "nothing reported before the first sync");
    rep1.sync().await;
    rep1.sync().await;

    // The server goes away for a while: two syncs fail for want of it, and an edit waits.
    let addr = srv.stop_server().await;
    let customer = rep1.ids("customers")[0].clone();
    rep1.set("customers", &customer, &[("notes", "made offline")]);
    for _ in 0..2 {
        assert!(rep1.engine.sync(&mut |_| {}).await.is_err());
    }
    srv.restart_server(addr).await;
    rep1.sync().await;

    let all = devices(&srv, &[]);
    assert_eq!(all.len(), 1, "{all:#?}");
    let d = &all[0];
    assert_eq!(d["user"], "rep1");
    assert_eq!(d["client_id"], rep1.engine.store().meta("client_id").unwrap().unwrap());
    assert_eq!((d["ok"].as_i64(), d["offline"].as_i64(), d["failed"].as_i64()), (Some(3), Some(2), Some(0)), "{d}");
    assert_eq!(d["success_rate"], 1.0, "offline time is not a failed sync");
    assert_eq!(d["pending"], 0, "the offline edit went out with the last sync");
    assert_eq!(d["healthy"], true);
    assert!(d["app_version"].as_str().is_some_and(|v| !v.is_empty()));
    assert!(devices(&srv, &["--unhealthy"]).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_laptop_whose_syncs_fail_is_listed_as_unhealthy_with_its_last_error() {
    let srv = TestServer::demo().await;
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;
    // Its session is revoked: its syncs fail until the rep signs in again.
    let (ok, _, err) = srv.server_cli(&["session", "revoke", "--user", "rep1"]);
    assert!(ok, "{err}");
    assert!(rep1.engine.sync(&mut |_| {}).await.is_err());
    rep1.engine.login(&srv.url, "rep1", "demo").await.unwrap();
    rep1.sync().await;

    let unhealthy = devices(&srv, &["--unhealthy"]);
    assert_eq!(unhealthy.len(), 1, "2 of 3 syncs is below the bar: {unhealthy:#?}");
    let d = &unhealthy[0];
    assert_eq!((d["ok"].as_i64(), d["failed"].as_i64()), (Some(2), Some(1)), "{d}");
    assert!(d["last_error"].as_str().is_some_and(|e| e.contains("signed out")), "{d}");
    let (ok, out, _) = srv.server_cli(&["devices"]);
    assert!(ok && out.contains("UNHEALTHY") && out.contains("rep1"), "{out}");
}

/// While syncs go well a laptop reports once per `DEVICE_REPORT_EVERY_MS`, not after every
/// sync (a report per sync was a third of a fleet's requests); nothing it counted is lost.
#[tokio::test(flavor = "multi_thread")]
async fn a_laptop_whose_syncs_go_well_reports_once_per_interval_and_loses_no_count() {
    let srv = TestServer::demo().await;
    let mut rep1 = srv.client("rep1").await;
    let reported = |srv: &TestServer| devices(srv, &[]).first().and_then(|d| d["ok"].as_i64());
    rep1.sync().await;
    assert_eq!(reported(&srv), Some(1), "the first sync reports at once");
    for _ in 0..3 {
        rep1.sync().await;
    }
    assert_eq!(reported(&srv), Some(1), "syncs that went well wait for the interval");

    srv.clock.advance(fieldsync_client::DEVICE_REPORT_EVERY_MS);
    rep1.sync().await;
    assert_eq!(reported(&srv), Some(5), "the interval passed: every sync since is counted");
}

/// The load generator counts its syncs itself and reads the server's figure from the
/// laptops' device reports: the two must agree, or one of them is not measuring syncs.
#[test]
fn the_load_generator_and_the_server_see_the_same_sync_success_rate() {
    let out = std::process::Command::new(crate::support::workspace_bin("fieldsync-load"))
        .args(["--clients", "6", "--seconds", "4", "--ramp-up", "1", "--think", "0.5"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run["errors"], 0, "{run:#}");
    assert!(run["syncs"].as_u64().unwrap() >= 6, "every client synced at least once: {run:#}");
    let (own, server) = (run["sync_success_rate"].as_f64(), run["server_sync_success_rate"].as_f64());
    assert!(server.is_some(), "no device report reached the server: {run:#}");
    assert_eq!(own, server, "{run:#}");
}
