//! `GET /v1/ready`, what a load balancer routes by: ready only while the database answers
//! with the schema this server serves, and not ready, with the reason, otherwise.

use fieldsync_server::args;
use serde_json::Value;

use crate::support::TestServer;

async fn ready(srv: &TestServer) -> (u16, Value) {
    let resp = reqwest::get(format!("{}/v1/ready", srv.url)).await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn ready_only_while_the_database_has_this_servers_schema() {
    let srv = TestServer::demo().await;
    assert_eq!(ready(&srv).await, (200, serde_json::json!({"status": "ready"})));

    // A newer server migrated the shared database.
    srv.with_db(|tx| {
        tx.execute(
            "INSERT INTO schema_migrations (set_name, version, name, checksum) VALUES ('server', 999, 'from_the_future', 'x')",
            args![],
        )
        .unwrap()
    });
    let (status, body) = ready(&srv).await;
    assert_eq!((status, body["status"].as_str()), (503, Some("not_ready")), "{body}");
    assert!(body["reason"].as_str().unwrap().contains("newer"), "{body}");

    // ... or the schema is behind this server: `migrate` was not run.
    srv.with_db(|tx| {
        tx.execute("DELETE FROM schema_migrations WHERE set_name = 'server' AND version >= 6", args![]).unwrap()
    });
    let (status, body) = ready(&srv).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["reason"].as_str().unwrap().contains("fieldsync-server migrate"), "{body}");

    // Liveness is another question: the process still answers.
    let health = reqwest::get(format!("{}/v1/health", srv.url)).await.unwrap();
    assert_eq!(health.status(), 200);
}
/// On PostgreSQL, a restart or failover of the database kills every connection the server
/// holds. Each pooled connection is checked before use, so the next syncs go through on new
/// ones instead of failing on dead ones. (SQLite holds no connections to lose: there the
/// test has nothing to do.)
#[tokio::test(flavor = "multi_thread")]
async fn connections_the_database_killed_are_replaced_before_the_next_request() {
    let srv = TestServer::demo().await;
    let Some(url) = srv.config.database_url.clone() else { return };
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;

    let killed: i64 = crate::support::off_runtime(|| {
        let mut admin = url.parse::<postgres::Config>().unwrap().connect(postgres::NoTls).unwrap();
        let row = admin
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .unwrap();
        row.get(0)
    });
    assert!(killed > 0, "the server held no connection to kill");

    let customer = rep1.ids("customers")[0].clone();
    rep1.set("customers", &customer, &[("notes", "after the failover")]);
    let report = rep1.sync().await;
    assert_eq!((report.pushed, report.applied), (1, 1), "{report:?}");
    assert_eq!(ready(&srv).await.0, 200);
}
