//! Getting records out, for an ERP: `fieldsync-server export` and
//! `GET /v1/integration/export/{entity}` share this code.
//!
//! An export reads the change log, not the tables: it returns the records of a type whose
//! latest change is after a cursor (a change seq), in seq order, and the cursor to
//! continue from. Because every write allocates its seqs inside the one serialised writer
//! transaction (see `db.rs`), a reader never sees seq N+1 before seq N is committed: a page
//! read in one snapshot up to the head misses nothing that a later page would skip, and a
//! record appears again only when it changed again. Run after run from the returned
//! cursor, every record is exported once per change: exactly once, even while reps push.
//!
//! References are written as the referenced record's code where it has one (`customer_id`
//! = `CX-9001`, `product_id` = `SKU-0042`), ids otherwise. Records with children (an order
//! and its lines, [`EntityDef::children`]) carry them: nested in JSON, one row per child
//! in CSV.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use fieldsync_protocol::{EntityDef, FieldType, Registry};
use fieldsync_sqlkit::column_list;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::records;
use crate::sql::{DbError, SqlValue, Tx};

/// Most records one page holds.
pub const MAX_PAGE: usize = 1_000;

/// One page of an export.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page {
    pub entity: String,
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<Map<String, Value>>,
    /// Pass this as the next request's cursor (`--since`).
    pub next_cursor: i64,
    /// More records are waiting after `next_cursor` right now.
    pub more: bool,
}

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Records whose latest change is after this cursor (0: everything).
    pub since: i64,
    /// Only records in this state (for types with a lifecycle, e.g. `approved` orders).
    pub status: Option<String>,
}

/// Checks the query against the type: a status filter needs a lifecycle with that state.
pub fn check(def: &EntityDef, query: &Query) -> Result<(), String> {
    if query.since < 0 {
        return Err("the cursor must be 0 or a number an earlier export printed".into());
    }
    let Some(status) = &query.status else { return Ok(()) };
    let Some(sm) = def.state_machine else {
        return Err(format!("{} records have no status to filter by", def.name));
    };
    match def.field(sm.field).map(|f| f.ty) {
        Some(FieldType::Enum(states)) if states.contains(&status.as_str()) => Ok(()),
        Some(FieldType::Enum(states)) => {
            Err(format!("'{status}' is not a {} status; use one of {}", def.name, states.join(", ")))
        }
        _ => Err(format!("{} records have no status to filter by", def.name)),
    }
}

/// Reads one page of at most `limit` records after `query.since`. Call it inside one
/// read snapshot (`Db::read`) so the cursor it returns is exact.
///
/// The entries are walked in seq order from the cursor (`entity || ''` keeps the planner
/// off the (entity, record, target) index, which would sort every entry of the type).
pub fn page(tx: &Tx<'_>, reg: &Registry, def: &EntityDef, query: &Query, limit: usize) -> Result<Page, DbError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let head = crate::records::head(tx)?;
    let mut params: Vec<SqlValue> = vec![def.name.into(), query.since.into()];
    let mut filter = String::new();
    if let (Some(status), Some(sm)) = (&query.status, def.state_machine) {
        params.push(status.into());
        filter = format!(" AND r.\"{}\" = ?{}", sm.field, params.len());
    }
    params.push((limit as i64).into());
    let sql = format!(
        "SELECT c.seq, {} FROM changes c JOIN \"{}\" r ON r.id = c.record_id \
         WHERE c.entity || '' = ?1 AND c.target = '' AND c.seq > ?2{filter} ORDER BY c.seq LIMIT ?{}",
        column_list(def, Some("r")),
        def.name,
        params.len()
    );
    let mut last = query.since;
    let mut rows = Vec::new();
    tx.for_each(&sql, &params, |r| {
        last = r.get(0)?;
        let values: Vec<Value> = (0..def.fields.len())
            .map(|i| r.value(i + 2).map(|v| fieldsync_sqlkit::sql_to_json(def.fields[i].ty, v)))
            .collect::<Result<_, _>>()?;
        rows.push(fieldsync_sqlkit::EntityRow { id: r.get(1)?, values });
        Ok(true)
    })?;
    let more = rows.len() == limit;
    let next_cursor = if more { last } else { head.max(query.since) };
    let records = shape(tx, reg, def, &rows)?;
    Ok(Page { entity: def.name.to_string(), records, next_cursor, more })
}

/// One record as an export writes it (codes for references, children nested), or `None`
/// when it does not exist. Webhook payloads carry it.
pub fn record(tx: &Tx<'_>, reg: &Registry, def: &EntityDef, id: &str) -> Result<Option<Map<String, Value>>, DbError> {
    let Some(row) = records::load(tx, def, id)? else { return Ok(None) };
    Ok(shape(tx, reg, def, &[row])?.pop())
}

/// Records as exports write them: references replaced by codes, children nested.
fn shape(
    tx: &Tx<'_>,
    reg: &Registry,
    def: &EntityDef,
    rows: &[fieldsync_sqlkit::EntityRow],
) -> Result<Vec<Map<String, Value>>, DbError> {
    let mut records: Vec<Map<String, Value>> = rows.iter().map(|r| r.to_object(def)).collect();
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut codes = Codes::default();
    for child in def.children(reg) {
        let link = child.frozen_with.expect("children are frozen with a link");
        let mut by_parent: HashMap<String, Vec<Map<String, Value>>> = HashMap::new();
        for chunk in ids.chunks(MAX_PAGE) {
            let sql = format!(
                "SELECT {} FROM \"{}\" WHERE \"{link}\" IN ({}) ORDER BY id",
                column_list(child, None),
                child.name,
                (1..=chunk.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
            );
            let params: Vec<SqlValue> = chunk.iter().map(SqlValue::from).collect();
            tx.for_each(&sql, &params, |r| {
                let mut line = records::read_row(child, r)?.to_object(child);
                let parent = line.remove(link).and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
                by_parent.entry(parent).or_default().push(line);
                Ok(true)
            })?;
        }
        let mut all: Vec<&mut Map<String, Value>> = by_parent.values_mut().flatten().collect();
        codes.replace(tx, reg, child, &mut all)?;
        for record in &mut records {
            let id = record.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
            let lines = by_parent.remove(&id).unwrap_or_default();
            record.insert(child.name.to_string(), Value::Array(lines.into_iter().map(Value::Object).collect()));
        }
    }
    let mut all: Vec<&mut Map<String, Value>> = records.iter_mut().collect();
    codes.replace(tx, reg, def, &mut all)?;
    Ok(records)
}

/// Codes of referenced records, looked up once per type and id.
#[derive(Default)]
struct Codes {
    known: HashMap<(&'static str, String), String>,
}

impl Codes {
    /// Replaces each reference in `records` with the referenced record's code, when its
    /// type has one.
    fn replace(
        &mut self,
        tx: &Tx<'_>,
        reg: &Registry,
        def: &EntityDef,
        records: &mut [&mut Map<String, Value>],
    ) -> Result<(), DbError> {
        for field in def.fields {
            let Some(target) = field.references().and_then(|t| reg.get(t)) else { continue };
            let Some(code) = target.code_field() else { continue };
            let wanted: HashSet<String> = records
                .iter()
                .filter_map(|r| r.get(field.name).and_then(Value::as_str))
                .filter(|id| !self.known.contains_key(&(target.name, id.to_string())))
                .map(String::from)
                .collect();
            let wanted: Vec<String> = wanted.into_iter().collect();
            for chunk in wanted.chunks(MAX_PAGE) {
                let sql = format!(
                    "SELECT id, \"{code}\" FROM \"{}\" WHERE id IN ({})",
                    target.name,
                    (1..=chunk.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
                );
                let params: Vec<SqlValue> = chunk.iter().map(SqlValue::from).collect();
                tx.for_each(&sql, &params, |r| {
                    let (id, value): (String, Option<String>) = (r.get(0)?, r.get(1)?);
                    if let Some(value) = value {
                        self.known.insert((target.name, id), value);
                    }
                    Ok(true)
                })?;
            }
            for record in records.iter_mut() {
                let Some(id) = record.get(field.name).and_then(Value::as_str) else { continue };
                if let Some(code) = self.known.get(&(target.name, id.to_string())) {
                    record.insert(field.name.to_string(), Value::String(code.clone()));
                }
            }
        }
        Ok(())
    }
}

/// Writes pages as JSON Lines (one record per line, children nested) or CSV (one row per
/// child record, the parent's columns repeated; a record without children is one row).
pub struct Writer<W: Write> {
    format: crate::import::Format,
    /// The output until the CSV writer takes it over.
    out: Option<W>,
    csv: Option<csv::Writer<W>>,
    columns: Vec<String>,
    children: Vec<(String, Vec<String>)>,
}

impl<W: Write> Writer<W> {
    pub fn new(reg: &Registry, def: &EntityDef, format: crate::import::Format, out: W) -> Self {
        let mut columns = vec!["id".to_string()];
        columns.extend(def.field_names().map(String::from));
        let children = def
            .children(reg)
            .map(|c| {
                let link = c.frozen_with.unwrap_or_default();
                let mut cols = vec!["id".to_string()];
                cols.extend(c.field_names().filter(|f| *f != link).map(String::from));
                (c.name.to_string(), cols)
            })
            .collect();
        Writer { format, out: Some(out), csv: None, columns, children }
    }

    pub fn write(&mut self, page: &Page) -> std::io::Result<()> {
        match self.format {
            crate::import::Format::Jsonl => {
                let out = self.out.as_mut().expect("JSON output stays with the writer");
                for r in &page.records {
                    serde_json::to_writer(&mut *out, r)?;
                    out.write_all(b"\n")?;
                }
                Ok(())
            }
            crate::import::Format::Csv => self.write_csv(page),
        }
    }

    fn write_csv(&mut self, page: &Page) -> std::io::Result<()> {
        if let Some(out) = self.out.take() {
            let mut w = csv::Writer::from_writer(out);
            let mut header = self.columns.clone();
            for (child, cols) in &self.children {
                header.extend(cols.iter().map(|c| format!("{child}.{c}")));
            }
            w.write_record(&header)?;
            self.csv = Some(w);
        }
        let w = self.csv.as_mut().expect("opened above");
        let width: usize = self.children.iter().map(|(_, c)| c.len()).sum();
        for r in &page.records {
            let parent: Vec<String> = self.columns.iter().map(|c| cell(r.get(c))).collect();
            let mut wrote = false;
            let mut offset = 0;
            for (child, cols) in &self.children {
                for line in r.get(child).and_then(Value::as_array).into_iter().flatten() {
                    let mut row = parent.clone();
                    row.extend(std::iter::repeat_n(String::new(), width));
                    for (i, c) in cols.iter().enumerate() {
                        row[self.columns.len() + offset + i] = cell(line.get(c));
                    }
                    w.write_record(&row)?;
                    wrote = true;
                }
                offset += cols.len();
            }
            if !wrote {
                let mut row = parent;
                row.extend(std::iter::repeat_n(String::new(), width));
                w.write_record(&row)?;
            }
        }
        Ok(())
    }

    pub fn finish(mut self) -> std::io::Result<()> {
        if self.format == crate::import::Format::Csv && self.csv.is_none() {
            // No page at all: still a header line, so the file is a valid empty export.
            self.write_csv(&Page { entity: String::new(), records: Vec::new(), next_cursor: 0, more: false })?;
        }
        match (self.csv.as_mut(), self.out.as_mut()) {
            (Some(w), _) => w.flush(),
            (None, Some(out)) => out.flush(),
            (None, None) => Ok(()),
        }
    }
}

/// A value as a CSV cell: text as is, empty for null, JSON otherwise.
fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}
