//! One small SQL interface over the two stores the server supports: embedded SQLite
//! (rusqlite) and PostgreSQL (the `postgres` crate). Server logic is written once against
//! [`Tx`], an open transaction on either.
//!
//! The SQL text is shared too, so it keeps to what both dialects accept: `?1`-style
//! placeholders (rewritten to `$1` for PostgreSQL), `INSERT ... ON CONFLICT`, `RETURNING`,
//! `TRUE`/`FALSE`, and explicit `CAST`s where PostgreSQL would widen a type (e.g. `sum`
//! of integers is `numeric` there). The few statements that must differ ask
//! [`Tx::backend`].
//!
//! Values cross the interface as [`SqlValue`]; integers are 64-bit on both sides (the
//! PostgreSQL schema uses `BIGINT`), booleans are stored as 0/1 integers.

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as StdError;

use postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use rusqlite::types::ValueRef;

/// Which database a [`Tx`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A parameter or column value.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        SqlValue::Int(v)
    }
}
impl From<u32> for SqlValue {
    fn from(v: u32) -> Self {
        SqlValue::Int(i64::from(v))
    }
}
impl From<bool> for SqlValue {
    fn from(v: bool) -> Self {
        SqlValue::Int(i64::from(v))
    }
}
impl From<f64> for SqlValue {
    fn from(v: f64) -> Self {
        SqlValue::Real(v)
    }
}
impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        SqlValue::Text(v)
    }
}
impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        SqlValue::Text(v.to_string())
    }
}
impl From<&String> for SqlValue {
    fn from(v: &String) -> Self {
        SqlValue::Text(v.clone())
    }
}
impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(SqlValue::Null, Into::into)
    }
}

impl From<rusqlite::types::Value> for SqlValue {
    fn from(v: rusqlite::types::Value) -> Self {
        use rusqlite::types::Value as V;
        match v {
            V::Null => SqlValue::Null,
            V::Integer(i) => SqlValue::Int(i),
            V::Real(r) => SqlValue::Real(r),
            V::Text(t) => SqlValue::Text(t),
            V::Blob(b) => SqlValue::Text(String::from_utf8_lossy(&b).into_owned()),
        }
    }
}

impl SqlValue {
    /// The same value as rusqlite sees it (for the shared JSON conversions in sqlkit).
    pub fn as_ref(&self) -> ValueRef<'_> {
        use rusqlite::types::ValueRef as V;
        match self {
            SqlValue::Null => V::Null,
            SqlValue::Int(i) => V::Integer(*i),
            SqlValue::Real(r) => V::Real(*r),
            SqlValue::Text(t) => V::Text(t.as_bytes()),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            SqlValue::Null => "NULL",
            SqlValue::Int(_) => "an integer",
            SqlValue::Real(_) => "a real number",
            SqlValue::Text(_) => "text",
        }
    }
}

impl rusqlite::ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::Borrowed(self.as_ref()))
    }
}

/// `?{from}, ?{from + 1}, ...`: `n` numbered placeholders, for a row of values whose
/// number is fixed by the statement (a table's columns). Never for a list of ids: its
/// length would make a statement text per length, each compiled and kept by every
/// connection's statement cache; use [`in_texts`].
pub fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
}

/// A condition true when `column` is one of the texts of the JSON array bound as parameter
/// `?{n}` (see [`text_list`]): one statement text for any number of values, where numbered
/// placeholders ([`placeholders`]) make a statement per list length, each compiled and
/// cached on every connection. On PostgreSQL the list is an array computed once, so the
/// column's index is probed per value (`IN (SELECT ...)` hashed the whole table).
pub fn in_texts(backend: Backend, column: &str, n: usize) -> String {
    match backend {
        Backend::Sqlite => format!("{column} IN (SELECT value FROM json_each(?{n}))"),
        Backend::Postgres => {
            format!("{column} = ANY(ARRAY(SELECT json_array_elements_text(CAST(CAST(?{n} AS TEXT) AS json))))")
        }
    }
}

/// A condition true when `column` is one of the values `subquery` selects. On PostgreSQL the
/// set is computed once into an array and the column's index probed per value, whatever the
/// planner guesses the set's size to be: a prepared statement's generic plan cannot see the
/// user behind a parameter, and guessing a large set (a manager of many reps) it scanned the
/// whole change-key table for every pull (docs/PERFORMANCE.md). SQLite plans `IN` that way.
pub fn in_set(backend: Backend, column: &str, subquery: &str) -> String {
    match backend {
        Backend::Sqlite => format!("{column} IN ({subquery})"),
        Backend::Postgres => format!("{column} = ANY(ARRAY({subquery}))"),
    }
}

/// The parameter [`in_texts`] reads: `texts` as a JSON array.
pub fn text_list<'t>(texts: impl IntoIterator<Item = &'t str>) -> SqlValue {
    SqlValue::from(serde_json::Value::from(texts.into_iter().collect::<Vec<_>>()).to_string())
}

/// `args![a, b, c]`: query parameters, each converted with `SqlValue::from`.
#[macro_export]
macro_rules! args {
    ($($v:expr),* $(,)?) => { &[$($crate::sql::SqlValue::from($v)),*][..] };
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgres: {}", pg_message(.0))]
    Postgres(#[from] postgres::Error),
    #[error("column {index} holds {found}, expected {expected}")]
    Type { index: usize, expected: &'static str, found: &'static str },
    #[error("the query returned no rows")]
    NoRows,
    /// Stored bookkeeping is not what the server wrote (e.g. a missing `server_meta` key).
    #[error("{0}")]
    Other(String),
    /// No connection to the database could be had in time (PostgreSQL down, or every
    /// pooled connection busy for `db::PG_CHECKOUT_TIMEOUT`).
    #[error("no database connection: {0}")]
    Unavailable(String),
}

impl DbError {
    /// Whether the connection the statement ran on is gone (the database restarted, failed
    /// over or ended the session): the same work may succeed on a new connection.
    pub fn connection_lost(&self) -> bool {
        let DbError::Postgres(e) = self else { return false };
        if e.is_closed() {
            return true;
        }
        match e.as_db_error() {
            // Class 08: connection exception; 57P01-57P03: the server shut the session down.
            Some(db) => db.code().code().starts_with("08") || db.code().code().starts_with("57P"),
            // No answer from the server at all: the socket failed.
            None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
        }
    }
}

/// PostgreSQL's own message (the error's Display alone says just "db error").
pub fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "{} ({}){}",
            db.message(),
            db.code().code(),
            db.detail().map(|d| format!(": {d}")).unwrap_or_default()
        ),
        None => e.to_string(),
    }
}

/// Reads a Rust value from a column; `None` when the stored value has another type.
pub trait FromSqlValue: Sized {
    const EXPECTED: &'static str;
    fn from_value(v: ValueRef<'_>) -> Option<Self>;
}

impl FromSqlValue for i64 {
    const EXPECTED: &'static str = "an integer";
    fn from_value(v: ValueRef<'_>) -> Option<Self> {
        match v {
            ValueRef::Integer(i) => Some(i),
            _ => None,
        }
    }
}
impl FromSqlValue for bool {
    const EXPECTED: &'static str = "a boolean";
    fn from_value(v: ValueRef<'_>) -> Option<Self> {
        i64::from_value(v).map(|i| i != 0)
    }
}
impl FromSqlValue for f64 {
    const EXPECTED: &'static str = "a number";
    fn from_value(v: ValueRef<'_>) -> Option<Self> {
        match v {
            ValueRef::Real(r) => Some(r),
            ValueRef::Integer(i) => Some(i as f64),
            _ => None,
        }
    }
}
impl FromSqlValue for String {
    const EXPECTED: &'static str = "text";
    fn from_value(v: ValueRef<'_>) -> Option<Self> {
        match v {
            ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
            _ => None,
        }
    }
}
impl<T: FromSqlValue> FromSqlValue for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    fn from_value(v: ValueRef<'_>) -> Option<Self> {
        match v {
            ValueRef::Null => Some(None),
            other => T::from_value(other).map(Some),
        }
    }
}

fn kind(v: ValueRef<'_>) -> &'static str {
    match v {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "an integer",
        ValueRef::Real(_) => "a real number",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "a blob",
    }
}

/// One result row: SQLite's, read in place, or PostgreSQL's, converted once.
pub struct Row<'a> {
    inner: RowInner<'a>,
}

enum RowInner<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Values(&'a [SqlValue]),
}

impl Row<'_> {
    pub fn get<T: FromSqlValue>(&self, index: usize) -> Result<T, DbError> {
        let v = self.value(index)?;
        T::from_value(v).ok_or(DbError::Type { index, expected: T::EXPECTED, found: kind(v) })
    }

    /// The column's value, borrowed.
    pub fn value(&self, index: usize) -> Result<ValueRef<'_>, DbError> {
        match &self.inner {
            RowInner::Sqlite(r) => Ok(r.get_ref(index)?),
            RowInner::Values(v) => Ok(v.get(index).map_or(ValueRef::Null, SqlValue::as_ref)),
        }
    }
}

/// Whether a statement reuses its prepared plan ([`Tx::for_each_planned`]).
#[derive(Clone, Copy)]
enum Plan {
    Reused,
    ForTheseValues,
}

/// A PostgreSQL connection with its prepared statements (prepared once per SQL text).
pub struct PgConn {
    client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
    /// Set while work has it (see `db::PgManager::has_broken`): a connection given back
    /// with it still set was abandoned mid-transaction (a panic, a lost connection).
    pub(crate) in_use: bool,
    /// When its last work ended (see `db::PG_CHECK_IDLE_AFTER`).
    pub(crate) last_used: std::time::Instant,
}

/// Statements kept per connection. A statement's text never holds a user's values (they
/// are bound), so the distinct texts are the code's own plus the multi-row `VALUES` of a
/// push's tail by row count (`records::flush`) and export and import lists by length; the
/// bound guards against a code path that would vary its text anyway.
const PG_STATEMENT_CACHE: usize = 512;

impl PgConn {
    pub fn connect(config: &postgres::Config) -> Result<PgConn, DbError> {
        Ok(PgConn {
            client: config.connect(postgres::NoTls)?,
            statements: HashMap::new(),
            in_use: false,
            last_used: std::time::Instant::now(),
        })
    }

    pub fn client(&mut self) -> &mut postgres::Client {
        &mut self.client
    }

    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    fn statement(&mut self, sql: &str) -> Result<postgres::Statement, postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        if self.statements.len() >= PG_STATEMENT_CACHE {
            self.statements.clear();
        }
        let stmt = self.client.prepare(&pg_placeholders(sql))?;
        self.statements.insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }
}

/// An open transaction (or, for SQLite maintenance, a bare connection).
pub struct Tx<'c> {
    inner: Inner<'c>,
    /// A PostgreSQL write that runs beside others ([`Tx::concurrent`]).
    concurrent: bool,
    /// For a concurrent write, the key of the advisory lock that is the change log's turn,
    /// until it is taken (before the first change-log write), then `None`.
    turn: std::cell::Cell<Option<i64>>,
    /// Change-log entries and stamps a concurrent write holds back until its end.
    pub(crate) pending: RefCell<crate::records::Pending>,
    /// Why the transaction should run again (see [`Retry`]), noted when it failed for it.
    retry: std::cell::Cell<Option<Retry>>,
    /// The savepoint [`Tx::savepoint`] works with.
    savepoint: std::cell::Cell<Savepoint>,
    /// The highest change seq this transaction wrote (0: none), the head once it commits.
    logged: std::cell::Cell<i64>,
    /// A statement found the connection gone ([`Tx::connection_lost`]).
    lost: std::cell::Cell<bool>,
    /// The change-log keys of each entity type ([`Tx::keyed`]); without them every entry
    /// is for everyone who reads its type (`*`).
    keys: Option<&'c crate::rules::KeyPlan>,
}

/// The name of the savepoint of [`Tx::savepoint`].
pub const SAVEPOINT: &str = "fieldsync_sp";

/// Where a transaction stands with its savepoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Savepoint {
    None,
    /// Opened with the transaction, nothing done since that matters: the first
    /// [`Tx::savepoint`] uses it as it is (a concurrent write, see [`Tx::concurrent`]).
    Fresh,
    /// In use: the next [`Tx::savepoint`] releases it and opens it again.
    Used,
}

/// Why a concurrent write is run again from the start, in a new transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// It lost a race with another concurrent write: a deadlock, or a row another write
    /// inserted first. Run again, it sees that write.
    Conflict,
    /// It needs to run alone, as an ordered write (it changes who sees what).
    Alone,
}

/// PostgreSQL error codes of a lost race between concurrent writes ([`Retry::Conflict`]):
/// serialization failure, deadlock, and a unique key inserted by a concurrent transaction.
const RACE_CODES: [&str; 3] = ["40001", "40P01", "23505"];

enum Inner<'c> {
    Sqlite(&'c rusqlite::Connection),
    Pg(RefCell<&'c mut PgConn>),
}

impl<'c> Tx<'c> {
    fn new(inner: Inner<'c>) -> Self {
        Tx {
            inner,
            concurrent: false,
            turn: Default::default(),
            pending: Default::default(),
            retry: Default::default(),
            savepoint: std::cell::Cell::new(Savepoint::None),
            logged: Default::default(),
            lost: Default::default(),
            keys: None,
        }
    }

    /// This transaction, writing change-log keys by `plan` (the `Db` opens every
    /// transaction so).
    pub fn keyed(mut self, plan: &'c crate::rules::KeyPlan) -> Self {
        self.keys = Some(plan);
        self
    }

    /// The key expressions of `entity`'s rows, if known (see [`crate::rules::KeyPlan`]).
    pub fn keys_of(&self, entity: &str) -> Option<&[String]> {
        self.keys.and_then(|plan| plan.of(entity))
    }

    pub fn sqlite(conn: &'c rusqlite::Connection) -> Self {
        Tx::new(Inner::Sqlite(conn))
    }

    pub fn postgres(conn: &'c mut PgConn) -> Self {
        Tx::new(Inner::Pg(RefCell::new(conn)))
    }

    /// A PostgreSQL write that runs beside other such writes: `log_lock` is the advisory
    /// lock that serialises the change log, taken once, before this transaction's first
    /// change (see [`Tx::before_change_log`] and `db.rs`). Its `BEGIN` opened [`SAVEPOINT`]
    /// too, saving the first [`Tx::savepoint`] a round trip: only reads may come first.
    pub fn concurrent(conn: &'c mut PgConn, log_lock: i64) -> Self {
        Tx {
            concurrent: true,
            turn: std::cell::Cell::new(Some(log_lock)),
            savepoint: std::cell::Cell::new(Savepoint::Fresh),
            ..Tx::postgres(conn)
        }
    }

    /// The change log's turn for a statement that takes it itself (`records::flush`): the
    /// lock key, if the turn is not taken yet; it counts as taken from here on.
    pub fn turn_to_take(&self) -> Option<i64> {
        self.turn.take()
    }

    /// Whether this write runs beside other writes (and must ask to run alone, or lock
    /// what it reads, where that matters).
    pub fn is_concurrent(&self) -> bool {
        self.concurrent
    }

    /// Called before every write to the change log: a concurrent write takes its turn
    /// here, once, and keeps it until it commits, so seqs commit in the order they are
    /// handed out. Other writes already hold the turn for their whole length.
    pub fn before_change_log(&self) -> Result<(), DbError> {
        if let Some(key) = self.turn.take() {
            self.execute("SELECT pg_advisory_xact_lock(?1)", crate::args![key])?;
        }
        Ok(())
    }

    /// Notes a change seq this transaction wrote to the change log.
    pub fn note_logged(&self, seq: i64) {
        self.logged.set(self.logged.get().max(seq));
    }

    /// The highest change seq this transaction wrote (0 when it logged no change): once it
    /// commits, every change up to it is committed (the seq invariant of `db.rs`).
    pub fn logged(&self) -> i64 {
        self.logged.get()
    }

    /// Fails a concurrent write so that it runs again alone (an ordered write); a no-op
    /// for writes that already run alone.
    pub fn run_alone(&self) -> Result<(), DbError> {
        if !self.is_concurrent() {
            return Ok(());
        }
        self.retry.set(Some(Retry::Alone));
        Err(DbError::Other("this write must run alone".into()))
    }

    /// Why the failed transaction should run again, if it should.
    pub fn retry(&self) -> Option<Retry> {
        self.retry.get()
    }

    /// Whether a statement found the connection gone (see [`DbError::connection_lost`]).
    pub fn connection_lost(&self) -> bool {
        self.lost.get()
    }

    /// Notes a lost race of a concurrent write, so it runs again, and a lost connection.
    fn noting<T>(&self, r: Result<T, postgres::Error>) -> Result<T, DbError> {
        r.map_err(|e| {
            if self.concurrent && e.code().is_some_and(|c| RACE_CODES.contains(&c.code())) {
                self.retry.set(Some(Retry::Conflict));
            }
            let e = DbError::from(e);
            if e.connection_lost() {
                self.lost.set(true);
            }
            e
        })
    }

    pub fn backend(&self) -> Backend {
        match self.inner {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::Pg(_) => Backend::Postgres,
        }
    }

    /// Runs statements without parameters or results (migrations, transaction control).
    pub fn batch(&self, sql: &str) -> Result<(), DbError> {
        match &self.inner {
            Inner::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Inner::Pg(c) => self.noting(c.borrow_mut().client.batch_execute(sql)),
        }
    }

    /// Runs one statement; returns the number of rows it changed.
    pub fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64, DbError> {
        match &self.inner {
            Inner::Sqlite(c) => {
                let n = c.prepare_cached(sql)?.execute(rusqlite::params_from_iter(params.iter()))?;
                Ok(n as u64)
            }
            Inner::Pg(c) => {
                let mut c = c.borrow_mut();
                let stmt = self.noting(c.statement(sql))?;
                self.noting(c.client.execute(&stmt, &pg_params(params)))
            }
        }
    }

    /// Calls `f` for each row until it returns `false`.
    pub fn for_each(
        &self,
        sql: &str,
        params: &[SqlValue],
        f: impl FnMut(&Row<'_>) -> Result<bool, DbError>,
    ) -> Result<(), DbError> {
        self.rows(sql, params, Plan::Reused, f)
    }

    /// [`Tx::for_each`] with a plan made for these parameters. On PostgreSQL the statement is
    /// prepared afresh (one round trip and its planning more) instead of reused: a reused
    /// statement switches to a generic plan after five runs, and for a pull page of a
    /// user's catalogue that plan was 500 times slower (100 ms against 0.2 ms, rebuilding
    /// the user's visibility set for every row; docs/PERFORMANCE.md). For big reads only:
    /// planning a visibility statement takes 2-3 ms. SQLite plans with the values anyway.
    pub fn for_each_planned(
        &self,
        sql: &str,
        params: &[SqlValue],
        f: impl FnMut(&Row<'_>) -> Result<bool, DbError>,
    ) -> Result<(), DbError> {
        self.rows(sql, params, Plan::ForTheseValues, f)
    }

    fn rows(
        &self,
        sql: &str,
        params: &[SqlValue],
        plan: Plan,
        mut f: impl FnMut(&Row<'_>) -> Result<bool, DbError>,
    ) -> Result<(), DbError> {
        let mut buf = Vec::new();
        match &self.inner {
            Inner::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
                while let Some(r) = rows.next()? {
                    if !f(&Row { inner: RowInner::Sqlite(r) })? {
                        break;
                    }
                }
            }
            Inner::Pg(c) => {
                let mut c = c.borrow_mut();
                let stmt = match plan {
                    Plan::Reused => self.noting(c.statement(sql))?,
                    Plan::ForTheseValues => self.noting(c.client.prepare(&pg_placeholders(sql)))?,
                };
                for r in self.noting(c.client.query(&stmt, &pg_params(params)))? {
                    buf.clear();
                    for i in 0..r.len() {
                        buf.push(r.try_get::<_, SqlValue>(i)?);
                    }
                    if !f(&Row { inner: RowInner::Values(&buf) })? {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Every row, each mapped by `f`.
    pub fn query<T>(
        &self,
        sql: &str,
        params: &[SqlValue],
        mut f: impl FnMut(&Row<'_>) -> Result<T, DbError>,
    ) -> Result<Vec<T>, DbError> {
        let mut out = Vec::new();
        self.for_each(sql, params, |r| {
            out.push(f(r)?);
            Ok(true)
        })?;
        Ok(out)
    }

    /// The first row mapped by `f`, or `None`.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        params: &[SqlValue],
        f: impl FnOnce(&Row<'_>) -> Result<T, DbError>,
    ) -> Result<Option<T>, DbError> {
        let mut f = Some(f);
        let mut out = None;
        self.for_each(sql, params, |r| {
            if let Some(f) = f.take() {
                out = Some(f(r)?);
            }
            Ok(false)
        })?;
        Ok(out)
    }

    /// The first row mapped by `f`; [`DbError::NoRows`] when there is none.
    pub fn query_one<T>(
        &self,
        sql: &str,
        params: &[SqlValue],
        f: impl FnOnce(&Row<'_>) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        self.query_opt(sql, params, f)?.ok_or(DbError::NoRows)
    }

    /// The first column of the first row.
    pub fn value<T: FromSqlValue>(&self, sql: &str, params: &[SqlValue]) -> Result<T, DbError> {
        self.query_one(sql, params, |r| r.get(0))
    }

    /// Runs `f` inside a savepoint: kept when `f` returns `(value, true)`, rolled back
    /// when it returns `(value, false)`. Errors abandon the whole transaction anyway.
    /// Savepoints do not nest: `f` must not open another.
    ///
    /// A kept savepoint is released only when the next one is opened (in the same round
    /// trip), and the last one by the commit: one round trip per savepoint, not two.
    pub fn savepoint<T, E: From<DbError>>(&self, f: impl FnOnce(&Self) -> Result<(T, bool), E>) -> Result<T, E> {
        match self.savepoint.replace(Savepoint::Used) {
            Savepoint::Used => self.batch(&format!("RELEASE SAVEPOINT {SAVEPOINT}; SAVEPOINT {SAVEPOINT}"))?,
            Savepoint::None => self.batch(&format!("SAVEPOINT {SAVEPOINT}"))?,
            Savepoint::Fresh => {}
        }
        // What the write holds back for its end is rolled back with the savepoint too.
        let mark = self.pending.borrow().mark();
        let (value, keep) = f(self)?;
        if !keep {
            // The savepoint stays, empty, until the next one or the commit.
            self.batch(&format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}"))?;
            self.pending.borrow_mut().undo_to(mark);
        }
        Ok(value)
    }
}

/// Rewrites `?N` placeholders to PostgreSQL's `$N` (outside quoted literals).
fn pg_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        if c == '?' && !quoted && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

fn pg_params(params: &[SqlValue]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

type BoxError = Box<dyn StdError + Sync + Send>;

impl ToSql for SqlValue {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        match (self, ty) {
            (SqlValue::Null, _) => Ok(IsNull::Yes),
            (SqlValue::Int(i), &Type::INT8) => i.to_sql(ty, out),
            (SqlValue::Int(i), &Type::INT4) => i32::try_from(*i)?.to_sql(ty, out),
            (SqlValue::Int(i), &Type::INT2) => i16::try_from(*i)?.to_sql(ty, out),
            (SqlValue::Int(i), &Type::BOOL) => (*i != 0).to_sql(ty, out),
            (SqlValue::Int(i), &Type::FLOAT8) => (*i as f64).to_sql(ty, out),
            (SqlValue::Int(i), &Type::TEXT | &Type::VARCHAR) => i.to_string().to_sql(ty, out),
            (SqlValue::Real(r), &Type::FLOAT8) => r.to_sql(ty, out),
            (SqlValue::Real(r), &Type::FLOAT4) => (*r as f32).to_sql(ty, out),
            (SqlValue::Text(t), _) if <&str as ToSql>::accepts(ty) => t.as_str().to_sql(ty, out),
            (v, ty) => Err(format!("cannot pass {} as a PostgreSQL {ty} parameter", v.kind()).into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for SqlValue {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(match *ty {
            Type::INT8 => SqlValue::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => SqlValue::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => SqlValue::Int(i16::from_sql(ty, raw)?.into()),
            Type::BOOL => SqlValue::Int(bool::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => SqlValue::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => SqlValue::Real(f32::from_sql(ty, raw)?.into()),
            _ => SqlValue::Text(String::from_sql(ty, raw)?),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(SqlValue::Null)
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::INT8 | Type::INT4 | Type::INT2 | Type::BOOL | Type::FLOAT8 | Type::FLOAT4)
            || <String as FromSql>::accepts(ty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_rewritten_outside_literals_only() {
        assert_eq!(
            pg_placeholders("SELECT '?1', x FROM t WHERE a = ?1 AND b IN ('', ?12)"),
            "SELECT '?1', x FROM t WHERE a = $1 AND b IN ('', $12)"
        );
    }

    #[test]
    fn sqlite_round_trip_through_the_shared_interface() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let tx = Tx::sqlite(&conn);
        tx.batch("CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER, r REAL, b INTEGER)").unwrap();
        tx.execute("INSERT INTO t VALUES (?1, ?2, ?3, ?4)", crate::args!["a", 5i64, 1.5, true]).unwrap();
        let (n, r, b): (i64, f64, bool) = tx
            .query_one("SELECT n, r, b FROM t WHERE id = ?1", crate::args!["a"], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!((n, r, b), (5, 1.5, true));
        assert!(tx.query_opt("SELECT n FROM t WHERE id = 'z'", crate::args![], |r| r.get::<i64>(0)).unwrap().is_none());
        let err = tx.value::<String>("SELECT n FROM t", crate::args![]).unwrap_err();
        assert_eq!(err.to_string(), "column 0 holds an integer, expected text");
        let kept = tx.savepoint(|tx| -> Result<((), bool), DbError> {
            tx.execute("DELETE FROM t", crate::args![])?;
            Ok(((), false))
        });
        kept.unwrap();
        assert_eq!(tx.value::<i64>("SELECT count(*) FROM t", crate::args![]).unwrap(), 1);
    }
}
