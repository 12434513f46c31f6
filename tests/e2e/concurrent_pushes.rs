//! Pushes that arrive at the same moment decide as if they had come one after another. On
//! PostgreSQL pushes run side by side (only their change-log tail is ordered, see
//! `db.rs`), so these races are real there: every edit of one field still meets the edit
//! before it, a unique code still goes to one record, and a record created twice at once
//! is created once.

use serde_json::{json, Value};

use crate::support::TestServer;

const RACERS: usize = 12;

/// Sends `RACERS` pushes at once, each from its own client, the i-th carrying
/// `mutations(i)`; returns each push's results in order.
async fn race(srv: &TestServer, user: &str, mutations: impl Fn(usize) -> Vec<Value>) -> Vec<Vec<Value>> {
    let token = srv.token(user).await;
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(RACERS));
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let body = json!({"client_id": uuid::Uuid::now_v7(), "client_time_ms": 1, "mutations": mutations(i)});
        let (url, token, start) = (format!("{}/v1/push", srv.url), token.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            start.wait().await;
            let resp = http.post(url).bearer_auth(token).json(&body).send().await.unwrap();
            let status = resp.status();
            let body: Value = resp.json().await.unwrap();
            assert!(status.is_success(), "a racing push failed as a whole ({status}): {body}");
            body["results"].as_array().unwrap().clone()
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn status(results: &[Vec<Value>]) -> Vec<String> {
    results.iter().map(|r| r[0]["status"].as_str().unwrap_or_default().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_pushes_decide_as_if_they_came_one_after_another() {
    let srv = TestServer::demo().await;
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;
    let customer = rep1.ids("customers")[0].clone();
    let territory = rep1.get("customers", &customer).unwrap()["territory_id"].as_str().unwrap().to_string();
    // Every racer last pulled before any of the others wrote.
    let before = srv.cursor_at(srv.head().await);

    // One field, twelve writers: each edit after the first meets the one before it, so
    // each is logged as exactly one conflict, whichever wins.
    let edits = race(&srv, "rep1", |i| {
        vec![json!({"mutation_id": uuid::Uuid::now_v7(), "entity": "customers", "id": customer, "op": "put",
                    "fields": {"notes": format!("note from racer {i}")}, "base_cursor": before, "edited_at_ms": 1})]
    })
    .await;
    assert!(status(&edits).iter().all(|s| s == "applied" || s == "merged"), "{edits:?}");
    let logged: i64 = srv.with_db(|tx| {
        tx.value(
            "SELECT count(*) FROM sync_conflicts WHERE entity = ?1 AND record_id = ?2 AND field = 'notes'",
            fieldsync_server::args!["customers", customer.as_str()],
        )
        .unwrap()
    });
    assert_eq!(logged, RACERS as i64 - 1, "every edit but the first meets exactly one earlier edit");

    // One new customer code, twelve new customers: one gets it, the others are told why not.
    let code = "RACE-0001";
    let creates = race(&srv, "rep1", |i| {
        vec![
            json!({"mutation_id": uuid::Uuid::now_v7(), "entity": "customers", "id": uuid::Uuid::now_v7(), "op": "put",
                    "fields": {"code": code, "name": format!("Racer {i}"), "territory_id": territory},
                    "base_cursor": before, "edited_at_ms": 1}),
        ]
    })
    .await;
    let statuses = status(&creates);
    assert_eq!(statuses.iter().filter(|s| *s == "applied").count(), 1, "{creates:?}");
    for refused in creates.iter().filter(|r| r[0]["status"] == "rejected") {
        assert_eq!(refused[0]["code"], "duplicate", "{refused:?}");
    }
    let holders: i64 = srv.with_db(|tx| {
        tx.value("SELECT count(*) FROM customers WHERE code = ?1", fieldsync_server::args![code]).unwrap()
    });
    assert_eq!(holders, 1);

    // One new visit, created by twelve clients at once (a profile restored on several
    // laptops): it exists once, and every push is answered.
    let visit = uuid::Uuid::now_v7();
    let me = rep1.my_id();
    let visits = race(&srv, "rep1", |i| {
        vec![json!({"mutation_id": uuid::Uuid::now_v7(), "entity": "visits", "id": visit, "op": "put",
                    "fields": {"customer_id": customer, "rep_id": me, "visited_at": "2026-11-30T10:00:00Z",
                               "notes": format!("visit by racer {i}")},
                    "base_cursor": before, "edited_at_ms": 1})]
    })
    .await;
    assert!(status(&visits).iter().all(|s| s == "applied" || s == "merged"), "{visits:?}");
    let rows: i64 = srv.with_db(|tx| {
        tx.value("SELECT count(*) FROM visits WHERE id = ?1", fieldsync_server::args![visit.to_string()]).unwrap()
    });
    assert_eq!(rows, 1);

    // And a client that pulls now has every record exactly as the server does.
    rep1.sync().await;
    srv.assert_matches_fresh_download(&rep1, "after the races").await;
}
