//! Applying a pushed batch of mutations: validation, authorisation by the registry's rules,
//! per-field last-write-wins in server time, the conflict log, and exactly-once results.
//!
//! A batch is all or nothing for bad input (unknown entity or field, wrong type, missing
//! required field, reference to a missing record): the request fails with a 4xx naming the
//! mutation and nothing is stored. Everything else is decided per mutation: applied,
//! merged (some fields lost to a later concurrent edit) or rejected with a reason.

use fieldsync_protocol::merge::apply_fields;
use fieldsync_protocol::time::rfc3339_ms;
use fieldsync_protocol::wire::{
    Mutation, MutationResult, MutationStatus, Op, PushRequest, PushResponse, MAX_PUSH_MUTATIONS, MAX_TIME_MS,
};
use fieldsync_protocol::ErrorCode;
use fieldsync_protocol::{check_write, validate_value, EntityDef, FieldStrategy, Registry, Violation};
use serde_json::Value;
use uuid::Uuid;

use crate::args;
use crate::auth::AuthUser;
use crate::checks;
use crate::error::AppError;
use crate::history::History;
use crate::reassign;
use crate::records;
use crate::rules;
use crate::sql::{DbError, Tx};

type Object = serde_json::Map<String, Value>;

/// Called after a batch is written and before it commits (fault injection in tests).
pub type BeforeCommit = std::sync::Arc<dyn Fn() + Send + Sync>;

/// Phase 1: checks the batch against the registry without touching the database.
pub fn validate(reg: &Registry, req: &PushRequest) -> Result<(), AppError> {
    if req.mutations.len() > MAX_PUSH_MUTATIONS {
        return Err(AppError::bad(
            ErrorCode::BatchTooLarge,
            format!(
                "A push may carry at most {MAX_PUSH_MUTATIONS} mutations, this one has {}; send smaller batches.",
                req.mutations.len()
            ),
        ));
    }
    let time_range = 0..=MAX_TIME_MS;
    if !time_range.contains(&req.client_time_ms) {
        return Err(AppError::bad(
            ErrorCode::InvalidRequest,
            format!("client_time_ms must be a time in milliseconds since 1970 (0 to {MAX_TIME_MS})."),
        )
        .with_field("client_time_ms"));
    }
    for m in &req.mutations {
        if !time_range.contains(&m.edited_at_ms) {
            return Err(AppError::bad(
                ErrorCode::InvalidMutation,
                format!("edited_at_ms must be a time in milliseconds since 1970 (0 to {MAX_TIME_MS})."),
            )
            .with_field("edited_at_ms")
            .with_mutation(m.mutation_id));
        }
        let def = reg.get(&m.entity).ok_or_else(|| {
            AppError::bad(ErrorCode::UnknownEntity, format!("There is no entity type '{}'.", m.entity))
                .with_mutation(m.mutation_id)
        })?;
        if m.op == Op::Delete && !m.fields.is_empty() {
            return Err(AppError::bad(ErrorCode::InvalidMutation, "A delete must not carry fields.")
                .with_mutation(m.mutation_id));
        }
        for (name, value) in &m.fields {
            let field = def.field(name).ok_or_else(|| {
                AppError::bad(ErrorCode::UnknownField, format!("{} has no field '{name}'.", def.name))
                    .with_field(name)
                    .with_mutation(m.mutation_id)
            })?;
            validate_value(field, value).map_err(|e| {
                AppError::bad(ErrorCode::InvalidValue, format!("{}.{e}.", def.name))
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
    /// Values written to the conflict log by the mutations that stood.
    conflicts: std::cell::Cell<u64>,
    /// Whether a webhook delivery was queued.
    webhooks_queued: std::cell::Cell<bool>,
}

/// What a push did: the answer, and how many overwritten values it wrote to the conflict
/// log (for `/metrics`).
pub struct Applied {
    pub response: PushResponse,
    pub conflicts_logged: u64,
    /// Whether the push queued webhook deliveries (the sender wakes once it commits).
    pub webhooks_queued: bool,
}

/// Phase 2: applies the batch in the caller's write transaction, in order, each mutation
/// at most once.
pub fn apply(
    tx: &Tx<'_>,
    reg: &Registry,
    user: &AuthUser,
    req: &PushRequest,
    now_ms: i64,
    before_commit: Option<&BeforeCommit>,
) -> Result<Applied, AppError> {
    let ctx = Ctx {
        reg,
        user,
        client_id: req.client_id.to_string(),
        offset_ms: now_ms.saturating_sub(req.client_time_ms),
        now_ms,
        conflicts: std::cell::Cell::new(0),
        webhooks_queued: std::cell::Cell::new(false),
    };
    // Writes to fields a visibility rule reads change who sees what: the views around them
    // are captured once for the whole batch, before it, and published once, after it.
    // A push from another history of the data waits until the client caught up with it
    // (crate::history); base cursors become seqs of this history.
    let (history, head) = History::read_with_head(tx)?;
    if let Some(cursor) = &req.cursor {
        history.continue_from(cursor, head)?;
    }
    let bases = req
        .mutations
        .iter()
        .map(|m| {
            history.base_seq(&m.base_cursor).map_err(|e| {
                AppError::bad(ErrorCode::InvalidMutation, format!("base_cursor {e}."))
                    .with_field("base_cursor")
                    .with_mutation(m.mutation_id)
            })
        })
        .collect::<Result<Vec<i64>, AppError>>()?;
    let mut client_seq: Option<i64> = tx.query_opt(
        &format!(
            "SELECT last_seq FROM client_sequences WHERE client_id = ?1{}",
            records::RowLock::NoKeyUpdate.clause(tx)
        ),
        args![ctx.client_id.as_str()],
        |r| r.get(0),
    )?;
    let known_seq = client_seq;
    let moves = moving_records(tx, reg, req, &bases)?;
    let headline = moves.first().and_then(|m| reg.get(m.entity)).copied();
    // A batch that moves records changes who sees what: it runs alone, so that what it
    // sees before and after is not changed by another write meanwhile.
    if !moves.is_empty() {
        tx.run_alone()?;
    }
    let plan = match moves.is_empty() {
        true => None,
        false => Some(reassign::MovePlan::before(tx, reg, moves)?),
    };
    let mut results = Vec::with_capacity(req.mutations.len());
    // The batch's earlier results: a mutation id sent twice in one batch is answered
    // like a replay.
    let mut stored = stored_results(tx, req)?;
    for (m, &base) in req.mutations.iter().zip(&bases) {
        if let Some((json, owner)) = stored.get(&m.mutation_id) {
            if *owner != user.id.to_string() {
                return Err(AppError::bad(
                    ErrorCode::DuplicateMutationId,
                    "This mutation id was already used by another user; generate a new one (UUIDv7).",
                )
                .with_mutation(m.mutation_id));
            }
            results.push(serde_json::from_str(json).map_err(|e| AppError::Internal(format!("stored result: {e}")))?);
            continue;
        }
        if let Some(seq) = m.client_seq {
            if client_seq.is_some_and(|last| seq <= last) {
                return Err(profile_copied().with_mutation(m.mutation_id));
            }
            client_seq = Some(seq);
        }
        // Each mutation in a savepoint: a refusal undoes what it wrote (but may keep the
        // flags a check raised); an error fails the whole batch.
        let conflicts_before = ctx.conflicts.get();
        let (result, flags) = tx.savepoint(|tx| {
            Ok::<_, AppError>(match apply_one(&ctx, tx, m, base).map_err(|e| e.with_mutation(m.mutation_id))? {
                Outcome::Done(result) => ((result, Vec::new()), true),
                Outcome::Refused { code, reason, flags } => (
                    (
                        MutationResult {
                            mutation_id: m.mutation_id,
                            status: MutationStatus::Rejected,
                            code: Some(code.as_str().into()),
                            reason: Some(reason),
                            lost_fields: Vec::new(),
                        },
                        flags,
                    ),
                    false,
                ),
            })
        })?;
        // A refused mutation leaves nothing behind but the flags its checks raised.
        if result.status == MutationStatus::Rejected {
            ctx.conflicts.set(conflicts_before);
        }
        for flag in flags {
            flag.write(reg, tx)?;
        }
        let json = serde_json::to_string(&result).map_err(|e| AppError::Internal(e.to_string()))?;
        tx.execute(
            "INSERT INTO applied_mutations (mutation_id, user_id, result, at_ms) VALUES (?1, ?2, ?3, ?4)",
            args![m.mutation_id.to_string(), user.id.to_string(), json.as_str(), now_ms],
        )?;
        stored.insert(m.mutation_id, (json, user.id.to_string()));
        results.push(result);
    }
    if let Some(last) = client_seq.filter(|_| client_seq != known_seq) {
        tx.execute(
            "INSERT INTO client_sequences (client_id, last_seq) VALUES (?1, ?2) \
             ON CONFLICT (client_id) DO UPDATE SET last_seq = excluded.last_seq",
            args![ctx.client_id.as_str(), last],
        )?;
    }
    if let (Some(plan), Some(headline)) = (plan, headline) {
        plan.publish(tx, reg, &headline, &format!("{} changed by {}", headline.name, user.username), now_ms)?;
    }
    // The change log's turn is taken here at the latest, and held until the commit: the
    // hook (a stalled commit, in tests) runs inside the ordered part.
    records::flush(tx)?;
    if let Some(hook) = before_commit {
        hook();
    }
    Ok(Applied {
        response: PushResponse { server_time_ms: now_ms, results },
        conflicts_logged: ctx.conflicts.get(),
        webhooks_queued: ctx.webhooks_queued.get(),
    })
}

/// The stored results (and their senders) of the batch's mutations that were applied
/// before, in one query.
fn stored_results(
    tx: &Tx<'_>,
    req: &PushRequest,
) -> Result<std::collections::HashMap<Uuid, (String, String)>, DbError> {
    let mut stored = std::collections::HashMap::new();
    let ids: Vec<String> = req.mutations.iter().map(|m| m.mutation_id.to_string()).collect();
    let sql = format!(
        "SELECT mutation_id, result, user_id FROM applied_mutations WHERE {}",
        crate::sql::in_texts(tx.backend(), "mutation_id", 1)
    );
    tx.for_each(&sql, &[crate::sql::text_list(ids.iter().map(String::as_str))], |r| {
        if let Ok(id) = r.get::<String>(0)?.parse::<Uuid>() {
            stored.insert(id, (r.get(1)?, r.get(2)?));
        }
        Ok(true)
    })?;
    Ok(stored)
}

/// The refusal of a mutation whose `client_seq` this client already used for another
/// one: two profiles share the client's identity, and their edits cannot be ordered.
fn profile_copied() -> AppError {
    AppError::bad(ErrorCode::ProfileCopied,
        "This computer's Fieldsync data is a copy of another computer's, which has already sent changes as this one; sign in again here to give it its own identity. Your changes are kept and sync once you have signed in.",
    )
    .with_status(axum::http::StatusCode::CONFLICT)
}

/// The existing records a batch writes a scope-read field of (a contact's customer, a
/// customer's territory), with their new values: their moves may change who sees them and
/// what hangs off them.
fn moving_records(
    tx: &Tx<'_>,
    reg: &Registry,
    req: &PushRequest,
    bases: &[i64],
) -> Result<Vec<reassign::Move>, AppError> {
    let written: std::collections::BTreeSet<&str> =
        req.mutations.iter().filter(|m| m.op == Op::Put).map(|m| m.entity.as_str()).collect();
    let me = req.client_id.to_string();
    let mut moves: Vec<reassign::Move> = Vec::new();
    // Per record: its place in `moves`, or None when it does not exist yet.
    let mut known: std::collections::BTreeMap<(&'static str, String), Option<usize>> = Default::default();
    for (m, &base) in req.mutations.iter().zip(bases).filter(|(m, _)| m.op == Op::Put) {
        let Some(def) = reg.get(&m.entity) else { continue };
        let scope_writes: Vec<(&'static str, &Value)> = crate::rules::scope_fields(&def.scope)
            .into_iter()
            .filter_map(|f| m.fields.get(f).map(|v| (f, v)))
            .collect();
        if scope_writes.is_empty() {
            continue;
        }
        let id = m.id.to_string();
        let slot = match known.get(&(def.name, id.clone())) {
            Some(slot) => *slot,
            None => {
                let slot = records::exists(tx, def.name, &id)?.then(|| {
                    // Foretelling who sees the record afterwards needs its parents to stay put.
                    let certain = !via_ancestors(reg, def).iter().any(|t| written.contains(t));
                    moves.push(reassign::Move { entity: def.name, id: id.clone(), set: Default::default(), certain });
                    moves.len() - 1
                });
                known.insert((def.name, id.clone()), slot);
                slot
            }
        };
        let Some(i) = slot else { continue };
        for (f, v) in scope_writes {
            // ...and its write not to lose to a concurrent one.
            let stamp = read_stamp(tx, def.name, &id, f)?;
            moves[i].certain &= stamp.is_none_or(|s| s.seq <= base || s.client_id == me);
            moves[i].set.insert(f, v.as_str().map(String::from));
        }
    }
    Ok(moves)
}

/// The entity types a type's visibility derives from through `Via` (parents, theirs, ...).
fn via_ancestors(reg: &Registry, def: &EntityDef) -> Vec<&'static str> {
    fn walk(reg: &Registry, scope: &fieldsync_protocol::Scope, def: &EntityDef, out: &mut Vec<&'static str>) {
        use fieldsync_protocol::Scope;
        match scope {
            Scope::Via(f) => {
                if let Some(parent) = def.field(f).and_then(|d| d.references()).and_then(|p| reg.get(p)) {
                    if !out.contains(&parent.name) {
                        out.push(parent.name);
                        walk(reg, &parent.scope, parent, out);
                    }
                }
            }
            Scope::AnyOf(list) | Scope::AllOf(list) => list.iter().for_each(|s| walk(reg, s, def, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(reg, &def.scope, def, &mut out);
    out
}

/// What became of one mutation (errors that fail the whole batch are `Err`).
enum Outcome {
    Done(MutationResult),
    /// Rejected with a stable code and a sentence for the user; everything it wrote is
    /// undone, then `flags` a check raised (e.g. lines marked with their new price) are
    /// written.
    Refused {
        code: ErrorCode,
        reason: String,
        flags: Vec<checks::Flag>,
    },
}

fn refuse(code: ErrorCode, reason: String) -> Outcome {
    Outcome::Refused { code, reason, flags: Vec::new() }
}

fn violated(v: Violation) -> Outcome {
    refuse(v.code, v.message)
}

/// Refuses a write that would give a `unique` field a value another record holds.
fn check_unique(tx: &Tx<'_>, def: &EntityDef, id: &str, fields: &Object) -> Result<Option<Outcome>, AppError> {
    for (name, value) in fields {
        let Some(field) = def.field(name).filter(|f| f.unique) else { continue };
        let Some(text) = value.as_str() else { continue };
        records::lock_value(tx, def.name, name, text)?;
        let taken: i64 = tx.value(
            &format!("SELECT count(*) FROM \"{}\" WHERE \"{name}\" = ?1 AND id <> ?2", def.name),
            args![text, id],
        )?;
        if taken > 0 {
            return Ok(Some(refuse(ErrorCode::Duplicate, fieldsync_protocol::duplicate_message(def, field, text))));
        }
    }
    Ok(None)
}

/// `base`: the seq up to which the mutation's author had seen changes.
fn apply_one(ctx: &Ctx<'_>, tx: &Tx<'_>, m: &Mutation, base: i64) -> Result<Outcome, AppError> {
    let def = ctx.reg.get(&m.entity).ok_or_else(|| AppError::Internal("entity vanished after validation".into()))?;
    let id = m.id.to_string();
    let lock = if m.op == Op::Delete { records::RowLock::Update } else { records::RowLock::NoKeyUpdate };
    let existing = match rules::load_with_visibility(tx, ctx.reg, def, &id, &ctx.user.id, lock)? {
        Some((_, false)) => return Ok(not_found(def)),
        Some((row, true)) => Some(row),
        None => None,
    };
    if let Some(field) =
        def.fields.iter().find(|d| d.strategy == FieldStrategy::ServerOnly && m.fields.contains_key(d.name))
    {
        let (label, noun) = (field_words(def, field.name), def.a_noun());
        return Ok(refuse(
            ErrorCode::Forbidden,
            format!("The server sets the {label} of {noun}; it cannot be changed here."),
        ));
    }
    match (m.op, existing) {
        (Op::Put, None) if records::is_deleted(tx, def.name, &id)? => Ok(refuse(
            ErrorCode::Deleted,
            format!("This {} was deleted on the server by someone else; discard your change.", def.noun()),
        )),
        (Op::Put, None) => create(ctx, tx, def, &id, m),
        (Op::Put, Some(row)) => update(ctx, tx, def, &id, row.to_object(def), m, base),
        (Op::Delete, None) if records::is_deleted(tx, def.name, &id)? => Ok(Outcome::Done(applied(m, Vec::new()))),
        (Op::Delete, None) => Ok(not_found(def)),
        (Op::Delete, Some(row)) => delete(ctx, tx, def, &id, row.to_object(def), m, base),
    }
}

fn applied(m: &Mutation, lost_fields: Vec<String>) -> MutationResult {
    let status = if lost_fields.is_empty() { MutationStatus::Applied } else { MutationStatus::Merged };
    MutationResult { mutation_id: m.mutation_id, status, code: None, reason: None, lost_fields }
}

fn not_found(def: &EntityDef) -> Outcome {
    refuse(
        ErrorCode::NotFound,
        format!("There is no such {} that you can see; it may have moved out of your territories.", def.noun()),
    )
}

fn outside_scope(def: &EntityDef) -> Outcome {
    refuse(
        ErrorCode::Forbidden,
        format!(
            "This change would put the {} outside your territories or team, which you may not do; fix it and resend.",
            def.noun()
        ),
    )
}

/// Refuses changes to a record whose own lifecycle, or whose parent's (`frozen_with`),
/// is in a state that does not allow edits.
fn check_editable(ctx: &Ctx<'_>, tx: &Tx<'_>, def: &EntityDef, record: &Object) -> Result<Option<Outcome>, AppError> {
    if let Some(sm) = def.state_machine {
        let state = record.get(sm.field).and_then(Value::as_str).unwrap_or_default();
        if !sm.editable_in.contains(&state) {
            return Ok(Some(refuse(
                ErrorCode::Locked,
                format!(
                    "This {} is {state}; only {} ones can be changed. Move it back to draft first if that is allowed.",
                    def.noun(),
                    sm.editable_in.join(" or ")
                ),
            )));
        }
    }
    let Some(link) = def.frozen_with else { return Ok(None) };
    let Some((parent_def, sm, state)) = parent_state(ctx, tx, def, record, link)? else { return Ok(None) };
    if sm.editable_in.contains(&state.as_str()) {
        return Ok(None);
    }
    Ok(Some(refuse(
        ErrorCode::Locked,
        format!(
            "The {} is {state}, so its {} can no longer change; move it back to draft first.",
            parent_def.noun(),
            def.plural()
        ),
    )))
}

fn create(ctx: &Ctx<'_>, tx: &Tx<'_>, def: &EntityDef, id: &str, m: &Mutation) -> Result<Outcome, AppError> {
    let role = ctx.user.role;
    let Some(allowed) = def.access(role).and_then(|a| a.create) else {
        return Ok(refuse(ErrorCode::Forbidden, format!("As a {role} you may not create {}.", def.plural())));
    };
    if let Some(field) = m.fields.keys().find(|f| !allowed.contains(f)) {
        let label = field_words(def, field);
        return Ok(refuse(
            ErrorCode::Forbidden,
            format!("As a {role} you may not set the {label} of a new {}.", def.noun()),
        ));
    }
    if let Some(missing) = def.fields.iter().find(|f| f.required && m.fields.get(f.name).is_none_or(Value::is_null)) {
        return Err(AppError::bad(
            ErrorCode::MissingField,
            format!("A new {} needs a value for '{}'.", def.noun(), missing.name),
        )
        .with_field(missing.name));
    }
    if let Err(v) = check_write(def, &Object::new(), &m.fields) {
        return Ok(violated(v));
    }
    if let Some(duplicate) = check_unique(tx, def, id, &m.fields)? {
        return Ok(duplicate);
    }
    let mut record = Object::new();
    apply_fields(def, &mut record, &m.fields);
    if let Some(sm) = def.state_machine {
        let state = record.get(sm.field).and_then(Value::as_str).unwrap_or_default();
        if !sm.initial.contains(&state) {
            return Ok(refuse(
                ErrorCode::InvalidTransition,
                format!("A new {} must start as {}, not {state}.", def.noun(), sm.initial.join(" or ")),
            ));
        }
    }
    if let Some(locked) = check_editable(ctx, tx, def, &record)? {
        return Ok(locked);
    }
    if let Some(refused) = check_references(ctx, tx, def, m.fields.iter().map(|(n, v)| (n.as_str(), v)))? {
        return Ok(refused);
    }
    if let Some(refused) = check_recorded_state(ctx, tx, def, &record)? {
        return Ok(refused);
    }
    let values: Vec<Value> = def.fields.iter().map(|f| record.get(f.name).cloned().unwrap_or(Value::Null)).collect();
    records::insert(tx, def, id, &values)?;
    if !rules::is_visible(tx, ctx.reg, def, id, &ctx.user.id)? {
        return Ok(outside_scope(def));
    }
    log_write(tx, ctx, def, id, m.fields.keys(), edit_time(ctx, m))?;
    Ok(Outcome::Done(applied(m, Vec::new())))
}

/// The record's parent through `link`, the parent's state machine and its state now; none
/// when the link is empty, the parent has no lifecycle or does not exist.
fn parent_state<'r>(
    ctx: &Ctx<'r>,
    tx: &Tx<'_>,
    def: &EntityDef,
    record: &Object,
    link: &str,
) -> Result<Option<(&'r EntityDef, &'static fieldsync_protocol::StateMachine, String)>, AppError> {
    let parent_def = def.field(link).and_then(|f| f.references()).and_then(|p| ctx.reg.get(p));
    let (Some(parent_def), Some(parent_id)) = (parent_def, record.get(link).and_then(Value::as_str)) else {
        return Ok(None);
    };
    let Some(sm) = parent_def.state_machine else { return Ok(None) };
    let Some(parent) = records::load_locked(tx, parent_def, parent_id, records::RowLock::Share)? else {
        return Ok(None);
    };
    let state = parent.to_object(parent_def).get(sm.field).and_then(Value::as_str).unwrap_or_default().to_string();
    Ok(Some((parent_def, sm, state)))
}

/// Refuses a record that states a state its parent is not in (a review "approved" of an
/// order whose approval was refused): see [`EntityDef::records_state_of`].
fn check_recorded_state(
    ctx: &Ctx<'_>,
    tx: &Tx<'_>,
    def: &EntityDef,
    record: &Object,
) -> Result<Option<Outcome>, AppError> {
    let Some((link, field)) = def.records_state_of else { return Ok(None) };
    let Some((parent_def, _, state)) = parent_state(ctx, tx, def, record, link)? else { return Ok(None) };
    let stated = record.get(field).and_then(Value::as_str).unwrap_or_default();
    if state == stated {
        return Ok(None);
    }
    let what = parent_def.noun();
    Ok(Some(refuse(ErrorCode::InvalidTransition,
        format!(
            "This {stated} decision did not apply: the {what} is {state}, so it is not recorded either. Look at the {what} again and decide anew."
        ),
    )))
}

struct Stamp {
    at_ms: i64,
    user_id: String,
    client_id: String,
    seq: i64,
}

fn read_stamp(tx: &Tx<'_>, entity: &str, id: &str, field: &str) -> Result<Option<Stamp>, DbError> {
    tx.query_opt(
        "SELECT at_ms, user_id, client_id, seq FROM field_stamps WHERE entity = ?1 AND record_id = ?2 AND field = ?3",
        args![entity, id, field],
        |r| Ok(Stamp { at_ms: r.get(0)?, user_id: r.get(1)?, client_id: r.get(2)?, seq: r.get(3)? }),
    )
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
    tx: &Tx<'_>,
    def: &EntityDef,
    id: &str,
    current: Object,
    m: &Mutation,
    base: i64,
) -> Result<Outcome, AppError> {
    let role = ctx.user.role;
    let Some(allowed) = def.access(role).and_then(|a| a.update) else {
        return Ok(refuse(ErrorCode::Forbidden, format!("As a {role} you may not change {}.", def.plural())));
    };
    if let Some(field) = m.fields.keys().find(|f| !allowed.contains(f)) {
        let label = field_words(def, field);
        return Ok(refuse(
            ErrorCode::Forbidden,
            format!("As a {role} you may not change the {label} of {}.", def.a_noun()),
        ));
    }
    if let Err(v) = check_write(def, &current, &m.fields) {
        return Ok(violated(v));
    }
    if let Some(duplicate) = check_unique(tx, def, id, &m.fields)? {
        return Ok(duplicate);
    }
    // Lifecycle: a state change must be an allowed transition; other fields change only
    // in editable states.
    let mut transition = None;
    if let Some(sm) = def.state_machine {
        let from = current.get(sm.field).and_then(Value::as_str).unwrap_or_default();
        if let Some(to) = m.fields.get(sm.field).and_then(Value::as_str).filter(|to| *to != from) {
            match sm.check(&def.noun(), from, to, role) {
                Ok(t) => transition = Some(t),
                Err(reason) => return Ok(refuse(ErrorCode::InvalidTransition, reason)),
            }
        }
        if m.fields.keys().any(|f| f != sm.field) {
            if let Some(locked) = check_editable(ctx, tx, def, &current)? {
                return Ok(locked);
            }
        }
    } else if let Some(locked) = check_editable(ctx, tx, def, &current)? {
        return Ok(locked);
    }
    let at = edit_time(ctx, m);
    let me = ctx.user.id.to_string();
    let (mut winners, mut lost, mut conflicts) = (Object::new(), Vec::new(), Vec::new());
    for (name, value) in &m.fields {
        let field = def.field(name).expect("validated field");
        let old = current.get(name).cloned().unwrap_or(Value::Null);
        if field.strategy != FieldStrategy::Lww {
            // Appends and counters combine with concurrent writes instead of competing.
            winners.insert(name.clone(), value.clone());
            continue;
        }
        // Concurrent: another client wrote the field after this client last pulled.
        // A stamp this push holds back is its own earlier write: never concurrent.
        let concurrent = match records::stamp_pending(tx, def.name, id, name) {
            true => None,
            false => read_stamp(tx, def.name, id, name)?.filter(|s| s.seq > base && s.client_id != ctx.client_id),
        };
        match concurrent {
            None => {
                winners.insert(name.clone(), value.clone());
            }
            // Later edit wins; ties go to the higher client id so every order agrees.
            // Equal values still move the stamp forward but are no conflict to log.
            Some(s) if (at, ctx.client_id.as_str()) > (s.at_ms, s.client_id.as_str()) => {
                winners.insert(name.clone(), value.clone());
                if old != *value {
                    conflicts.push(Conflict {
                        field: name,
                        kept: value.clone(),
                        kept_by: me.clone(),
                        overwritten: old,
                        overwritten_by: s.user_id,
                    });
                }
            }
            Some(_) if old == *value => {}
            Some(s) => {
                lost.push(name.clone());
                conflicts.push(Conflict {
                    field: name,
                    kept: old,
                    kept_by: s.user_id,
                    overwritten: value.clone(),
                    overwritten_by: me.clone(),
                });
            }
        }
    }
    if !winners.is_empty() {
        if let Some(refused) = check_references(ctx, tx, def, winners.iter().map(|(n, v)| (n.as_str(), v)))? {
            return Ok(refused);
        }
        let mut record = current.clone();
        apply_fields(def, &mut record, &winners);
        // Moving a child (an order line) to another parent: the new parent must be
        // editable too.
        if def.frozen_with.is_some_and(|link| winners.contains_key(link)) {
            if let Some(locked) = check_editable(ctx, tx, def, &record)? {
                return Ok(locked);
            }
        }
        // A change to a field the visibility rules use moves the record: `apply` publishes
        // the batch's view changes once, after all its mutations.
        records::write_fields(tx, def, id, &record, winners.keys())?;
        // The user saw the record before; only a field its scope reads can hide it now.
        let moved = rules::scope_fields(&def.scope).iter().any(|f| winners.contains_key(*f));
        if moved && !rules::is_visible(tx, ctx.reg, def, id, &ctx.user.id)? {
            return Ok(outside_scope(def));
        }
        // A transition's checks see the record as this whole mutation leaves it (an order
        // submitted and moved to another customer in one write is priced for the new one),
        // and run only when the state change itself is written.
        let state_written = def.state_machine.is_some_and(|sm| winners.contains_key(sm.field));
        if let Some(t) = transition.filter(|_| state_written) {
            if let Some(r) = checks::before_transition(ctx.reg, tx, def, id, t, ctx.now_ms)? {
                return Ok(Outcome::Refused { code: r.code, reason: r.reason, flags: r.flags });
            }
        }
        log_write(tx, ctx, def, id, winners.keys(), at)?;
    }
    for c in conflicts {
        log_conflict(ctx, tx, def, id, c)?;
    }
    // Only a transition that was written (not lost to a later concurrent edit) runs its
    // after-checks.
    let state_written = def.state_machine.is_some_and(|sm| winners.contains_key(sm.field));
    if let Some(t) = transition.filter(|_| state_written) {
        checks::after_transition(ctx.reg, tx, def, id, t, ctx.now_ms)?;
        // Subscribed webhooks hear of it once this batch commits (never if it does not).
        if crate::webhooks::enqueue(tx, ctx.reg, def, id, t.to, ctx.now_ms)? {
            ctx.webhooks_queued.set(true);
        }
    }
    Ok(Outcome::Done(applied(m, lost)))
}

fn delete(
    ctx: &Ctx<'_>,
    tx: &Tx<'_>,
    def: &EntityDef,
    id: &str,
    current: Object,
    m: &Mutation,
    base: i64,
) -> Result<Outcome, AppError> {
    let role = ctx.user.role;
    if !def.access(role).is_some_and(|a| a.delete) {
        return Ok(refuse(ErrorCode::Forbidden, format!("As a {role} you may not delete {}.", def.plural())));
    }
    if let Some(locked) = check_editable(ctx, tx, def, &current)? {
        return Ok(locked);
    }
    for (referrer, field) in ctx.reg.referrers(def.name) {
        let n: i64 =
            tx.value(&format!("SELECT count(*) FROM \"{}\" WHERE \"{}\" = ?1", referrer.name, field.name), args![id])?;
        if n > 0 {
            return Ok(refuse(
                ErrorCode::InUse,
                format!(
                    "This {} cannot be deleted: {n} {} still refer to it; delete or change those first.",
                    def.noun(),
                    referrer.plural()
                ),
            ));
        }
    }
    // A delete discards every edit of the record, also one its author had not seen
    // (another writer's, after the delete's base cursor): that loss is logged as a
    // conflict, from which the record can be brought back.
    let unseen: Option<String> = tx.query_opt(
        "SELECT s.user_id FROM field_stamps s JOIN users u ON u.id = s.user_id \
         WHERE s.entity = ?1 AND s.record_id = ?2 AND s.seq > ?3 AND s.client_id <> ?4 ORDER BY s.seq DESC LIMIT 1",
        args![def.name, id, base, ctx.client_id.as_str()],
        |r| r.get(0),
    )?;
    if let Some(editor) = unseen {
        let mut record = current;
        record.retain(|k, v| !v.is_null() && def.field(k).is_some_and(|f| f.strategy != FieldStrategy::ServerOnly));
        let conflict = Conflict {
            field: fieldsync_protocol::wire::DELETED_RECORD,
            kept: Value::Null,
            kept_by: ctx.user.id.to_string(),
            overwritten: Value::Object(record),
            overwritten_by: editor,
        };
        log_conflict(ctx, tx, def, id, conflict)?;
    }
    records::delete(tx, ctx.reg, def, id)?;
    Ok(Outcome::Done(applied(m, Vec::new())))
}

/// The edit's time in server time: the client's clock corrected by the offset measured
/// on this request, and never later than now.
fn edit_time(ctx: &Ctx<'_>, m: &Mutation) -> i64 {
    m.edited_at_ms.saturating_add(ctx.offset_ms).min(ctx.now_ms)
}

/// Logs the change of the record and stamps the fields this mutation wrote.
fn log_write<'f>(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
    def: &EntityDef,
    id: &str,
    fields: impl Iterator<Item = &'f String>,
    at: i64,
) -> Result<(), DbError> {
    let user = ctx.user.id.to_string();
    let by = records::Writer { user_id: &user, client_id: &ctx.client_id, at_ms: at };
    records::log_write(tx, def.name, id, fields.map(String::as_str), &by)
}

/// Fails the batch when a reference points at a record that does not exist; refuses the
/// mutation when it points at a record the user may not see (the same rule as reads).
fn check_references<'v>(
    ctx: &Ctx<'_>,
    tx: &Tx<'_>,
    def: &EntityDef,
    fields: impl Iterator<Item = (&'v str, &'v Value)>,
) -> Result<Option<Outcome>, AppError> {
    for (name, value) in fields {
        let target = def.field(name).and_then(|f| f.references()).and_then(|t| ctx.reg.get(t));
        let (Some(target), Some(ref_id)) = (target, value.as_str()) else { continue };
        if !records::exists_locked(tx, target.name, ref_id, records::RowLock::KeyShare)? {
            return Err(AppError::bad(
                ErrorCode::MissingReference,
                format!("{}.{name} refers to {} record {ref_id}, which does not exist.", def.name, target.name),
            )
            .with_field(name));
        }
        if target.readable_by(ctx.user.role) && !rules::is_visible(tx, ctx.reg, target, ref_id, &ctx.user.id)? {
            return Ok(Some(refuse(
                ErrorCode::Forbidden,
                format!(
                    "The {} you chose for this {} is outside your territories or team; choose another and resend.",
                    field_words(def, name),
                    def.noun()
                ),
            )));
        }
    }
    Ok(None)
}

fn username(tx: &Tx<'_>, user_id: &str) -> Result<String, DbError> {
    tx.query_opt("SELECT username FROM users WHERE id = ?1", args![user_id], |r| r.get(0))
        .map(|u| u.unwrap_or_else(|| user_id.to_string()))
}

fn log_conflict(ctx: &Ctx<'_>, tx: &Tx<'_>, def: &EntityDef, id: &str, c: Conflict<'_>) -> Result<(), AppError> {
    ctx.conflicts.set(ctx.conflicts.get() + 1);
    let log = ctx.reg.get("sync_conflicts").ok_or_else(|| AppError::Internal("no sync_conflicts entity".into()))?;
    let entry = serde_json::json!({
        "entity": def.name,
        "record_id": id,
        "field": c.field,
        "kept": c.kept.to_string(),
        "overwritten": c.overwritten.to_string(),
        "kept_by": username(tx, &c.kept_by)?,
        "overwritten_by": username(tx, &c.overwritten_by)?,
        "kept_by_id": c.kept_by,
        "overwritten_by_id": c.overwritten_by,
        "at": rfc3339_ms(ctx.now_ms),
    });
    let Value::Object(entry) = entry else { unreachable!("a JSON object literal") };
    records::upsert_object(tx, log, &Uuid::now_v7().to_string(), &entry)?;
    Ok(())
}

/// A field as a refusal names it mid-sentence: "credit limit", "price list".
fn field_words(def: &EntityDef, name: &str) -> String {
    def.field(name).map_or_else(|| name.replace('_', " "), |f| f.label().to_lowercase())
}
