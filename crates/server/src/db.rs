//! The embedded SQLite store: one writer connection (SQLite allows one writer at a time,
//! so serialising here avoids busy retries) and a small pool of reader connections that
//! see consistent WAL snapshots while writes go on.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use fieldsync_sqlkit::{migrate, Migration, ENTITY_MIGRATIONS};
use rusqlite::Connection;

use crate::error::AppError;

pub const SERVER_MIGRATIONS: &[Migration] = &[Migration {
    set: "server",
    version: 1,
    name: "sync_state",
    sql: include_str!("../../../migrations/server/001_sync_state.sql"),
}];

/// Every migration the server applies, in order: entity tables, server state, then extras
/// (entity types added by an extension).
pub fn all_migrations(extra: &[Migration]) -> Vec<Migration> {
    ENTITY_MIGRATIONS.iter().chain(SERVER_MIGRATIONS).chain(extra).copied().collect()
}

pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("fieldsync.db")
}

/// Opens the database in `data_dir` and applies pending migrations.
pub fn open_migrated(data_dir: &Path, extra: &[Migration]) -> anyhow::Result<Connection> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| anyhow::anyhow!("cannot create data directory {}: {e}", data_dir.display()))?;
    let mut conn = fieldsync_sqlkit::open(&db_path(data_dir))?;
    migrate(&mut conn, &all_migrations(extra))?;
    Ok(conn)
}

#[derive(Clone)]
pub struct Db {
    inner: Arc<DbInner>,
}

struct DbInner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl Db {
    pub fn open(data_dir: &Path, extra: &[Migration]) -> anyhow::Result<Db> {
        let writer = open_migrated(data_dir, extra)?;
        Ok(Db {
            inner: Arc::new(DbInner {
                path: db_path(data_dir),
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Runs `f` with the writer connection on a blocking thread.
    pub async fn write<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, AppError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.writer.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn)
        })
        .await?
    }

    /// Runs `f` with a reader connection on a blocking thread.
    pub async fn read<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, AppError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let mut conn = match pooled {
                Some(c) => c,
                None => fieldsync_sqlkit::open(&inner.path)?,
            };
            let out = f(&mut conn);
            let mut pool = inner.readers.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < 8 {
                pool.push(conn);
            }
            out
        })
        .await?
    }
}

/// The current time in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
