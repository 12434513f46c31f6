//! The server's store: embedded SQLite (the default) or PostgreSQL (production, several
//! server instances on one database). Callers see one shape, [`Db::write`] and
//! [`Db::read`], which run a closure on a [`Tx`] inside a transaction on a blocking thread.
//!
//! **Invariant (commit order = seq order):** from a transaction's first change seq until it
//! commits, no other transaction allocates one, so a reader that has seen seq N has seen
//! everything below it. SQLite has one writer connection (and `BEGIN IMMEDIATE` against
//! writers in other processes). On PostgreSQL, advisory locks order the writers of every
//! instance: an ordered write ([`Db::write`]) holds `WRITE_LOCK` exclusively for its whole
//! length; a concurrent write ([`Db::write_concurrent`], pushes) holds it shared, runs
//! beside other concurrent writes, and takes `LOG_LOCK` at its first change-log write
//! (`Tx::before_change_log`) until it commits. Every instance learns of a committed
//! PostgreSQL write by a `NOTIFY` and wakes its long polls: an ordered write sends it in
//! its transaction, a concurrent write hands its seq to `listen::Notifier` once committed.
//! Writes that never log a change (sessions) skip the ordering (`Db::write_unordered`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use fieldsync_protocol::Registry;
use fieldsync_sqlkit::{migrate, Migration, ENTITY_MIGRATIONS};
use rusqlite::Connection;

use crate::error::AppError;
use crate::history::{History, Mark};
use crate::sql::{Backend, DbError, PgConn, Retry, Tx};

pub const SERVER_MIGRATIONS: &[Migration] = &[
    Migration {
        set: "server",
        version: 1,
        name: "sync_state",
        sql: include_str!("../../../migrations/server/001_sync_state.sql"),
    },
    Migration {
        set: "server",
        version: 2,
        name: "sessions",
        sql: include_str!("../../../migrations/server/002_sessions.sql"),
    },
    Migration {
        set: "server",
        version: 3,
        name: "business_keys",
        sql: include_str!("../../../migrations/server/003_business_keys.sql"),
    },
    Migration {
        set: "server",
        version: 4,
        name: "integrations",
        sql: include_str!("../../../migrations/server/004_integrations.sql"),
    },
    Migration {
        set: "server",
        version: 5,
        name: "history",
        sql: include_str!("../../../migrations/server/005_history.sql"),
    },
    Migration {
        set: "server",
        version: 6,
        name: "number_prefixes",
        sql: include_str!("../../../migrations/server/006_number_prefixes.sql"),
    },
    Migration {
        set: "server",
        version: 7,
        name: "devices",
        sql: include_str!("../../../migrations/server/007_devices.sql"),
    },
    Migration {
        set: "server",
        version: 8,
        name: "reference_indexes",
        sql: include_str!("../../../migrations/server/008_reference_indexes.sql"),
    },
    Migration {
        set: "server",
        version: 9,
        name: "change_keys",
        sql: include_str!("../../../migrations/server/009_change_keys.sql"),
    },
];

/// The same schema in PostgreSQL's dialect (64-bit integers, a sequence for seqs).
pub const POSTGRES_MIGRATIONS: &[Migration] = &[
    Migration {
        set: "entities",
        version: 1,
        name: "standard_entities",
        sql: include_str!("../../../migrations/postgres/001_standard_entities.sql"),
    },
    Migration {
        set: "server",
        version: 1,
        name: "sync_state",
        sql: include_str!("../../../migrations/postgres/002_sync_state.sql"),
    },
    Migration {
        set: "server",
        version: 2,
        name: "sessions",
        sql: include_str!("../../../migrations/postgres/003_sessions.sql"),
    },
    Migration {
        set: "server",
        version: 3,
        name: "business_keys",
        sql: include_str!("../../../migrations/postgres/004_business_keys.sql"),
    },
    Migration {
        set: "server",
        version: 4,
        name: "integrations",
        sql: include_str!("../../../migrations/postgres/005_integrations.sql"),
    },
    Migration {
        set: "server",
        version: 5,
        name: "history",
        sql: include_str!("../../../migrations/postgres/006_history.sql"),
    },
    Migration {
        set: "server",
        version: 6,
        name: "order_numbers",
        sql: include_str!("../../../migrations/postgres/007_order_numbers.sql"),
    },
    Migration {
        set: "server",
        version: 7,
        name: "devices",
        sql: include_str!("../../../migrations/postgres/008_devices.sql"),
    },
    Migration {
        set: "server",
        version: 8,
        name: "reference_indexes",
        sql: include_str!("../../../migrations/postgres/009_reference_indexes.sql"),
    },
    Migration {
        set: "server",
        version: 9,
        name: "change_keys",
        sql: include_str!("../../../migrations/postgres/010_change_keys.sql"),
    },
];

/// The channel every PostgreSQL write notifies on commit.
pub const CHANGES_CHANNEL: &str = "fieldsync_changes";

/// Key of the advisory lock that orders PostgreSQL writers (any constant will do; this
/// one spells "FSYN"): ordered writes hold it exclusively for their whole length,
/// concurrent writes (pushes) share it, so an ordered write runs alone.
const WRITE_LOCK: i64 = 0x4653_594E;
const MIGRATE_LOCK: i64 = WRITE_LOCK + 1;
/// Key of the change log's turn: a concurrent write takes it exclusively before its first
/// change-log write and keeps it until it commits.
pub const LOG_LOCK: i64 = WRITE_LOCK + 2;

/// Most PostgreSQL connections one server instance opens.
pub const PG_POOL_SIZE: usize = 32;
/// Connections the pool keeps open however idle the server is.
const PG_MIN_IDLE: u32 = 2;
/// Threads that open connections: a burst of work that finds too few idle ones opens
/// this many at once.
const PG_CONNECT_THREADS: usize = 8;
/// Time to open a PostgreSQL connection, unless the URL sets `connect_timeout`.
pub const PG_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for a pooled connection before the request fails (answered `503 busy`).
pub const PG_CHECKOUT_TIMEOUT: Duration = Duration::from_secs(30);
/// A pooled connection idle this long is checked with a round trip before use.
pub const PG_CHECK_IDLE_AFTER: Duration = Duration::from_millis(500);
/// How long that check may take before the connection counts as dead.
const PG_HEALTH_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections above `PG_MIN_IDLE` are closed after `PG_IDLE_TIMEOUT`; every
/// connection after `PG_MAX_LIFETIME` (the database frees what a session accumulated).
pub const PG_IDLE_TIMEOUT: Duration = Duration::from_secs(600);
pub const PG_MAX_LIFETIME: Duration = Duration::from_secs(1800);
/// Most concurrent writes one instance runs at once: the rest of the pool stays free for
/// reads (pulls, sign-ins) however many pushes arrive together.
const CONCURRENT_WRITES: usize = PG_POOL_SIZE / 2;
/// How often a concurrent write that lost a race (a deadlock, a row inserted first by
/// another write) is run again before its error is returned.
const CONCURRENT_ATTEMPTS: usize = 5;

/// The start of an ordered write: the write lock, held alone until it commits.
static ORDERED_BEGIN: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"));

/// The start of a concurrent write: the shared write lock, and the savepoint its first
/// mutation uses (see `Tx::concurrent`).
static CONCURRENT_BEGIN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("BEGIN; SELECT pg_advisory_xact_lock_shared({WRITE_LOCK}); SAVEPOINT {}", crate::sql::SAVEPOINT)
});

/// Where the data lives: a directory for SQLite, or a PostgreSQL URL
/// (`postgres://user@host:port/db` or `host=/run/postgresql dbname=fieldsync`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Location {
    /// PostgreSQL when `url` is given, else SQLite in `data_dir`.
    pub fn new(data_dir: &Path, url: Option<&str>) -> Location {
        match url {
            Some(url) => Location::Postgres(url.to_string()),
            None => Location::Sqlite(data_dir.to_path_buf()),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(dir) => format!("SQLite in {}", db_path(dir).display()),
            Location::Postgres(url) => format!("PostgreSQL at {}", redact(url)),
        }
    }
}

/// The connection settings without a password, for logs and messages: the password of a
/// `postgres://user:password@host` URL, and a `password=...` key-value setting (quoted or
/// not), are replaced by `***`.
pub fn redact(url: &str) -> String {
    if let (Some(scheme), Some(at)) = (url.find("://"), url.rfind('@')) {
        if at > scheme {
            let creds = &url[scheme + 3..at];
            return match creds.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme + 3], &creds[..colon], &url[at..]),
                None => url.to_string(),
            };
        }
        return url.to_string();
    }
    let Some(start) = url.find("password") else { return url.to_string() };
    let rest = url[start + "password".len()..].trim_start();
    let Some(value) = rest.strip_prefix('=') else { return url.to_string() };
    let value = value.trim_start();
    let end = if let Some(quoted) = value.strip_prefix('\'') {
        // libpq quoting: backslash escapes the next character.
        let mut escaped = false;
        let close = quoted.char_indices().find(|&(_, c)| {
            let closes = c == '\'' && !escaped;
            escaped = c == '\\' && !escaped;
            closes
        });
        close.map_or(value.len(), |(q, _)| q + 2)
    } else {
        value.find(char::is_whitespace).unwrap_or(value.len())
    };
    let value_at = url.len() - value.len();
    format!("{}password=***{}", &url[..start], &url[value_at + end..])
}

/// Every SQLite migration the server applies, in order: entity tables, server state,
/// then extras (entity types added by an extension).
pub fn all_migrations(extra: &[Migration]) -> Vec<Migration> {
    ENTITY_MIGRATIONS.iter().chain(SERVER_MIGRATIONS).chain(extra).copied().collect()
}

pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("fieldsync.db")
}

fn open_sqlite(data_dir: &Path, extra: &[Migration]) -> anyhow::Result<Connection> {
    // The database holds password hashes and every company record: owner only.
    fieldsync_sqlkit::private_dir(data_dir)
        .map_err(|e| anyhow::anyhow!("cannot create data directory {}: {e}", data_dir.display()))?;
    fieldsync_sqlkit::private_database(&db_path(data_dir))
        .map_err(|e| anyhow::anyhow!("cannot restrict access to {}: {e}", db_path(data_dir).display()))?;
    let mut conn = fieldsync_sqlkit::open(&db_path(data_dir))?;
    migrate(&mut conn, &all_migrations(extra))?;
    Ok(conn)
}

#[derive(Clone)]
pub struct Db {
    inner: Arc<Store>,
    /// The newest migration of each set this binary applies, for [`Db::schema_problem`].
    newest: Arc<Vec<(&'static str, u32)>>,
    /// How long work waits for a connection and for the write turn (`/metrics`).
    waits: crate::metrics::DbWaits,
    /// See [`Db::head`].
    head: Arc<tokio::sync::watch::Sender<i64>>,
    /// The change-log keys of the registry's types, for every transaction ([`Tx::keyed`]).
    keys: Arc<crate::rules::KeyPlan>,
    /// The threads database calls of async code run on.
    workers: Arc<Workers>,
}

/// The newest version of each migration set in `migrations`.
fn newest_versions(migrations: &[Migration]) -> Vec<(&'static str, u32)> {
    let mut newest: Vec<(&'static str, u32)> = Vec::new();
    for m in migrations {
        match newest.iter_mut().find(|(set, _)| *set == m.set) {
            Some((_, v)) => *v = (*v).max(m.version),
            None => newest.push((m.set, m.version)),
        }
    }
    newest
}

enum Store {
    Sqlite { path: PathBuf, writer: Mutex<Connection>, readers: Readers },
    Postgres(Box<PgPool>),
}

impl Db {
    /// Opens the store and applies pending migrations. `extra` migrations (extension
    /// entity types) must be portable SQL: they run on either backend.
    pub fn open(location: &Location, registry: &Registry, extra: &[Migration]) -> anyhow::Result<Db> {
        let migrations = match location {
            Location::Sqlite(_) => all_migrations(extra),
            Location::Postgres(_) => POSTGRES_MIGRATIONS.iter().chain(extra).copied().collect(),
        };
        let store = match location {
            Location::Sqlite(dir) => Store::Sqlite {
                path: db_path(dir),
                writer: Mutex::new(open_sqlite(dir, extra)?),
                readers: Readers::default(),
            },
            Location::Postgres(url) => {
                let config: postgres::Config = url.parse().map_err(|e| {
                    anyhow::anyhow!(
                        "the database URL {} is not valid: {e}; use postgres://user@host:port/dbname",
                        redact(url)
                    )
                })?;
                let pool =
                    PgPool::new(config).map_err(|e| anyhow::anyhow!("cannot start the change notifier thread: {e}"))?;
                // At start, a database that does not answer is an error at once.
                let mut conn = pool.checkout_within(PG_CONNECT_TIMEOUT + Duration::from_secs(1)).map_err(|e| {
                    anyhow::anyhow!(
                        "cannot connect to {}: {e}; check that PostgreSQL is running and the URL is right",
                        location.describe()
                    )
                })?;
                migrate_postgres(conn.get(), &migrations)?;
                conn.release();
                Store::Postgres(Box::new(pool))
            }
        };
        let db = Db {
            newest: Arc::new(newest_versions(&migrations)),
            waits: crate::metrics::DbWaits::new(),
            head: Arc::new(tokio::sync::watch::channel(0).0),
            keys: Arc::new(crate::rules::KeyPlan::new(registry)),
            workers: Arc::new(Workers::start(work_slots(&store))?),
            inner: Arc::new(store),
        };
        if let Location::Sqlite(dir) = location {
            db.check_history_mark(dir)?;
        }
        Ok(db)
    }

    /// Why the database's schema is not the one this binary serves (`None`: it is): a set
    /// behind (migrated back, or a database swapped under the server) or ahead (a newer
    /// server migrated it). One statement, for `GET /v1/ready`.
    pub fn schema_problem(&self, tx: &Tx<'_>) -> Result<Option<String>, AppError> {
        let found: Vec<(String, i64)> =
            tx.query("SELECT set_name, max(version) FROM schema_migrations GROUP BY set_name", &[], |r| {
                Ok((r.get::<String>(0)?, r.get::<i64>(1)?))
            })?;
        for (set, want) in self.newest.iter() {
            let have = found.iter().find(|(s, _)| s == set).map_or(0, |(_, v)| *v);
            match have.cmp(&i64::from(*want)) {
                std::cmp::Ordering::Less => {
                    return Ok(Some(format!(
                        "the database's {set} schema is at version {have}, this server needs {want}: run `fieldsync-server migrate`"
                    )))
                }
                std::cmp::Ordering::Greater => {
                    return Ok(Some(format!(
                        "the database's {set} schema is at version {have}, newer than this server's {want}: a newer server version migrated it"
                    )))
                }
                std::cmp::Ordering::Equal => {}
            }
        }
        Ok(None)
    }

    /// Starts a new history epoch when the SQLite database is older than the mark the
    /// server left beside it: it went back in time by a route other than
    /// `fieldsync-server restore` (see [`crate::history`]).
    fn check_history_mark(&self, dir: &Path) -> anyhow::Result<()> {
        let Some(mark) = Mark::load(dir) else { return Ok(()) };
        let now = self.read_blocking(Mark::of)?;
        if !mark.is_later_than(&now) {
            return Ok(());
        }
        let history = self.write_blocking(History::begin_epoch)?;
        tracing::warn!(
            served = mark.high_water,
            found = now.high_water,
            epoch = history.epoch,
            "the database is older than what this server last served (restored or copied over?); \
             starting a new history so laptops send again the changes they hold"
        );
        self.read_blocking(Mark::of)?
            .save(dir)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", Mark::path(dir).display()))?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        match *self.inner {
            Store::Sqlite { .. } => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    /// The PostgreSQL connection settings (for the change listener).
    pub fn postgres_config(&self) -> Option<postgres::Config> {
        match &*self.inner {
            Store::Postgres(pool) => Some(pool.config.clone()),
            Store::Sqlite { .. } => None,
        }
    }

    /// Runs `f` in a write transaction on this thread: committed when `f` returns `Ok`,
    /// rolled back otherwise. Serialised with every other such write (the seq invariant).
    pub fn write_blocking<T, E: From<DbError>>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T, E>) -> Result<T, E> {
        self.run(Access::Ordered, f)
    }

    /// A write that never logs a change ([`Db::write_unordered`]) on this thread.
    pub fn write_unordered_blocking<T, E: From<DbError>>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.run(Access::Unordered, f)
    }

    /// Runs `f` in a read-only transaction (one consistent snapshot) on this thread.
    pub fn read_blocking<T, E: From<DbError>>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T, E>) -> Result<T, E> {
        self.run(Access::Snapshot, f)
    }

    /// SQLite reader connections open now (0 on PostgreSQL).
    pub fn sqlite_readers_open(&self) -> usize {
        match &*self.inner {
            Store::Sqlite { readers, .. } => readers.open(),
            Store::Postgres(_) => 0,
        }
    }

    /// Whether another handle to this database is alive (work still running on it).
    pub fn is_shared(&self) -> bool {
        Arc::strong_count(&self.inner) > 1
    }

    /// How long work waited for the database (registered with the server's metrics).
    pub fn waits(&self) -> &crate::metrics::DbWaits {
        &self.waits
    }

    fn run<T, E: From<DbError>>(&self, access: Access, f: impl FnOnce(&Tx<'_>) -> Result<T, E>) -> Result<T, E> {
        let waited = |h: &prometheus::Histogram, since: std::time::Instant| h.observe(since.elapsed().as_secs_f64());
        let asked = std::time::Instant::now();
        match &*self.inner {
            Store::Sqlite { writer, .. } if access.writes() => {
                let conn = writer.lock().unwrap_or_else(|p| p.into_inner());
                waited(&self.waits.write_turn, asked);
                if !conn.is_autocommit() {
                    // A panic left a transaction open; nothing of it was committed.
                    conn.execute_batch("ROLLBACK").map_err(DbError::from)?;
                }
                self.in_transaction(&Tx::sqlite(&conn).keyed(&self.keys), Some(("BEGIN IMMEDIATE", Commit::Plain)), f)
            }
            Store::Sqlite { .. } => self.sqlite_read(true, f),
            Store::Postgres(pool) => {
                // Ordered writes queue here, holding no connection, rather than on the
                // advisory lock, where each waiter would hold one and starve the reads.
                let _turn = (access == Access::Ordered).then(|| pool.writer.lock().unwrap_or_else(|p| p.into_inner()));
                if access == Access::Ordered {
                    waited(&self.waits.write_turn, asked);
                }
                let checkout = std::time::Instant::now();
                let (begin, commit) = match access {
                    Access::Ordered => (ORDERED_BEGIN.as_str(), Commit::Notify),
                    Access::Unordered => ("BEGIN", Commit::Plain),
                    Access::Snapshot => ("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", Commit::Plain),
                };
                let mut conn = pool.begin(begin)?;
                waited(&self.waits.pool, checkout);
                let (out, lost) = {
                    let tx = Tx::postgres(conn.get()).keyed(&self.keys);
                    (self.commit_after(&tx, commit, f), tx.connection_lost())
                };
                conn.release_unless(lost);
                out
            }
        }
    }

    /// A read on one of SQLite's reader connections: in a snapshot (`BEGIN`), or one
    /// statement without an explicit transaction.
    fn sqlite_read<T, E: From<DbError>>(
        &self,
        snapshot: bool,
        f: impl FnOnce(&Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let Store::Sqlite { path, readers, .. } = &*self.inner else { unreachable!("sqlite_read on PostgreSQL") };
        let asked = std::time::Instant::now();
        let conn = readers.checkout(path)?;
        self.waits.pool.observe(asked.elapsed().as_secs_f64());
        let bounds = snapshot.then_some(("BEGIN", Commit::Plain));
        let out = self.in_transaction(&Tx::sqlite(&conn).keyed(&self.keys), bounds, f);
        readers.give_back(conn);
        out
    }

    /// A write that may log changes and runs beside other such writes (pushes): on
    /// SQLite an ordered write; on PostgreSQL it shares the write lock with other
    /// concurrent writes and takes the change log's turn only at its first change-log
    /// write (see the module docs). Rows it reads to decide must be locked (see
    /// `records::RowLock`). `f` may run more than once: again after a lost race (a
    /// deadlock, a row another write inserted first), and as an ordered write when it
    /// asks to run alone ([`Tx::run_alone`]).
    pub fn write_concurrent_blocking<T, E: From<DbError>>(&self, f: impl Fn(&Tx<'_>) -> Result<T, E>) -> Result<T, E> {
        let Store::Postgres(pool) = &*self.inner else { return self.run(Access::Ordered, f) };
        let mut attempt = 1;
        loop {
            let asked = std::time::Instant::now();
            let _slot = pool.concurrent.enter();
            self.waits.write_turn.observe(asked.elapsed().as_secs_f64());
            let checkout = std::time::Instant::now();
            let mut conn = pool.begin(&CONCURRENT_BEGIN)?;
            self.waits.pool.observe(checkout.elapsed().as_secs_f64());
            let (out, retry, lost) = {
                let tx = Tx::concurrent(conn.get(), LOG_LOCK).keyed(&self.keys);
                let out = self.commit_after(&tx, Commit::Plain, &f);
                if out.is_ok() && tx.logged() > 0 {
                    pool.notifier.committed(tx.logged());
                }
                (out, tx.retry(), tx.connection_lost())
            };
            conn.release_unless(lost);
            match (out, retry) {
                (Err(_), Some(Retry::Alone)) => return self.run(Access::Ordered, f),
                (Err(e), Some(Retry::Conflict)) if attempt >= CONCURRENT_ATTEMPTS => return Err(e),
                (Err(_), Some(Retry::Conflict)) => {
                    tracing::debug!(attempt, "a concurrent write lost a race; running it again");
                    attempt += 1;
                }
                (out, _) => return out,
            }
        }
    }

    /// [`Db::write_concurrent_blocking`] on a blocking thread.
    pub async fn write_concurrent<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: Fn(&Tx<'_>) -> Result<T, AppError> + Send + 'static,
    {
        let db = self.clone();
        self.on_blocking_thread(move || db.write_concurrent_blocking(f)).await
    }

    /// Runs `f` between `begin` and `commit` (or bare with `None`), rolling back on error.
    /// Once committed, the head moves to the highest seq the transaction logged.
    fn in_transaction<T, E: From<DbError>>(
        &self,
        tx: &Tx<'_>,
        bounds: Option<(&str, Commit)>,
        f: impl FnOnce(&Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let Some((begin, commit)) = bounds else { return f(tx) };
        tx.batch(begin)?;
        self.commit_after(tx, commit, f)
    }

    /// Runs `f` in the transaction `tx` has begun, then commits (rolls back on error).
    /// Once committed, the head moves to the highest seq the transaction logged.
    fn commit_after<T, E: From<DbError>>(
        &self,
        tx: &Tx<'_>,
        commit: Commit,
        f: impl FnOnce(&Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let out = f(tx).and_then(|v| {
            crate::records::flush(tx)?;
            let sql = match (commit, tx.logged()) {
                (Commit::Plain, _) => "COMMIT".to_string(),
                // A seq is a number the database handed out: no user value in the text.
                (Commit::Notify, 0) => format!("SELECT pg_notify('{CHANGES_CHANNEL}', ''); COMMIT"),
                (Commit::Notify, seq) => format!("SELECT pg_notify('{CHANGES_CHANNEL}', '{seq}'); COMMIT"),
            };
            tx.batch(&sql)?;
            Ok(v)
        });
        match out {
            Ok(v) => {
                self.advance_head(tx.logged());
                Ok(v)
            }
            Err(e) => {
                let _ = tx.batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// The newest committed change seq this instance knows of; long polls follow it.
    pub fn head(&self) -> &Arc<tokio::sync::watch::Sender<i64>> {
        &self.head
    }

    /// Moves the head forward to `seq` (never back), waking whoever follows it.
    pub fn advance_head(&self, seq: i64) {
        self.head.send_if_modified(|h| {
            let moved = seq > *h;
            *h = (*h).max(seq);
            moved
        });
    }

    /// [`Db::write_blocking`] on a blocking thread.
    pub async fn write<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<T, AppError> + Send + 'static,
    {
        self.run_async(Access::Ordered, f).await
    }

    /// A write that never logs a change (sessions): not serialised with the change log's
    /// writers, so it does not queue behind pushes on PostgreSQL.
    pub async fn write_unordered<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<T, AppError> + Send + 'static,
    {
        self.run_async(Access::Unordered, f).await
    }

    /// Runs `f` in a read-only transaction (one consistent snapshot) on a blocking thread.
    pub async fn read<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<T, AppError> + Send + 'static,
    {
        self.run_async(Access::Snapshot, f).await
    }

    /// A read of ONE statement, outside any explicit transaction (the statement is its own
    /// snapshot): saves PostgreSQL two round trips on the hottest reads (authentication).
    /// Its statement is also the connection's check: run on a connection the database had
    /// closed, it runs again on another (a read may run twice).
    pub async fn read_single<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: Fn(&Tx<'_>) -> Result<T, AppError> + Send + 'static,
    {
        let db = self.clone();
        self.on_blocking_thread(move || db.read_single_blocking(f)).await
    }

    fn read_single_blocking<T, E: From<DbError>>(&self, f: impl Fn(&Tx<'_>) -> Result<T, E>) -> Result<T, E> {
        let Store::Postgres(pool) = &*self.inner else { return self.sqlite_read(false, f) };
        let mut dead = 0;
        loop {
            let checkout = std::time::Instant::now();
            let mut conn = pool.checkout()?;
            self.waits.pool.observe(checkout.elapsed().as_secs_f64());
            let (out, lost) = {
                let tx = Tx::postgres(conn.get()).keyed(&self.keys);
                (f(&tx), tx.connection_lost())
            };
            match out {
                // Dropped unreleased, the dead connection is discarded.
                Err(_) if lost && dead < PG_POOL_SIZE => dead += 1,
                out => {
                    conn.release();
                    return out;
                }
            }
        }
    }

    async fn run_async<T, F>(&self, access: Access, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<T, AppError> + Send + 'static,
    {
        let db = self.clone();
        self.on_blocking_thread(move || db.run(access, f)).await
    }

    /// Runs database work on one of the store's own threads ([`Workers`]), waiting for one
    /// to be free without holding a thread meanwhile.
    async fn on_blocking_thread<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.workers.run(Box::new(move || {
            let _ = done.send(work());
        }));
        // A worker drops the job without an answer when it panicked (and survives it).
        result.await.unwrap_or_else(|_| Err(AppError::Internal("a database call panicked".into())))
    }

    /// The threads database calls run on (see [`Workers`]): as many as the store serves at
    /// once, and a few more that wait inside it for the write turn, a reader or a connection.
    pub fn work_slots(&self) -> usize {
        work_slots(&self.inner)
    }
}

fn work_slots(store: &Store) -> usize {
    match store {
        Store::Sqlite { .. } => SQLITE_READERS + WORK_SLOTS_BEYOND,
        Store::Postgres(_) => PG_POOL_SIZE + WORK_SLOTS_BEYOND,
    }
}

/// A fixed set of threads that run the database calls of async code, made when the store
/// opens and ended when the last handle to it goes. Every thread keeps an allocator heap of
/// its own: with one blocking thread per waiting call (tokio's `spawn_blocking`), 1,000
/// clients starting at once had about 190 threads and 800 MB, for a store that serves a
/// few calls at a time anyway (docs/PERFORMANCE.md). Calls beyond wait in the queue,
/// holding no thread.
struct Workers {
    jobs: std::sync::mpsc::Sender<Job>,
}

type Job = Box<dyn FnOnce() + Send>;

impl Workers {
    fn start(threads: usize) -> std::io::Result<Workers> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new().name("fieldsync-db".into()).spawn(move || loop {
                let job = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
                // None left: the store was closed.
                let Ok(job) = job else { return };
                // A panic fails its call (its answer channel drops), not the thread.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            })?;
        }
        Ok(Workers { jobs })
    }

    fn run(&self, job: Job) {
        // The threads only stop once every sender is gone, so the queue is open.
        let _ = self.jobs.send(job);
    }
}

/// Database calls beyond what the store serves at once ([`Db::work_slots`]): they queue
/// inside it (the write turn, a reader, a connection), so that the store never waits for
/// a thread.
pub const WORK_SLOTS_BEYOND: usize = 8;

/// How a closure uses the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// A write that may log changes: serialised with all others (see the module docs).
    Ordered,
    /// A write that never logs a change.
    Unordered,
    /// Reads in one consistent snapshot.
    Snapshot,
}

impl Access {
    fn writes(self) -> bool {
        matches!(self, Access::Ordered | Access::Unordered)
    }
}

/// How a transaction ends when its closure succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Commit {
    Plain,
    /// A PostgreSQL write: `NOTIFY` on the changes channel, with the highest seq the
    /// transaction logged as the payload (empty when it logged none), then `COMMIT`.
    Notify,
}

/// A counting semaphore for blocking threads.
struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

struct Slot<'s>(&'s Slots);

impl Slots {
    fn new(n: usize) -> Self {
        Slots { free: Mutex::new(n), freed: Condvar::new() }
    }

    /// Waits for a free slot; it is given back when the [`Slot`] drops.
    fn enter(&self) -> Slot<'_> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        Slot(self)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

/// Most SQLite reader connections one server keeps: reads beyond them wait for one.
/// Each connection has its own page cache (`sqlkit::open`), so opening one per concurrent
/// read let 1,000 clients' reads take 1.7 GB and most of the CPU (docs/PERFORMANCE.md).
pub const SQLITE_READERS: usize = 8;
/// Page cache of each SQLite reader, in KiB. Each reader's cache fills with the pages it
/// reads, the same pages in every cache; the operating system's file cache under them is
/// shared. Readers at the writer's 64 MiB grew the server by one database size per reader.
pub const SQLITE_READER_CACHE_KIB: usize = 8 * 1024;

/// The SQLite reader connections: opened on demand up to `SQLITE_READERS`, then shared.
#[derive(Default)]
struct Readers {
    /// Idle connections, and how many are open in all.
    state: Mutex<(Vec<Connection>, usize)>,
    freed: Condvar,
}

impl Readers {
    fn checkout(&self, path: &Path) -> Result<Connection, DbError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(conn) = state.0.pop() {
                return Ok(conn);
            }
            if state.1 < SQLITE_READERS {
                state.1 += 1;
                drop(state);
                let opened = fieldsync_sqlkit::open(path).and_then(|conn| {
                    conn.execute_batch(&format!("PRAGMA cache_size = -{SQLITE_READER_CACHE_KIB}"))?;
                    Ok(conn)
                });
                return opened.map_err(|e| {
                    self.closed();
                    DbError::from(e)
                });
            }
            state = self.freed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Returns a connection; one left inside a transaction (a panic) is closed instead.
    fn give_back(&self, conn: Connection) {
        if !conn.is_autocommit() {
            drop(conn);
            return self.closed();
        }
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0.push(conn);
        self.freed.notify_one();
    }

    fn closed(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1 -= 1;
        self.freed.notify_one();
    }

    fn open(&self) -> usize {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1
    }
}

/// The PostgreSQL connections of one server instance: an r2d2 pool of [`PgConn`]s (which
/// keep their prepared statements), bounded by `PG_POOL_SIZE`, with a connect timeout
/// (`PG_CONNECT_TIMEOUT`), a checkout timeout (`PG_CHECKOUT_TIMEOUT`, then `503 busy`),
/// health checks (see [`PgManager`]) and idle and lifetime limits.
struct PgPool {
    config: postgres::Config,
    /// Taken by ordered writes of this instance before they check out a connection.
    writer: Mutex<()>,
    /// Entered by concurrent writes of this instance before they check out a connection.
    concurrent: Slots,
    /// Tells other instances what concurrent writes committed.
    notifier: crate::listen::Notifier,
    /// `None` only while being dropped (see `Drop`).
    pool: Option<r2d2::Pool<PgManager>>,
}

/// How r2d2 opens, checks and discards [`PgConn`]s. A connection is checked three ways:
/// - before use, with a round trip, when it has been idle for `PG_CHECK_IDLE_AFTER` (a
///   database restarted or a firewall dropped it meanwhile); a recently used one is
///   taken as alive, as HikariCP does, so busy instances pay no round trip per request;
/// - by its first statement ([`PgPool::begin`], [`Db::read_single`]): one the database
///   closed anyway is discarded and the work runs on the next connection;
/// - when given back: closed, or abandoned mid-work (a panic, a lost connection), it is
///   discarded rather than handed to the next request.
#[derive(Debug)]
struct PgManager {
    config: postgres::Config,
}

impl r2d2::ManageConnection for PgManager {
    type Connection = PgConn;
    type Error = DbError;

    fn connect(&self) -> Result<PgConn, DbError> {
        PgConn::connect(&self.config)
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), DbError> {
        if conn.last_used.elapsed() < PG_CHECK_IDLE_AFTER {
            return Ok(());
        }
        Ok(conn.client().is_valid(PG_HEALTH_TIMEOUT)?)
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.in_use || conn.is_closed()
    }
}

/// Logs what goes wrong inside the pool (a connect that failed while it refilled).
#[derive(Debug)]
struct LogPoolErrors;

impl r2d2::HandleError<DbError> for LogPoolErrors {
    fn handle_error(&self, error: DbError) {
        tracing::warn!(%error, "PostgreSQL connection pool");
    }
}

/// A connection out of the pool. Dropped without [`Checkout::release`] (a panic, a lost
/// connection) it is discarded instead of given back.
struct Checkout(r2d2::PooledConnection<PgManager>);

impl Checkout {
    fn get(&mut self) -> &mut PgConn {
        &mut self.0
    }

    /// Gives the connection back for the next work.
    fn release(mut self) {
        self.0.in_use = false;
        self.0.last_used = std::time::Instant::now();
    }

    /// Gives the connection back, unless its work found it gone.
    fn release_unless(self, lost: bool) {
        if !lost {
            self.release();
        }
    }
}

impl Drop for PgPool {
    /// The blocking client's drop runs its own small runtime, which must not happen on an
    /// async worker (where the last handle to the store is usually dropped).
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            let _ = std::thread::Builder::new().name("fieldsync-pg-close".into()).spawn(move || drop(pool));
        }
    }
}

impl PgPool {
    /// Makes the pool; connections open as work first needs them, on `PG_CONNECT_THREADS`
    /// threads at once.
    fn new(mut config: postgres::Config) -> std::io::Result<Self> {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(PG_CONNECT_TIMEOUT);
        }
        let pool = r2d2::Pool::builder()
            .max_size(PG_POOL_SIZE as u32)
            .min_idle(Some(PG_MIN_IDLE))
            .connection_timeout(PG_CHECKOUT_TIMEOUT)
            .test_on_check_out(true)
            .idle_timeout(Some(PG_IDLE_TIMEOUT))
            .max_lifetime(Some(PG_MAX_LIFETIME))
            .thread_pool(Arc::new(
                scheduled_thread_pool::ScheduledThreadPool::builder()
                    .num_threads(PG_CONNECT_THREADS)
                    .thread_name_pattern("fieldsync-pg-connect-{}")
                    .build(),
            ))
            .error_handler(Box::new(LogPoolErrors))
            .build_unchecked(PgManager { config: config.clone() });
        Ok(PgPool {
            notifier: crate::listen::Notifier::start(config.clone())?,
            config,
            writer: Mutex::new(()),
            concurrent: Slots::new(CONCURRENT_WRITES),
            pool: Some(pool),
        })
    }

    /// A connection, waiting at most `PG_CHECKOUT_TIMEOUT` for one.
    fn checkout(&self) -> Result<Checkout, DbError> {
        self.checkout_within(PG_CHECKOUT_TIMEOUT)
    }

    fn checkout_within(&self, wait: Duration) -> Result<Checkout, DbError> {
        let pool = self.pool.as_ref().expect("the pool is present until dropped");
        let mut conn = pool.get_timeout(wait).map_err(|e| DbError::Unavailable(e.to_string()))?;
        conn.in_use = true;
        Ok(Checkout(conn))
    }

    /// A connection on which `begin` has run. That first statement shows whether the
    /// database still holds the connection: one it closed (a restart, a failover) is
    /// discarded and the next one tried, so the work itself never meets a dead one.
    fn begin(&self, begin: &str) -> Result<Checkout, DbError> {
        let mut dead = 0;
        loop {
            let mut conn = self.checkout()?;
            match conn.get().client().batch_execute(begin).map_err(DbError::from) {
                Ok(()) => return Ok(conn),
                Err(e) if e.connection_lost() && dead < PG_POOL_SIZE => {
                    tracing::info!(error = %e, "a pooled PostgreSQL connection was closed; using another");
                    dead += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Applies pending PostgreSQL migrations with sqlkit's runner, the one SQLite uses: the
/// same `schema_migrations` bookkeeping, checksums and refusals, each migration in its own
/// transaction. Instances starting together take turns.
fn migrate_postgres(conn: &mut PgConn, migrations: &[Migration]) -> anyhow::Result<usize> {
    Ok(fieldsync_sqlkit::run_migrations(&mut PgMigrations(conn), migrations)?)
}

/// PostgreSQL's bookkeeping statements for the migration runner.
struct PgMigrations<'c>(&'c mut PgConn);

impl fieldsync_sqlkit::MigrationTarget for PgMigrations<'_> {
    type Error = DbError;

    fn begin(&mut self) -> Result<(), DbError> {
        Ok(self.0.client().batch_execute(&format!(
            "SET client_min_messages = warning;
             SELECT pg_advisory_lock({MIGRATE_LOCK});
             CREATE TABLE IF NOT EXISTS schema_migrations (
                set_name TEXT NOT NULL, version BIGINT NOT NULL, name TEXT NOT NULL,
                checksum TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                PRIMARY KEY (set_name, version))"
        ))?)
    }

    fn recorded(&mut self, m: &Migration) -> Result<Option<String>, DbError> {
        let row = self.0.client().query_opt(
            "SELECT checksum FROM schema_migrations WHERE set_name = $1 AND version = $2",
            &[&m.set, &i64::from(m.version)],
        )?;
        Ok(row.map(|r| r.get(0)))
    }

    fn apply(&mut self, m: &Migration, checksum: &str) -> Result<(), DbError> {
        let mut tx = self.0.client().transaction()?;
        tx.batch_execute(m.sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (set_name, version, name, checksum) VALUES ($1, $2, $3, $4)",
            &[&m.set, &i64::from(m.version), &m.name, &checksum],
        )?;
        Ok(tx.commit()?)
    }

    fn end(&mut self) -> Result<(), DbError> {
        Ok(self.0.client().batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATE_LOCK})"))?)
    }
}

/// The current time in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_hidden_in_descriptions() {
        assert_eq!(super::redact("postgres://app:s3cret@db:5432/fs"), "postgres://app:***@db:5432/fs");
        assert_eq!(super::redact("postgres://app@db/fs"), "postgres://app@db/fs");
        assert_eq!(super::redact("host=/tmp dbname=fs"), "host=/tmp dbname=fs");
        assert_eq!(super::redact("host=db password=s3cret dbname=fs"), "host=db password=*** dbname=fs");
        assert_eq!(super::redact("host=db password = 's3 cr\\'et' user=a"), "host=db password=*** user=a");
        assert_eq!(super::redact("user=a password=s3cret"), "user=a password=***");
    }

    /// Reads beyond `SQLITE_READERS` at once wait for a connection instead of opening
    /// more; each waiting read goes on when one finishes.
    #[test]
    fn sqlite_reads_share_a_bounded_set_of_connections() {
        use super::*;
        use std::sync::mpsc;
        let dir = tempfile::tempdir().unwrap();
        let db =
            Db::open(&Location::Sqlite(dir.path().into()), &fieldsync_protocol::Registry::standard(), &[]).unwrap();
        let (entered_tx, entered) = mpsc::channel();
        let mut releases = Vec::new();
        let mut readers = Vec::new();
        for _ in 0..SQLITE_READERS + 1 {
            let (release_tx, release) = mpsc::channel::<()>();
            releases.push(release_tx);
            let (db, entered_tx) = (db.clone(), entered_tx.clone());
            readers.push(std::thread::spawn(move || {
                db.read_blocking(|tx| {
                    tx.query_one("SELECT count(*) FROM users", crate::args![], |r| r.get::<i64>(0))?;
                    entered_tx.send(()).unwrap();
                    release.recv().unwrap();
                    Ok::<_, DbError>(())
                })
                .unwrap()
            }));
        }
        for _ in 0..SQLITE_READERS {
            entered.recv().unwrap();
        }
        // Every connection is busy: the last read waits rather than opening another.
        assert_eq!(entered.recv_timeout(Duration::from_millis(300)), Err(mpsc::RecvTimeoutError::Timeout));
        assert_eq!(db.sqlite_readers_open(), SQLITE_READERS);
        for release in &releases {
            let _ = release.send(());
        }
        entered.recv().unwrap();
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(db.sqlite_readers_open(), SQLITE_READERS);
    }

    /// However many requests ask at once, database calls run on the store's own threads,
    /// `work_slots` of them; the others wait for one and all complete, and a call that
    /// panics fails alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn database_calls_beyond_the_work_slots_wait_without_a_thread() {
        use super::*;
        let threads = || std::fs::read_dir("/proc/self/task").unwrap().count();
        let dir = tempfile::tempdir().unwrap();
        let before = threads();
        let db =
            Db::open(&Location::Sqlite(dir.path().into()), &fieldsync_protocol::Registry::standard(), &[]).unwrap();
        let slots = db.work_slots();
        assert_eq!(threads(), before + slots);
        let (entered_tx, mut entered) = tokio::sync::mpsc::unbounded_channel();
        let (release_tx, release) = std::sync::mpsc::channel::<()>();
        let release = Arc::new(Mutex::new(release));
        let mut calls = Vec::new();
        for _ in 0..slots * 2 {
            let (db, entered_tx, release) = (db.clone(), entered_tx.clone(), release.clone());
            calls.push(tokio::spawn(async move {
                db.read(move |tx| {
                    tx.query_one("SELECT count(*) FROM users", crate::args![], |r| r.get::<i64>(0))?;
                    entered_tx.send(()).unwrap();
                    release.lock().unwrap().recv().unwrap();
                    Ok(())
                })
                .await
            }));
        }
        for _ in 0..SQLITE_READERS {
            entered.recv().await.unwrap();
        }
        assert_eq!(threads(), before + slots, "twice as many calls as threads");
        for _ in 0..slots * 2 {
            release_tx.send(()).unwrap();
        }
        for call in calls {
            call.await.unwrap().unwrap();
        }
        let panicked = db.read(|_| -> Result<(), AppError> { panic!("a bug in a database call") }).await;
        assert!(matches!(panicked, Err(AppError::Internal(_))), "{panicked:?}");
        let users: i64 = db.read(|tx| Ok(tx.value("SELECT count(*) FROM users", crate::args![])?)).await.unwrap();
        assert_eq!(users, 0);
        assert_eq!(threads(), before + slots);
    }

    /// docs/OPERATIONS.md gives the pool's figures to administrators; they must be ours.
    #[test]
    fn the_operations_guide_states_the_pool_figures() {
        use super::*;
        let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/OPERATIONS.md")).unwrap();
        let minutes = |d: Duration| format!("{} minutes", d.as_secs() / 60);
        for stated in [
            format!("`PG_POOL_SIZE` ({PG_POOL_SIZE})"),
            format!("`PG_CONNECT_TIMEOUT` ({} s)", PG_CONNECT_TIMEOUT.as_secs()),
            format!("`PG_CHECKOUT_TIMEOUT` ({} s)", PG_CHECKOUT_TIMEOUT.as_secs()),
            format!("`PG_IDLE_TIMEOUT` ({})", minutes(PG_IDLE_TIMEOUT)),
            format!("`PG_MAX_LIFETIME` ({})", minutes(PG_MAX_LIFETIME)),
            format!("Idle connections above {}", ["none", "one", "two", "three"][PG_MIN_IDLE as usize]),
        ] {
            assert!(guide.contains(&stated), "docs/OPERATIONS.md should say {stated}");
        }
    }
}
