//! `fieldsync-bench writes`: write throughput of the server's push path. `PUSHERS`
//! concurrent clients each push single-mutation edits of their own customer, for a fixed
//! time, through real HTTP on loopback; the figure is pushes per second, with latency
//! percentiles. Run once per backend on the same machine, the PostgreSQL figure over the
//! SQLite one is the ratio docs/PERFORMANCE.md tracks (SQLite has one writer; PostgreSQL
//! writers overlap except where the change log is ordered, see crates/server/src/db.rs).

use std::time::{Duration, Instant};

use fieldsync_server::auth::Device;
use fieldsync_server::db::{Db, Location};
use fieldsync_server::ServerConfig;
use serde_json::{json, Value};

use crate::dataset::{self, Dataset};
use crate::{percentile, round};

/// Concurrent pushers: about a field team syncing at the same moment.
pub const PUSHERS: usize = 32;

pub enum Backend {
    Sqlite,
    /// A PostgreSQL server reached with these connection settings (no database name: the
    /// bench creates its own database there and drops it afterwards).
    Postgres(String),
}

pub async fn run(backend: Backend, seconds: u64) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    let (location, database) = match &backend {
        Backend::Sqlite => (Location::Sqlite(dir.path().into()), None),
        Backend::Postgres(settings) => {
            let name = format!("fieldsync_bench_writes_{}", std::process::id());
            let settings = settings.clone();
            let (admin, url) = tokio::task::spawn_blocking(move || create_database(&settings, &name)).await??;
            (Location::Postgres(url.clone()), Some((admin, url)))
        }
    };
    let out = measure(&location, dir.path(), seconds).await;
    if let Some((admin, url)) = database {
        tokio::task::spawn_blocking(move || drop_database(&admin, &url)).await??;
    }
    let mut out = out?;
    out["backend"] = json!(match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres(_) => "postgres",
    });
    Ok(out)
}

async fn measure(location: &Location, data_dir: &std::path::Path, seconds: u64) -> anyhow::Result<Value> {
    let (loc, customers) = (location.clone(), PUSHERS);
    let tokens = tokio::task::spawn_blocking(move || -> anyhow::Result<(Vec<String>, Vec<String>, String)> {
        let db = Db::open(&loc, &fieldsync_protocol::Registry::standard(), &[])?;
        Dataset::fill_db(&db, customers)?;
        let ids: Vec<String> =
            db.read_blocking(|tx| tx.query("SELECT id FROM customers ORDER BY id", &[], |r| r.get::<String>(0)))?;
        let user = db
            .write_blocking(|tx| fieldsync_server::auth::credentials(tx, dataset::USER))?
            .ok_or_else(|| anyhow::anyhow!("no bench user"))?
            .user;
        let tokens = (0..PUSHERS)
            .map(|_| {
                let session = db.write_blocking(|tx| {
                    fieldsync_server::auth::open_session(tx, &user, &Device::default(), now(), 3_600_000)
                })?;
                anyhow::Ok(session.0)
            })
            .collect::<Result<Vec<_>, _>>()?;
        // A base cursor past every change: no edit counts as concurrent with another.
        let seen = db.read_blocking(fieldsync_server::history::History::read)?.token(i64::MAX / 2);
        Ok((tokens, ids, seen))
    })
    .await??;
    let (tokens, ids, seen) = tokens;

    let mut config = ServerConfig::new(data_dir);
    if let Location::Postgres(url) = location {
        config.database_url = Some(url.clone());
    }
    let server = fieldsync_server::start(config, "127.0.0.1:0".parse()?).await?;
    let url = server.url();
    let http = reqwest::Client::builder().pool_max_idle_per_host(PUSHERS).build()?;
    let warmup = Duration::from_secs(1);
    let started = Instant::now();
    let until = started + warmup + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let (http, url, seen, id) = (http.clone(), url.clone(), seen.clone(), ids[i % ids.len()].clone());
        tasks.push(tokio::spawn(async move {
            let client_id = uuid::Uuid::now_v7();
            let mut timings = Vec::new();
            let mut n = 0u64;
            while Instant::now() < until {
                n += 1;
                let body = json!({"client_id": client_id, "client_time_ms": now(), "mutations": [
                    {"mutation_id": uuid::Uuid::now_v7(), "entity": "customers", "id": id, "op": "put",
                     "fields": {"notes": format!("visit note {n}")}, "base_cursor": seen, "edited_at_ms": now()}]});
                let sent = Instant::now();
                let resp = http.post(format!("{url}/v1/push")).bearer_auth(&token).json(&body).send().await?;
                let status = resp.status();
                let reply: Value = resp.json().await?;
                anyhow::ensure!(status.is_success(), "push failed with {status}: {reply}");
                anyhow::ensure!(
                    reply["results"][0]["status"] == "applied",
                    "the edit was not applied: {}",
                    reply["results"][0]
                );
                if sent >= started + warmup {
                    timings.push(sent.elapsed().as_secs_f64() * 1000.0);
                }
            }
            anyhow::Ok(timings)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = (Instant::now() - (started + warmup)).as_secs_f64();
    server.stop().await;
    all.sort_by(f64::total_cmp);
    Ok(json!({
        "bench": "writes",
        "pushers": PUSHERS,
        "seconds": round(elapsed, 2),
        "pushes": all.len(),
        "pushes_per_s": round(all.len() as f64 / elapsed, 1),
        "push_p50_ms": round(percentile(&all, 0.5), 2),
        "push_p99_ms": round(percentile(&all, 0.99), 2),
    }))
}

/// Creates `name` on the server that `settings` reach; returns the settings with `name`.
fn create_database(settings: &str, name: &str) -> anyhow::Result<(String, String)> {
    let admin = format!("{settings} dbname=postgres");
    let mut client = admin.parse::<postgres::Config>()?.connect(postgres::NoTls)?;
    // One statement per call: DROP and CREATE DATABASE refuse to run in a transaction.
    client.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))?;
    client.batch_execute(&format!("CREATE DATABASE {name}"))?;
    Ok((admin, format!("{settings} dbname={name}")))
}

fn drop_database(admin: &str, url: &str) -> anyhow::Result<()> {
    let name = url.rsplit("dbname=").next().unwrap_or_default();
    let mut client = admin.parse::<postgres::Config>()?.connect(postgres::NoTls)?;
    client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
    Ok(())
}

fn now() -> i64 {
    fieldsync_protocol::time::Clock::now_ms(&fieldsync_protocol::time::SystemClock)
}
