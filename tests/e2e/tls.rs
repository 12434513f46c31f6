//! Transport security as a company network needs it: the server serves HTTPS itself, the
//! CLI signs in and syncs over it trusting a company CA given in the configuration, an
//! unknown CA is refused with a sentence that says what to do, `http://` to another host is
//! refused before anything is sent, a redirect never carries the password elsewhere, and a
//! corporate proxy (configured, or from `HTTPS_PROXY`/`NO_PROXY`) carries the traffic.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{workspace_bin, TestServer};

/// A throwaway CA and a certificate it signed for 127.0.0.1 and localhost.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Fieldsync test CA");
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Runs the `fieldsync` CLI with no system configuration but `env`, and `stdin`.
fn cli(profile: &Path, args: &[&str], env: &[(&str, &Path)], stdin: &str) -> (bool, String, String) {
    let mut cmd = Command::new(workspace_bin("fieldsync"));
    cmd.arg("--profile").arg(profile).args(args).env("FIELDSYNC_CONFIG", profile.join("no-such-config.toml"));
    cmd.env_remove("FIELDSYNC_CA_FILE");
    for var in ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"] {
        cmd.env_remove(var).env_remove(var.to_lowercase());
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_signs_in_and_syncs_over_https_with_the_company_ca_and_refuses_an_unknown_one() {
    let pki = Pki::new();
    let srv = TestServer::demo_with(|c| {
        c.tls = Some(fieldsync_server::serve::TlsFiles { cert: pki.path("cert.pem"), key: pki.path("key.pem") });
    })
    .await;
    assert!(srv.url.starts_with("https://127.0.0.1:"), "{}", srv.url);
    let profile = tempfile::tempdir().unwrap();
    let login = ["login", "--server", &srv.url, "--user", "rep1", "--password-stdin"];

    let (ok, _, err) = cli(profile.path(), &login, &[], "demo\n");
    assert!(!ok, "signed in without trusting the CA");
    assert!(err.contains("not signed by an authority this computer trusts") && err.contains("ca_file"), "{err}");

    let ca = pki.path("ca.pem");
    let (ok, _, err) = cli(profile.path(), &login, &[("FIELDSYNC_CA_FILE", &ca)], "demo\n");
    assert!(ok, "{err}");
    let (ok, out, err) = cli(profile.path(), &["sync", "--json"], &[("FIELDSYNC_CA_FILE", &ca)], "");
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(report["pulled"].as_u64().unwrap() > 100, "{out}");

    // The same CA named in the system configuration works too.
    let config = profile.path().join("config.toml");
    std::fs::write(&config, format!("ca_file = {:?}\n", ca.display().to_string())).unwrap();
    let (ok, _, err) = cli(profile.path(), &["sync"], &[("FIELDSYNC_CONFIG", &config)], "");
    assert!(ok, "{err}");
}

#[test]
fn plain_http_to_another_host_is_refused_before_the_password_is_sent() {
    let profile = tempfile::tempdir().unwrap();
    let login = ["login", "--server", "http://fieldsync.example.com:8787", "--user", "rep1", "--password-stdin"];
    let (ok, _, err) = cli(profile.path(), &login, &[], "demo\n");
    assert!(!ok);
    assert!(err.contains("not encrypted") && err.contains("https://"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_to_another_origin_is_not_followed() {
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere_url = format!("http://{}", elsewhere.local_addr().unwrap());
    let redirector = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirector_url = format!("http://{}", redirector.local_addr().unwrap());
    let target = elsewhere_url.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = redirector.accept().await {
            let mut buf = vec![0u8; 4096];
            let _ = s.read(&mut buf).await;
            let reply = format!(
                "HTTP/1.1 308 Permanent Redirect\r\nLocation: {target}/v1/login\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = s.write_all(reply.as_bytes()).await;
        }
    });
    let profile = tempfile::tempdir().unwrap();
    let profile_path = profile.path().to_path_buf();
    let login = ["login", "--server", &redirector_url, "--user", "rep1", "--password-stdin"];
    let login: Vec<String> = login.iter().map(|s| s.to_string()).collect();
    let (ok, _, err) = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = login.iter().map(String::as_str).collect();
        cli(&profile_path, &args, &[], "demo\n")
    })
    .await
    .unwrap();
    assert!(!ok);
    assert!(err.contains("does not follow") && err.contains(&elsewhere_url), "{err}");
    // Nothing ever reached the other origin.
    let reached = tokio::time::timeout(std::time::Duration::ZERO, elsewhere.accept()).await;
    assert!(reached.is_err(), "the password was sent on to {elsewhere_url}");
}

/// A forwarding HTTP proxy as companies run them: `CONNECT host:port` opens a tunnel (how
/// HTTPS crosses a proxy). It records every target it was asked for.
struct ForwardingProxy {
    url: String,
    targets: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ForwardingProxy {
    async fn start() -> ForwardingProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let targets = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = targets.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                        if client.read(&mut byte).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let head = String::from_utf8_lossy(&head).to_string();
                    let Some(target) = head.strip_prefix("CONNECT ").and_then(|rest| rest.split(' ').next()) else {
                        let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n").await;
                        return;
                    };
                    seen.lock().unwrap().push(target.to_string());
                    let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await else {
                        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n").await;
                        return;
                    };
                    let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await;
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                });
            }
        });
        ForwardingProxy { url, targets }
    }

    fn tunnels(&self) -> usize {
        self.targets.lock().unwrap().len()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_reaches_the_server_through_a_corporate_proxy_from_the_environment_or_the_configuration() {
    let pki = Pki::new();
    let srv = TestServer::demo_with(|c| {
        c.tls = Some(fieldsync_server::serve::TlsFiles { cert: pki.path("cert.pem"), key: pki.path("key.pem") });
    })
    .await;
    let proxy = ForwardingProxy::start().await;
    let profile = tempfile::tempdir().unwrap();
    let ca = pki.path("ca.pem");
    let via_env = [("FIELDSYNC_CA_FILE", ca.as_path()), ("HTTPS_PROXY", Path::new(&proxy.url))];

    let login = ["login", "--server", &srv.url, "--user", "rep1", "--password-stdin"];
    let (ok, _, err) = cli(profile.path(), &login, &via_env, "demo\n");
    assert!(ok, "{err}");
    let (ok, _, err) = cli(profile.path(), &["sync"], &via_env, "");
    assert!(ok, "{err}");
    let server_authority = srv.url.trim_start_matches("https://").to_string();
    let tunnels = proxy.targets.lock().unwrap().clone();
    assert!(tunnels.len() >= 2 && tunnels.iter().all(|t| *t == server_authority), "{tunnels:?}");

    // NO_PROXY sends the same requests straight to the server.
    let before = proxy.tunnels();
    let direct = [via_env[0], via_env[1], ("NO_PROXY", Path::new("127.0.0.1"))];
    let (ok, _, err) = cli(profile.path(), &["sync"], &direct, "");
    assert!(ok, "{err}");
    assert_eq!(proxy.tunnels(), before, "NO_PROXY was not honoured");

    // IT's system configuration names the proxy; no variable is needed.
    let config = profile.path().join("config.toml");
    let settings = format!("ca_file = {:?}\nproxy = {:?}\n", ca.display().to_string(), proxy.url);
    std::fs::write(&config, settings).unwrap();
    let (ok, _, err) = cli(profile.path(), &["sync"], &[("FIELDSYNC_CONFIG", &config)], "");
    assert!(ok, "{err}");
    assert!(proxy.tunnels() > before, "the configured proxy was not used");

    // A proxy that is down is named in the error, so IT knows where to look...
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let down = closed.local_addr().unwrap();
    drop(closed);
    // ...without its password, which a proxy address may carry.
    let settings = format!("ca_file = {:?}\nproxy = \"http://fieldsync:hunter2@{down}\"\n", ca.display().to_string());
    std::fs::write(&config, settings).unwrap();
    let (ok, _, err) = cli(profile.path(), &["sync"], &[("FIELDSYNC_CONFIG", &config)], "");
    assert!(!ok);
    assert!(err.contains(&format!("the proxy http://***@{down}")), "{err}");
    assert!(!err.contains("hunter2"), "the proxy password is in the message: {err}");
}
