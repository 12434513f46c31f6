//! Numbered SQL migrations, each applied once in its own transaction and recorded with a
//! checksum; an already-applied migration whose text changed is refused, because silently
//! diverging schemas are worse than a clear stop.

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

/// One migration file. `set` groups files that are numbered together (e.g. `entities`,
/// `server`, `client`); versions must increase within a set.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub set: &'static str,
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("migration {set}/{version:03}_{name} was changed after it was applied to this database; restore the original file or start from a fresh database")]
    Changed { set: String, version: u32, name: String },
    #[error("migration {set}/{version:03}_{name} failed: {source}")]
    Failed { set: String, version: u32, name: String, source: rusqlite::Error },
    #[error("cannot read the migration history: {0}")]
    History(#[from] rusqlite::Error),
}

fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

/// Applies every migration not yet applied, in the order given. Returns how many ran.
pub fn migrate(conn: &mut Connection, migrations: &[Migration]) -> Result<usize, MigrationError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            set_name TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,
            checksum TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),
            PRIMARY KEY (set_name, version))",
    )?;
    let mut ran = 0;
    for m in migrations {
        let stored: Option<String> = conn
            .query_row(
                "SELECT checksum FROM schema_migrations WHERE set_name = ?1 AND version = ?2",
                params![m.set, m.version],
                |r| r.get(0),
            )
            .optional()?;
        let sum = checksum(m.sql);
        match stored {
            Some(s) if s == sum => continue,
            Some(_) => {
                return Err(MigrationError::Changed { set: m.set.into(), version: m.version, name: m.name.into() })
            }
            None => {}
        }
        let failed =
            |source| MigrationError::Failed { set: m.set.into(), version: m.version, name: m.name.into(), source };
        let tx = conn.transaction().map_err(failed)?;
        tx.execute_batch(m.sql).map_err(failed)?;
        tx.execute(
            "INSERT INTO schema_migrations (set_name, version, name, checksum) VALUES (?1, ?2, ?3, ?4)",
            params![m.set, m.version, m.name, sum],
        )
        .map_err(failed)?;
        tx.commit().map_err(failed)?;
        ran += 1;
    }
    Ok(ran)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: Migration = Migration { set: "t", version: 1, name: "init", sql: "CREATE TABLE a (x INTEGER);" };

    #[test]
    fn applies_once_and_refuses_changed_history() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn, &[V1]).unwrap(), 1);
        assert_eq!(migrate(&mut conn, &[V1]).unwrap(), 0);
        let changed = Migration { sql: "CREATE TABLE a (x TEXT);", ..V1 };
        let err = migrate(&mut conn, &[changed]).unwrap_err();
        assert!(err.to_string().contains("t/001_init was changed after it was applied"), "{err}");
    }

    #[test]
    fn a_failing_migration_leaves_nothing_behind() {
        let mut conn = Connection::open_in_memory().unwrap();
        let bad = Migration { set: "t", version: 1, name: "bad", sql: "CREATE TABLE b (x); CREATE TABLE b (y);" };
        assert!(migrate(&mut conn, &[bad]).is_err());
        let tables: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'b'", [], |r| r.get(0)).unwrap();
        assert_eq!(tables, 0);
    }
}
