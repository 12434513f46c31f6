//! Who sees what: compiles an entity's [`Scope`] into a SQL predicate for one user. The
//! same predicate filters pulls and authorises writes, so the two can never disagree.

use fieldsync_protocol::{EntityDef, Registry, Scope};
use uuid::Uuid;

/// The user and their team (the user plus the users they manage).
fn team(uid: &Uuid) -> String {
    format!("SELECT '{uid}' UNION SELECT id FROM users WHERE manager_id = '{uid}'")
}

/// Territories assigned to anyone on the user's team.
fn territories(uid: &Uuid) -> String {
    format!("SELECT territory_id FROM user_territories WHERE user_id IN ({})", team(uid))
}

/// A SQL boolean expression, true when row `alias` of `entity` is visible to user `uid`.
/// `uid` is a parsed [`Uuid`], so inlining it cannot inject SQL.
pub fn visible(reg: &Registry, entity: &EntityDef, alias: &str, uid: &Uuid) -> String {
    scope_sql(reg, entity, &entity.scope, alias, uid)
}

fn scope_sql(reg: &Registry, entity: &EntityDef, scope: &Scope, alias: &str, uid: &Uuid) -> String {
    match scope {
        Scope::All => "TRUE".into(),
        Scope::Territory(f) => format!("{alias}.\"{f}\" IN ({})", territories(uid)),
        Scope::Category(f) => format!(
            "{alias}.\"{f}\" IN (SELECT category_id FROM territory_categories WHERE territory_id IN ({}))",
            territories(uid)
        ),
        Scope::Team(f) => format!("{alias}.\"{f}\" IN ({})", team(uid)),
        Scope::Via(f) => {
            // Registry::new checked that a Via field is a reference to a known entity.
            let parent = entity.field(f).and_then(|d| d.references()).and_then(|p| reg.get(p));
            match parent {
                Some(parent) => {
                    let inner = format!("{alias}_{}", parent.name);
                    format!(
                        "{alias}.\"{f}\" IN (SELECT {inner}.id FROM \"{}\" {inner} WHERE {})",
                        parent.name,
                        visible(reg, parent, &inner, uid)
                    )
                }
                None => "FALSE".into(),
            }
        }
        Scope::AnyOf(list) => {
            let parts: Vec<String> = list.iter().map(|s| scope_sql(reg, entity, s, alias, uid)).collect();
            format!("({})", parts.join(" OR "))
        }
        Scope::AllOf(list) => {
            let parts: Vec<String> = list.iter().map(|s| scope_sql(reg, entity, s, alias, uid)).collect();
            format!("({})", parts.join(" AND "))
        }
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
