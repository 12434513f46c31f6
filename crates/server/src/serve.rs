//! Accepting and serving connections within bounds, for a server that faces untrusted
//! networks (`axum::serve` has no timeouts and no connection cap).
//!
//! - At most [`ConnectionLimits::max_connections`] connections are open at once; one more
//!   is closed as soon as it is accepted, so it neither waits unserved in the kernel's
//!   backlog nor pushes the process into its file limit. The cap is also kept below the
//!   process's open-file limit ([`effective_max_connections`]).
//! - A connection that is waiting for request headers is closed after
//!   [`ConnectionLimits::header_timeout`]. hyper starts that timer whenever it is ready to
//!   read a request: on a new connection, on a keep-alive connection between requests, and
//!   while headers trickle in. So the same bound is the idle keep-alive timeout and the
//!   slowloris bound.
//! - Header bytes per connection are capped ([`MAX_HEADER_BUFFER`]); request bodies must
//!   arrive within [`ConnectionLimits::body_timeout`] (a layer in `http::router`).
//! - With TLS ([`load_tls`]), the handshake must finish within the header timeout too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

/// Largest header block a client may send (hyper's own default is about 400 KiB, which
/// times the connection cap is too much memory to hand to anonymous clients).
pub const MAX_HEADER_BUFFER: usize = 64 * 1024;

/// Open files the process keeps for itself beyond connections: the database and its
/// WAL, the listener, reader connections, logs.
const RESERVED_FILES: u64 = 64;

/// How long shutdown waits for requests in flight before it drops them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once (further ones are closed at once).
    pub max_connections: usize,
    /// Longest a connection may wait for, or take to send, a request's headers; also the
    /// idle keep-alive timeout.
    pub header_timeout: Duration,
    /// Longest a request body may take to arrive.
    pub body_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 4096,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// The configured cap, lowered to fit under the process's open-file limit.
pub fn effective_max_connections(configured: usize) -> usize {
    let fits = match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, _)) => soft.saturating_sub(RESERVED_FILES).max(1),
        Err(_) => u64::MAX,
    };
    let cap = configured.min(usize::try_from(fits).unwrap_or(usize::MAX));
    if cap < configured {
        tracing::warn!(
            configured,
            cap,
            "the open-file limit (ulimit -n) allows fewer connections than configured; raise LimitNOFILE to serve more"
        );
    }
    cap
}

/// The server's certificate chain and key, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

/// Reads the certificate chain and private key into a TLS configuration (TLS 1.2 and
/// 1.3, HTTP/1.1). Errors name the file and what is wrong with it.
pub fn load_tls(files: &TlsFiles) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("cannot read the TLS certificate {}: {e}", files.cert.display()))?;
    anyhow::ensure!(!certs.is_empty(), "{} holds no PEM certificate", files.cert.display());
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| anyhow::anyhow!("cannot read the TLS private key {}: {e}", files.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            anyhow::anyhow!(
                "the TLS key {} does not fit the certificate {}: {e}",
                files.key.display(),
                files.cert.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `app` on `listener` (over TLS when `tls` is given) until `stop` turns true, then
/// waits (up to a grace period) for requests in flight. Each request carries its peer
/// address as `ConnectInfo`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let stopped = async move {
        let mut stop = stop;
        let _ = stop.wait_for(|s| *s).await;
    };
    tokio::pin!(stopped);
    let cap = effective_max_connections(limits.max_connections);
    let open = Arc::new(Semaphore::new(cap));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).max_buf_size(MAX_HEADER_BUFFER);
    let http = Arc::new(http);
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let mut refused_logged = false;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of files or memory for a moment; the connection cap keeps this rare.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stopped => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            if !refused_logged {
                tracing::warn!(cap, "connection cap reached; closing new connections until some end");
                refused_logged = true;
            }
            drop(stream);
            continue;
        };
        refused_logged = false;
        let _ = stream.set_nodelay(true);
        let (app, http, watcher, tls) = (app.clone(), http.clone(), graceful.watcher(), tls.clone());
        let handshake_timeout = limits.header_timeout;
        tokio::spawn(async move {
            match tls {
                None => serve_one(stream, peer, app, &http, watcher).await,
                Some(acceptor) => match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => serve_one(stream, peer, app, &http, watcher).await,
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                },
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still running after {SHUTDOWN_GRACE:?} were dropped at shutdown");
    }
    Ok(())
}

/// Serves one connection's requests until it closes, times out or the server stops.
async fn serve_one<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    http: &hyper::server::conn::http1::Builder,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(req)
    });
    if let Err(e) = watcher.watch(http.serve_connection(TokioIo::new(io), service)).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// The peer of a request served by [`serve`] (`None` for requests built in tests).
pub fn peer(extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}
