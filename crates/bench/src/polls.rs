//! `fieldsync-bench polls`: what open long polls cost an unrelated push. The demo data;
//! rep3 (SOUTH) holds `polls` long polls over many sessions while rep1 pushes edits to a
//! NORTH customer, which rep3 cannot see. The same pushes run first with no poll open: the
//! baseline of the same run.

use std::time::Instant;

use fieldsync_protocol::Registry;
use fieldsync_server::auth::{AuthUser, Device};
use fieldsync_server::db::{Db, Location};
use fieldsync_server::ServerConfig;
use serde_json::{json, Value};

use crate::{percentile, round};

pub async fn run(polls: usize, pushes: usize) -> anyhow::Result<Value> {
    // The polls' sockets and the server's live in this one process.
    rlimit::increase_nofile_limit(4 * polls as u64 + 1024)?;
    let dir = tempfile::tempdir()?;
    let reg = Registry::standard();
    let db = Db::open(&Location::Sqlite(dir.path().into()), &fieldsync_protocol::Registry::standard(), &[])?;
    db.write_blocking(|tx| fieldsync_server::seed::seed_demo(tx, &reg))?;
    // Sessions for the waiting user, opened directly (sign-ins are rate-limited, and are
    // not what is measured): two polls per session.
    let rep3 = db.write_blocking(|tx| fieldsync_server::auth::credentials(tx, "rep3"))?.expect("demo user").user;
    let sessions = polls.div_ceil(2);
    let tokens = db.write_blocking(|tx| {
        (0..sessions)
            .map(|_| fieldsync_server::auth::open_session(tx, &rep3, &Device::default(), now(), 3_600_000).map(|t| t.0))
            .collect::<Result<Vec<_>, _>>()
    })?;
    let pusher: AuthUser =
        db.write_blocking(|tx| fieldsync_server::auth::credentials(tx, "rep1"))?.expect("demo user").user;
    let push_token = db
        .write_blocking(|tx| fieldsync_server::auth::open_session(tx, &pusher, &Device::default(), now(), 3_600_000))?
        .0;
    let history = db.read_blocking(fieldsync_server::history::History::read)?;
    drop(db);

    let server = fieldsync_server::start(ServerConfig::new(dir.path()), "127.0.0.1:0".parse()?).await?;
    let url = server.url();
    let http = reqwest::Client::builder().pool_max_idle_per_host(usize::MAX).build()?;
    let customer: String = {
        let page: Value =
            http.get(format!("{url}/v1/pull?limit=20000")).bearer_auth(&push_token).send().await?.json().await?;
        let customers = page["changes"].as_array().and_then(|c| c.iter().find(|e| e["entity"] == "customers"));
        customers
            .and_then(|c| c["rows"][0][0].as_str())
            .ok_or_else(|| anyhow::anyhow!("rep1 sees no customer"))?
            .to_string()
    };
    // The pusher's own client: its connection pool is not the polls'.
    let pusher_http = reqwest::Client::new();
    let baseline = time_pushes(&pusher_http, &url, &push_token, &customer, pushes).await?;
    // Open the polls, each from the head, so each waits (rep3 has nothing new).
    let head: i64 =
        http.get(format!("{url}/v1/health")).send().await?.json::<Value>().await?["head"].as_i64().unwrap_or(0);
    let open: Vec<_> = (0..polls)
        .map(|i| {
            let (http, url, token, cursor) = (http.clone(), url.clone(), tokens[i / 2].clone(), history.token(head));
            tokio::spawn(async move {
                http.get(format!("{url}/v1/pull?cursor={cursor}&limit=1&wait_ms=60000")).bearer_auth(token).send().await
            })
        })
        .collect();
    // Measure only once the server holds every poll.
    while server.open_long_polls() < polls {
        anyhow::ensure!(open.iter().all(|p| !p.is_finished()), "a long poll ended before the pushes");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let with_polls = time_pushes(&pusher_http, &url, &push_token, &customer, pushes).await?;
    let woken = open.iter().filter(|p| p.is_finished()).count();
    for p in open {
        p.abort();
    }
    server.stop().await;
    let (b50, w50) = (percentile(&baseline, 0.5), percentile(&with_polls, 0.5));
    Ok(json!({
        "bench": "polls",
        "polls": polls,
        "pushes": pushes,
        "polls_answered_early": woken,
        "baseline_push_p50_ms": round(b50, 2),
        "baseline_push_p95_ms": round(percentile(&baseline, 0.95), 2),
        "push_p50_ms": round(w50, 2),
        "push_p95_ms": round(percentile(&with_polls, 0.95), 2),
        "push_p99_ms": round(percentile(&with_polls, 0.99), 2),
        "added_p50_ms": round(w50 - b50, 2),
        "ratio_to_baseline": round(w50 / b50, 3),
    }))
}

fn now() -> i64 {
    fieldsync_protocol::time::Clock::now_ms(&fieldsync_protocol::time::SystemClock)
}

/// Sorted latencies (ms) of `n` one-mutation pushes, one at a time.
async fn time_pushes(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    customer: &str,
    n: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let body = json!({"client_id": uuid::Uuid::now_v7(), "client_time_ms": now(), "mutations": [
            {"mutation_id": uuid::Uuid::now_v7(), "entity": "customers", "id": customer, "op": "put",
             "fields": {"notes": format!("bench note {i}")}, "base_cursor": "", "edited_at_ms": now()}]});
        let started = Instant::now();
        let resp = http.post(format!("{url}/v1/push")).bearer_auth(token).json(&body).send().await?;
        anyhow::ensure!(resp.status().is_success(), "push failed: {}", resp.status());
        resp.bytes().await?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples)
}
