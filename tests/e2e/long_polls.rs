//! Long polls are bounded: two per session (a third answers the oldest at once) and a
//! server-wide cap (beyond it `503` with `Retry-After`), and a poll answers for a change
//! its user can see while changes it cannot see leave it waiting.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{put, TestServer};

/// Opens a long poll from the current head; resolves with (status, body) when answered.
fn poll(srv: &TestServer, token: &str, head: i64) -> tokio::task::JoinHandle<(u16, Value)> {
    let (url, token, head) = (srv.url.clone(), token.to_string(), srv.cursor_at(head));
    tokio::spawn(async move {
        let resp = reqwest::Client::new()
            .get(format!("{url}/v1/pull?cursor={head}&wait_ms=60000"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    })
}

/// Waits until the server holds `n` long polls (each registers before it first reads).
async fn until_open(srv: &TestServer, n: usize) {
    tokio::time::timeout(Duration::from_secs(30), async {
        while srv.open_long_polls() != n {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the server holds {} long polls, expected {n}", srv.open_long_polls()));
}

async fn push_phone(srv: &TestServer, user: &str, customer: &str, phone: &str) {
    let results = srv.push_raw(user, vec![put("customers", customer, json!({"phone": phone}))]).await;
    assert_eq!(results[0]["status"], "applied", "{results:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_holds_two_long_polls_and_a_third_answers_the_oldest() {
    let srv = TestServer::demo().await;
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;
    let customer = rep1.ids("customers")[0].clone();
    let (token, head) = (srv.token("rep1").await, srv.head().await);

    let first = poll(&srv, &token, head);
    until_open(&srv, 1).await;
    let second = poll(&srv, &token, head);
    until_open(&srv, 2).await;
    let third = poll(&srv, &token, head);
    let (status, body) = first.await.unwrap();
    assert_eq!(status, 200, "the oldest is answered at once: {body}");
    assert!(body.get("changes").is_none(), "with nothing new: {body}");
    until_open(&srv, 2).await;
    assert!(!second.is_finished() && !third.is_finished());

    // A change the user can see answers both.
    push_phone(&srv, "rep2", &customer, "+47 555 0303").await;
    for answered in [second.await.unwrap(), third.await.unwrap()] {
        assert_eq!(answered.0, 200);
        assert!(answered.1["changes"].as_array().is_some_and(|c| !c.is_empty()), "{}", answered.1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_wide_cap_answers_503_and_invisible_changes_leave_polls_waiting() {
    let srv = TestServer::demo_with(|c| c.limits.long_polls.max_total = 2).await;
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;
    let north = rep1.ids("customers")[0].clone();
    let mut rep3 = srv.client("rep3").await;
    rep3.sync().await;
    let south = rep3.ids("customers")[0].clone();
    let head = srv.head().await;

    let rep1_poll = poll(&srv, &srv.token("rep1").await, head);
    let rep3_poll = poll(&srv, &srv.token("rep3").await, head);
    until_open(&srv, 2).await;
    let (status, body) = poll(&srv, &srv.token("rep2").await, head).await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "too_many_waits");

    // A NORTH change answers rep1's poll; rep3 (SOUTH) keeps waiting.
    push_phone(&srv, "rep2", &north, "+47 555 0404").await;
    assert_eq!(rep1_poll.await.unwrap().0, 200);
    until_open(&srv, 1).await;
    assert!(!rep3_poll.is_finished(), "rep3 was answered for a change it cannot see");
    push_phone(&srv, "manager1", &south, "+47 555 0505").await;
    let (status, body) = rep3_poll.await.unwrap();
    assert_eq!(status, 200);
    let customers = body["changes"].as_array().unwrap().iter().find(|c| c["entity"] == "customers").cloned();
    assert!(customers.is_some_and(|c| c["rows"][0][0] == south.as_str()), "{body}");
}
