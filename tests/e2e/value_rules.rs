//! Value rules the registry declares (ranges, lengths, uniqueness, who may set which field
//! on a new record) hold on every write path: refused per mutation by the server, with a
//! stable code, and refused at once by the client engine before anything is queued.

use fieldsync_protocol::{DEFAULT_MAX_APPENDED_BYTES, MAX_APPEND_BYTES};
use serde_json::{json, Value};

use crate::support::{put, TestServer};

/// Pushes one mutation and returns (status, code) of its result.
async fn one(srv: &TestServer, user: &str, entity: &str, id: &str, fields: Value) -> (String, String) {
    let r = srv.push_raw(user, vec![put(entity, id, fields)]).await.remove(0);
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (text(&r["status"]), text(&r["code"]))
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_record_obeys_the_same_field_rules_as_an_update() {
    let srv = TestServer::demo().await;
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;
    let north = rep1.list("territories").into_iter().find(|t| t["code"] == "NORTH").unwrap()["id"].clone();
    let existing_code = rep1.list("customers")[0]["code"].clone();
    let customer = |code: &str, extra: Value| {
        let mut f = json!({"code": code, "name": "Fjord Foods", "territory_id": north});
        f.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        f
    };

    let forbidden = ("rejected".to_string(), "forbidden".to_string());
    let big_credit = customer("NEW-1", json!({"credit_limit_cents": 900_000_000_000i64}));
    assert_eq!(one(&srv, "rep1", "customers", &new_id(), big_credit).await, forbidden, "credit limit");
    let std_list = rep1.list("price_lists")[0]["id"].clone();
    let own_list = customer("NEW-2", json!({"price_list_id": std_list}));
    assert_eq!(one(&srv, "rep1", "customers", &new_id(), own_list).await, forbidden, "price list");
    let dup = customer(existing_code.as_str().unwrap(), json!({}));
    let duplicate = ("rejected".to_string(), "duplicate".to_string());
    assert_eq!(one(&srv, "rep1", "customers", &new_id(), dup).await, duplicate);
    let ok = customer("NEW-3", json!({"phone": "+47 555 0101"}));
    assert_eq!(one(&srv, "rep1", "customers", &new_id(), ok).await.0, "applied");

    // The app says so before anything is queued.
    rep1.sync().await;
    let fields = customer("NEW-3", json!({})).as_object().unwrap().clone();
    let err = rep1.engine.create("customers", fields).unwrap_err().to_string();
    assert!(err.contains("already has code NEW-3"), "{err}");
    assert_eq!(rep1.engine.status().unwrap().pending, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn numbers_texts_and_counters_stay_inside_their_declared_bounds() {
    let srv = TestServer::demo().await;
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;
    let customer = rep1.ids("customers")[0].clone();
    let invoice = rep1.ids("invoices")[0].clone();
    let visit = rep1.ids("visits")[0].clone();
    let out_of_range = ("rejected".to_string(), "out_of_range".to_string());
    let too_long = ("rejected".to_string(), "too_long".to_string());

    // A counter delta that would overflow is refused, not wrapped.
    assert_eq!(one(&srv, "rep1", "customers", &customer, json!({"samples_given": 3})).await.0, "applied");
    assert_eq!(one(&srv, "rep1", "customers", &customer, json!({"samples_given": i64::MAX})).await, out_of_range);
    // A negative or zero payment is refused.
    let payment =
        |amount: i64| json!({"invoice_id": invoice, "amount_cents": amount, "paid_on": "2026-11-30", "method": "cash"});
    assert_eq!(one(&srv, "rep1", "payments", &new_id(), payment(-5_000)).await, out_of_range);
    assert_eq!(one(&srv, "rep1", "payments", &new_id(), payment(0)).await, out_of_range);
    assert_eq!(one(&srv, "rep1", "payments", &new_id(), payment(5_000)).await.0, "applied");
    // Plain text has a length limit.
    let long_phone = "5".repeat(5_000);
    assert_eq!(one(&srv, "rep1", "customers", &customer, json!({"phone": long_phone})).await, too_long);

    // One append may add at most MAX_APPEND_BYTES; the field grows to at most its limit.
    let addition = "n".repeat(MAX_APPEND_BYTES as usize + 1);
    assert_eq!(one(&srv, "rep1", "visits", &visit, json!({"notes": addition})).await, too_long);
    let chunk = "n".repeat(MAX_APPEND_BYTES as usize);
    let fits = DEFAULT_MAX_APPENDED_BYTES as usize / (MAX_APPEND_BYTES as usize + 1);
    for _ in 0..fits {
        assert_eq!(one(&srv, "rep1", "visits", &visit, json!({"notes": chunk})).await.0, "applied");
    }
    assert_eq!(one(&srv, "rep1", "visits", &visit, json!({"notes": chunk})).await, too_long, "the notes are full");
    rep1.sync().await;
    let notes = rep1.get("visits", &visit).unwrap()["notes"].as_str().unwrap().len();
    assert!(notes <= DEFAULT_MAX_APPENDED_BYTES as usize, "{notes} bytes pulled");

    // The app refuses the same before queueing.
    let err = rep1.engine.update("visits", &visit, json!({"notes": chunk}).as_object().unwrap().clone()).unwrap_err();
    assert!(err.to_string().contains("full"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn timestamps_must_be_strict_rfc_3339() {
    let srv = TestServer::demo().await;
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;
    let visit = rep1.ids("visits")[0].clone();
    for bad in ["2026-11-25T10:00:00+zz:zz", "2026-11-25T10:00:60Z", "2026-11-25T10:00:00.<script>Z"] {
        let resp = srv.push_response("rep1", vec![put("visits", &visit, json!({"visited_at": bad}))]).await;
        assert_eq!(resp.status(), 422, "{bad}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            (body["error"]["code"].as_str(), body["error"]["field"].as_str()),
            (Some("invalid_value"), Some("visited_at"))
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_absurd_client_clock_is_refused_not_a_server_error() {
    let srv = TestServer::demo().await;
    let body =
        json!({"client_id": uuid::Uuid::now_v7(), "client_time_ms": -9_223_372_036_854_775_807i64, "mutations": []});
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/push", srv.url))
        .bearer_auth(srv.token("rep1").await)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        (body["error"]["code"].as_str(), body["error"]["field"].as_str()),
        (Some("invalid_request"), Some("client_time_ms"))
    );
}
