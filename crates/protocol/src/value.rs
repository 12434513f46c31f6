//! Field values: validation of JSON values against a field's type, and parsing of the
//! `FIELD=VALUE` text the CLI accepts.

use serde_json::{Map, Value};

use crate::merge::combine;
use crate::registry::{EntityDef, FieldDef, FieldStrategy, FieldType, MAX_APPEND_BYTES};

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
    crate::time::is_calendar_date(s)
}

/// `HH:MM` with an hour below `hours` and minutes below 60, two digits each.
fn is_hh_mm(s: &str, hours: u32) -> bool {
    match s.split_once(':') {
        Some((h, m)) if h.len() == 2 && m.len() == 2 => {
            digits(h).is_some_and(|h| h < hours) && digits(m).is_some_and(|m| m < 60)
        }
        _ => false,
    }
}

/// Strict RFC 3339: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`, upper-case `T`
/// and `Z`, a real calendar date, seconds below 60 (no leap seconds), and 1 to 9
/// fraction digits.
fn is_timestamp(s: &str) -> bool {
    let Some((date, time)) = s.split_once('T') else {
        return false;
    };
    if !is_date(date) || time.len() < 9 {
        return false;
    }
    let (hh_mm, rest) = time.split_at(5);
    let Some(rest) = rest.strip_prefix(':') else { return false };
    if rest.len() < 2 || !is_hh_mm(hh_mm, 24) {
        return false;
    }
    let (secs, rest) = rest.split_at(2);
    if digits(secs).is_none_or(|s| s >= 60) {
        return false;
    }
    let zone = match rest.strip_prefix('.') {
        Some(frac) => {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            if !(1..=9).contains(&n) {
                return false;
            }
            &frac[n..]
        }
        None => rest,
    };
    zone == "Z" || (zone.len() == 6 && (zone.starts_with('+') || zone.starts_with('-')) && is_hh_mm(&zone[1..], 24))
}

/// A value that has the right type but breaks a rule the registry declares for its
/// field (a range, a length); the mutation is refused with `code`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Violation {
    /// `OutOfRange` or `TooLong`.
    pub code: crate::ErrorCode,
    pub field: String,
    pub message: String,
}

/// The reason a value of a unique field is refused (`duplicate`), on both sides.
pub fn duplicate_message(def: &crate::EntityDef, field: &crate::FieldDef, value: &str) -> String {
    format!("Another {} already has {} {value}; choose a different one.", def.noun(), field.label().to_lowercase())
}

fn size(bytes: usize) -> String {
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let kib = format!("{:.1}", bytes as f64 / 1024.0);
    format!("{} KiB", kib.strip_suffix(".0").unwrap_or(&kib))
}

/// Checks a write of wire `fields` (new values, texts to add, counter deltas) to a
/// record holding `current` against the registry's rules for the values that result:
/// ranges of numbers and counter totals (with checked arithmetic), text lengths, and
/// the size of one addition to an append-only field. Client and server both run it,
/// the client before queueing an edit and the server before storing it.
pub fn check_write(
    def: &EntityDef,
    current: &Map<String, Value>,
    fields: &Map<String, Value>,
) -> Result<(), Violation> {
    for (name, incoming) in fields {
        let Some(field) = def.field(name) else { continue };
        if incoming.is_null() {
            continue;
        }
        let violation = |code, message: String| Violation { code, field: name.clone(), message };
        let current = current.get(name).unwrap_or(&Value::Null);
        let label = field.label().to_lowercase();
        let result = match field.strategy {
            FieldStrategy::Append => {
                let added = incoming.as_str().map_or(0, str::len);
                if added > MAX_APPEND_BYTES as usize {
                    return Err(violation(
                        crate::ErrorCode::TooLong,
                        format!(
                            "One addition to the {label} may be at most {}; this one is {}. Split it up.",
                            size(MAX_APPEND_BYTES as usize),
                            size(added)
                        ),
                    ));
                }
                combine(field.strategy, current, incoming)
            }
            FieldStrategy::Counter => {
                let total = current.as_i64().unwrap_or(0).checked_add(incoming.as_i64().unwrap_or(0));
                match total {
                    Some(total) => Value::from(total),
                    None => {
                        return Err(violation(
                            crate::ErrorCode::OutOfRange,
                            format!("The {label} would go beyond the largest number that can be stored."),
                        ))
                    }
                }
            }
            FieldStrategy::Lww | FieldStrategy::ServerOnly => incoming.clone(),
        };
        if let (Some(limit), Some(text)) = (field.text_limit(), result.as_str()) {
            if text.len() > limit {
                let message = if field.strategy == FieldStrategy::Append {
                    format!("The {label} are full: they may hold at most {}.", size(limit))
                } else {
                    format!("The {label} may be at most {} long; this is {}.", size(limit), size(text.len()))
                };
                return Err(violation(crate::ErrorCode::TooLong, message));
            }
        }
        if let Some(n) = result.as_f64() {
            let shown = || result.to_string();
            if let Some(min) = field.min.filter(|&min| n < min as f64) {
                return Err(violation(
                    crate::ErrorCode::OutOfRange,
                    format!("The {label} must be at least {min}, not {}.", shown()),
                ));
            }
            if let Some(max) = field.max.filter(|&max| n > max as f64) {
                return Err(violation(
                    crate::ErrorCode::OutOfRange,
                    format!("The {label} must be at most {max}, not {}.", shown()),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{DEFAULT_MAX_APPENDED_BYTES, DEFAULT_MAX_TEXT_BYTES};

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

    #[test]
    fn timestamps_are_strict_rfc_3339() {
        for ok in ["2026-11-25T10:00:00Z", "2026-11-25T23:59:59.123456789-05:30", "2026-11-25T10:00:00.5+00:00"] {
            assert!(is_timestamp(ok), "{ok}");
        }
        for bad in [
            "2026-11-25T10:00:00+zz:zz",
            "2026-11-25T10:00:60Z",
            "2026-11-25T10:00:00.<script>Z",
            "2026-11-25T10:00:00.Z",
            "2026-11-25T10:00:00.1234567890Z",
            "2026-11-25t10:00:00z",
            "2026-11-25T24:00:00Z",
            "2026-11-25T10:00:00+24:00",
            "2026-11-25T10:00Z",
            "2026-11-25T10:00:00",
            "2026-11-25T1:00:00Z",
        ] {
            assert!(!is_timestamp(bad), "{bad}");
        }
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn writes_are_checked_against_ranges_lengths_and_counter_overflow() {
        let reg = crate::Registry::standard();
        let lines = reg.get("order_lines").unwrap();
        let err = check_write(lines, &Map::new(), &obj(serde_json::json!({"quantity": -1000}))).unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.message.as_str()),
            ("out_of_range", "The quantity must be at least 1, not -1000.")
        );
        assert!(check_write(lines, &Map::new(), &obj(serde_json::json!({"quantity": 3}))).is_ok());

        let customers = reg.get("customers").unwrap();
        let near_max = obj(serde_json::json!({"samples_given": i64::MAX - 1}));
        let err = check_write(customers, &near_max, &obj(serde_json::json!({"samples_given": 5}))).unwrap_err();
        assert_eq!(err.code.as_str(), "out_of_range");
        let long = "x".repeat(DEFAULT_MAX_TEXT_BYTES as usize + 1);
        assert_eq!(
            check_write(customers, &Map::new(), &obj(serde_json::json!({"phone": long}))).unwrap_err().code,
            crate::ErrorCode::TooLong
        );

        let visits = reg.get("visits").unwrap();
        let addition = "n".repeat(MAX_APPEND_BYTES as usize + 1);
        assert_eq!(
            check_write(visits, &Map::new(), &obj(serde_json::json!({"notes": addition}))).unwrap_err().code,
            crate::ErrorCode::TooLong
        );
        let full = obj(serde_json::json!({"notes": "n".repeat(DEFAULT_MAX_APPENDED_BYTES as usize - 10)}));
        let err = check_write(visits, &full, &obj(serde_json::json!({"notes": "twenty more bytes..."}))).unwrap_err();
        assert_eq!((err.code.as_str(), err.field.as_str()), ("too_long", "notes"));
    }
}
