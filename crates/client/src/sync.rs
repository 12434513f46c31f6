//! One sync: push the outbox in batches, then pull pages until caught up. Every response
//! also measures the clock offset (server time minus local time at the midpoint of the
//! round trip), which `status` reports.

use fieldsync_protocol::wire::{ErrorBody, PullResponse, PushRequest, PushResponse};
use fieldsync_protocol::ErrorCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;

use tracing::Instrument;
use uuid::Uuid;

use crate::error::{ClientError, Result};
use crate::store::Store;
use crate::transport::{Clock, HttpRequest, Method, Transport};

/// Mutations sent per push request.
const PUSH_BATCH: usize = 500;

pub(crate) struct SyncCtx<'a> {
    pub transport: &'a Arc<dyn Transport>,
    pub clock: &'a Arc<dyn Clock>,
    pub server: &'a str,
    pub token: &'a str,
    pub pull_limit: u32,
    /// Long poll: the first pull waits up to this long for a change (0: no wait).
    pub wait_ms: u64,
    /// Names this sync in the client's log and, through `Fieldsync-Sync-Id`, the server's.
    pub sync_id: &'a str,
}

/// What one sync did (the `sync --json` output).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Mutations sent to the server.
    pub pushed: usize,
    /// Of those, applied (fully or merged).
    pub applied: usize,
    /// Of those, rejected and moved to "needs attention".
    pub rejected: usize,
    /// Records received (changed or deleted).
    pub pulled: usize,
    /// Conflict-log entries received that involve this user.
    pub conflicts: usize,
    /// Of those, the ones where this user's value was overwritten.
    pub overwritten: usize,
    /// What the server says changed for this user (e.g. customers moved to another rep).
    pub notices: Vec<String>,
    /// Acknowledged changes sent again because the server's data went back in time (a
    /// restore from a backup); 0 on an ordinary sync.
    pub resent: usize,
}

/// Pull progress, reported after each applied page.
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    pub pulled: usize,
    /// How far the pull has come in the server's change log, and its end.
    pub position: i64,
    pub head: i64,
    /// Share of the change log this sync has walked through, 0..=100.
    pub percent: u8,
}

pub(crate) fn post(server: &str, path: &str, token: Option<&str>, body: Vec<u8>) -> HttpRequest {
    HttpRequest {
        method: Method::Post,
        url: format!("{server}{path}"),
        token: token.map(String::from),
        body: Some(body),
        sync_id: None,
    }
}

/// Sends a request and decodes a success body, or turns the error body into a
/// [`ClientError`]. Returns the decoded body and the measured clock offset.
pub(crate) async fn call<T: DeserializeOwned + ServerTime>(
    transport: &dyn Transport,
    clock: &dyn Clock,
    req: HttpRequest,
) -> Result<(T, i64)> {
    let (body, midpoint): (T, i64) = exchange(transport, clock, req).await?;
    let offset = body.server_time_ms() - midpoint;
    Ok((body, offset))
}

/// [`call`] for an answer that carries no server clock: the decoded body and the local
/// time halfway through the exchange.
pub(crate) async fn exchange<T: DeserializeOwned>(
    transport: &dyn Transport,
    clock: &dyn Clock,
    req: HttpRequest,
) -> Result<(T, i64)> {
    let t0 = clock.now_ms();
    let reply = transport.send(req).await.map_err(|e| {
        ClientError::Unavailable(format!("The server is unreachable ({e}); your changes are kept and will sync later."))
    })?;
    let t1 = clock.now_ms();
    if (200..300).contains(&reply.status) {
        let body: T = serde_json::from_slice(&reply.body).map_err(|e| {
            ClientError::Unavailable(format!("The server sent a response this client cannot read ({e})."))
        })?;
        return Ok((body, (t0 + t1) / 2));
    }
    if (300..400).contains(&reply.status) {
        let to = reply.location.as_deref().unwrap_or("another address");
        return Err(ClientError::Server {
            status: reply.status,
            code: "redirected".into(),
            message: format!(
                "The server sent this request on to {to}, which Fieldsync does not follow; if that is the right server, sign in with that address."
            ),
            mutation_id: None,
            cursor: None,
        });
    }
    let (code, message, mutation_id, cursor) = match serde_json::from_slice::<ErrorBody>(&reply.body) {
        Ok(b) => (b.error.code, b.error.message, b.error.mutation_id, b.error.cursor),
        Err(_) => (
            "http_error".into(),
            format!("The server answered with HTTP status {}; try again later.", reply.status),
            None,
            None,
        ),
    };
    // A refused sign-in is the answer to the login itself; any other 401 means the
    // session is gone and the user must sign in again.
    if reply.status == 401 && code != ErrorCode::WrongCredentials.as_str() {
        return Err(ClientError::NotSignedIn(message));
    }
    Err(ClientError::Server { status: reply.status, code, message, mutation_id, cursor })
}

/// Conflict-log records in a page that involve the user (their value won or lost), and
/// of those, the ones where the user's value lost.
fn conflicts_involving(page: &PullResponse, user_id: Option<&str>) -> (usize, usize) {
    let Some(me) = user_id else { return (0, 0) };
    let mut counts = (0, 0);
    for c in page.changes.iter().filter(|c| c.entity == "sync_conflicts") {
        let col = |f: &str| c.fields.iter().position(|n| n == f).map(|p| p + 1);
        let (kept, lost) = (col("kept_by_id"), col("overwritten_by_id"));
        for row in &c.rows {
            let is_me = |i: Option<usize>| i.and_then(|i| row.get(i)).and_then(|v| v.as_str()) == Some(me);
            if is_me(kept) || is_me(lost) {
                counts.0 += 1;
            }
            if is_me(lost) {
                counts.1 += 1;
            }
        }
    }
    counts
}

/// Waits up to `wait_ms` for the server to have something new after `cursor` (one
/// long-poll request, nothing applied). Needs no access to the local store.
pub async fn wait_for_news(
    transport: &dyn Transport,
    clock: &dyn Clock,
    server: &str,
    token: &str,
    cursor: &str,
    wait_ms: u64,
) -> Result<bool> {
    let req = HttpRequest::get(format!("{server}/v1/pull?cursor={cursor}&limit=1&wait_ms={wait_ms}"), Some(token));
    let (page, _) = call::<PullResponse>(transport, clock, req).await?;
    Ok(!page.changes.is_empty() || !page.notices.is_empty())
}

/// Whether the server answers its health check.
pub async fn probe(transport: &dyn Transport, server: &str) -> bool {
    let req = HttpRequest::get(format!("{server}/v1/health"), None);
    matches!(transport.send(req).await, Ok(r) if r.status == 200)
}

/// A manager's laptop list for the dashboard, fetched at most every
/// [`crate::dashboard::TEAM_DEVICES_REFRESH_MS`]. A failure leaves the last list in place:
/// it is a picture of the team, not part of syncing.
async fn refresh_team_devices(ctx: &SyncCtx<'_>, store: &mut Store) -> Result<()> {
    if store.meta("role")?.as_deref() != Some("manager") {
        return Ok(());
    }
    let now = ctx.clock.now_ms();
    let last: i64 = store.meta("team_devices_at_ms")?.and_then(|v| v.parse().ok()).unwrap_or(0);
    if now - last < crate::dashboard::TEAM_DEVICES_REFRESH_MS && last != 0 {
        return Ok(());
    }
    let req = HttpRequest::get(format!("{}/v1/team/devices", ctx.server), Some(ctx.token)).in_sync(ctx.sync_id);
    match call::<fieldsync_protocol::wire::TeamDevices>(ctx.transport.as_ref(), ctx.clock.as_ref(), req).await {
        Ok((team, _)) => {
            let json = serde_json::to_string(&team.devices).map_err(|e| ClientError::Internal(e.to_string()))?;
            store.set_meta("team_devices", &json)?;
            store.set_meta("team_devices_at_ms", &now.to_string())?;
        }
        Err(e) => tracing::info!(error = %e, "the team's laptop list could not be refreshed"),
    }
    Ok(())
}

impl ServerTime for fieldsync_protocol::wire::TeamDevices {
    fn server_time_ms(&self) -> i64 {
        self.server_time_ms
    }
}

pub(crate) trait ServerTime {
    fn server_time_ms(&self) -> i64;
}

impl ServerTime for PushResponse {
    fn server_time_ms(&self) -> i64 {
        self.server_time_ms
    }
}

impl ServerTime for PullResponse {
    fn server_time_ms(&self) -> i64 {
        self.server_time_ms
    }
}

impl ServerTime for fieldsync_protocol::wire::LoginResponse {
    fn server_time_ms(&self) -> i64 {
        self.server_time_ms
    }
}

pub(crate) async fn run(
    ctx: &SyncCtx<'_>,
    store: &mut Store,
    progress: &mut (dyn FnMut(&Progress) + Send),
    with_push: bool,
) -> Result<SyncReport> {
    let span = tracing::info_span!("sync", sync_id = %ctx.sync_id);
    async move {
        let mut report = SyncReport::default();
        let mut started_over = false;
        loop {
            let round = async {
                if with_push {
                    push(ctx, store, &mut report).await?;
                }
                pull(ctx, store, &mut report, progress).await
            };
            match round.await {
                // The server's data is not the history this copy follows: once per sync,
                // start over with it (crates/server/src/history.rs). After a restore, the
                // changes it acknowledged and may have lost go back into the outbox.
                Err(ClientError::Server { code, cursor, .. })
                    if !started_over
                        && (code == ErrorCode::HistoryChanged.as_str() || code == ErrorCode::UnknownCursor.as_str()) =>
                {
                    started_over = true;
                    let resend = code == ErrorCode::HistoryChanged.as_str();
                    report.resent += store.start_over(resend, cursor.as_deref(), ctx.clock.now_ms())?;
                    tracing::warn!(%code, resent = report.resent, "the server's data changed history; starting over with it");
                }
                other => break other?,
            }
        }
        store.set_meta("last_sync_ms", &ctx.clock.now_ms().to_string())?;
        if with_push {
            refresh_team_devices(ctx, store).await?;
        }
        tracing::info!(?report, "sync finished");
        Ok(report)
    }
    .instrument(span)
    .await
}

async fn push(ctx: &SyncCtx<'_>, store: &mut Store, report: &mut SyncReport) -> Result<()> {
    let client_id = store.meta("client_id")?.and_then(|c| Uuid::parse_str(&c).ok()).unwrap_or_else(Uuid::nil);
    // Halved when the server finds a batch too large, back to full after a success.
    let mut batch_size = PUSH_BATCH;
    loop {
        let batch = store.outbox(batch_size)?;
        if batch.is_empty() {
            return Ok(());
        }
        let cursor = Some(store.cursor()?).filter(|c| !c.is_empty());
        let req = PushRequest { client_id, client_time_ms: ctx.clock.now_ms(), cursor, mutations: batch.clone() };
        let body = serde_json::to_vec(&req)?;
        let reply = call::<PushResponse>(
            &**ctx.transport,
            &**ctx.clock,
            post(ctx.server, "/v1/push", Some(ctx.token), body).in_sync(ctx.sync_id),
        )
        .await;
        let now = ctx.clock.now_ms();
        match reply {
            Ok((resp, offset)) => {
                batch_size = PUSH_BATCH;
                store.set_meta("clock_offset_ms", &offset.to_string())?;
                for (m, result) in batch.iter().zip(&resp.results) {
                    report.pushed += 1;
                    match result.status {
                        fieldsync_protocol::wire::MutationStatus::Rejected => report.rejected += 1,
                        _ => report.applied += 1,
                    }
                    store.settle(m, result, now)?;
                }
                if resp.results.len() < batch.len() {
                    return Err(ClientError::Unavailable("The server answered only part of a push; try again.".into()));
                }
            }
            // Not about one mutation: the profile is a copy (Engine::sync asks for a new
            // sign-in), or the server's history changed (`run` starts over).
            Err(e @ ClientError::Server { .. }) if e.error_code().is_some_and(|c| WHOLE_PUSH_REFUSALS.contains(&c)) => {
                return Err(e)
            }
            // Bad input fails the whole batch and names the culprit: park it, resend the rest.
            Err(ClientError::Server {
                status: status @ 400..=499,
                code,
                message,
                mutation_id: Some(culprit),
                cursor,
            }) => {
                let Some(m) = batch.iter().find(|m| m.mutation_id == culprit) else {
                    return Err(ClientError::Server { status, code, message, mutation_id: Some(culprit), cursor });
                };
                tracing::warn!(%culprit, %code, "server refused a mutation as bad input; moved to needs attention");
                report.pushed += 1;
                report.rejected += 1;
                store.park_bad(m, &code, &message, now)?;
            }
            Err(ClientError::Server { status: 413, .. }) if batch_size > 1 => batch_size /= 2,
            Err(ClientError::Server { status: 413, code, message, .. }) => {
                report.pushed += 1;
                report.rejected += 1;
                store.park_bad(&batch[0], &code, &message, now)?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Server refusals of a whole push that no mutation in it can be blamed for.
const WHOLE_PUSH_REFUSALS: &[ErrorCode] =
    &[ErrorCode::ProfileCopied, ErrorCode::HistoryChanged, ErrorCode::UnknownCursor];

/// Rows in the first page of a pull: small, so work starts at once and the next, full
/// page is prepared by the server while the client applies this one.
const FIRST_PAGE: u32 = 1000;

fn pull_request(ctx: &SyncCtx<'_>, cursor: &str, limit: u32, wait_ms: u64) -> HttpRequest {
    let mut url = format!("{}/v1/pull?cursor={cursor}&limit={limit}", ctx.server);
    if wait_ms > 0 {
        url.push_str(&format!("&wait_ms={wait_ms}"));
    }
    HttpRequest::get(url, Some(ctx.token)).in_sync(ctx.sync_id)
}

/// Pulls pages until caught up. While one page is applied, the request for the next is
/// already on its way (its cursor is known from the page), so the server prepares page
/// N+1 while the client writes page N.
async fn pull(
    ctx: &SyncCtx<'_>,
    store: &mut Store,
    report: &mut SyncReport,
    progress: &mut (dyn FnMut(&Progress) + Send),
) -> Result<()> {
    let start = store.cursor()?;
    let first_limit = ctx.pull_limit.min(FIRST_PAGE);
    let mut fetched =
        call::<PullResponse>(&**ctx.transport, &**ctx.clock, pull_request(ctx, &start, first_limit, ctx.wait_ms)).await;
    // Where this pull began in the change log, for the progress share only.
    let from: i64 = store.meta("position")?.and_then(|p| p.parse().ok()).filter(|_| !start.is_empty()).unwrap_or(0);
    let mut first = true;
    loop {
        let (page, offset) = fetched?;
        // A long-poll answer was timed up to `wait_ms` before it arrived: no offset from it.
        if ctx.wait_ms == 0 || !first {
            store.set_meta("clock_offset_ms", &offset.to_string())?;
        }
        first = false;
        let (involving, overwritten) = conflicts_involving(&page, store.meta("user_id")?.as_deref());
        report.conflicts += involving;
        report.overwritten += overwritten;
        // Fetch the next page on its own task (receiving and parsing it) while this one
        // is written, so the server, the network and the local store work in parallel.
        let prefetch = page.has_more.then(|| {
            let (transport, clock) = (ctx.transport.clone(), ctx.clock.clone());
            let req = pull_request(ctx, &page.cursor, ctx.pull_limit, 0);
            tokio::spawn(async move { call::<PullResponse>(&*transport, &*clock, req).await })
        });
        let applied = store.apply_page(&page);
        let next = match prefetch {
            Some(task) => Some(task.await.map_err(|e| ClientError::Internal(format!("pull task failed: {e}")))?),
            None => None,
        };
        report.pulled += applied?;
        report.notices.extend(page.notices.iter().cloned());
        let span = (page.head - from).max(1);
        let percent = (((page.position - from) * 100) / span).clamp(0, 100) as u8;
        progress(&crate::Progress { pulled: report.pulled, position: page.position, head: page.head, percent });
        match next {
            Some(n) => fetched = n,
            None => return Ok(()),
        }
    }
}
