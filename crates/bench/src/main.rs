//! `fieldsync-bench`: measures the sync path end to end on loopback (real server, real
//! client engine, real SQLite files) and prints one JSON object per run. Every timing is
//! reported beside a baseline measured in the same run, so figures compare across
//! machines. See docs/PERFORMANCE.md for results and how to read them.

mod dataset;
mod import;
mod moves;
mod network;
mod polls;
mod proxy;
mod writes;

use std::time::Instant;

/// The same allocator as the server binary, so in-process figures match it.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use fieldsync_client::{Engine, EngineOptions};
use serde_json::{json, Value};

#[derive(Parser)]
#[command(name = "fieldsync-bench", about = "Fieldsync benchmarks (JSON output)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// First sync of N customer rows into a fresh client store, against a raw SQLite insert.
    Bootstrap {
        #[arg(long, default_value_t = 200_000)]
        rows: usize,
    },
    /// Bytes per customer row on the wire, against naive JSON objects.
    Payload {
        #[arg(long, default_value_t = 20_000)]
        rows: usize,
    },
    /// Requests and bytes of a sync with nothing to do.
    Noop,
    /// Time from a write on client A to the change applied on client B (live updates).
    Latency {
        #[arg(long, default_value_t = 200)]
        iterations: usize,
    },
    /// Latency of a push while many long polls of users who cannot see it wait, against
    /// the same pushes with no poll open.
    Polls {
        #[arg(long, default_value_t = 2_000)]
        polls: usize,
        #[arg(long, default_value_t = 200)]
        pushes: usize,
    },
    /// Latency of one user's push while another pushes 1,000 mutations that move records
    /// (each changes who sees them), against the same push alone.
    Moves {
        #[arg(long, default_value_t = 1_000)]
        users: usize,
        #[arg(long, default_value_t = 1_000)]
        mutations: usize,
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// `fieldsync-server import` of N price list items into an empty table, the same file
    /// again (all unchanged), then a small delta, against a bare SQLite bulk insert.
    Import {
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        #[arg(long, default_value_t = 200)]
        delta: usize,
        /// Import into this PostgreSQL database instead of a SQLite file.
        #[arg(long, env = "FIELDSYNC_DATABASE_URL")]
        database: Option<String>,
    },
    /// Pushes per second from `writes::PUSHERS` concurrent single-mutation pushers, on
    /// SQLite or PostgreSQL (compare the two from the same machine and run).
    Writes {
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: WritesBackend,
        /// PostgreSQL connection settings without a database name (the bench creates and
        /// drops its own database); defaults to the cluster of scripts/with-postgres.sh.
        #[arg(long, env = "FIELDSYNC_TEST_POSTGRES")]
        database: Option<String>,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// A rep's sign-in, first sync and 10-edit syncs through a shaping proxy that plays
    /// a poor network (latency, bandwidth, loss, connection resets), against a clean link.
    Network {
        #[arg(long, value_enum)]
        profile: network::Profile,
        /// Incremental syncs measured after the first sync.
        #[arg(long, default_value_t = 10)]
        rounds: usize,
    },
    /// Customer search by name prefix in a client store.
    Search {
        #[arg(long, default_value_t = 50_000)]
        customers: usize,
        #[arg(long, default_value_t = 500)]
        queries: usize,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum WritesBackend {
    Sqlite,
    Postgres,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let out = rt.block_on(async move {
        match cli.command {
            Command::Bootstrap { rows } => bootstrap(rows).await,
            Command::Payload { rows } => payload(rows).await,
            Command::Noop => noop().await,
            Command::Latency { iterations } => latency(iterations).await,
            Command::Search { customers, queries } => search(customers, queries).await,
            Command::Network { profile, rounds } => network::run(profile, rounds).await,
            Command::Polls { polls, pushes } => polls::run(polls, pushes).await,
            Command::Moves { users, mutations, rounds } => moves::run(users, mutations, rounds).await,
            Command::Writes { backend, database, seconds } => {
                let backend = match backend {
                    WritesBackend::Sqlite => writes::Backend::Sqlite,
                    WritesBackend::Postgres => writes::Backend::Postgres(database.ok_or_else(|| {
                        anyhow::anyhow!("--backend postgres needs --database (or run under ./scripts/with-postgres.sh)")
                    })?),
                };
                writes::run(backend, seconds).await
            }
            Command::Import { rows, delta, database } => {
                tokio::task::spawn_blocking(move || import::run(rows, delta, database)).await?
            }
        }
    })?;
    println!("{out}");
    Ok(())
}

async fn signed_in(url: &str, user: &str, opts: EngineOptions) -> anyhow::Result<(Engine, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let mut engine = Engine::open_with(dir.path(), opts)?;
    engine.login(url, user, dataset::PASSWORD).await?;
    Ok((engine, dir))
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub(crate) fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

async fn bootstrap(rows: usize) -> anyhow::Result<Value> {
    let data = dataset::Dataset::create(rows)?;
    let server = data.start().await?;
    let opts = EngineOptions { pull_limit: fieldsync_protocol::wire::MAX_PULL_LIMIT, ..Default::default() };
    let (mut engine, profile) = signed_in(&server.url(), dataset::USER, opts).await?;
    let started = Instant::now();
    let report = engine.sync(&mut |_| {}).await?;
    let secs = started.elapsed().as_secs_f64();
    let customers = engine.store().count("customers")? as usize;
    anyhow::ensure!(customers == rows, "the first sync brought {customers} customers, expected {rows}");
    drop(engine);
    let baseline = dataset::raw_insert_rate(&profile.path().join("fieldsync.db"))?;
    server.stop().await;
    let rate = report.pulled as f64 / secs;
    Ok(json!({
        "bench": "bootstrap",
        "rows": report.pulled,
        "seconds": round(secs, 3),
        "rows_per_s": rate.round(),
        "baseline_raw_insert_rows_per_s": baseline.round(),
        "ratio_to_baseline": round(rate / baseline, 3),
    }))
}

async fn payload(rows: usize) -> anyhow::Result<Value> {
    let data = dataset::Dataset::create(rows)?;
    let server = data.start().await?;
    let proxy = proxy::Proxy::counting(server.addr).await?;
    let (mut engine, _profile) = signed_in(&proxy.url(), dataset::USER, EngineOptions::default()).await?;
    proxy.reset();
    engine.sync(&mut |_| {}).await?;
    let proxy::Totals { bytes_up: up, bytes_down: down, requests, .. } = proxy.totals();
    // The same rows as a naive API would send them: an array of JSON objects.
    let naive = serde_json::to_vec(&engine.list("customers", &[])?)?.len();
    server.stop().await;
    Ok(json!({
        "bench": "payload",
        "rows": rows,
        "requests": requests,
        "wire_bytes_down": down,
        "wire_bytes_up": up,
        "wire_bytes_per_row": round(down as f64 / rows as f64, 1),
        "naive_json_bytes_per_row": round(naive as f64 / rows as f64, 1),
        "ratio_wire_to_naive": round(down as f64 / naive as f64, 4),
    }))
}

async fn noop() -> anyhow::Result<Value> {
    let data = dataset::Dataset::create(1_000)?;
    let server = data.start().await?;
    let proxy = proxy::Proxy::counting(server.addr).await?;
    let (mut engine, _profile) = signed_in(&proxy.url(), dataset::USER, EngineOptions::default()).await?;
    engine.sync(&mut |_| {}).await?;
    proxy.reset();
    let report = engine.sync(&mut |_| {}).await?;
    anyhow::ensure!(report.pulled == 0 && report.pushed == 0, "the no-op sync did work: {report:?}");
    let proxy::Totals { bytes_up: up, bytes_down: down, requests, .. } = proxy.totals();
    server.stop().await;
    Ok(json!({"bench": "noop", "requests": requests, "bytes_up": up, "bytes_down": down}))
}

async fn latency(iterations: usize) -> anyhow::Result<Value> {
    let data = dataset::Dataset::create(200)?;
    let server = data.start().await?;
    let (mut writer, _a) = signed_in(&server.url(), dataset::USER, EngineOptions::default()).await?;
    let (mut reader, _b) = signed_in(&server.url(), dataset::USER, EngineOptions::default()).await?;
    writer.sync(&mut |_| {}).await?;
    reader.sync(&mut |_| {}).await?;
    let target = writer.list("customers", &[])?[0]["id"].as_str().unwrap_or_default().to_string();
    // The writer sends (value, start time) and waits for the reader's ack, so each
    // change is timed alone.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(String, Instant)>(1);
    let (ack_tx, mut ack_rx) = tokio::sync::mpsc::channel::<()>(1);
    let listener = tokio::spawn(async move {
        let mut samples = Vec::new();
        while let Some((value, started)) = rx.recv().await {
            loop {
                reader.wait_for_changes(10_000, &mut |_| {}).await?;
                let seen = reader.get("customers", &target)?;
                if seen.get("notes").and_then(Value::as_str) == Some(value.as_str()) {
                    samples.push(started.elapsed().as_secs_f64() * 1000.0);
                    break;
                }
            }
            ack_tx.send(()).await?;
        }
        anyhow::Ok(samples)
    });
    let id = writer.list("customers", &[])?[0]["id"].as_str().unwrap_or_default().to_string();
    for i in 0..iterations {
        let value = format!("note {i}");
        let mut fields = fieldsync_client::Object::new();
        fields.insert("notes".into(), Value::from(value.clone()));
        let started = Instant::now();
        writer.update("customers", &id, fields)?;
        tx.send((value, started)).await?;
        writer.sync(&mut |_| {}).await?;
        ack_rx.recv().await.ok_or_else(|| anyhow::anyhow!("the reader stopped"))?;
    }
    drop(tx);
    let mut samples = listener.await??;
    server.stop().await;
    samples.sort_by(f64::total_cmp);
    Ok(json!({
        "bench": "latency",
        "iterations": samples.len(),
        "p50_ms": round(percentile(&samples, 0.5), 2),
        "p95_ms": round(percentile(&samples, 0.95), 2),
        "max_ms": round(samples.last().copied().unwrap_or(0.0), 2),
    }))
}

async fn search(customers: usize, queries: usize) -> anyhow::Result<Value> {
    let data = dataset::Dataset::create(customers)?;
    let server = data.start().await?;
    let opts = EngineOptions { pull_limit: fieldsync_protocol::wire::MAX_PULL_LIMIT, ..Default::default() };
    let (mut engine, _profile) = signed_in(&server.url(), dataset::USER, opts).await?;
    engine.sync(&mut |_| {}).await?;
    server.stop().await;
    let typed = dataset::search_queries(queries);
    let mut samples = Vec::with_capacity(queries);
    let mut sql = Vec::with_capacity(queries);
    let mut hits = 0;
    for q in &typed {
        let started = Instant::now();
        let found = engine.search("customers", q, 50)?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
        // The baseline: the same search reading the table (what `search` did before its index).
        let started = Instant::now();
        let by_sql = engine.search_sql("customers", q, 50)?;
        sql.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(found == by_sql, "the index and SQL disagree on {q:?}");
        hits += found.len();
    }
    samples.sort_by(f64::total_cmp);
    sql.sort_by(f64::total_cmp);
    // The worst case: nothing matches, so every record is read.
    let mut misses = Vec::with_capacity(queries / 4);
    for i in 0..(queries / 4).max(1) {
        let started = Instant::now();
        anyhow::ensure!(engine.search("customers", &format!("qqz{i}"), 50)?.is_empty(), "'qqz' matched");
        misses.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    misses.sort_by(f64::total_cmp);
    // The first search after a change (an edit here; a sync alike) reads the table again.
    let some = engine.search("customers", "", 20)?;
    let mut after_change = Vec::with_capacity(some.len());
    for (i, customer) in some.iter().enumerate() {
        let id = customer["id"].as_str().unwrap_or_default();
        engine.update("customers", id, serde_json::from_value(json!({ "notes": format!("visited {i}") }))?)?;
        let started = Instant::now();
        engine.search("customers", &typed[i % typed.len()], 50)?;
        after_change.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    after_change.sort_by(f64::total_cmp);
    Ok(json!({
        "bench": "search",
        "customers": customers,
        "queries": queries,
        "avg_hits": round(hits as f64 / queries as f64, 1),
        "p50_ms": round(percentile(&samples, 0.5), 3),
        "no_match_p95_ms": round(percentile(&misses, 0.95), 3),
        "p95_ms": round(percentile(&samples, 0.95), 3),
        "sql_p50_ms": round(percentile(&sql, 0.5), 3),
        "sql_p95_ms": round(percentile(&sql, 0.95), 3),
        "p95_ratio_to_sql": round(percentile(&samples, 0.95) / percentile(&sql, 0.95), 3),
        "after_a_change_p50_ms": round(percentile(&after_change, 0.5), 3),
        "after_a_change_max_ms": round(after_change.last().copied().unwrap_or(0.0), 3),
    }))
}
