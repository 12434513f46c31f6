//! The integration API: an ERP (or any back-office system) loads records and reads them
//! back over HTTP with a token of its own, separate from user sessions.
//!
//! - Tokens are made with `fieldsync-server integration add NAME --scopes ...`, shown once
//!   and stored as their SHA-256 only. Each carries scopes (`import:products`,
//!   `export:orders`, `import:*`, `export:*`) and can be listed and revoked.
//! - `POST /v1/integration/import/{entity}` runs [`crate::import`] on the request body (CSV
//!   or JSON Lines, at most [`IntegrationLimits::max_import_bytes`]), one import at a time
//!   with a short queue ([`IntegrationLimits::queued_imports`]); beyond it, `503`.
//! - `GET /v1/integration/export/{entity}?cursor=` returns one [`crate::export::Page`].

use fieldsync_protocol::ErrorCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use fieldsync_protocol::wire::ErrorBody;
use fieldsync_protocol::Registry;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::args;
use crate::error::AppError;
use crate::export;
use crate::http::AppState;
use crate::import::{self, Format, Options, Report};
use crate::sql::{DbError, Tx};

/// Bounds on what an integration may make the server spend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationLimits {
    /// Largest import body, in bytes (`413` beyond).
    pub max_import_bytes: usize,
    /// Imports waiting for the one running; more are answered `503`.
    pub queued_imports: usize,
}

impl Default for IntegrationLimits {
    fn default() -> Self {
        IntegrationLimits { max_import_bytes: 64 << 20, queued_imports: 4 }
    }
}

/// One import runs at a time (they serialise on the writer anyway); a few may wait.
pub struct ImportGate {
    running: tokio::sync::Semaphore,
    waiting: AtomicUsize,
    limits: IntegrationLimits,
}

impl ImportGate {
    pub fn new(limits: IntegrationLimits) -> Self {
        ImportGate { running: tokio::sync::Semaphore::new(1), waiting: AtomicUsize::new(0), limits }
    }

    pub fn limits(&self) -> &IntegrationLimits {
        &self.limits
    }

    /// Imports running or waiting right now.
    pub fn in_use(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

/// Holds one place (running or queued) until the import's request ends.
struct Turn<'a>(&'a AtomicUsize);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a token may do: `import:ENTITY` or `export:ENTITY` (`*` for every type).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scope {
    pub action: Action,
    pub entity: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Import,
    Export,
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let action = match self.action {
            Action::Import => "import",
            Action::Export => "export",
        };
        write!(f, "{action}:{}", self.entity)
    }
}

/// Parses `import:products,export:orders` (commas or spaces), checking each type exists and
/// can be imported or exported.
pub fn parse_scopes(reg: &Registry, text: &str) -> Result<Vec<Scope>, String> {
    let mut scopes = Vec::new();
    for item in text.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()) {
        let (action, entity) = item
            .split_once(':')
            .ok_or_else(|| format!("'{item}' is not a scope; write import:ENTITY or export:ENTITY"))?;
        let action = match action {
            "import" => Action::Import,
            "export" => Action::Export,
            other => return Err(format!("'{other}' in '{item}' is not import or export")),
        };
        if entity != "*" {
            let def = reg.get(entity).ok_or_else(|| format!("there is no entity type '{entity}' (in '{item}')"))?;
            if action == Action::Import && !def.importable {
                return Err(format!(
                    "{entity} cannot be imported (in '{item}'); importable types: {}",
                    import::importable(reg).join(", ")
                ));
            }
        }
        scopes.push(Scope { action, entity: entity.to_string() });
    }
    if scopes.is_empty() {
        return Err("give at least one scope, e.g. --scopes import:products,export:orders".into());
    }
    Ok(scopes)
}

fn scope_text(scopes: &[Scope]) -> String {
    scopes.iter().map(Scope::to_string).collect::<Vec<_>>().join(" ")
}

/// Prefix of every integration token, so a leaked one is recognisable in logs and scans.
pub const TOKEN_PREFIX: &str = "fsi_";

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates an integration and returns its token (shown once; only its digest is stored).
pub fn add(tx: &Tx<'_>, name: &str, scopes: &[Scope], now_ms: i64) -> Result<String, AddError> {
    if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(AddError::Name(name.to_string()));
    }
    let taken: bool =
        tx.value("SELECT EXISTS (SELECT 1 FROM integrations WHERE name = ?1 AND revoked_at_ms IS NULL)", args![name])?;
    if taken {
        return Err(AddError::Taken(name.to_string()));
    }
    let mut bytes = [0u8; 32];
    rand::Rng::fill(&mut rand::rngs::OsRng, &mut bytes);
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    tx.execute(
        "INSERT INTO integrations (id, name, token_hash, scopes, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        args![uuid::Uuid::now_v7().to_string(), name, digest(&token), scope_text(scopes), now_ms],
    )?;
    Ok(token)
}

#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("'{0}' is not a usable integration name: use 1 to 64 letters, digits, '-', '_' or '.'")]
    Name(String),
    #[error("an integration named '{0}' already exists; revoke it first or choose another name")]
    Taken(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// One integration as `integration list` shows it (never its token).
#[derive(Debug, Clone, Serialize)]
pub struct IntegrationInfo {
    pub name: String,
    pub scopes: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

pub fn list(tx: &Tx<'_>) -> Result<Vec<IntegrationInfo>, DbError> {
    let time = |ms: Option<i64>| ms.map(fieldsync_protocol::time::rfc3339_ms);
    tx.query(
        "SELECT name, scopes, created_at_ms, last_used_at_ms, revoked_at_ms FROM integrations ORDER BY created_at_ms",
        args![],
        |r| {
            Ok(IntegrationInfo {
                name: r.get(0)?,
                scopes: r.get(1)?,
                created_at: fieldsync_protocol::time::rfc3339_ms(r.get(2)?),
                last_used_at: time(r.get(3)?),
                revoked_at: time(r.get(4)?),
            })
        },
    )
}

/// Revokes the integration's token; returns whether there was one in use.
pub fn revoke(tx: &Tx<'_>, name: &str, now_ms: i64) -> Result<bool, DbError> {
    let n = tx.execute(
        "UPDATE integrations SET revoked_at_ms = ?2 WHERE name = ?1 AND revoked_at_ms IS NULL",
        args![name, now_ms],
    )?;
    Ok(n > 0)
}

/// A request authenticated with an integration token.
pub struct Integration {
    pub name: String,
    pub scopes: Vec<Scope>,
}

impl Integration {
    /// Refuses (403) unless a scope grants `action` on `entity`.
    fn allow(&self, action: Action, entity: &str) -> Result<(), AppError> {
        if self.scopes.iter().any(|s| s.action == action && (s.entity == "*" || s.entity == entity)) {
            return Ok(());
        }
        let wanted = Scope { action, entity: entity.to_string() };
        Err(AppError::bad(
            ErrorCode::Forbidden,
            format!(
                "The integration '{}' may not {wanted}; its scopes are {}. Add the scope with a new token.",
                self.name,
                scope_text(&self.scopes)
            ),
        )
        .with_status(StatusCode::FORBIDDEN))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Integration
where
    Arc<AppState>: axum::extract::FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state: Arc<AppState> = axum::extract::FromRef::from_ref(state);
        let refused = || AppError::Unauthenticated {
            code: ErrorCode::Unauthenticated,
            message:
                "The integration API needs an integration token (fieldsync-server integration add) as a Bearer token."
                    .into(),
        };
        let Some(token) = bearer(&parts.headers).filter(|t| t.starts_with(TOKEN_PREFIX)) else {
            return Err(refused());
        };
        let hash = digest(token);
        let now = state.clock.now_ms();
        let reg = state.registry.clone();
        let found = state
            .db
            .write_unordered(move |tx| {
                let row: Option<(String, String, Option<i64>)> = tx.query_opt(
                    "SELECT name, scopes, revoked_at_ms FROM integrations WHERE token_hash = ?1",
                    args![hash.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?;
                if let Some((_, _, None)) = &row {
                    tx.execute("UPDATE integrations SET last_used_at_ms = ?2 WHERE token_hash = ?1", args![hash, now])?;
                }
                Ok(row)
            })
            .await?;
        match found {
            Some((name, scopes, None)) => {
                // Scopes were checked when the token was made; a type since removed from the
                // registry simply grants nothing.
                let scopes = scopes.split(' ').filter_map(|s| parse_scopes(&reg, s).ok()).flatten().collect();
                Ok(Integration { name, scopes })
            }
            Some((name, _, Some(_))) => Err(AppError::Unauthenticated {
                code: ErrorCode::TokenRevoked,
                message: format!("The token of the integration '{name}' was revoked; ask for a new one."),
            }),
            None => Err(refused()),
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(axum::http::header::AUTHORIZATION).and_then(|h| h.to_str().ok()).and_then(|h| h.strip_prefix("Bearer "))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// `csv` or `jsonl`; by default taken from the Content-Type (`text/csv`,
    /// `application/x-ndjson`), else CSV.
    pub format: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub all_or_nothing: bool,
    #[serde(default)]
    pub delete_missing: bool,
}

/// An import's report, plus its bad rows as a CSV file would hold them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportResponse {
    #[serde(flatten)]
    pub report: Report,
    /// The bad rows with a `reason` column (as `FILE.rejected.csv`), when there are any.
    pub rejected_csv: Option<String>,
}

#[utoipa::path(post, path = "/v1/integration/import/{entity}", tag = "integration",
    params(("entity" = String, Path, description = "An importable entity type"), ImportParams),
    request_body(content = String, description = "CSV (header + rows) or JSON Lines", content_type = "text/csv"),
    security(("integration" = [])),
    responses(
        (status = 200, description = "The import ran: its report (check `rejected`)", body = ImportResponse),
        (status = 400, description = "Not an importable type, an unknown column, an unreadable body", body = ErrorBody),
        (status = 401, description = "No integration token, or a revoked one", body = ErrorBody),
        (status = 403, description = "The token has no import scope for this type", body = ErrorBody),
        (status = 408, description = "The body did not arrive in time", body = ErrorBody),
        (status = 413, description = "The body is larger than the import limit", body = ErrorBody),
        (status = 503, description = "Too many imports are waiting; retry after Retry-After", body = ErrorBody),
    ))]
pub(crate) async fn import_handler(
    State(state): State<Arc<AppState>>,
    integration: Integration,
    Path(entity): Path<String>,
    params: Result<Query<ImportParams>, QueryRejection>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<ImportResponse>, AppError> {
    let Query(params) = params.map_err(query_error)?;
    integration.allow(Action::Import, &entity)?;
    let def = *import::entity(&state.registry, &entity)
        .map_err(|e| AppError::bad(ErrorCode::InvalidImport, e.to_string()).with_status(StatusCode::BAD_REQUEST))?;
    let format = match params.format.as_deref() {
        Some(f) => Format::parse(f).ok_or_else(|| {
            AppError::bad(ErrorCode::InvalidImport, format!("'{f}' is not a format; use csv or jsonl"))
                .with_status(StatusCode::BAD_REQUEST)
        })?,
        None => match headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
            Some(t) if t.contains("ndjson") || t.contains("jsonl") => Format::Jsonl,
            _ => Format::Csv,
        },
    };
    // One import at a time, a few queued behind it; the body is read only with the turn,
    // so at most one import body is in memory.
    let gate = state.imports.clone();
    // Places: the running import plus `queued_imports`.
    if gate.waiting.fetch_add(1, Ordering::SeqCst) > gate.limits.queued_imports {
        gate.waiting.fetch_sub(1, Ordering::SeqCst);
        state.metrics.limited.with_label_values(&["imports"]).inc();
        return Err(AppError::Unavailable {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: ErrorCode::Busy,
            message: "Other imports are running; send this one again in a minute.".into(),
            retry_after: std::time::Duration::from_secs(30),
        });
    }
    // Given back however the request ends (a client that hangs up while queued included).
    let _turn = Turn(&gate.waiting);
    let permit = gate.running.acquire().await;
    let _permit = permit.map_err(|_| AppError::Internal("the import gate closed".into()))?;
    let limit = gate.limits.max_import_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| body_error(&e, limit))?;
    let options = Options {
        format,
        dry_run: params.dry_run,
        all_or_nothing: params.all_or_nothing,
        delete_missing: params.delete_missing,
    };
    let (db, reg, now) = (state.db.clone(), state.registry.clone(), state.clock.now_ms());
    let dir = tempfile_dir()?;
    let rejected_path = dir.join("rejected.csv");
    let report = tokio::task::spawn_blocking(move || {
        let rejected = import::RejectedFile::new(rejected_path.clone());
        let report = import::run(&db, &reg, &def, &bytes[..], options, Some(rejected), now);
        let csv = std::fs::read_to_string(&rejected_path).ok();
        let _ = std::fs::remove_dir_all(&dir);
        report.map(|r| (r, csv))
    })
    .await?;
    let (report, rejected_csv) = report.map_err(|e| match e {
        import::ImportError::Input(message) => {
            AppError::bad(ErrorCode::InvalidImport, message).with_status(StatusCode::BAD_REQUEST)
        }
        other => AppError::Internal(other.to_string()),
    })?;
    Ok(Json(ImportResponse { report, rejected_csv }))
}

/// A private scratch directory for one import's rejected rows.
fn tempfile_dir() -> Result<std::path::PathBuf, AppError> {
    let dir = std::env::temp_dir().join(format!("fieldsync-import-{}", uuid::Uuid::now_v7()));
    fieldsync_sqlkit::private_dir(&dir).map_err(|e| AppError::Internal(format!("scratch directory: {e}")))?;
    Ok(dir)
}

fn query_error(r: QueryRejection) -> AppError {
    AppError::bad(ErrorCode::InvalidQuery, format!("The query string is invalid: {}", r.body_text()))
        .with_status(StatusCode::BAD_REQUEST)
}

fn body_error(e: &axum::Error, limit: usize) -> AppError {
    use crate::http::caused_by;
    if caused_by::<tower_http::timeout::TimeoutError>(e) {
        return AppError::bad(ErrorCode::RequestTimeout, "The file did not arrive in time; try again.")
            .with_status(StatusCode::REQUEST_TIMEOUT);
    }
    if caused_by::<http_body_util::LengthLimitError>(e) {
        return AppError::bad(
            ErrorCode::BodyTooLarge,
            format!("The file is larger than the {} MiB import limit; split it and send the parts.", limit >> 20),
        )
        .with_status(StatusCode::PAYLOAD_TOO_LARGE);
    }
    AppError::bad(ErrorCode::BadRequest, format!("The file could not be read: {e}"))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// Records changed after this cursor (0 or absent: from the start).
    #[serde(default)]
    pub cursor: i64,
    /// Only records in this state (types with a lifecycle).
    pub status: Option<String>,
    /// Records per page, at most `export::MAX_PAGE`.
    #[param(maximum = 1000)]
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/v1/integration/export/{entity}", tag = "integration",
    params(("entity" = String, Path, description = "An entity type"), ExportParams),
    security(("integration" = [])),
    responses(
        (status = 200, description = "One page; call again with next_cursor while more is true", body = export::Page),
        (status = 400, description = "A bad query (cursor, status, malformed parameters)", body = ErrorBody),
        (status = 401, description = "No integration token, or a revoked one", body = ErrorBody),
        (status = 403, description = "The token has no export scope for this type", body = ErrorBody),
        (status = 404, description = "There is no such entity type", body = ErrorBody),
    ))]
pub(crate) async fn export_handler(
    State(state): State<Arc<AppState>>,
    integration: Integration,
    Path(entity): Path<String>,
    params: Result<Query<ExportParams>, QueryRejection>,
) -> Result<Json<export::Page>, AppError> {
    let Query(params) = params.map_err(query_error)?;
    let Some(def) = state.registry.get(&entity).copied() else {
        return Err(AppError::bad(ErrorCode::UnknownEntity, format!("There is no entity type '{entity}'."))
            .with_status(StatusCode::NOT_FOUND));
    };
    integration.allow(Action::Export, &entity)?;
    let query = export::Query { since: params.cursor, status: params.status };
    export::check(&def, &query)
        .map_err(|m| AppError::bad(ErrorCode::InvalidRequest, m).with_status(StatusCode::BAD_REQUEST))?;
    let limit = params.limit.unwrap_or(export::MAX_PAGE);
    if limit == 0 || limit > export::MAX_PAGE {
        return Err(AppError::bad(
            ErrorCode::InvalidQuery,
            format!("limit must be between 1 and {}.", export::MAX_PAGE),
        )
        .with_status(StatusCode::BAD_REQUEST));
    }
    let reg = state.registry.clone();
    let page = state.db.read(move |tx| Ok(export::page(tx, &reg, &def, &query, limit)?)).await?;
    Ok(Json(page))
}
