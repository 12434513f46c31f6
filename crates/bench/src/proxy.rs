//! A TCP proxy that counts the bytes each way and the HTTP requests, to measure what a
//! sync really costs on the wire (headers included).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Default)]
struct Counters {
    up: AtomicUsize,
    down: AtomicUsize,
    requests: AtomicUsize,
}

pub struct CountingProxy {
    addr: SocketAddr,
    counters: Arc<Counters>,
}

impl CountingProxy {
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<CountingProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let c = c.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        let (cr, cw) = client.into_split();
                        let (sr, sw) = server.into_split();
                        let up = pump(cr, sw, c.clone(), true);
                        let down = pump(sr, cw, c, false);
                        let _ = tokio::join!(up, down);
                    }
                });
            }
        });
        Ok(CountingProxy { addr, counters })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn reset(&self) {
        self.counters.up.store(0, Ordering::SeqCst);
        self.counters.down.store(0, Ordering::SeqCst);
        self.counters.requests.store(0, Ordering::SeqCst);
    }

    /// (bytes client->server, bytes server->client, HTTP requests)
    pub fn totals(&self) -> (usize, usize, usize) {
        let c = &self.counters;
        (c.up.load(Ordering::SeqCst), c.down.load(Ordering::SeqCst), c.requests.load(Ordering::SeqCst))
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    c: Arc<Counters>,
    upstream: bool,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        if upstream {
            c.up.fetch_add(n, Ordering::SeqCst);
            // Request lines end in " HTTP/1.1\r\n"; bodies are JSON, which never holds that.
            c.requests.fetch_add(chunk.windows(11).filter(|w| w == b" HTTP/1.1\r\n").count(), Ordering::SeqCst);
        } else {
            c.down.fetch_add(n, Ordering::SeqCst);
        }
        if to.write_all(chunk).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
