//! Field values: validation of JSON values against a field's type, and parsing of the
//! `FIELD=VALUE` text the CLI accepts.

use serde_json::Value;

use crate::registry::{FieldDef, FieldType};

/// Why a value does not fit a field. The message names the field and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be {expected}, got {got}")]
pub struct ValueError {
    pub field: String,
    pub expected: String,
    pub got: String,
}

fn mismatch(field: &FieldDef, got: &Value) -> ValueError {
    let mut shown = got.to_string();
    if shown.len() > 60 {
        shown.truncate(57);
        shown.push_str("...");
    }
    ValueError { field: field.name.to_string(), expected: field.ty.describe(), got: shown }
}

/// Checks that `value` is a valid value for `field`. `null` is accepted for optional fields.
pub fn validate_value(field: &FieldDef, value: &Value) -> Result<(), ValueError> {
    if value.is_null() {
        return if field.required {
            Err(ValueError { field: field.name.into(), expected: field.ty.describe(), got: "null".into() })
        } else {
            Ok(())
        };
    }
    let ok = match field.ty {
        FieldType::Text => value.is_string(),
        FieldType::Int => value.is_i64(),
        FieldType::Real => value.is_number(),
        FieldType::Bool => value.is_boolean(),
        FieldType::Date => value.as_str().is_some_and(is_date),
        FieldType::Timestamp => value.as_str().is_some_and(is_timestamp),
        FieldType::Enum(allowed) => value.as_str().is_some_and(|s| allowed.contains(&s)),
        FieldType::Ref(_) => value.as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok()),
    };
    if ok {
        Ok(())
    } else {
        Err(mismatch(field, value))
    }
}

/// Parses the text of `--set FIELD=VALUE` into a typed value. The empty string means null
/// for every type but text.
pub fn parse_cli_value(field: &FieldDef, text: &str) -> Result<Value, ValueError> {
    let value = match field.ty {
        FieldType::Text => Value::String(text.to_string()),
        _ if text.is_empty() || text == "null" => Value::Null,
        FieldType::Int => text.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::String(text.into())),
        FieldType::Real => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(text.into())),
        FieldType::Bool => match text {
            "true" | "yes" | "1" => Value::Bool(true),
            "false" | "no" | "0" => Value::Bool(false),
            _ => Value::String(text.into()),
        },
        _ => Value::String(text.to_string()),
    };
    validate_value(field, &value)?;
    Ok(value)
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn is_date(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    match parts.as_slice() {
        [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 => {
            let (Some(y), Some(m), Some(d)) = (digits(y), digits(m), digits(d)) else { return false };
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let days = match m {
                1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
                4 | 6 | 9 | 11 => 30,
                2 if leap => 29,
                2 => 28,
                _ => return false,
            };
            (1..=days).contains(&d)
        }
        _ => false,
    }
}

fn is_timestamp(s: &str) -> bool {
    let Some((date, time)) = s.split_once('T') else {
        return false;
    };
    if !is_date(date) {
        return false;
    }
    let (clock, zone_ok) = if let Some(c) = time.strip_suffix('Z') {
        (c, true)
    } else if time.len() > 6 {
        let (c, z) = time.split_at(time.len() - 6);
        (c, (z.starts_with('+') || z.starts_with('-')) && z.as_bytes()[3] == b':')
    } else {
        (time, false)
    };
    let clock = clock.split('.').next().unwrap_or("");
    let hms: Vec<&str> = clock.split(':').collect();
    zone_ok
        && matches!(hms.as_slice(), [h, m, s] if digits(h).is_some_and(|h| h < 24)
            && digits(m).is_some_and(|m| m < 60) && digits(s).is_some_and(|s| s < 61))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AMOUNT: FieldDef = FieldDef::new("amount_cents", FieldType::Int);
    const WHEN: FieldDef = FieldDef::new("visited_at", FieldType::Timestamp).required();
    const STATUS: FieldDef = FieldDef::new("status", FieldType::Enum(&["draft", "submitted"]));

    #[test]
    fn cli_values_are_typed() {
        assert_eq!(parse_cli_value(&AMOUNT, "1250").unwrap(), Value::from(1250));
        assert_eq!(parse_cli_value(&AMOUNT, "").unwrap(), Value::Null);
        let err = parse_cli_value(&AMOUNT, "12.5x").unwrap_err();
        assert_eq!(err.to_string(), "amount_cents must be a whole number, got \"12.5x\"");
        assert!(parse_cli_value(&STATUS, "shipped").is_err());
        assert!(parse_cli_value(&WHEN, "2026-11-25T10:00:00Z").is_ok());
        assert!(parse_cli_value(&WHEN, "2026-11-25T10:00:00.123+01:00").is_ok());
        assert!(parse_cli_value(&WHEN, "2026-13-25T10:00:00Z").is_err());
        assert!(parse_cli_value(&WHEN, "2026-02-29T10:00:00Z").is_err());
        assert!(parse_cli_value(&WHEN, "2028-02-29T10:00:00Z").is_ok());
        assert!(validate_value(&WHEN, &Value::Null).is_err());
    }
}
