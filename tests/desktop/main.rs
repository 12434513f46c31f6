//! The real desktop app in a real window (Xvfb), driven through WebDriver (tauri-driver +
//! WebKitWebDriver) against a real local server. Run by `scripts/desktop-e2e.sh`, which
//! provides the display, a private D-Bus session, an unlocked keyring and tauri-driver.

#[path = "../e2e/support.rs"]
#[allow(dead_code)]
mod support;
mod webdriver;

use std::process::{Child, Command};

use support::{workspace_bin, TestServer};
use webdriver::Session;

/// tauri-driver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start(profile: &std::path::Path, server: &str) -> Driver {
        for var in ["DISPLAY", "DBUS_SESSION_BUS_ADDRESS"] {
            assert!(
                std::env::var_os(var).is_some(),
                "{var} is not set: run the desktop tests through scripts/desktop-e2e.sh"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("tauri-driver")
            .args(["--port", &port.to_string()])
            .env("FIELDSYNC_PROFILE", profile)
            .env("FIELDSYNC_SERVER", server)
            .env("FIELDSYNC_CONFIG", profile.join("no-system-config.toml"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("tauri-driver on PATH (cargo install tauri-driver --locked)");
        // Owned by the Driver at once, so every exit path kills and reaps it.
        let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return driver;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        drop(driver);
        panic!("tauri-driver did not start listening on {port}");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rep_signs_in_searches_and_syncs_in_the_real_window_with_the_token_in_the_keyring() {
    let srv = TestServer::demo().await;
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver::start(profile.path(), &srv.url).await;
    let app = workspace_bin("fieldsync-desktop");
    let s = Session::start(&driver.url, app.to_str().unwrap()).await;

    // Sign in: the server address is pre-filled from the environment.
    let user = s.wait_for("input[name=user]", 30).await;
    s.screenshot("sign-in").await;
    s.type_into(&user, "rep1").await;
    let password = s.wait_for("input[name=password]", 5).await;
    s.type_into(&password, "demo").await;
    let button = s.wait_for("button[type=submit]", 5).await;
    s.click(&button).await;

    // The first sync runs with visible progress and ends up to date.
    s.wait_for("[data-testid=customer-search]", 30).await;
    s.wait_text("[data-testid=sync-summary]", 60, |t| t.contains("up to date")).await;
    let search = s.wait_for("[data-testid=customer-search]", 5).await;
    s.type_into(&search, "Olsen").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while s.count("tbody tr").await == 0 {
        assert!(std::time::Instant::now() < deadline, "searching 'Olsen' found no customers");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    s.screenshot("customers").await;
    let tab = s.wait_for("[data-testid=sync-tab]", 5).await;
    s.click(&tab).await;
    s.wait_text("[data-testid=sync-state]", 10, |t| t.contains("up to date")).await;
    s.screenshot("sync-panel").await;
    s.close().await;

    // The session token is in the keyring and in no file of the profile.
    let account = format!("session:{}", profile.path().display());
    let token = keyring::Entry::new("fieldsync", &account).unwrap().get_password().expect("token in the keyring");
    assert_eq!(token.len(), 64);
    for file in files_under(profile.path()) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()), "the token is in {}", file.display());
    }
    drop(driver);
}
