//! An anonymous attacker against the real `fieldsync-server` process, started with
//! `ulimit -n 1024` as a modest production box would have: half-open sockets, sign-in
//! floods and password guessing. The server must stay inside its bounds and keep serving.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{fresh_postgres_database, listening, workspace_bin};

/// A `fieldsync-server serve` process on the demo data, killed on drop.
struct ServerProcess {
    child: Child,
    url: String,
    addr: std::net::SocketAddr,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl ServerProcess {
    /// Seeds a fresh database and serves it with `ulimit -n 1024` and `extra` serve flags.
    fn start(extra: &[&str]) -> ServerProcess {
        let dir = tempfile::tempdir().unwrap();
        let db_args = match fresh_postgres_database() {
            Some(url) => vec!["--database".to_string(), url],
            None => vec!["--data".to_string(), dir.path().join("data").display().to_string()],
        };
        let bin = workspace_bin("fieldsync-server");
        let seeded = Command::new(&bin).args(&db_args).args(["seed", "--demo"]).output().unwrap();
        assert!(seeded.status.success(), "seed: {}", String::from_utf8_lossy(&seeded.stderr));
        let stderr = dir.path().join("server.log");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"ulimit -n 1024 && exec "$0" "$@""#)
            .arg(&bin)
            .args(&db_args)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let url = listening(&mut child);
        let addr = url.trim_start_matches("http://").parse().unwrap();
        ServerProcess { child, url, addr, stderr, _dir: dir }
    }

    /// The process's peak resident memory, in MiB (VmHWM).
    fn peak_rss_mib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status");
        kib / 1024
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Our own file limit must fit the sockets the attack opens.
fn raise_file_limit() {
    rlimit::increase_nofile_limit(8192).expect("raise the test's open-file limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_header_sockets_are_closed_and_the_server_keeps_answering() {
    raise_file_limit();
    let server = ServerProcess::start(&[]);
    let started = Instant::now();
    let mut sockets = Vec::new();
    for _ in 0..1100 {
        let mut s = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
        // Over the connection cap the server may already have closed it; that is fine.
        let _ = s.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n").await;
        sockets.push(s);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for (i, mut s) in sockets.into_iter().enumerate() {
        let mut buf = [0u8; 1024];
        let closed = tokio::time::timeout_at(deadline, async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "socket {i} of 1100 still open after 60 s");
    }
    println!("1100 half-open sockets closed within {:.1} s", started.elapsed().as_secs_f64());
    let health = reqwest::get(format!("{}/v1/health", server.url)).await.expect("server still answers");
    assert_eq!(health.status(), 200);
    let log = server.log();
    assert!(!log.contains("Too many open files"), "the server ran out of files:\n{log}");
    // 1100 sockets are more than `ulimit -n 1024` leaves room for: the cap closed the rest.
    assert!(log.contains("connection cap reached"), "the connection cap was never reached:\n{log}");
}

#[tokio::test]
async fn a_request_body_that_trickles_is_answered_408() {
    let server = crate::support::TestServer::demo_with(|c| {
        c.limits.connections.body_timeout = Duration::from_millis(500);
    })
    .await;
    let addr = server.url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = "POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{";
    s.write_all(head.as_bytes()).await.unwrap();
    let mut reply = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), s.read_to_string(&mut reply)).await;
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("\"request_timeout\""), "{reply}");
}

async fn login(client: &reqwest::Client, url: &str, user: &str, password: &str) -> reqwest::Response {
    client.post(format!("{url}/v1/login")).json(&json!({"username": user, "password": password})).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_flood_stays_in_bounded_memory_and_guessing_is_rate_limited() {
    raise_file_limit();
    // Every flood attempt gets through the address limit here, so that the password-check
    // queue is what bounds memory; the account limit stays at its default.
    let server = ServerProcess::start(&["--login-per-address", "100000", "--login-window-secs", "10"]);
    let client = reqwest::Client::new();
    let token = login(&client, &server.url, "rep1", "demo").await.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();

    let flood: Vec<_> = (0..512)
        .map(|i| {
            let (client, url) = (client.clone(), server.url.clone());
            tokio::spawn(async move { login(&client, &url, &format!("guess{i}"), "wrong password").await.status() })
        })
        .collect();
    // An existing session keeps syncing while the flood runs.
    let mut slowest = Duration::ZERO;
    while flood.iter().any(|f| !f.is_finished()) {
        let t = Instant::now();
        let pull = client.get(format!("{}/v1/pull?limit=1", server.url)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(pull.status(), 200);
        slowest = slowest.max(t.elapsed());
    }
    let mut statuses = std::collections::BTreeMap::new();
    for f in flood {
        *statuses.entry(f.await.unwrap().as_u16()).or_insert(0) += 1;
    }
    let peak = server.peak_rss_mib();
    println!("512 concurrent wrong sign-ins: {statuses:?}; peak RSS {peak} MiB; slowest pull {slowest:?}");
    assert!(statuses.keys().all(|s| [401, 503].contains(s)), "{statuses:?}");
    assert!(peak < 300, "peak RSS {peak} MiB");
    assert!(slowest < Duration::from_secs(1), "a pull took {slowest:?} during the flood");

    // Guessing one account: after its allowance even the right password waits.
    for _ in 0..5 {
        assert_eq!(login(&client, &server.url, "rep1", "guess").await.status(), 401);
    }
    let refused = login(&client, &server.url, "rep1", "demo").await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_attempts");
    assert!(body["error"]["message"].as_str().unwrap().contains("wait"), "{body}");
    // Once the window has passed (the client waits as Retry-After says), it works.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(login(&client, &server.url, "rep1", "demo").await.status(), 200);
}
