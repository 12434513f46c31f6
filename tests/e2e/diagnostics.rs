//! What a support desk gets from a rep: `fieldsync diagnostics --to FILE` (the desktop's
//! "Export diagnostics…" writes the same zip) holds the status, the last syncs' outcomes,
//! the app and OS versions and the log files, and never the session token, the password or
//! a record's data, even with the most talkative log level.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::{workspace_bin, TestServer};

/// The CLI logging everything it can (`FIELDSYNC_LOG=trace`), with `stdin`.
fn cli(profile: &Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(workspace_bin("fieldsync"))
        .arg("--profile")
        .arg(profile)
        .args(args)
        .env("FIELDSYNC_LOG", "trace")
        .env("FIELDSYNC_CONFIG", profile.join("no-such-config.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// Every file of the zip at `path`, by name.
fn unzip(path: &Path) -> Vec<(String, String)> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut file = zip.by_index(i).unwrap();
            let mut text = String::new();
            file.read_to_string(&mut text).unwrap();
            (file.name().unwrap().to_string(), text)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_diagnostics_zip_tells_how_syncs_went_and_holds_no_secret_or_record() {
    let mut srv = TestServer::demo().await;
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("rep1");
    let login = ["login", "--server", &srv.url, "--user", "rep1", "--password-stdin"];
    let (ok, _, err) = tokio::task::block_in_place(|| cli(&profile, &login, "demo\n"));
    assert!(ok, "{err}");
    let (ok, _, err) = tokio::task::block_in_place(|| cli(&profile, &["sync"], ""));
    assert!(ok, "{err}");
    let (ok, customers, _) = tokio::task::block_in_place(|| cli(&profile, &["list", "customers", "--json"], ""));
    assert!(ok);
    let customers: Vec<Value> = serde_json::from_str(&customers).unwrap();
    let customer = customers[0].clone();
    let id = customer["id"].as_str().unwrap();
    let (ok, _, err) = tokio::task::block_in_place(|| {
        cli(&profile, &["update", "customers", id, "--set", "notes=Gate code 4711"], "")
    });
    assert!(ok, "{err}");

    // Offline: the edit waits, and the failed sync is logged with its reason.
    let addr = srv.stop_server().await;
    let (ok, _, _) = tokio::task::block_in_place(|| cli(&profile, &["sync"], ""));
    assert!(!ok);
    srv.restart_server(addr).await;

    let zip = dir.path().join("support.zip");
    let to = zip.to_str().unwrap();
    let (ok, out, err) = tokio::task::block_in_place(|| cli(&profile, &["diagnostics", "--to", to], ""));
    assert!(ok, "{err}");
    assert!(out.contains("support.zip"), "{out}");
    let files = unzip(&zip);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for expected in ["README.txt", "about.json", "status.json", "syncs.json", "logs/fieldsync.log"] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    let file = |name: &str| files.iter().find(|(n, _)| n == name).map(|(_, t)| t.clone()).unwrap();
    let json = |name: &str| serde_json::from_str::<Value>(&file(name)).unwrap();

    let about = json("about.json");
    assert_eq!(about["app"], "fieldsync CLI");
    assert!(!about["app_version"].as_str().unwrap().is_empty() && !about["os"].as_str().unwrap().is_empty());
    let status = json("status.json");
    assert_eq!((status["user"].clone(), status["pending"].clone()), (Value::from("rep1"), Value::from(1)), "{status}");
    assert_eq!((status["needs_attention"].clone(), status["signed_in"].clone()), (0.into(), true.into()));
    let syncs = json("syncs.json");
    let outcomes: Vec<&str> = syncs.as_array().unwrap().iter().map(|s| s["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["offline", "ok"], "newest first: {syncs}");
    assert!(syncs[0]["message"].as_str().unwrap().contains("connect"), "{syncs}");
    assert!(syncs[1]["pulled"].as_i64().unwrap() > 100, "{syncs}");
    assert!(file("logs/fieldsync.log").lines().count() > 5, "the log file is empty");

    // No secret and no record in any file, logs included.
    let token = std::fs::read_to_string(profile.join("session-token")).unwrap();
    let token = token.trim();
    assert!(token.len() >= 16);
    let name = customer["name"].as_str().unwrap();
    for (file, text) in &files {
        assert!(!text.contains(token), "{file} holds the session token");
        assert!(!text.contains("demo"), "{file} holds the password");
        assert!(!text.contains(name), "{file} holds a customer's name");
        assert!(!text.contains("Gate code 4711"), "{file} holds a record's value");
    }

    // The zip is never overwritten.
    let (ok, _, err) = tokio::task::block_in_place(|| cli(&profile, &["diagnostics", "--to", to], ""));
    assert!(!ok && err.contains("already exists"), "{err}");
}
