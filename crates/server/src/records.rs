//! Generic reads and writes of entity records and the change log, used by push, seed and
//! admin commands alike.

use fieldsync_protocol::EntityDef;
use fieldsync_sqlkit::{column_list, json_to_sql, upsert_sql, EntityRow};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

pub fn load(conn: &Connection, def: &EntityDef, id: &str) -> rusqlite::Result<Option<EntityRow>> {
    let sql = format!("SELECT {} FROM \"{}\" WHERE id = ?1", column_list(def, None), def.name);
    conn.prepare_cached(&sql)?.query_row([id], |r| EntityRow::read(def, r)).optional()
}

pub fn exists(conn: &Connection, entity: &str, id: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached(&format!("SELECT EXISTS (SELECT 1 FROM \"{entity}\" WHERE id = ?1)"))?
        .query_row([id], |r| r.get(0))
}

/// Whether the record was deleted (its latest change is a tombstone).
pub fn is_deleted(conn: &Connection, entity: &str, id: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM changes WHERE entity = ?1 AND record_id = ?2 AND target = '' AND deleted = 1)",
    )?
    .query_row(params![entity, id], |r| r.get(0))
}

/// Writes a whole record (values in registry order) and logs the change. Returns its seq.
pub fn upsert(conn: &Connection, def: &EntityDef, id: &str, values: &[Value]) -> rusqlite::Result<i64> {
    let mut stmt = conn.prepare_cached(&upsert_sql(def))?;
    let mut sql_values = Vec::with_capacity(values.len() + 1);
    sql_values.push(rusqlite::types::Value::Text(id.to_string()));
    sql_values.extend(def.fields.iter().zip(values).map(|(f, v)| json_to_sql(f.ty, v)));
    stmt.execute(rusqlite::params_from_iter(sql_values))?;
    log_change(conn, def.name, id, false)
}

pub fn delete(conn: &Connection, def: &EntityDef, id: &str) -> rusqlite::Result<i64> {
    conn.execute(&format!("DELETE FROM \"{}\" WHERE id = ?1", def.name), [id])?;
    conn.execute("DELETE FROM field_stamps WHERE entity = ?1 AND record_id = ?2", params![def.name, id])?;
    log_change(conn, def.name, id, true)
}

/// Moves the record to the end of the change log with a fresh seq. Must run inside the
/// writer's transaction so seqs become visible in order.
pub fn log_change(conn: &Connection, entity: &str, id: &str, deleted: bool) -> rusqlite::Result<i64> {
    log_targeted(conn, entity, id, deleted, "")
}

/// Logs a change for one user only (`target` = user id; '' = everyone who can see it).
pub fn log_targeted(conn: &Connection, entity: &str, id: &str, deleted: bool, target: &str) -> rusqlite::Result<i64> {
    conn.prepare_cached("INSERT OR REPLACE INTO changes (entity, record_id, deleted, target) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![entity, id, deleted, target])?;
    Ok(conn.last_insert_rowid())
}

/// Writes the named fields of `record` (a full object) to the stored row.
pub fn write_fields<'a>(
    conn: &Connection,
    def: &EntityDef,
    id: &str,
    record: &serde_json::Map<String, Value>,
    fields: impl Iterator<Item = &'a String>,
) -> rusqlite::Result<()> {
    let mut sets = Vec::new();
    let mut values = vec![rusqlite::types::Value::Text(id.to_string())];
    for name in fields {
        let Some(f) = def.field(name) else { continue };
        sets.push(format!("\"{name}\" = ?{}", values.len() + 1));
        values.push(json_to_sql(f.ty, record.get(name).unwrap_or(&Value::Null)));
    }
    if sets.is_empty() {
        return Ok(());
    }
    conn.execute(
        &format!("UPDATE \"{}\" SET {} WHERE id = ?1", def.name, sets.join(", ")),
        rusqlite::params_from_iter(values),
    )?;
    Ok(())
}

/// A server-side write of one field (flags, computed values), logged as a change.
pub fn set_server_field(
    conn: &Connection,
    def: &EntityDef,
    id: &str,
    field: &str,
    value: Value,
) -> rusqlite::Result<()> {
    let mut record = serde_json::Map::new();
    record.insert(field.to_string(), value);
    write_fields(conn, def, id, &record, std::iter::once(&field.to_string()))?;
    log_change(conn, def.name, id, false)?;
    Ok(())
}
