//! How a write to a record combines with its current value, per field strategy. Client
//! and server both apply writes through [`apply_fields`], so a pending local edit shows
//! exactly what the server will store.

use serde_json::{Map, Value};

use crate::registry::{EntityDef, FieldStrategy};

/// Applies wire `fields` (new values, texts to append, or deltas) to `record`.
pub fn apply_fields(def: &EntityDef, record: &mut Map<String, Value>, fields: &Map<String, Value>) {
    for (name, incoming) in fields {
        let strategy = def.field(name).map_or(FieldStrategy::Lww, |f| f.strategy);
        let current = record.get(name).cloned().unwrap_or(Value::Null);
        record.insert(name.clone(), combine(strategy, &current, incoming));
    }
}

/// The value of a field after `incoming` is applied to `current`.
pub fn combine(strategy: FieldStrategy, current: &Value, incoming: &Value) -> Value {
    match strategy {
        FieldStrategy::Append => match (current.as_str(), incoming.as_str()) {
            (Some(old), Some(add)) if !old.is_empty() => Value::String(format!("{old}\n{add}")),
            (_, Some(add)) => Value::String(add.to_string()),
            _ => current.clone(),
        },
        // Saturating, so that no input can panic or wrap; `value::check_write` refuses a
        // delta that would overflow before it is ever applied.
        FieldStrategy::Counter => {
            Value::from(current.as_i64().unwrap_or(0).saturating_add(incoming.as_i64().unwrap_or(0)))
        }
        FieldStrategy::Lww | FieldStrategy::ServerOnly => incoming.clone(),
    }
}

/// What to send for a local edit that sets `field` from `current` to `wanted`: the new
/// value, the text added (Append) or the delta (Counter). `Err` explains a refused edit.
pub fn wire_value(strategy: FieldStrategy, field: &str, current: &Value, wanted: &Value) -> Result<Value, String> {
    match strategy {
        FieldStrategy::Append => Ok(wanted.clone()),
        FieldStrategy::Counter => {
            let (old, new) = (current.as_i64().unwrap_or(0), wanted.as_i64().unwrap_or(0));
            new.checked_sub(old).map(Value::from).ok_or_else(|| format!("{field} cannot change by that much at once."))
        }
        FieldStrategy::ServerOnly => Err(format!("{field} is set by the server and cannot be changed here.")),
        FieldStrategy::Lww => Ok(wanted.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn appends_keep_every_addition_and_counters_sum() {
        assert_eq!(
            combine(FieldStrategy::Append, &json!("met buyer"), &json!("left samples")),
            json!("met buyer\nleft samples")
        );
        assert_eq!(combine(FieldStrategy::Append, &Value::Null, &json!("first")), json!("first"));
        assert_eq!(combine(FieldStrategy::Counter, &json!(5), &json!(3)), json!(8));
        assert_eq!(wire_value(FieldStrategy::Counter, "n", &json!(5), &json!(2)).unwrap(), json!(-3));
        assert!(wire_value(FieldStrategy::ServerOnly, "flags", &Value::Null, &json!("x")).is_err());
    }
}
