//! The server binary run from a settings file as IT runs it: the file's values apply to every
//! command, flags and FIELDSYNC_* variables override them, a bad file stops it with one
//! sentence naming the file and the key, and `config print` shows no password.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::{listening, workspace_bin};

/// `fieldsync-server ARGS` with only the variables given (none inherited that could point it
/// at another database).
fn server(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(workspace_bin("fieldsync-server"));
    cmd.args(args).env_remove("FIELDSYNC_DATABASE_URL").env_remove("FIELDSYNC_LOG");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write_settings(dir: &Path, body: &str) -> String {
    let path = dir.join("server.toml");
    std::fs::write(&path, body).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_runs_from_a_settings_file_and_flags_and_variables_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = write_settings(
        dir.path(),
        &format!(
            "data = \"{}\"\nlisten = \"127.0.0.1:0\"\nsession_hours = 2\nlog_format = \"json\"\n[limits]\nmax_long_polls = 7\n",
            data.display()
        ),
    );
    // Admin commands find the database through the same file.
    let migrated = server(&["--config", &file, "migrate"], &[]);
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    assert!(data.join("fieldsync.db").exists(), "the file's data directory is used");

    let printed =
        server(&["--config", &file, "config", "print", "--session-hours", "5"], &[("FIELDSYNC_MAX_LONG_POLLS", "9")]);
    let shown = text(&printed.stdout);
    assert!(printed.status.success(), "{}", text(&printed.stderr));
    assert!(shown.contains("session_hours = 5"), "the flag wins over the file: {shown}");
    assert!(shown.contains("max_long_polls = 9"), "the variable wins over the file: {shown}");
    assert!(shown.contains("listen = \"127.0.0.1:0\"") && shown.contains("log_format = \"json\""), "{shown}");

    // Served from the file: JSON log lines on stderr, requests answered.
    let log = dir.path().join("server.log");
    let mut child = Command::new(workspace_bin("fieldsync-server"))
        .args(["--config", &file, "serve"])
        .env_remove("FIELDSYNC_DATABASE_URL")
        .env_remove("FIELDSYNC_LOG")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let url = listening(&mut child);
    let health = reqwest::get(format!("{url}/v1/health")).await.unwrap();
    assert_eq!(health.status(), 200);
    // Stopped as the service manager stops it: it says so in the log on its way out.
    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(term.success());
    assert!(child.wait().unwrap().success(), "a clean stop on SIGTERM");
    let logged = std::fs::read_to_string(&log).unwrap();
    let first = logged.lines().next().unwrap_or_else(|| panic!("nothing logged"));
    let json: serde_json::Value = serde_json::from_str(first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert!(json["level"].is_string() && json["timestamp"].is_string(), "{first}");
}

#[test]
fn a_bad_settings_file_stops_every_command_with_one_sentence_naming_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for (body, key) in [
        ("sesion_hours = 8\n", "sesion_hours"),
        ("listen = \"everywhere\"\n", "listen"),
        ("[limits]\nmax_long_polls = 0\n", "max_long_polls"),
    ] {
        let file = write_settings(dir.path(), body);
        let out = server(&["--config", &file, "--data", &data.display().to_string(), "migrate"], &[]);
        let said = text(&out.stderr);
        assert!(!out.status.success(), "{body}: started anyway");
        assert_eq!(said.trim().lines().count(), 1, "{body}: one sentence: {said}");
        assert!(said.contains(&file) && said.contains(key), "{body}: {said}");
        assert!(!data.exists(), "{body}: nothing was created before the settings were checked");

        let checked = server(&["config", "check", &file], &[]);
        assert!(
            !checked.status.success() && text(&checked.stderr).contains(key),
            "config check: {}",
            text(&checked.stderr)
        );
    }
    let good = write_settings(dir.path(), "session_hours = 12\n");
    let checked = server(&["config", "check", &good], &[]);
    assert!(checked.status.success(), "{}", text(&checked.stderr));
    assert!(text(&checked.stdout).contains("valid"));
}

#[test]
fn config_print_never_shows_the_database_password() {
    let out = server(
        &["config", "print"],
        &[("FIELDSYNC_DATABASE_URL", "postgres://fieldsync:s3cret-pass@db.example:5432/fieldsync")],
    );
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!shown.contains("s3cret-pass") && shown.contains("fieldsync:***@db.example"), "{shown}");
}
