//! Live updates: a client waiting on a long poll receives a change as soon as another
//! client's push commits, instead of polling.

use serde_json::json;

use crate::support::TestServer;

#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_client_receives_a_change_when_it_is_pushed() {
    let srv = TestServer::demo().await;
    let (mut writer, mut reader) = (srv.client("rep1").await, srv.client("rep2").await);
    writer.sync().await;
    reader.sync().await;
    let id = writer.ids("customers")[0].clone();
    let waiting = tokio::spawn(async move {
        // Far longer than the test may take: returning early means the change woke it.
        let report = reader.engine.wait_for_changes(60_000, &mut |_| {}).await.unwrap();
        (report, reader)
    });
    // Changes the reader cannot see do not wake it with an empty answer.
    let mut rep3 = srv.client("rep3").await;
    rep3.sync().await;
    let south = rep3.ids("customers")[0].clone();
    rep3.set("customers", &south, &[("notes", "south only")]);
    rep3.sync().await;
    writer.set("customers", &id, &[("notes", "live")]);
    writer.sync().await;
    let (report, reader) = waiting.await.unwrap();
    assert_eq!(report.pulled, 1, "{report:?}");
    assert_eq!(reader.get("customers", &id).unwrap()["notes"], json!("live"));
}
