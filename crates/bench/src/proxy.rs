//! A TCP proxy between the client engine and the server that counts what a sync really
//! costs on the wire (bytes each way, headers included, and HTTP requests) and, given a
//! [`Shape`], makes the link behave like a poor network: latency, a bandwidth ceiling,
//! packet loss and connections reset mid-answer.
//!
//! The model, per direction of each connection: bytes are cut into `SEGMENT` pieces; a
//! piece leaves when the link is free and takes `len / bandwidth` to send, then arrives
//! half an RTT later. A lost piece is sent again one `retransmit_timeout` later, and the
//! pieces after it wait for it (TCP delivers in order). A reset is decided per request:
//! with probability `reset`, the connection is cut with a TCP RST somewhere in the first
//! `CUT_WINDOW` bytes of the answer (a small answer that ends first is cut in the next
//! one on the same connection). TCP's own handshake, slow start and ACK clocking are not
//! modelled: the figures are a floor for what the rep sees, not a packet simulation.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

/// The unit of scheduling and of loss: one Ethernet-sized TCP segment.
const SEGMENT: usize = 1460;
/// A cut request's connection is reset within this many bytes of its answer.
const CUT_WINDOW: usize = 16 * 1024;

/// How the link behaves. `Shape::default()` is a perfect link (counting only).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Shape {
    /// Round-trip time added to the loopback's.
    #[serde(serialize_with = "as_ms")]
    pub rtt: Duration,
    /// Bits per second each way; `None` is unlimited.
    pub bits_per_s: Option<u64>,
    /// Chance that a segment is lost (and sent again later).
    pub loss: f64,
    /// Chance that a request's connection is reset before its answer is complete.
    pub reset: f64,
}

fn as_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

impl Shape {
    /// When a lost segment is sent again: Linux's RTO is the smoothed RTT plus four
    /// deviations, at least 200 ms.
    fn retransmit_timeout(&self) -> Duration {
        self.rtt + Duration::from_millis(200)
    }
}

#[derive(Default)]
struct Counters {
    up: AtomicUsize,
    down: AtomicUsize,
    requests: AtomicUsize,
    resets: AtomicUsize,
}

struct Shared {
    shape: Shape,
    counters: Counters,
    rng: Mutex<StdRng>,
}

impl Shared {
    fn chance(&self, p: f64) -> bool {
        p > 0.0 && self.rng.lock().unwrap_or_else(|e| e.into_inner()).gen_bool(p.min(1.0))
    }

    fn below(&self, n: usize) -> usize {
        self.rng.lock().unwrap_or_else(|e| e.into_inner()).gen_range(0..n)
    }
}

pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

/// What went through the proxy since the last [`Proxy::reset`].
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Totals {
    /// Bytes client to server.
    pub bytes_up: usize,
    /// Bytes server to client.
    pub bytes_down: usize,
    pub requests: usize,
    /// Connections reset by the shape.
    pub resets: usize,
}

impl Proxy {
    /// A proxy to `upstream` on a perfect link: it only counts.
    pub async fn counting(upstream: SocketAddr) -> anyhow::Result<Proxy> {
        Self::start(upstream, Shape::default(), 0).await
    }

    /// A proxy to `upstream` whose link behaves as `shape` says; `seed` makes its losses
    /// and resets repeatable.
    pub async fn start(upstream: SocketAddr, shape: Shape, seed: u64) -> anyhow::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared =
            Arc::new(Shared { shape, counters: Counters::default(), rng: Mutex::new(StdRng::seed_from_u64(seed)) });
        let s = shared.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(connection(client, upstream, s.clone()));
            }
        });
        Ok(Proxy { addr, shared })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn reset(&self) {
        let c = &self.shared.counters;
        for n in [&c.up, &c.down, &c.requests, &c.resets] {
            n.store(0, Ordering::SeqCst);
        }
    }

    pub fn totals(&self) -> Totals {
        let c = &self.shared.counters;
        Totals {
            bytes_up: c.up.load(Ordering::SeqCst),
            bytes_down: c.down.load(Ordering::SeqCst),
            requests: c.requests.load(Ordering::SeqCst),
            resets: c.resets.load(Ordering::SeqCst),
        }
    }
}

/// One proxied connection: two shaped directions, and the reset that may end both.
struct Conn {
    shared: Arc<Shared>,
    /// Answer bytes delivered to the client so far.
    delivered: AtomicUsize,
    /// The answer byte at which the connection is reset (`usize::MAX`: none planned).
    cut_at: AtomicUsize,
    cut: Notify,
}

async fn connection(client: TcpStream, upstream: SocketAddr, shared: Arc<Shared>) {
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let conn = Arc::new(Conn {
        shared,
        delivered: AtomicUsize::new(0),
        cut_at: AtomicUsize::new(usize::MAX),
        cut: Notify::new(),
    });
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    tokio::select! {
        _ = async { tokio::join!(direction(cr, sw, &conn, true), direction(sr, cw, &conn, false)) } => {}
        // Dropping both directions closes the client's socket, which the writer set to
        // linger 0: the client gets an RST, as when a Wi-Fi access point drops it.
        _ = conn.cut.notified() => {}
    }
}

/// Moves bytes one way, delivering each segment when the shaped link would.
async fn direction(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, conn: &Conn, upstream: bool) {
    let shape = conn.shared.shape;
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let read = async move {
        let mut buf = vec![0u8; 64 * 1024];
        // When the link can start sending the next segment.
        let mut free_at = Instant::now();
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let counters = &conn.shared.counters;
            if upstream {
                counters.up.fetch_add(n, Ordering::SeqCst);
                // Request lines end in " HTTP/1.1\r\n"; bodies are JSON, which never holds that.
                let requests = buf[..n].windows(11).filter(|w| w == b" HTTP/1.1\r\n").count();
                counters.requests.fetch_add(requests, Ordering::SeqCst);
                for _ in 0..requests {
                    if conn.shared.chance(shape.reset) {
                        let at = conn.delivered.load(Ordering::SeqCst) + conn.shared.below(CUT_WINDOW);
                        let _ = conn.cut_at.fetch_min(at, Ordering::SeqCst);
                    }
                }
            } else {
                counters.down.fetch_add(n, Ordering::SeqCst);
            }
            for piece in buf[..n].chunks(SEGMENT) {
                let mut sent = free_at.max(Instant::now());
                if let Some(bps) = shape.bits_per_s {
                    sent += Duration::from_secs_f64(piece.len() as f64 * 8.0 / bps as f64);
                }
                if conn.shared.chance(shape.loss) {
                    sent += shape.retransmit_timeout();
                }
                free_at = sent;
                if tx.send((sent + shape.rtt / 2, piece.to_vec())).is_err() {
                    return;
                }
            }
        }
    };
    let write = async {
        while let Some((at, bytes)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            let mut bytes = &bytes[..];
            if !upstream {
                let done = conn.delivered.load(Ordering::SeqCst);
                let cut_at = conn.cut_at.load(Ordering::SeqCst);
                if done + bytes.len() > cut_at {
                    let _ = to.write_all(&bytes[..cut_at.saturating_sub(done)]).await;
                    let _ = to.as_ref().set_zero_linger();
                    conn.shared.counters.resets.fetch_add(1, Ordering::SeqCst);
                    conn.cut.notify_one();
                    return;
                }
                conn.delivered.fetch_add(bytes.len(), Ordering::SeqCst);
            }
            if to.write_all(std::mem::take(&mut bytes)).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(read, write);
}
