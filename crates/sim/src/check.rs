//! The invariants checked once a world has healed. Each returns how many facts it checked.

use std::collections::{BTreeMap, BTreeSet};

use fieldsync_client::Object;
use fieldsync_protocol::{FieldStrategy, FieldType};
use fieldsync_server::args;
use serde_json::Value;

use crate::world::World;

/// An invariant that does not hold, and what broke it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub invariant: &'static str,
    pub detail: String,
}

impl Failure {
    pub fn new(invariant: &'static str, detail: String) -> Failure {
        Failure { invariant, detail }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.invariant, self.detail)
    }
}

pub async fn all(world: &mut World) -> Result<u64, Failure> {
    let mut checked = replicas_equal_fresh_downloads(world).await?;
    let sent = acknowledged(world)?;
    checked += acknowledged_edits_kept(world, &sent)?;
    checked += counters_add_up(world, &sent)?;
    checked += rejections_reach_their_author(world)?;
    checked += cursors_reached_the_head(world)?;
    Ok(checked)
}

fn internal(what: &str, e: impl std::fmt::Display) -> Failure {
    Failure::new("checkable", format!("{what}: {e}"))
}

/// Every profile holds exactly what a fresh download of its user holds.
async fn replicas_equal_fresh_downloads(world: &mut World) -> Result<u64, Failure> {
    let mut checked = 0;
    for c in 0..world.clients.len() {
        let user = world.clients[c].user.clone();
        let mut fresh = world.fresh_client(&user).map_err(|e| internal("fresh profile", e))?;
        fresh.engine().sync(&mut |_| {}).await.map_err(|e| internal("fresh download", e))?;
        for def in world.registry.entities() {
            let mine = sorted(world.clients[c].engine().list(def.name, &[]).map_err(|e| internal("list", e))?);
            let theirs = sorted(fresh.engine().list(def.name, &[]).map_err(|e| internal("list", e))?);
            if mine != theirs {
                let differs = mine.iter().zip(&theirs).find(|(a, b)| a != b).map(|(a, b)| format!("{a:?} vs {b:?}"));
                return Err(Failure::new(
                    "replica_equals_fresh_download",
                    format!(
                        "{user}'s {}: {} records, a fresh download has {}; first difference: {}",
                        def.name,
                        mine.len(),
                        theirs.len(),
                        differs.unwrap_or_else(|| "a record missing at the end".into())
                    ),
                ));
            }
            checked += mine.len() as u64 + 1;
        }
    }
    Ok(checked)
}

fn sorted(mut rows: Vec<Object>) -> Vec<Object> {
    rows.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    rows
}

/// A mutation the server acknowledged, as a profile keeps it (`sent`).
struct Acked {
    user: String,
    entity: String,
    record: String,
    fields: Object,
}

fn acknowledged(world: &mut World) -> Result<Vec<Acked>, Failure> {
    let mut out = Vec::new();
    for c in &mut world.clients {
        let user = c.user.clone();
        let rows = c
            .engine()
            .store()
            .query("SELECT entity, record_id, op, fields FROM sent WHERE op = 'put' ORDER BY client_seq", &[])
            .map_err(|e| internal("read sent", e))?;
        for r in rows {
            let fields = serde_json::from_str(r["fields"].as_str().unwrap_or("{}")).map_err(|e| internal("sent", e))?;
            out.push(Acked {
                user: user.clone(),
                entity: r["entity"].as_str().unwrap_or_default().into(),
                record: r["record_id"].as_str().unwrap_or_default().into(),
                fields,
            });
        }
    }
    Ok(out)
}

/// Every acknowledged last-write-wins text value is what the server holds, unless another
/// acknowledged write of the same field replaced it, the conflict log names it as the
/// value overwritten, or the record was deleted.
fn acknowledged_edits_kept(world: &World, sent: &[Acked]) -> Result<u64, Failure> {
    let mut writes: BTreeMap<(&str, &str, &str), BTreeSet<String>> = BTreeMap::new();
    for a in sent {
        for (f, v) in &a.fields {
            writes.entry((&a.entity, &a.record, f)).or_default().insert(v.to_string());
        }
    }
    let mut checked = 0;
    for a in sent {
        let Some(def) = world.registry.get(&a.entity) else { continue };
        for (name, value) in &a.fields {
            let Some(field) = def.field(name) else { continue };
            let (FieldStrategy::Lww, FieldType::Text, Some(text)) = (field.strategy, field.ty, value.as_str()) else {
                continue;
            };
            checked += 1;
            let (held, logged) = world
                .server
                .read(|tx| {
                    let held: Option<Option<String>> = tx.query_opt(
                        &format!("SELECT \"{name}\" FROM \"{}\" WHERE id = ?1", def.name),
                        args![a.record.as_str()],
                        |r| r.get(0),
                    )?;
                    let logged: i64 = tx.value(
                        "SELECT count(*) FROM sync_conflicts WHERE entity = ?1 AND record_id = ?2 AND field = ?3 AND overwritten = ?4",
                        args![def.name, a.record.as_str(), name.as_str(), value.to_string()],
                    )?;
                    Ok((held, logged))
                })
                .map_err(|e| internal("read server", e))?;
            let Some(held) = held else { continue }; // deleted since
            let replaced =
                writes.get(&(a.entity.as_str(), a.record.as_str(), name.as_str())).is_some_and(|v| v.len() > 1);
            if held.as_deref() != Some(text) && !replaced && logged == 0 {
                return Err(Failure::new(
                    "acknowledged_edit_kept",
                    format!(
                        "{}'s {}.{name} = {text:?} on {} was acknowledged, but the server holds {held:?} with no competing write and no conflict logged",
                        a.user, a.entity, a.record
                    ),
                ));
            }
        }
    }
    Ok(checked)
}

/// Each customer's `samples_given` is the sum of every acknowledged delta: none lost, none
/// applied twice.
fn counters_add_up(world: &World, sent: &[Acked]) -> Result<u64, Failure> {
    let mut expected: BTreeMap<&str, i64> = BTreeMap::new();
    for a in sent.iter().filter(|a| a.entity == "customers") {
        if let Some(delta) = a.fields.get("samples_given").and_then(Value::as_i64) {
            *expected.entry(&a.record).or_default() += delta;
        }
    }
    let held: Vec<(String, i64)> = world
        .server
        .read(|tx| {
            let mut rows = Vec::new();
            tx.for_each("SELECT id, coalesce(samples_given, 0) FROM customers", args![], |r| {
                rows.push((r.get::<String>(0)?, r.get::<i64>(1)?));
                Ok(true)
            })?;
            Ok(rows)
        })
        .map_err(|e| internal("read server", e))?;
    for (id, total) in &held {
        let want = expected.get(id.as_str()).copied().unwrap_or(0);
        if *total != want {
            return Err(Failure::new(
                "counter_exact",
                format!(
                    "customer {id}: samples_given is {total} on the server, the acknowledged deltas add up to {want}"
                ),
            ));
        }
    }
    Ok(held.len() as u64)
}

/// Every mutation the server refused is in its author's attention list.
fn rejections_reach_their_author(world: &mut World) -> Result<u64, Failure> {
    let refused: Vec<(String, String)> = world
        .server
        .read(|tx| {
            let mut rows = Vec::new();
            tx.for_each(
                "SELECT a.mutation_id, u.username, a.result FROM applied_mutations a JOIN users u ON u.id = a.user_id",
                args![],
                |r| {
                    let result: Value = serde_json::from_str(&r.get::<String>(2)?).unwrap_or_default();
                    if result["status"] == "rejected" {
                        rows.push((r.get::<String>(0)?, r.get::<String>(1)?));
                    }
                    Ok(true)
                },
            )?;
            Ok(rows)
        })
        .map_err(|e| internal("read server", e))?;
    let mut attention: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for c in &mut world.clients {
        let user = c.user.clone();
        let items = c.engine().attention().map_err(|e| internal("attention", e))?;
        attention.entry(user).or_default().extend(items.into_iter().map(|i| i.mutation_id.to_string()));
    }
    for (mutation, user) in &refused {
        if !attention.get(user).is_some_and(|a| a.contains(mutation)) {
            return Err(Failure::new(
                "rejection_in_attention",
                format!("the server refused {user}'s mutation {mutation}, which is not in {user}'s attention list"),
            ));
        }
    }
    Ok(refused.len() as u64)
}

/// Every profile's last page reached the newest change.
fn cursors_reached_the_head(world: &mut World) -> Result<u64, Failure> {
    let head: i64 =
        world.server.read(|tx| Ok(fieldsync_server::records::head(tx)?)).map_err(|e| internal("read server", e))?;
    for c in &mut world.clients {
        let user = c.user.clone();
        let position: i64 =
            c.engine().store().meta("position").ok().flatten().and_then(|p| p.parse().ok()).unwrap_or(0);
        if position != head {
            return Err(Failure::new(
                "cursor_at_head",
                format!("{user} stopped at change {position}, the server's newest is {head}"),
            ));
        }
    }
    Ok(world.clients.len() as u64)
}
