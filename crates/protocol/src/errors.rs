//! Every code the server answers with, as one enum. The server builds its errors from it;
//! the client engine, the CLI and the desktop app choose what to say and do by it, never
//! by a message's wording. The list is the error tables of docs/sync-protocol.md §10 (a
//! test keeps the two equal).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! codes {
    ($($variant:ident = $text:literal,)*) => {
        /// A stable, machine-readable error code (`ApiError::code`, `MutationResult::code`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order of the tables.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as it travels: `wrong_credentials`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                }
            }

            /// The code of `text`, when it is one of ours.
            pub fn parse(text: &str) -> Option<ErrorCode> {
                match text {
                    $($text => Some(ErrorCode::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    // Request-level (§10.2).
    MalformedJson = "malformed_json",
    InvalidRequest = "invalid_request",
    UnsupportedMediaType = "unsupported_media_type",
    BodyTooLarge = "body_too_large",
    BadRequest = "bad_request",
    NotFound = "not_found",
    MethodNotAllowed = "method_not_allowed",
    Unauthenticated = "unauthenticated",
    SessionExpired = "session_expired",
    SessionRevoked = "session_revoked",
    AccountDisabled = "account_disabled",
    WrongCredentials = "wrong_credentials",
    TooManyAttempts = "too_many_attempts",
    Busy = "busy",
    TooManyWaits = "too_many_waits",
    RequestTimeout = "request_timeout",
    BatchTooLarge = "batch_too_large",
    UnknownEntity = "unknown_entity",
    InvalidMutation = "invalid_mutation",
    UnknownField = "unknown_field",
    InvalidValue = "invalid_value",
    DuplicateMutationId = "duplicate_mutation_id",
    ProfileCopied = "profile_copied",
    MissingField = "missing_field",
    MissingReference = "missing_reference",
    InvalidQuery = "invalid_query",
    InvalidCursor = "invalid_cursor",
    HistoryChanged = "history_changed",
    UnknownCursor = "unknown_cursor",
    AdminDisabled = "admin_disabled",
    Internal = "internal",
    // Per-mutation rejections (§10.3).
    Forbidden = "forbidden",
    Deleted = "deleted",
    InUse = "in_use",
    InvalidTransition = "invalid_transition",
    Locked = "locked",
    PriceChanged = "price_changed",
    NoPrice = "no_price",
    OutOfRange = "out_of_range",
    TooLong = "too_long",
    Duplicate = "duplicate",
    Inactive = "inactive",
    // Integration and administration (§10.4).
    TokenRevoked = "token_revoked",
    InvalidImport = "invalid_import",
    UnknownUser = "unknown_user",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ErrorCode::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("unknown error code '{text}'")))
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    /// The codes in the error tables of docs/sync-protocol.md §10.
    fn documented() -> Vec<String> {
        let doc = include_str!("../../../docs/sync-protocol.md");
        let section = &doc[doc.find("## 10. Errors").unwrap()..doc.find("## 11.").unwrap()];
        let mut codes: Vec<String> = section
            .lines()
            .filter(|l| l.starts_with("| "))
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                // `| 422 | `code` | ...` or `| `code` | ...`
                let cell = if cells[1].parse::<u16>().is_ok() { cells[2] } else { cells[1] };
                cell.strip_prefix('`').and_then(|c| c.strip_suffix('`')).map(String::from)
            })
            .collect();
        codes.sort();
        codes.dedup();
        codes
    }

    #[test]
    fn the_codes_are_the_documented_ones() {
        let mut ours: Vec<String> = ErrorCode::ALL.iter().map(|c| c.as_str().to_string()).collect();
        ours.sort();
        assert_eq!(ours, documented());
    }

    #[test]
    fn codes_travel_as_their_text() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{code}\""));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), *code);
        }
        assert!(serde_json::from_str::<ErrorCode>("\"no_such_code\"").is_err());
    }
}
