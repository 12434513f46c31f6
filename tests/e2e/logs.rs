//! The server's JSON log as a support desk reads it: one line per request with its request
//! id, user, path, status and duration, and the client's sync id, so one rep's sync can be
//! followed; and never a password, a session token or a record value.

use std::io::Write;
use std::process::{Command, Stdio};

use fieldsync_client::Engine;
use serde_json::Value;

use crate::support::{listening, workspace_bin};

const PASSWORD: &str = "Unlikely-Passw0rd-4711";
const PHONE: &str = "+47 5550 SECRET 99";

fn server(data: &std::path::Path) -> Command {
    let mut cmd = Command::new(workspace_bin("fieldsync-server"));
    cmd.arg("--data").arg(data).env_remove("FIELDSYNC_DATABASE_URL").env_remove("FIELDSYNC_LOG");
    cmd
}

#[tokio::test(flavor = "multi_thread")]
async fn one_reps_sync_can_be_followed_in_the_log_and_no_secret_is_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert!(server(&data).args(["seed", "--demo"]).status().unwrap().success());
    let mut add = server(&data)
        .args(["user", "add", "logcheck", "--role", "rep", "--territory", "NORTH", "--password-stdin"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    assert!(add.wait().unwrap().success());

    let log = dir.path().join("server.log");
    let mut child = server(&data)
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let url = listening(&mut child);

    let mut engine = Engine::open(&dir.path().join("profile")).unwrap();
    engine.login(&url, "logcheck", PASSWORD).await.unwrap();
    engine.sync(&mut |_| {}).await.unwrap();
    let customer = engine.list("customers", &[]).unwrap()[0]["id"].as_str().unwrap().to_string();
    let fields = engine.parse_sets("customers", &[("phone".into(), PHONE.into())]).unwrap();
    engine.update("customers", &customer, fields).unwrap();
    engine.sync(&mut |_| {}).await.unwrap();
    let (_, token, _) = engine.session_snapshot().unwrap();

    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();

    // Nothing secret, nothing a rep typed.
    for (secret, what) in [(PASSWORD, "the password"), (token.as_str(), "the session token"), (PHONE, "a record value")]
    {
        assert!(!text.contains(secret), "{what} is in the server log");
    }

    // Every answered request is one line with its request id, path, status and duration.
    let lines: Vec<Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let answered: Vec<&Value> = lines.iter().filter(|l| l["message"] == "answered").collect();
    assert!(answered.len() >= 4, "{text}");
    for a in &answered {
        let span = &a["span"];
        assert!(span["request_id"].as_str().is_some_and(|id| id.len() == 36), "{a}");
        assert!(span["path"].as_str().is_some_and(|p| p.starts_with("/v1/")), "{a}");
        assert!(a["status"].is_u64() && a["duration_ms"].is_u64(), "{a}");
    }
    // The push that carried the phone number: the user and the sync id, shared with the
    // pull of the same sync.
    let push = answered.iter().rev().find(|a| a["span"]["path"] == "/v1/push").expect("the push is logged");
    assert_eq!(push["span"]["user"], "logcheck", "{push}");
    assert_eq!(push["status"], 200);
    let sync_id = push["span"]["sync_id"].as_str().unwrap();
    assert_eq!(sync_id.len(), 36, "{push}");
    assert!(
        answered.iter().any(|a| a["span"]["path"] == "/v1/pull" && a["span"]["sync_id"] == sync_id),
        "the pull of the same sync carries the same id"
    );
    let ids: std::collections::HashSet<&str> =
        answered.iter().filter_map(|a| a["span"]["request_id"].as_str()).collect();
    assert_eq!(ids.len(), answered.len(), "each request has its own id");
}
