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
use crate::sql::{in_texts, text_list, DbError, SqlValue, Tx};

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
/// customer, lines of an order, conflicts about any of them, ...). Reads level by level, one
/// query per related type, however many records there are.
pub fn subtree(tx: &Tx<'_>, reg: &Registry, roots: &[(&str, String)]) -> Result<Span, DbError> {
    let mut found: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    let mut frontier: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    for (e, id) in roots {
        if let Some(d) = reg.get(e) {
            frontier.entry(d.name).or_default().insert(id.clone());
        }
    }
    while !frontier.is_empty() {
        let mut next: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
        for (entity, ids) in frontier {
            let seen = found.entry(entity).or_default();
            let new: BTreeSet<String> = ids.into_iter().filter(|id| seen.insert(id.clone())).collect();
            if new.is_empty() {
                continue;
            }
            let list = text_list(new.iter().map(String::as_str));
            for (child, field) in reg.referrers(entity) {
                if !follows(&child.scope, field.name) {
                    continue;
                }
                let sql = format!(
                    "SELECT id FROM \"{}\" WHERE {}",
                    child.name,
                    in_texts(tx.backend(), &format!("\"{}\"", field.name), 1)
                );
                next.entry(child.name)
                    .or_default()
                    .extend(tx.query(&sql, std::slice::from_ref(&list), |r| r.get::<String>(0))?);
            }
            // Logs about the records (their conflicts) are seen only with them.
            let with_entity = [SqlValue::from(entity), list];
            for log in reg.entities() {
                for (entity_field, id_field) in record_links(&log.scope) {
                    let sql = format!(
                        "SELECT id FROM \"{}\" WHERE \"{entity_field}\" = ?1 AND {}",
                        log.name,
                        in_texts(tx.backend(), &format!("\"{id_field}\""), 2)
                    );
                    next.entry(log.name).or_default().extend(tx.query(&sql, &with_entity, |r| r.get::<String>(0))?);
                }
            }
        }
        frontier = next;
    }
    Ok(Span::Records(found))
}

/// Which users see which of `records` now: (user id, entity, record id).
fn sightings(tx: &Tx<'_>, reg: &Registry, records: &[(&'static str, String)]) -> Result<Sightings, DbError> {
    let mut by_entity: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for (e, id) in records {
        by_entity.entry(e).or_default().push(id.clone());
    }
    let mut out = Sightings::new();
    for (entity, ids) in by_entity {
        if let Some(def) = reg.get(entity) {
            out.extend(rules::sightings(tx, reg, def, &ids)?.into_iter().map(|(u, id)| (u, entity, id)));
        }
    }
    Ok(out)
}

type Sightings = BTreeSet<(String, &'static str, String)>;

/// One record a batch moves: its new values of the fields its scope reads.
pub struct Move {
    pub entity: &'static str,
    pub id: String,
    pub set: BTreeMap<&'static str, Option<String>>,
    /// False when the batch also writes records this one's visibility derives from (or
    /// the write may lose to a concurrent one): who sees it afterwards cannot be foretold.
    pub certain: bool,
}

/// A change to who sees some records, published once for a whole batch of writes.
///
/// Before the writes ([`MovePlan::before`]): the moved records (roots) and what depends on
/// them (the span); who sees each root now; and, foretold from the roots' new values (one
/// query per type, nothing written), who will see each afterwards. Only users whose sight
/// of some root changes have their view of the span captured (for a root whose afterwards
/// cannot be foretold: everyone who sees it now). Users whose sight of every root stays
/// the same have no view of the span to change: a record's visibility derives from its own
/// fields, the assignments and its parents, and only the roots' fields change.
///
/// After the writes ([`MovePlan::publish`]): for the uncertain roots, whose sight actually
/// changed; anyone among them not captured before could not see that root before, so
/// nothing derived from it either, and starts from an empty view. Each affected user gets
/// exactly what they gained and lost, and one notice.
pub struct MovePlan {
    /// Roots whose afterwards could not be foretold.
    uncertain: Vec<(&'static str, String)>,
    span: Span,
    /// Who saw the uncertain roots before.
    seen_before: Sightings,
    viewers: Vec<Viewer>,
    before: Vec<Seen>,
}

impl MovePlan {
    pub fn before(tx: &Tx<'_>, reg: &Registry, moves: Vec<Move>) -> Result<MovePlan, DbError> {
        let roots: Vec<(&'static str, String)> = moves.iter().map(|m| (m.entity, m.id.clone())).collect();
        let span = subtree(tx, reg, &roots)?;
        let seen_before = sightings(tx, reg, &roots)?;
        // Who will see each root, foretold from its new values (certain moves, one query
        // per type); for the others, everyone who sees them now is a candidate.
        let mut foretold = Sightings::new();
        let mut uncertain = Vec::new();
        let mut by_entity: BTreeMap<&'static str, Vec<&Move>> = BTreeMap::new();
        for m in &moves {
            match m.certain {
                true => by_entity.entry(m.entity).or_default().push(m),
                false => uncertain.push((m.entity, m.id.clone())),
            }
        }
        for (entity, group) in by_entity {
            let Some(def) = reg.get(entity) else { continue };
            let fields = dedup(rules::scope_fields(&def.scope));
            let mut records = Vec::new();
            for m in group {
                let current = records::load(tx, def, &m.id)?.map(|r| r.to_object(def)).unwrap_or_default();
                let values = fields
                    .iter()
                    .map(|f| match m.set.get(f) {
                        Some(new) => new.clone(),
                        None => current.get(*f).and_then(serde_json::Value::as_str).map(String::from),
                    })
                    .collect();
                records.push((m.id.clone(), values));
            }
            let pairs = rules::would_see(tx, reg, def, &fields, &records)?;
            foretold.extend(pairs.into_iter().map(|(u, id)| (u, entity, id)));
        }
        let certain_before: Sightings =
            seen_before.iter().filter(|(_, e, id)| !uncertain.contains(&(*e, id.clone()))).cloned().collect();
        let mut candidates: BTreeSet<String> =
            certain_before.symmetric_difference(&foretold).map(|(u, _, _)| u.clone()).collect();
        candidates.extend(
            seen_before.iter().filter(|(_, e, id)| uncertain.contains(&(*e, id.clone()))).map(|(u, _, _)| u.clone()),
        );
        let viewers: Vec<Viewer> = match candidates.is_empty() {
            true => Vec::new(),
            false => viewers(tx, None)?.into_iter().filter(|v| candidates.contains(&v.id.to_string())).collect(),
        };
        let before = capture(tx, reg, &viewers, &span)?;
        let seen_before = seen_before.into_iter().filter(|(_, e, id)| uncertain.contains(&(*e, id.clone()))).collect();
        Ok(MovePlan { uncertain, span, seen_before, viewers, before })
    }

    pub fn publish(
        mut self,
        tx: &Tx<'_>,
        reg: &Registry,
        headline: &EntityDef,
        reason: &str,
        now_ms: i64,
    ) -> Result<Vec<ViewChange>, DbError> {
        // Only uncertain roots need looking at again: a certain one ends as foretold (or,
        // when its write was refused, as it was, which the captures show as no change).
        let seen_after = sightings(tx, reg, &self.uncertain)?;
        let changed: BTreeSet<&String> =
            self.seen_before.symmetric_difference(&seen_after).map(|(u, _, _)| u).collect();
        if !changed.is_empty() {
            let known: BTreeSet<String> = self.viewers.iter().map(|v| v.id.to_string()).collect();
            for v in viewers(tx, None)? {
                let id = v.id.to_string();
                if changed.contains(&id) && !known.contains(&id) {
                    self.viewers.push(v);
                    self.before.push(Seen::new());
                }
            }
        }
        // The moved records' descendants keep their change-log entries, but the keys those
        // were logged under name the old place: a user who sees them through another key
        // and then loses that one would miss them on a fresh download.
        if let Span::Records(records) = &self.span {
            for (entity, ids) in records {
                let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                records::rekey(tx, entity, &ids)?;
            }
        }
        let after = capture(tx, reg, &self.viewers, &self.span)?;
        publish(tx, &self.viewers, &self.before, &after, headline, reason, now_ms)
    }
}

/// Each field once (a scope may read a field in several branches), never `id` (a record's
/// id is given on its own).
fn dedup(fields: Vec<&'static str>) -> Vec<&'static str> {
    let mut seen = BTreeSet::new();
    fields.into_iter().filter(|f| *f != "id" && seen.insert(*f)).collect()
}

/// What each viewer sees of `span` right now.
pub fn capture(tx: &Tx<'_>, reg: &Registry, viewers: &[Viewer], span: &Span) -> Result<Vec<Seen>, DbError> {
    viewers.iter().map(|v| visible_set(tx, reg, v, span)).collect()
}

fn visible_set(tx: &Tx<'_>, reg: &Registry, viewer: &Viewer, span: &Span) -> Result<Seen, DbError> {
    let mut seen = Seen::new();
    for def in reg.entities().iter().filter(|d| d.readable_by(viewer.role)) {
        let visible = rules::visible(reg, def, "t", "CAST(?1 AS TEXT)");
        // The viewer is parameter 1 when the type's scope depends on the user at all.
        let who: Vec<SqlValue> =
            if visible.contains("?1") { vec![SqlValue::from(viewer.id.to_string())] } else { Vec::new() };
        let mut run = |filter: &str, params: &[SqlValue]| {
            let sql = format!("SELECT t.id FROM \"{}\" t WHERE {filter}{visible}", def.name);
            tx.for_each(&sql, params, |r| {
                seen.insert((def.name, r.get(0)?));
                Ok(true)
            })
        };
        match span {
            Span::All => run("", &who)?,
            Span::Records(map) => {
                // No statement for a type the span holds nothing of.
                let Some(ids) = map.get(def.name).filter(|ids| !ids.is_empty()) else { continue };
                let params: Vec<SqlValue> =
                    who.iter().cloned().chain([text_list(ids.iter().map(String::as_str))]).collect();
                run(&format!("{} AND ", in_texts(tx.backend(), "t.id", params.len())), &params)?;
            }
        }
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
