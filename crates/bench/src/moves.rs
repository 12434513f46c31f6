//! `fieldsync-bench moves`: what one rep's big push that moves records costs everyone
//! else. The demo data plus 1,000 reps; rep1 pushes 1,000 mutations that move contacts
//! between two of its customers (each move changes who sees the contact); rep3 pushes one
//! edit meanwhile. rep3's latency alone, in the same run, is the baseline.

use std::time::Instant;

use fieldsync_protocol::{Registry, Role};
use fieldsync_server::auth::Device;
use fieldsync_server::db::{Db, Location};
use fieldsync_server::ServerConfig;
use serde_json::{json, Value};

use crate::{percentile, round};

pub async fn run(users: usize, mutations: usize, rounds: usize) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    let reg = Registry::standard();
    let db = Db::open(&Location::Sqlite(dir.path().into()), &fieldsync_protocol::Registry::standard(), &[])?;
    db.write_blocking(|tx| fieldsync_server::seed::seed_demo(tx, &reg))?;
    // One slow hash for everyone: preparing the users stays quick.
    let hash = fieldsync_server::auth::hash_password("bench-password")?;
    db.write_blocking(|tx| {
        for i in 0..users {
            let territory = if i % 2 == 0 { "NORTH" } else { "SOUTH" };
            let name = format!("load{i:04}");
            fieldsync_server::admin::save_user_hashed(
                tx,
                &reg,
                &name,
                Role::Rep,
                &[territory.into()],
                Some("manager1"),
                &hash,
            )?;
        }
        anyhow::Ok(())
    })?;
    let token = |name: &str| -> anyhow::Result<String> {
        let user = db.write_blocking(|tx| fieldsync_server::auth::credentials(tx, name))?.expect("demo user").user;
        Ok(db
            .write_blocking(|tx| fieldsync_server::auth::open_session(tx, &user, &Device::default(), now(), 3_600_000))?
            .0)
    };
    let (mover, other) = (token("rep1")?, token("rep3")?);
    // A base cursor past every change: no write counts as concurrent with another.
    let seen_everything = db.read_blocking(fieldsync_server::history::History::read)?.token(i64::MAX / 2);
    drop(db);

    let server = fieldsync_server::start(ServerConfig::new(dir.path()), "127.0.0.1:0".parse()?).await?;
    let url = server.url();
    let http = reqwest::Client::new();
    let first_rows = |page: &Value, entity: &str| -> Vec<Vec<Value>> {
        let c = page["changes"].as_array().and_then(|c| c.iter().find(|e| e["entity"] == entity).cloned());
        c.and_then(|c| c["rows"].as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| r.as_array().cloned())
            .collect()
    };
    let page: Value = http.get(format!("{url}/v1/pull?limit=20000")).bearer_auth(&mover).send().await?.json().await?;
    let contacts = first_rows(&page, "contacts");
    anyhow::ensure!(contacts.len() >= 2, "rep1 sees too few contacts");
    // Contact rows are [id, customer_id, ...]: move the first contacts between two customers.
    let (a, b) = (contacts[0][1].clone(), contacts[1][1].clone());
    let moving: Vec<Value> = contacts.iter().take(10).map(|c| c[0].clone()).collect();
    let other_page: Value =
        http.get(format!("{url}/v1/pull?limit=20000")).bearer_auth(&other).send().await?.json().await?;
    let other_customer = first_rows(&other_page, "customers")[0][0].clone();

    let one_edit = |i: usize| {
        json!({"client_id": uuid::Uuid::now_v7(), "client_time_ms": now(), "mutations": [
        {"mutation_id": uuid::Uuid::now_v7(), "entity": "customers", "id": other_customer, "op": "put",
         "fields": {"notes": format!("note {i}")}, "base_cursor": seen_everything, "edited_at_ms": now()}]})
    };
    // `moves`: each mutation moves a contact to the other customer; otherwise each edits a
    // contact's phone (the same work without a move: the baseline).
    let big_push = |round: usize, moves: bool| {
        let ms: Vec<Value> = (0..mutations)
            .map(|i| {
                let fields = match moves {
                    true => json!({"customer_id": if (i + round) & 1 == 0 { &b } else { &a }}),
                    false => json!({"phone": format!("+47 555 {i:04}")}),
                };
                json!({"mutation_id": uuid::Uuid::now_v7(), "entity": "contacts", "id": moving[i % moving.len()],
                    "op": "put", "fields": fields, "base_cursor": seen_everything, "edited_at_ms": now()})
            })
            .collect();
        json!({"client_id": uuid::Uuid::now_v7(), "client_time_ms": now(), "mutations": ms})
    };
    let timed = |body: Value, token: String| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let started = Instant::now();
            let resp = http.post(format!("{url}/v1/push")).bearer_auth(token).json(&body).send().await?;
            anyhow::ensure!(resp.status().is_success(), "push failed: {}", resp.status());
            resp.bytes().await?;
            anyhow::Ok(started.elapsed().as_secs_f64() * 1000.0)
        }
    };

    let mut alone = Vec::new();
    for i in 0..20 {
        alone.push(timed(one_edit(i), other.clone()).await?);
    }
    let mut plain = Vec::new();
    for round in 0..rounds {
        plain.push(timed(big_push(round, false), mover.clone()).await?);
    }
    let (mut during, mut big) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let mover_push = tokio::spawn(timed(big_push(round, true), mover.clone()));
        // Sent right after the big push, so it queues behind it.
        tokio::task::yield_now().await;
        during.push(timed(one_edit(100 + round), other.clone()).await?);
        big.push(mover_push.await??);
    }
    server.stop().await;
    for v in [&mut alone, &mut during, &mut big, &mut plain] {
        v.sort_by(f64::total_cmp);
    }
    let (base, with) = (percentile(&alone, 0.5), percentile(&during, 0.5));
    Ok(json!({
        "bench": "moves",
        "users": users + 5,
        "mutations_per_big_push": mutations,
        "rounds": rounds,
        "big_push_p50_ms": round(percentile(&big, 0.5), 1),
        "same_push_without_moves_p50_ms": round(percentile(&plain, 0.5), 1),
        "other_push_alone_p50_ms": round(base, 2),
        "other_push_during_p50_ms": round(with, 1),
        "other_push_during_max_ms": round(during.last().copied().unwrap_or(0.0), 1),
        "added_p50_ms": round(with - base, 1),
    }))
}

fn now() -> i64 {
    fieldsync_protocol::time::Clock::now_ms(&fieldsync_protocol::time::SystemClock)
}
