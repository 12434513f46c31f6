//! How the engine talks HTTP, behind a small trait so tests can inject lost responses,
//! delays and cut connections. The shipped implementation is reqwest.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub token: Option<String>,
    /// JSON body, already serialised.
    pub body: Option<Vec<u8>>,
    /// The sync this request is part of, sent as [`SYNC_ID_HEADER`] so the server's log
    /// lines of one sync can be found from the client's.
    pub sync_id: Option<String>,
}

/// The header naming the sync a request belongs to (docs/sync-protocol.md §4).
pub const SYNC_ID_HEADER: &str = "Fieldsync-Sync-Id";

impl HttpRequest {
    pub fn get(url: String, token: Option<&str>) -> HttpRequest {
        HttpRequest { method: Method::Get, url, token: token.map(String::from), body: None, sync_id: None }
    }

    /// This request as part of the sync `id`.
    pub fn in_sync(mut self, id: &str) -> HttpRequest {
        self.sync_id = Some(id.to_string());
        self
    }
}

#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    pub body: Vec<u8>,
    /// Where a redirect points (`Location`), which the client reports but never follows.
    pub location: Option<String>,
}

pub trait Transport: Send + Sync {
    /// Sends one request. `Err` means no reply arrived (connection refused, cut, timed out).
    fn send(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpReply, String>>;
}

/// Bodies above this size are sent zstd-compressed.
const COMPRESS_ABOVE: usize = 2048;

/// reqwest over HTTP/1.1 with gzip/zstd response decompression. TLS trusts the OS
/// certificate store plus the system configuration's `ca_file`; redirects are never
/// followed (a password must not be re-sent to wherever a server points).
pub struct HttpTransport {
    client: reqwest::Client,
    /// Why the system configuration cannot be used; every request fails with it.
    broken: Option<String>,
    /// The configured proxy without its password, named when a connection fails.
    proxy: Option<String>,
}

impl HttpTransport {
    /// Trusting the OS certificate store only, with the proxy variables of the environment.
    pub fn new() -> Self {
        Self::for_config(&crate::config::SystemConfig::default())
    }

    /// Trusting the OS store and the configured CA file, through the configured proxy.
    /// A setting that cannot be used makes every request fail with a sentence naming it.
    pub fn for_config(config: &crate::config::SystemConfig) -> Self {
        match Self::client(config) {
            Ok(client) => {
                HttpTransport { client, broken: None, proxy: config.proxy.as_deref().map(crate::config::redact_url) }
            }
            Err(e) => HttpTransport {
                client: reqwest::Client::builder().build().expect("reqwest builds with default settings"),
                broken: Some(e),
                proxy: None,
            },
        }
    }

    fn client(config: &crate::config::SystemConfig) -> Result<reqwest::Client, String> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("fieldsync-client/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("the CA file {} holds no usable PEM certificate: {e}", path.display()))?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        // A configured proxy replaces the environment's; reqwest reads HTTPS_PROXY,
        // HTTP_PROXY, ALL_PROXY and NO_PROXY itself when there is none.
        if let Some(url) = &config.proxy {
            let no_proxy = match &config.no_proxy {
                Some(list) => reqwest::NoProxy::from_string(list),
                None => reqwest::NoProxy::from_env(),
            };
            let shown = crate::config::redact_url(url);
            let proxy = reqwest::Proxy::all(url)
                .map_err(|e| format!("the proxy address {shown} in the system configuration is not usable: {e}"))?
                .no_proxy(no_proxy);
            builder = builder.proxy(proxy);
        }
        builder.build().map_err(|e| format!("cannot set up connections with the system configuration: {e}"))
    }
}

impl Default for HttpTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl Transport for HttpTransport {
    fn send(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpReply, String>> {
        Box::pin(async move {
            if let Some(broken) = &self.broken {
                return Err(broken.clone());
            }
            let mut builder = match req.method {
                Method::Get => self.client.get(&req.url),
                Method::Post => self.client.post(&req.url),
            };
            if let Some(token) = &req.token {
                builder = builder.bearer_auth(token);
            }
            if let Some(id) = &req.sync_id {
                builder = builder.header(SYNC_ID_HEADER, id);
            }
            if let Some(body) = req.body {
                builder = builder.header(reqwest::header::CONTENT_TYPE, "application/json");
                builder = if body.len() > COMPRESS_ABOVE {
                    let packed = zstd::encode_all(&body[..], 3).map_err(|e| format!("cannot compress request: {e}"))?;
                    builder.header(reqwest::header::CONTENT_ENCODING, "zstd").body(packed)
                } else {
                    builder.body(body)
                };
            }
            let resp = builder.send().await.map_err(|e| match (&self.proxy, e.is_connect()) {
                (Some(proxy), true) => format!(
                    "cannot connect to the server; check that it and the proxy {proxy} are reachable (proxy in {})",
                    crate::config::config_path()
                ),
                _ => describe(&e),
            })?;
            let status = resp.status().as_u16();
            let location =
                resp.headers().get(reqwest::header::LOCATION).and_then(|l| l.to_str().ok()).map(String::from);
            let body = resp.bytes().await.map_err(|e| describe(&e))?.to_vec();
            Ok(HttpReply { status, body, location })
        })
    }
}

/// The TLS failure behind a request error, if that is what it was.
fn tls_failure(e: &reqwest::Error) -> Option<&rustls::Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(tls) = c.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // An io::Error's `source` skips the error it wraps, which is where TLS puts its own.
        cause = match c.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => c.source(),
        };
    }
    None
}

fn describe(e: &reqwest::Error) -> String {
    if let Some(tls) = tls_failure(e) {
        return match tls {
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
                "the server's certificate is not signed by an authority this computer trusts; ask IT to install the company's CA certificate (ca_file in /etc/fieldsync/config.toml)".into()
            }
            rustls::Error::InvalidCertificate(why) => {
                format!("the server's certificate is not valid for this address ({why:?}); check the server address or ask IT")
            }
            other => format!("a secure connection to the server could not be made ({other})"),
        };
    }
    if e.is_connect() {
        "cannot connect to the server".into()
    } else if e.is_timeout() {
        "the server did not answer in time".into()
    } else if e.is_body() || e.is_decode() {
        // The connection dropped mid-answer (Wi-Fi lost, a proxy's reset).
        "the connection to the server was cut off mid-answer".into()
    } else {
        format!("the connection to the server failed: {e}")
    }
}

pub use fieldsync_protocol::time::{Clock, SystemClock};
