//! Passwords (argon2id, salted) and expiring bearer sessions.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use fieldsync_protocol::wire::UserInfo;
use fieldsync_protocol::Role;
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::AppError;

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

fn user_by(conn: &Connection, column: &str, value: &str) -> Result<Option<AuthUser>, AppError> {
    let sql = format!("SELECT id, username, role FROM users WHERE {column} = ?1");
    let row = conn
        .query_row(&sql, [value], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
        .optional()?;
    row.map(|(id, username, role)| {
        let id = Uuid::parse_str(&id).map_err(|e| AppError::Internal(format!("user id {id}: {e}")))?;
        let role = Role::parse(&role).ok_or_else(|| AppError::Internal(format!("user {username} has role {role}")))?;
        Ok(AuthUser { id, username, role })
    })
    .transpose()
}

fn wrong_credentials() -> AppError {
    AppError::Unauthenticated {
        code: "wrong_credentials",
        message: "The user name or password is wrong; check them and sign in again.".into(),
    }
}

/// Checks a password and opens a session. Returns the user, the token and its expiry.
pub fn login(
    conn: &Connection,
    username: &str,
    password: &str,
    now_ms: i64,
    ttl_ms: i64,
) -> Result<(AuthUser, String, i64), AppError> {
    let user = user_by(conn, "username", username)?.ok_or_else(wrong_credentials)?;
    let stored: Option<String> = conn
        .query_row("SELECT password_hash FROM credentials WHERE user_id = ?1", [user.id.to_string()], |r| r.get(0))
        .optional()?;
    let stored = stored.ok_or_else(wrong_credentials)?;
    let parsed = PasswordHash::new(&stored).map_err(|e| AppError::Internal(format!("stored hash: {e}")))?;
    Argon2::default().verify_password(password.as_bytes(), &parsed).map_err(|_| wrong_credentials())?;
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = hex::encode(raw);
    let expires = now_ms + ttl_ms;
    conn.execute("DELETE FROM sessions WHERE expires_at_ms < ?1", [now_ms])?;
    conn.execute(
        "INSERT INTO sessions (token_hash, user_id, expires_at_ms) VALUES (?1, ?2, ?3)",
        params![token_hash(&token), user.id.to_string(), expires],
    )?;
    Ok((user, token, expires))
}

/// Resolves a bearer token to its user, refusing unknown and expired sessions.
pub fn authenticate(conn: &Connection, token: &str, now_ms: i64) -> Result<AuthUser, AppError> {
    let session: Option<(String, i64)> = conn
        .query_row("SELECT user_id, expires_at_ms FROM sessions WHERE token_hash = ?1", [token_hash(token)], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let expired = || AppError::Unauthenticated {
        code: "session_expired",
        message: "Your session has expired or is not valid; sign in again.".into(),
    };
    let (user_id, expires) = session.ok_or_else(expired)?;
    if expires <= now_ms {
        return Err(expired());
    }
    user_by(conn, "id", &user_id)?.ok_or_else(expired)
}
