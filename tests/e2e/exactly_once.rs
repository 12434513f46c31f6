//! Exactly-once push: a push whose response is lost is retried (also by a restarted
//! client) and every mutation still takes effect once. Checked over HTTP only.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use fieldsync_client::transport::{BoxFuture, HttpReply, HttpRequest, HttpTransport, Transport};
use fieldsync_client::{ClientError, Engine, EngineOptions};
use serde_json::{json, Value};

use crate::support::TestServer;

/// Delivers requests for real but loses the replies of the first `lose` pushes, like a
/// connection cut after the server committed.
struct LoseReplies {
    inner: HttpTransport,
    lose: AtomicUsize,
}

impl Transport for LoseReplies {
    fn send(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpReply, String>> {
        Box::pin(async move {
            let is_push = req.url.ends_with("/v1/push");
            let reply = self.inner.send(req).await?;
            if is_push && self.lose.load(Ordering::SeqCst) > 0 {
                self.lose.fetch_sub(1, Ordering::SeqCst);
                return Err("connection reset by peer".into());
            }
            Ok(reply)
        })
    }
}

async fn pull_all(srv: &TestServer, token: &str) -> Vec<Value> {
    let http = reqwest::Client::new();
    let mut cursor = String::new();
    let mut pages = Vec::new();
    loop {
        let page: Value = http
            .get(format!("{}/v1/pull?cursor={cursor}&limit=5000", srv.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        cursor = page["cursor"].as_str().unwrap().to_string();
        let more = page["has_more"].as_bool().unwrap();
        pages.push(page);
        if !more {
            return pages;
        }
    }
}

/// Rows of one entity type seen by the user behind `token`, as (id, row) pairs.
async fn server_rows(srv: &TestServer, token: &str, entity: &str) -> Vec<Vec<Value>> {
    let mut rows = Vec::new();
    for page in pull_all(srv, token).await {
        for ch in page["changes"].as_array().into_iter().flatten() {
            if ch["entity"] == entity {
                rows.extend(ch["rows"].as_array().unwrap().iter().map(|r| r.as_array().unwrap().clone()));
            }
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_push_reply_retried_after_a_restart_applies_once() {
    let srv = TestServer::demo().await;
    let faulty = Arc::new(LoseReplies { inner: HttpTransport::new(), lose: AtomicUsize::new(1) });
    let mut rep1 = srv.client_with("rep1", |o| o.transport = faulty.clone()).await;
    let mut rep2 = srv.client("rep2").await;
    rep1.sync().await;
    rep2.sync().await;
    let customer = rep1.ids("customers")[0].clone();

    rep1.set("customers", &customer, &[("phone", "+1 first")]);
    let err = rep1.engine.sync(&mut |_| {}).await.unwrap_err();
    assert!(matches!(err, ClientError::Unavailable(_)), "{err}");
    assert_eq!(rep1.engine.status().unwrap().pending, 1, "the change stays queued until acknowledged");

    // Meanwhile rep2, who had seen rep1's value, changes the phone again.
    rep2.sync().await;
    assert_eq!(rep2.get("customers", &customer).unwrap()["phone"], json!("+1 first"));
    rep2.set("customers", &customer, &[("phone", "+2 second")]);
    rep2.sync().await;

    // rep1 restarts (a new engine on the same profile) and retries the same mutation.
    let profile = rep1.profile();
    let opts = EngineOptions { clock: srv.clock.clone(), ..Default::default() };
    rep1.engine = Engine::open_with(&profile, opts).unwrap();
    let report = rep1.sync().await;
    assert_eq!((report.pushed, report.applied, report.rejected), (1, 1, 0));

    // Over HTTP, as the manager: the retried edit did not overwrite rep2's newer value,
    // and produced no conflict (it had already been applied once).
    let token = srv.token("manager1").await;
    let customers = server_rows(&srv, &token, "customers").await;
    let row = customers.iter().find(|r| r[0] == json!(customer)).unwrap();
    assert!(row.contains(&json!("+2 second")), "{row:?}");
    assert!(server_rows(&srv, &token, "sync_conflicts").await.is_empty());
    rep1.sync().await;
    assert_eq!(rep1.get("customers", &customer).unwrap()["phone"], json!("+2 second"));
}

#[tokio::test(flavor = "multi_thread")]
async fn replaying_a_push_over_http_returns_the_stored_results_and_changes_nothing() {
    let srv = TestServer::demo().await;
    let token = srv.token("rep1").await;
    let rep1_id = {
        let c = srv.client("rep1").await;
        c.my_id()
    };
    let customer = server_rows(&srv, &token, "customers").await[0][0].clone();
    let order = uuid::Uuid::now_v7();
    let body = json!({
        "client_id": uuid::Uuid::now_v7(),
        "client_time_ms": 1_764_000_000_000i64,
        "mutations": [
            {"mutation_id": uuid::Uuid::now_v7(), "entity": "orders", "id": order, "op": "put",
             "fields": {"customer_id": customer, "rep_id": rep1_id, "status": "draft", "order_date": "2026-11-25"},
             "base_cursor": "", "edited_at_ms": 1_763_999_999_000i64},
            {"mutation_id": uuid::Uuid::now_v7(), "entity": "order_lines", "id": uuid::Uuid::now_v7(), "op": "put",
             "fields": {"order_id": order, "product_id": null, "quantity": 2, "unit_price_cents": 100},
             "base_cursor": "", "edited_at_ms": 1_763_999_999_500i64}
        ]
    });
    let http = reqwest::Client::new();
    let send = || http.post(format!("{}/v1/push", srv.url)).bearer_auth(&token).json(&body).send();
    // product_id null on a required field is bad input: the whole batch fails, nothing stored.
    let head = srv.head().await;
    let resp = send().await.unwrap();
    assert_eq!(resp.status(), 422);
    assert_eq!(srv.head().await, head);

    let product = server_rows(&srv, &token, "products").await[0][0].clone();
    let mut body = body.clone();
    body["mutations"][1]["fields"]["product_id"] = product;
    let send = || http.post(format!("{}/v1/push", srv.url)).bearer_auth(&token).json(&body).send();
    let first: Value = send().await.unwrap().json().await.unwrap();
    let head_after_first = srv.head().await;
    let second: Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(first["results"], second["results"]);
    assert_eq!(first["results"][0]["status"], "applied");
    assert_eq!(srv.head().await, head_after_first, "a replay must not write anything");
    let orders = server_rows(&srv, &token, "orders").await;
    assert_eq!(orders.iter().filter(|r| r[0] == json!(order)).count(), 1);
}
