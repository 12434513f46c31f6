//! Passwords (argon2id, salted), disabled accounts, and expiring bearer sessions that IT
//! can list and revoke.

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::Argon2;
use fieldsync_protocol::wire::UserInfo;
use fieldsync_protocol::ErrorCode;
use fieldsync_protocol::Role;
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::args;
use crate::error::AppError;
use crate::sql::Tx;

/// The signed-in user a request acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    /// The session the request came with (its id; empty at sign-in).
    pub session: String,
}

/// Shortest password `fieldsync-server user add` and `user password` accept.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// A session's `last_seen` is written at most this often (it costs a write).
pub const LAST_SEEN_EVERY_MS: i64 = 60_000;

/// Refuses a password too short to resist guessing.
pub fn check_new_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters; pass a longer one on standard input"
        ));
    }
    Ok(())
}

/// The device a session was opened from, as its client reported it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Device {
    pub client_id: Option<String>,
    pub host_name: Option<String>,
    pub app_version: Option<String>,
}

impl From<AuthUser> for UserInfo {
    fn from(u: AuthUser) -> Self {
        UserInfo { id: u.id, username: u.username, role: u.role }
    }
}

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash password: {e}"))
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Builds the user from `id, username, role` text columns.
fn user_from(id: String, username: String, role: String) -> Result<AuthUser, AppError> {
    let id = Uuid::parse_str(&id).map_err(|e| AppError::Internal(format!("user id {id}: {e}")))?;
    let role = Role::parse(&role).ok_or_else(|| AppError::Internal(format!("user {username} has role {role}")))?;
    Ok(AuthUser { id, username, role, session: String::new() })
}

fn wrong_credentials() -> AppError {
    AppError::Unauthenticated {
        code: ErrorCode::WrongCredentials,
        message: "The user name or password is wrong; check them and sign in again.".into(),
    }
}

/// What sign-in needs to know of an account.
pub struct Credentials {
    pub user: AuthUser,
    pub password_hash: String,
    pub disabled: bool,
}

/// The account behind a user name (`None`: no such user). One statement, so it may run
/// outside a transaction (`Db::read_single`).
pub fn credentials(tx: &Tx<'_>, username: &str) -> Result<Option<Credentials>, AppError> {
    let row = tx.query_opt(
        "SELECT u.id, u.username, u.role, c.password_hash, c.disabled_at_ms FROM users u \
         JOIN credentials c ON c.user_id = u.id WHERE u.username = ?1",
        args![username],
        |r| {
            Ok((
                r.get::<String>(0)?,
                r.get::<String>(1)?,
                r.get::<String>(2)?,
                r.get::<String>(3)?,
                r.get::<Option<i64>>(4)?,
            ))
        },
    )?;
    row.map(|(id, username, role, password_hash, disabled)| {
        Ok(Credentials { user: user_from(id, username, role)?, password_hash, disabled: disabled.is_some() })
    })
    .transpose()
}

/// Checks a password against a stored hash, with `work` as argon2's memory (grown to the
/// size the hash's parameters need, and kept by the caller for the next check).
/// Deliberately slow; run it off the async threads and outside any database lock.
/// Unknown users are checked against a dummy hash so response times do not reveal which
/// user names exist.
/// A disabled account is refused only after its password checked out, so that guessing
/// reveals nothing about it.
pub fn verify(found: Option<Credentials>, password: &str, work: &mut Vec<argon2::Block>) -> Result<AuthUser, AppError> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("not a real password").unwrap_or_default());
    let (user, hash, disabled) = match found {
        Some(c) => (Some(c.user), c.password_hash, c.disabled),
        None => (None, dummy.clone(), false),
    };
    let ok = check_hash(&hash, password, work).map_err(|e| AppError::Internal(format!("stored hash: {e}")))?;
    match user {
        Some(_) if ok && disabled => Err(AppError::bad(
            ErrorCode::AccountDisabled,
            "This account is disabled; ask your administrator to enable it.",
        )
        .with_status(axum::http::StatusCode::FORBIDDEN)),
        Some(user) if ok => Ok(user),
        _ => Err(wrong_credentials()),
    }
}

/// Whether `password` is the one `hash` was made from (for administrators' tools; sign-in
/// uses [`verify`]).
pub fn password_matches(hash: &str, password: &str) -> bool {
    check_hash(hash, password, &mut Vec::new()).unwrap_or(false)
}

/// Whether `password` hashes to the PHC string `hash`, computed in `work`.
fn check_hash(hash: &str, password: &str, work: &mut Vec<argon2::Block>) -> Result<bool, argon2::password_hash::Error> {
    use argon2::password_hash::Error;
    let parsed = PasswordHash::new(hash)?;
    let params = argon2::Params::try_from(&parsed)?;
    let algorithm = argon2::Algorithm::try_from(parsed.algorithm)?;
    let version = parsed.version.map(argon2::Version::try_from).transpose()?.unwrap_or_default();
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return Err(Error::PhcStringField) };
    let mut salt_buf = [0u8; argon2::password_hash::Salt::MAX_LENGTH];
    let salt = salt.decode_b64(&mut salt_buf)?;
    work.resize(params.block_count(), argon2::Block::default());
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt,
        &mut out,
        &mut work[..],
    )?;
    // Output's equality is constant-time.
    Ok(argon2::password_hash::Output::new(&out)? == expected)
}

/// Opens a session for a verified user. Returns the token and its expiry.
pub fn open_session(
    tx: &Tx<'_>,
    user: &AuthUser,
    device: &Device,
    now_ms: i64,
    ttl_ms: i64,
) -> Result<(String, i64), AppError> {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = hex::encode(raw);
    let expires = now_ms + ttl_ms;
    tx.execute("DELETE FROM sessions WHERE expires_at_ms < ?1", args![now_ms])?;
    tx.execute(
        "INSERT INTO sessions (token_hash, user_id, expires_at_ms, created_at_ms, last_seen_ms, client_id, host_name, app_version) \
         VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7)",
        args![
            token_hash(&token),
            user.id.to_string(),
            expires,
            now_ms,
            device.client_id.clone(),
            device.host_name.clone(),
            device.app_version.clone()
        ],
    )?;
    Ok((token, expires))
}

/// The order-number prefix of a client ([`fieldsync_protocol::FieldDefault::Sequence`]):
/// the one it was given before, else the next free one. Concurrent first sign-ins of one
/// client agree (the insert of the second waits for the first, then does nothing).
pub fn number_prefix(tx: &Tx<'_>, client_id: &str) -> Result<String, AppError> {
    tx.execute(
        "INSERT INTO number_prefixes (client_id) VALUES (?1) ON CONFLICT (client_id) DO NOTHING",
        args![client_id],
    )?;
    let n: i64 = tx.value("SELECT n FROM number_prefixes WHERE client_id = ?1", args![client_id])?;
    Ok(fieldsync_protocol::wire::number_prefix(n as u64))
}

/// The order-number prefix of the client that opened a session; `None` when the session
/// was opened without a client id (a client older than prefixes).
pub fn session_number_prefix(tx: &Tx<'_>, session: &str) -> Result<Option<String>, AppError> {
    let client: Option<Option<String>> =
        tx.query_opt("SELECT client_id FROM sessions WHERE token_hash = ?1", args![session], |r| r.get(0))?;
    client.flatten().map(|c| number_prefix(tx, &c)).transpose()
}

/// Why a session was revoked: the sentence its client shows.
fn revoked_message(reason: &str) -> &'static str {
    match reason {
        "disabled" => "Your account was disabled by your administrator. Changes not yet synced stay on this computer.",
        _ => "You were signed out by your administrator; sign in again. Changes not yet synced stay on this computer.",
    }
}

/// A session found by [`authenticate`], and whether its `last_seen` is due a write.
pub struct Session {
    pub user: AuthUser,
    pub stale: bool,
}

/// Resolves a bearer token to its user, refusing unknown, expired and revoked sessions.
/// One statement, so it may run outside a transaction (`Db::read_single`).
pub fn authenticate(tx: &Tx<'_>, token: &str, now_ms: i64) -> Result<Session, AppError> {
    let hash = token_hash(token);
    let session = tx.query_opt(
        "SELECT s.expires_at_ms, s.revoked_reason, s.last_seen_ms, u.id, u.username, u.role \
         FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?1",
        args![&hash],
        |r| {
            Ok((
                r.get::<i64>(0)?,
                r.get::<Option<String>>(1)?,
                r.get::<i64>(2)?,
                r.get::<String>(3)?,
                r.get::<String>(4)?,
                r.get::<String>(5)?,
            ))
        },
    )?;
    match session {
        Some((_, Some(reason), ..)) => {
            Err(AppError::Unauthenticated { code: ErrorCode::SessionRevoked, message: revoked_message(&reason).into() })
        }
        Some((expires, None, last_seen, id, username, role)) if expires > now_ms => {
            let mut user = user_from(id, username, role)?;
            user.session = hash;
            Ok(Session { user, stale: now_ms - last_seen >= LAST_SEEN_EVERY_MS })
        }
        _ => Err(AppError::Unauthenticated {
            code: ErrorCode::SessionExpired,
            message: "Your session has expired or is not valid; sign in again.".into(),
        }),
    }
}

/// Sessions in use now: neither expired nor revoked (`/metrics`). One statement.
pub fn active_sessions(tx: &Tx<'_>, now_ms: i64) -> Result<i64, AppError> {
    Ok(tx.value("SELECT count(*) FROM sessions WHERE revoked_reason IS NULL AND expires_at_ms > ?1", args![now_ms])?)
}

/// Records that a session was used now.
pub fn touch_session(tx: &Tx<'_>, session: &str, now_ms: i64) -> Result<(), AppError> {
    tx.execute("UPDATE sessions SET last_seen_ms = ?1 WHERE token_hash = ?2", args![now_ms, session])?;
    Ok(())
}

/// Ends a session at its user's request (sign-out): it is forgotten.
pub fn close_session(tx: &Tx<'_>, session: &str) -> Result<(), AppError> {
    tx.execute("DELETE FROM sessions WHERE token_hash = ?1", args![session])?;
    Ok(())
}

/// A session as IT sees it. `id` is the first 16 hex digits of the token's hash: enough
/// to name it, useless to sign in with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SessionInfo {
    pub id: String,
    pub user: String,
    pub client_id: Option<String>,
    pub device: Option<String>,
    pub app_version: Option<String>,
    pub created_at: String,
    pub last_seen_at: String,
    pub expires_at: String,
}

/// Length of the session ids IT sees.
pub const SESSION_ID_CHARS: usize = 16;

/// The sessions still in use (not revoked, not expired), newest first, of one user or all.
pub fn list_sessions(tx: &Tx<'_>, username: Option<&str>, now_ms: i64) -> Result<Vec<SessionInfo>, AppError> {
    let rows = tx.query(
        "SELECT s.token_hash, u.username, s.client_id, s.host_name, s.app_version, s.created_at_ms, \
         s.last_seen_ms, s.expires_at_ms FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.revoked_at_ms IS NULL AND s.expires_at_ms > ?1 AND (CAST(?2 AS TEXT) IS NULL OR u.username = ?2) \
         ORDER BY s.created_at_ms DESC",
        args![now_ms, username],
        |r| {
            Ok(SessionInfo {
                id: r.get::<String>(0)?.chars().take(SESSION_ID_CHARS).collect(),
                user: r.get(1)?,
                client_id: r.get(2)?,
                device: r.get(3)?,
                app_version: r.get(4)?,
                created_at: fieldsync_protocol::time::rfc3339_ms(r.get(5)?),
                last_seen_at: fieldsync_protocol::time::rfc3339_ms(r.get(6)?),
                expires_at: fieldsync_protocol::time::rfc3339_ms(r.get(7)?),
            })
        },
    )?;
    Ok(rows)
}

/// The sessions in use of a manager and the users they manage, most recently seen first.
pub fn team_devices(
    tx: &Tx<'_>,
    manager: &Uuid,
    now_ms: i64,
) -> Result<Vec<fieldsync_protocol::wire::TeamDevice>, AppError> {
    let rows = tx.query(
        "SELECT u.username, s.host_name, s.app_version, s.created_at_ms, s.last_seen_ms, \
         (SELECT count(*) FROM applied_mutations a WHERE a.user_id = u.id AND a.at_ms > ?3 \
          AND a.result LIKE '%\"status\":\"rejected\"%') \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.revoked_at_ms IS NULL AND s.expires_at_ms > ?1 AND (u.id = ?2 OR u.manager_id = ?2) \
         ORDER BY s.last_seen_ms DESC",
        args![now_ms, manager.to_string(), now_ms - fieldsync_protocol::wire::TEAM_FAILURE_DAYS * 86_400_000],
        |r| {
            Ok(fieldsync_protocol::wire::TeamDevice {
                user: r.get(0)?,
                device: r.get(1)?,
                app_version: r.get(2)?,
                signed_in_at: fieldsync_protocol::time::rfc3339_ms(r.get(3)?),
                last_seen_at: fieldsync_protocol::time::rfc3339_ms(r.get(4)?),
                rejected_recently: r.get(5)?,
            })
        },
    )?;
    Ok(rows)
}

/// Which sessions to revoke.
pub enum Sessions<'a> {
    /// One session, by the id `list_sessions` shows.
    Id(&'a str),
    /// Every session of a user.
    User(&'a str),
}

/// Revokes sessions; their clients are told `reason` ("revoked", "password" or
/// "disabled") on their next request. Returns how many were revoked.
pub fn revoke_sessions(tx: &Tx<'_>, which: Sessions<'_>, reason: &str, now_ms: i64) -> Result<usize, AppError> {
    let n = match which {
        Sessions::Id(id) => {
            if id.len() != SESSION_ID_CHARS || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(AppError::bad(
                    ErrorCode::InvalidRequest,
                    format!("A session id is {SESSION_ID_CHARS} hex digits, as `session list` shows it."),
                ));
            }
            tx.execute(
                "UPDATE sessions SET revoked_at_ms = ?1, revoked_reason = ?2 \
                 WHERE revoked_at_ms IS NULL AND substr(token_hash, 1, 16) = ?3",
                args![now_ms, reason, id.to_lowercase()],
            )?
        }
        Sessions::User(name) => tx.execute(
            "UPDATE sessions SET revoked_at_ms = ?1, revoked_reason = ?2 WHERE revoked_at_ms IS NULL \
             AND user_id = (SELECT id FROM users WHERE username = ?3)",
            args![now_ms, reason, name],
        )?,
    };
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// The id of the user called `username`, or a clear error.
fn user_id(tx: &Tx<'_>, username: &str) -> Result<String, AppError> {
    tx.query_opt("SELECT id FROM users WHERE username = ?1", args![username], |r| r.get::<String>(0))?
        .ok_or_else(|| AppError::bad(ErrorCode::UnknownUser, format!("There is no user '{username}'.")))
}

/// Sets a user's password and revokes every session they have.
pub fn set_password(tx: &Tx<'_>, username: &str, password: &str, now_ms: i64) -> Result<usize, AppError> {
    let id = user_id(tx, username)?;
    let hash = hash_password(password).map_err(|e| AppError::Internal(e.to_string()))?;
    tx.execute(
        "INSERT INTO credentials (user_id, password_hash) VALUES (?1, ?2) \
         ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash",
        args![&id, hash],
    )?;
    revoke_sessions(tx, Sessions::User(username), "password", now_ms)
}

/// Disables (revoking every session) or enables a user's sign-in.
pub fn set_disabled(tx: &Tx<'_>, username: &str, disabled: bool, now_ms: i64) -> Result<usize, AppError> {
    let id = user_id(tx, username)?;
    let at = disabled.then_some(now_ms);
    let n = tx.execute("UPDATE credentials SET disabled_at_ms = ?1 WHERE user_id = ?2", args![at, &id])?;
    if n == 0 {
        return Err(AppError::bad(
            ErrorCode::UnknownUser,
            format!("The user '{username}' has no password to sign in with."),
        ));
    }
    if disabled {
        return revoke_sessions(tx, Sessions::User(username), "disabled", now_ms);
    }
    Ok(0)
}
