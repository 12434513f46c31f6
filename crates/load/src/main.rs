//! `fieldsync-load`: simulates N field clients against a Fieldsync server and prints a
//! JSON report (throughput, latency percentiles per endpoint, errors, sync success).
//!
//! Each simulated client is a real client engine with its own profile directory: it
//! signs in, does its first sync, then repeatedly thinks for a while and either edits a
//! customer, records a visit, takes and submits an order, or just syncs. Starts are
//! spread over a ramp-up so the first syncs do not all land in the same second.
//!
//! `--cold-share F` models an ordinary day instead of everyone's first morning: all but
//! the share F of clients sign in and sync first, unmeasured, and the measured window
//! holds their periodic syncs and offline work plus F of clients arriving cold.
//!
//! Without `--server`, it starts an embedded server on 127.0.0.1 with the demo data and
//! N extra reps. With `--server URL`, users `load0000..` must exist with password
//! `load-password` (create them with `--prepare DIR` against that server's data dir, or
//! `--prepare DIR --database URL` against its PostgreSQL database). `--database URL` runs
//! the embedded server on PostgreSQL.

mod replay;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use fieldsync_client::transport::{BoxFuture, HttpReply, HttpRequest, HttpTransport, Transport};
use fieldsync_client::{Engine, EngineOptions, Object};
use fieldsync_protocol::{Registry, Role};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const PASSWORD: &str = "load-password";

/// Clients warming up at once (their sign-ins and first syncs are not measured).
const WARM_UP_PARALLEL: usize = 16;

#[derive(Parser)]
#[command(name = "fieldsync-load", about = "Simulate many field clients against a Fieldsync server")]
struct Cli {
    /// Simulated clients.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// How long to run, in seconds (after which clients finish their current step).
    #[arg(long, default_value_t = 120)]
    seconds: u64,
    /// Clients start spread over this many seconds.
    #[arg(long, default_value_t = 30)]
    ramp_up: u64,
    /// Mean pause between a client's actions, in seconds.
    #[arg(long, default_value_t = 10.0)]
    think: f64,
    /// A running server to use instead of an embedded one.
    #[arg(long)]
    server: Option<String>,
    /// Only create the load users in this server data directory, then exit.
    #[arg(long)]
    prepare: Option<std::path::PathBuf>,
    /// Run the embedded server (or --prepare) on this PostgreSQL database instead of SQLite.
    #[arg(long)]
    database: Option<String>,
    /// Share of clients that sign in and do their first sync inside the measured window
    /// (new laptops). The others are warmed up first, unmeasured: signed in with a synced
    /// store, as on an ordinary working day. 1.0 (the default) starts every client cold.
    #[arg(long, default_value_t = 1.0)]
    cold_share: f64,
    /// `engine`: every client is a real client engine with its own SQLite profile (end
    /// to end). `replay`: light protocol clients replaying recorded app pushes, with the
    /// server in its own process whose CPU and memory are measured (replay.rs).
    #[arg(long, value_enum, default_value = "engine")]
    mode: Mode,
    /// Replay: run the spawned server on these CPUs (`taskset -c LIST`), e.g. `0`.
    #[arg(long)]
    server_cpus: Option<String>,
    /// Replay with --server: the server's process id, for its CPU and memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Replay: also count the CPU of processes with this name (e.g. `postgres`).
    #[arg(long)]
    measure: Vec<String>,
    /// Split the demo's two territories into territories of this many reps each (with
    /// `--prepare`, or the embedded or spawned server). Without it half the reps share
    /// NORTH and half SOUTH, so every customer edit wakes half the company's laptops.
    #[arg(long)]
    reps_per_territory: Option<usize>,
    /// Replay: think without a long poll open (the app always holds one; this shows
    /// what the long polls cost the server).
    #[arg(long)]
    no_long_polls: bool,
    /// Replay: seconds of each calibration phase (CPU-ms per request type).
    #[arg(long, default_value_t = 5.0)]
    calibration: f64,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    Engine,
    Replay,
}

/// Every HTTP call's latency by endpoint, and failures by kind, while recording (both modes).
#[derive(Default)]
struct Recorder {
    samples: Mutex<BTreeMap<&'static str, Vec<f64>>>,
    errors: Mutex<BTreeMap<String, usize>>,
    /// Mutations the server refused, by code: a replayed template gone wrong.
    rejected: Mutex<BTreeMap<String, u64>>,
    /// Off during the warm-up, which is not part of the measurement.
    recording: std::sync::atomic::AtomicBool,
}

/// What a [`Recorder`] measured: latency percentiles per endpoint, the requests counted,
/// and failures by kind.
struct Recorded {
    endpoints: serde_json::Map<String, Value>,
    requests: usize,
    errors: BTreeMap<String, usize>,
}

impl Recorder {
    fn note(&self, endpoint: &'static str, ms: f64, failure: Option<String>) {
        if !self.recording.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        self.samples.lock().unwrap_or_else(|p| p.into_inner()).entry(endpoint).or_default().push(ms);
        if let Some(f) = failure {
            *self.errors.lock().unwrap_or_else(|p| p.into_inner()).entry(f).or_default() += 1;
        }
    }

    /// Takes what was recorded; `counted` says which endpoints count as requests the server
    /// spends time on (a long poll waits by design).
    fn take(&self, counted: impl Fn(&str) -> bool) -> Recorded {
        let mut endpoints = serde_json::Map::new();
        let mut requests = 0;
        for (endpoint, mut samples) in std::mem::take(&mut *self.samples.lock().unwrap_or_else(|p| p.into_inner())) {
            samples.sort_by(f64::total_cmp);
            if counted(endpoint) {
                requests += samples.len();
            }
            endpoints.insert(
                endpoint.trim_start_matches("/v1/").to_string(),
                json!({"requests": samples.len(), "p50_ms": pct(&samples, 0.5), "p95_ms": pct(&samples, 0.95),
                       "p99_ms": pct(&samples, 0.99), "max_ms": pct(&samples, 1.0)}),
            );
        }
        let errors = std::mem::take(&mut *self.errors.lock().unwrap_or_else(|p| p.into_inner()));
        Recorded { endpoints, requests, errors }
    }
}

struct Timed {
    inner: HttpTransport,
    rec: Arc<Recorder>,
}

impl Transport for Timed {
    fn send(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpReply, String>> {
        Box::pin(async move {
            let endpoint =
                ["/v1/login", "/v1/push", "/v1/pull"].into_iter().find(|e| req.url.contains(e)).unwrap_or("other");
            let started = Instant::now();
            let reply = self.inner.send(req).await;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            let failure = match &reply {
                Ok(r) if r.status >= 400 => Some(format!("{endpoint} HTTP {}", r.status)),
                Err(e) => Some(format!("{endpoint}: {e}")),
                _ => None,
            };
            self.rec.note(endpoint, ms, failure);
            reply
        })
    }
}

fn prepare(location: &fieldsync_server::db::Location, clients: usize, split: Option<usize>) -> anyhow::Result<()> {
    let reg = Registry::standard();
    let db = fieldsync_server::db::Db::open(location, &fieldsync_protocol::Registry::standard(), &[])?;
    db.write_blocking(|tx| fieldsync_server::seed::seed_demo(tx, &reg))?;
    if let Some(reps) = split {
        db.write_blocking(|tx| split_territories(tx, &reg, territories(clients, reps)))?;
    }
    // One slow hash for everyone: preparing 1,000 users stays quick.
    let hash = fieldsync_server::auth::hash_password(PASSWORD)?;
    db.write_blocking(|tx| add_load_users(tx, &reg, &hash, clients, split))
}

/// Territories for `clients` reps, `reps` to a territory.
fn territories(clients: usize, reps: usize) -> usize {
    clients.div_ceil(reps.max(1)).max(1)
}

/// Client `i`'s territory: its index and code. Without a split, the demo's NORTH (even
/// `i`) and SOUTH; with `reps` per territory, `L0000`... (see [`split_territories`]).
fn territory_of(i: usize, split: Option<usize>) -> (usize, String) {
    match split {
        None => (i % 2, if i.is_multiple_of(2) { "NORTH" } else { "SOUTH" }.to_string()),
        Some(reps) => {
            let k = i / reps.max(1);
            (k, format!("L{k:04}"))
        }
    }
}

/// Replaces the demo's two territories by `n` smaller ones, as a company of many reps has:
/// `L0000`, `L0002`... take NORTH's customers and catalogue, the odd ones SOUTH's. A
/// customer edit then reaches the few reps of one territory, not half the company.
fn split_territories(tx: &fieldsync_server::sql::Tx<'_>, reg: &Registry, n: usize) -> anyhow::Result<()> {
    use fieldsync_server::args;
    let def = *reg.get("territories").ok_or_else(|| anyhow::anyhow!("no territories entity"))?;
    for (parity, source) in ["NORTH", "SOUTH"].into_iter().enumerate() {
        let source_id: String =
            tx.query_one("SELECT id FROM territories WHERE code = ?1", args![source], |r| r.get(0))?;
        let customers: Vec<String> =
            tx.query("SELECT id FROM customers WHERE territory_id = ?1 ORDER BY id", args![source_id.as_str()], |r| {
                r.get(0)
            })?;
        let mine: Vec<usize> = (0..n).filter(|k| k % 2 == parity).collect();
        for (j, k) in mine.iter().enumerate() {
            let code = format!("L{k:04}");
            let id = uuid::Uuid::now_v7().to_string();
            let fields = serde_json::json!({"code": code, "name": format!("Load territory {k}")});
            fieldsync_server::records::upsert_object(tx, &def, &id, fields.as_object().expect("an object"))?;
            tx.execute(
                "INSERT INTO territory_categories SELECT ?1, category_id FROM territory_categories WHERE territory_id = ?2",
                args![id.as_str(), source_id.as_str()],
            )?;
            let share: Vec<String> = customers.iter().skip(j).step_by(mine.len()).cloned().collect();
            fieldsync_server::admin::move_customers(tx, reg, &code, &share, fieldsync_server::db::now_ms())?;
        }
    }
    Ok(())
}

fn add_load_users(
    tx: &fieldsync_server::sql::Tx<'_>,
    reg: &Registry,
    hash: &str,
    clients: usize,
    split: Option<usize>,
) -> anyhow::Result<()> {
    for i in 0..clients {
        let name = format!("load{i:04}");
        let (_, territory) = territory_of(i, split);
        // Teams of TEAM_SIZE reps, each under its own manager, as in a company: one
        // manager of every load user made PostgreSQL's statistics say that a manager's team
        // is the whole company, and plan every pull for that.
        let manager = format!("loadmgr{:03}", i / TEAM_SIZE);
        if i % TEAM_SIZE == 0 {
            let territories = [territory.clone()];
            fieldsync_server::admin::save_user_hashed(tx, reg, &manager, Role::Manager, &territories, None, hash)?;
        }
        fieldsync_server::admin::save_user_hashed(tx, reg, &name, Role::Rep, &[territory], Some(&manager), hash)?;
    }
    Ok(())
}

/// Load users per manager.
const TEAM_SIZE: usize = 10;

#[derive(Default)]
struct Outcome {
    syncs: usize,
    failed_syncs: usize,
    actions: usize,
}

/// A simulated laptop: its own profile directory and engine.
struct Laptop {
    _dir: tempfile::TempDir,
    engine: Engine,
}

/// Signs client `i` in on a fresh profile (its first sync follows in [`work`]).
async fn sign_in(i: usize, url: &str, rec: &Arc<Recorder>) -> Option<Laptop> {
    let dir = tempfile::tempdir().ok()?;
    let transport = Arc::new(Timed { inner: HttpTransport::new(), rec: rec.clone() });
    let mut engine = Engine::open_with(dir.path(), EngineOptions { transport, ..Default::default() }).ok()?;
    match engine.login(url, &format!("load{i:04}"), PASSWORD).await {
        Ok(_) => Some(Laptop { _dir: dir, engine }),
        Err(e) => {
            eprintln!("load{i:04}: sign-in failed: {e}");
            None
        }
    }
}

/// Warm-up: signs in and does the first sync, unmeasured.
async fn warm_up(i: usize, url: String, rec: Arc<Recorder>) -> anyhow::Result<Laptop> {
    let mut laptop = sign_in(i, &url, &rec).await.ok_or_else(|| anyhow::anyhow!("load{i:04} cannot sign in"))?;
    laptop.engine.sync(&mut |_| {}).await.map_err(|e| anyhow::anyhow!("load{i:04}: first sync failed: {e}"))?;
    Ok(laptop)
}

/// A working day until `until`: sync, think, act offline, sync again. A client without
/// a laptop yet signs in first (a cold start, measured).
async fn work(
    i: usize,
    url: String,
    rec: Arc<Recorder>,
    start_after: Duration,
    until: Instant,
    think: f64,
    laptop: Option<Laptop>,
) -> Outcome {
    let mut out = Outcome::default();
    tokio::time::sleep(start_after).await;
    let mut laptop = match laptop {
        Some(l) => l,
        None => match sign_in(i, &url, &rec).await {
            Some(l) => l,
            None => {
                out.syncs += 1; // counted as a failed sync: the client never got to sync
                out.failed_syncs += 1;
                return out;
            }
        },
    };
    let engine = &mut laptop.engine;
    let mut rng = StdRng::seed_from_u64(i as u64);
    loop {
        out.syncs += 1;
        if let Err(e) = engine.sync(&mut |_| {}).await {
            eprintln!("load{i:04}: sync failed: {e}");
            out.failed_syncs += 1;
        }
        if Instant::now() >= until {
            return out;
        }
        let pause = rng.gen_range(0.5 * think..1.5 * think);
        tokio::time::sleep(Duration::from_secs_f64(pause)).await;
        if act(engine, &mut rng).is_ok() {
            out.actions += 1;
        }
    }
}

/// One realistic offline action: edit a customer, record a visit, or take an order.
fn act(engine: &mut Engine, rng: &mut StdRng) -> anyhow::Result<()> {
    let customers = engine.search("customers", "", 200)?;
    let Some(customer) = customers.get(rng.gen_range(0..customers.len().max(1))) else { return Ok(()) };
    let cid = customer["id"].as_str().unwrap_or_default().to_string();
    let mut fields = Object::new();
    match rng.gen_range(0..10) {
        0..=3 => {
            fields.insert("phone".into(), json!(format!("+47 {}", rng.gen_range(10_000_000..99_999_999))));
            engine.update("customers", &cid, fields)?;
        }
        4..=6 => {
            fields.insert("customer_id".into(), json!(cid));
            fields.insert("outcome".into(), json!("follow_up"));
            fields.insert("notes".into(), json!("Discussed the spring range."));
            engine.create("visits", fields)?;
        }
        7..=8 => {
            fields.insert("customer_id".into(), json!(cid));
            let order = engine.create("orders", fields)?;
            let order_id = order["id"].as_str().unwrap_or_default().to_string();
            let products = engine.search("products", "", 100)?;
            for _ in 0..2 {
                if let Some(p) = products.get(rng.gen_range(0..products.len().max(1))) {
                    let mut line = Object::new();
                    line.insert("order_id".into(), json!(order_id));
                    line.insert("product_id".into(), p["id"].clone());
                    line.insert("quantity".into(), json!(rng.gen_range(1..5)));
                    engine.create("order_lines", line)?;
                }
            }
            let mut submit = Object::new();
            submit.insert("status".into(), json!("submitted"));
            engine.update("orders", &order_id, submit)?;
        }
        _ => {}
    }
    Ok(())
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    (sorted[((sorted.len() as f64 - 1.0) * p).round() as usize] * 10.0).round() / 10.0
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(dir) = &cli.prepare {
        prepare(
            &fieldsync_server::db::Location::new(dir, cli.database.as_deref()),
            cli.clients,
            cli.reps_per_territory,
        )?;
        println!("{}", json!({"prepared": cli.clients, "data": dir}));
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let report = match cli.mode {
        Mode::Engine => rt.block_on(run(cli))?,
        Mode::Replay => rt.block_on(replay::run(cli))?,
    };
    println!("{report}");
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<Value> {
    let data = tempfile::tempdir()?;
    let (url, server, location) = match &cli.server {
        Some(url) => (url.clone(), None, None),
        None => {
            let mut config = fieldsync_server::ServerConfig::new(data.path());
            config.database_url = cli.database.clone();
            let location = config.location();
            let prepared = location.clone();
            tokio::task::spawn_blocking(move || prepare(&prepared, cli.clients, cli.reps_per_territory)).await??;
            let server = fieldsync_server::start(config, "127.0.0.1:0".parse()?).await?;
            (server.url(), Some(server), Some(location))
        }
    };
    anyhow::ensure!((0.0..=1.0).contains(&cli.cold_share), "--cold-share must be between 0 and 1");
    let rec = Arc::new(Recorder::default());
    // Warm-up: every client but the cold share signs in and syncs, a few at a time.
    let cold = (cli.clients as f64 * cli.cold_share).round() as usize;
    let warm_started = Instant::now();
    let mut laptops: Vec<Option<Laptop>> = (0..cli.clients).map(|_| None).collect();
    {
        let gate = Arc::new(tokio::sync::Semaphore::new(WARM_UP_PARALLEL));
        let mut warming = Vec::new();
        for i in cold..cli.clients {
            let (url, rec, gate) = (url.clone(), rec.clone(), gate.clone());
            warming.push(tokio::spawn(async move {
                let _permit = gate.acquire_owned().await;
                (i, warm_up(i, url, rec).await)
            }));
        }
        for w in warming {
            let (i, laptop) = w.await?;
            laptops[i] = Some(laptop?);
        }
    }
    let warm_up_s = warm_started.elapsed().as_secs_f64();
    rec.recording.store(true, std::sync::atomic::Ordering::Relaxed);
    let started = Instant::now();
    let until = started + Duration::from_secs(cli.seconds);
    let mut tasks = Vec::new();
    for (i, laptop) in laptops.into_iter().enumerate() {
        // Cold clients arrive over the ramp-up; warm ones start within one think time.
        let spread = if laptop.is_none() { cli.ramp_up as f64 } else { cli.think };
        let offset = Duration::from_secs_f64(spread * i as f64 / cli.clients.max(1) as f64);
        tasks.push(tokio::spawn(work(i, url.clone(), rec.clone(), offset, until, cli.think, laptop)));
    }
    let mut total = Outcome::default();
    for t in tasks {
        let o = t.await?;
        total.syncs += o.syncs;
        total.failed_syncs += o.failed_syncs;
        total.actions += o.actions;
    }
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(s) = server {
        s.stop().await;
    }
    // The same rate as the server measured it from the laptops' device reports (embedded
    // server only: an external one's database is not at hand).
    let server_rate = match location {
        None => None,
        Some(location) => {
            tokio::task::spawn_blocking(move || -> anyhow::Result<Option<f64>> {
                let db = fieldsync_server::db::Db::open(&location, &fieldsync_protocol::Registry::standard(), &[])?;
                let now = fieldsync_protocol::time::Clock::now_ms(&fieldsync_protocol::time::SystemClock);
                let devices = db.read_blocking(|tx| fieldsync_server::devices::list(tx, now))?;
                Ok(fieldsync_server::devices::fleet(&devices).0)
            })
            .await??
        }
    };
    let Recorded { endpoints, requests, errors } = rec.take(|_| true);
    Ok(json!({
        "clients": cli.clients,
        "cold_clients": cold,
        "warm_up_s": (warm_up_s * 10.0).round() / 10.0,
        "seconds": (elapsed * 10.0).round() / 10.0,
        "requests": requests,
        "requests_per_s": (requests as f64 / elapsed).round(),
        "syncs": total.syncs,
        "sync_success_rate": if total.syncs == 0 { 0.0 } else { 1.0 - total.failed_syncs as f64 / total.syncs as f64 },
        // From the device reports, warm-up included, offline attempts excluded.
        "server_sync_success_rate": server_rate,
        "actions": total.actions,
        "errors": errors.values().sum::<usize>(),
        "error_kinds": errors,
        "endpoints": endpoints,
    }))
}
