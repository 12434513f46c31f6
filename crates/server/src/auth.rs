//! Passwords (argon2id, salted) and expiring bearer sessions.

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::Argon2;
use fieldsync_protocol::wire::UserInfo;
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
    Ok(AuthUser { id, username, role })
}

fn wrong_credentials() -> AppError {
    AppError::Unauthenticated {
        code: "wrong_credentials",
        message: "The user name or password is wrong; check them and sign in again.".into(),
    }
}

/// The user and stored password hash for a user name (`None`: no such user). One
/// statement, so it may run outside a transaction (`Db::read_single`).
pub fn credentials(tx: &Tx<'_>, username: &str) -> Result<Option<(AuthUser, String)>, AppError> {
    let row = tx.query_opt(
        "SELECT u.id, u.username, u.role, c.password_hash FROM users u \
         JOIN credentials c ON c.user_id = u.id WHERE u.username = ?1",
        args![username],
        |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?, r.get::<String>(2)?, r.get::<String>(3)?)),
    )?;
    row.map(|(id, username, role, hash)| Ok((user_from(id, username, role)?, hash))).transpose()
}

/// Checks a password against a stored hash, with `work` as argon2's memory (grown to the
/// size the hash's parameters need, and kept by the caller for the next check).
/// Deliberately slow; run it off the async threads and outside any database lock.
/// Unknown users are checked against a dummy hash so response times do not reveal which
/// user names exist.
pub fn verify(
    found: Option<(AuthUser, String)>,
    password: &str,
    work: &mut Vec<argon2::Block>,
) -> Result<AuthUser, AppError> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("not a real password").unwrap_or_default());
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, dummy.clone()),
    };
    let ok = check_hash(&hash, password, work).map_err(|e| AppError::Internal(format!("stored hash: {e}")))?;
    match user {
        Some(user) if ok => Ok(user),
        _ => Err(wrong_credentials()),
    }
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
pub fn open_session(tx: &Tx<'_>, user: &AuthUser, now_ms: i64, ttl_ms: i64) -> Result<(String, i64), AppError> {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = hex::encode(raw);
    let expires = now_ms + ttl_ms;
    tx.execute("DELETE FROM sessions WHERE expires_at_ms < ?1", args![now_ms])?;
    tx.execute(
        "INSERT INTO sessions (token_hash, user_id, expires_at_ms) VALUES (?1, ?2, ?3)",
        args![token_hash(&token), user.id.to_string(), expires],
    )?;
    Ok((token, expires))
}

/// Resolves a bearer token to its user, refusing unknown and expired sessions. One
/// statement, so it may run outside a transaction (`Db::read_single`).
pub fn authenticate(tx: &Tx<'_>, token: &str, now_ms: i64) -> Result<AuthUser, AppError> {
    let session = tx.query_opt(
        "SELECT s.expires_at_ms, u.id, u.username, u.role FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = ?1",
        args![token_hash(token)],
        |r| Ok((r.get::<i64>(0)?, r.get::<String>(1)?, r.get::<String>(2)?, r.get::<String>(3)?)),
    )?;
    match session {
        Some((expires, id, username, role)) if expires > now_ms => user_from(id, username, role),
        _ => Err(AppError::Unauthenticated {
            code: "session_expired",
            message: "Your session has expired or is not valid; sign in again.".into(),
        }),
    }
}
