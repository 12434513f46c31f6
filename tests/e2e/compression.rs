//! HTTP compression is negotiated both ways: compressed pull responses for clients that
//! accept them, and zstd request bodies for large pushes.

use serde_json::{json, Value};

use crate::support::TestServer;

#[tokio::test(flavor = "multi_thread")]
async fn pull_responses_are_compressed_when_the_client_accepts_it() {
    let srv = TestServer::demo().await;
    let token = srv.token("rep1").await;
    // A client that does not decode by itself, so the wire form is visible.
    let raw = reqwest::Client::builder().no_gzip().no_zstd().build().unwrap();
    let url = format!("{}/v1/pull?limit=2000", srv.url);
    let plain = raw.get(&url).bearer_auth(&token).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain_len = plain.bytes().await.unwrap().len();
    for encoding in ["zstd", "gzip"] {
        let resp = raw.get(&url).bearer_auth(&token).header("accept-encoding", encoding).send().await.unwrap();
        assert_eq!(resp.headers()["content-encoding"], encoding);
        let packed = resp.bytes().await.unwrap().len();
        assert!(packed * 3 < plain_len, "{encoding}: {packed} bytes vs {plain_len} uncompressed");
    }
    // A small answer goes out as it is, whatever the client accepts.
    let health = raw.get(format!("{}/v1/health", srv.url)).header("accept-encoding", "zstd").send().await.unwrap();
    assert!(health.headers().get("content-encoding").is_none());
    let small = health.bytes().await.unwrap().len();
    assert!(small < usize::from(fieldsync_server::http::COMPRESS_ABOVE_BYTES), "{small} bytes");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_zstd_compressed_push_is_accepted() {
    let srv = TestServer::demo().await;
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;
    let customer = rep1.ids("customers")[0].clone();
    let body = json!({"client_id": uuid::Uuid::now_v7(), "client_time_ms": 1, "mutations": [
        {"mutation_id": uuid::Uuid::now_v7(), "entity": "customers", "id": customer, "op": "put",
         "fields": {"notes": "n".repeat(10_000)}, "base_cursor": "", "edited_at_ms": 1}]});
    let packed = zstd::encode_all(body.to_string().as_bytes(), 3).unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/push", srv.url))
        .bearer_auth(srv.token("rep1").await)
        .header("content-type", "application/json")
        .header("content-encoding", "zstd")
        .body(packed)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let out: Value = resp.json().await.unwrap();
    assert_eq!(out["results"][0]["status"], "applied");
    rep1.sync().await;
    assert_eq!(rep1.get("customers", &customer).unwrap()["notes"].as_str().unwrap().len(), 10_000);
}
