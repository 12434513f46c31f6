//! Assignment changes. When who-sees-what changes (a customer moves to another territory,
//! a user gains or loses a territory), every affected user must gain exactly the records
//! that became visible to them and lose exactly those that stopped being visible, on
//! their next pull, and be told what happened.
//!
//! The rules are the registry's scopes, so this module never encodes them: it snapshots
//! each affected user's visible set before and after the change, and logs the difference
//! as changes targeted at that user (see the `changes.target` column).

use std::collections::{BTreeMap, BTreeSet};

use fieldsync_protocol::{EntityDef, Registry, Role, Scope};
use uuid::Uuid;

use crate::args;
use crate::records;
use crate::rules;
use crate::sql::{DbError, Tx};

/// A user whose view may change.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
}

/// Which records to compare: all records, or just these (entity -> ids).
pub enum Span {
    All,
    Records(BTreeMap<&'static str, BTreeSet<String>>),
}

type Seen = BTreeSet<(&'static str, String)>;

pub fn viewers(tx: &Tx<'_>, usernames: Option<&[String]>) -> Result<Vec<Viewer>, DbError> {
    let rows = tx.query("SELECT id, username, role FROM users ORDER BY username", args![], |r| {
        Ok((r.get::<String>(0)?, r.get::<String>(1)?, r.get::<String>(2)?))
    })?;
    let mut out = Vec::new();
    for (id, username, role) in rows {
        if usernames.is_some_and(|names| !names.contains(&username)) {
            continue;
        }
        if let (Ok(id), Some(role)) = (Uuid::parse_str(&id), Role::parse(&role)) {
            out.push(Viewer { id, username, role });
        }
    }
    Ok(out)
}

/// Whether `scope` reaches a parent through reference field `field`.
fn follows(scope: &Scope, field: &str) -> bool {
    match scope {
        Scope::Via(f) => *f == field,
        Scope::AnyOf(list) | Scope::AllOf(list) => list.iter().any(|s| follows(s, field)),
        _ => false,
    }
}

/// The (entity name field, id field) pairs through which `scope` follows a record of any type.
fn record_links(scope: &Scope) -> Vec<(&'static str, &'static str)> {
    match scope {
        Scope::Record { entity, id } => vec![(*entity, *id)],
        Scope::AnyOf(list) | Scope::AllOf(list) => list.iter().flat_map(record_links).collect(),
        _ => Vec::new(),
    }
}

/// The given records plus everything whose visibility derives from them (contacts of a
/// customer, lines of an order, ...).
pub fn subtree(tx: &Tx<'_>, reg: &Registry, roots: &[(&str, String)]) -> Result<Span, DbError> {
    let mut found: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    let mut queue: Vec<(&'static str, String)> =
        roots.iter().filter_map(|(e, id)| reg.get(e).map(|d| (d.name, id.clone()))).collect();
    while let Some((entity, id)) = queue.pop() {
        if !found.entry(entity).or_default().insert(id.clone()) {
            continue;
        }
        for (child, field) in reg.referrers(entity) {
            if !follows(&child.scope, field.name) {
                continue;
            }
            let sql = format!("SELECT id FROM \"{}\" WHERE \"{}\" = ?1", child.name, field.name);
            for child_id in tx.query(&sql, args![&id], |r| r.get::<String>(0))? {
                queue.push((child.name, child_id));
            }
        }
        // Logs about the record (its conflicts) are seen only with it.
        for log in reg.entities() {
            for (entity_field, id_field) in record_links(&log.scope) {
                let sql =
                    format!("SELECT id FROM \"{}\" WHERE \"{entity_field}\" = ?1 AND \"{id_field}\" = ?2", log.name);
                for log_id in tx.query(&sql, args![entity, &id], |r| r.get::<String>(0))? {
                    queue.push((log.name, log_id));
                }
            }
        }
    }
    Ok(Span::Records(found))
}

/// What each viewer sees of `span` right now.
pub fn capture(tx: &Tx<'_>, reg: &Registry, viewers: &[Viewer], span: &Span) -> Result<Vec<Seen>, DbError> {
    viewers.iter().map(|v| visible_set(tx, reg, v, span)).collect()
}

fn visible_set(tx: &Tx<'_>, reg: &Registry, viewer: &Viewer, span: &Span) -> Result<Seen, DbError> {
    let mut seen = Seen::new();
    for def in reg.entities().iter().filter(|d| d.readable_by(viewer.role)) {
        let filter = match span {
            Span::All => String::new(),
            Span::Records(map) => match map.get(def.name) {
                Some(ids) if !ids.is_empty() => {
                    // Ids come from our own tables (UUID text); quote defensively anyway.
                    let list: Vec<String> = ids.iter().map(|i| format!("'{}'", i.replace('\'', "''"))).collect();
                    format!("t.id IN ({}) AND ", list.join(", "))
                }
                _ => continue,
            },
        };
        let sql =
            format!("SELECT t.id FROM \"{}\" t WHERE {filter}{}", def.name, rules::visible(reg, def, "t", &viewer.id));
        tx.for_each(&sql, args![], |r| {
            seen.insert((def.name, r.get(0)?));
            Ok(true)
        })?;
    }
    Ok(seen)
}

/// What changed for one viewer.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ViewChange {
    pub username: String,
    pub gained: BTreeMap<&'static str, usize>,
    pub lost: BTreeMap<&'static str, usize>,
}

/// Logs, per viewer, the records gained and lost between two captures, and a notice
/// telling the viewer what happened. `headline` is the entity the change is about (for
/// the message); `reason` says why ("moved from NORTH to SOUTH").
pub fn publish(
    tx: &Tx<'_>,
    viewers: &[Viewer],
    before: &[Seen],
    after: &[Seen],
    headline: &EntityDef,
    reason: &str,
    now_ms: i64,
) -> Result<Vec<ViewChange>, DbError> {
    let mut out = Vec::new();
    for ((viewer, b), a) in viewers.iter().zip(before).zip(after) {
        let target = viewer.id.to_string();
        let mut change = ViewChange { username: viewer.username.clone(), ..Default::default() };
        for (entity, id) in a.difference(b) {
            records::log_targeted(tx, entity, id, false, &target)?;
            *change.gained.entry(entity).or_default() += 1;
        }
        for (entity, id) in b.difference(a) {
            records::log_targeted(tx, entity, id, true, &target)?;
            *change.lost.entry(entity).or_default() += 1;
        }
        for (counts, verb) in [(&change.gained, "now visible to you"), (&change.lost, "no longer visible to you")] {
            if let Some(text) = notice_text(counts, headline.name, verb, reason) {
                let id = Uuid::now_v7().to_string();
                tx.execute(
                    "INSERT INTO notices (id, user_id, text, at_ms) VALUES (?1, ?2, ?3, ?4)",
                    args![&id, &target, text, now_ms],
                )?;
                records::log_targeted(tx, "_notice", &id, false, &target)?;
            }
        }
        if !change.gained.is_empty() || !change.lost.is_empty() {
            out.push(change);
        }
    }
    Ok(out)
}

fn notice_text(counts: &BTreeMap<&'static str, usize>, headline: &str, verb: &str, reason: &str) -> Option<String> {
    if counts.is_empty() {
        return None;
    }
    let main = counts.get(headline).copied().unwrap_or(0);
    let related: usize = counts.iter().filter(|(e, _)| **e != headline).map(|(_, n)| n).sum();
    let what = match (main, related) {
        (0, n) => format!("{n} records"),
        (m, 0) => format!("{m} {headline}"),
        (m, n) => format!("{m} {headline} and {n} related records"),
    };
    Some(format!("{what} are {verb}: {reason}."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_name_the_headline_entity_and_the_reason() {
        let counts: BTreeMap<&'static str, usize> = [("customers", 12), ("contacts", 18), ("addresses", 12)].into();
        assert_eq!(
            notice_text(&counts, "customers", "no longer visible to you", "moved from NORTH to SOUTH").unwrap(),
            "12 customers and 30 related records are no longer visible to you: moved from NORTH to SOUTH."
        );
        assert!(notice_text(&BTreeMap::new(), "customers", "x", "y").is_none());
    }
}
