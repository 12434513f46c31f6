//! Serving a pull page: the changes after the client's cursor, filtered to what the user
//! may see, column-oriented per entity type.
//!
//! A page scans up to `limit` entries of the change log in seq order and returns the
//! visible records among them plus tombstones; the next cursor is the last seq scanned,
//! so a page with nothing visible still advances. The page is read in one snapshot.

use std::collections::BTreeMap;

use fieldsync_protocol::wire::{EntityChanges, PullResponse};
use fieldsync_protocol::Registry;
use fieldsync_sqlkit::column_list;
use serde_json::Value;

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::history::History;
use crate::records::read_row;
use crate::sql::{in_set, in_texts, text_list, SqlValue, Tx};
use crate::{args, rules};

/// Changes of one type up to which a pull checks each row's visibility by key (its
/// parents looked up) rather than listing everything of the parent types the user sees:
/// an incremental pull of a few edits then costs microseconds per row instead of a scan
/// of the user's whole catalogue (docs/PERFORMANCE.md, the replay load run).
const BY_KEY_UP_TO: u32 = 256;

/// Entries after a cursor up to which a pull finds this user's among them by the change
/// log's keys (`Listing::Keyed`, which lists all of them to put them in order, so a longer span
/// would cost more than reading the log in order): a client that keeps up, or a long poll.
/// Beyond, a first sync or a laptop far behind reads the log in order (`Listing::Scanned`).
const KEYED_SPAN: i64 = 20_000;

pub fn pull(
    tx: &Tx<'_>,
    reg: &Registry,
    user: &AuthUser,
    cursor: &str,
    limit: u32,
    now_ms: i64,
) -> Result<PullResponse, AppError> {
    // Db::read runs this in one snapshot, so history, head and rows agree.
    let (history, head) = History::read_with_head(tx)?;
    let cursor = history.continue_from(cursor, head)?;
    let me = user.id.to_string();
    let listing = if head - cursor <= KEYED_SPAN { Listing::Keyed } else { Listing::Scanned };
    let (mut entries, last) = listed(tx, listing, cursor, limit, head, &me)?;
    let notices = if entries.remove("_notice").is_some() {
        tx.query(
            "SELECT n.text FROM notices n JOIN changes c ON c.entity = '_notice' AND c.record_id = n.id AND c.target = ?1
             WHERE c.seq > ?2 AND c.seq <= ?3 ORDER BY c.seq",
            args![&me, cursor, last],
            |r| r.get(0),
        )?
    } else {
        Vec::new()
    };
    let mut changes = Vec::new();
    for (entity, listed) in entries {
        let Some(def) = reg.get(&entity) else { continue };
        // A type the role does not read sends no rows; but the tombstones targeted at this
        // user still arrive, so records it stopped reading (its role changed) leave the
        // laptop. Untargeted tombstones of such a type would name records it never saw.
        let readable = def.readable_by(user.role);
        let few = listed.live <= BY_KEY_UP_TO;
        let live = listed.live > 0 && readable;
        let dead = listed.dead;
        let mut out = EntityChanges {
            entity: entity.clone(),
            fields: def.field_names().map(String::from).collect(),
            rows: Vec::new(),
            deleted: Vec::new(),
        };
        if live {
            // The user is `?1` for a list of ids, `?4` for a span.
            let who = match listed.live_ids {
                Records::Range => "CAST(?4 AS TEXT)",
                Records::Ids(_) => "CAST(?1 AS TEXT)",
            };
            let visible = match few {
                true => rules::visible_by_key(reg, def, "t", who),
                false => rules::visible(reg, def, "t", who),
            };
            let select = format!("SELECT {} FROM \"{entity}\" t WHERE {visible} AND ", column_list(def, Some("t")));
            let mut read = |sql: &str, params: &[SqlValue]| {
                let each = |r: &crate::sql::Row<'_>| {
                    let row = read_row(def, r)?;
                    let mut values = Vec::with_capacity(row.values.len() + 1);
                    values.push(Value::String(row.id));
                    values.extend(row.values);
                    out.rows.push(values);
                    Ok(true)
                };
                // A page of many rows is planned for its user and span (a first sync); a
                // few rows by key reuse their plan.
                match few {
                    true => tx.for_each(sql, params, each),
                    false => tx.for_each_planned(sql, params, each),
                }
            };
            match &listed.live_ids {
                Records::Range => read(
                    &format!(
                        "{select}t.id IN (SELECT record_id FROM changes WHERE entity = ?1 AND seq > ?2 AND seq <= ?3 \
                         AND deleted = 0 AND target IN ('', ?4))"
                    ),
                    args![&entity, cursor, last, &me],
                )?,
                Records::Ids(ids) => {
                    // The user is ?1 unless the scope does not ask who (PostgreSQL refuses
                    // a parameter it cannot type); the ids follow, as one JSON array.
                    let mut params = match visible.contains(who) {
                        true => args![&me].to_vec(),
                        false => Vec::new(),
                    };
                    let listed = in_texts(tx.backend(), "t.id", params.len() + 1);
                    params.push(text_list(ids.iter().map(|(id, _)| id.as_str())));
                    read(&format!("{select}{listed}"), &params)?;
                }
            }
        }
        if dead {
            out.deleted = match listed.dead_ids {
                Records::Range => tx.query(
                    "SELECT record_id FROM changes WHERE entity = ?1 AND seq > ?2 AND seq <= ?3 AND deleted = 1 \
                     AND (target = ?4 OR (target = '' AND ?5 = 1))",
                    args![&entity, cursor, last, &me, i64::from(readable)],
                    |r| r.get(0),
                )?,
                Records::Ids(ids) => {
                    ids.into_iter().filter(|(_, targeted)| *targeted || readable).map(|(id, _)| id).collect()
                }
            };
        }
        if !out.rows.is_empty() || !out.deleted.is_empty() {
            changes.push(out);
        }
    }
    Ok(PullResponse {
        server_time_ms: now_ms,
        cursor: history.token(last),
        position: last,
        head,
        has_more: last < head,
        changes,
        notices,
    })
}

/// The records of one type a page lists: those logged in the page's span, or these ids,
/// each with whether its entry was for this user alone.
enum Records {
    Range,
    Ids(Vec<(String, bool)>),
}

/// One type's entries in a page: how many changed records and whether any were deleted.
struct Listed {
    live: u32,
    dead: bool,
    live_ids: Records,
    dead_ids: Records,
}

impl Listed {
    fn new(by_key: bool) -> Listed {
        let records = || if by_key { Records::Ids(Vec::new()) } else { Records::Range };
        Listed { live: 0, dead: false, live_ids: records(), dead_ids: records() }
    }

    fn note(&mut self, id: Option<String>, deleted: bool, targeted: bool) {
        let (count, ids) = match deleted {
            true => {
                self.dead = true;
                (None, &mut self.dead_ids)
            }
            false => (Some(&mut self.live), &mut self.live_ids),
        };
        if let Some(count) = count {
            *count += 1;
        }
        if let (Records::Ids(ids), Some(id)) = (ids, id) {
            ids.push((id, targeted));
        }
    }
}

/// How a page's entries are found in the change log.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Listing {
    /// By the change-log keys the user's team holds (`rules::keys_of`) and the entries
    /// targeted at it: the cost is this user's share of the span rather than the whole
    /// span (every territory's changes). A client that keeps up, or a long poll.
    Keyed,
    /// In log order, every entry for everyone or targeted at this user: a first sync, or a
    /// laptop far behind.
    Scanned,
}

/// Up to `limit` entries after `cursor` this user may need, in log order, by type, and the
/// seq the page ends at (`head` when it holds them all).
fn listed(
    tx: &Tx<'_>,
    listing: Listing,
    cursor: i64,
    limit: u32,
    head: i64,
    me: &str,
) -> Result<(BTreeMap<String, Listed>, i64), AppError> {
    let sql = match listing {
        Listing::Keyed => format!(
            "SELECT seq, entity, record_id, deleted, target FROM changes WHERE seq > ?1 AND seq <= ?2 AND seq IN (\
               SELECT seq FROM change_keys WHERE {} AND seq > ?1 AND seq <= ?2 \
               UNION SELECT seq FROM changes WHERE target = ?3 AND target <> '' AND seq > ?1 AND seq <= ?2) \
             ORDER BY seq LIMIT ?4",
            in_set(tx.backend(), "key", &rules::keys_of(tx.backend(), "CAST(?3 AS TEXT)"))
        ),
        // Its records are read by seq range: no id or target to fetch per entry.
        Listing::Scanned => "SELECT seq, entity, NULL, deleted, NULL FROM changes \
                             WHERE seq > ?1 AND seq <= ?2 AND target IN ('', ?3) ORDER BY seq LIMIT ?4"
            .to_string(),
    };
    // Keyed pages are short: their records are read by id. Scanned ones by seq range.
    let by_key = listing == Listing::Keyed;
    let mut entries: BTreeMap<String, Listed> = BTreeMap::new();
    let (mut listed, mut last) = (0u32, head);
    tx.for_each(&sql, args![cursor, head, me, limit], |r| {
        listed += 1;
        last = r.get(0)?;
        let entity: String = r.get(1)?;
        let id = if by_key { Some(r.get(2)?) } else { None };
        let targeted = by_key && !r.get::<String>(4)?.is_empty();
        entries.entry(entity).or_insert_with(|| Listed::new(by_key)).note(id, r.get(3)?, targeted);
        Ok(true)
    })?;
    if listed < limit {
        last = head; // nothing else up to head concerns this user
    }
    Ok((entries, last))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use fieldsync_protocol::Registry;

    use crate::args;
    use crate::db::{Db, Location};
    use crate::rules;
    use crate::sql::{DbError, Tx};

    /// The users whose keys (`rules::keys_of`) find a record's entries in the change log.
    fn keyed_users(tx: &Tx<'_>, entity: &str, id: &str) -> Result<BTreeSet<String>, DbError> {
        let sql = format!(
            "SELECT u.id FROM users u WHERE EXISTS (SELECT 1 FROM change_keys k \
             WHERE k.entity = ?1 AND k.record_id = ?2 AND k.key IN ({}))",
            rules::keys_of(tx.backend(), "u.id")
        );
        Ok(tx.query(&sql, args![entity, id], |r| r.get(0))?.into_iter().collect())
    }

    /// A keyed pull finds a record only under the keys its entry was logged with: everyone
    /// who may see it must hold one (else an edit never reaches them), and where the
    /// scope has no `AllOf` or record scope, nobody else (else every pull reads other
    /// territories' entries again). Checked against the pull's own predicate
    /// (`rules::sightings`) for records of every type of the demo, then for a customer
    /// that moved territory, whose keys follow it, and one deleted, whose keys go.
    #[test]
    fn the_users_a_change_is_logged_for_are_those_who_may_see_it() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::standard();
        let db = Db::open(&Location::Sqlite(dir.path().into()), &reg, &[]).unwrap();
        db.write_blocking(|tx| crate::seed::seed_demo(tx, &reg)).unwrap();
        let sighted = |tx: &Tx<'_>, def, id: &str| -> Result<BTreeSet<String>, DbError> {
            Ok(rules::sightings(tx, &reg, def, &[id.to_string()])?.into_iter().map(|(u, _)| u).collect())
        };
        db.read_blocking(|tx| -> Result<(), DbError> {
            let mut checked = 0;
            for def in reg.entities().iter().filter(|d| !d.readers.is_empty()) {
                let ids: Vec<String> =
                    tx.query(&format!("SELECT id FROM \"{}\" ORDER BY id", def.name), args![], |r| r.get(0))?;
                let roles: Vec<&str> = def.readers.iter().map(|r| r.as_str()).collect();
                let readers: BTreeSet<String> = tx
                    .query("SELECT id, role FROM users", args![], |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)))?
                    .into_iter()
                    .filter(|(_, role)| roles.contains(&role.as_str()))
                    .map(|(id, _)| id)
                    .collect();
                let exact = !format!("{:?}", def.scope).contains("AllOf") && !rules::has_record_scope(&def.scope);
                for id in ids.iter().step_by((ids.len() / 40).max(1)) {
                    let seen = sighted(tx, def, id)?;
                    let keyed: BTreeSet<String> =
                        keyed_users(tx, def.name, id)?.intersection(&readers).cloned().collect();
                    assert!(keyed.is_superset(&seen), "{} {id}: {seen:?} not all in {keyed:?}", def.name);
                    if exact {
                        assert_eq!(keyed, seen, "{} {id}", def.name);
                    }
                    checked += 1;
                }
            }
            assert!(checked > 200, "{checked} records checked");
            Ok(())
        })
        .unwrap();

        let customers = reg.get("customers").unwrap();
        let (id, from, to): (String, String, String) = db
            .read_blocking(|tx| {
                tx.query_one(
                    "SELECT c.id, c.territory_id, t.id FROM customers c, territories t \
                     WHERE t.id <> c.territory_id ORDER BY c.id LIMIT 1",
                    args![],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
            })
            .unwrap();
        let before = db.read_blocking(|tx| keyed_users(tx, "customers", &id)).unwrap();
        db.write_blocking(|tx| {
            crate::records::set_server_field(tx, customers, &id, "territory_id", serde_json::Value::from(to.as_str()))
        })
        .unwrap();
        db.read_blocking(|tx| -> Result<(), DbError> {
            let keys: Vec<String> =
                tx.query("SELECT key FROM change_keys WHERE record_id = ?1", args![id.as_str()], |r| r.get(0))?;
            assert_eq!(keys, vec![format!("t:{to}")], "moved from {from}");
            let after = keyed_users(tx, "customers", &id)?;
            assert_ne!(after, before);
            assert_eq!(after, sighted(tx, customers, &id)?);
            Ok(())
        })
        .unwrap();
        db.write_blocking(|tx| crate::records::delete(tx, &reg, customers, &id)).unwrap();
        let left: i64 = db
            .read_blocking(|tx| tx.value("SELECT count(*) FROM change_keys WHERE record_id = ?1", args![id.as_str()]))
            .unwrap();
        assert_eq!(left, 0, "a deleted record's keys go with its entry");
    }
}
