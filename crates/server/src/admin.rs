//! Administration done from the `fieldsync-server` command line: users and assignments.

use fieldsync_protocol::{Registry, Role};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::hash_password;
use std::collections::BTreeSet;

use crate::args;
use crate::reassign::{self, Span, ViewChange};
use crate::records;
use crate::sql::Tx;

fn id_of(tx: &Tx<'_>, table: &str, column: &str, value: &str) -> anyhow::Result<Option<String>> {
    Ok(tx.query_opt(&format!("SELECT id FROM {table} WHERE {column} = ?1"), args![value], |r| r.get(0))?)
}

fn manager_name(tx: &Tx<'_>, user_id: &str) -> anyhow::Result<Option<String>> {
    Ok(tx.query_opt(
        "SELECT m.username FROM users u JOIN users m ON m.id = u.manager_id WHERE u.id = ?1",
        args![user_id],
        |r| r.get(0),
    )?)
}

/// Creates a user (or resets an existing one's password, role, manager and territories).
/// [`add_user`] inside the caller's transaction.
pub fn save_user(
    tx: &Tx<'_>,
    reg: &Registry,
    username: &str,
    role: Role,
    territory_codes: &[String],
    manager: Option<&str>,
    password: &str,
) -> anyhow::Result<Uuid> {
    if password.is_empty() {
        anyhow::bail!("the password must not be empty; pass it on standard input");
    }
    // A new password ends every session opened with the old one.
    let old_hash: Option<String> = tx.query_opt(
        "SELECT c.password_hash FROM credentials c JOIN users u ON u.id = c.user_id WHERE u.username = ?1",
        args![username],
        |r| r.get(0),
    )?;
    let id = save_user_hashed(tx, reg, username, role, territory_codes, manager, &hash_password(password)?)?;
    if old_hash.is_some_and(|h| !crate::auth::password_matches(&h, password)) {
        let now = fieldsync_protocol::time::Clock::now_ms(&fieldsync_protocol::time::SystemClock);
        crate::auth::revoke_sessions(tx, crate::auth::Sessions::User(username), "password", now)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(id)
}

/// [`save_user`] with an already computed argon2 hash (bulk imports hash once).
pub fn save_user_hashed(
    tx: &Tx<'_>,
    reg: &Registry,
    username: &str,
    role: Role,
    territory_codes: &[String],
    manager: Option<&str>,
    password_hash: &str,
) -> anyhow::Result<Uuid> {
    if username.trim().is_empty() {
        anyhow::bail!("the user name must not be empty");
    }
    let manager_id = match manager {
        Some(m) => Some(
            id_of(tx, "users", "username", m)?
                .ok_or_else(|| anyhow::anyhow!("there is no user '{m}' to be the manager; add that user first"))?,
        ),
        None => None,
    };
    let mut territories = Vec::new();
    for code in territory_codes {
        territories.push(
            id_of(tx, "territories", "code", code)?.ok_or_else(|| {
                anyhow::anyhow!("there is no territory '{code}'; seed the demo data or create it first")
            })?,
        );
    }
    let existing = id_of(tx, "users", "username", username)?;
    let id = match &existing {
        Some(existing) => Uuid::parse_str(existing)?,
        None => Uuid::now_v7(),
    };
    // Re-saving an existing user may change what they (and their old and new manager)
    // see: capture their views around the change and publish the difference.
    let watch = match &existing {
        Some(uid) => {
            let old_manager = manager_name(tx, uid)?;
            let names: Vec<String> =
                [Some(username.to_string()), old_manager, manager.map(String::from)].into_iter().flatten().collect();
            let viewers = reassign::viewers(tx, Some(&names))?;
            let before = reassign::capture(tx, reg, &viewers, &Span::All)?;
            Some((names, viewers, before))
        }
        None => None,
    };
    let users = reg.get("users").ok_or_else(|| anyhow::anyhow!("registry has no users entity"))?;
    let user = serde_json::json!({
        "username": username,
        "display_name": username,
        "role": role.as_str(),
        "manager_id": manager_id,
    });
    let Value::Object(user) = user else { unreachable!("a JSON object literal") };
    records::upsert_object(tx, users, &id.to_string(), &user)?;
    tx.execute(
        "INSERT INTO credentials (user_id, password_hash) VALUES (?1, ?2) \
         ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash",
        args![id.to_string(), password_hash],
    )?;
    tx.execute("DELETE FROM user_territories WHERE user_id = ?1", args![id.to_string()])?;
    for t in territories {
        tx.execute("INSERT INTO user_territories (user_id, territory_id) VALUES (?1, ?2)", args![id.to_string(), t])?;
    }
    if let Some((names, viewers, before)) = watch {
        // Read again after the save: a new role reads other types, and what it sees after
        // is decided by the role it has now (the same users, in the same order).
        let viewers_now = reassign::viewers(tx, Some(&names))?;
        debug_assert!(viewers_now.iter().map(|v| v.id).eq(viewers.iter().map(|v| v.id)));
        let after = reassign::capture(tx, reg, &viewers_now, &Span::All)?;
        let headline = reg.get("customers").ok_or_else(|| anyhow::anyhow!("no customers entity"))?;
        let now = fieldsync_protocol::time::Clock::now_ms(&fieldsync_protocol::time::SystemClock);
        reassign::publish(tx, &viewers, &before, &after, headline, &format!("{username}'s assignments changed"), now)?;
    }
    Ok(id)
}

/// Gives (`assign = true`) or takes a territory from a user. The user, and their manager
/// whose team territories change with it, gain or lose exactly the affected records on
/// their next sync and get a notice.
pub fn set_user_territory(
    tx: &Tx<'_>,
    reg: &Registry,
    code: &str,
    username: &str,
    assign: bool,
    now_ms: i64,
) -> anyhow::Result<Vec<ViewChange>> {
    let territory =
        id_of(tx, "territories", "code", code)?.ok_or_else(|| anyhow::anyhow!("there is no territory '{code}'"))?;
    let user =
        id_of(tx, "users", "username", username)?.ok_or_else(|| anyhow::anyhow!("there is no user '{username}'"))?;
    let manager = manager_name(tx, &user)?;
    let names: Vec<String> = std::iter::once(username.to_string()).chain(manager).collect();
    let viewers = reassign::viewers(tx, Some(&names))?;
    let before = reassign::capture(tx, reg, &viewers, &Span::All)?;
    let changed = if assign {
        tx.execute(
            "INSERT INTO user_territories (user_id, territory_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            args![&user, &territory],
        )?
    } else {
        tx.execute("DELETE FROM user_territories WHERE user_id = ?1 AND territory_id = ?2", args![&user, &territory])?
    };
    if changed == 0 {
        if assign {
            anyhow::bail!("{username} already covers territory {code}");
        }
        anyhow::bail!("{username} does not cover territory {code}");
    }
    let after = reassign::capture(tx, reg, &viewers, &Span::All)?;
    let reason =
        if assign { format!("{username} now covers {code}") } else { format!("{username} no longer covers {code}") };
    let headline = reg.get("customers").ok_or_else(|| anyhow::anyhow!("no customers entity"))?;
    Ok(reassign::publish(tx, &viewers, &before, &after, headline, &reason, now_ms)?)
}

/// Lets a territory sell a product category (`assign = true`) or stop selling it. Whoever
/// covers the territory, and their managers, gain or lose the category's products, prices,
/// promotions and stock on their next sync, with a notice.
pub fn set_territory_category(
    tx: &Tx<'_>,
    reg: &Registry,
    code: &str,
    category: &str,
    assign: bool,
    now_ms: i64,
) -> anyhow::Result<Vec<ViewChange>> {
    let territory =
        id_of(tx, "territories", "code", code)?.ok_or_else(|| anyhow::anyhow!("there is no territory '{code}'"))?;
    let cat = id_of(tx, "product_categories", "code", category)?
        .ok_or_else(|| anyhow::anyhow!("there is no product category '{category}'"))?;
    // Who covers the territory, and their managers (team territories).
    let names: Vec<String> = tx.query(
        "SELECT u.username FROM user_territories ut JOIN users u ON u.id = ut.user_id WHERE ut.territory_id = ?1 \
         UNION SELECT m.username FROM user_territories ut JOIN users u ON u.id = ut.user_id \
         JOIN users m ON m.id = u.manager_id WHERE ut.territory_id = ?1",
        args![&territory],
        |r| r.get(0),
    )?;
    let viewers = reassign::viewers(tx, Some(&names))?;
    let before = reassign::capture(tx, reg, &viewers, &Span::All)?;
    let changed = if assign {
        tx.execute(
            "INSERT INTO territory_categories (territory_id, category_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            args![&territory, &cat],
        )?
    } else {
        tx.execute(
            "DELETE FROM territory_categories WHERE territory_id = ?1 AND category_id = ?2",
            args![&territory, &cat],
        )?
    };
    if changed == 0 {
        match assign {
            true => anyhow::bail!("territory {code} already sells {category}"),
            false => anyhow::bail!("territory {code} does not sell {category}"),
        }
    }
    let after = reassign::capture(tx, reg, &viewers, &Span::All)?;
    let reason = match assign {
        true => format!("{code} now sells {category}"),
        false => format!("{code} no longer sells {category}"),
    };
    let headline = reg.get("products").ok_or_else(|| anyhow::anyhow!("no products entity"))?;
    Ok(reassign::publish(tx, &viewers, &before, &after, headline, &reason, now_ms)?)
}

/// Moves customers (by id or code) to another territory. Everyone whose view changes
/// gains or loses the customers and their dependent records, and gets a notice.
pub fn move_customers(
    tx: &Tx<'_>,
    reg: &Registry,
    to_code: &str,
    customers: &[String],
    now_ms: i64,
) -> anyhow::Result<Vec<ViewChange>> {
    let def = *reg.get("customers").ok_or_else(|| anyhow::anyhow!("no customers entity"))?;
    let territory = id_of(tx, "territories", "code", to_code)?
        .ok_or_else(|| anyhow::anyhow!("there is no territory '{to_code}'"))?;
    let mut ids = Vec::new();
    for c in customers {
        let id: Option<String> =
            tx.query_opt("SELECT id FROM customers WHERE id = ?1 OR code = ?1", args![c], |r| r.get(0))?;
        ids.push(id.ok_or_else(|| anyhow::anyhow!("there is no customer '{c}' (give an id or a customer code)"))?);
    }
    let from: Vec<String> = {
        let mut codes = BTreeSet::new();
        for id in &ids {
            codes.extend(tx.query(
                "SELECT DISTINCT t.code FROM customers c JOIN territories t ON t.id = c.territory_id WHERE c.id = ?1",
                args![id],
                |r| r.get::<String>(0),
            )?);
        }
        codes.into_iter().collect()
    };
    let moves = ids
        .iter()
        .map(|id| reassign::Move {
            entity: def.name,
            id: id.clone(),
            set: [("territory_id", Some(territory.clone()))].into_iter().collect(),
            certain: true,
        })
        .collect();
    let plan = reassign::MovePlan::before(tx, reg, moves)?;
    // Stamped like an edit: a manager's older offline change of the territory then loses
    // (and shows in the conflict log) instead of silently moving the customer back.
    let by = records::Writer { user_id: records::ADMIN_WRITER, client_id: records::ADMIN_WRITER, at_ms: now_ms };
    for id in &ids {
        let seq = records::set_server_field(tx, &def, id, "territory_id", Value::from(territory.clone()))?;
        records::stamp(tx, def.name, id, "territory_id", &by, seq)?;
    }
    let reason =
        format!("moved from {} to {to_code}", if from.is_empty() { "nowhere".into() } else { from.join(", ") });
    Ok(plan.publish(tx, reg, &def, &reason, now_ms)?)
}
