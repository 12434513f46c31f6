//! A first sync killed half way resumes from its last applied page and ends with exactly
//! the rows of an uninterrupted sync.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use fieldsync_client::Engine;
use fieldsync_protocol::Registry;

use crate::support::{snapshot, workspace_bin, TestClient, TestServer};

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_first_sync_resumes_where_it_stopped() {
    let srv = TestServer::demo().await;
    let mut reference = srv.client("rep1").await;
    let total = reference.sync().await.pulled;

    let victim = srv.client("rep1").await;
    let profile = victim.profile();
    drop(victim.engine); // the CLI process owns the profile from here
    let bin = workspace_bin("fieldsync");
    let p = profile.clone();
    let status = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(bin)
            .arg("--profile")
            .arg(&p)
            .args(["sync", "--page-size", "200"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let first = lines.next().expect("a progress line").unwrap();
        assert!(first.starts_with("pulled "), "{first}");
        child.kill().unwrap();
        child.wait().unwrap()
    })
    .await
    .unwrap();
    assert!(!status.success(), "the sync finished before it could be killed; the test proves nothing");

    let engine = Engine::open(&profile).unwrap();
    let cursor = engine.store().cursor().unwrap();
    assert!(!cursor.is_empty(), "no page was committed before the kill");
    drop(engine);

    let bin = workspace_bin("fieldsync");
    let out = Command::new(bin).arg("--profile").arg(&profile).args(["sync", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let resumed = report["pulled"].as_u64().unwrap() as usize;
    assert!(resumed < total, "the second run pulled {resumed} of {total}: it started over");

    let opts = fieldsync_client::EngineOptions { clock: srv.clock.clone(), ..Default::default() };
    let resumed_client = TestClient {
        engine: Engine::open_with(&profile, opts).unwrap(),
        dir: tempfile::tempdir().unwrap(),
        user: "rep1".into(),
    };
    let registry = Registry::standard();
    assert_eq!(snapshot(&resumed_client, &registry), snapshot(&reference, &registry));
}
