//! The local store: entity tables mirroring the server, the outbox of local changes, the
//! shadows that let pulled server state be rebased under pending edits, the "needs
//! attention" list, and profile metadata. All methods are synchronous SQLite work.
//!
//! **Invariant:** a local change and its outbox entry commit in one transaction, and a
//! pulled page and the cursor after it commit in one transaction.

use std::path::Path;

use fieldsync_protocol::merge::apply_fields;
use fieldsync_protocol::wire::{Mutation, MutationResult, MutationStatus, Op, PullResponse};
use fieldsync_protocol::{EntityDef, Registry};
use fieldsync_sqlkit::{column_list, json_to_sql, migrate, upsert_sql, EntityRow, Migration, ENTITY_MIGRATIONS};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{ClientError, Result};

pub const CLIENT_MIGRATIONS: &[Migration] = &[
    Migration {
        set: "client",
        version: 1,
        name: "engine_state",
        sql: include_str!("../../../migrations/client/001_engine_state.sql"),
    },
    Migration {
        set: "client",
        version: 2,
        name: "history",
        sql: include_str!("../../../migrations/client/002_history.sql"),
    },
    Migration {
        set: "client",
        version: 3,
        name: "conflict_lookup",
        sql: include_str!("../../../migrations/client/003_conflict_lookup.sql"),
    },
    Migration {
        set: "client",
        version: 4,
        name: "sync_log",
        sql: include_str!("../../../migrations/client/004_sync_log.sql"),
    },
];

pub type Object = Map<String, Value>;

/// A queued local change.
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    pub mutation: Mutation,
}

/// A change the server rejected.
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
pub struct AttentionItem {
    #[ts(type = "string")]
    pub mutation_id: Uuid,
    pub entity: String,
    pub id: String,
    #[ts(type = "\"put\" | \"delete\"")]
    pub op: Op,
    #[ts(type = "Record<string, unknown>")]
    pub fields: Object,
    pub code: String,
    pub reason: String,
    #[ts(type = "number")]
    pub rejected_at_ms: i64,
    /// The record in people's words ("customer Olsen Bakery", "visit for Olsen Bakery");
    /// filled by `Engine::attention`.
    pub what: String,
    /// The fields a person can fix by typing (not references, not server-set), with their
    /// labels; filled by `Engine::attention`.
    pub fixable: Vec<FieldLabel>,
}

/// A field a person fixes by hand, its name for people and how to ask for it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct FieldLabel {
    pub field: String,
    pub label: String,
    /// The values allowed, for a field with a fixed set (shown as a choice); else empty.
    pub choices: Vec<String>,
    /// `text`, `number`, `date` (YYYY-MM-DD) or `yes_no`.
    pub input: String,
}

pub struct Store {
    conn: Connection,
    /// The profile directory.
    dir: std::path::PathBuf,
    registry: std::sync::Arc<Registry>,
    /// How long acknowledged mutations are kept for a restored server (`sent`).
    keep_sent_ms: i64,
}

impl Store {
    pub fn open(dir: &Path, registry: std::sync::Arc<Registry>, extra: &[Migration]) -> Result<Store> {
        // A profile holds the user's customers, prices and (CLI) session token: owner only.
        let private = |e: std::io::Error| {
            ClientError::BadInput(format!("cannot create a private profile directory {}: {e}", dir.display()))
        };
        fieldsync_sqlkit::private_dir(dir).map_err(private)?;
        fieldsync_sqlkit::private_database(&dir.join("fieldsync.db")).map_err(private)?;
        let mut conn = fieldsync_sqlkit::open(&dir.join("fieldsync.db"))?;
        // A first sync writes tens of MB in 20,000-row pages; checkpointing the WAL every
        // 4 MB (SQLite's default) would stall it on an fsync every page or so.
        conn.pragma_update(None, "wal_autocheckpoint", 16_384)?;
        let all: Vec<Migration> = ENTITY_MIGRATIONS.iter().chain(CLIENT_MIGRATIONS).chain(extra).copied().collect();
        migrate(&mut conn, &all)?;
        let keep_sent_ms = i64::from(fieldsync_protocol::wire::DEFAULT_RESEND_DAYS) * DAY_MS;
        Ok(Store { conn, dir: dir.to_path_buf(), registry, keep_sent_ms })
    }

    /// The profile directory this store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Keep acknowledged mutations this many days, to send them again to a server restored
    /// from a backup.
    pub fn set_resend_days(&mut self, days: u32) {
        self.keep_sent_ms = i64::from(days) * DAY_MS;
    }

    pub fn entity(&self, name: &str) -> Result<EntityDef> {
        self.registry.get(name).copied().ok_or_else(|| {
            let mut names: Vec<&str> = self.registry.entities().iter().map(|e| e.name).collect();
            names.sort_unstable();
            ClientError::BadInput(format!("There is no entity type '{name}'; known types: {}.", names.join(", ")))
        })
    }

    // ----- metadata -------------------------------------------------------------------

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self.conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", params![key, value])?;
        Ok(())
    }

    pub fn delete_meta(&self, key: &str) -> Result<()> {
        self.conn.execute("DELETE FROM meta WHERE key = ?1", [key])?;
        Ok(())
    }

    /// The server's opaque token for the last pulled page ("" before the first).
    pub fn cursor(&self) -> Result<String> {
        Ok(self.meta("cursor")?.unwrap_or_default())
    }

    pub fn count(&self, table: &str) -> Result<i64> {
        Ok(self.conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?)
    }

    // ----- the sync log (diagnostics) -------------------------------------------------

    /// Records how a sync went, keeping the newest `keep` entries.
    pub fn log_sync(&self, entry: &crate::diagnostics::SyncOutcome, at_ms: i64, keep: usize) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO sync_log (at_ms, outcome, code, message, pushed, rejected, pulled, conflicts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                at_ms,
                entry.outcome,
                entry.code,
                entry.message,
                entry.pushed,
                entry.rejected,
                entry.pulled,
                entry.conflicts
            ],
        )?;
        tx.execute("DELETE FROM sync_log WHERE seq <= (SELECT max(seq) FROM sync_log) - ?1", [keep as i64])?;
        tx.commit()?;
        Ok(())
    }

    /// The logged syncs, newest first.
    pub fn recent_syncs(&self) -> Result<Vec<crate::diagnostics::SyncOutcome>> {
        let mut stmt = self.conn.prepare(
            "SELECT at_ms, outcome, code, message, pushed, rejected, pulled, conflicts FROM sync_log ORDER BY seq DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(crate::diagnostics::SyncOutcome {
                at: fieldsync_protocol::time::rfc3339_ms(r.get(0)?),
                outcome: r.get(1)?,
                code: r.get(2)?,
                message: r.get(3)?,
                pushed: r.get(4)?,
                rejected: r.get(5)?,
                pulled: r.get(6)?,
                conflicts: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    // ----- reads ----------------------------------------------------------------------

    /// Today's price for a line of `product_id` on `order_id`, from the local cache.
    pub fn price(
        &self,
        order_id: &str,
        product_id: &str,
        today: &str,
    ) -> Result<Option<fieldsync_sqlkit::pricing::Price>> {
        Ok(fieldsync_sqlkit::pricing::current_price(&self.conn, order_id, product_id, today)?)
    }

    /// Which state of the database this connection reads: it changes when this connection
    /// changes a row or another one commits (`PRAGMA data_version`). What is computed from
    /// the data at one version holds until it changes, provided it was not computed inside
    /// a transaction that was then rolled back (the version would not move back): the
    /// store's transactions are its own methods', none of which reads through this.
    pub fn version(&self) -> Result<(i64, u64)> {
        let data: i64 = self.conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        Ok((data, self.conn.total_changes()))
    }

    /// Runs a read-only query whose `columns` columns are texts (or NULL), row by row,
    /// without copying them.
    pub fn for_each_text_row(&self, sql: &str, columns: usize, mut each: impl FnMut(&[Option<&str>])) -> Result<()> {
        let mut stmt = self.conn.prepare(sql)?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let row = (0..columns)
                .map(|i| r.get_ref(i)?.as_str_or_null().map_err(rusqlite::Error::from))
                .collect::<rusqlite::Result<Vec<Option<&str>>>>()?;
            each(&row);
        }
        Ok(())
    }

    /// Runs a read-only query returning JSON objects (column name -> value).
    pub fn query(&self, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Result<Vec<Object>> {
        let mut stmt = self.conn.prepare(sql)?;
        let names: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
        let rows = stmt.query_map(params, |r| {
            let mut obj = Object::new();
            for (i, n) in names.iter().enumerate() {
                let v = match r.get_ref(i)? {
                    rusqlite::types::ValueRef::Null => Value::Null,
                    rusqlite::types::ValueRef::Integer(x) => Value::from(x),
                    rusqlite::types::ValueRef::Real(x) => Value::from(x),
                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                        Value::String(String::from_utf8_lossy(t).into_owned())
                    }
                };
                obj.insert(n.clone(), v);
            }
            Ok(obj)
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn get(&self, entity: &str, id: &str) -> Result<Option<Object>> {
        let def = self.entity(entity)?;
        Ok(read_row(&self.conn, &def, id)?.map(|r| r.to_object(&def)))
    }

    /// Records of `entity` whose fields equal the given values, ordered by id.
    pub fn list(&self, entity: &str, filters: &[(String, Value)]) -> Result<Vec<Object>> {
        let def = self.entity(entity)?;
        let mut sql = format!("SELECT {} FROM \"{}\"", column_list(&def, None), def.name);
        let mut args = Vec::new();
        for (i, (field, value)) in filters.iter().enumerate() {
            let ty = if field == "id" {
                fieldsync_protocol::FieldType::Text
            } else {
                def.field(field).expect("checked by caller").ty
            };
            sql.push_str(if i == 0 { " WHERE " } else { " AND " });
            if value.is_null() {
                sql.push_str(&format!("\"{field}\" IS NULL"));
            } else {
                sql.push_str(&format!("\"{field}\" = ?{}", args.len() + 1));
                args.push(json_to_sql(ty, value));
            }
        }
        sql.push_str(" ORDER BY id");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| EntityRow::read(&def, r))?;
        rows.map(|r| Ok(r?.to_object(&def))).collect()
    }

    // ----- local writes ---------------------------------------------------------------

    /// Applies a local change to the visible row and queues it, in one transaction.
    pub fn write_local(&mut self, entity: &str, id: &str, op: Op, fields: Object, edited_at_ms: i64) -> Result<Uuid> {
        self.write_local_resolving(entity, id, op, fields, edited_at_ms, None)
    }

    /// [`Store::write_local`] that also takes `resolves` (a rejected change this write sends
    /// again) off the attention list, in the same transaction: a crash leaves either the
    /// rejection or its resend, never both and never neither.
    pub fn write_local_resolving(
        &mut self,
        entity: &str,
        id: &str,
        op: Op,
        fields: Object,
        edited_at_ms: i64,
        resolves: Option<&Uuid>,
    ) -> Result<Uuid> {
        let def = self.entity(entity)?;
        let base_cursor = self.cursor()?;
        let mutation_id = Uuid::now_v7();
        let tx = self.conn.transaction()?;
        ensure_shadow(&tx, &def, id)?;
        match op {
            Op::Put => {
                let mut obj = read_row(&tx, &def, id)?.map(|r| r.to_object(&def)).unwrap_or_default();
                // The rules the server enforces, checked now so a bad value is an error at
                // once instead of a rejection after the next sync.
                fieldsync_protocol::check_write(&def, &obj, &fields).map_err(|v| ClientError::BadInput(v.message))?;
                check_unique(&tx, &def, id, &fields)?;
                apply_fields(&def, &mut obj, &fields);
                write_object(&tx, &def, id, &obj)?;
            }
            Op::Delete => delete_row(&tx, &def, id)?,
        }
        // The client's own count of its mutations, which only grows (the server tells a
        // copied profile by a repeated number).
        let client_seq: i64 = tx.query_row(
            "INSERT INTO meta (key, value) VALUES ('client_seq', 1) \
             ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1 RETURNING CAST(value AS INTEGER)",
            [],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO outbox (mutation_id, entity, record_id, op, fields, base_cursor, client_seq, edited_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                mutation_id.to_string(),
                def.name,
                id,
                op_str(op),
                Value::Object(fields).to_string(),
                base_cursor,
                client_seq,
                edited_at_ms
            ],
        )?;
        if let Some(rejected) = resolves {
            tx.execute("DELETE FROM attention WHERE mutation_id = ?1", [rejected.to_string()])?;
        }
        tx.commit()?;
        Ok(mutation_id)
    }

    /// The oldest `limit` queued changes.
    pub fn outbox(&self, limit: usize) -> Result<Vec<Mutation>> {
        let mut stmt = self.conn.prepare(&format!("SELECT {MUTATION_COLUMNS} FROM outbox ORDER BY seq LIMIT ?1"))?;
        let rows = stmt.query_map([limit as i64], read_mutation)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row??);
        }
        Ok(out)
    }

    /// Records the server's verdict on one pushed mutation.
    pub fn settle(&mut self, m: &Mutation, result: &MutationResult, now_ms: i64) -> Result<()> {
        let def = self.entity(&m.entity)?;
        let id = m.id.to_string();
        let tx = self.conn.transaction()?;
        match result.status {
            MutationStatus::Applied | MutationStatus::Merged => {
                let mut shadow = read_shadow(&tx, def.name, &id)?.flatten();
                match m.op {
                    Op::Put => {
                        let obj = shadow.get_or_insert_with(|| {
                            let mut o = Object::new();
                            o.insert("id".into(), Value::String(id.clone()));
                            o
                        });
                        let kept: Object = m
                            .fields
                            .iter()
                            .filter(|(k, _)| !result.lost_fields.contains(k))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect();
                        apply_fields(&def, obj, &kept);
                    }
                    Op::Delete => shadow = None,
                }
                tx.execute(
                    "UPDATE shadows SET data = ?3 WHERE entity = ?1 AND record_id = ?2",
                    params![def.name, id, shadow.map(|o| Value::Object(o).to_string())],
                )?;
            }
            MutationStatus::Rejected => {
                park(
                    &tx,
                    m,
                    result.code.as_deref().unwrap_or("rejected"),
                    result.reason.as_deref().unwrap_or(""),
                    now_ms,
                )?;
            }
        }
        if result.status != MutationStatus::Rejected {
            // Kept a while, for a server restored from a backup that lacks it.
            tx.execute(
                &format!(
                    "INSERT OR REPLACE INTO sent ({MUTATION_COLUMNS}, acked_at_ms) \
                     SELECT {MUTATION_COLUMNS}, ?2 FROM outbox WHERE mutation_id = ?1"
                ),
                params![m.mutation_id.to_string(), now_ms],
            )?;
            tx.execute("DELETE FROM sent WHERE acked_at_ms < ?1", [now_ms - self.keep_sent_ms])?;
        }
        tx.execute("DELETE FROM outbox WHERE mutation_id = ?1", [m.mutation_id.to_string()])?;
        rebuild(&tx, &def, &id)?;
        tx.commit()?;
        Ok(())
    }

    /// Moves a mutation the server refused as bad input out of the outbox into "needs
    /// attention", undoing it locally.
    pub fn park_bad(&mut self, m: &Mutation, code: &str, reason: &str, now_ms: i64) -> Result<()> {
        let result = MutationResult {
            mutation_id: m.mutation_id,
            status: MutationStatus::Rejected,
            code: Some(code.into()),
            reason: Some(reason.into()),
            lost_fields: Vec::new(),
        };
        self.settle(m, &result, now_ms)
    }

    // ----- pull -----------------------------------------------------------------------

    /// Applies one pulled page and advances the cursor, atomically. Returns rows applied.
    pub fn apply_page(&mut self, page: &PullResponse) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let mut applied = 0;
        for changes in &page.changes {
            let Some(def) = self.registry.get(&changes.entity).copied() else {
                tracing::warn!(entity = %changes.entity, "server sent an entity type this client does not know; skipped");
                continue;
            };
            // Where each of our fields sits in the server's row ([id, ...fields]).
            let positions: Vec<Option<usize>> =
                def.fields.iter().map(|f| changes.fields.iter().position(|n| n == f.name).map(|p| p + 1)).collect();
            let has_shadows: bool =
                tx.query_row("SELECT EXISTS (SELECT 1 FROM shadows WHERE entity = ?1)", [def.name], |r| r.get(0))?;
            let mut upsert = tx.prepare_cached(&upsert_sql(&def))?;
            for row in &changes.rows {
                let Some(id) = row.first().and_then(Value::as_str) else {
                    continue;
                };
                if has_shadows && read_shadow(&tx, def.name, id)?.is_some() {
                    let mut obj = Object::new();
                    obj.insert("id".into(), Value::String(id.into()));
                    for (f, pos) in def.fields.iter().zip(&positions) {
                        obj.insert(f.name.into(), pos.and_then(|p| row.get(p)).cloned().unwrap_or(Value::Null));
                    }
                    tx.execute(
                        "UPDATE shadows SET data = ?3 WHERE entity = ?1 AND record_id = ?2",
                        params![def.name, id, Value::Object(obj).to_string()],
                    )?;
                    rebuild(&tx, &def, id)?;
                } else {
                    // Bind straight from the parsed JSON: no per-field copies on the hot path.
                    upsert.raw_bind_parameter(1, id)?;
                    for (i, (f, pos)) in def.fields.iter().zip(&positions).enumerate() {
                        let v = pos.and_then(|p| row.get(p)).unwrap_or(&Value::Null);
                        upsert.raw_bind_parameter(i + 2, JsonSql(f.ty, v))?;
                    }
                    upsert.raw_execute()?;
                }
                applied += 1;
            }
            for id in &changes.deleted {
                if has_shadows && read_shadow(&tx, def.name, id)?.is_some() {
                    tx.execute(
                        "UPDATE shadows SET data = NULL WHERE entity = ?1 AND record_id = ?2",
                        params![def.name, id],
                    )?;
                    rebuild(&tx, &def, id)?;
                } else {
                    delete_row(&tx, &def, id)?;
                }
                applied += 1;
            }
        }
        if page.changes.iter().any(|c| c.entity == "users") {
            // The user's own record says their role: a role IT changed takes effect here
            // with the page that brings it, not only at the next sign-in.
            tx.execute(
                "UPDATE meta SET value = (SELECT u.role FROM users u JOIN meta m ON m.key = 'user_id' AND u.id = m.value) \
                 WHERE key = 'role' AND EXISTS \
                 (SELECT 1 FROM users u JOIN meta m ON m.key = 'user_id' AND u.id = m.value WHERE u.role IS NOT NULL)",
                [],
            )?;
        }
        tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('cursor', ?1)", [&page.cursor])?;
        tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('position', ?1)", [page.position.to_string()])?;
        tx.commit()?;
        Ok(applied)
    }

    // ----- needs attention ------------------------------------------------------------

    pub fn attention(&self) -> Result<Vec<AttentionItem>> {
        let mut stmt = self.conn.prepare(
            "SELECT mutation_id, entity, record_id, op, fields, code, reason, rejected_at_ms FROM attention ORDER BY rejected_at_ms, mutation_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, i64>(7)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (mid, entity, id, op, fields, code, reason, rejected_at_ms) = row?;
            out.push(AttentionItem {
                mutation_id: parse_uuid(&mid)?,
                entity,
                id,
                op: parse_op(&op)?,
                fields: serde_json::from_str(&fields)?,
                code,
                reason,
                rejected_at_ms,
                what: String::new(),
                fixable: Vec::new(),
            });
        }
        Ok(out)
    }

    pub fn attention_item(&self, mutation_id: &str) -> Result<AttentionItem> {
        self.attention()?.into_iter().find(|a| a.mutation_id.to_string() == mutation_id).ok_or_else(|| {
            ClientError::NotFound(format!(
                "There is no rejected change {mutation_id}; run 'fieldsync attention' to list them."
            ))
        })
    }

    pub fn remove_attention(&self, mutation_id: &Uuid) -> Result<()> {
        self.conn.execute("DELETE FROM attention WHERE mutation_id = ?1", [mutation_id.to_string()])?;
        Ok(())
    }

    /// Starts over with a server whose data is not the history this copy follows: drops
    /// the cached server records, keeping pending changes, rejected changes and the
    /// profile, and takes `cursor` (the start of the server's history; none: no cursor).
    /// With `resend`, the acknowledged changes still kept go back into the outbox ahead of
    /// the pending ones, in their order, to be sent again (the server applies those it
    /// lacks). All in one transaction.
    pub fn start_over(&mut self, resend: bool, cursor: Option<&str>, now_ms: i64) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let mut requeued = 0;
        if resend {
            // (mutation id, entity, record id) of each kept mutation, oldest first.
            let kept: Vec<(String, String, String)> = {
                let mut stmt = tx.prepare(
                    "SELECT mutation_id, entity, record_id FROM sent WHERE acked_at_ms >= ?1 \
                     AND mutation_id NOT IN (SELECT mutation_id FROM outbox) ORDER BY client_seq",
                )?;
                let rows = stmt.query_map([now_ms - self.keep_sent_ms], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let first: i64 = tx.query_row("SELECT coalesce(min(seq), 1) FROM outbox", [], |r| r.get(0))?;
            let start = first - kept.len() as i64;
            for (i, (mutation_id, entity, record_id)) in kept.iter().enumerate() {
                tx.execute(
                    &format!("INSERT INTO outbox (seq, {MUTATION_COLUMNS}) SELECT ?1, {MUTATION_COLUMNS} FROM sent WHERE mutation_id = ?2"),
                    params![start + i as i64, mutation_id],
                )?;
                tx.execute(
                    "INSERT OR IGNORE INTO shadows (entity, record_id, data) VALUES (?1, ?2, NULL)",
                    params![entity, record_id],
                )?;
            }
            requeued = kept.len();
            tx.execute("DELETE FROM sent", [])?;
        }
        delete_records(&tx, &self.registry)?;
        tx.execute_batch("UPDATE shadows SET data = NULL; DELETE FROM meta WHERE key IN ('cursor', 'position');")?;
        if let Some(cursor) = cursor {
            // Held from now on, so that a second change of history before the download is
            // done is noticed too (with no cursor the server could not tell).
            tx.execute("INSERT INTO meta (key, value) VALUES ('cursor', ?1)", [cursor])?;
        }
        // Pending creates and edits show again on top of the fresh copy as it arrives.
        let pending: Vec<(String, String)> = {
            let mut stmt = tx.prepare("SELECT entity, record_id FROM shadows")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for (entity, id) in pending {
            if let Some(def) = self.registry.get(&entity).copied() {
                rebuild(&tx, &def, &id)?;
            }
        }
        tx.commit()?;
        Ok(requeued)
    }

    /// Drops every local record and the cursor (used when signing in as someone else).
    pub fn reset(&mut self) -> Result<()> {
        let tx = self.conn.transaction()?;
        delete_records(&tx, &self.registry)?;
        tx.execute_batch(
            "DELETE FROM outbox; DELETE FROM shadows; DELETE FROM attention; DELETE FROM sent; DELETE FROM meta;",
        )?;
        tx.commit()?;
        Ok(())
    }
}

/// Empties every entity table (the cached server records and what pending edits show).
fn delete_records(tx: &Transaction<'_>, registry: &Registry) -> Result<()> {
    for e in registry.entities() {
        tx.execute(&format!("DELETE FROM \"{}\"", e.name), [])?;
    }
    Ok(())
}

/// Binds a JSON value as the SQL value a field of that type stores, borrowing text.
struct JsonSql<'a>(fieldsync_protocol::FieldType, &'a Value);

impl rusqlite::ToSql for JsonSql<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self.1 {
            Value::String(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            other => ToSqlOutput::Owned(json_to_sql(self.0, other)),
        })
    }
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The columns `outbox` and `sent` share, in [`read_mutation`]'s order.
const MUTATION_COLUMNS: &str = "mutation_id, entity, record_id, op, fields, base_cursor, client_seq, edited_at_ms";

/// A mutation from a row of [`MUTATION_COLUMNS`]; the outer error is SQLite's, the inner
/// one a value that does not parse.
fn read_mutation(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Mutation>> {
    let (mid, entity, id, op, fields): (String, String, String, String, String) =
        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
    let (base_cursor, client_seq, edited_at_ms): (String, i64, i64) = (r.get(5)?, r.get(6)?, r.get(7)?);
    Ok((|| {
        Ok(Mutation {
            mutation_id: parse_uuid(&mid)?,
            entity,
            id: parse_uuid(&id)?,
            op: parse_op(&op)?,
            fields: serde_json::from_str(&fields)?,
            base_cursor,
            edited_at_ms,
            client_seq: Some(client_seq),
        })
    })())
}

fn op_str(op: Op) -> &'static str {
    match op {
        Op::Put => "put",
        Op::Delete => "delete",
    }
}

fn parse_op(s: &str) -> Result<Op> {
    match s {
        "put" => Ok(Op::Put),
        "delete" => Ok(Op::Delete),
        other => Err(ClientError::Internal(format!("corrupt outbox entry: op '{other}'"))),
    }
}

fn parse_uuid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| ClientError::Internal(format!("corrupt id '{s}': {e}")))
}

fn read_row(conn: &Connection, def: &EntityDef, id: &str) -> rusqlite::Result<Option<EntityRow>> {
    let sql = format!("SELECT {} FROM \"{}\" WHERE id = ?1", column_list(def, None), def.name);
    conn.prepare_cached(&sql)?.query_row([id], |r| EntityRow::read(def, r)).optional()
}

fn write_object(conn: &Connection, def: &EntityDef, id: &str, obj: &Object) -> rusqlite::Result<()> {
    let mut values = vec![rusqlite::types::Value::Text(id.to_string())];
    values.extend(
        def.fields.iter().map(|f| obj.get(f.name).map_or(rusqlite::types::Value::Null, |v| json_to_sql(f.ty, v))),
    );
    conn.prepare_cached(&upsert_sql(def))?.execute(rusqlite::params_from_iter(values))?;
    Ok(())
}

fn delete_row(conn: &Connection, def: &EntityDef, id: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(&format!("DELETE FROM \"{}\" WHERE id = ?1", def.name))?.execute([id])?;
    Ok(())
}

/// `None`: no shadow. `Some(None)`: the server has no such record.
fn read_shadow(conn: &Connection, entity: &str, id: &str) -> Result<Option<Option<Object>>> {
    let data: Option<Option<String>> = conn
        .prepare_cached("SELECT data FROM shadows WHERE entity = ?1 AND record_id = ?2")?
        .query_row(params![entity, id], |r| r.get(0))
        .optional()?;
    Ok(match data {
        None => None,
        Some(None) => Some(None),
        Some(Some(json)) => Some(Some(serde_json::from_str(&json)?)),
    })
}

/// Before the first pending change to a record, remember its server state.
fn ensure_shadow(tx: &Transaction<'_>, def: &EntityDef, id: &str) -> Result<()> {
    if read_shadow(tx, def.name, id)?.is_none() {
        let current = read_row(tx, def, id)?.map(|r| Value::Object(r.to_object(def)).to_string());
        tx.execute(
            "INSERT INTO shadows (entity, record_id, data) VALUES (?1, ?2, ?3)",
            params![def.name, id, current],
        )?;
    }
    Ok(())
}

fn park(tx: &Transaction<'_>, m: &Mutation, code: &str, reason: &str, now_ms: i64) -> Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO attention (mutation_id, entity, record_id, op, fields, code, reason, rejected_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            m.mutation_id.to_string(),
            m.entity,
            m.id.to_string(),
            op_str(m.op),
            Value::Object(m.fields.clone()).to_string(),
            code,
            reason,
            now_ms
        ],
    )?;
    Ok(())
}

/// Recomputes the visible row as shadow + pending changes; forgets the shadow once no
/// change to the record is pending.
fn rebuild(tx: &Transaction<'_>, def: &EntityDef, id: &str) -> Result<()> {
    let Some(shadow) = read_shadow(tx, def.name, id)? else {
        return Ok(());
    };
    let mut state = shadow;
    let pending: Vec<(String, String)> = {
        let mut stmt =
            tx.prepare_cached("SELECT op, fields FROM outbox WHERE entity = ?1 AND record_id = ?2 ORDER BY seq")?;
        let rows = stmt.query_map(params![def.name, id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (op, fields) in &pending {
        match parse_op(op)? {
            Op::Put => {
                let obj = state.get_or_insert_with(Object::new);
                let fields: Object = serde_json::from_str(fields)?;
                apply_fields(def, obj, &fields);
            }
            Op::Delete => state = None,
        }
    }
    match state {
        Some(obj) => write_object(tx, def, id, &obj)?,
        None => delete_row(tx, def, id)?,
    }
    if pending.is_empty() {
        tx.execute("DELETE FROM shadows WHERE entity = ?1 AND record_id = ?2", params![def.name, id])?;
    }
    Ok(())
}

/// Refuses a value of a `unique` field that another record in this profile already holds
/// (the server checks against every record, seen here or not).
fn check_unique(tx: &rusqlite::Transaction<'_>, def: &EntityDef, id: &str, fields: &Object) -> Result<()> {
    for (name, value) in fields {
        let (Some(field), Some(text)) = (def.field(name).filter(|f| f.unique), value.as_str()) else { continue };
        let taken: i64 = tx.query_row(
            &format!("SELECT count(*) FROM \"{}\" WHERE \"{name}\" = ?1 AND id <> ?2", def.name),
            params![text, id],
            |r| r.get(0),
        )?;
        if taken > 0 {
            return Err(ClientError::BadInput(fieldsync_protocol::duplicate_message(def, field, text)));
        }
    }
    Ok(())
}
