//! Applying a pushed batch of mutations: validation, authorisation by the registry's rules,
//! per-field last-write-wins in server time, the conflict log, and exactly-once results.
//!
//! A batch is all or nothing for bad input (unknown entity or field, wrong type, missing
//! required field, reference to a missing record): the request fails with a 4xx naming the
//! mutation and nothing is stored. Everything else is decided per mutation: applied,
//! merged (some fields lost to a later concurrent edit) or rejected with a reason.

use fieldsync_protocol::time::rfc3339_ms;
use fieldsync_protocol::wire::{
    Mutation, MutationResult, MutationStatus, Op, PushRequest, PushResponse, MAX_PUSH_MUTATIONS,
};
use fieldsync_protocol::{validate_value, EntityDef, Registry};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::records;
use crate::rules;

/// Called after a batch is written and before it commits (fault injection in tests).
pub type BeforeCommit = std::sync::Arc<dyn Fn() + Send + Sync>;

/// Phase 1: checks the batch against the registry without touching the database.
pub fn validate(reg: &Registry, req: &PushRequest) -> Result<(), AppError> {
    if req.mutations.len() > MAX_PUSH_MUTATIONS {
        return Err(AppError::bad(
            "batch_too_large",
            format!("A push may carry at most {MAX_PUSH_MUTATIONS} mutations, this one has {}; send smaller batches.", req.mutations.len()),
        ));
    }
    for m in &req.mutations {
        let def = reg.get(&m.entity).ok_or_else(|| {
            AppError::bad(
                "unknown_entity",
                format!("There is no entity type '{}'.", m.entity),
            )
            .with_mutation(m.mutation_id)
        })?;
        if m.op == Op::Delete && !m.fields.is_empty() {
            return Err(
                AppError::bad("invalid_mutation", "A delete must not carry fields.")
                    .with_mutation(m.mutation_id),
            );
        }
        for (name, value) in &m.fields {
            let field = def.field(name).ok_or_else(|| {
                AppError::bad(
                    "unknown_field",
                    format!("{} has no field '{name}'.", def.name),
                )
                .with_field(name)
                .with_mutation(m.mutation_id)
            })?;
            validate_value(field, value).map_err(|e| {
                AppError::bad("invalid_value", format!("{}.{e}.", def.name))
                    .with_field(name)
                    .with_mutation(m.mutation_id)
            })?;
        }
    }
    Ok(())
}

struct Ctx<'a> {
    reg: &'a Registry,
    user: &'a AuthUser,
    client_id: String,
    /// Server clock minus client clock, measured from this request.
    offset_ms: i64,
    now_ms: i64,
}

/// Phase 2: applies the batch in one transaction, in order, each mutation at most once.
pub fn apply(
    conn: &mut Connection,
    reg: &Registry,
    user: &AuthUser,
    req: &PushRequest,
    now_ms: i64,
    before_commit: Option<&BeforeCommit>,
) -> Result<PushResponse, AppError> {
    let ctx = Ctx {
        reg,
        user,
        client_id: req.client_id.to_string(),
        offset_ms: now_ms - req.client_time_ms,
        now_ms,
    };
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(req.mutations.len());
    for m in &req.mutations {
        let stored: Option<String> = tx
            .prepare_cached("SELECT result FROM applied_mutations WHERE mutation_id = ?1")?
            .query_row([m.mutation_id.to_string()], |r| r.get(0))
            .optional()?;
        if let Some(json) = stored {
            results.push(
                serde_json::from_str(&json)
                    .map_err(|e| AppError::Internal(format!("stored result: {e}")))?,
            );
            continue;
        }
        let sp = tx.savepoint()?;
        let result = match apply_one(&ctx, &sp, m).map_err(|e| e.with_mutation(m.mutation_id))? {
            Ok(result) => {
                sp.commit()?;
                result
            }
            Err((code, reason)) => {
                drop(sp); // rolls back whatever this mutation wrote
                MutationResult {
                    mutation_id: m.mutation_id,
                    status: MutationStatus::Rejected,
                    code: Some(code.into()),
                    reason: Some(reason),
                    lost_fields: Vec::new(),
                }
            }
        };
        let json = serde_json::to_string(&result).map_err(|e| AppError::Internal(e.to_string()))?;
        tx.execute(
            "INSERT INTO applied_mutations (mutation_id, user_id, result, at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![m.mutation_id.to_string(), user.id.to_string(), json, now_ms],
        )?;
        results.push(result);
    }
    if let Some(hook) = before_commit {
        hook();
    }
    tx.commit()?;
    Ok(PushResponse {
        server_time_ms: now_ms,
        results,
    })
}

/// A per-mutation rejection: stable code and a sentence for the user.
type Rejection = (&'static str, String);

fn apply_one(
    ctx: &Ctx<'_>,
    conn: &Connection,
    m: &Mutation,
) -> Result<Result<MutationResult, Rejection>, AppError> {
    let def = ctx
        .reg
        .get(&m.entity)
        .ok_or_else(|| AppError::Internal("entity vanished after validation".into()))?;
    let id = m.id.to_string();
    let existing = records::load(conn, def, &id)?;
    if existing.is_some() && !rules::is_visible(conn, ctx.reg, def, &id, &ctx.user.id)? {
        return Ok(Err(not_found(def, &id)));
    }
    let outcome = match (m.op, existing) {
        (Op::Put, None) if records::is_deleted(conn, def.name, &id)? => Err((
            "deleted",
            format!(
                "This {} record was deleted on the server by someone else; discard your change.",
                def.name
            ),
        )),
        (Op::Put, None) => create(ctx, conn, def, &id, m)?,
        (Op::Put, Some(row)) => update(ctx, conn, def, &id, row.values, m)?,
        (Op::Delete, None) if records::is_deleted(conn, def.name, &id)? => {
            Ok(applied(m, Vec::new()))
        }
        (Op::Delete, None) => Err(not_found(def, &id)),
        (Op::Delete, Some(_)) => delete(ctx, conn, def, &id, m)?,
    };
    Ok(outcome)
}

fn applied(m: &Mutation, lost_fields: Vec<String>) -> MutationResult {
    let status = if lost_fields.is_empty() {
        MutationStatus::Applied
    } else {
        MutationStatus::Merged
    };
    MutationResult {
        mutation_id: m.mutation_id,
        status,
        code: None,
        reason: None,
        lost_fields,
    }
}

fn not_found(def: &EntityDef, id: &str) -> Rejection {
    ("not_found", format!("There is no {} record {id} that you can see; it may have moved out of your territories.", def.name))
}

fn forbidden(what: String) -> Rejection {
    ("forbidden", what)
}

fn outside_scope(def: &EntityDef) -> Rejection {
    forbidden(format!(
        "This change would put the {} record outside your territories or team, which you may not do; fix the record and resend.",
        def.name
    ))
}

fn create(
    ctx: &Ctx<'_>,
    conn: &Connection,
    def: &EntityDef,
    id: &str,
    m: &Mutation,
) -> Result<Result<MutationResult, Rejection>, AppError> {
    let role = ctx.user.role;
    if !def.access(role).is_some_and(|a| a.create) {
        return Ok(Err(forbidden(format!(
            "As a {role} you may not create {} records.",
            def.name
        ))));
    }
    if let Some(missing) = def
        .fields
        .iter()
        .find(|f| f.required && m.fields.get(f.name).is_none_or(Value::is_null))
    {
        return Err(AppError::bad(
            "missing_field",
            format!(
                "A new {} record needs a value for '{}'.",
                def.name, missing.name
            ),
        )
        .with_field(missing.name));
    }
    let values: Vec<Value> = def
        .fields
        .iter()
        .map(|f| m.fields.get(f.name).cloned().unwrap_or(Value::Null))
        .collect();
    check_references(
        ctx.reg,
        conn,
        def,
        m.fields.iter().map(|(n, v)| (n.as_str(), v)),
    )?;
    let seq = records::upsert(conn, def, id, &values)?;
    if !rules::is_visible(conn, ctx.reg, def, id, &ctx.user.id)? {
        return Ok(Err(outside_scope(def)));
    }
    let at = edit_time(ctx, m);
    for name in m.fields.keys() {
        stamp(conn, ctx, def, id, name, at, seq)?;
    }
    Ok(Ok(applied(m, Vec::new())))
}

struct Stamp {
    at_ms: i64,
    user_id: String,
    client_id: String,
    seq: i64,
}

fn read_stamp(
    conn: &Connection,
    entity: &str,
    id: &str,
    field: &str,
) -> rusqlite::Result<Option<Stamp>> {
    conn.prepare_cached(
        "SELECT at_ms, user_id, client_id, seq FROM field_stamps WHERE entity = ?1 AND record_id = ?2 AND field = ?3",
    )?
    .query_row(params![entity, id, field], |r| {
        Ok(Stamp { at_ms: r.get(0)?, user_id: r.get(1)?, client_id: r.get(2)?, seq: r.get(3)? })
    })
    .optional()
}

/// A value that lost, and the one that won, for the conflict log.
struct Conflict<'a> {
    field: &'a str,
    kept: Value,
    kept_by: String,
    overwritten: Value,
    overwritten_by: String,
}

fn update(
    ctx: &Ctx<'_>,
    conn: &Connection,
    def: &EntityDef,
    id: &str,
    current: Vec<Value>,
    m: &Mutation,
) -> Result<Result<MutationResult, Rejection>, AppError> {
    let role = ctx.user.role;
    let Some(allowed) = def.access(role).and_then(|a| a.update) else {
        return Ok(Err(forbidden(format!(
            "As a {role} you may not change {} records.",
            def.name
        ))));
    };
    if let Some(field) = m.fields.keys().find(|f| !allowed.contains(f)) {
        return Ok(Err(forbidden(format!(
            "As a {role} you may not change {}.{field}.",
            def.name
        ))));
    }
    let at = edit_time(ctx, m);
    let me = ctx.user.id.to_string();
    let (mut winners, mut lost, mut conflicts) = (Vec::new(), Vec::new(), Vec::new());
    for (name, value) in &m.fields {
        let idx = def
            .fields
            .iter()
            .position(|f| f.name == name)
            .expect("validated field");
        let old = &current[idx];
        // Concurrent: another client wrote the field after this client last pulled.
        let concurrent = read_stamp(conn, def.name, id, name)?
            .filter(|s| s.seq > m.base_cursor && s.client_id != ctx.client_id);
        match concurrent {
            None => winners.push((name.as_str(), value)),
            // Later edit wins; ties go to the higher client id so every order agrees.
            // Equal values still move the stamp forward but are no conflict to log.
            Some(s) if (at, ctx.client_id.as_str()) > (s.at_ms, s.client_id.as_str()) => {
                winners.push((name.as_str(), value));
                if old == value {
                    continue;
                }
                conflicts.push(Conflict {
                    field: name,
                    kept: value.clone(),
                    kept_by: me.clone(),
                    overwritten: old.clone(),
                    overwritten_by: s.user_id,
                });
            }
            Some(_) if old == value => {}
            Some(s) => {
                lost.push(name.clone());
                conflicts.push(Conflict {
                    field: name,
                    kept: old.clone(),
                    kept_by: s.user_id,
                    overwritten: value.clone(),
                    overwritten_by: me.clone(),
                });
            }
        }
    }
    if !winners.is_empty() {
        check_references(ctx.reg, conn, def, winners.iter().map(|(n, v)| (*n, *v)))?;
        let sets: Vec<String> = winners
            .iter()
            .enumerate()
            .map(|(i, (n, _))| format!("\"{n}\" = ?{}", i + 2))
            .collect();
        let sql = format!(
            "UPDATE \"{}\" SET {} WHERE id = ?1",
            def.name,
            sets.join(", ")
        );
        let mut values = vec![rusqlite::types::Value::Text(id.to_string())];
        for (n, v) in &winners {
            values.push(fieldsync_sqlkit::json_to_sql(
                def.field(n).expect("validated").ty,
                v,
            ));
        }
        conn.execute(&sql, rusqlite::params_from_iter(values))?;
        if !rules::is_visible(conn, ctx.reg, def, id, &ctx.user.id)? {
            return Ok(Err(outside_scope(def)));
        }
        let seq = records::log_change(conn, def.name, id, false)?;
        for (name, _) in &winners {
            stamp(conn, ctx, def, id, name, at, seq)?;
        }
    }
    for c in conflicts {
        log_conflict(ctx, conn, def, id, c)?;
    }
    Ok(Ok(applied(m, lost)))
}

fn delete(
    ctx: &Ctx<'_>,
    conn: &Connection,
    def: &EntityDef,
    id: &str,
    m: &Mutation,
) -> Result<Result<MutationResult, Rejection>, AppError> {
    let role = ctx.user.role;
    if !def.access(role).is_some_and(|a| a.delete) {
        return Ok(Err(forbidden(format!(
            "As a {role} you may not delete {} records.",
            def.name
        ))));
    }
    for (referrer, field) in ctx.reg.referrers(def.name) {
        let n: i64 = conn.query_row(
            &format!(
                "SELECT count(*) FROM \"{}\" WHERE \"{}\" = ?1",
                referrer.name, field.name
            ),
            [id],
            |r| r.get(0),
        )?;
        if n > 0 {
            return Ok(Err((
                "in_use",
                format!("This {} record cannot be deleted: {n} {} record(s) still refer to it; delete or change those first.", def.name, referrer.name),
            )));
        }
    }
    records::delete(conn, def, id)?;
    Ok(Ok(applied(m, Vec::new())))
}

/// The edit's time in server time: the client's clock corrected by the offset measured
/// on this request, and never later than now.
fn edit_time(ctx: &Ctx<'_>, m: &Mutation) -> i64 {
    m.edited_at_ms.saturating_add(ctx.offset_ms).min(ctx.now_ms)
}

fn stamp(
    conn: &Connection,
    ctx: &Ctx<'_>,
    def: &EntityDef,
    id: &str,
    field: &str,
    at: i64,
    seq: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO field_stamps (entity, record_id, field, at_ms, user_id, client_id, seq) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![def.name, id, field, at, ctx.user.id.to_string(), ctx.client_id, seq])?;
    Ok(())
}

/// Fails the batch when a reference points at a record that does not exist.
fn check_references<'v>(
    reg: &Registry,
    conn: &Connection,
    def: &EntityDef,
    fields: impl Iterator<Item = (&'v str, &'v Value)>,
) -> Result<(), AppError> {
    for (name, value) in fields {
        let (Some(target), Some(ref_id)) =
            (def.field(name).and_then(|f| f.references()), value.as_str())
        else {
            continue;
        };
        if reg.get(target).is_some() && !records::exists(conn, target, ref_id)? {
            return Err(AppError::bad(
                "missing_reference",
                format!(
                    "{}.{name} refers to {target} record {ref_id}, which does not exist.",
                    def.name
                ),
            )
            .with_field(name));
        }
    }
    Ok(())
}

fn username(conn: &Connection, user_id: &str) -> rusqlite::Result<String> {
    conn.prepare_cached("SELECT username FROM users WHERE id = ?1")?
        .query_row([user_id], |r| r.get(0))
        .optional()
        .map(|u| u.unwrap_or_else(|| user_id.to_string()))
}

fn log_conflict(
    ctx: &Ctx<'_>,
    conn: &Connection,
    def: &EntityDef,
    id: &str,
    c: Conflict<'_>,
) -> Result<(), AppError> {
    let log = ctx
        .reg
        .get("sync_conflicts")
        .ok_or_else(|| AppError::Internal("no sync_conflicts entity".into()))?;
    let values = vec![
        Value::from(def.name),
        Value::from(id),
        Value::from(c.field),
        Value::from(c.kept.to_string()),
        Value::from(c.overwritten.to_string()),
        Value::from(username(conn, &c.kept_by)?),
        Value::from(username(conn, &c.overwritten_by)?),
        Value::from(c.kept_by),
        Value::from(c.overwritten_by),
        Value::from(rfc3339_ms(ctx.now_ms)),
    ];
    records::upsert(conn, log, &Uuid::now_v7().to_string(), &values)?;
    Ok(())
}
