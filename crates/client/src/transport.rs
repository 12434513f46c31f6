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
}

#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    pub body: Vec<u8>,
}

pub trait Transport: Send + Sync {
    /// Sends one request. `Err` means no reply arrived (connection refused, cut, timed out).
    fn send(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpReply, String>>;
}

/// Bodies above this size are sent zstd-compressed.
const COMPRESS_ABOVE: usize = 2048;

/// reqwest over HTTP/1.1 with gzip/zstd response decompression.
pub struct HttpTransport {
    client: reqwest::Client,
}

impl HttpTransport {
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("fieldsync-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("reqwest client builds with static settings");
        HttpTransport { client }
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
            let mut builder = match req.method {
                Method::Get => self.client.get(&req.url),
                Method::Post => self.client.post(&req.url),
            };
            if let Some(token) = &req.token {
                builder = builder.bearer_auth(token);
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
            let resp = builder.send().await.map_err(|e| describe(&e))?;
            let status = resp.status().as_u16();
            let body = resp.bytes().await.map_err(|e| describe(&e))?.to_vec();
            Ok(HttpReply { status, body })
        })
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "cannot connect to the server".into()
    } else if e.is_timeout() {
        "the server did not answer in time".into()
    } else {
        format!("the connection to the server failed: {e}")
    }
}

pub use fieldsync_protocol::time::{Clock, SystemClock};
