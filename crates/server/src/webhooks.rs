//! Webhooks: lifecycle events (an order approved, rejected, delivered, ...) POSTed to URLs
//! an administrator registered with `fieldsync-server webhook add`, signed, retried with
//! exponential backoff, and logged.
//!
//! - **Never lost, never invented.** [`enqueue`] writes one delivery row per subscribed
//!   webhook inside the transaction that makes the change (a transactional outbox): an
//!   event exists exactly when its change committed.
//! - **Delivery.** One task per server ([`run`]) wakes when the change head moves or a
//!   retry falls due, claims due deliveries (a conditional update, so two instances on one
//!   PostgreSQL never send the same attempt), and POSTs them, at most
//!   [`WebhookLimits::in_flight`] at once, each with a timeout.
//! - **Signature.** `Fieldsync-Signature: t=UNIX_SECONDS,v1=HEX` where HEX is
//!   HMAC-SHA256(secret, `"{t}.{body}"`), as Stripe does: the receiver recomputes it, and
//!   rejects old `t` to stop replays. `Fieldsync-Delivery` is the delivery's id (the same
//!   on every retry: receivers dedupe by it); `Fieldsync-Event` names the event.
//! - **Retries.** A non-2xx answer, a timeout or a connection error schedules the next
//!   attempt after `retry_base × 2^(attempts−1)` (at most `max_retry_delay`); after
//!   `max_attempts` the delivery is `failed` and stays in the log.

use std::sync::Arc;
use std::time::Duration;

use fieldsync_protocol::{EntityDef, Registry};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::args;
use crate::http::AppState;
use crate::sql::{DbError, Tx};

/// How deliveries are paced and bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookLimits {
    /// Delay before the first retry; each further retry doubles it.
    pub retry_base: Duration,
    pub max_retry_delay: Duration,
    /// Attempts before a delivery is given up (`failed`).
    pub max_attempts: u32,
    /// Longest wait for a receiver's answer.
    pub timeout: Duration,
    /// Deliveries sent at once.
    pub in_flight: usize,
}

impl Default for WebhookLimits {
    fn default() -> Self {
        WebhookLimits {
            retry_base: Duration::from_secs(10),
            max_retry_delay: Duration::from_secs(3600),
            max_attempts: 12,
            timeout: Duration::from_secs(10),
            in_flight: 4,
        }
    }
}

impl WebhookLimits {
    /// The wait after the `attempts`-th failed attempt.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 1u32.checked_shl(attempts.saturating_sub(1)).unwrap_or(u32::MAX);
        self.retry_base.saturating_mul(factor).min(self.max_retry_delay)
    }
}

/// The event a move of `def`'s state field to `to` raises: `order.approved`.
pub fn event_name(def: &EntityDef, to: &str) -> String {
    format!("{}.{to}", def.name.strip_suffix('s').unwrap_or(def.name))
}

/// Every event the registry can raise (each state of each lifecycle).
pub fn known_events(reg: &Registry) -> Vec<String> {
    let mut out = Vec::new();
    for def in reg.entities() {
        let Some(sm) = def.state_machine else { continue };
        let mut states: Vec<&str> = sm.transitions.iter().map(|t| t.to).collect();
        states.sort_unstable();
        states.dedup();
        out.extend(states.into_iter().map(|s| event_name(def, s)));
    }
    out
}

/// Checks a comma- or space-separated list of events against [`known_events`].
pub fn parse_events(reg: &Registry, text: &str) -> Result<Vec<String>, String> {
    let known = known_events(reg);
    let events: Vec<String> =
        text.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
    if events.is_empty() {
        return Err(format!("name at least one event; the events are {}", known.join(", ")));
    }
    if let Some(bad) = events.iter().find(|e| !known.contains(e)) {
        return Err(format!("there is no event '{bad}'; the events are {}", known.join(", ")));
    }
    Ok(events)
}

/// Registers a webhook; returns its id and signing secret (shown once).
pub fn add(tx: &Tx<'_>, url: &str, events: &[String], now_ms: i64) -> Result<(String, String), AddError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| AddError::Url(format!("'{url}' is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(AddError::Url(format!("'{url}' must be an http:// or https:// address")));
    }
    let mut bytes = [0u8; 32];
    rand::Rng::fill(&mut rand::rngs::OsRng, &mut bytes);
    let secret = format!("whsec_{}", hex::encode(bytes));
    let id = uuid::Uuid::now_v7().to_string();
    tx.execute(
        "INSERT INTO webhooks (id, url, events, secret, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        args![&id, url, events.join(" "), &secret, now_ms],
    )?;
    Ok((id, secret))
}

#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("{0}")]
    Url(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookInfo {
    pub id: String,
    pub url: String,
    pub events: String,
    pub created_at: String,
    pub removed_at: Option<String>,
    pub delivered: i64,
    pub pending: i64,
    pub failed: i64,
}

pub fn list(tx: &Tx<'_>) -> Result<Vec<WebhookInfo>, DbError> {
    let count = |status: &str| {
        format!("(SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = '{status}')")
    };
    tx.query(
        &format!(
            "SELECT w.id, w.url, w.events, w.created_at_ms, w.removed_at_ms, {}, {}, {} FROM webhooks w ORDER BY w.created_at_ms",
            count("delivered"),
            count("pending"),
            count("failed")
        ),
        args![],
        |r| {
            Ok(WebhookInfo {
                id: r.get(0)?,
                url: r.get(1)?,
                events: r.get(2)?,
                created_at: fieldsync_protocol::time::rfc3339_ms(r.get(3)?),
                removed_at: r.get::<Option<i64>>(4)?.map(fieldsync_protocol::time::rfc3339_ms),
                delivered: r.get(5)?,
                pending: r.get(6)?,
                failed: r.get(7)?,
            })
        },
    )
}

/// Stops a webhook: no new events; deliveries still pending are dropped (marked failed).
pub fn remove(tx: &Tx<'_>, id: &str, now_ms: i64) -> Result<bool, DbError> {
    let n = tx
        .execute("UPDATE webhooks SET removed_at_ms = ?2 WHERE id = ?1 AND removed_at_ms IS NULL", args![id, now_ms])?;
    tx.execute(
        "UPDATE webhook_deliveries SET status = 'failed', last_error = 'the webhook was removed' \
         WHERE webhook_id = ?1 AND status = 'pending'",
        args![id],
    )?;
    Ok(n > 0)
}

/// One line of the delivery log.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryInfo {
    pub id: String,
    pub webhook_id: String,
    pub event: String,
    pub status: String,
    pub attempts: i64,
    pub created_at: String,
    pub next_attempt_at: Option<String>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<String>,
}

/// The newest `limit` deliveries, of one webhook or all.
pub fn deliveries(tx: &Tx<'_>, webhook: Option<&str>, limit: i64) -> Result<Vec<DeliveryInfo>, DbError> {
    let time = |ms: Option<i64>| ms.map(fieldsync_protocol::time::rfc3339_ms);
    tx.query(
        "SELECT id, webhook_id, event, status, attempts, created_at_ms, next_attempt_at_ms, last_status, last_error, \
         delivered_at_ms FROM webhook_deliveries WHERE (?1 = '' OR webhook_id = ?1) ORDER BY created_at_ms DESC, id DESC LIMIT ?2",
        args![webhook.unwrap_or(""), limit],
        |r| {
            let status: String = r.get(3)?;
            let next: i64 = r.get(6)?;
            Ok(DeliveryInfo {
                id: r.get(0)?,
                webhook_id: r.get(1)?,
                event: r.get(2)?,
                attempts: r.get(4)?,
                created_at: fieldsync_protocol::time::rfc3339_ms(r.get(5)?),
                next_attempt_at: (status == "pending").then(|| fieldsync_protocol::time::rfc3339_ms(next)),
                status,
                last_status: r.get(7)?,
                last_error: r.get(8)?,
                delivered_at: time(r.get(9)?),
            })
        },
    )
}

/// Queues the event of `def`'s record `id` moving to state `to` for every webhook that
/// subscribes to it. Call it inside the transaction that writes the move; returns whether
/// it queued a delivery (then, once committed, wake the sender: `AppState::webhooks_due`).
pub fn enqueue(tx: &Tx<'_>, reg: &Registry, def: &EntityDef, id: &str, to: &str, now_ms: i64) -> Result<bool, DbError> {
    let event = event_name(def, to);
    let hooks: Vec<String> = tx.query(
        "SELECT id FROM webhooks WHERE removed_at_ms IS NULL AND ' ' || events || ' ' LIKE ?1",
        args![format!("% {event} %")],
        |r| r.get(0),
    )?;
    if hooks.is_empty() {
        return Ok(false);
    }
    let Some(record) = crate::export::record(tx, reg, def, id)? else { return Ok(false) };
    for hook in hooks {
        let delivery = uuid::Uuid::now_v7().to_string();
        let payload = json!({
            "id": delivery,
            "event": event,
            "occurred_at": fieldsync_protocol::time::rfc3339_ms(now_ms),
            "entity": def.name,
            "data": Value::Object(record.clone()),
        });
        tx.execute(
            "INSERT INTO webhook_deliveries (id, webhook_id, event, payload, created_at_ms, status, next_attempt_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?5)",
            args![&delivery, &hook, &event, payload.to_string(), crate::db::now_ms()],
        )?;
    }
    Ok(true)
}

/// `t=...,v1=...` for a body sent at `unix_seconds`.
pub fn signature(secret: &str, unix_seconds: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(format!("{unix_seconds}.{body}").as_bytes());
    format!("t={unix_seconds},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// A delivery claimed for one attempt.
struct Claimed {
    id: String,
    url: String,
    secret: String,
    event: String,
    payload: String,
    attempts: i64,
}

/// Claims up to `n` due deliveries: each is pushed out of reach of other instances for the
/// length of one attempt.
fn claim(tx: &Tx<'_>, n: usize, lease_ms: i64) -> Result<(Vec<Claimed>, Option<i64>), DbError> {
    let now = crate::db::now_ms();
    let due: Vec<(Claimed, i64)> = tx.query(
        "SELECT d.id, w.url, w.secret, d.event, d.payload, d.attempts, d.next_attempt_at_ms \
         FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
         WHERE d.status = 'pending' AND d.next_attempt_at_ms <= ?1 ORDER BY d.next_attempt_at_ms LIMIT ?2",
        args![now, n as i64],
        |r| {
            Ok((
                Claimed {
                    id: r.get(0)?,
                    url: r.get(1)?,
                    secret: r.get(2)?,
                    event: r.get(3)?,
                    payload: r.get(4)?,
                    attempts: r.get(5)?,
                },
                r.get(6)?,
            ))
        },
    )?;
    let mut claimed = Vec::new();
    for (c, at) in due {
        let won = tx.execute(
            "UPDATE webhook_deliveries SET next_attempt_at_ms = ?3 WHERE id = ?1 AND next_attempt_at_ms = ?2 AND status = 'pending'",
            args![&c.id, at, now + lease_ms],
        )?;
        if won == 1 {
            claimed.push(c);
        }
    }
    let next: Option<i64> =
        tx.value("SELECT min(next_attempt_at_ms) FROM webhook_deliveries WHERE status = 'pending'", args![])?;
    Ok((claimed, next))
}

/// What one attempt came to.
enum Outcome {
    Delivered(u16),
    Failed { status: Option<u16>, error: String },
}

async fn attempt(http: &reqwest::Client, c: &Claimed) -> Outcome {
    let now = crate::db::now_ms() / 1000;
    let sent = http
        .post(&c.url)
        .header("Content-Type", "application/json")
        .header("Fieldsync-Event", &c.event)
        .header("Fieldsync-Delivery", &c.id)
        .header("Fieldsync-Signature", signature(&c.secret, now, &c.payload))
        .body(c.payload.clone())
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => Outcome::Delivered(r.status().as_u16()),
        Ok(r) => Outcome::Failed { status: Some(r.status().as_u16()), error: format!("answered {}", r.status()) },
        Err(e) if e.is_timeout() => Outcome::Failed { status: None, error: "no answer in time".into() },
        Err(e) => Outcome::Failed { status: None, error: format!("could not connect: {e}") },
    }
}

fn record(tx: &Tx<'_>, c: &Claimed, outcome: &Outcome, limits: &WebhookLimits) -> Result<(), DbError> {
    let now = crate::db::now_ms();
    let attempts = c.attempts + 1;
    match outcome {
        Outcome::Delivered(status) => tx.execute(
            "UPDATE webhook_deliveries SET status = 'delivered', attempts = ?2, last_status = ?3, last_error = NULL, \
             delivered_at_ms = ?4 WHERE id = ?1",
            args![&c.id, attempts, i64::from(*status), now],
        )?,
        Outcome::Failed { status, error } => {
            let gave_up = attempts >= i64::from(limits.max_attempts);
            let wait = limits.backoff(u32::try_from(attempts).unwrap_or(u32::MAX));
            tx.execute(
                "UPDATE webhook_deliveries SET status = ?2, attempts = ?3, last_status = ?4, last_error = ?5, \
                 next_attempt_at_ms = ?6 WHERE id = ?1",
                args![
                    &c.id,
                    if gave_up { "failed" } else { "pending" },
                    attempts,
                    status.map(i64::from),
                    error.as_str(),
                    now + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2)
                ],
            )?
        }
    };
    Ok(())
}

/// The delivery task: runs until the server stops.
pub async fn run(state: Arc<AppState>, limits: WebhookLimits) {
    let http = match reqwest::Client::builder()
        .timeout(limits.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("fieldsync-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot start webhook deliveries");
            return;
        }
    };
    let mut stopping = state.stopping.subscribe();
    let lease = i64::try_from((limits.timeout + Duration::from_secs(5)).as_millis()).unwrap_or(60_000);
    loop {
        let n = limits.in_flight;
        let claimed = state.db.write_unordered(move |tx| Ok(claim(tx, n, lease)?)).await;
        let (batch, next) = match claimed {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the webhook queue");
                (Vec::new(), Some(crate::db::now_ms() + 5_000))
            }
        };
        let sent = batch.len();
        let outcomes = futures_join(&http, batch).await;
        for (c, outcome) in outcomes {
            match &outcome {
                Outcome::Delivered(_) => tracing::info!(delivery = %c.id, event = %c.event, "webhook delivered"),
                Outcome::Failed { error, .. } => {
                    tracing::warn!(delivery = %c.id, event = %c.event, %error, "webhook delivery failed")
                }
            }
            let l = limits.clone();
            if let Err(e) = state.db.write_unordered(move |tx| Ok(record(tx, &c, &outcome, &l)?)).await {
                tracing::warn!(error = %e, "cannot record a webhook attempt");
            }
        }
        if sent > 0 {
            continue; // more may be due now, and the next due time has moved
        }
        let wait = next.map_or(Duration::from_secs(60), |at| {
            Duration::from_millis(u64::try_from(at - crate::db::now_ms()).unwrap_or(0))
        });
        tokio::select! {
            _ = tokio::time::sleep(wait.min(Duration::from_secs(60))) => {}
            _ = state.webhooks_due.notified() => {}
            _ = stopping.changed() => return,
        }
        if *stopping.borrow() {
            return;
        }
    }
}

/// Sends a batch concurrently.
async fn futures_join(http: &reqwest::Client, batch: Vec<Claimed>) -> Vec<(Claimed, Outcome)> {
    let mut set = tokio::task::JoinSet::new();
    for c in batch {
        let http = http.clone();
        set.spawn(async move {
            let outcome = attempt(&http, &c).await;
            (c, outcome)
        });
    }
    let mut out = Vec::new();
    while let Some(done) = set.join_next().await {
        if let Ok(pair) = done {
            out.push(pair);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_ceiling() {
        let l = WebhookLimits::default();
        assert_eq!(l.backoff(1), Duration::from_secs(10));
        assert_eq!(l.backoff(2), Duration::from_secs(20));
        assert_eq!(l.backoff(5), Duration::from_secs(160));
        assert_eq!(l.backoff(40), Duration::from_secs(3600));
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_time_dot_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            signature("secret", 1_700_000_000, "{\"a\":1}"),
            "t=1700000000,v1=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
        );
    }

    #[test]
    fn events_are_named_after_the_lifecycle_states() {
        let reg = Registry::standard();
        let events = known_events(&reg);
        assert!(events.contains(&"order.approved".to_string()) && events.contains(&"order.rejected".to_string()));
        assert!(parse_events(&reg, "order.approved,order.shipped").unwrap_err().contains("order.shipped"));
    }
}
