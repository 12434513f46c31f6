//! Property test: three clients make random offline edits, creations and deletions and
//! sync in random order; afterwards every client agrees with the server, every field holds
//! its latest edit, and no mutation was lost or applied twice.
//!
//! Replay one case with `FIELDSYNC_SEED=<n> cargo nextest run convergence`.

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::support::{TestClient, TestServer};

const FIELDS: &[&str] = &["name", "phone", "email", "city", "notes"];
const VALUES: &[&str] = &["alpha", "bravo", "charlie", "delta"];
const STEPS: usize = 70;

async fn run_case(seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let srv = TestServer::demo().await;
    let mut clients: Vec<TestClient> =
        vec![srv.client("rep1").await, srv.client("rep2").await, srv.client("manager1").await];
    for c in clients.iter_mut() {
        c.sync().await;
    }
    let customers: Vec<String> = clients[0].ids("customers")[..4].to_vec();
    let mut latest: BTreeMap<(String, &str), Value> = BTreeMap::new();
    let mut created: Vec<(usize, String)> = Vec::new();
    let mut deleted: BTreeSet<String> = BTreeSet::new();
    let mut queued = 0usize;

    for _ in 0..STEPS {
        // Edits are strictly ordered in (simulated) time, far apart relative to the
        // clock-offset measurement error.
        srv.clock.advance(rng.gen_range(50..3_000));
        let who = rng.gen_range(0..clients.len());
        let c = &mut clients[who];
        match rng.gen_range(0..10) {
            0..=4 => {
                let customer = &customers[rng.gen_range(0..customers.len())];
                let field = FIELDS[rng.gen_range(0..FIELDS.len())];
                let value = VALUES[rng.gen_range(0..VALUES.len())];
                let fields = c.engine.parse_sets("customers", &[(field.to_string(), value.to_string())]).unwrap();
                // Setting a field to the value it already shows is no edit, and queues nothing.
                if c.engine.update("customers", customer, fields).unwrap() > 0 {
                    queued += 1;
                    latest.insert((customer.clone(), field), json!(value));
                }
            }
            5 => {
                let customer = customers[rng.gen_range(0..customers.len())].clone();
                let me = c.my_id();
                let id = c.create(
                    "visits",
                    &[
                        ("customer_id", &customer),
                        ("rep_id", &me),
                        ("visited_at", "2026-11-25T09:00:00Z"),
                        ("notes", "prop"),
                    ],
                );
                queued += 1;
                created.push((who, id));
            }
            6 => {
                let mine: Vec<&String> =
                    created.iter().filter(|(w, id)| *w == who && !deleted.contains(id)).map(|(_, id)| id).collect();
                if let Some(id) = mine.get(rng.gen_range(0..mine.len().max(1))).map(|s| s.to_string()) {
                    c.engine.delete("visits", &id).unwrap();
                    queued += 1;
                    deleted.insert(id);
                }
            }
            _ => {
                c.sync().await;
            }
        }
    }
    let mut pushed = 0;
    for _ in 0..2 {
        for c in clients.iter_mut() {
            let r = c.sync().await;
            assert_eq!(r.rejected, 0, "seed {seed}: {} had a change rejected", c.user);
            pushed += r.pushed;
        }
    }
    let _ = pushed;
    let server = srv.client("manager1").await;
    let mut server = server;
    server.sync().await;

    for c in &clients {
        let st = c.engine.status().unwrap();
        assert_eq!((st.pending, st.needs_attention), (0, 0), "seed {seed}: {} has leftovers", c.user);
        for id in &customers {
            assert_eq!(c.get("customers", id), server.get("customers", id), "seed {seed}: {} diverged on {id}", c.user);
        }
    }
    for ((customer, field), value) in &latest {
        let got = &server.get("customers", customer).unwrap()[*field];
        assert_eq!(got, value, "seed {seed}: {customer}.{field} lost its latest edit");
    }
    let visits: Vec<String> = server.ids("visits");
    let visit_set: BTreeSet<&String> = visits.iter().collect();
    assert_eq!(visit_set.len(), visits.len(), "seed {seed}: duplicated visits");
    for (_, id) in &created {
        assert_eq!(visit_set.contains(id), !deleted.contains(id), "seed {seed}: visit {id} wrong after sync");
    }
    assert_eq!(
        server.ids("visits"),
        clients[2].ids("visits"),
        "seed {seed}: manager's visits differ from the server's"
    );
    assert!(queued > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn random_offline_edits_by_three_clients_converge() {
    let seeds: Vec<u64> = match std::env::var("FIELDSYNC_SEED") {
        Ok(s) => vec![s.parse().expect("FIELDSYNC_SEED is a number")],
        Err(_) => (1..=6).collect(),
    };
    for seed in seeds {
        run_case(seed).await;
    }
}
