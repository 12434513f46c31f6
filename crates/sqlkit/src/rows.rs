//! Registry-typed conversion between JSON values (the wire and the CLI) and SQLite values.

use fieldsync_protocol::{EntityDef, FieldType};
use rusqlite::types::{Value as SqlValue, ValueRef};
use serde_json::Value;

/// A record as read from an entity table: its id and its field values in registry order.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityRow {
    pub id: String,
    pub values: Vec<Value>,
}

impl EntityRow {
    /// Reads `id, field1, field2, ...` (see [`column_list`]) from a result row.
    pub fn read(entity: &EntityDef, row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        let id: String = row.get(0)?;
        let mut values = Vec::with_capacity(entity.fields.len());
        for (i, f) in entity.fields.iter().enumerate() {
            values.push(sql_to_json(f.ty, row.get_ref(i + 1)?));
        }
        Ok(EntityRow { id, values })
    }

    /// The record as a JSON object with `id` and every field.
    pub fn to_object(&self, entity: &EntityDef) -> serde_json::Map<String, Value> {
        let mut obj = serde_json::Map::new();
        obj.insert("id".into(), Value::String(self.id.clone()));
        for (f, v) in entity.fields.iter().zip(&self.values) {
            obj.insert(f.name.into(), v.clone());
        }
        obj
    }
}

/// `id, "f1", "f2", ...` for an entity, prefixed with `alias.` when given.
pub fn column_list(entity: &EntityDef, alias: Option<&str>) -> String {
    let prefix = alias.map(|a| format!("{a}.")).unwrap_or_default();
    std::iter::once("id").chain(entity.field_names()).map(|c| format!("{prefix}\"{c}\"")).collect::<Vec<_>>().join(", ")
}

/// `INSERT ... ON CONFLICT(id) DO UPDATE` writing id and all fields, parameters in
/// [`column_list`] order.
pub fn upsert_sql(entity: &EntityDef) -> String {
    let cols = column_list(entity, None);
    let params = (1..=entity.fields.len() + 1).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
    let sets = entity.field_names().map(|c| format!("\"{c}\" = excluded.\"{c}\"")).collect::<Vec<_>>().join(", ");
    if sets.is_empty() {
        format!("INSERT INTO \"{}\" ({cols}) VALUES ({params}) ON CONFLICT(id) DO NOTHING", entity.name)
    } else {
        format!("INSERT INTO \"{}\" ({cols}) VALUES ({params}) ON CONFLICT(id) DO UPDATE SET {sets}", entity.name)
    }
}

/// Converts a (validated) JSON value to the SQL value stored for a field of type `ty`.
pub fn json_to_sql(ty: FieldType, v: &Value) -> SqlValue {
    match (ty, v) {
        (_, Value::Null) => SqlValue::Null,
        (FieldType::Bool, Value::Bool(b)) => SqlValue::Integer(i64::from(*b)),
        (_, Value::Bool(b)) => SqlValue::Integer(i64::from(*b)),
        (FieldType::Real, Value::Number(n)) => SqlValue::Real(n.as_f64().unwrap_or(0.0)),
        (_, Value::Number(n)) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().unwrap_or(0.0)),
        },
        (_, Value::String(s)) => SqlValue::Text(s.clone()),
        (_, other) => SqlValue::Text(other.to_string()),
    }
}

/// Converts a stored SQL value back to JSON for a field of type `ty`.
pub fn sql_to_json(ty: FieldType, v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) if ty == FieldType::Bool => Value::Bool(i != 0),
        ValueRef::Integer(i) if ty == FieldType::Real => Value::from(i as f64),
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(r) => serde_json::Number::from_f64(r).map(Value::Number).unwrap_or(Value::Null),
        ValueRef::Text(t) | ValueRef::Blob(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
    }
}
