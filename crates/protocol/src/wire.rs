//! Wire types of the HTTP API (`/v1/...`). `docs/sync-protocol.md` is the contract; these
//! types are its single implementation on both sides.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::registry::Role;

/// Largest request body the server accepts, in bytes (after decompression).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// The latest time a client may state (ms since 1970: the end of year 9999); times run
/// from 0 to this.
pub const MAX_TIME_MS: i64 = 253_402_300_799_999;
/// Most mutations one push may carry.
pub const MAX_PUSH_MUTATIONS: usize = 1000;
/// Most changes one pull page scans.
pub const MAX_PULL_LIMIT: u32 = 20000;
pub const DEFAULT_PULL_LIMIT: u32 = 10_000;
/// Days a client keeps the mutations the server acknowledged, to send them again to a
/// server restored from a backup (`history_changed`); the client configuration's
/// `resend_days` overrides it.
pub const DEFAULT_RESEND_DAYS: u32 = 14;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// The signing-in client, shown to IT in `fieldsync-server session list` (optional, so
    /// that older clients can still sign in).
    #[serde(default)]
    pub client_id: Option<Uuid>,
    /// The computer's host name.
    #[serde(default)]
    pub device: Option<String>,
    /// The client's version.
    #[serde(default)]
    pub app_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserInfo {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    pub token: String,
    /// Milliseconds since the Unix epoch, server clock.
    pub expires_at_ms: i64,
    pub user: UserInfo,
    pub server_time_ms: i64,
    /// This client's order-number prefix ([`crate::FieldDefault::Sequence`]), kept across
    /// sign-ins; absent when the request named no `client_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_prefix: Option<String>,
}

/// `POST /v1/device-report`: how this client's syncs went since its last report, sent
/// before the next sync. The server keeps it per device for IT (`fieldsync-server devices`,
/// `/metrics`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceReport {
    pub client_id: Uuid,
    /// The client's version (at most [`MAX_REPORT_TEXT`] characters).
    pub app_version: String,
    /// Syncs that completed.
    pub ok: u32,
    /// Syncs that could not reach the server: the laptop was offline, not a failure of the
    /// service.
    pub offline: u32,
    /// Syncs that failed, by error code (at most [`MAX_REPORT_KINDS`] codes).
    #[serde(default)]
    pub failed: std::collections::BTreeMap<String, u32>,
    /// Changes waiting to be sent, now.
    pub pending: u32,
    /// The last failure, in the client's words (at most [`MAX_REPORT_TEXT`] characters).
    #[serde(default)]
    pub last_error: Option<String>,
}

/// Most error codes one device report may carry.
pub const MAX_REPORT_KINDS: usize = 16;
/// Longest text (version, error, code) in a device report, in characters.
pub const MAX_REPORT_TEXT: usize = 500;

/// `POST /v1/number-prefix`'s answer: the order-number prefix of the session's client, for
/// a client that signed in before the server handed prefixes out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NumberPrefix {
    pub number_prefix: String,
}

/// The prefix for the `n`th client, in letters: 1 = A, 26 = Z, 27 = AA (bijective base 26),
/// so a number reads `B-0042`, not `2-0042`.
pub fn number_prefix(n: u64) -> String {
    let mut n = n.max(1);
    let mut letters = Vec::new();
    while n > 0 {
        n -= 1;
        letters.push(b'A' + (n % 26) as u8);
        n /= 26;
    }
    letters.reverse();
    String::from_utf8(letters).expect("ASCII letters")
}

/// A sequence value's text: the prefix, a dash, and the counter with at least four digits.
pub fn sequence_number(prefix: &str, counter: u64) -> String {
    format!("{prefix}-{counter:04}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// Create the record, or change the listed fields of an existing one.
    Put,
    /// Delete the record (a tombstone for everyone who can see it).
    Delete,
}

/// One offline change, as queued in the client's outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Mutation {
    /// Unique id (UUIDv7) that makes the mutation idempotent.
    pub mutation_id: Uuid,
    pub entity: String,
    pub id: Uuid,
    pub op: Op,
    /// For `put`: only the fields this edit changed.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub fields: Map<String, Value>,
    /// The client's pull cursor (the opaque token of its last applied page, "" before the
    /// first) when the edit was made: changes after it were unseen, so a field changed
    /// after it by another client is a concurrent edit (a conflict).
    #[serde(default, deserialize_with = "cursor_text")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub base_cursor: String,
    /// When the user made the edit, by the client's clock (ms since epoch).
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 253402300799999i64))]
    pub edited_at_ms: i64,
    /// The client's own count of the mutations it made, which must grow with each one:
    /// the server refuses a number it has already seen from this `client_id` for another
    /// mutation (`profile_copied`), so a copied profile cannot pass off its older edits
    /// as the original's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub client_seq: Option<i64>,
}

/// A cursor as text. Clients from before cursor tokens sent numbers; `0` (saw nothing)
/// is what such scripts send, and it stays accepted.
fn cursor_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Cursor {
        Text(String),
        Number(u64),
    }
    Ok(match Cursor::deserialize(d)? {
        Cursor::Text(t) => t,
        Cursor::Number(n) => n.to_string(),
    })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    /// Identifies the client installation (one per profile).
    pub client_id: Uuid,
    /// The client's clock when it sent the request; the server derives the clock offset
    /// from it and translates `edited_at_ms` into server time.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 253402300799999i64))]
    pub client_time_ms: i64,
    /// The client's pull cursor (absent before its first download). The server refuses a
    /// push from another history of its data (`history_changed`, `unknown_cursor`), so
    /// the client catches up with a restored or replaced server before it writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    pub mutations: Vec<Mutation>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum MutationStatus {
    /// Every field was written.
    Applied,
    /// Written, but some fields lost to a later concurrent edit (see `lost_fields`).
    Merged,
    /// Not written; `code` and `reason` say why. The client keeps it in "needs attention".
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MutationResult {
    pub mutation_id: Uuid,
    pub status: MutationStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lost_fields: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushResponse {
    pub server_time_ms: i64,
    pub results: Vec<MutationResult>,
}

/// Changed records of one entity type, column-oriented: `fields` names the columns once,
/// each row is `[id, value, value, ...]` in that order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntityChanges {
    pub entity: String,
    pub fields: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<serde_json::Value>>))]
    pub rows: Vec<Vec<Value>>,
    /// Ids of deleted records (tombstones).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PullResponse {
    pub server_time_ms: i64,
    /// Pass this back as `cursor` to continue after this page. An opaque token: it names
    /// the server's database and history epoch besides the position, and clients store it
    /// without parsing it.
    pub cursor: String,
    /// How far this page reached in the change log, and the newest change there is: for
    /// progress displays only (`position == head` means caught up).
    pub position: i64,
    pub head: i64,
    pub has_more: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<EntityChanges>,
    /// Messages for this user about what changed for them, e.g. after a territory change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<String>,
}

/// The `field` of a `sync_conflicts` entry about a whole record: a delete discarded an
/// edit its author had not seen, and `overwritten` holds the record's fields as they were.
pub const DELETED_RECORD: &str = "*";

/// Every error response: `{"error": {"code": ..., "message": ...}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ApiError,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiError {
    /// Stable machine-readable code, e.g. `unknown_field`.
    pub code: String,
    /// One sentence for people: what was wrong and what to do.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The mutation of a push batch that made the whole batch fail, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutation_id: Option<Uuid>,
    /// With `history_changed` and `unknown_cursor`: the cursor to start over from (the
    /// beginning of the server's current history). A client that holds it instead of no
    /// cursor is told again if the server's history changes before its download is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_prefixes_are_letters_and_never_repeat() {
        let firsts: Vec<String> = [1, 2, 26, 27, 28, 52, 53, 702, 703].into_iter().map(number_prefix).collect();
        assert_eq!(firsts, ["A", "B", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"]);
        let all: std::collections::HashSet<String> = (1..=20_000).map(number_prefix).collect();
        assert_eq!(all.len(), 20_000);
        assert_eq!(sequence_number("B", 42), "B-0042");
        assert_eq!(sequence_number("AB", 12_345), "AB-12345");
    }

    #[test]
    fn mutation_wire_shape_is_stable() {
        let m = Mutation {
            mutation_id: Uuid::nil(),
            entity: "customers".into(),
            id: Uuid::nil(),
            op: Op::Put,
            fields: [("phone".to_string(), Value::from("+1 555"))].into_iter().collect(),
            base_cursor: "0a1b.2c3d.41".into(),
            edited_at_ms: 1_764_000_000_000,
            client_seq: Some(7),
        };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"mutation_id":"00000000-0000-0000-0000-000000000000","entity":"customers","id":"00000000-0000-0000-0000-000000000000","op":"put","fields":{"phone":"+1 555"},"base_cursor":"0a1b.2c3d.41","edited_at_ms":1764000000000,"client_seq":7}"#
        );
    }
}

/// One signed-in laptop of a manager's team, as `GET /v1/team/devices` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamDevice {
    pub user: String,
    /// The laptop's host name, as the app reported it at sign-in.
    pub device: Option<String>,
    pub app_version: Option<String>,
    /// When it signed in, and when it last reached the server (RFC 3339).
    pub signed_in_at: String,
    pub last_seen_at: String,
    /// Changes of this user the server refused in the last [`TEAM_FAILURE_DAYS`] days
    /// (they wait in the user's attention list).
    pub rejected_recently: i64,
}

/// The window of [`TeamDevice::rejected_recently`], in days.
pub const TEAM_FAILURE_DAYS: i64 = 7;

/// The answer of `GET /v1/team/devices`: every session in use of the manager and the
/// people they manage, most recently seen first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamDevices {
    pub devices: Vec<TeamDevice>,
    pub server_time_ms: i64,
}
