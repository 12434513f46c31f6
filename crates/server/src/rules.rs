//! Who sees what: compiles an entity's [`Scope`] into a SQL predicate for one user. The
//! same predicate filters pulls and authorises writes, so the two can never disagree.
//!
//! The user is a SQL expression: a bound parameter (one known user: `CAST(?4 AS TEXT)`), or
//! a column (every user of a query, to find who can see a record: [`sightings`]). Nothing a
//! user sends or is is written into the SQL text: the statement caches key on that text.

use fieldsync_protocol::{EntityDef, Registry, Scope};
use uuid::Uuid;

use crate::sql::{in_set, Backend};

/// The user and their team (the user plus the users they manage).
fn team(who: &str) -> String {
    format!("SELECT {who} UNION SELECT id FROM users WHERE manager_id = {who}")
}

/// Territories assigned to anyone on the user's team.
fn territories(who: &str) -> String {
    format!("SELECT territory_id FROM user_territories WHERE user_id IN ({})", team(who))
}

/// A SQL boolean expression, true when row `alias` of `entity` is visible to the user
/// whose id the parameter expression `who` holds (`"CAST(?4 AS TEXT)"`: the cast lets
/// PostgreSQL type a parameter that first appears in a `SELECT` list).
pub fn visible(reg: &Registry, entity: &EntityDef, alias: &str, who: &str) -> String {
    scope_sql(reg, entity, &entity.scope, alias, who, Parents::AsSet)
}

/// [`visible`] for a few rows: each row's parents are looked up by key instead of listing
/// every parent the user sees, which costs more than the rows themselves when a pull
/// brings a handful of changes (see `pull::BY_KEY_UP_TO`).
pub fn visible_by_key(reg: &Registry, entity: &EntityDef, alias: &str, who: &str) -> String {
    scope_sql(reg, entity, &entity.scope, alias, who, Parents::ByKey)
}

/// [`visible`] for the user whose id is in SQL column `who` (e.g. `u.id`).
pub fn visible_to_column(reg: &Registry, entity: &EntityDef, alias: &str, who: &str) -> String {
    scope_sql(reg, entity, &entity.scope, alias, who, Parents::ByKey)
}

/// How a `Via` parent is tested. `AsSet` lists the parents the user sees once and probes
/// it (many rows for one user: a pull page); `ByKey` looks each row's parent up by its
/// key (one row, or one row per user: a write check, who sees a record).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parents {
    AsSet,
    ByKey,
}

fn scope_sql(reg: &Registry, entity: &EntityDef, scope: &Scope, alias: &str, who: &str, parents: Parents) -> String {
    match scope {
        Scope::All => "TRUE".into(),
        Scope::Territory(f) => format!("{alias}.\"{f}\" IN ({})", territories(who)),
        Scope::Category(f) => format!(
            "{alias}.\"{f}\" IN (SELECT category_id FROM territory_categories WHERE territory_id IN ({}))",
            territories(who)
        ),
        Scope::Team(f) => format!("{alias}.\"{f}\" IN ({})", team(who)),
        Scope::Via(f) => {
            // Registry::new checked that a Via field is a reference to a known entity.
            let parent = entity.field(f).and_then(|d| d.references()).and_then(|p| reg.get(p));
            match parent {
                Some(parent) => {
                    let inner = format!("{alias}_{}", parent.name);
                    let parent_visible = scope_sql(reg, parent, &parent.scope, &inner, who, parents);
                    if parents == Parents::ByKey {
                        format!(
                            "EXISTS (SELECT 1 FROM \"{}\" {inner} WHERE {inner}.id = {alias}.\"{f}\" AND {parent_visible})",
                            parent.name
                        )
                    } else {
                        format!(
                            "{alias}.\"{f}\" IN (SELECT {inner}.id FROM \"{}\" {inner} WHERE {parent_visible})",
                            parent.name
                        )
                    }
                }
                None => "FALSE".into(),
            }
        }
        Scope::Record { entity: entity_field, id } => {
            let parts = record_targets(reg).map(|target| {
                    let inner = format!("{alias}_{}", target.name);
                    let target_visible = scope_sql(reg, target, &target.scope, &inner, who, parents);
                    // By key, each row's record is looked up; as a set, every record of the
                    // type the user sees is listed once (a page of many rows).
                    let seen = match parents {
                        Parents::ByKey => format!(
                            "EXISTS (SELECT 1 FROM \"{name}\" {inner} WHERE {inner}.id = {alias}.\"{id}\" AND {target_visible})",
                            name = target.name
                        ),
                        Parents::AsSet => format!(
                            "{alias}.\"{id}\" IN (SELECT {inner}.id FROM \"{name}\" {inner} WHERE {target_visible})",
                            name = target.name
                        ),
                    };
                    // A record deleted since keeps its log visible to the writers' teams
                    // (a delete that discarded an edit is such a conflict).
                    format!(
                        "({alias}.\"{entity_field}\" = '{name}' AND ({seen} \
                         OR NOT EXISTS (SELECT 1 FROM \"{name}\" WHERE id = {alias}.\"{id}\")))",
                        name = target.name,
                    )
                });
            joined(parts, " OR ")
        }
        Scope::AnyOf(list) => joined(list.iter().map(|s| scope_sql(reg, entity, s, alias, who, parents)), " OR "),
        Scope::AllOf(list) => joined(list.iter().map(|s| scope_sql(reg, entity, s, alias, who, parents)), " AND "),
    }
}

/// A SQL boolean expression, true when the user whose id is in column `who` may see at
/// least one of the `entity` records whose ids the subquery `records` yields, by `scope`
/// (roles are the caller's to check). [`visible_to_column`] turned around: every subquery
/// here starts from the records and none refers to `who`, so the database computes each
/// once and tests every user against the results, instead of testing every user against
/// every record. For `AllOf` each scope is tested on its own, which may admit a user who
/// passes each scope on a different record of the set: a superset, safe for what it
/// serves (choosing whose long polls to wake, who then reads what they may see).
pub fn viewers(reg: &Registry, entity: &EntityDef, scope: &Scope, records: &str, who: &str) -> String {
    let field = |f: &str| format!("SELECT \"{f}\" FROM \"{}\" WHERE id IN ({records})", entity.name);
    // Users in `users`, or managing one of them (a team is a user and their reports).
    let with_managers = |users: String| {
        format!("({who} IN ({users}) OR {who} IN (SELECT manager_id FROM users WHERE id IN ({users})))")
    };
    let holding = |territories: String| {
        with_managers(format!("SELECT user_id FROM user_territories WHERE territory_id IN ({territories})"))
    };
    match scope {
        Scope::All => format!("EXISTS (SELECT 1 FROM \"{}\" WHERE id IN ({records}))", entity.name),
        Scope::Territory(f) => holding(field(f)),
        Scope::Category(f) => {
            holding(format!("SELECT territory_id FROM territory_categories WHERE category_id IN ({})", field(f)))
        }
        Scope::Team(f) => with_managers(field(f)),
        Scope::Via(f) => match entity.field(f).and_then(|d| d.references()).and_then(|p| reg.get(p)) {
            Some(parent) => viewers(reg, parent, &parent.scope, &field(f), who),
            None => "FALSE".into(),
        },
        Scope::Record { entity: entity_field, id } => {
            let parts = record_targets(reg).map(|target| {
                let about = format!(
                    "SELECT \"{id}\" FROM \"{}\" WHERE id IN ({records}) AND \"{entity_field}\" = '{}'",
                    entity.name, target.name
                );
                // As in `scope_sql`: a log about a record deleted since stays visible.
                format!(
                    "({} OR EXISTS (SELECT 1 FROM \"{}\" l WHERE l.id IN ({records}) AND l.\"{entity_field}\" = '{}' \
                         AND NOT EXISTS (SELECT 1 FROM \"{}\" WHERE id = l.\"{id}\")))",
                    viewers(reg, target, &target.scope, &about, who),
                    entity.name,
                    target.name,
                    target.name
                )
            });
            joined(parts, " OR ")
        }
        Scope::AnyOf(list) => joined(list.iter().map(|s| viewers(reg, entity, s, records, who)), " OR "),
        Scope::AllOf(list) => joined(list.iter().map(|s| viewers(reg, entity, s, records, who)), " AND "),
    }
}

/// The change-log keys of row `alias` of `entity` (see migrations/server/009_change_keys.sql):
/// SQL text expressions, each a key or NULL, such that whoever may see the row by its scope
/// holds one of them ([`keys_of`]). A superset, like [`viewers`]: for `AllOf` the keys of one
/// of its scopes, and a record scope (a log about any record) is for everyone who reads
/// its type (`*`); the pull checks visibility itself.
pub fn record_keys(reg: &Registry, entity: &EntityDef, alias: &str) -> Vec<String> {
    scope_keys(reg, entity, &entity.scope, alias)
}

fn scope_keys(reg: &Registry, entity: &EntityDef, scope: &Scope, alias: &str) -> Vec<String> {
    match scope {
        Scope::All | Scope::Record { .. } => vec!["'*'".into()],
        Scope::Territory(f) => vec![format!("'t:' || {alias}.\"{f}\"")],
        Scope::Category(f) => vec![format!("'c:' || {alias}.\"{f}\"")],
        Scope::Team(f) => vec![format!("'u:' || {alias}.\"{f}\"")],
        Scope::Via(f) => match entity.field(f).and_then(|d| d.references()).and_then(|p| reg.get(p)) {
            Some(parent) => {
                let inner = format!("{alias}_{}", parent.name);
                scope_keys(reg, parent, &parent.scope, &inner)
                    .into_iter()
                    .map(|key| {
                        format!("(SELECT {key} FROM \"{}\" {inner} WHERE {inner}.id = {alias}.\"{f}\")", parent.name)
                    })
                    .collect()
            }
            None => Vec::new(),
        },
        Scope::AnyOf(list) => list.iter().flat_map(|s| scope_keys(reg, entity, s, alias)).collect(),
        // Any one scope of the list holds every viewer; one that names its records'
        // viewers narrowly, where there is one.
        Scope::AllOf(list) => match list.iter().find(|s| !has_record_scope(s)).or(list.first()) {
            Some(s) => scope_keys(reg, entity, s, alias),
            None => Vec::new(),
        },
    }
}

/// [`record_keys`] of every type of a registry over alias `t`, composed once: the change
/// log's writers (`records::write_keys`) look them up per write.
#[derive(Debug, Default)]
pub struct KeyPlan(std::collections::HashMap<&'static str, Vec<String>>);

impl KeyPlan {
    pub fn new(reg: &Registry) -> KeyPlan {
        KeyPlan(reg.entities().iter().map(|def| (def.name, record_keys(reg, def, "t"))).collect())
    }

    /// The key expressions of `entity`'s row `t`; none for a type the registry does not
    /// know, whose entries are then for everyone (`*`, without reading the row).
    pub fn of(&self, entity: &str) -> Option<&[String]> {
        self.0.get(entity).map(Vec::as_slice)
    }
}

/// SQL yielding every change-log key the user whose id the parameter expression `who`
/// holds may find records under: `*`, and the users, territories and categories of their
/// team (the user and the users they manage), as the scopes of [`visible`] reach them.
pub fn keys_of(backend: Backend, who: &str) -> String {
    let of_team = in_set(backend, "user_id", &team(who));
    let territories = format!("SELECT territory_id FROM user_territories WHERE {of_team}");
    format!(
        "SELECT '*' UNION ALL SELECT 'u:' || {who} UNION ALL SELECT 'u:' || id FROM users WHERE manager_id = {who} \
         UNION ALL SELECT 't:' || territory_id FROM user_territories WHERE {of_team} \
         UNION ALL SELECT DISTINCT 'c:' || category_id FROM territory_categories WHERE {}",
        in_set(backend, "territory_id", &territories),
    )
}

/// The types a `Scope::Record` log can be about: one branch each (never another log, so
/// no cycles).
fn record_targets(reg: &Registry) -> impl Iterator<Item = &EntityDef> {
    reg.entities().iter().filter(|target| !has_record_scope(&target.scope))
}

/// SQL conditions joined by `op` (" OR ", " AND ") in parentheses; none is `FALSE`.
fn joined(parts: impl Iterator<Item = String>, op: &str) -> String {
    let parts: Vec<String> = parts.collect();
    if parts.is_empty() {
        "FALSE".into()
    } else {
        format!("({})", parts.join(op))
    }
}

/// Whether a scope names records of other types by entity name and id.
pub fn has_record_scope(scope: &Scope) -> bool {
    match scope {
        Scope::Record { .. } => true,
        Scope::AnyOf(list) | Scope::AllOf(list) => list.iter().any(has_record_scope),
        _ => false,
    }
}

/// Whether record `id` of `entity` exists and is visible to `uid`.
pub fn is_visible(
    tx: &crate::sql::Tx<'_>,
    reg: &Registry,
    entity: &EntityDef,
    id: &str,
    uid: &Uuid,
) -> Result<bool, crate::sql::DbError> {
    // One row: parents by key, not the set of every parent the user sees.
    let scope = scope_sql(reg, entity, &entity.scope, "t", "CAST(?2 AS TEXT)", Parents::ByKey);
    let sql = format!("SELECT EXISTS (SELECT 1 FROM \"{}\" t WHERE t.id = ?1 AND {scope})", entity.name);
    tx.value(&sql, &record_and_user(&scope, id, uid))
}

/// The parameters of a one-record visibility query: `?1` the record, `?2` the user, unless
/// the scope does not depend on the user (`All`) and so takes no user parameter.
fn record_and_user(scope: &str, id: &str, uid: &Uuid) -> Vec<crate::sql::SqlValue> {
    match scope.contains("?2") {
        true => crate::args![id, uid.to_string()].to_vec(),
        false => crate::args![id].to_vec(),
    }
}

/// Record `id` of `entity` with whether `uid` may see it, in one statement; `lock` is the
/// locking clause for a concurrent write (see `records::RowLock`).
pub fn load_with_visibility(
    tx: &crate::sql::Tx<'_>,
    reg: &Registry,
    entity: &EntityDef,
    id: &str,
    uid: &Uuid,
    lock: crate::records::RowLock,
) -> Result<Option<(fieldsync_sqlkit::EntityRow, bool)>, crate::sql::DbError> {
    let scope = scope_sql(reg, entity, &entity.scope, "t", "CAST(?2 AS TEXT)", Parents::ByKey);
    let sql = format!(
        "SELECT {}, CASE WHEN {scope} THEN 1 ELSE 0 END FROM \"{}\" t WHERE t.id = ?1{}",
        fieldsync_sqlkit::column_list(entity, Some("t")),
        entity.name,
        lock.clause(tx)
    );
    tx.query_opt(&sql, &record_and_user(&scope, id, uid), |r| {
        Ok((crate::records::read_row(entity, r)?, r.get::<bool>(entity.fields.len() + 1)?))
    })
}

/// The fields of `entity` its scope reads.
pub fn scope_fields(scope: &Scope) -> Vec<&'static str> {
    match scope {
        Scope::All => Vec::new(),
        Scope::Territory(f) | Scope::Category(f) | Scope::Team(f) | Scope::Via(f) => vec![*f],
        Scope::Record { entity, id } => vec![*entity, *id],
        Scope::AnyOf(list) | Scope::AllOf(list) => list.iter().flat_map(scope_fields).collect(),
    }
}

/// Pairs (user id, record id) of `entity` records among `ids` each user can see now: a
/// role that reads the type, and the scope's predicate. One query over all users.
pub fn sightings(
    tx: &crate::sql::Tx<'_>,
    reg: &Registry,
    entity: &EntityDef,
    ids: &[String],
) -> Result<Vec<(String, String)>, crate::sql::DbError> {
    // Role names are the registry's constants, the same for every call.
    let roles: Vec<String> = entity.readers.iter().map(|r| format!("'{}'", r.as_str())).collect();
    if roles.is_empty() || ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT u.id, t.id FROM users u, \"{}\" t WHERE {} AND u.role IN ({}) AND {}",
        entity.name,
        crate::sql::in_texts(tx.backend(), "t.id", 1),
        roles.join(", "),
        visible_to_column(reg, entity, "t", "u.id")
    );
    tx.query(&sql, &[crate::sql::text_list(ids.iter().map(String::as_str))], |r| Ok((r.get(0)?, r.get(1)?)))
}

/// For records of `entity` given as their id and the values their scope-read fields would
/// hold (field name → text), the pairs (user id, record id) of who would see them,
/// evaluated without writing them. One query for all the records.
pub fn would_see(
    tx: &crate::sql::Tx<'_>,
    reg: &Registry,
    entity: &EntityDef,
    fields: &[&'static str],
    records: &[(String, Vec<Option<String>>)],
) -> Result<Vec<(String, String)>, crate::sql::DbError> {
    let roles: Vec<String> = entity.readers.iter().map(|r| format!("'{}'", r.as_str())).collect();
    if roles.is_empty() || records.is_empty() {
        return Ok(Vec::new());
    }
    let mut params: Vec<crate::sql::SqlValue> = Vec::new();
    let mut rows = Vec::new();
    for (id, values) in records {
        let mut columns = Vec::new();
        params.push(crate::sql::SqlValue::from(id.as_str()));
        columns.push(format!("CAST(?{} AS TEXT) AS id", params.len()));
        for (f, v) in fields.iter().zip(values) {
            params.push(crate::sql::SqlValue::from(v.clone()));
            columns.push(format!("CAST(?{} AS TEXT) AS \"{f}\"", params.len()));
        }
        rows.push(format!("SELECT {}", columns.join(", ")));
    }
    let sql = format!(
        "SELECT u.id, t.id FROM users u, ({}) t WHERE u.role IN ({}) AND {}",
        rows.join(" UNION ALL "),
        roles.join(", "),
        visible_to_column(reg, entity, "t", "u.id")
    );
    tx.query(&sql, &params, |r| Ok((r.get(0)?, r.get(1)?)))
}
