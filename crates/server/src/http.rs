//! The HTTP surface: routes, request extraction with clear errors, and auth.

use fieldsync_protocol::ErrorCode;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use fieldsync_protocol::wire::{
    DeviceReport, ErrorBody, LoginRequest, LoginResponse, NumberPrefix, PullResponse, PushRequest, PushResponse,
    DEFAULT_PULL_LIMIT, MAX_BODY_BYTES, MAX_PULL_LIMIT,
};
use fieldsync_protocol::Registry;
use serde::Deserialize;
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;

use crate::auth::{self, AuthUser};
use crate::db::Db;
use crate::error::AppError;
use crate::pull;
use crate::push::{self, BeforeCommit};
use fieldsync_protocol::time::Clock;

pub struct AppState {
    pub db: Db,
    pub registry: Arc<Registry>,
    pub token_ttl: Duration,
    pub before_commit: Option<BeforeCommit>,
    pub clock: Arc<dyn Clock>,
    pub admin_token: Option<String>,
    /// Sign-in rates and the password-check queue.
    pub login: crate::throttle::LoginThrottle,
    /// Open long polls, woken by `waits::run_waker` when a change concerns their user.
    pub waits: Arc<crate::waits::Waits>,
    /// The newest change seq; the long-poll waker follows it. The store moves it when a
    /// write of this instance commits (`Db::head`), and `refresh_head` when another
    /// instance or process wrote.
    pub head: Arc<tokio::sync::watch::Sender<i64>>,
    /// Woken when a committed write queued webhook deliveries (`webhooks::run`).
    pub webhooks_due: Arc<tokio::sync::Notify>,
    /// Set when the server stops, so waiting pulls return at once.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// Integration imports: one at a time, a few queued.
    pub imports: Arc<crate::integration::ImportGate>,
    /// What `/metrics` reports.
    pub metrics: crate::metrics::Metrics,
}

impl AppState {
    /// Re-reads the newest seq and wakes waiting pulls if it moved.
    pub async fn refresh_head(&self) -> Result<(), AppError> {
        let head = self.db.read_single(|tx| Ok(crate::records::head(tx)?)).await?;
        self.db.advance_head(head);
        Ok(())
    }
}

/// Responses smaller than this go out as they are: compressing a push's few hundred bytes
/// saves little and costs a compressor's set-up (zstd's is ~100 KB of memory cleared) on
/// every request.
pub const COMPRESS_ABOVE_BYTES: u16 = 1024;

/// What the response compression applies to: tower-http's default (no images, gRPC or
/// event streams) from [`COMPRESS_ABOVE_BYTES`] up.
fn compressible() -> impl tower_http::compression::Predicate {
    use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
    SizeAbove::new(COMPRESS_ABOVE_BYTES)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE)
}

pub fn router(state: Arc<AppState>, limits: &crate::Limits) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/ready", get(ready))
        .route("/v1/login", post(login))
        .route("/v1/logout", post(logout))
        .route("/v1/number-prefix", post(number_prefix))
        .route("/v1/device-report", post(device_report))
        .route("/v1/openapi.json", get(crate::openapi::serve))
        .route("/v1/push", post(push_handler))
        .route("/v1/pull", get(pull_handler))
        .route("/v1/admin/territories/assign", post(admin_assign))
        .route("/v1/admin/territories/unassign", post(admin_unassign))
        .route("/v1/team/devices", get(team_devices))
        .route("/v1/integration/import/{entity}", post(crate::integration::import_handler))
        .route("/v1/integration/export/{entity}", get(crate::integration::export_handler))
        .route("/metrics", get(metrics_handler))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), count_requests))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(limits.connections.body_timeout))
        .layer(RequestDecompressionLayer::new())
        .layer(axum::middleware::map_response(json_errors))
        .layer(CompressionLayer::new().compress_when(compressible()))
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(log_answer)
                .on_failure(()),
        )
        .with_state(state)
}

/// JSON body extractor whose rejections are our `{error: {code, message}}` shape.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// Whether a body could not be read because it did not arrive in time (the body
/// timeout layer's error, somewhere in the rejection's chain of causes).
fn timed_out(r: &JsonRejection) -> bool {
    caused_by::<tower_http::timeout::TimeoutError>(r)
}

/// Whether an error of type `T` is somewhere in `e`'s chain of causes (a body layer's
/// error wrapped by the extractor that read the body).
pub(crate) fn caused_by<T: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.is::<T>() {
            return true;
        }
        cause = c.source();
    }
    false
}

fn json_rejection(r: JsonRejection) -> AppError {
    if timed_out(&r) {
        return AppError::bad(
            ErrorCode::RequestTimeout,
            "The request body did not arrive in time; try again on a steadier connection.",
        )
        .with_status(StatusCode::REQUEST_TIMEOUT);
    }
    let status = r.status();
    let (code, message) = match &r {
        JsonRejection::JsonSyntaxError(_) => {
            (ErrorCode::MalformedJson, format!("The request body is not valid JSON: {}", r.body_text()))
        }
        JsonRejection::JsonDataError(_) => {
            (ErrorCode::InvalidRequest, format!("The request body has the wrong shape: {}", r.body_text()))
        }
        JsonRejection::MissingJsonContentType(_) => (
            ErrorCode::UnsupportedMediaType,
            "Send the body as JSON with 'Content-Type: application/json'.".to_string(),
        ),
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => (
            ErrorCode::BodyTooLarge,
            format!("The request body is larger than the {} MiB limit; send smaller batches.", MAX_BODY_BYTES >> 20),
        ),
        _ => (ErrorCode::BadRequest, format!("The request body could not be read: {}", r.body_text())),
    };
    AppError::bad(code, message).with_status(status)
}

/// The token of an `Authorization: Bearer ...` header.
fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers.get(axum::http::header::AUTHORIZATION).and_then(|h| h.to_str().ok()).and_then(|h| h.strip_prefix("Bearer "))
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser
where
    Arc<AppState>: axum::extract::FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state: Arc<AppState> = axum::extract::FromRef::from_ref(state);
        let token = bearer(&parts.headers).map(str::to_owned).ok_or_else(|| AppError::Unauthenticated {
            code: ErrorCode::Unauthenticated,
            message: "This request needs a session; sign in first.".into(),
        })?;
        let now = state.clock.now_ms();
        let session = state.db.read_single(move |tx| auth::authenticate(tx, &token, now)).await?;
        if session.stale {
            // Last seen, for IT's session list; at most once a minute per session.
            let id = session.user.session.clone();
            if let Err(e) = state.db.write_unordered(move |tx| auth::touch_session(tx, &id, now)).await {
                tracing::warn!(error = %e, "cannot record when a session was last seen");
            }
        }
        tracing::Span::current().record("user", session.user.username.as_str());
        Ok(session.user)
    }
}

/// The header a client names its sync with (`fieldsync_client::transport::SYNC_ID_HEADER`).
pub const SYNC_ID_HEADER: &str = "fieldsync-sync-id";

/// Each request's log span: method, path, a request id, the client's sync id (when it is
/// one: at most 64 characters of hex digits and dashes, so a header cannot forge log
/// lines), and the user once the session is known. Never the query string, a header's
/// other values or a body: tokens and record values stay out of the log.
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let sync_id = req
        .headers()
        .get(SYNC_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %uuid::Uuid::now_v7(),
        sync_id,
        user = tracing::field::Empty,
    )
}

/// One line per answered request, in its span: the status and how long it took.
fn log_answer(resp: &axum::response::Response, took: Duration, _: &tracing::Span) {
    tracing::info!(status = resp.status().as_u16(), duration_ms = took.as_millis() as u64, "answered");
}

/// `GET /v1/health`: liveness, the newest change seq and the server's clock.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: String,
    pub head: i64,
    pub server_time_ms: i64,
}

/// The answers every endpoint that reads a JSON body may give before it looks at the body's
/// content, listed once for the OpenAPI description (`responses(BodyRefusals, ...)`).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // describes answers; never built
pub(crate) enum BodyRefusals {
    #[response(status = 400, description = "Malformed request (bad JSON, query or body encoding)")]
    Malformed(ErrorBody),
    #[response(status = 408, description = "The request body did not arrive in time")]
    TooSlow(ErrorBody),
    #[response(status = 413, description = "The body is larger than MAX_BODY_BYTES")]
    TooLarge(ErrorBody),
    #[response(status = 415, description = "Not JSON, or an unsupported Content-Encoding")]
    NotJson(ErrorBody),
}

#[utoipa::path(get, path = "/v1/health", tag = "sync",
    responses((status = 200, description = "The server is up", body = Health)))]
pub(crate) async fn health(State(state): State<Arc<AppState>>) -> Result<Json<Health>, AppError> {
    let head = state.db.read_single(|tx| Ok(crate::records::head(tx)?)).await?;
    Ok(Json(Health { status: "ok".into(), head, server_time_ms: state.clock.now_ms() }))
}

/// Counts every routed request by its route pattern (`/v1/integration/export/{entity}`,
/// never the path itself, so the label set stays bounded) and status.
async fn count_requests(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = req.extensions().get::<axum::extract::MatchedPath>().map_or("other", |p| p.as_str()).to_string();
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    state.metrics.request(&route, resp.status().as_u16(), started.elapsed());
    resp
}

/// `GET /metrics`: Prometheus text, for the admin token (a scrape job's bearer token).
async fn metrics_handler(state: State<Arc<AppState>>, _: Admin) -> Result<axum::response::Response, AppError> {
    metrics_text(state).await
}

/// The metrics listener (`metrics_listen`): `/metrics` only, without the admin token.
pub fn metrics_router(state: Arc<AppState>) -> Router {
    Router::new().route("/metrics", get(metrics_text)).fallback(not_found).with_state(state)
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> Result<axum::response::Response, AppError> {
    let now = state.clock.now_ms();
    let (sessions, devices) =
        state.db.read(move |tx| Ok((auth::active_sessions(tx, now)?, crate::devices::list(tx, now)?))).await?;
    let text = state.metrics.render(state.waits.len(), sessions, &devices);
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// `GET /v1/ready`'s answer: `ready`, or `not_ready` with the reason in words for IT.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Readiness {
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[utoipa::path(get, path = "/v1/ready", tag = "sync",
    responses(
        (status = 200, description = "The database answers and its schema is this server's", body = Readiness),
        (status = 503, description = "Not ready: the database does not answer, its schema differs, or the server is stopping", body = Readiness),
    ))]
pub(crate) async fn ready(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Readiness>) {
    let not_ready = |reason: String| {
        (StatusCode::SERVICE_UNAVAILABLE, Json(Readiness { status: "not_ready".into(), reason: Some(reason) }))
    };
    if *state.stopping.borrow() {
        return not_ready("the server is shutting down".into());
    }
    let db = state.db.clone();
    match state.db.read_single(move |tx| db.schema_problem(tx)).await {
        Ok(None) => (StatusCode::OK, Json(Readiness { status: "ready".into(), reason: None })),
        Ok(Some(reason)) => not_ready(reason),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: the database does not answer");
            not_ready("the database does not answer; the server log says why".into())
        }
    }
}

async fn method_not_allowed() -> AppError {
    AppError::bad(
        ErrorCode::MethodNotAllowed,
        "This endpoint does not accept that HTTP method; see docs/sync-protocol.md.",
    )
    .with_status(StatusCode::METHOD_NOT_ALLOWED)
}

/// Gives errors produced by layers (e.g. an unsupported Content-Encoding) the same
/// `{error: {code, message}}` body as ours.
async fn json_errors(resp: axum::response::Response) -> axum::response::Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let message = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            "The request body's Content-Encoding is not supported; use zstd, gzip or none."
        }
        StatusCode::PAYLOAD_TOO_LARGE => "The request body is too large; send smaller batches.",
        StatusCode::REQUEST_TIMEOUT => "The request body did not arrive in time; try again on a steadier connection.",
        _ => "The request could not be handled; see docs/sync-protocol.md.",
    };
    let code = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::BodyTooLarge,
        StatusCode::REQUEST_TIMEOUT => ErrorCode::RequestTimeout,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        s if s.is_server_error() => ErrorCode::Internal,
        _ => ErrorCode::BadRequest,
    };
    let body = serde_json::json!({"error": {"code": code, "message": message}});
    axum::response::IntoResponse::into_response((status, Json(body)))
}

async fn not_found() -> AppError {
    AppError::bad(ErrorCode::NotFound, "There is no such endpoint; see docs/sync-protocol.md.")
        .with_status(StatusCode::NOT_FOUND)
}

/// The address a request came from, when it came through [`crate::serve::serve`].
pub struct Peer(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(crate::serve::peer(&parts.extensions).map(|a| a.ip())))
    }
}

/// Longest user name and password a sign-in may carry (hashing cost grows with length).
const MAX_USERNAME_CHARS: usize = 256;
const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest device name and app version kept with a session (longer ones are cut).
const MAX_DEVICE_CHARS: usize = 128;

fn login_denied(state: &AppState, denied: crate::throttle::Denied) -> AppError {
    use crate::throttle::Denied;
    let limit = match denied {
        Denied::TooMany { .. } => "login_rate",
        Denied::Busy => "login_queue",
    };
    state.metrics.limited.with_label_values(&[limit]).inc();
    match denied {
        Denied::TooMany { retry_after } => AppError::Unavailable {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: ErrorCode::TooManyAttempts,
            message: match retry_after.as_millis().div_ceil(1000) {
                0 | 1 => "Too many sign-in attempts; wait a second and try again.".into(),
                secs => format!("Too many sign-in attempts; wait {secs} seconds and try again."),
            },
            retry_after,
        },
        Denied::Busy => AppError::Unavailable {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: ErrorCode::Busy,
            message: "The server is busy checking other sign-ins; try again in a moment.".into(),
            retry_after: Duration::from_secs(1),
        },
    }
}

#[utoipa::path(post, path = "/v1/login", tag = "sync", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in: a session token", body = LoginResponse),
        BodyRefusals,
        (status = 422, description = "The request cannot be carried out as sent", body = ErrorBody),
        (status = 401, description = "Wrong user name or password", body = ErrorBody),
        (status = 403, description = "The account is disabled", body = ErrorBody),
        (status = 429, description = "Too many sign-in attempts; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Too many password checks waiting; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub(crate) async fn login(
    State(state): State<Arc<AppState>>,
    Peer(peer): Peer,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, AppError> {
    if req.username.chars().count() > MAX_USERNAME_CHARS || req.password.len() > MAX_PASSWORD_BYTES {
        return Err(AppError::bad(ErrorCode::InvalidRequest,
            format!(
                "A user name has at most {MAX_USERNAME_CHARS} characters and a password at most {MAX_PASSWORD_BYTES} bytes."
            ),
        ));
    }
    state.login.attempt(&req.username, peer).map_err(|d| login_denied(&state, d))?;
    let ttl = state.token_ttl.as_millis() as i64;
    // The slow hash check runs on a blocking thread, holds no database lock, and waits
    // its turn: each one takes about 19 MiB. The turn comes first, so a flood of sign-ins
    // beyond the queue is refused before it costs the database a read.
    let mut turn = state.login.hash_turn().await.map_err(|d| login_denied(&state, d))?;
    let username = req.username.clone();
    let found = state.db.read_single(move |tx| auth::credentials(tx, &username)).await?;
    let LoginRequest { password, client_id, device, app_version, .. } = req;
    let user = tokio::task::spawn_blocking(move || {
        let user = auth::verify(found, &password, turn.work_area());
        drop(turn);
        user
    })
    .await?
    .inspect_err(|_| state.metrics.login_failures.inc())?;
    state.login.succeeded(&user.username);
    let now = state.clock.now_ms();
    let session_user = user.clone();
    let clip = |s: Option<String>| s.map(|s| s.chars().take(MAX_DEVICE_CHARS).collect::<String>());
    let device = auth::Device {
        client_id: client_id.map(|c| c.to_string()),
        host_name: clip(device),
        app_version: clip(app_version),
    };
    let (token, expires_at_ms, number_prefix) = state
        .db
        .write_unordered(move |tx| {
            let (token, expires) = auth::open_session(tx, &session_user, &device, now, ttl)?;
            let prefix = device.client_id.as_deref().map(|c| auth::number_prefix(tx, c)).transpose()?;
            Ok::<_, AppError>((token, expires, prefix))
        })
        .await?;
    tracing::info!(user = %user.username, "login");
    Ok(Json(LoginResponse { token, expires_at_ms, user: user.into(), server_time_ms: now, number_prefix }))
}

/// `POST /v1/device-report`'s answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Recorded {
    pub recorded: bool,
}

#[utoipa::path(post, path = "/v1/device-report", tag = "sync", request_body = DeviceReport, security(("session" = [])),
    responses(
        (status = 200, description = "The report is recorded", body = Recorded),
        BodyRefusals,
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 422, description = "The report is malformed or says too much", body = ErrorBody),
    ))]
pub(crate) async fn device_report(
    State(state): State<Arc<AppState>>,
    user: AuthUser,
    ApiJson(report): ApiJson<DeviceReport>,
) -> Result<Json<Recorded>, AppError> {
    crate::devices::check(&report)?;
    let now = state.clock.now_ms();
    let user_id = user.id.to_string();
    state.db.write_unordered(move |tx| crate::devices::record(tx, &user_id, &report, now)).await?;
    Ok(Json(Recorded { recorded: true }))
}

#[utoipa::path(post, path = "/v1/number-prefix", tag = "sync", security(("session" = [])),
    responses(
        (status = 200, description = "The order-number prefix of the session's client", body = NumberPrefix),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 422, description = "The session was opened without a client id; sign in again", body = ErrorBody),
    ))]
pub(crate) async fn number_prefix(
    State(state): State<Arc<AppState>>,
    user: AuthUser,
) -> Result<Json<NumberPrefix>, AppError> {
    let session = user.session.clone();
    match state.db.write_unordered(move |tx| auth::session_number_prefix(tx, &session)).await? {
        Some(number_prefix) => Ok(Json(NumberPrefix { number_prefix })),
        None => Err(AppError::bad(
            ErrorCode::InvalidRequest,
            "This session does not name its computer; sign in again to number orders.",
        )),
    }
}

/// Ends the session the request carries (sign-out); the token is useless from now on.
/// `POST /v1/logout`'s answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct SignedOut {
    pub signed_out: bool,
}

#[utoipa::path(post, path = "/v1/logout", tag = "sync", security(("session" = [])),
    responses(
        (status = 200, description = "The session is ended", body = SignedOut),
        (status = 401, description = "No valid session", body = ErrorBody),
    ))]
pub(crate) async fn logout(State(state): State<Arc<AppState>>, user: AuthUser) -> Result<Json<SignedOut>, AppError> {
    let session = user.session.clone();
    state.db.write_unordered(move |tx| auth::close_session(tx, &session)).await?;
    tracing::info!(user = %user.username, "logout");
    Ok(Json(SignedOut { signed_out: true }))
}

#[utoipa::path(post, path = "/v1/push", tag = "sync", request_body = PushRequest, security(("session" = [])),
    responses(
        (status = 200, description = "One result per mutation", body = PushResponse),
        BodyRefusals,
        (status = 422, description = "The request cannot be carried out as sent", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
    ))]
pub(crate) async fn push_handler(
    State(state): State<Arc<AppState>>,
    user: AuthUser,
    ApiJson(req): ApiJson<PushRequest>,
) -> Result<Json<PushResponse>, AppError> {
    push::validate(&state.registry, &req)?;
    let count = req.mutations.len();
    let st = state.clone();
    let username = user.username.clone();
    let push::Applied { response: resp, conflicts_logged, webhooks_queued } = state
        .db
        .write_concurrent(move |conn| {
            push::apply(conn, &st.registry, &user, &req, st.clock.now_ms(), st.before_commit.as_ref())
        })
        .await?;
    // Long polls waiting for this change woke when it committed (`Db::head`).
    state.metrics.conflicts.inc_by(conflicts_logged);
    if webhooks_queued {
        state.webhooks_due.notify_one();
    }
    let rejected =
        resp.results.iter().filter(|r| r.status == fieldsync_protocol::wire::MutationStatus::Rejected).count();
    for r in &resp.results {
        let result = serde_json::to_value(r.status).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        state.metrics.mutations.with_label_values(&[&result, r.code.as_deref().unwrap_or("")]).inc();
    }
    tracing::info!(user = %username, mutations = count, rejected, "push");
    Ok(Json(resp))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PullParams {
    /// The cursor token of the last page applied (absent or empty: from the start).
    #[serde(default)]
    cursor: String,
    /// Change-log entries to scan for this page (default `DEFAULT_PULL_LIMIT`).
    #[param(minimum = 1, maximum = 20000)]
    limit: Option<u32>,
    /// Long poll: when nothing is new for the user, wait up to this long for a change.
    #[serde(default)]
    #[param(minimum = 0, maximum = 60000)]
    wait_ms: u64,
}

/// Longest a pull may wait for changes.
pub(crate) const MAX_WAIT_MS: u64 = 60_000;

#[utoipa::path(get, path = "/v1/pull", tag = "sync", params(PullParams), security(("session" = [])),
    responses(
        (status = 200, description = "A page of changes", body = PullResponse),
        (status = 400, description = "A bad query (limit, cursor, wait_ms)", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 422, description = "The cursor is from another database (unknown_cursor), from before a restore (history_changed), or not a cursor (invalid_cursor)", body = ErrorBody),
        (status = 503, description = "The server holds all the long polls it allows; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub(crate) async fn pull_handler(
    State(state): State<Arc<AppState>>,
    user: AuthUser,
    params: Result<Query<PullParams>, QueryRejection>,
) -> Result<axum::response::Response, AppError> {
    let resp = pull_answer(&state, &user, params).await?;
    // Serialised here, once, to count what is sent.
    let body =
        serde_json::to_vec(&resp).map_err(|e| AppError::Internal(format!("cannot encode a pull answer: {e}")))?;
    let rows: usize = resp.changes.iter().map(|c| c.rows.len() + c.deleted.len()).sum();
    state.metrics.pulled_rows.inc_by(rows as u64);
    state.metrics.pulled_bytes.inc_by(body.len() as u64);
    tracing::debug!(user = %user.username, next = resp.position, rows, "pull");
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// One pull answer: a page of changes after the cursor, or, for a long poll with nothing
/// new, the empty page once something arrives or the wait ends.
async fn pull_answer(
    state: &Arc<AppState>,
    user: &AuthUser,
    params: Result<Query<PullParams>, QueryRejection>,
) -> Result<PullResponse, AppError> {
    let invalid = |message: String, field: &str| {
        AppError::bad(ErrorCode::InvalidQuery, message).with_status(StatusCode::BAD_REQUEST).with_field(field)
    };
    let Query(p) = params.map_err(|r| invalid(format!("The query string is invalid: {}", r.body_text()), "query"))?;
    let limit = p.limit.unwrap_or(DEFAULT_PULL_LIMIT);
    if limit == 0 || limit > MAX_PULL_LIMIT {
        return Err(invalid(format!("limit must be between 1 and {MAX_PULL_LIMIT}."), "limit"));
    }
    if p.wait_ms > MAX_WAIT_MS {
        return Err(invalid(format!("wait_ms must be at most {MAX_WAIT_MS}."), "wait_ms"));
    }
    // Registered before the first read, so a change committed after it wakes this poll.
    let waiter = match p.wait_ms {
        0 => None,
        _ => Some(state.waits.register(user.id, &user.session).map_err(|_| {
            state.metrics.limited.with_label_values(&["long_polls"]).inc();
            AppError::Unavailable {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: ErrorCode::TooManyWaits,
                message:
                    "The server is holding as many waiting requests as it allows; sync as usual and listen again later."
                        .into(),
                retry_after: LONG_POLL_RETRY,
            }
        })?),
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(p.wait_ms);
    let mut cursor = p.cursor.clone();
    let mut stopping = state.stopping.subscribe();
    // Entries scanned per read: the client's page size, or, while a long poll skips
    // entries it cannot see, the largest page (one read per MAX_PULL_LIMIT entries
    // instead of one per `limit`).
    let mut scan = limit;
    loop {
        let st = state.clone();
        let (u, from) = (user.clone(), cursor.clone());
        let resp =
            state.db.read(move |conn| pull::pull(conn, &st.registry, &u, &from, scan, st.clock.now_ms())).await?;
        let has_news = !resp.changes.is_empty() || !resp.notices.is_empty();
        if has_news && scan != limit {
            scan = limit; // answer with a page of the size asked for, from the same cursor
            continue;
        }
        let Some(waiter) = waiter.as_ref().filter(|_| !has_news && !*stopping.borrow()) else {
            return Ok(resp);
        };
        cursor = resp.cursor.clone();
        if resp.has_more {
            scan = MAX_PULL_LIMIT;
            continue; // nothing visible in this page, more to scan before waiting
        }
        scan = limit;
        tokio::select! {
            woken = waiter.woken() => if woken == crate::waits::Woken::Superseded { return Ok(resp) },
            _ = stopping.changed() => return Ok(resp),
            _ = tokio::time::sleep_until(deadline) => return Ok(resp),
        }
    }
}

/// How long a client should wait before it listens again when the server holds all the
/// long polls it allows.
const LONG_POLL_RETRY: Duration = Duration::from_secs(30);

/// `{"territory": CODE, "user": NAME}` or `{"territory": CODE, "customers": [ID or code]}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TerritoryRequest {
    territory: String,
    user: Option<String>,
    #[serde(default)]
    customers: Vec<String>,
}

/// Proof that a request carries the admin token; extracted before the body is read.
pub struct Admin;

impl<S: Send + Sync> FromRequestParts<S> for Admin
where
    Arc<AppState>: axum::extract::FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state: Arc<AppState> = axum::extract::FromRef::from_ref(state);
        check_admin(&state, &parts.headers).map(|_| Admin)
    }
}

fn check_admin(state: &AppState, headers: &axum::http::HeaderMap) -> Result<(), AppError> {
    let Some(expected) = &state.admin_token else {
        return Err(AppError::bad(
            ErrorCode::AdminDisabled,
            "The admin API is off; start the server with --admin-token-file.",
        )
        .with_status(StatusCode::NOT_FOUND));
    };
    let given = bearer(headers);
    // Compare digests so the comparison takes the same time wherever the tokens differ.
    let digest = |t: &str| <sha2::Sha256 as sha2::Digest>::digest(t.as_bytes());
    if given.map(digest) != Some(digest(expected)) {
        return Err(AppError::Unauthenticated {
            code: ErrorCode::Unauthenticated,
            message: "The admin API needs the server's admin token as a Bearer token.".into(),
        });
    }
    Ok(())
}

async fn admin_territory(
    state: Arc<AppState>,
    req: TerritoryRequest,
    assign: bool,
) -> Result<Json<serde_json::Value>, AppError> {
    let now = state.clock.now_ms();
    let registry = state.registry.clone();
    let changes = state
        .db
        .write(move |conn| {
            let result = match (&req.user, req.customers.is_empty(), assign) {
                (Some(user), true, _) => {
                    crate::admin::set_user_territory(conn, &registry, &req.territory, user, assign, now)
                }
                (None, false, true) => {
                    crate::admin::move_customers(conn, &registry, &req.territory, &req.customers, now)
                }
                _ => {
                    return Err(AppError::bad(
                        ErrorCode::InvalidRequest,
                        "Give either \"user\" (assign or unassign a territory) or \"customers\" (assign only).",
                    ))
                }
            };
            // Storage failures are ours (500, details in the log); the rest explain what in
            // the request cannot be done.
            result.map_err(|e| match e.downcast_ref::<crate::sql::DbError>() {
                Some(db) => AppError::Internal(format!("territory change: {db}")),
                None => AppError::bad(ErrorCode::InvalidRequest, format!("{e:#}.")),
            })
        })
        .await?;
    tracing::info!(assign, users = changes.len(), "territory change");
    Ok(Json(serde_json::json!({ "changes": changes })))
}

/// What the manager's dashboard shows of their team's laptops: who is signed in where,
/// with which app version, and when each last reached the server.
#[utoipa::path(get, path = "/v1/team/devices", tag = "sync", security(("session" = [])),
    responses(
        (status = 200, description = "The team's sessions in use, most recently seen first", body = fieldsync_protocol::wire::TeamDevices),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not a manager", body = ErrorBody),
    ))]
pub(crate) async fn team_devices(
    State(state): State<Arc<AppState>>,
    user: AuthUser,
) -> Result<Json<fieldsync_protocol::wire::TeamDevices>, AppError> {
    if user.role != fieldsync_protocol::Role::Manager {
        return Err(AppError::bad(ErrorCode::Forbidden, "Only managers see their team's laptops.")
            .with_status(StatusCode::FORBIDDEN));
    }
    let now = state.clock.now_ms();
    let devices = state.db.read(move |tx| crate::auth::team_devices(tx, &user.id, now)).await?;
    Ok(Json(fieldsync_protocol::wire::TeamDevices { devices, server_time_ms: now }))
}

#[utoipa::path(post, path = "/v1/admin/territories/assign", tag = "admin", request_body = TerritoryRequest,
    security(("admin" = [])),
    responses(
        (status = 200, description = "Done: what changed for whom", body = Object),
        BodyRefusals,
        (status = 422, description = "The request cannot be carried out as sent", body = ErrorBody),
        (status = 401, description = "Not the admin token", body = ErrorBody),
        (status = 404, description = "The admin API is off", body = ErrorBody),
    ))]
pub(crate) async fn admin_assign(
    State(state): State<Arc<AppState>>,
    _: Admin,
    ApiJson(req): ApiJson<TerritoryRequest>,
) -> Result<Json<serde_json::Value>, AppError> {
    admin_territory(state, req, true).await
}

#[utoipa::path(post, path = "/v1/admin/territories/unassign", tag = "admin", request_body = TerritoryRequest,
    security(("admin" = [])),
    responses(
        (status = 200, description = "Done: what changed for whom", body = Object),
        BodyRefusals,
        (status = 422, description = "The request cannot be carried out as sent", body = ErrorBody),
        (status = 401, description = "Not the admin token", body = ErrorBody),
        (status = 404, description = "The admin API is off", body = ErrorBody),
    ))]
pub(crate) async fn admin_unassign(
    State(state): State<Arc<AppState>>,
    _: Admin,
    ApiJson(req): ApiJson<TerritoryRequest>,
) -> Result<Json<serde_json::Value>, AppError> {
    admin_territory(state, req, false).await
}
