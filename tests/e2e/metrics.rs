//! `/metrics` after a scripted sync: the counters move by exactly what the clients did,
//! and only the admin token reads them.

use std::collections::BTreeMap;

use crate::support::TestServer;

const ADMIN: &str = "test-admin-token-123";

/// Every sample of the scrape, by name with labels (`name{a="b"}`).
async fn scrape(srv: &TestServer) -> BTreeMap<String, f64> {
    let resp = reqwest::Client::new().get(format!("{}/metrics", srv.url)).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
        .collect()
}

fn moved(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>, key: &str) -> f64 {
    after.get(key).copied().unwrap_or(0.0) - before.get(key).copied().unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_counters_move_by_what_the_clients_did() {
    let srv = TestServer::demo_with(|c| {
        c.admin_token = Some(ADMIN.into());
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let mut rep1 = srv.client("rep1").await;
    let mut rep2 = srv.client("rep2").await;
    rep1.sync().await;
    rep2.sync().await;
    let before = scrape(&srv).await;

    // rep1: three edits and one change reps may not make; rep2 then overwrites one of them.
    let customers = rep1.ids("customers");
    rep2.set("customers", &customers[0], &[("phone", "+47 rep2")]);
    rep1.set("customers", &customers[0], &[("phone", "+47 rep1")]);
    rep1.set("customers", &customers[1], &[("notes", "metrics")]);
    rep1.create("visits", &[("customer_id", &customers[2])]);
    let level = rep1.list("inventory_levels")[0]["id"].as_str().unwrap().to_string();
    rep1.set("inventory_levels", &level, &[("on_hand", "1")]);
    let pushed = rep1.sync().await;
    assert_eq!((pushed.applied, pushed.rejected), (3, 1));
    rep2.sync().await; // rep2's older phone edit loses to rep1's: one conflict logged
    let wrong = reqwest::Client::new()
        .post(format!("{}/v1/login", srv.url))
        .json(&serde_json::json!({"username": "rep3", "password": "not-the-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let after = scrape(&srv).await;

    assert_eq!(moved(&before, &after, r#"fieldsync_mutations_total{code="",result="applied"}"#), 3.0, "{after:#?}");
    assert_eq!(
        moved(&before, &after, r#"fieldsync_mutations_total{code="",result="merged"}"#),
        1.0,
        "rep2's lost phone"
    );
    assert_eq!(moved(&before, &after, r#"fieldsync_mutations_total{code="forbidden",result="rejected"}"#), 1.0);
    assert_eq!(moved(&before, &after, "fieldsync_conflicts_total"), 1.0);
    assert_eq!(moved(&before, &after, "fieldsync_login_failures_total"), 1.0);
    assert_eq!(moved(&before, &after, r#"fieldsync_http_requests_total{route="/v1/push",status="200"}"#), 2.0);
    assert_eq!(moved(&before, &after, r#"fieldsync_http_requests_total{route="/v1/login",status="401"}"#), 1.0);
    assert!(moved(&before, &after, "fieldsync_pulled_rows_total") >= 3.0, "the pulls carried the changes back");
    assert!(moved(&before, &after, "fieldsync_pulled_bytes_total") > 0.0);
    assert!(moved(&before, &after, r#"fieldsync_http_request_duration_seconds_count{route="/v1/pull"}"#) >= 2.0);
    assert!(
        moved(&before, &after, "fieldsync_db_write_turn_wait_seconds_count") >= 2.0,
        "each push waited for its turn"
    );
    assert_eq!(after["fieldsync_sessions_active"], 2.0, "rep1 and rep2 are signed in");
    assert_eq!(after["fieldsync_long_polls_open"], 0.0);
    // Both laptops reported their syncs, all of which went through.
    assert_eq!(after[r#"fieldsync_devices{health="healthy"}"#], 2.0);
    assert_eq!(after[r#"fieldsync_devices{health="unhealthy"}"#], 0.0);
    assert_eq!(after["fieldsync_fleet_sync_success_ratio"], 1.0);

    // Without the admin token there is nothing to read on the main address...
    let anonymous = reqwest::get(format!("{}/metrics", srv.url)).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    // ... but the internal metrics address serves the same figures, and only them.
    let internal = srv.metrics_url().expect("a metrics listener");
    let text = reqwest::get(&internal).await.unwrap().text().await.unwrap();
    assert!(text.contains("fieldsync_sessions_active 2"), "{text}");
    let other = reqwest::get(internal.replace("/metrics", "/v1/health")).await.unwrap();
    assert_eq!(other.status(), 404, "the metrics address serves nothing else");
}
