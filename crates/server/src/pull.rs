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
use crate::sql::Tx;
use crate::{args, rules};

/// Changes of one type up to which a pull checks each row's visibility by key (its
/// parents looked up) rather than listing everything of the parent types the user sees:
/// an incremental pull of a few edits then costs microseconds per row instead of a scan
/// of the user's whole catalogue (docs/PERFORMANCE.md, the replay load run).
const BY_KEY_UP_TO: u32 = 256;

pub fn pull(
    tx: &Tx<'_>,
    reg: &Registry,
    user: &AuthUser,
    cursor: &str,
    limit: u32,
    now_ms: i64,
) -> Result<PullResponse, AppError> {
    // Db::read runs this in one snapshot, so history, head and rows agree.
    let history = History::read(tx)?;
    let head = crate::records::head(tx)?;
    let cursor = history.continue_from(cursor, head)?;
    let me = user.id.to_string();
    // entity -> (live changes, has deleted)
    let mut entries: BTreeMap<String, (u32, bool)> = BTreeMap::new();
    let mut last = cursor;
    let mut scanned = 0u32;
    // Changes for everyone, plus those targeted at this user (assignment changes).
    tx.for_each(
        "SELECT seq, entity, deleted FROM changes WHERE seq > ?1 AND target IN ('', ?3) ORDER BY seq LIMIT ?2",
        args![cursor, limit, &me],
        |r| {
            scanned += 1;
            last = r.get(0)?;
            let entity: String = r.get(1)?;
            let deleted: bool = r.get(2)?;
            let e = entries.entry(entity).or_default();
            if deleted {
                e.1 = true;
            } else {
                e.0 += 1;
            }
            Ok(true)
        },
    )?;
    if scanned < limit {
        last = head; // nothing more for this user up to head (the rest targets others)
    }
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
    for (entity, (live, dead)) in entries {
        let Some(def) = reg.get(&entity) else { continue };
        // A type the role does not read sends no rows; but the tombstones targeted at this
        // user still arrive, so records it stopped reading (its role changed) leave the
        // laptop. Untargeted tombstones of such a type would name records it never saw.
        let readable = def.readable_by(user.role);
        let few = live <= BY_KEY_UP_TO;
        let live = live > 0 && readable;
        let mut out = EntityChanges {
            entity: entity.clone(),
            fields: def.field_names().map(String::from).collect(),
            rows: Vec::new(),
            deleted: Vec::new(),
        };
        if live {
            let sql = format!(
                "SELECT {} FROM \"{entity}\" t WHERE t.id IN (SELECT record_id FROM changes \
                 WHERE entity = ?1 AND seq > ?2 AND seq <= ?3 AND deleted = 0 AND target IN ('', ?4)) AND {}",
                column_list(def, Some("t")),
                match few {
                    true => rules::visible_by_key(reg, def, "t", "CAST(?4 AS TEXT)"),
                    false => rules::visible(reg, def, "t", "CAST(?4 AS TEXT)"),
                }
            );
            tx.for_each(&sql, args![&entity, cursor, last, &me], |r| {
                let row = read_row(def, r)?;
                let mut values = Vec::with_capacity(row.values.len() + 1);
                values.push(Value::String(row.id));
                values.extend(row.values);
                out.rows.push(values);
                Ok(true)
            })?;
        }
        if dead {
            out.deleted = tx.query(
                "SELECT record_id FROM changes WHERE entity = ?1 AND seq > ?2 AND seq <= ?3 AND deleted = 1 \
                 AND (target = ?4 OR (target = '' AND ?5 = 1))",
                args![&entity, cursor, last, &me, i64::from(readable)],
                |r| r.get(0),
            )?;
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
