//! The text search of the lists (customers, products): every word of the query somewhere in
//! a record's name, code, city or SKU, in name order. A search runs per keystroke, so it
//! must answer in a couple of milliseconds over a large catalogue; reading the table for
//! each query took 9–15 ms at 50,000 customers, and an FTS5 trigram index made the first
//! sync five times slower (docs/PERFORMANCE.md).
//!
//! [`SearchIndex`] keeps, per entity type searched, the searched fields of every record in
//! one text in memory, lower-cased, records in the order results are listed, and finds a
//! word with one `memchr` pass over it, stopping after `limit` records. It is read again
//! from the table the first time it is used after the database changed (a commit by this
//! connection or another one: a sync, an edit), so it never answers from stale data.
//! Matching is exactly that of the SQL it replaces (`LIKE '%word%'` for ASCII words, which
//! ignores ASCII case only; `fold` on both sides for other words); a unit test holds the
//! two to the same answers.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::ops::Range;

use fieldsync_protocol::EntityDef;
use memchr::memmem::Finder;

use crate::error::Result;
use crate::store::Store;

/// Ends a record's text; [`FIELD_END`] ends each of its fields. A word holding either is
/// searched in SQL, so a match never spans two fields or two records.
const RECORD_END: char = '\u{1e}';
const FIELD_END: char = '\u{1f}';

/// The records of one type, in the order results are listed.
struct Built {
    /// The database version they were read at ([`Store::version`]), and from which fields.
    version: (i64, u64),
    fields: Vec<&'static str>,
    ids: Vec<Box<str>>,
    /// Every record's fields, ASCII letters lower-cased (for ASCII words)...
    ascii: Texts,
    /// ...and folded (`sqlkit::fold`, for other words).
    folded: Texts,
}

/// Records' texts end to end, and where each record's ends.
#[derive(Default)]
struct Texts {
    all: String,
    ends: Vec<usize>,
}

impl Texts {
    fn push(&mut self, record: &str) {
        self.all.push_str(record);
        self.all.push(RECORD_END);
        self.ends.push(self.all.len());
    }

    fn record(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.all.as_bytes()[start..self.ends[i]]
    }

    /// The records holding `word`, in order.
    fn holding<'t>(&'t self, word: &'t Finder<'t>) -> impl Iterator<Item = usize> + 't {
        let mut last = None;
        word.find_iter(self.all.as_bytes()).filter_map(move |at| {
            let i = self.ends.partition_point(|&end| end <= at);
            (last != Some(i)).then(|| {
                last = Some(i);
                i
            })
        })
    }
}

/// The in-memory search of an [`Engine`](crate::Engine)'s store (see the module docs).
#[derive(Default)]
pub struct SearchIndex {
    built: HashMap<&'static str, Built>,
}

/// Whether `word` can be matched in memory (see [`RECORD_END`]).
pub fn indexable(word: &str) -> bool {
    !word.contains([RECORD_END, FIELD_END])
}

impl SearchIndex {
    /// Ids of up to `limit` records of `def` with every word (each [`indexable`])
    /// somewhere in `fields`, in name order (`name` ignoring ASCII case, then id) when the
    /// type has a name, else in id order.
    pub fn find(
        &mut self,
        store: &Store,
        def: &EntityDef,
        fields: &[&'static str],
        words: &[&str],
        limit: usize,
    ) -> Result<Vec<String>> {
        let version = store.version()?;
        let fresh = self.built.get(def.name).is_some_and(|b| b.version == version && b.fields == fields);
        if !fresh {
            self.built.insert(def.name, build(store, def, fields, version)?);
        }
        let built = &self.built[def.name];
        // Each word with the texts it is looked for in; the longest first, as it usually
        // matches the fewest records.
        let mut words: Vec<(String, &Texts)> = words
            .iter()
            .map(|w| match w.is_ascii() {
                true => (w.to_ascii_lowercase(), &built.ascii),
                false => (fieldsync_sqlkit::fold(w), &built.folded),
            })
            .collect();
        words.sort_by_key(|(w, _)| std::cmp::Reverse(w.len()));
        let finders: Vec<(Finder<'_>, &Texts)> = words.iter().map(|(w, t)| (Finder::new(w.as_bytes()), *t)).collect();
        let found: Box<dyn Iterator<Item = usize>> = match finders.split_first() {
            None => Box::new(0..built.ids.len()),
            Some(((first, texts), rest)) => {
                Box::new(texts.holding(first).filter(|&i| rest.iter().all(|(f, t)| f.find(t.record(i)).is_some())))
            }
        };
        Ok(found.take(limit).map(|i| built.ids[i].to_string()).collect())
    }
}

fn build(store: &Store, def: &EntityDef, fields: &[&'static str], version: (i64, u64)) -> Result<Built> {
    let columns: Vec<String> = fields.iter().map(|f| format!("CAST(\"{f}\" AS TEXT)")).collect();
    let name = if def.field("name").is_some() { "CAST(name AS TEXT)" } else { "NULL" };
    // Read in storage order and sorted here: cheaper than SQLite's sort or a walk of the
    // name index. Everything read goes into three texts; a row is where its parts are.
    struct Row {
        key: Option<Range<usize>>,
        id: Range<usize>,
        text: Range<usize>,
    }
    let sql = format!("SELECT id, {name}, {} FROM \"{}\"", columns.join(", "), def.name);
    let (mut keys, mut ids, mut texts) = (String::new(), String::new(), String::new());
    let mut rows = Vec::new();
    let append = |to: &mut String, part: &str| {
        let start = to.len();
        to.push_str(part);
        to[start..].make_ascii_lowercase();
        start..to.len()
    };
    store.for_each_text_row(&sql, fields.len() + 2, |row| {
        let id = {
            let start = ids.len();
            ids.push_str(row[0].unwrap_or_default());
            start..ids.len()
        };
        let key = row[1].map(|name| append(&mut keys, name));
        let start = texts.len();
        for field in &row[2..] {
            append(&mut texts, field.unwrap_or_default());
            texts.push(FIELD_END);
        }
        rows.push(Row { key, id, text: start..texts.len() });
    })?;
    // `ORDER BY name COLLATE NOCASE, id`: NULL first, NOCASE compares ASCII-lower-cased
    // bytes, ids bytewise.
    let key = |r: &Row| r.key.clone().map(|k| &keys.as_bytes()[k]);
    rows.sort_unstable_by(|a, b| match key(a).cmp(&key(b)) {
        Ordering::Equal => ids[a.id.clone()].cmp(&ids[b.id.clone()]),
        other => other,
    });
    let mut built = Built {
        version,
        fields: fields.to_vec(),
        ids: Vec::with_capacity(rows.len()),
        ascii: Texts::default(),
        folded: Texts::default(),
    };
    for row in rows {
        // Lower-cased ASCII letters fold as they are, so folding this text is folding the
        // record's.
        let text = &texts[row.text];
        built.ascii.push(text);
        match text.is_ascii() {
            true => built.folded.push(text),
            false => built.folded.push(&fieldsync_sqlkit::fold(text)),
        }
        built.ids.push(ids[row.id].into());
    }
    Ok(built)
}
