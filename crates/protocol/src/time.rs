//! Time on the wire and for pricing, on the `time` crate (the one date library of the Rust
//! side): RFC 3339 timestamps in UTC to the millisecond, calendar dates, and the pricing
//! day.

use ::time::format_description::FormatItem;
use ::time::macros::format_description;
use ::time::{Date, OffsetDateTime};

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

const TIMESTAMP_MS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
const CALENDAR_DATE: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// Formats milliseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339_ms(ms: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .expect("a millisecond timestamp is within the supported years");
    at.format(TIMESTAMP_MS).expect("a UTC timestamp formats")
}

/// Formats days since the Unix epoch as `YYYY-MM-DD`.
pub fn date_from_days(days: i64) -> String {
    let epoch = OffsetDateTime::UNIX_EPOCH.date().to_julian_day();
    let day = i32::try_from(days).ok().and_then(|d| Date::from_julian_day(epoch + d).ok()).expect("a date in range");
    day.format(CALENDAR_DATE).expect("a date formats")
}

/// Whether `text` is a calendar date `YYYY-MM-DD` that exists (2024-02-29, not 2025-02-29).
pub fn is_calendar_date(text: &str) -> bool {
    let shape = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    shape && Date::parse(text, CALENDAR_DATE).is_ok()
}

/// **The pricing day** at `now_ms`: the UTC calendar date. Which promotions run and which
/// price a line must carry are decided by this day, the same on the server (its clock),
/// in the client engine (its clock corrected by the offset to the server's) and in the UI
/// (which asks the engine), whatever the laptop's time zone. docs/sync-protocol.md states
/// it.
pub fn pricing_day(now_ms: i64) -> String {
    date_from_days(now_ms.div_euclid(DAY_MS))
}

/// The time source, injectable so tests can run a client whose clock is wrong, or drive a
/// whole deployment on simulated time.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The machine's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc() {
        assert_eq!(super::rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::rfc3339_ms(1_764_079_200_123), "2025-11-25T14:00:00.123Z");
        assert_eq!(super::date_from_days(20_417), "2025-11-25");
        assert_eq!(super::date_from_days(-1), "1969-12-31");
    }

    #[test]
    fn the_pricing_day_turns_at_midnight_utc() {
        let midnight = 1_764_460_800_000; // 2025-11-30T00:00:00Z
        assert_eq!(super::pricing_day(midnight - 1), "2025-11-29");
        assert_eq!(super::pricing_day(midnight), "2025-11-30");
    }

    #[test]
    fn calendar_dates_must_exist() {
        for ok in ["2024-02-29", "2025-12-31", "0001-01-01"] {
            assert!(super::is_calendar_date(ok), "{ok}");
        }
        for bad in ["2025-02-29", "2025-13-01", "2025-00-10", "2025-1-01", "+2025-01-01", "2025/01/01", "2025-01-01 "] {
            assert!(!super::is_calendar_date(bad), "{bad}");
        }
    }
}
