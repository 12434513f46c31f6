//! Bad input to every endpoint gets a 4xx with `{error: {code, message}}` naming the
//! problem, and stored data stays exactly as it was.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::TestServer;

struct Probe<'a> {
    srv: &'a TestServer,
    http: reqwest::Client,
    token: String,
    /// A valid update placed before the bad mutation: it must not be stored either.
    valid: Value,
}

impl Probe<'_> {
    /// Sends a request and checks status, error code and a fragment of the message.
    async fn expect(&self, req: reqwest::RequestBuilder, status: u16, code: &str, needle: &str) {
        let head = self.srv.head().await;
        let resp = req.send().await.unwrap();
        let got = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or_else(|e| panic!("{code}: body is not JSON: {e}"));
        assert_eq!(got, status, "{code}: {body}");
        assert_eq!(body["error"]["code"], json!(code), "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{code}: message {message:?} lacks {needle:?}");
        assert_eq!(self.srv.head().await, head, "{code}: stored data changed");
    }

    fn push(&self, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/v1/push", self.srv.url))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body)
    }

    fn push_one(&self, mutation: Value) -> reqwest::RequestBuilder {
        let mut valid = self.valid.clone();
        valid["mutation_id"] = json!(uuid::Uuid::now_v7());
        let body = json!({"client_id": uuid::Uuid::now_v7(), "client_time_ms": 1, "mutations": [valid, mutation]});
        self.push(body.to_string())
    }
}

fn mutation(entity: &str, fields: Value) -> Value {
    json!({"mutation_id": uuid::Uuid::now_v7(), "entity": entity, "id": uuid::Uuid::now_v7(), "op": "put",
           "fields": fields, "base_cursor": "", "edited_at_ms": 1})
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_clearly_and_changes_nothing() {
    let srv = TestServer::demo_with(|c| c.token_ttl = Duration::from_secs(3600)).await;
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;
    let before = rep1.list("customers");
    let territory = rep1.list("territories")[0]["id"].clone();
    let valid = json!({"entity": "customers", "id": before[0]["id"], "op": "put", "fields": {"phone": "must not land"},
                       "base_cursor": "", "edited_at_ms": 1});
    let p = Probe { srv: &srv, http: reqwest::Client::new(), token: srv.token("rep1").await, valid };
    let login = |body: &str| {
        p.http.post(format!("{}/v1/login", srv.url)).header("content-type", "application/json").body(body.to_string())
    };

    p.expect(p.push("{\"client_id\": "), 400, "malformed_json", "not valid JSON").await;
    p.expect(
        p.push(r#"{"client_id": "x", "client_time_ms": 1, "mutations": []}"#),
        422,
        "invalid_request",
        "client_id",
    )
    .await;
    p.expect(
        p.push(r#"{"client_id": "0193f1c4-0000-7000-8000-000000000000", "client_time_ms": "soon", "mutations": []}"#),
        422,
        "invalid_request",
        "client_time_ms",
    )
    .await;
    p.expect(
        p.push_one(mutation("customer", json!({"name": "x"}))),
        422,
        "unknown_entity",
        "no entity type 'customer'",
    )
    .await;
    p.expect(
        p.push_one(mutation("customers", json!({"emial": "x"}))),
        422,
        "unknown_field",
        "customers has no field 'emial'",
    )
    .await;
    p.expect(
        p.push_one(mutation("customers", json!({"credit_limit_cents": "lots"}))),
        422,
        "invalid_value",
        "credit_limit_cents must be a whole number",
    )
    .await;
    p.expect(
        p.push_one(mutation("customers", json!({"code": "X1", "name": "New", "territory_id": uuid::Uuid::now_v7()}))),
        422,
        "missing_reference",
        "customers.territory_id refers to territories record",
    )
    .await;
    p.expect(
        p.push_one(mutation("customers", json!({"code": "X1", "territory_id": territory}))),
        422,
        "missing_field",
        "needs a value for 'name'",
    )
    .await;
    let huge = format!(
        r#"{{"client_id": "{}", "client_time_ms": 1, "mutations": [], "pad": "{}"}}"#,
        uuid::Uuid::nil(),
        "x".repeat(9 << 20)
    );
    p.expect(p.push(huge), 413, "body_too_large", "limit").await;
    p.expect(
        p.http.get(format!("{}/v1/pull?cursor=abc", srv.url)).bearer_auth(&p.token),
        400,
        "invalid_cursor",
        "cursor",
    )
    .await;
    p.expect(p.http.get(format!("{}/v1/pull?limit=0", srv.url)).bearer_auth(&p.token), 400, "invalid_query", "limit")
        .await;
    p.expect(
        p.http.get(format!("{}/v1/pull?cursor={}", srv.url, srv.cursor_at(999_999_999))).bearer_auth(&p.token),
        422,
        "history_changed",
        "restored",
    )
    .await;
    p.expect(p.http.get(format!("{}/v1/pull", srv.url)), 401, "unauthenticated", "sign in").await;
    p.expect(login(r#"{"username": "rep1", "password": "wrong"}"#), 401, "wrong_credentials", "wrong").await;
    p.expect(login(r#"{"username": "rep1"}"#), 422, "invalid_request", "password").await;
    p.expect(p.http.get(format!("{}/v2/everything", srv.url)), 404, "not_found", "no such endpoint").await;

    p.expect(p.http.get(format!("{}/v1/push", srv.url)).bearer_auth(&p.token), 405, "method_not_allowed", "method")
        .await;
    p.expect(p.push("{}").header("content-encoding", "br"), 415, "unsupported_media_type", "Content-Encoding").await;

    // A mutation id already used by another user is refused, not answered with their result.
    let mut taken = p.valid.clone();
    let used = uuid::Uuid::now_v7();
    taken["mutation_id"] = json!(used);
    taken["fields"] = json!({"phone": before[0]["phone"]}); // rep2 writes the value it already has
    let one = |m: &Value| json!({"client_id": uuid::Uuid::now_v7(), "client_time_ms": 1, "mutations": [m]}).to_string();
    let rep2 = srv.token("rep2").await;
    let first =
        p.http.post(format!("{}/v1/push", srv.url)).bearer_auth(&rep2).header("content-type", "application/json");
    assert_eq!(first.body(one(&taken)).send().await.unwrap().status(), 200);
    p.expect(p.push(one(&taken)), 422, "duplicate_mutation_id", "another user").await;

    // Expired session: two hours later the one-hour token no longer works.
    srv.clock.advance(2 * 3600 * 1000);
    p.expect(p.push_one(mutation("customers", json!({"phone": "late"}))), 401, "session_expired", "sign in again")
        .await;
    let err = rep1.engine.sync(&mut |_| {}).await.unwrap_err();
    assert!(matches!(err, fieldsync_client::ClientError::NotSignedIn(_)), "{err}");
    assert!(err.to_string().contains("expired") && err.to_string().contains("sign in again"), "{err}");

    let mut fresh = srv.client("rep1").await;
    fresh.sync().await;
    assert!(fresh.list("customers") == before, "stored customers changed");
}
