//! Generic reads and writes of entity records and the change log, used by push, seed and
//! admin commands alike.

use fieldsync_protocol::EntityDef;
use fieldsync_sqlkit::{column_list, json_to_sql, sql_to_json, upsert_sql, EntityRow};
use serde_json::Value;

use crate::args;
use crate::sql::{Backend, DbError, Row, SqlValue, Tx};

/// Reads `id, field1, field2, ...` (see [`column_list`]) from a result row.
pub fn read_row(def: &EntityDef, row: &Row<'_>) -> Result<EntityRow, DbError> {
    let id: String = row.get(0)?;
    let mut values = Vec::with_capacity(def.fields.len());
    for (i, f) in def.fields.iter().enumerate() {
        values.push(sql_to_json(f.ty, row.value(i + 1)?));
    }
    Ok(EntityRow { id, values })
}

/// A JSON value of a field of type `ty` as the SQL value stored for it.
pub fn to_sql(ty: fieldsync_protocol::FieldType, v: &Value) -> SqlValue {
    SqlValue::from(json_to_sql(ty, v))
}

pub fn load(tx: &Tx<'_>, def: &EntityDef, id: &str) -> Result<Option<EntityRow>, DbError> {
    let sql = format!("SELECT {} FROM \"{}\" WHERE id = ?1", column_list(def, None), def.name);
    tx.query_opt(&sql, args![id], |r| read_row(def, r))
}

pub fn exists(tx: &Tx<'_>, entity: &str, id: &str) -> Result<bool, DbError> {
    tx.value(&format!("SELECT EXISTS (SELECT 1 FROM \"{entity}\" WHERE id = ?1)"), args![id])
}

/// How a concurrent write ([`Tx::is_concurrent`]) locks a row it reads to decide, so that
/// no other concurrent write changes the row in a way that matters before this one
/// commits. PostgreSQL returns the newest committed row once the lock is had. Writes that
/// run alone (SQLite, ordered PostgreSQL writes) read without locks.
#[derive(Debug, Clone, Copy)]
pub enum RowLock {
    /// The row will be deleted.
    Update,
    /// The row will be changed (other writes may still refer to it).
    NoKeyUpdate,
    /// Its fields decide (a parent's state): no one changes it meanwhile.
    Share,
    /// It is referred to: no one deletes it meanwhile.
    KeyShare,
}

impl RowLock {
    /// The locking clause to end a `SELECT` of one table with (empty when not concurrent).
    pub fn clause(self, tx: &Tx<'_>) -> &'static str {
        if !tx.is_concurrent() {
            return "";
        }
        match self {
            RowLock::Update => " FOR UPDATE",
            RowLock::NoKeyUpdate => " FOR NO KEY UPDATE",
            RowLock::Share => " FOR SHARE",
            RowLock::KeyShare => " FOR KEY SHARE",
        }
    }
}

/// [`load`], locking the row for a concurrent write.
pub fn load_locked(tx: &Tx<'_>, def: &EntityDef, id: &str, lock: RowLock) -> Result<Option<EntityRow>, DbError> {
    let sql = format!("SELECT {} FROM \"{}\" WHERE id = ?1{}", column_list(def, None), def.name, lock.clause(tx));
    tx.query_opt(&sql, args![id], |r| read_row(def, r))
}

/// [`exists`], locking the row for a concurrent write.
pub fn exists_locked(tx: &Tx<'_>, entity: &str, id: &str, lock: RowLock) -> Result<bool, DbError> {
    let sql = format!("SELECT 1 FROM \"{entity}\" WHERE id = ?1{}", lock.clause(tx));
    Ok(tx.query_opt(&sql, args![id], |_| Ok(()))?.is_some())
}

/// Class of the advisory locks on unique values ([`lock_value`]); the two-key form keeps
/// them apart from the single-key locks of `db.rs`.
const VALUE_LOCK_CLASS: i64 = 0x4653;

/// For a concurrent write about to check that `value` of a unique field is free: waits
/// until no other concurrent write is checking or writing the same value, so two records
/// cannot both take it. A no-op for writes that run alone.
pub fn lock_value(tx: &Tx<'_>, entity: &str, field: &str, value: &str) -> Result<(), DbError> {
    if tx.is_concurrent() {
        tx.execute(
            "SELECT pg_advisory_xact_lock(CAST(?1 AS INTEGER), hashtext(?2))",
            args![VALUE_LOCK_CLASS, format!("{entity}.{field}={value}")],
        )?;
    }
    Ok(())
}

/// The `changes.target` of a deletion's own entry: it marks the record as deleted but
/// reaches nobody; each user who could see the record gets a targeted tombstone instead
/// (entries written before this existed have target '' and reach everyone).
pub const DELETED_MARK: &str = "-";

/// Whether the record was deleted (its latest change is a tombstone).
pub fn is_deleted(tx: &Tx<'_>, entity: &str, id: &str) -> Result<bool, DbError> {
    tx.value(
        "SELECT EXISTS (SELECT 1 FROM changes WHERE entity = ?1 AND record_id = ?2 AND target IN ('', ?3) AND deleted = 1)",
        args![entity, id, DELETED_MARK],
    )
}

/// The parameters of one record in [`column_list`] order: its id, then its values (given
/// in registry order) as stored.
fn push_row(params: &mut Vec<SqlValue>, def: &EntityDef, id: &str, values: &[Value]) {
    params.push(SqlValue::from(id));
    params.extend(def.fields.iter().zip(values).map(|(f, v)| to_sql(f.ty, v)));
}

/// Writes a whole record (values in registry order) and logs the change. Returns its seq.
/// Callers outside this module name values by field: [`upsert_object`].
fn upsert(tx: &Tx<'_>, def: &EntityDef, id: &str, values: &[Value]) -> Result<i64, DbError> {
    let mut params = Vec::with_capacity(values.len() + 1);
    push_row(&mut params, def, id, values);
    tx.execute(&upsert_sql(def), &params)?;
    log_change(tx, def.name, id, false)
}

/// Writes a new record (values in registry order); the caller logs it ([`log_write`]).
/// Unlike [`upsert`] it fails when the id exists, so a concurrent write that created the
/// same record first makes this one run again and see it (`db.rs`).
pub fn insert(tx: &Tx<'_>, def: &EntityDef, id: &str, values: &[Value]) -> Result<(), DbError> {
    let mut params = Vec::with_capacity(values.len() + 1);
    push_row(&mut params, def, id, values);
    let sql = format!(
        "INSERT INTO \"{}\" ({}) VALUES ({})",
        def.name,
        column_list(def, None),
        crate::sql::placeholders(1, params.len())
    );
    tx.execute(&sql, &params)?;
    Ok(())
}

/// [`upsert`] with the values named by field: each goes to the column its name says,
/// whatever the registry's order. Fields left out are written NULL; a name the entity does
/// not have is refused.
pub fn upsert_object(
    tx: &Tx<'_>,
    def: &EntityDef,
    id: &str,
    object: &serde_json::Map<String, Value>,
) -> Result<i64, DbError> {
    if let Some(unknown) = object.keys().find(|k| def.field(k).is_none()) {
        return Err(DbError::Other(format!("{} has no field {unknown}", def.name)));
    }
    let values: Vec<Value> = def.fields.iter().map(|f| object.get(f.name).cloned().unwrap_or(Value::Null)).collect();
    upsert(tx, def, id, &values)
}

/// Records [`upsert_many`] writes per statement (a multi-row `INSERT` costs far less per
/// row than one statement each).
pub const UPSERT_CHUNK: usize = 100;

/// Writes many whole records (values in registry order) and logs their changes, a few
/// statements per [`UPSERT_CHUNK`] records; the ids must be distinct. Returns each
/// record's new seq, in the order given.
pub fn upsert_many(tx: &Tx<'_>, def: &EntityDef, records: &[(String, Vec<Value>)]) -> Result<Vec<i64>, DbError> {
    let mut seqs = Vec::with_capacity(records.len());
    let width = def.fields.len() + 1;
    for chunk in records.chunks(UPSERT_CHUNK) {
        let tuples = |width: usize, first: usize| -> String {
            (0..chunk.len())
                .map(|r| {
                    let cells: Vec<String> = (0..width).map(|c| format!("?{}", first + r * width + c)).collect();
                    format!("({})", cells.join(", "))
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let sets = def.field_names().map(|c| format!("\"{c}\" = excluded.\"{c}\"")).collect::<Vec<_>>().join(", ");
        let conflict = match sets.is_empty() {
            true => "DO NOTHING".to_string(),
            false => format!("DO UPDATE SET {sets}"),
        };
        let sql = format!(
            "INSERT INTO \"{}\" ({}) VALUES {} ON CONFLICT(id) {conflict}",
            def.name,
            column_list(def, None),
            tuples(width, 1)
        );
        let mut params = Vec::with_capacity(chunk.len() * width);
        for (id, values) in chunk {
            push_row(&mut params, def, id, values);
        }
        tx.execute(&sql, &params)?;
        tx.before_change_log()?;
        // The change log, one statement too: `?1` is the entity, then one id per record.
        let rows = (0..chunk.len()).map(|r| format!("(?1, ?{}, 0, '')", r + 2)).collect::<Vec<_>>().join(", ");
        let sql = match tx.backend() {
            Backend::Sqlite => format!(
                "INSERT OR REPLACE INTO changes (entity, record_id, deleted, target) VALUES {rows} RETURNING record_id, seq"
            ),
            Backend::Postgres => format!(
                "INSERT INTO changes (entity, record_id, deleted, target) VALUES {rows} \
                 ON CONFLICT (entity, record_id, target) \
                 DO UPDATE SET seq = nextval('changes_seq_seq'), deleted = excluded.deleted RETURNING record_id, seq"
            ),
        };
        let mut params = vec![SqlValue::from(def.name)];
        params.extend(chunk.iter().map(|(id, _)| SqlValue::from(id.as_str())));
        let mut by_id = std::collections::HashMap::with_capacity(chunk.len());
        tx.for_each(&sql, &params, |r| {
            by_id.insert(r.get::<String>(0)?, r.get::<i64>(1)?);
            Ok(true)
        })?;
        seqs.extend(chunk.iter().map(|(id, _)| by_id.get(id).copied().unwrap_or_default()));
        tx.note_logged(by_id.values().copied().max().unwrap_or_default());
        let ids: Vec<&str> = chunk.iter().map(|(id, _)| id.as_str()).collect();
        rekey(tx, def.name, &ids)?;
    }
    Ok(seqs)
}

/// Deletes a record. Its tombstone reaches only the users who could see it just before:
/// nobody learns the id of a record they never saw.
pub fn delete(tx: &Tx<'_>, reg: &fieldsync_protocol::Registry, def: &EntityDef, id: &str) -> Result<i64, DbError> {
    let viewers = crate::rules::sightings(tx, reg, def, &[id.to_string()])?;
    if tx.is_concurrent() {
        tx.pending.borrow_mut().forget_record(def.name, id);
    }
    tx.execute(&format!("DELETE FROM \"{}\" WHERE id = ?1", def.name), args![id])?;
    tx.execute("DELETE FROM field_stamps WHERE entity = ?1 AND record_id = ?2", args![def.name, id])?;
    // The record's entry for everyone goes; the deletion mark stays for `is_deleted`.
    tx.execute("DELETE FROM changes WHERE entity = ?1 AND record_id = ?2 AND target = ''", args![def.name, id])?;
    forget_keys(tx, def.name, &[id])?;
    let mut seq = log_targeted(tx, def.name, id, true, DELETED_MARK)?;
    for (viewer, _) in viewers {
        seq = log_targeted(tx, def.name, id, true, &viewer)?;
    }
    Ok(seq)
}

/// Moves the record to the end of the change log with a fresh seq. Must run inside a
/// write transaction (see `db.rs`) so seqs become visible in order.
/// The newest change's seq (0 for none): where a reader that has everything stands.
pub fn head(tx: &Tx<'_>) -> Result<i64, DbError> {
    tx.value("SELECT coalesce(max(seq), 0) FROM changes", args![])
}

pub fn log_change(tx: &Tx<'_>, entity: &str, id: &str, deleted: bool) -> Result<i64, DbError> {
    log_targeted(tx, entity, id, deleted, "")
}

/// Logs a change for one user only (`target` = user id; '' = everyone who can see it).
pub fn log_targeted(tx: &Tx<'_>, entity: &str, id: &str, deleted: bool, target: &str) -> Result<i64, DbError> {
    tx.before_change_log()?;
    // Both replace the record's row with one holding a fresh seq.
    let sql = match tx.backend() {
        Backend::Sqlite => {
            "INSERT OR REPLACE INTO changes (entity, record_id, deleted, target) VALUES (?1, ?2, ?3, ?4) RETURNING seq"
        }
        Backend::Postgres => {
            "INSERT INTO changes (entity, record_id, deleted, target) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (entity, record_id, target) \
             DO UPDATE SET seq = nextval('changes_seq_seq'), deleted = excluded.deleted RETURNING seq"
        }
    };
    let seq = tx.value(sql, args![entity, id, deleted, target])?;
    tx.note_logged(seq);
    if target.is_empty() {
        rekey(tx, entity, &[id])?;
    }
    Ok(seq)
}

/// Writes the change-log keys of records `ids` of `entity` from the records as they are
/// now, at their entries' seqs, replacing the old ones: when their entries were written,
/// and after a move of an ancestor (the entries keep their place in the log, not the keys
/// they were logged under).
pub fn rekey(tx: &Tx<'_>, entity: &str, ids: &[&str]) -> Result<(), DbError> {
    forget_keys(tx, entity, ids)?;
    write_keys(tx, entity, ids)
}

/// Removes the change-log keys of records `ids` of `entity` (their entries for everyone
/// were replaced or deleted): see migrations/server/009_change_keys.sql.
fn forget_keys(tx: &Tx<'_>, entity: &str, ids: &[&str]) -> Result<(), DbError> {
    let sql =
        format!("DELETE FROM change_keys WHERE entity = ?1 AND {}", crate::sql::in_texts(tx.backend(), "record_id", 2));
    tx.execute(&sql, &[SqlValue::from(entity), crate::sql::text_list(ids.iter().copied())])?;
    Ok(())
}

/// Writes the change-log keys of the entries for everyone of records `ids` of `entity`,
/// each under its entry's seq, from the records as they are now ([`crate::rules::record_keys`]);
/// after [`forget_keys`]. A type without key expressions is for everyone (`*`).
fn write_keys(tx: &Tx<'_>, entity: &str, ids: &[&str]) -> Result<(), DbError> {
    let entries = format!(
        "FROM changes c{{join}} WHERE c.entity = ?1 AND c.target = '' AND {}",
        crate::sql::in_texts(tx.backend(), "c.record_id", 2)
    );
    let keys = match tx.keys_of(entity) {
        Some(keys) => keys
            .iter()
            .map(|key| {
                let from = entries.replace("{join}", &format!(" JOIN \"{entity}\" t ON t.id = c.record_id"));
                format!("SELECT {key} AS key, c.seq AS seq, c.record_id AS record_id {from}")
            })
            .collect::<Vec<_>>()
            .join(" UNION "),
        None => format!("SELECT '*' AS key, c.seq AS seq, c.record_id AS record_id {}", entries.replace("{join}", "")),
    };
    if keys.is_empty() {
        return Ok(()); // a scope nobody passes (a reference to an unknown type)
    }
    let sql = format!(
        "INSERT INTO change_keys (key, seq, entity, record_id) \
         SELECT k.key, k.seq, CAST(?1 AS TEXT), k.record_id FROM ({keys}) k WHERE k.key IS NOT NULL"
    );
    tx.execute(&sql, &[SqlValue::from(entity), crate::sql::text_list(ids.iter().copied())])?;
    Ok(())
}

/// What a concurrent write ([`Tx::is_concurrent`]) holds back until its end: the records it
/// changed and the stamps of the fields it wrote, keyed so that each is written once.
/// [`flush`] writes them in one statement that also takes the change log's turn, so the
/// part of a push that runs one at a time is that statement and the commit.
#[derive(Debug, Default)]
pub struct Pending {
    changes: std::collections::BTreeSet<RecordKey>,
    stamps: std::collections::BTreeMap<StampKey, StampBy>,
    /// How to undo each change made to the two above, oldest first: a savepoint's rollback
    /// undoes back to its [`Pending::mark`], without copying what earlier mutations held.
    undo: Vec<Undo>,
}

/// (entity, record)
type RecordKey = (String, String);
/// (entity, record, field)
type StampKey = (String, String, String);
/// (at_ms, user_id, client_id)
type StampBy = (i64, String, String);

#[derive(Debug)]
enum Undo {
    /// Whether the record's change was held before.
    Change(RecordKey, bool),
    /// The stamp held before, if one was.
    Stamp(StampKey, Option<StampBy>),
}

impl Pending {
    fn hold_change(&mut self, key: RecordKey) {
        let held = !self.changes.insert(key.clone());
        self.undo.push(Undo::Change(key, held));
    }

    fn hold_stamp(&mut self, key: StampKey, by: StampBy) {
        let before = self.stamps.insert(key.clone(), by);
        self.undo.push(Undo::Stamp(key, before));
    }

    /// Drops what is held for a record (it is being deleted).
    fn forget_record(&mut self, entity: &str, id: &str) {
        let key = (entity.to_string(), id.to_string());
        if self.changes.remove(&key) {
            self.undo.push(Undo::Change(key, true));
        }
        let stamps: Vec<StampKey> = self.stamps.keys().filter(|(e, r, _)| e == entity && r == id).cloned().collect();
        for key in stamps {
            let before = self.stamps.remove(&key);
            self.undo.push(Undo::Stamp(key, before));
        }
    }

    /// Where a savepoint starts, for [`Pending::undo_to`].
    pub fn mark(&self) -> usize {
        self.undo.len()
    }

    /// Undoes every change made since `mark`, newest first.
    pub fn undo_to(&mut self, mark: usize) {
        while self.undo.len() > mark {
            match self.undo.pop() {
                Some(Undo::Change(key, true)) => {
                    self.changes.insert(key);
                }
                Some(Undo::Change(key, false)) => {
                    self.changes.remove(&key);
                }
                Some(Undo::Stamp(key, Some(by))) => {
                    self.stamps.insert(key, by);
                }
                Some(Undo::Stamp(key, None)) => {
                    self.stamps.remove(&key);
                }
                None => break,
            }
        }
    }
}

/// Logs a change of record `id` and stamps `fields` as written by `by`. A write that runs
/// alone does it at once; a concurrent write holds both back until its end ([`flush`]).
pub fn log_write<'f>(
    tx: &Tx<'_>,
    entity: &str,
    id: &str,
    fields: impl IntoIterator<Item = &'f str>,
    by: &Writer<'_>,
) -> Result<(), DbError> {
    if tx.is_concurrent() {
        let mut pending = tx.pending.borrow_mut();
        pending.hold_change((entity.to_string(), id.to_string()));
        for field in fields {
            let key = (entity.to_string(), id.to_string(), field.to_string());
            pending.hold_stamp(key, (by.at_ms, by.user_id.to_string(), by.client_id.to_string()));
        }
        return Ok(());
    }
    let seq = log_change(tx, entity, id, false)?;
    let fields: Vec<&str> = fields.into_iter().collect();
    for chunk in fields.chunks(UPSERT_CHUNK) {
        let rows =
            (0..chunk.len()).map(|i| format!("(?1, ?2, ?3, ?4, ?5, ?6, ?{})", i + 7)).collect::<Vec<_>>().join(", ");
        let mut params = crate::args![entity, id, by.at_ms, by.user_id, by.client_id, seq].to_vec();
        params.extend(chunk.iter().map(|f| SqlValue::from(*f)));
        tx.execute(&format!("INSERT INTO field_stamps (entity, record_id, at_ms, user_id, client_id, seq, field) VALUES {rows} {STAMP_CONFLICT}"), &params)?;
    }
    Ok(())
}

/// What a newer stamp of a field replaces.
const STAMP_CONFLICT: &str = "ON CONFLICT (entity, record_id, field) DO UPDATE SET \
     at_ms = excluded.at_ms, user_id = excluded.user_id, client_id = excluded.client_id, seq = excluded.seq";

/// Whether this (concurrent) write holds back a stamp of the field: its own write, earlier
/// in the same push.
pub fn stamp_pending(tx: &Tx<'_>, entity: &str, id: &str, field: &str) -> bool {
    tx.is_concurrent()
        && tx.pending.borrow().stamps.contains_key(&(entity.to_string(), id.to_string(), field.to_string()))
}

/// Writes what a concurrent write held back ([`Pending`]): one statement takes the change
/// log's turn (unless the write already holds it), logs every change and stamps every
/// field with its record's new seq. A no-op when nothing is held back.
pub fn flush(tx: &Tx<'_>) -> Result<(), DbError> {
    let pending = std::mem::take(&mut *tx.pending.borrow_mut());
    if pending.changes.is_empty() {
        return Ok(());
    }
    // Taking the lock again when it is held is harmless (advisory locks are re-entrant).
    let key = tx.turn_to_take().unwrap_or(crate::db::LOG_LOCK);
    let mut params = vec![SqlValue::from(key)];
    let tuples = |row: Vec<SqlValue>, params: &mut Vec<SqlValue>| -> String {
        let first = params.len() + 1;
        let n = row.len();
        params.extend(row);
        format!("({})", crate::sql::placeholders(first, n))
    };
    let changes: Vec<String> = pending
        .changes
        .iter()
        .map(|(e, r)| tuples(crate::args![e.as_str(), r.as_str()].to_vec(), &mut params))
        .collect();
    let stamps: Vec<String> = pending
        .stamps
        .iter()
        .map(|((e, r, f), (at, u, c))| {
            tuples(crate::args![e.as_str(), r.as_str(), f.as_str(), *at, u.as_str(), c.as_str()].to_vec(), &mut params)
        })
        .collect();
    // The lock is taken when `turn` is read, before any row is inserted and so before any
    // seq is handed out; data-modifying CTEs run to completion whether read or not.
    let mut sql = format!(
        "WITH turn AS (SELECT pg_advisory_xact_lock(CAST(?1 AS BIGINT))), \
         c AS (INSERT INTO changes (entity, record_id, deleted, target) \
               SELECT v.e, v.r, 0, '' FROM turn, (VALUES {}) AS v(e, r) \
               ON CONFLICT (entity, record_id, target) \
               DO UPDATE SET seq = nextval('changes_seq_seq'), deleted = excluded.deleted \
               RETURNING entity, record_id, seq)",
        changes.join(", ")
    );
    if !stamps.is_empty() {
        sql.push_str(&format!(
            ", s AS (INSERT INTO field_stamps (entity, record_id, field, at_ms, user_id, client_id, seq) \
               SELECT v.e, v.r, v.f, CAST(v.a AS BIGINT), v.u, v.c, c.seq \
               FROM (VALUES {}) AS v(e, r, f, a, u, c) JOIN c ON c.entity = v.e AND c.record_id = v.r \
               {STAMP_CONFLICT})",
            stamps.join(", ")
        ));
    }
    sql.push_str(" SELECT CAST(coalesce(max(seq), 0) AS BIGINT) FROM c");
    // Keys go in two steps around the ordered statement: the old ones beforehand (the
    // records are this write's, locked), the new ones after it, in a statement of its own
    // so that it reads the records' parents as the writes it waited for left them.
    let mut by_entity: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (e, r) in &pending.changes {
        by_entity.entry(e.as_str()).or_default().push(r.as_str());
    }
    for (entity, ids) in &by_entity {
        forget_keys(tx, entity, ids)?;
    }
    let seq: i64 = tx.value(&sql, &params)?;
    tx.note_logged(seq);
    for (entity, ids) in &by_entity {
        write_keys(tx, entity, ids)?;
    }
    Ok(())
}

/// Who wrote a field, for its edit stamp: a user on a client, or the office (an import,
/// an admin command), whose writes are stamped so an older offline edit cannot silently
/// undo them.
pub struct Writer<'a> {
    pub user_id: &'a str,
    pub client_id: &'a str,
    /// Edit time in server time.
    pub at_ms: i64,
}

/// The `user_id` and `client_id` of an admin command's edit stamps.
pub const ADMIN_WRITER: &str = "admin";

/// Records who last wrote `field` of a record, when, and at which seq (last-write-wins
/// reads it to tell a concurrent edit from a stale one).
pub fn stamp(tx: &Tx<'_>, entity: &str, id: &str, field: &str, by: &Writer<'_>, seq: i64) -> Result<(), DbError> {
    tx.execute(
        &format!(
            "INSERT INTO field_stamps (entity, record_id, field, at_ms, user_id, client_id, seq) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) {STAMP_CONFLICT}"
        ),
        args![entity, id, field, by.at_ms, by.user_id, by.client_id, seq],
    )?;
    Ok(())
}

/// Writes the named fields of `record` (a full object) to the stored row.
pub fn write_fields<'a>(
    tx: &Tx<'_>,
    def: &EntityDef,
    id: &str,
    record: &serde_json::Map<String, Value>,
    fields: impl Iterator<Item = &'a String>,
) -> Result<(), DbError> {
    let mut sets = Vec::new();
    let mut params = vec![SqlValue::from(id)];
    for name in fields {
        let Some(f) = def.field(name) else { continue };
        sets.push(format!("\"{name}\" = ?{}", params.len() + 1));
        params.push(to_sql(f.ty, record.get(name).unwrap_or(&Value::Null)));
    }
    if sets.is_empty() {
        return Ok(());
    }
    tx.execute(&format!("UPDATE \"{}\" SET {} WHERE id = ?1", def.name, sets.join(", ")), &params)?;
    Ok(())
}

/// A server-side write of one field (flags, computed values), logged as a change; returns
/// the change's seq.
pub fn set_server_field(tx: &Tx<'_>, def: &EntityDef, id: &str, field: &str, value: Value) -> Result<i64, DbError> {
    let mut record = serde_json::Map::new();
    record.insert(field.to_string(), value);
    write_fields(tx, def, id, &record, std::iter::once(&field.to_string()))?;
    log_change(tx, def.name, id, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_savepoints_rollback_undoes_exactly_what_was_held_back_since_its_mark() {
        let key = |r: &str| ("customers".to_string(), r.to_string());
        let stamp = |r: &str, f: &str| ("customers".to_string(), r.to_string(), f.to_string());
        let by = |at: i64| (at, "u".to_string(), "c".to_string());
        let mut p = Pending::default();
        p.hold_change(key("a"));
        p.hold_stamp(stamp("a", "name"), by(1));
        let (changes, stamps) = (p.changes.clone(), p.stamps.clone());
        let mark = p.mark();
        p.hold_change(key("a"));
        p.hold_stamp(stamp("a", "name"), by(2));
        p.hold_change(key("b"));
        p.hold_stamp(stamp("b", "city"), by(2));
        p.forget_record("customers", "a");
        p.undo_to(mark);
        assert_eq!((p.changes, p.stamps), (changes, stamps));
    }
}
