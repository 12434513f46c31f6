//! Who sees what: compiles an entity's [`Scope`] into a SQL predicate for one user. The
//! same predicate filters pulls and authorises writes, so the two can never disagree.
//!
//! The user is a SQL expression: a quoted id (one known user), or a column (every user of
//! a query, to find who can see a record: [`viewers_of`]).

use fieldsync_protocol::{EntityDef, Registry, Scope};
use uuid::Uuid;

/// The user and their team (the user plus the users they manage).
fn team(who: &str) -> String {
    format!("SELECT {who} UNION SELECT id FROM users WHERE manager_id = {who}")
}

/// Territories assigned to anyone on the user's team.
fn territories(who: &str) -> String {
    format!("SELECT territory_id FROM user_territories WHERE user_id IN ({})", team(who))
}

/// A SQL boolean expression, true when row `alias` of `entity` is visible to user `uid`.
/// `uid` is a parsed [`Uuid`], so inlining it cannot inject SQL.
pub fn visible(reg: &Registry, entity: &EntityDef, alias: &str, uid: &Uuid) -> String {
    scope_sql(reg, entity, &entity.scope, alias, &format!("'{uid}'"))
}

/// [`visible`] for the user whose id is in SQL column `who` (e.g. `u.id`).
pub fn visible_to_column(reg: &Registry, entity: &EntityDef, alias: &str, who: &str) -> String {
    scope_sql(reg, entity, &entity.scope, alias, who)
}

fn scope_sql(reg: &Registry, entity: &EntityDef, scope: &Scope, alias: &str, who: &str) -> String {
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
                    format!(
                        "{alias}.\"{f}\" IN (SELECT {inner}.id FROM \"{}\" {inner} WHERE {})",
                        parent.name,
                        scope_sql(reg, parent, &parent.scope, &inner, who)
                    )
                }
                None => "FALSE".into(),
            }
        }
        Scope::Record { entity: entity_field, id } => {
            // One branch per type a record could be about (never another log: no cycles).
            let parts: Vec<String> = reg
                .entities()
                .iter()
                .filter(|target| !has_record_scope(&target.scope))
                .map(|target| {
                    let inner = format!("{alias}_{}", target.name);
                    format!(
                        "({alias}.\"{entity_field}\" = '{name}' AND {alias}.\"{id}\" IN (SELECT {inner}.id FROM \"{name}\" {inner} WHERE {}))",
                        scope_sql(reg, target, &target.scope, &inner, who),
                        name = target.name,
                    )
                })
                .collect();
            if parts.is_empty() {
                "FALSE".into()
            } else {
                format!("({})", parts.join(" OR "))
            }
        }
        Scope::AnyOf(list) => {
            let parts: Vec<String> = list.iter().map(|s| scope_sql(reg, entity, s, alias, who)).collect();
            format!("({})", parts.join(" OR "))
        }
        Scope::AllOf(list) => {
            let parts: Vec<String> = list.iter().map(|s| scope_sql(reg, entity, s, alias, who)).collect();
            format!("({})", parts.join(" AND "))
        }
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
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM \"{}\" t WHERE t.id = ?1 AND {})",
        entity.name,
        visible(reg, entity, "t", uid)
    );
    tx.value(&sql, crate::args![id])
}

/// The ids of the users who can see record `id` of `entity` now: a role that reads the
/// type, and the scope's predicate. One query over all users.
pub fn viewers_of(
    tx: &crate::sql::Tx<'_>,
    reg: &Registry,
    entity: &EntityDef,
    id: &str,
) -> Result<Vec<String>, crate::sql::DbError> {
    let roles: Vec<String> = entity.readers.iter().map(|r| format!("'{}'", r.as_str())).collect();
    if roles.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT u.id FROM users u WHERE u.role IN ({}) AND EXISTS (SELECT 1 FROM \"{}\" t WHERE t.id = ?1 AND {})",
        roles.join(", "),
        entity.name,
        visible_to_column(reg, entity, "t", "u.id")
    );
    tx.query(&sql, crate::args![id], |r| r.get(0))
}
