//! `fieldsync-bench network --profile NAME`: a rep's sign-in, first sync and 10-edit
//! incremental syncs through a shaping proxy (see `proxy.rs`) that makes loopback behave
//! like a poor mobile or Wi-Fi link, against the same steps on a clean link in the same
//! run. Failed syncs are retried exactly as the desktop's background task retries them:
//! the bench drives the app's own `Scheduler` (backoff, offline probes) with the
//! engine's real outcomes, so the times include the waits a rep would sit through.

use std::time::{Duration, Instant};

use fieldsync_client::schedule::{Action, Outcome, Policy, Scheduler};
use fieldsync_client::{Clock, Engine, EngineOptions, Object};
use fieldsync_protocol::Registry;
use fieldsync_server::db::{Db, Location};
use serde_json::{json, Value};

use crate::proxy::{Proxy, Shape, Totals};
use crate::{percentile, round};

/// The demo rep whose first sync is measured, and their password.
const REP: &str = "rep1";
const PASSWORD: &str = "demo";
/// Edits per incremental sync.
const EDITS: usize = 10;
/// A sync not done after this long counts as failed (the rep has given up).
const GIVE_UP: Duration = Duration::from_secs(15 * 60);

/// The named link profiles and what each must achieve (docs/PERFORMANCE.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// A rural 2G/EDGE link: 600 ms RTT, 50 kbit/s, 2% loss.
    #[value(name = "2g")]
    TwoG,
    /// A 3G link: 150 ms RTT, 1.6 Mbit/s.
    #[value(name = "3g")]
    ThreeG,
    /// Café Wi-Fi: 30 ms RTT, one request in ten has its connection reset.
    FlakyWifi,
}

impl Profile {
    fn name(self) -> &'static str {
        match self {
            Profile::TwoG => "2g",
            Profile::ThreeG => "3g",
            Profile::FlakyWifi => "flaky-wifi",
        }
    }

    pub fn shape(self) -> Shape {
        match self {
            Profile::TwoG => {
                Shape { rtt: Duration::from_millis(600), bits_per_s: Some(50_000), loss: 0.02, reset: 0.0 }
            }
            Profile::ThreeG => {
                Shape { rtt: Duration::from_millis(150), bits_per_s: Some(1_600_000), ..Shape::default() }
            }
            Profile::FlakyWifi => Shape { rtt: Duration::from_millis(30), reset: 0.10, ..Shape::default() },
        }
    }
}

/// One sync retried until it succeeds, as the background task would.
struct Synced {
    ok: bool,
    seconds: f64,
    /// Syncs started (1 when the first one worked).
    attempts: usize,
    /// Health probes while the server seemed unreachable.
    probes: usize,
    rows: usize,
    /// The distinct errors met on the way.
    errors: Vec<String>,
}

pub async fn run(profile: Profile, rounds: usize) -> anyhow::Result<Value> {
    let data = tempfile::tempdir()?;
    let reg = Registry::standard();
    let db = Db::open(&Location::Sqlite(data.path().into()), &fieldsync_protocol::Registry::standard(), &[])?;
    db.write_blocking(|tx| fieldsync_server::seed::seed_demo(tx, &reg))?;
    drop(db);
    let server =
        fieldsync_server::start(fieldsync_server::ServerConfig::new(data.path()), "127.0.0.1:0".parse()?).await?;
    let clean = Proxy::counting(server.addr).await?;
    let baseline = rep_day(&clean, 1, rounds).await?;
    let shaped = Proxy::start(server.addr, profile.shape(), 7).await?;
    let measured = rep_day(&shaped, 2, rounds).await?;
    server.stop().await;

    let (first, incremental) = (&measured["first_sync"], &measured["incremental"]);
    let seconds = |v: &Value, key: &str| v[key].as_f64().unwrap_or(f64::INFINITY);
    let all_ok = measured["success_ratio"].as_f64() == Some(1.0);
    let (target, met) = match profile {
        Profile::TwoG => ("10-edit sync p95 < 4 s; every sync succeeds", all_ok && seconds(incremental, "p95_s") < 4.0),
        Profile::ThreeG => ("first sync < 20 s", all_ok && seconds(first, "seconds") < 20.0),
        Profile::FlakyWifi => ("every sync succeeds", all_ok),
    };
    Ok(json!({
        "bench": "network",
        "profile": profile.name(),
        "shape": profile.shape(),
        "measured": measured,
        "baseline_clean_link": baseline,
        "first_sync_ratio_to_clean": round(seconds(first, "seconds") / seconds(&baseline["first_sync"], "seconds"), 1),
        "target": target,
        "target_met": met,
    }))
}

/// A rep's sign-in, first sync, then `rounds` incremental syncs of `EDITS` edits each,
/// through `proxy`.
async fn rep_day(proxy: &Proxy, seed: u64, rounds: usize) -> anyhow::Result<Value> {
    let profile = tempfile::tempdir()?;
    let mut engine = Engine::open_with(profile.path(), EngineOptions::default())?;

    proxy.reset();
    let started = Instant::now();
    let (mut sign_in_attempts, mut sign_in_errors) = (0, Vec::<String>::new());
    loop {
        sign_in_attempts += 1;
        match engine.login(&proxy.url(), REP, PASSWORD).await {
            Ok(_) => break,
            // The rep presses "Sign in" again a moment later; the bench gives up where
            // the sync would.
            Err(e) if started.elapsed() < GIVE_UP => {
                sign_in_errors.push(e.to_string());
                tokio::time::sleep(Duration::from_millis(Policy::default().backoff_base_ms as u64)).await;
            }
            Err(e) => anyhow::bail!("could not sign in within {GIVE_UP:?}: {e}"),
        }
    }
    let sign_in = json!({
        "seconds": round(started.elapsed().as_secs_f64(), 2),
        "attempts": sign_in_attempts,
        "errors": sign_in_errors,
    });

    proxy.reset();
    let first = until_synced(&mut engine, seed).await?;
    let first_json = phase(&first, proxy.totals());
    let mut synced = usize::from(first.ok);

    let ids: Vec<String> = engine
        .list("customers", &[])?
        .iter()
        .take(EDITS)
        .filter_map(|c| c.get("id").and_then(Value::as_str).map(String::from))
        .collect();
    anyhow::ensure!(ids.len() == EDITS, "{REP} sees {} customers, fewer than {EDITS}", ids.len());
    let mut times = Vec::new();
    let (mut attempts, mut errors) = (0, Vec::new());
    proxy.reset();
    for round in 0..rounds {
        for (i, id) in ids.iter().enumerate() {
            let mut fields = Object::new();
            fields.insert("notes".into(), json!(format!("visit note {round}.{i}")));
            engine.update("customers", id, fields)?;
        }
        let done = until_synced(&mut engine, seed * 1000 + round as u64).await?;
        synced += usize::from(done.ok);
        attempts += done.attempts;
        times.push(done.seconds);
        errors.extend(done.errors.into_iter().filter(|e| !errors.contains(e)).collect::<Vec<_>>());
    }
    let totals = proxy.totals();
    times.sort_by(f64::total_cmp);
    let per_sync = |n: usize| n / rounds.max(1);
    Ok(json!({
        "sign_in": sign_in,
        "first_sync": first_json,
        "incremental": {
            "rounds": rounds,
            "edits_per_sync": EDITS,
            "p50_s": round(percentile(&times, 0.5), 2),
            "p95_s": round(percentile(&times, 0.95), 2),
            "max_s": round(times.last().copied().unwrap_or(0.0), 2),
            "retries": attempts - rounds,
            "requests_per_sync": per_sync(totals.requests),
            "bytes_up_per_sync": per_sync(totals.bytes_up),
            "bytes_down_per_sync": per_sync(totals.bytes_down),
            "resets": totals.resets,
            "errors": errors,
        },
        "success_ratio": round(synced as f64 / (rounds + 1) as f64, 3),
    }))
}

fn phase(s: &Synced, t: Totals) -> Value {
    json!({
        "ok": s.ok,
        "seconds": round(s.seconds, 2),
        "rows": s.rows,
        "attempts": s.attempts,
        "probes": s.probes,
        "requests": t.requests,
        "bytes_up": t.bytes_up,
        "bytes_down": t.bytes_down,
        "resets": t.resets,
        "errors": s.errors,
    })
}

/// Syncs until a sync succeeds, waiting between attempts as the app's scheduler says.
async fn until_synced(engine: &mut Engine, seed: u64) -> anyhow::Result<Synced> {
    let now = || fieldsync_client::SystemClock.now_ms();
    let (server, _, _) = engine.session_snapshot()?;
    let mut sched = Scheduler::new(Policy::default(), seed);
    sched.sync_now(now());
    let started = Instant::now();
    let mut out = Synced { ok: false, seconds: 0.0, attempts: 0, probes: 0, rows: 0, errors: Vec::new() };
    while started.elapsed() < GIVE_UP {
        match sched.poll(now()) {
            Some(Action::Sync) => {
                out.attempts += 1;
                let result = engine.sync(&mut |_| {}).await;
                let outcome = Outcome::of(&result);
                sched.sync_finished(outcome.clone(), now());
                match (result, outcome) {
                    (Ok(report), _) => {
                        out.ok = true;
                        out.rows = report.pulled;
                        break;
                    }
                    (Err(e), Outcome::SignInNeeded(_)) => anyhow::bail!("the session was refused: {e}"),
                    (Err(e), _) => {
                        let e = e.to_string();
                        if !out.errors.contains(&e) {
                            out.errors.push(e);
                        }
                    }
                }
            }
            Some(Action::Probe) => {
                out.probes += 1;
                let reachable = fieldsync_client::probe(&*engine.transport(), &server).await;
                sched.probe_finished(reachable, now());
            }
            None => {
                let wake = sched.next_wakeup().ok_or_else(|| anyhow::anyhow!("the scheduler stopped"))?;
                tokio::time::sleep(Duration::from_millis((wake - now()).max(0) as u64)).await;
            }
        }
    }
    out.seconds = started.elapsed().as_secs_f64();
    Ok(out)
}
