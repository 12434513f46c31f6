//! Administration done from the `fieldsync-server` command line: users and assignments.

use fieldsync_protocol::{Registry, Role};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::hash_password;
use crate::records;

fn id_of(conn: &Connection, table: &str, column: &str, value: &str) -> anyhow::Result<Option<String>> {
    Ok(conn.query_row(&format!("SELECT id FROM {table} WHERE {column} = ?1"), [value], |r| r.get(0)).optional()?)
}

/// Creates a user (or resets an existing one's password, role, manager and territories).
pub fn add_user(
    conn: &mut Connection,
    reg: &Registry,
    username: &str,
    role: Role,
    territory_codes: &[String],
    manager: Option<&str>,
    password: &str,
) -> anyhow::Result<Uuid> {
    let tx = conn.transaction()?;
    let id = save_user(&tx, reg, username, role, territory_codes, manager, password)?;
    tx.commit()?;
    Ok(id)
}

/// [`add_user`] inside the caller's transaction.
pub fn save_user(
    tx: &Connection,
    reg: &Registry,
    username: &str,
    role: Role,
    territory_codes: &[String],
    manager: Option<&str>,
    password: &str,
) -> anyhow::Result<Uuid> {
    if username.trim().is_empty() {
        anyhow::bail!("the user name must not be empty");
    }
    if password.is_empty() {
        anyhow::bail!("the password must not be empty; pass it on standard input");
    }
    let manager_id = match manager {
        Some(m) => Some(
            id_of(tx, "users", "username", m)?
                .ok_or_else(|| anyhow::anyhow!("there is no user '{m}' to be the manager; add that user first"))?,
        ),
        None => None,
    };
    let mut territories = Vec::new();
    for code in territory_codes {
        territories.push(
            id_of(tx, "territories", "code", code)?.ok_or_else(|| {
                anyhow::anyhow!("there is no territory '{code}'; seed the demo data or create it first")
            })?,
        );
    }
    let id = match id_of(tx, "users", "username", username)? {
        Some(existing) => Uuid::parse_str(&existing)?,
        None => Uuid::now_v7(),
    };
    let users = reg.get("users").ok_or_else(|| anyhow::anyhow!("registry has no users entity"))?;
    let values = vec![
        Value::from(username),
        Value::from(username),
        Value::from(role.as_str()),
        manager_id.map_or(Value::Null, Value::from),
    ];
    records::upsert(tx, users, &id.to_string(), &values)?;
    tx.execute(
        "INSERT OR REPLACE INTO credentials (user_id, password_hash) VALUES (?1, ?2)",
        params![id.to_string(), hash_password(password)?],
    )?;
    tx.execute("DELETE FROM user_territories WHERE user_id = ?1", [id.to_string()])?;
    for t in territories {
        tx.execute("INSERT INTO user_territories (user_id, territory_id) VALUES (?1, ?2)", params![id.to_string(), t])?;
    }
    Ok(id)
}
