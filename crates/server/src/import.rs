//! Loading a company's own data from CSV or JSON Lines: `fieldsync-server import` and
//! `POST /v1/integration/import/{entity}` share this code.
//!
//! Written once against the registry: any type with a business key ([`EntityDef::key`])
//! and `importable` loads the same way, with no per-type code.
//!
//! - **Upsert by business key.** A row whose key matches a record updates the columns the
//!   file has (others keep their value); otherwise it creates a record. A reference column
//!   keeps its registry name and takes an id or the referenced record's code
//!   (`territory_id` = `NORTH`).
//! - **Push rules.** Each value is checked as a push would check it (type, range, length,
//!   required fields, references); server-owned fields may be set here. A bad row gets one
//!   [`RowError`] naming its line, field and reason.
//! - **Through the change log.** A changed record is logged like any write, so the users
//!   who can see it pull it and their long polls wake; a record whose territory (or other
//!   scope field) changes moves between users as a territory change does
//!   ([`reassign::MovePlan`]). Unchanged rows log nothing: re-running a file is a no-op.
//!   Fields of client-editable types get edit stamps, so an older offline edit does not
//!   silently overwrite an imported value (it shows in the conflict log).
//! - **Batches.** Rows are read as a stream and written [`BATCH_ROWS`] at a time, each
//!   batch in its own transaction, so a huge file neither holds the writer for long nor
//!   lives in memory. With `all_or_nothing` (or `dry_run`) everything is one transaction,
//!   rolled back when any row is bad (or always).
//! - **Retiring.** With `delete_missing`, records the file does not name are retired:
//!   types with an active field ([`EntityDef::active_field`]) are archived, others deleted
//!   unless something still refers to them. Skipped when any row was rejected, since a
//!   rejected row's record would otherwise be retired by mistake.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Read};

use fieldsync_protocol::{
    check_write, parse_cli_value, validate_value, EntityDef, FieldDef, FieldDefault, FieldStrategy, FieldType,
    Registry, Strategy,
};
use fieldsync_sqlkit::column_list;
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::db::Db;
use crate::reassign;
use crate::records;
use crate::rules;
use crate::sql::{DbError, SqlValue, Tx};

/// Rows written per transaction (and looked up per query, in chunks of [`LOOKUP_ROWS`]).
pub const BATCH_ROWS: usize = 10_000;
const LOOKUP_ROWS: usize = 500;
/// Records changed by one import above which the table's statistics are refreshed.
const ANALYZE_AFTER: u64 = 10_000;
/// The `user_id` and `client_id` of the edit stamps an import writes.
pub const IMPORT_WRITER: &str = "import";
/// Row errors kept in a report (all are counted and all go to the rejected file).
pub const MAX_REPORTED_ERRORS: usize = 1_000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Csv,
    Jsonl,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            _ => None,
        }
    }

    /// The format a file name suggests: `.jsonl`/`.ndjson` or else CSV.
    pub fn guess(path: &std::path::Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("jsonl" | "ndjson") => Format::Jsonl,
            _ => Format::Csv,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub format: Format,
    /// Check everything, store nothing.
    pub dry_run: bool,
    /// Store nothing when any row is bad.
    pub all_or_nothing: bool,
    /// Retire the records of the type the file does not name.
    pub delete_missing: bool,
}

/// One bad row: where, which field (when one is to blame), and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RowError {
    pub line: u64,
    pub field: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "line {}, {field}: {}", self.line, self.reason),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

/// What an import did (or, for a dry run or a refused all-or-nothing run, would have done).
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Report {
    pub entity: String,
    /// Data rows read.
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    /// Records retired by `delete_missing`: archived (active set to false) or deleted.
    pub archived: u64,
    pub deleted: u64,
    /// Records `delete_missing` kept because others still refer to them.
    pub kept_in_use: u64,
    /// Whether the changes above were stored (false for a dry run, and for an
    /// all-or-nothing run with a bad row).
    pub stored: bool,
    pub dry_run: bool,
    /// The first [`MAX_REPORTED_ERRORS`] bad rows, in file order.
    pub errors: Vec<RowError>,
    /// Why `delete_missing` was not applied, when it was asked for and was not.
    pub delete_missing_skipped: Option<String>,
}

impl Report {
    /// Records written (created, updated or retired).
    pub fn changed(&self) -> u64 {
        self.created + self.updated + self.archived + self.deleted
    }

    /// The lines a person reads after an import.
    pub fn summary(&self) -> String {
        let verb = match (self.stored, self.dry_run) {
            (_, true) => "dry run: nothing was stored",
            (true, false) => "",
            (false, false) => "nothing was stored, because rows were rejected",
        };
        let mut out = format!(
            "{}: {} rows read; {} created, {} updated, {} unchanged, {} rejected",
            self.entity, self.rows, self.created, self.updated, self.unchanged, self.rejected
        );
        if self.archived + self.deleted + self.kept_in_use > 0 {
            out.push_str(&format!(
                "; {} archived, {} deleted, {} kept because other records refer to them",
                self.archived, self.deleted, self.kept_in_use
            ));
        }
        if !verb.is_empty() {
            out.push_str(&format!(" ({verb})"));
        }
        if let Some(why) = &self.delete_missing_skipped {
            out.push_str(&format!("\nrecords missing from the file were left alone: {why}"));
        }
        out
    }
}

/// Why an import could not run at all (as opposed to rows it rejected).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot write the rejected rows to {path}: {source}")]
    Rejected { path: String, source: std::io::Error },
    /// Internal: unwinds the transaction of a dry run or a refused all-or-nothing run.
    #[error("rolled back")]
    Rollback,
}

/// The types `import` loads, for messages.
pub fn importable(reg: &Registry) -> Vec<&'static str> {
    reg.entities().iter().filter(|e| e.importable).map(|e| e.name).collect()
}

/// The importable type called `entity`, or an error listing the ones there are.
pub fn entity<'r>(reg: &'r Registry, entity: &str) -> Result<&'r EntityDef, ImportError> {
    match reg.get(entity) {
        Some(def) if def.importable => Ok(def),
        Some(def) => Err(ImportError::Input(format!(
            "{} cannot be imported{}; importable types: {}",
            def.name,
            if def.name == "users" { " (use `fieldsync-server user add`)" } else { " (it has no business key)" },
            importable(reg).join(", ")
        ))),
        None => Err(ImportError::Input(format!(
            "there is no entity type '{entity}'; importable types: {}",
            importable(reg).join(", ")
        ))),
    }
}

/// A row of the file: its line, its cells by field (`None`: column absent, keep the
/// stored value), the `id` column if any, and its text for the rejected file.
struct InputRow {
    line: u64,
    id: Option<String>,
    cells: Vec<Option<Value>>,
    raw: Raw,
}

/// A row's text as the file had it, kept for the rejected file.
enum Raw {
    Csv(csv::StringRecord),
    Line(String),
}

impl Raw {
    fn cells(&self) -> Vec<String> {
        match self {
            Raw::Csv(record) => record.iter().map(String::from).collect(),
            Raw::Line(text) => vec![text.clone()],
        }
    }
}

/// Reads rows from CSV (a header naming fields) or JSON Lines (one object per line).
pub struct Source<R: BufRead> {
    format: Format,
    csv: Option<csv::Reader<R>>,
    lines: Option<std::io::Lines<R>>,
    line: u64,
    /// CSV: for each column, the field index (or `None` for `id`).
    columns: Vec<Option<usize>>,
    pub header: Vec<String>,
}

impl<R: BufRead> Source<R> {
    pub fn new(def: &EntityDef, format: Format, input: R) -> Result<Self, ImportError> {
        match format {
            Format::Csv => {
                let mut reader = csv::ReaderBuilder::new().has_headers(true).trim(csv::Trim::All).from_reader(input);
                let header: Vec<String> = reader
                    .headers()
                    .map_err(|e| ImportError::Input(format!("cannot read the header line: {e}")))?
                    .iter()
                    .map(|h| h.trim_start_matches('\u{feff}').to_string())
                    .collect();
                let mut columns = Vec::new();
                let mut seen = HashSet::new();
                for (i, name) in header.iter().enumerate() {
                    if !seen.insert(name.as_str()) {
                        return Err(ImportError::Input(format!("the header names column '{name}' twice")));
                    }
                    columns.push(
                        column(def, name)
                            .map_err(|e| ImportError::Input(format!("column {} of the header: {e}", i + 1)))?,
                    );
                }
                if let Some(key) = def.key {
                    if let Some(missing) = key.iter().find(|k| !header.iter().any(|h| h == *k)) {
                        return Err(ImportError::Input(format!(
                            "the header has no '{missing}' column; {} records are matched by {}",
                            def.name,
                            key.join(" + ")
                        )));
                    }
                }
                Ok(Source { format, csv: Some(reader), lines: None, line: 1, columns, header })
            }
            Format::Jsonl => Ok(Source {
                format,
                csv: None,
                lines: Some(input.lines()),
                line: 0,
                columns: Vec::new(),
                header: Vec::new(),
            }),
        }
    }

    /// The next row, or a row-level error for a line that cannot be read as one.
    fn next(&mut self, def: &EntityDef) -> Option<Result<InputRow, (RowError, Vec<String>)>> {
        match self.format {
            Format::Csv => {
                let reader = self.csv.as_mut()?;
                let mut record = csv::StringRecord::new();
                match reader.read_record(&mut record) {
                    Ok(false) => None,
                    Ok(true) => {
                        let line = record.position().map_or(self.line + 1, |p| p.line());
                        self.line = line;
                        let mut row = InputRow {
                            line,
                            id: None,
                            cells: vec![None; def.fields.len()],
                            raw: Raw::Line(String::new()),
                        };
                        for (cell, column) in record.iter().zip(&self.columns) {
                            match column {
                                Some(i) => row.cells[*i] = Some(text_cell(cell)),
                                None => row.id = Some(cell.to_string()).filter(|s| !s.is_empty()),
                            }
                        }
                        row.raw = Raw::Csv(record);
                        Some(Ok(row))
                    }
                    Err(e) => {
                        let line = e.position().map_or(self.line + 1, |p| p.line());
                        self.line = line;
                        let reason = match e.kind() {
                            csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                                format!("has {len} columns, the header has {expected_len}")
                            }
                            _ => format!("cannot be read as CSV: {e}"),
                        };
                        let error = RowError { line, field: None, reason };
                        // After a malformed record the reader cannot be trusted to resync.
                        if !matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. }) {
                            self.csv = None;
                        }
                        Some(Err((error, Vec::new())))
                    }
                }
            }
            Format::Jsonl => loop {
                let text = match self.lines.as_mut()?.next()? {
                    Ok(text) => text,
                    Err(e) => {
                        self.lines = None;
                        let line = self.line + 1;
                        return Some(Err((
                            RowError { line, field: None, reason: format!("cannot be read: {e}") },
                            Vec::new(),
                        )));
                    }
                };
                self.line += 1;
                let line = self.line;
                if text.trim().is_empty() {
                    continue;
                }
                let fail = |field: Option<&str>, reason: String| {
                    Some(Err((RowError { line, field: field.map(String::from), reason }, vec![text.clone()])))
                };
                let object = match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Object(o)) => o,
                    Ok(_) => return fail(None, "is not a JSON object".into()),
                    Err(e) => return fail(None, format!("is not valid JSON: {e}")),
                };
                let mut row =
                    InputRow { line, id: None, cells: vec![None; def.fields.len()], raw: Raw::Line(text.clone()) };
                for (name, value) in object {
                    match column(def, &name) {
                        Ok(Some(i)) => row.cells[i] = Some(value),
                        Ok(None) => row.id = value.as_str().map(String::from),
                        Err(e) => return fail(Some(&name), e),
                    }
                }
                return Some(Ok(row));
            },
        }
    }
}

/// The field a column names (`None` for `id`).
fn column(def: &EntityDef, name: &str) -> Result<Option<usize>, String> {
    if name == "id" {
        return Ok(None);
    }
    def.fields.iter().position(|f| f.name == name).map(Some).ok_or_else(|| {
        format!(
            "{} has no field '{name}'; its fields are id, {}",
            def.name,
            def.field_names().collect::<Vec<_>>().join(", ")
        )
    })
}

/// A CSV cell: empty means no value.
fn text_cell(cell: &str) -> Value {
    match cell {
        "" => Value::Null,
        text => Value::String(text.to_string()),
    }
}

/// A cell as the field's JSON value (references are resolved separately).
fn typed(field: &FieldDef, value: Value) -> Result<Value, String> {
    let value = match value {
        Value::String(s) if s.is_empty() => Value::Null,
        Value::String(s) if matches!(field.ty, FieldType::Int | FieldType::Real | FieldType::Bool) => {
            return parse_cli_value(field, s.trim()).map_err(|e| format!("must be {}, got '{s}'", e.expected));
        }
        v => v,
    };
    // A reference is an id or a code here; `References` resolves and checks it.
    if value.is_null() || (field.references().is_some() && value.is_string()) {
        return Ok(value);
    }
    let mut probe = *field;
    probe.required = false;
    validate_value(&probe, &value).map_err(|e| format!("must be {}, got {}", e.expected, e.got))?;
    Ok(value)
}

/// Ids of referenced records by the text a file gives for them (an id or a code).
#[derive(Default)]
struct References {
    /// By type, then by the text the file gave (`None`: nothing has it).
    known: HashMap<&'static str, HashMap<String, Option<String>>>,
}

impl References {
    /// Resolves every not yet known (type, text) pair with one query per type.
    fn resolve(
        &mut self,
        tx: &Tx<'_>,
        reg: &Registry,
        wanted: HashMap<&'static str, HashSet<String>>,
    ) -> Result<(), DbError> {
        for (target, texts) in wanted {
            let Some(def) = reg.get(target) else { continue };
            let known = self.known.entry(target).or_default();
            let texts: Vec<String> = texts.into_iter().filter(|t| !known.contains_key(t)).collect();
            for chunk in texts.chunks(LOOKUP_ROWS) {
                let code = def.code_field();
                let params: Vec<SqlValue> = chunk.iter().map(SqlValue::from).collect();
                let list = (1..=chunk.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
                let sql = match code {
                    Some(code) => format!(
                        "SELECT id, \"{code}\" FROM \"{target}\" WHERE id IN ({list}) OR \"{code}\" IN ({list})"
                    ),
                    None => format!("SELECT id, id FROM \"{target}\" WHERE id IN ({list})"),
                };
                for text in chunk {
                    known.insert(text.clone(), None);
                }
                tx.for_each(&sql, &params, |r| {
                    let (id, code): (String, Option<String>) = (r.get(0)?, r.get(1)?);
                    known.insert(id.clone(), Some(id.clone()));
                    if let Some(code) = code {
                        known.insert(code, Some(id));
                    }
                    Ok(true)
                })?;
            }
        }
        Ok(())
    }

    fn knows(&self, target: &'static str, text: &str) -> bool {
        self.known.get(target).is_some_and(|k| k.contains_key(text))
    }

    fn get(&self, target: &'static str, text: &str) -> Option<&String> {
        self.known.get(target).and_then(|k| k.get(text)).and_then(Option::as_ref)
    }
}

/// Stored records (id, values) by key; more than one means the key is ambiguous.
type Stored = HashMap<Vec<String>, Vec<(String, Vec<Value>)>>;

/// A row checked and ready: the record's id, its values after the row, and what was there.
struct Planned {
    id: String,
    values: Vec<Value>,
    before: Option<Vec<Value>>,
}

/// The import of one file into one type, fed a batch at a time.
pub struct Importer<'r> {
    reg: &'r Registry,
    def: &'r EntityDef,
    now_ms: i64,
    references: References,
    /// Records the file named so far, with the line that named them.
    named: HashMap<Uuid, u64>,
    pub report: Report,
    rejected: Option<RejectedFile>,
    /// This batch's bad rows, reported in line order when the batch ends.
    bad: Vec<(RowError, Vec<String>)>,
    rng: rand::rngs::StdRng,
    created_ids: u32,
}

/// Where bad rows go: the file's header plus a `reason` column (which names the line),
/// each bad row verbatim; fix the rows, drop the column, and import the file again.
pub struct RejectedFile {
    path: std::path::PathBuf,
    writer: Option<csv::Writer<std::fs::File>>,
    header: Vec<String>,
}

impl RejectedFile {
    pub fn new(path: std::path::PathBuf) -> Self {
        RejectedFile { path, writer: None, header: Vec::new() }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn write(&mut self, error: &RowError, raw: &[String]) -> Result<(), ImportError> {
        let failed = |source| ImportError::Rejected { path: self.path.display().to_string(), source };
        if self.writer.is_none() {
            let mut w = csv::Writer::from_writer(std::fs::File::create(&self.path).map_err(failed)?);
            let mut header = self.header.clone();
            header.push("reason".into());
            w.write_record(&header).map_err(|e| failed(e.into()))?;
            self.writer = Some(w);
        }
        let w = self.writer.as_mut().expect("opened above");
        let mut record = raw.to_vec();
        record.push(error.to_string());
        w.write_record(&record)
            .map_err(|e| ImportError::Rejected { path: self.path.display().to_string(), source: e.into() })
    }

    fn finish(&mut self) -> Result<(), ImportError> {
        if let Some(w) = self.writer.as_mut() {
            w.flush().map_err(|source| ImportError::Rejected { path: self.path.display().to_string(), source })?;
        }
        Ok(())
    }
}

impl<'r> Importer<'r> {
    pub fn new(reg: &'r Registry, def: &'r EntityDef, now_ms: i64, rejected: Option<RejectedFile>) -> Self {
        Importer {
            reg,
            def,
            now_ms,
            references: References::default(),
            named: HashMap::new(),
            report: Report { entity: def.name.to_string(), ..Report::default() },
            rejected,
            bad: Vec::new(),
            rng: rand::SeedableRng::from_entropy(),
            created_ids: 0,
        }
    }

    /// A time-ordered (v7) id for a new record: the import's time, then a counter (so the
    /// ids of one import ascend and land at the end of the index), then random bits from a
    /// seeded generator (no system call per record).
    fn new_id(&mut self) -> String {
        use rand::Rng;
        let mut random = [0u8; 10];
        self.rng.fill(&mut random);
        // 28 counter bits around the version nibble and the variant bits the builder sets.
        self.created_ids += 1;
        let c = self.created_ids;
        random[0] = (c >> 24) as u8 & 0x0F;
        random[1] = (c >> 16) as u8;
        random[2] = (c >> 10) as u8 & 0x3F;
        random[3] = (c >> 2) as u8;
        random[4] = (c << 6) as u8 | (random[4] & 0x3F);
        let ms = u64::try_from(self.now_ms).unwrap_or_default();
        uuid::Builder::from_unix_timestamp_millis(ms, &random).into_uuid().to_string()
    }

    fn reject(&mut self, error: RowError, raw: &Raw) -> Result<(), ImportError> {
        self.report.rejected += 1;
        self.bad.push((error, raw.cells()));
        Ok(())
    }

    /// Reports the bad rows gathered so far, in line order.
    fn flush_rejected(&mut self) -> Result<(), ImportError> {
        let mut bad = std::mem::take(&mut self.bad);
        bad.sort_by_key(|(e, _)| e.line);
        for (error, raw) in bad {
            if let Some(file) = self.rejected.as_mut() {
                file.write(&error, &raw)?;
            }
            if self.report.errors.len() < MAX_REPORTED_ERRORS {
                self.report.errors.push(error);
            }
        }
        Ok(())
    }

    /// Checks and writes one batch of rows in `tx`.
    fn batch(&mut self, tx: &Tx<'_>, rows: Vec<InputRow>) -> Result<(), ImportError> {
        let def = self.def;
        if tx.backend() == crate::sql::Backend::Postgres {
            // The table grows under this import: plans cached while it was small would scan
            // it whole for every lookup. Plan each statement with the table as it is.
            tx.batch("SET LOCAL plan_cache_mode = force_custom_plan")?;
        }
        // 1. Cells to typed values; references gathered for one lookup per type.
        let mut wanted: HashMap<&'static str, HashSet<String>> = HashMap::new();
        let mut good = Vec::with_capacity(rows.len());
        for mut row in rows {
            self.report.rows += 1;
            let mut bad = None;
            for (field, cell) in def.fields.iter().zip(row.cells.iter_mut()) {
                let Some(value) = cell.take() else { continue };
                match typed(field, value) {
                    Ok(v) => {
                        if let (Some(target), Some(text)) = (field.references(), v.as_str()) {
                            if !self.references.knows(target, text) {
                                wanted.entry(target).or_default().insert(text.to_string());
                            }
                        }
                        *cell = Some(v);
                    }
                    Err(reason) => {
                        bad = Some(RowError { line: row.line, field: Some(field.name.into()), reason });
                        break;
                    }
                }
            }
            if bad.is_none() {
                if let Some(id) = &row.id {
                    if Uuid::parse_str(id).is_err() {
                        bad = Some(RowError {
                            line: row.line,
                            field: Some("id".into()),
                            reason: format!("must be a record id (a UUID), got '{id}'"),
                        });
                    }
                }
            }
            match bad {
                Some(e) => self.reject(e, &row.raw)?,
                None => good.push(row),
            }
        }
        self.references.resolve(tx, self.reg, wanted)?;
        // 2. References to ids, keys complete.
        let mut keyed = Vec::with_capacity(good.len());
        for mut row in good {
            match self.resolve_row(&mut row) {
                Ok(key) => keyed.push((row, key)),
                Err(e) => self.reject(e, &row.raw)?,
            }
        }
        // 3. The stored records these keys name.
        let keys: Vec<&Vec<String>> = keyed.iter().map(|(_, k)| k).collect();
        let existing = self.lookup(tx, &keys)?;
        // 4. Each row against what is stored (and earlier rows of this file).
        let mut planned = Vec::new();
        let mut new_keys: HashMap<Vec<String>, u64> = HashMap::new();
        for (row, key) in keyed {
            let found = existing.get(&key);
            if found.is_none() {
                // Two rows creating the same record: the first one wins, the rest are bad.
                match new_keys.entry(key) {
                    std::collections::hash_map::Entry::Occupied(first) => {
                        let reason = format!("names the same record as line {}", first.get());
                        self.reject(RowError { line: row.line, field: None, reason }, &row.raw)?;
                        continue;
                    }
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(row.line);
                    }
                }
            }
            match self.plan(tx, &row, found)? {
                Ok(Some(p)) => planned.push(p),
                Ok(None) => self.report.unchanged += 1,
                Err(e) => self.reject(e, &row.raw)?,
            }
        }
        // 5. Writes, with moves published as a territory change would be.
        self.write(tx, planned)?;
        self.flush_rejected()
    }

    /// Replaces reference texts with ids; returns the row's key (field values as text).
    fn resolve_row(&self, row: &mut InputRow) -> Result<Vec<String>, RowError> {
        let def = self.def;
        for (field, cell) in def.fields.iter().zip(row.cells.iter_mut()) {
            let (Some(target), Some(Value::String(text))) = (field.references(), cell.as_ref()) else { continue };
            match self.references.get(target, text) {
                Some(id) => *cell = Some(Value::String(id.clone())),
                None => {
                    let how = match self.reg.get(target).and_then(EntityDef::code_field) {
                        Some(code) => format!("no {target} record has the {code} or id {text}"),
                        None => format!("no {target} record has the id {text}"),
                    };
                    return Err(RowError { line: row.line, field: Some(field.name.into()), reason: how });
                }
            }
        }
        let mut key = Vec::new();
        for name in def.key.unwrap_or_default() {
            let i = def.fields.iter().position(|f| f.name == *name).expect("registry checked the key");
            match row.cells[i].as_ref() {
                Some(Value::String(s)) => key.push(s.clone()),
                Some(Value::Null) | None => {
                    return Err(RowError {
                        line: row.line,
                        field: Some((*name).into()),
                        reason: "is empty, but it is part of what identifies the record".into(),
                    })
                }
                Some(other) => key.push(other.to_string()),
            }
        }
        Ok(key)
    }

    /// Stored records by key, for a batch of keys (one query per [`LOOKUP_ROWS`]).
    fn lookup(&self, tx: &Tx<'_>, keys: &[&Vec<String>]) -> Result<Stored, DbError> {
        let def = self.def;
        let key = def.key.unwrap_or_default();
        let indexes: Vec<usize> =
            key.iter().map(|k| def.fields.iter().position(|f| f.name == *k).expect("key field")).collect();
        let mut out = Stored::new();
        for chunk in keys.chunks(LOOKUP_ROWS) {
            let mut params = Vec::with_capacity(chunk.len() * key.len());
            let mut tuples = Vec::with_capacity(chunk.len());
            for k in chunk {
                let start = params.len();
                params.extend(k.iter().map(SqlValue::from));
                tuples.push(format!(
                    "({})",
                    (start + 1..=params.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
                ));
            }
            let columns = key.iter().map(|k| format!("\"{k}\"")).collect::<Vec<_>>().join(", ");
            let sql = match key.len() {
                1 => format!(
                    "SELECT {} FROM \"{}\" WHERE {columns} IN ({})",
                    column_list(def, None),
                    def.name,
                    tuples.join(", ")
                ),
                _ => format!(
                    "SELECT {} FROM \"{}\" WHERE ({columns}) IN (VALUES {})",
                    column_list(def, None),
                    def.name,
                    tuples.join(", ")
                ),
            };
            tx.for_each(&sql, &params, |r| {
                let row = records::read_row(def, r)?;
                let k: Vec<String> = indexes
                    .iter()
                    .map(|&i| match &row.values[i] {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                out.entry(k).or_default().push((row.id, row.values));
                Ok(true)
            })?;
        }
        Ok(out)
    }

    /// Decides what a row does: `None` when it changes nothing.
    fn plan(
        &mut self,
        tx: &Tx<'_>,
        row: &InputRow,
        found: Option<&Vec<(String, Vec<Value>)>>,
    ) -> Result<Result<Option<Planned>, RowError>, ImportError> {
        let def = self.def;
        let fail = |field: Option<&str>, reason: String| {
            Ok(Err(RowError { line: row.line, field: field.map(String::from), reason }))
        };
        let (id, before) = match found.map(Vec::as_slice) {
            Some([(id, values)]) => (id.clone(), Some(values.clone())),
            Some(several) if several.len() > 1 => {
                return fail(
                    None,
                    format!("{} stored {} records have this key; fix them first", several.len(), def.name),
                )
            }
            _ => match &row.id {
                Some(id) if records::exists(tx, def.name, id)? || records::is_deleted(tx, def.name, id)? => {
                    return fail(Some("id"), format!("{id} is already used by a record with another key"))
                }
                Some(id) => (id.clone(), None),
                None => (self.new_id(), None),
            },
        };
        if let (Some(given), Some(_)) = (&row.id, &before) {
            if *given != id {
                return fail(Some("id"), format!("the key belongs to record {id}, not {given}"));
            }
        }
        let uuid = Uuid::parse_str(&id).unwrap_or_default();
        if let Some(first) = self.named.insert(uuid, row.line) {
            return fail(None, format!("names the same record as line {first}"));
        }
        let mut values =
            before.clone().unwrap_or_else(|| def.fields.iter().map(|f| default_value(f, self.now_ms)).collect());
        // The non-empty values this row writes, checked below as a push's would be.
        let mut changes = Map::new();
        for ((field, cell), value) in def.fields.iter().zip(&row.cells).zip(values.iter_mut()) {
            let Some(cell) = cell else { continue };
            if !cell.is_null() && (cell != value || before.is_none()) {
                changes.insert(field.name.to_string(), cell.clone());
            }
            *value = cell.clone();
        }
        if let Some(missing) = def.fields.iter().zip(&values).find(|(f, v)| f.required && v.is_null()) {
            return fail(Some(missing.0.name), "is required but empty".into());
        }
        if before.as_ref() == Some(&values) {
            return Ok(Ok(None));
        }
        // Ranges and lengths as a push checks them; a counter or appended text is
        // imported as its whole value.
        if let Err(v) = check_write(def, &Map::new(), &changes) {
            return fail(Some(&v.field), v.message);
        }
        for field in def.fields.iter().filter(|f| f.unique && def.key != Some(&[f.name][..])) {
            let Some(text) = changes.get(field.name).and_then(Value::as_str) else { continue };
            let taken: i64 = tx.value(
                &format!("SELECT count(*) FROM \"{}\" WHERE \"{}\" = ?1 AND id <> ?2", def.name, field.name),
                crate::args![text, &id],
            )?;
            if taken > 0 {
                return fail(Some(field.name), fieldsync_protocol::duplicate_message(def, field, text));
            }
        }
        Ok(Ok(Some(Planned { id, values, before })))
    }

    fn write(&mut self, tx: &Tx<'_>, planned: Vec<Planned>) -> Result<(), ImportError> {
        let def = self.def;
        let scope_fields = rules::scope_fields(&def.scope);
        let moves: Vec<reassign::Move> = planned
            .iter()
            .filter_map(|p| {
                let before = p.before.as_ref()?;
                let set: std::collections::BTreeMap<&'static str, Option<String>> = def
                    .fields
                    .iter()
                    .enumerate()
                    .filter(|(i, f)| scope_fields.contains(&f.name) && before[*i] != p.values[*i])
                    .map(|(i, f)| (f.name, p.values[i].as_str().map(String::from)))
                    .collect();
                (!set.is_empty()).then(|| reassign::Move { entity: def.name, id: p.id.clone(), set, certain: true })
            })
            .collect();
        let plan = match moves.is_empty() {
            true => None,
            false => Some(reassign::MovePlan::before(tx, self.reg, moves)?),
        };
        let mut befores = Vec::with_capacity(planned.len());
        let mut rows = Vec::with_capacity(planned.len());
        for p in planned {
            befores.push(p.before);
            rows.push((p.id, p.values));
        }
        let seqs = records::upsert_many(tx, def, &rows)?;
        for (((id, values), before), seq) in rows.iter().zip(befores).zip(seqs) {
            if def.strategy == Strategy::LwwPerField {
                for (i, field) in def.fields.iter().enumerate() {
                    let changed = before.as_ref().is_none_or(|b| b[i] != values[i]);
                    if changed && field.strategy == FieldStrategy::Lww {
                        stamp(tx, def.name, id, field.name, self.now_ms, seq)?;
                    }
                }
            }
            match before {
                Some(_) => self.report.updated += 1,
                None => self.report.created += 1,
            }
        }
        if let Some(plan) = plan {
            plan.publish(tx, self.reg, def, &format!("{} changed by an import", def.name), self.now_ms)?;
        }
        Ok(())
    }

    /// Retires the records of the type the file did not name (see the module docs).
    fn retire_missing(&mut self, tx: &Tx<'_>) -> Result<(), ImportError> {
        let def = self.def;
        if self.report.rejected > 0 {
            self.report.delete_missing_skipped =
                Some(format!("{} row(s) were rejected; fix them and import again", self.report.rejected));
            return Ok(());
        }
        let mut missing = Vec::new();
        tx.for_each(&format!("SELECT {} FROM \"{}\"", column_list(def, None), def.name), &[], |r| {
            let row = records::read_row(def, r)?;
            if !Uuid::parse_str(&row.id).is_ok_and(|u| self.named.contains_key(&u)) {
                missing.push(row);
            }
            Ok(true)
        })?;
        for row in missing {
            if let Some(active) = def.active_field {
                let record = row.to_object(def);
                if def.is_inactive(&record) {
                    continue;
                }
                let seq = records::set_server_field(tx, def, &row.id, active, Value::Bool(false))?;
                if def.strategy == Strategy::LwwPerField {
                    stamp(tx, def.name, &row.id, active, self.now_ms, seq)?;
                }
                self.report.archived += 1;
                continue;
            }
            let mut in_use = false;
            for (referrer, field) in self.reg.referrers(def.name) {
                in_use |= tx.value::<bool>(
                    &format!("SELECT EXISTS (SELECT 1 FROM \"{}\" WHERE \"{}\" = ?1)", referrer.name, field.name),
                    crate::args![&row.id],
                )?;
            }
            if in_use {
                self.report.kept_in_use += 1;
            } else {
                records::delete(tx, self.reg, def, &row.id)?;
                self.report.deleted += 1;
            }
        }
        Ok(())
    }
}

/// A new record's value for a field the file leaves out: fixed and time defaults apply;
/// defaults that need a signed-in user or an order do not.
fn default_value(field: &FieldDef, now_ms: i64) -> Value {
    match field.default {
        Some(FieldDefault::Text(text)) => Value::from(text),
        Some(FieldDefault::Today) => Value::from(fieldsync_protocol::time::pricing_day(now_ms)),
        Some(FieldDefault::Now) => Value::from(fieldsync_protocol::time::rfc3339_ms(now_ms)),
        _ => Value::Null,
    }
}

/// An import's edit stamp: a later offline edit still wins, an earlier one loses visibly.
fn stamp(tx: &Tx<'_>, entity: &str, id: &str, field: &str, at: i64, seq: i64) -> Result<(), DbError> {
    records::stamp(
        tx,
        entity,
        id,
        field,
        &records::Writer { user_id: IMPORT_WRITER, client_id: IMPORT_WRITER, at_ms: at },
        seq,
    )
}

/// Imports `input` into `entity`: checks the header, then runs the batches (see the module
/// docs for the transaction rules). Bad rows go to `rejected` when given.
pub fn run(
    db: &Db,
    reg: &Registry,
    def: &EntityDef,
    input: impl Read,
    options: Options,
    rejected: Option<RejectedFile>,
    now_ms: i64,
) -> Result<Report, ImportError> {
    let format = options.format;
    let mut source = Source::new(def, format, std::io::BufReader::new(input))?;
    let mut rejected = rejected;
    if let Some(file) = rejected.as_mut() {
        file.header = match format {
            Format::Csv => source.header.clone(),
            Format::Jsonl => vec!["record".into()],
        };
    }
    let mut importer = Importer::new(reg, def, now_ms, rejected);
    let one_transaction = options.dry_run || options.all_or_nothing;
    let next_batch =
        |source: &mut Source<_>, importer: &mut Importer<'_>| -> Result<Option<Vec<InputRow>>, ImportError> {
            let mut rows = Vec::with_capacity(BATCH_ROWS);
            while rows.len() < BATCH_ROWS {
                match source.next(def) {
                    None => break,
                    Some(Ok(row)) => rows.push(row),
                    Some(Err((error, raw))) => {
                        let raw = Raw::Line(raw.join(","));
                        importer.report.rows += 1;
                        importer.reject(error, &raw)?;
                    }
                }
            }
            Ok((!rows.is_empty()).then_some(rows))
        };
    if one_transaction {
        let outcome = db.write_blocking(|tx| {
            while let Some(rows) = next_batch(&mut source, &mut importer)? {
                importer.batch(tx, rows)?;
            }
            if options.delete_missing {
                importer.retire_missing(tx)?;
            }
            match options.dry_run || importer.report.rejected > 0 {
                true => Err(ImportError::Rollback),
                false => Ok(()),
            }
        });
        match outcome {
            Ok(()) => importer.report.stored = true,
            Err(ImportError::Rollback) => importer.report.stored = false,
            Err(e) => return Err(e),
        }
    } else {
        loop {
            let mut more = true;
            db.write_blocking(|tx| {
                match next_batch(&mut source, &mut importer)? {
                    Some(rows) => importer.batch(tx, rows)?,
                    None => more = false,
                }
                Ok::<_, ImportError>(())
            })?;
            if !more {
                break;
            }
        }
        if options.delete_missing {
            db.write_blocking(|tx| importer.retire_missing(tx))?;
        }
        importer.report.stored = true;
    }
    importer.report.dry_run = options.dry_run;
    if importer.report.stored && importer.report.changed() >= ANALYZE_AFTER {
        // Fresh statistics, so the server's queries plan for the table's new size.
        db.write_unordered_blocking(|tx| tx.batch(&format!("ANALYZE \"{}\"", def.name)))?;
    }
    if let Some(file) = importer.rejected.as_mut() {
        file.finish()?;
    }
    Ok(importer.report)
}
