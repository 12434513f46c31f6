//! Running a plan against a fresh world, step by step, keeping a trace of what each step
//! did; healing; checking; shrinking a failure.

use fieldsync_client::{ClientError, Object};
use fieldsync_protocol::Role;
use fieldsync_server::args;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::check::{self, Failure};
use crate::plan::{Edit, Plan, Step};
use crate::world::{user_name, FaultCounts, World};

/// What one seed did.
#[derive(Debug, Clone)]
pub struct SeedReport {
    pub seed: u64,
    /// SHA-256 of the trace: the same for every run of the seed.
    pub trace_hash: String,
    pub trace: Vec<String>,
    pub invariants_checked: u64,
    pub faults: FaultCounts,
    pub failure: Option<Failure>,
}

pub async fn run_seed(seed: u64) -> SeedReport {
    let plan = Plan::generate(seed);
    run_plan(seed, &plan).await
}

pub async fn run_plan(seed: u64, plan: &Plan) -> SeedReport {
    let mut trace = Vec::new();
    let mut report = SeedReport {
        seed,
        trace_hash: String::new(),
        trace: Vec::new(),
        invariants_checked: 0,
        faults: FaultCounts::new(),
        failure: None,
    };
    let outcome = async {
        let mut world = World::build(&plan.roles).map_err(|e| Failure::new("setup", e.to_string()))?;
        // Every laptop starts with its first download done.
        for c in &mut world.clients {
            c.engine().sync(&mut |_| {}).await.map_err(|e| Failure::new("setup", format!("first sync: {e}")))?;
        }
        for (i, step) in plan.steps.iter().enumerate() {
            let what = perform(&mut world, i, step)
                .await
                .map_err(|e| Failure::new("step", format!("step {i} {step:?}: {e}")))?;
            trace.push(format!("{i} {step:?} -> {what}"));
        }
        heal(&mut world, &mut trace).await?;
        report.faults = world.faults();
        check::all(&mut world).await
    }
    .await;
    match outcome {
        Ok(checked) => report.invariants_checked = checked,
        Err(failure) => report.failure = Some(failure),
    }
    report.trace_hash = hex::encode(Sha256::digest(trace.join("\n").as_bytes()));
    report.trace = trace;
    report
}

/// Drops steps from a failing plan while it still fails the same invariant, within
/// `budget` runs: the steps left are the trace to read.
pub async fn shrink(seed: u64, plan: &Plan, invariant: &str, budget: usize) -> Plan {
    let mut best = plan.clone();
    let mut runs = 0;
    let mut chunk = (best.steps.len() / 2).max(1);
    while chunk >= 1 && runs < budget {
        let mut i = 0;
        let mut shrunk = false;
        while i < best.steps.len() && runs < budget {
            let mut candidate = best.clone();
            candidate.steps.drain(i..(i + chunk).min(candidate.steps.len()));
            runs += 1;
            let fails_alike = run_plan(seed, &candidate).await.failure.is_some_and(|f| f.invariant == invariant);
            if fails_alike {
                best = candidate;
                shrunk = true;
            } else {
                i += chunk;
            }
        }
        if !shrunk {
            if chunk == 1 {
                break;
            }
            chunk /= 2;
        }
    }
    best
}

/// Syncs everyone, with no faults, until a round changes nothing; held requests arrive
/// first (late duplicates must be harmless).
async fn heal(world: &mut World, trace: &mut Vec<String>) -> Result<(), Failure> {
    let held: Vec<_> = std::mem::take(&mut *world.held.lock().expect("held"));
    for req in held {
        let _ = world.clients[0].deliver_late(req).await;
    }
    for round in 0..12 {
        let mut quiet = true;
        for c in 0..world.clients.len() {
            world.clients[c].arm(None);
            match world.clients[c].engine().sync(&mut |_| {}).await {
                Ok(r) => quiet &= r.pushed == 0 && r.pulled == 0,
                Err(e) => {
                    return Err(Failure::new(
                        "heals",
                        format!("round {round}: {} cannot sync without faults: {e}", world.clients[c].user),
                    ))
                }
            }
        }
        if quiet {
            trace.push(format!("healed after {} round(s)", round + 1));
            return Ok(());
        }
    }
    Err(Failure::new("heals", "the clients still exchange changes after 12 fault-free rounds".into()))
}

/// Runs one step; returns what happened, for the trace.
async fn perform(world: &mut World, index: usize, step: &Step) -> anyhow::Result<String> {
    let registry = world.registry.clone();
    Ok(match *step {
        Step::Edit { client, edit, pick } => {
            let tag = format!("s{index}");
            let c = &mut world.clients[client];
            match edit_once(c.engine(), edit, pick, &tag) {
                Ok(done) => done,
                Err(e) => format!("refused here: {}", class(&e)),
            }
        }
        Step::Sync { client, fault } => {
            let c = &mut world.clients[client];
            c.arm(fault);
            let result = c.engine().sync(&mut |_| {}).await;
            c.arm(None);
            let what = match result {
                Ok(r) => format!("ok pushed {} rejected {} resent {}", r.pushed, r.rejected, r.resent),
                Err(e) => format!("failed: {}", class(&e)),
            };
            if c.take_crash() {
                c.crash(&registry)?;
                return Ok(format!("{what}; the client died and started again"));
            }
            what
        }
        Step::CrashClient { client } => {
            world.clients[client].crash(&registry)?;
            "restarted".into()
        }
        Step::RestartServer => {
            world.server.restart()?;
            "restarted".into()
        }
        Step::Skew { client, offset_ms } => {
            world.clients[client].clock.offset.store(offset_ms, std::sync::atomic::Ordering::SeqCst);
            "set".into()
        }
        Step::JumpBack { client, ms } => {
            world.clients[client].clock.offset.fetch_sub(ms, std::sync::atomic::Ordering::SeqCst);
            "set".into()
        }
        Step::Advance { ms } => {
            world.clock.advance(ms);
            "set".into()
        }
        Step::MoveCustomer { pick } => {
            let now = world.clock.peek();
            let (code, to) = world.server.read(|tx| {
                let mut rows = Vec::new();
                tx.for_each(
                    "SELECT c.code, t.code FROM customers c JOIN territories t ON t.id = c.territory_id ORDER BY c.code",
                    args![],
                    |r| {
                        rows.push((r.get::<String>(0)?, r.get::<String>(1)?));
                        Ok(true)
                    },
                )?;
                let (code, from) = rows[pick as usize % rows.len()].clone();
                Ok((code, if from == "NORTH" { "SOUTH" } else { "NORTH" }))
            })?;
            world.server.admin(|tx| {
                fieldsync_server::admin::move_customers(tx, &registry, to, std::slice::from_ref(&code), now)?;
                Ok(())
            })?;
            format!("{code} to {to}")
        }
        Step::ChangeRole { client, role } => {
            let user = user_name(client);
            let territory = vec![["NORTH", "SOUTH"][client % 2].to_string()];
            let manager = (role != Role::Manager).then(|| user_name(0));
            world.server.admin(|tx| {
                let hash: String = tx.value(
                    "SELECT c.password_hash FROM credentials c JOIN users u ON u.id = c.user_id WHERE u.username = ?1",
                    args![user.as_str()],
                )?;
                fieldsync_server::admin::save_user_hashed(
                    tx,
                    &registry,
                    &user,
                    role,
                    &territory,
                    manager.as_deref(),
                    &hash,
                )?;
                Ok(())
            })?;
            world.clients[client].role = role;
            format!("{user} is a {role}")
        }
        Step::Backup => {
            world.backup()?;
            format!("backup {}", world.backups.len() - 1)
        }
        Step::Restore { pick } => match world.restore(pick)? {
            Some(i) => format!("backup {i} restored"),
            None => "no backup".into(),
        },
        Step::Deliver => {
            let req = {
                let mut held = world.held.lock().expect("held");
                (!held.is_empty()).then(|| held.remove(0))
            };
            match req {
                Some(req) => match world.clients[0].deliver_late(req).await {
                    Ok(status) => format!("arrived late: {status}"),
                    Err(e) => format!("arrived late: {e}"),
                },
                None => "nothing held".into(),
            }
        }
    })
}

/// An error as the trace records it: the server's code, or the kind of failure.
fn class(e: &ClientError) -> String {
    match e {
        ClientError::Server { code, .. } => code.clone(),
        ClientError::Unavailable(_) => "unavailable".into(),
        ClientError::NotSignedIn(_) => "not_signed_in".into(),
        ClientError::BadInput(_) => "bad_input".into(),
        ClientError::NotFound(_) => "not_found".into(),
        ClientError::Storage(_) | ClientError::Internal(_) => format!("internal: {e}"),
    }
}

/// The candidates of an edit in a stable order (by a field every run gives the same value).
fn candidates(
    engine: &fieldsync_client::Engine,
    entity: &str,
    key: &str,
    keep: impl Fn(&Object) -> bool,
) -> Vec<Object> {
    let mut rows: Vec<Object> = engine.list(entity, &[]).unwrap_or_default().into_iter().filter(|r| keep(r)).collect();
    rows.sort_by_key(|r| text(r, key));
    rows
}

fn text(row: &Object, key: &str) -> String {
    row.get(key).map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string())).unwrap_or_default()
}

fn chosen(rows: Vec<Object>, pick: u32) -> Option<Object> {
    (!rows.is_empty()).then(|| rows[pick as usize % rows.len()].clone())
}

fn fields(pairs: &[(&str, Value)]) -> Object {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// Makes one offline edit; `tag` makes its values unique and the same on every run.
fn edit_once(e: &mut fieldsync_client::Engine, edit: Edit, pick: u32, tag: &str) -> fieldsync_client::Result<String> {
    let id = |row: &Object| text(row, "id");
    let customer = |e: &fieldsync_client::Engine| chosen(candidates(e, "customers", "code", |_| true), pick);
    let mine = e.store().meta("user_id")?.unwrap_or_default();
    Ok(match edit {
        Edit::CustomerPhone | Edit::CustomerNotes | Edit::Samples => {
            let Some(c) = customer(e) else { return Ok("no customer".into()) };
            let change = match edit {
                Edit::CustomerPhone => ("phone", Value::from(format!("+47 {tag}"))),
                Edit::CustomerNotes => ("notes", Value::from(format!("notes {tag}"))),
                _ => ("samples_given", Value::from(c["samples_given"].as_i64().unwrap_or(0) + 1 + i64::from(pick % 3))),
            };
            e.update("customers", &id(&c), fields(&[change]))?;
            format!("{} of {}", edit_name(edit), text(&c, "code"))
        }
        Edit::ContactPhone | Edit::ContactDelete => {
            let Some(c) = chosen(candidates(e, "contacts", "name", |_| true), pick) else {
                return Ok("no contact".into());
            };
            match edit {
                Edit::ContactPhone => e.update("contacts", &id(&c), fields(&[("phone", Value::from(tag))]))?,
                _ => {
                    e.delete("contacts", &id(&c))?;
                    1
                }
            };
            format!("{} of {}", edit_name(edit), text(&c, "name"))
        }
        Edit::ContactCreate | Edit::VisitCreate | Edit::OrderCreate => {
            let Some(c) = customer(e) else { return Ok("no customer".into()) };
            let cid = Value::from(id(&c));
            match edit {
                Edit::ContactCreate => {
                    e.create("contacts", fields(&[("customer_id", cid), ("name", Value::from(format!("Sim {tag}")))]))?;
                }
                Edit::VisitCreate => {
                    e.create(
                        "visits",
                        fields(&[("customer_id", cid), ("notes", Value::from(format!("visit {tag}")))]),
                    )?;
                }
                _ => {
                    let order = e.create(
                        "orders",
                        fields(&[("customer_id", cid), ("notes", Value::from(format!("order {tag}")))]),
                    )?;
                    let product = chosen(candidates(e, "products", "sku", |_| true), pick);
                    if let Some(p) = product {
                        let line = [
                            ("order_id", order["id"].clone()),
                            ("product_id", p["id"].clone()),
                            ("quantity", Value::from(1 + pick % 5)),
                        ];
                        e.create("order_lines", fields(&line))?;
                    }
                }
            }
            format!("{} for {}", edit_name(edit), text(&c, "code"))
        }
        Edit::VisitNote => {
            let Some(v) = chosen(candidates(e, "visits", "notes", |_| true), pick) else {
                return Ok("no visit".into());
            };
            e.update("visits", &id(&v), fields(&[("notes", Value::from(format!(" +{tag}")))]))?;
            format!("note on {}", text(&v, "notes").split(' ').take(2).collect::<Vec<_>>().join(" "))
        }
        Edit::OrderSubmit | Edit::OrderBackToDraft => {
            let from: &[&str] = if edit == Edit::OrderSubmit { &["draft"] } else { &["submitted", "rejected"] };
            let to = if edit == Edit::OrderSubmit { "submitted" } else { "draft" };
            let keep = |o: &Object| text(o, "rep_id") == mine && from.contains(&text(o, "status").as_str());
            let Some(o) = chosen(candidates(e, "orders", "notes", keep), pick) else { return Ok("no order".into()) };
            e.update("orders", &id(&o), fields(&[("status", Value::from(to))]))?;
            format!("{} {}", edit_name(edit), text(&o, "notes"))
        }
        Edit::Review { approve } => {
            let keep = |o: &Object| text(o, "status") == "submitted";
            let Some(o) = chosen(candidates(e, "orders", "notes", keep), pick) else {
                return Ok("nothing to review".into());
            };
            e.review(&id(&o), approve, Some("reviewed in the simulation"))?;
            format!("{} {}", if approve { "approved" } else { "rejected" }, text(&o, "notes"))
        }
    })
}

fn edit_name(edit: Edit) -> &'static str {
    match edit {
        Edit::CustomerPhone => "phone",
        Edit::CustomerNotes => "notes",
        Edit::ContactPhone => "contact phone",
        Edit::Samples => "samples",
        Edit::ContactCreate => "new contact",
        Edit::ContactDelete => "deleted",
        Edit::VisitCreate => "new visit",
        Edit::VisitNote => "visit note",
        Edit::OrderCreate => "new order",
        Edit::OrderSubmit => "submitted",
        Edit::OrderBackToDraft => "back to draft",
        Edit::Review { .. } => "review",
    }
}
