//! Sessions IT can see and end: sign-out revokes the token, a new password or a disabled
//! account ends every session, `session list` names each laptop and `session revoke` ends
//! one. A revoked laptop is told why and keeps its unsynced changes for the next sign-in.

use std::io::Write;
use std::process::{Command, Stdio};

use fieldsync_client::ClientError;
use serde_json::Value;

use crate::support::{workspace_bin, TestServer};

/// Runs `fieldsync-server` on the test server's database with `input` on stdin.
fn server_cli(srv: &TestServer, args: &[&str], input: &str) -> (bool, String, String) {
    let mut child = Command::new(workspace_bin("fieldsync-server"))
        .args(srv.database_args())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

async fn pull_status(srv: &TestServer, token: &str) -> (u16, Value) {
    let resp =
        reqwest::Client::new().get(format!("{}/v1/pull?limit=1", srv.url)).bearer_auth(token).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn login(srv: &TestServer, user: &str, password: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/login", srv.url))
        .json(&serde_json::json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_out_revokes_the_token_on_the_server() {
    let srv = TestServer::demo().await;
    let mut rep1 = srv.client("rep1").await;
    let (_, token, _) = rep1.engine.session_snapshot().unwrap();
    assert_eq!(pull_status(&srv, &token).await.0, 200);
    assert!(rep1.engine.sign_out().await.unwrap(), "the server was told");
    let (status, body) = pull_status(&srv, &token).await;
    assert_eq!(status, 401, "a signed-out token is dead: {body}");
    assert!(!rep1.engine.signed_in().unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_password_ends_every_session_and_pending_changes_survive_to_the_next_sign_in() {
    let srv = TestServer::demo().await;
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;
    let customer = rep1.ids("customers")[0].clone();

    let (ok, _, err) = server_cli(&srv, &["user", "password", "rep1", "--password-stdin"], "short\n");
    assert!(!ok && err.contains("at least 10 characters"), "{err}");
    let (ok, _, err) = server_cli(
        &srv,
        &["user", "add", "rep7", "--role", "rep", "--territory", "NORTH", "--password-stdin"],
        "tiny\n",
    );
    assert!(!ok && err.contains("at least 10 characters"), "user add: {err}");

    rep1.set("customers", &customer, &[("phone", "+47 555 0199")]);
    let (ok, out, err) = server_cli(&srv, &["user", "password", "rep1", "--password-stdin"], "a long new password\n");
    assert!(ok, "{err}");
    assert!(out.contains("1 session(s) revoked"), "{out}");

    let err = rep1.engine.sync(&mut |_| {}).await.unwrap_err();
    assert!(matches!(err, ClientError::NotSignedIn(_)), "{err}");
    assert!(err.to_string().contains("signed out by your administrator"), "{err}");
    assert_eq!(rep1.engine.status().unwrap().pending, 1, "the unsynced change is kept");
    assert_eq!(login(&srv, "rep1", "demo").await.0, 401, "the old password is gone");

    rep1.engine.login(&srv.url, "rep1", "a long new password").await.unwrap();
    let report = rep1.sync().await;
    assert_eq!((report.pushed, report.applied), (1, 1));
    let phone = srv.with_db(|tx| {
        tx.value::<String>("SELECT phone FROM customers WHERE id = ?1", fieldsync_server::args![&customer]).unwrap()
    });
    assert_eq!(phone, "+47 555 0199");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disabled_user_cannot_sign_in_until_enabled() {
    let srv = TestServer::demo().await;
    let rep2 = srv.client("rep2").await;
    let (_, token, _) = rep2.engine.session_snapshot().unwrap();

    let (ok, out, err) = server_cli(&srv, &["user", "disable", "rep2"], "");
    assert!(ok && out.contains("1 session(s) revoked"), "{out}{err}");
    let (status, body) = pull_status(&srv, &token).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("session_revoked")));
    assert!(body["error"]["message"].as_str().unwrap().contains("disabled"), "{body}");

    let (status, body) = login(&srv, "rep2", "demo").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("account_disabled")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("ask your administrator"), "{body}");
    // A wrong password learns nothing about the account.
    assert_eq!(login(&srv, "rep2", "not it").await.1["error"]["code"], "wrong_credentials");

    assert!(server_cli(&srv, &["user", "enable", "rep2"], "").0);
    assert_eq!(login(&srv, "rep2", "demo").await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn it_lists_each_laptop_and_revokes_one_of_them() {
    let srv = TestServer::demo().await;
    let (mut laptop, mut desk) = (srv.client("rep1").await, srv.client("rep1").await);
    srv.client("rep2").await;

    let (ok, out, err) = server_cli(&srv, &["session", "list", "--user", "rep1", "--json"], "");
    assert!(ok, "{err}");
    let sessions: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(sessions.len(), 2, "{out}");
    let laptop_client = laptop.engine.store().meta("client_id").unwrap().unwrap();
    let mine = sessions.iter().find(|s| s["client_id"] == laptop_client.as_str()).expect("the laptop's session");
    assert_eq!(mine["user"], "rep1");
    assert_eq!(mine["app_version"], env!("CARGO_PKG_VERSION"));
    assert!(mine["device"].as_str().is_some_and(|d| !d.is_empty()), "{mine}");
    for key in ["created_at", "last_seen_at", "expires_at"] {
        assert!(mine[key].as_str().is_some_and(|t| t.ends_with('Z')), "{key}: {mine}");
    }
    let (ok, table, _) = server_cli(&srv, &["session", "list"], "");
    assert!(ok && table.contains("LAST SEEN") && table.contains("rep2"), "{table}");

    let id = mine["id"].as_str().unwrap();
    let (ok, out, err) = server_cli(&srv, &["session", "revoke", id], "");
    assert!(ok && out.contains("1 session(s) revoked"), "{out}{err}");
    let err = laptop.engine.sync(&mut |_| {}).await.unwrap_err();
    assert!(err.to_string().contains("signed out by your administrator"), "{err}");
    desk.sync().await; // the other session of the same user is untouched

    let (ok, _, err) = server_cli(&srv, &["session", "revoke", id], "");
    assert!(!ok && err.contains("no session in use matches"), "{err}");
    let (ok, out, _) = server_cli(&srv, &["session", "revoke", "--user", "rep1"], "");
    assert!(ok && out.contains("1 session(s) revoked"), "{out}");
    assert!(desk.engine.sync(&mut |_| {}).await.is_err());
}
