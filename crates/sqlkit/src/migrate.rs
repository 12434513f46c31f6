//! Numbered SQL migrations, each applied once in its own transaction and recorded with a
//! checksum; an already-applied migration whose text changed is refused, because silently
//! diverging schemas are worse than a clear stop.
//!
//! One runner ([`run`]) for every database: a [`MigrationTarget`] supplies the dialect's
//! few bookkeeping statements (SQLite here, PostgreSQL in the server's `db.rs`), and the
//! order, checksums and refusals are decided once, here.

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

impl Migration {
    /// `set/003_name`, as messages name it.
    pub fn label(&self) -> String {
        format!("{}/{:03}_{}", self.set, self.version, self.name)
    }
}

type Source = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("migration {0} was changed after it was applied to this database; restore the original file or start from a fresh database")]
    Changed(String),
    #[error("migration {label} failed: {source}")]
    Failed { label: String, source: Source },
    #[error("cannot read the migration history: {0}")]
    History(Source),
}

/// A database migrations are applied to: the dialect's own bookkeeping statements.
pub trait MigrationTarget {
    type Error: std::error::Error + Send + Sync + 'static;
    /// Creates the `schema_migrations` table if it is missing, and takes whatever keeps two
    /// processes from migrating the same database at once.
    fn begin(&mut self) -> Result<(), Self::Error>;
    /// The checksum recorded for `m`, if it was applied.
    fn recorded(&mut self, m: &Migration) -> Result<Option<String>, Self::Error>;
    /// Runs `m.sql` and records it with `checksum`, in one transaction.
    fn apply(&mut self, m: &Migration, checksum: &str) -> Result<(), Self::Error>;
    /// Releases what [`MigrationTarget::begin`] took (also after a failure).
    fn end(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// The checksum a migration is recorded with.
pub fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

/// Applies every migration of `migrations` not applied yet, in the order given. Returns
/// how many ran.
pub fn run<T: MigrationTarget>(target: &mut T, migrations: &[Migration]) -> Result<usize, MigrationError> {
    target.begin().map_err(|e| MigrationError::History(e.into()))?;
    let result = apply_pending(target, migrations);
    let ended = target.end().map_err(|e| MigrationError::History(e.into()));
    let ran = result?;
    ended?;
    Ok(ran)
}

fn apply_pending<T: MigrationTarget>(target: &mut T, migrations: &[Migration]) -> Result<usize, MigrationError> {
    let mut ran = 0;
    for m in migrations {
        let sum = checksum(m.sql);
        match target.recorded(m).map_err(|e| MigrationError::History(e.into()))? {
            Some(s) if s == sum => continue,
            Some(_) => return Err(MigrationError::Changed(m.label())),
            None => {}
        }
        target.apply(m, &sum).map_err(|e| MigrationError::Failed { label: m.label(), source: e.into() })?;
        ran += 1;
    }
    Ok(ran)
}

/// Applies every SQLite migration not yet applied, in the order given. Returns how many
/// ran.
pub fn migrate(conn: &mut Connection, migrations: &[Migration]) -> Result<usize, MigrationError> {
    run(conn, migrations)
}

impl MigrationTarget for Connection {
    type Error = rusqlite::Error;

    fn begin(&mut self) -> Result<(), rusqlite::Error> {
        self.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                set_name TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,
                checksum TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),
                PRIMARY KEY (set_name, version))",
        )
    }

    fn recorded(&mut self, m: &Migration) -> Result<Option<String>, rusqlite::Error> {
        self.query_row(
            "SELECT checksum FROM schema_migrations WHERE set_name = ?1 AND version = ?2",
            params![m.set, m.version],
            |r| r.get(0),
        )
        .optional()
    }

    fn apply(&mut self, m: &Migration, checksum: &str) -> Result<(), rusqlite::Error> {
        let tx = self.transaction()?;
        tx.execute_batch(m.sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (set_name, version, name, checksum) VALUES (?1, ?2, ?3, ?4)",
            params![m.set, m.version, m.name, checksum],
        )?;
        tx.commit()
    }
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
