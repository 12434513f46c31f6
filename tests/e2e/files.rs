//! What lies on disk is for its owner only: the server's data directory and database, a
//! CLI profile and its session token (older, looser files are fixed), and the admin token
//! file (refused when others can read it). Storage failures behind the admin API are a
//! plain `500 internal`, with the details in the log only.

#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::support::{workspace_bin, TestServer};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

fn loosen(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn the_server_data_directory_and_database_are_private_even_when_they_were_not() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    loosen(&data, 0o755);
    std::fs::write(data.join("fieldsync.db"), b"").unwrap();
    loosen(&data.join("fieldsync.db"), 0o644);
    let out = Command::new(workspace_bin("fieldsync-server")).arg("--data").arg(&data).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(mode(&data), 0o700);
    for name in ["fieldsync.db", "fieldsync.db-wal", "fieldsync.db-shm"] {
        if data.join(name).exists() {
            assert_eq!(mode(&data.join(name)), 0o600, "{name}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cli_profile_and_its_token_are_private_even_when_they_were_not() {
    let srv = TestServer::demo().await;
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("rep1");
    std::fs::create_dir(&profile).unwrap();
    loosen(&profile, 0o755);
    for file in ["fieldsync.db", "session-token"] {
        std::fs::write(profile.join(file), b"").unwrap();
        loosen(&profile.join(file), 0o644);
    }
    let mut engine = fieldsync_client::Engine::open(&profile).unwrap();
    engine.login(&srv.url, "rep1", "demo").await.unwrap();
    assert_eq!(mode(&profile), 0o700);
    for file in ["fieldsync.db", "session-token"] {
        assert_eq!(mode(&profile.join(file)), 0o600, "{file}");
    }
}

#[test]
fn an_admin_token_file_others_can_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("admin-token");
    std::fs::write(&token, "a-long-enough-admin-token\n").unwrap();
    loosen(&token, 0o644);
    let out = Command::new(workspace_bin("fieldsync-server"))
        .arg("--data")
        .arg(dir.path().join("data"))
        .args(["serve", "--listen", "127.0.0.1:0", "--admin-token-file"])
        .arg(&token)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started with a readable token file");
    assert!(err.contains("can be read by other users") && err.contains("chmod 600"), "{err}");
    assert!(!err.contains("a-long-enough-admin-token"), "the secret was printed: {err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_storage_failure_behind_the_admin_api_is_a_plain_internal_error() {
    let srv = TestServer::demo_with(|c| c.admin_token = Some("test-admin-token-123".into())).await;
    // A fault: the table the territory change writes is gone.
    srv.with_db(|tx| tx.execute("DROP TABLE user_territories", fieldsync_server::args![]).unwrap());
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/admin/territories/assign", srv.url))
        .bearer_auth("test-admin-token-123")
        .json(&json!({"territory": "SOUTH", "user": "rep2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "internal");
    assert!(!body.to_string().contains("user_territories"), "internals leaked: {body}");
}
