//! The integration API an ERP uses: scoped, revocable tokens; import and export over HTTP
//! with the CLI's semantics; bounded bodies and queue; webhooks signed with HMAC-SHA256,
//! retried with backoff until the receiver takes them, and logged.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use crate::support::{off_runtime, put, TestServer};

/// `integration add` through the real CLI; returns the token it prints.
fn integration_token(srv: &TestServer, name: &str, scopes: &str) -> String {
    let (ok, out, err) = srv.server_cli(&["integration", "add", name, "--scopes", scopes]);
    assert!(ok, "{err}");
    out.lines().last().unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_integration_token_imports_and_exports_within_its_scopes_until_revoked() {
    let srv = TestServer::demo().await;
    let token = off_runtime(|| integration_token(&srv, "erp", "import:price_list_items,export:orders"));
    assert!(token.starts_with("fsi_"), "{token}");
    let http = reqwest::Client::new();
    let import = |entity: &str, body: &str, token: &str| {
        http.post(format!("{}/v1/integration/import/{entity}", srv.url))
            .bearer_auth(token)
            .header("Content-Type", "text/csv")
            .body(body.to_string())
            .send()
    };
    let csv = "price_list_id,product_id,unit_price_cents\nSTD,SKU-0001,4321\nSTD,SKU-0002,-1\n";
    let r = import("price_list_items", csv, &token).await.unwrap();
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.unwrap();
    assert_eq!((report["updated"].as_u64(), report["rejected"].as_u64()), (Some(1), Some(1)), "{report}");
    assert_eq!(report["errors"][0]["line"], 3, "{report}");
    assert_eq!(report["errors"][0]["field"], "unit_price_cents", "{report}");
    assert!(report["rejected_csv"].as_str().unwrap().contains("STD,SKU-0002,-1,"), "{report}");

    // Outside its scopes: 403 naming what it may do.
    let r = import("customers", "code,name,territory_id\nX,Y,NORTH\n", &token).await.unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("import:customers"), "{body}");
    // A user's session token is not an integration token.
    let session = srv.token("manager1").await;
    assert_eq!(import("price_list_items", csv, &session).await.unwrap().status(), 401);
    // Bad CSV header: 400 naming the column.
    let r = import("price_list_items", "price_list_id,sku\nSTD,SKU-1\n", &token).await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("'sku'"), "{body}");

    // Export pages follow the cursor; every approved order arrives once, with codes.
    let mut cursor = 0;
    let mut seen = Vec::new();
    loop {
        let page: Value = http
            .get(format!("{}/v1/integration/export/orders?status=approved&limit=25&cursor={cursor}", srv.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for r in page["records"].as_array().unwrap() {
            assert!(r["customer_id"].as_str().unwrap().starts_with('C'), "a code, not an id: {r}");
            assert!(!r["order_lines"].as_array().unwrap().is_empty());
            seen.push(r["id"].as_str().unwrap().to_string());
        }
        cursor = page["next_cursor"].as_i64().unwrap();
        if page["more"] == false {
            break;
        }
    }
    let approved: BTreeSet<String> = srv
        .with_db(|tx| tx.query("SELECT id FROM orders WHERE status = 'approved'", &[], |r| r.get(0)).unwrap())
        .into_iter()
        .collect();
    assert_eq!(seen.len(), approved.len(), "no order twice");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), approved);
    let r = http.get(format!("{}/v1/integration/export/customers", srv.url)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 403);
    // A page is at most export::MAX_PAGE records.
    let too_many = fieldsync_server::export::MAX_PAGE + 1;
    let r = http
        .get(format!("{}/v1/integration/export/orders?limit={too_many}", srv.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let (_, list, _) = off_runtime(|| srv.server_cli(&["integration", "list", "--json"]));
    let list: Value = serde_json::from_str(&list).unwrap();
    assert!(list[0]["last_used_at"].is_string(), "{list}");
    let (ok, _, err) = off_runtime(|| srv.server_cli(&["integration", "revoke", "erp"]));
    assert!(ok, "{err}");
    let r = import("price_list_items", csv, &token).await.unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "token_revoked", "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn import_bodies_and_the_import_queue_are_bounded() {
    let srv = TestServer::demo_with(|c| {
        c.limits.integration.max_import_bytes = 4096;
        c.limits.integration.queued_imports = 0;
    })
    .await;
    let token = off_runtime(|| integration_token(&srv, "erp", "import:*"));
    let http = reqwest::Client::new();
    let url = format!("{}/v1/integration/import/customers", srv.url);
    let big = format!("code,name,territory_id\n{}", "C-1,Big Name,NORTH\n".repeat(400));
    let r = http.post(&url).bearer_auth(&token).body(big).send().await.unwrap();
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "body_too_large", "{body}");

    // One import holds the only place while its body trickles in; the next is turned away.
    let addr = srv.url.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/integration/import/customers HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: text/csv\r\nContent-Length: 60\r\n\r\ncode,name,territory_id\n"
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    while srv.imports_in_use() == 0 {
        tokio::task::yield_now().await;
    }
    let r = http.post(&url).bearer_auth(&token).body("code,name,territory_id\n").send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    drop(slow);
    while srv.imports_in_use() != 0 {
        tokio::task::yield_now().await;
    }
    let r =
        http.post(&url).bearer_auth(&token).body("code,name,territory_id\nCX-77,Seven,NORTH\n").send().await.unwrap();
    assert_eq!(r.status(), 200, "the place is free again once the slow upload gave up");
}

/// A webhook receiver on 127.0.0.1 that refuses the first `refuse` attempts of each
/// delivery with a 500.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<(axum::http::HeaderMap, String, u16)>>>,
    news: Arc<tokio::sync::Notify>,
}

async fn receiver(refuse: usize) -> Receiver {
    let got: Arc<Mutex<Vec<(axum::http::HeaderMap, String, u16)>>> = Arc::default();
    let news = Arc::new(tokio::sync::Notify::new());
    let (g, n) = (got.clone(), news.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let (g, n) = (g.clone(), n.clone());
            async move {
                let mut all = g.lock().unwrap();
                let delivery = headers.get("fieldsync-delivery").cloned();
                let earlier = all.iter().filter(|(h, _, _)| h.get("fieldsync-delivery").cloned() == delivery).count();
                let status = if earlier < refuse { 500 } else { 200 };
                all.push((headers, body, status));
                n.notify_one();
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url, got, news }
}

impl Receiver {
    /// Waits until `n` requests have arrived (a minute at most).
    async fn wait_for(&self, n: usize) {
        tokio::time::timeout(Duration::from_secs(60), async {
            while self.got.lock().unwrap().len() < n {
                self.news.notified().await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{n} webhook requests did not arrive: {}", self.got.lock().unwrap().len()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_are_signed_retried_until_taken_and_logged() {
    let srv = TestServer::demo_with(|c| {
        c.limits.webhooks.retry_base = Duration::from_millis(20);
        c.limits.webhooks.max_attempts = 3;
        c.limits.webhooks.timeout = Duration::from_millis(500);
    })
    .await;
    let hook = receiver(2).await;
    let (ok, out, err) =
        off_runtime(|| srv.server_cli(&["webhook", "add", &hook.url, "--events", "order.approved,order.rejected"]));
    assert!(ok, "{err}");
    let secret = out.lines().last().unwrap().trim().to_string();
    assert!(secret.starts_with("whsec_"), "{out}");
    // A webhook to a port nobody listens on: given up after max_attempts.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/gone", l.local_addr().unwrap())
    };
    let (ok, _, err) = off_runtime(|| srv.server_cli(&["webhook", "add", &dead, "--events", "order.approved"]));
    assert!(ok, "{err}");
    // And one that takes the connection but never answers: each attempt ends at the timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/slow", silent.local_addr().unwrap());
    let (ok, _, err) = off_runtime(|| srv.server_cli(&["webhook", "add", &silent_url, "--events", "order.rejected"]));
    assert!(ok, "{err}");
    let (bad, _, err) = off_runtime(|| srv.server_cli(&["webhook", "add", &hook.url, "--events", "order.shipped"]));
    assert!(!bad && err.contains("order.approved"), "unknown events are refused, listing the real ones: {err}");

    let mut manager = srv.client("manager1").await;
    manager.sync().await;
    let submitted = manager.ids_where("orders", "status", "submitted");
    let draft = manager.list("orders").into_iter().find(|o| o["status"] == "draft").unwrap()["id"].clone();
    let results = srv
        .push_raw(
            "manager1",
            vec![
                put("orders", &submitted[0], json!({"status": "approved"})),
                put("orders", &submitted[1], json!({"status": "rejected"})),
                // Refused (a draft cannot be approved): no event.
                put("orders", draft.as_str().unwrap(), json!({"status": "approved"})),
            ],
        )
        .await;
    assert_eq!(results[2]["status"], "rejected");
    // Two events, each refused twice then taken: 6 requests reach the receiver.
    hook.wait_for(6).await;
    let got = hook.got.lock().unwrap().clone();
    let mut by_delivery: std::collections::BTreeMap<String, Vec<u16>> = Default::default();
    for (headers, body, status) in &got {
        let header = |n: &str| headers.get(n).unwrap().to_str().unwrap().to_string();
        let sig = header("fieldsync-signature");
        let t: i64 = sig.split(',').next().unwrap().trim_start_matches("t=").parse().unwrap();
        assert_eq!(sig, fieldsync_server::webhooks::signature(&secret, t, body), "signed with the webhook's secret");
        let payload: Value = serde_json::from_str(body).unwrap();
        assert_eq!(payload["id"].as_str().unwrap(), header("fieldsync-delivery"));
        assert_eq!(payload["event"].as_str().unwrap(), header("fieldsync-event"));
        let order = &payload["data"];
        let expected = if payload["event"] == "order.approved" { &submitted[0] } else { &submitted[1] };
        assert_eq!(order["id"].as_str().unwrap(), expected);
        assert_eq!(order["status"].as_str().unwrap(), payload["event"].as_str().unwrap().trim_start_matches("order."));
        assert!(order["customer_id"].as_str().unwrap().starts_with('C') && order["order_lines"].is_array());
        by_delivery.entry(header("fieldsync-delivery")).or_default().push(*status);
    }
    assert_eq!(by_delivery.len(), 2, "one delivery per event, retried under the same id: {by_delivery:?}");
    assert!(by_delivery.values().all(|s| s == &[500, 500, 200]), "{by_delivery:?}");

    // The log: both delivered, the dead one failed after 3 attempts.
    let log = loop {
        let (_, out, _) = off_runtime(|| srv.server_cli(&["webhook", "deliveries", "--json"]));
        let log: Vec<Value> = serde_json::from_str(&out).unwrap();
        if log.iter().all(|d| d["status"] != "pending") {
            break log;
        }
        tokio::task::yield_now().await;
    };
    let status = |event: &str, s: &str| log.iter().filter(|d| d["event"] == event && d["status"] == s).count();
    assert_eq!(status("order.approved", "delivered"), 1, "{log:?}");
    assert_eq!(status("order.rejected", "delivered"), 1, "{log:?}");
    assert_eq!(status("order.approved", "failed"), 1, "{log:?}");
    assert_eq!(status("order.rejected", "failed"), 1, "{log:?}");
    let failed = |event: &str| log.iter().find(|d| d["status"] == "failed" && d["event"] == event).unwrap();
    assert_eq!(failed("order.approved")["attempts"], 3);
    assert!(failed("order.approved")["last_error"].as_str().unwrap().contains("could not connect"));
    assert_eq!(failed("order.rejected")["attempts"], 3);
    assert_eq!(failed("order.rejected")["last_error"], "no answer in time", "the receiver never answered");
    drop(silent);
    for delivered in log.iter().filter(|d| d["status"] == "delivered") {
        assert_eq!((delivered["attempts"].as_i64(), delivered["last_status"].as_i64()), (Some(3), Some(200)));
    }
}
