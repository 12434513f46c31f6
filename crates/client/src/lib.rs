//! Fieldsync client engine: the local SQLite cache that every read and write hits, the
//! outbox of offline changes, and the sync protocol (push, then paged pull) over a
//! [`Transport`]. The CLI and the desktop app are thin layers over [`Engine`].
//!
//! **Invariant:** only `login`, `sync`, `pull`, `wait_for_changes` and the free functions
//! `wait_for_news` and `probe` touch the network; everything else is local.

pub mod background;
mod card;
pub mod config;
pub mod dashboard;
pub mod diagnostics;
pub mod error;
pub mod profiles;
pub mod schedule;
mod search;
pub mod store;
mod sync;
pub mod tokens;
pub mod transport;
mod workflows;

use std::path::Path;
use std::sync::Arc;

use fieldsync_protocol::merge::wire_value;
use fieldsync_protocol::time::rfc3339_ms;
use fieldsync_protocol::wire::{DeviceReport, LoginRequest, LoginResponse, Op, UserInfo};
use fieldsync_protocol::{parse_cli_value, EntityDef, ErrorCode, FieldDefault, FieldStrategy, Registry};
use fieldsync_sqlkit::Migration;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

pub use card::{CardOrder, CardVisit, CustomerCard, Overwritten};
pub use dashboard::{BulkReview, Dashboard, Laptop, RepWeeks, TopCustomer};
pub use error::{ClientError, Result};
pub use store::{AttentionItem, FieldLabel, Object, Store};
pub use sync::{probe, wait_for_news, Progress, SyncReport};
pub use tokens::{FileTokenStore, TokenStore};
pub use transport::{Clock, HttpTransport, SystemClock, Transport};
pub use workflows::{PickerProduct, ReviewFilter, ReviewItem};

/// How to build an engine; [`EngineOptions::default`] is what ships.
pub struct EngineOptions {
    pub registry: Arc<Registry>,
    pub extra_migrations: Vec<Migration>,
    pub transport: Arc<dyn Transport>,
    pub clock: Arc<dyn Clock>,
    /// Changes per pull page requested from the server.
    pub pull_limit: u32,
    /// Where the session token is kept; `None`: a file in the profile directory.
    pub tokens: Option<Arc<dyn TokenStore>>,
    /// Allow `http://` to hosts other than this computer (system configuration).
    pub allow_insecure_http: bool,
    /// Days acknowledged changes are kept, to send them again to a server restored from a
    /// backup (system configuration `resend_days`).
    pub resend_days: u32,
}

impl Default for EngineOptions {
    /// Production settings, with the trusted CA and the plain-HTTP policy of the system
    /// configuration.
    fn default() -> Self {
        let config = config::SystemConfig::load_or_default();
        EngineOptions {
            registry: Arc::new(Registry::standard()),
            extra_migrations: Vec::new(),
            transport: Arc::new(HttpTransport::for_config(&config)),
            clock: Arc::new(SystemClock),
            pull_limit: fieldsync_protocol::wire::DEFAULT_PULL_LIMIT,
            tokens: None,
            allow_insecure_http: config.allow_insecure_http,
            resend_days: config.resend_days.unwrap_or(fieldsync_protocol::wire::DEFAULT_RESEND_DAYS),
        }
    }
}

/// What `status` reports.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Status {
    #[ts(type = "number")]
    pub pending: i64,
    #[ts(type = "number")]
    pub needs_attention: i64,
    pub last_sync: Option<String>,
    #[ts(type = "number")]
    pub clock_offset_ms: i64,
    pub server: Option<String>,
    pub user: Option<String>,
}

/// One entry of the conflict log, as the user sees it.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ConflictEntry {
    pub conflict_id: String,
    pub entity: String,
    pub id: String,
    pub field: String,
    #[ts(type = "unknown")]
    pub kept: Value,
    #[ts(type = "unknown")]
    pub overwritten: Value,
    pub kept_by: String,
    pub overwritten_by: String,
    pub at: String,
    /// What names the record for people (its name, title, code or number), from this
    /// profile or, for a deleted record, from the values the conflict kept.
    pub record_name: Option<String>,
    /// The record in people's words ("customer Olsen Bakery").
    pub what: String,
    /// The field's label ("Phone"), or "the whole record" for a delete that won.
    pub field_label: String,
    /// The kept and the overwritten values in people's words (a referenced record by its
    /// name, money in units, "yes"/"no", "empty").
    pub kept_text: String,
    pub overwritten_text: String,
}

pub struct Engine {
    store: Store,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    pull_limit: u32,
    tokens: Arc<dyn TokenStore>,
    allow_insecure_http: bool,
    /// The lists' text search, in memory (`search.rs`).
    search: std::sync::Mutex<search::SearchIndex>,
}

impl Engine {
    pub fn open(profile: &Path) -> Result<Engine> {
        Engine::open_with(profile, EngineOptions::default())
    }

    pub fn open_with(profile: &Path, opts: EngineOptions) -> Result<Engine> {
        let mut store = Store::open(profile, opts.registry, &opts.extra_migrations)?;
        store.set_resend_days(opts.resend_days);
        if store.meta("client_id")?.is_none() {
            store.set_meta("client_id", &Uuid::now_v7().to_string())?;
        }
        Ok(Engine {
            store,
            transport: opts.transport,
            clock: opts.clock,
            pull_limit: opts.pull_limit,
            tokens: opts.tokens.unwrap_or_else(|| Arc::new(FileTokenStore::at(profile))),
            allow_insecure_http: opts.allow_insecure_http,
            search: Default::default(),
        })
    }

    /// The server, session token and pull cursor, for work done without the store (a
    /// long poll, a probe).
    pub fn session_snapshot(&self) -> Result<(String, String, String)> {
        let (server, token) = self.session()?;
        Ok((server, token, self.store.cursor()?))
    }

    pub fn transport(&self) -> Arc<dyn Transport> {
        self.transport.clone()
    }

    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// Changes per pull page from now on.
    pub fn set_pull_limit(&mut self, limit: u32) {
        self.pull_limit = limit;
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn token(&self) -> Result<String> {
        self.tokens.load()?.ok_or_else(|| ClientError::NotSignedIn("You are not signed in; sign in first.".into()))
    }

    /// Signs out: asks the server to end the session, then forgets it here (the local data,
    /// pending changes included, stays for the next sign-in). Returns whether the server
    /// was told; when it could not be reached, the session stays valid there until it
    /// expires or IT revokes it.
    pub async fn sign_out(&mut self) -> Result<bool> {
        let told = match (self.store.meta("server")?, self.tokens.load()?) {
            (Some(server), Some(token)) => {
                let req = sync::post(&server, "/v1/logout", Some(&token), b"{}".to_vec());
                // 401: the session had already ended, which is what signing out wants.
                matches!(self.transport.send(req).await, Ok(r) if (200..300).contains(&r.status) || r.status == 401)
            }
            _ => true,
        };
        self.tokens.clear()?;
        Ok(told)
    }

    /// Whether a session token is stored.
    pub fn signed_in(&self) -> Result<bool> {
        Ok(self.tokens.load()?.is_some())
    }

    /// Signs in and remembers the server, user and session. Signing in as a different
    /// user than the profile's previous one starts from an empty cache.
    pub async fn login(&mut self, server: &str, username: &str, password: &str) -> Result<UserInfo> {
        let server = server.trim_end_matches('/').to_string();
        config::check_server_address(&server, self.allow_insecure_http).map_err(ClientError::BadInput)?;
        let body = serde_json::to_vec(&LoginRequest {
            username: username.into(),
            password: password.into(),
            client_id: self.store.meta("client_id")?.and_then(|c| Uuid::parse_str(&c).ok()),
            device: whoami::hostname().ok(),
            app_version: Some(env!("CARGO_PKG_VERSION").into()),
        })?;
        let resp: LoginResponse =
            sync::call(&*self.transport, &*self.clock, sync::post(&server, "/v1/login", None, body)).await?.0;
        let previous = self.store.meta("user")?;
        let previous_server = self.store.meta("server")?;
        if previous.is_some_and(|p| p != resp.user.username) || previous_server.is_some_and(|s| s != server) {
            if self.store.count("outbox")? > 0 || self.store.count("attention")? > 0 {
                return Err(ClientError::BadInput(
                    "This computer still holds changes of another user or server that were not synced or were rejected; sign in as that user to sync, resend or discard them first.".into(),
                ));
            }
            self.store.reset()?;
            self.store.set_meta("client_id", &Uuid::now_v7().to_string())?;
        }
        self.tokens.save(&resp.token)?;
        self.store.set_meta("server", &server)?;
        self.store.set_meta("user", &resp.user.username)?;
        self.store.set_meta("user_id", &resp.user.id.to_string())?;
        self.store.set_meta("role", resp.user.role.as_str())?;
        if let Some(prefix) = &resp.number_prefix {
            self.store.set_meta(NUMBER_PREFIX, prefix)?;
        }
        Ok(resp.user)
    }

    /// Asks the server for this client's order-number prefix when the profile has none (it
    /// signed in before the server handed them out). Best effort: without one, new orders
    /// wait for a number until a later sync or sign-in brings it.
    async fn fetch_number_prefix(&mut self, server: &str, token: &str) -> Result<()> {
        if self.store.meta(NUMBER_PREFIX)?.is_some() {
            return Ok(());
        }
        let req = sync::post(server, "/v1/number-prefix", Some(token), Vec::new());
        match sync::exchange::<fieldsync_protocol::wire::NumberPrefix>(&*self.transport, &*self.clock, req).await {
            Ok((answer, _)) => self.store.set_meta(NUMBER_PREFIX, &answer.number_prefix),
            Err(e) => {
                tracing::warn!("no order-number prefix yet: {e}");
                Ok(())
            }
        }
    }

    /// The next order number ([`FieldDefault::Sequence`]); `None` without a prefix. The
    /// counter is saved before the record that uses it, so a number is never given twice.
    fn next_number(&self) -> Result<Option<String>> {
        let Some(prefix) = self.store.meta(NUMBER_PREFIX)? else { return Ok(None) };
        let next = self.store.meta(NUMBER_COUNTER)?.and_then(|n| n.parse::<u64>().ok()).unwrap_or(0) + 1;
        self.store.set_meta(NUMBER_COUNTER, &next.to_string())?;
        Ok(Some(fieldsync_protocol::wire::sequence_number(&prefix, next)))
    }

    /// Pushes pending changes, then pulls until caught up.
    pub async fn sync(&mut self, progress: &mut (dyn FnMut(&Progress) + Send)) -> Result<SyncReport> {
        let (server, token) = self.session()?;
        let outcome = self.run_sync(&server, &token, progress, true, 0).await;
        self.count_outcome(&outcome)?;
        self.log_sync(&outcome);
        let report = outcome?;
        // The server answers: tell it how the syncs since the last report went.
        self.send_device_report(&server, &token).await?;
        self.fetch_number_prefix(&server, &token).await?;
        Ok(report)
    }

    /// The device report being gathered: the outcomes of syncs since the last one sent.
    fn device_report(&self) -> Result<DeviceReport> {
        let stored = self.store.meta(DEVICE_REPORT)?.and_then(|json| serde_json::from_str(&json).ok());
        let mut report: DeviceReport = stored.unwrap_or_default();
        report.client_id = self.store.meta("client_id")?.and_then(|c| Uuid::parse_str(&c).ok()).unwrap_or_default();
        report.app_version = env!("CARGO_PKG_VERSION").into();
        report.pending = u32::try_from(self.store.count("outbox")?).unwrap_or(u32::MAX);
        Ok(report)
    }

    /// Counts a sync's outcome for the next device report: done, offline, or failed (by
    /// the server's error code, else the client's kind of error).
    fn count_outcome(&self, outcome: &Result<SyncReport>) -> Result<()> {
        let mut report = self.device_report()?;
        match outcome {
            Ok(_) => report.ok = report.ok.saturating_add(1),
            Err(ClientError::Unavailable(_)) => report.offline = report.offline.saturating_add(1),
            Err(e) => {
                let code = e.failure_code();
                let kinds = report.failed.len();
                let code = if kinds >= fieldsync_protocol::wire::MAX_REPORT_KINDS && !report.failed.contains_key(code) {
                    "other"
                } else {
                    code
                };
                let n = report.failed.entry(code.chars().take(64).collect()).or_default();
                *n = n.saturating_add(1);
                let text: String = e.to_string().chars().take(fieldsync_protocol::wire::MAX_REPORT_TEXT).collect();
                report.last_error = Some(text);
            }
        }
        let json = serde_json::to_string(&report).map_err(|e| ClientError::Internal(e.to_string()))?;
        self.store.set_meta(DEVICE_REPORT, &json)
    }

    /// Sends what was gathered since the last report ([`DeviceReport`]), this sync
    /// included, then starts afresh. It goes when something went wrong since the last
    /// report (a failed or offline sync), or when the last one is [`DEVICE_REPORT_EVERY_MS`]
    /// old: while syncs go well a laptop costs the server one report per interval, not one
    /// request per sync. Best effort: a report that cannot be sent waits for the next
    /// successful sync.
    async fn send_device_report(&mut self, server: &str, token: &str) -> Result<()> {
        let report = self.device_report()?;
        if report.ok == 0 && report.offline == 0 && report.failed.is_empty() {
            return Ok(());
        }
        let now = self.clock.now_ms();
        let last_sent = self.store.meta(DEVICE_REPORT_SENT)?.and_then(|t| t.parse::<i64>().ok());
        let news = report.offline > 0 || !report.failed.is_empty();
        if !news && last_sent.is_some_and(|t| (0..DEVICE_REPORT_EVERY_MS).contains(&(now - t))) {
            return Ok(());
        }
        let body = serde_json::to_vec(&report).map_err(|e| ClientError::Internal(e.to_string()))?;
        let req = sync::post(server, "/v1/device-report", Some(token), body);
        match sync::exchange::<serde_json::Value>(&*self.transport, &*self.clock, req).await {
            Ok(_) => {
                self.store.set_meta(DEVICE_REPORT_SENT, &now.to_string())?;
                self.store.delete_meta(DEVICE_REPORT)
            }
            Err(e) => {
                tracing::info!("the device report waits for the next sync: {e}");
                Ok(())
            }
        }
    }

    /// Pulls server changes without pushing (pending local edits are rebased on top).
    pub async fn pull(&mut self, progress: &mut (dyn FnMut(&Progress) + Send)) -> Result<SyncReport> {
        let (server, token) = self.session()?;
        self.run_sync(&server, &token, progress, false, 0).await
    }

    /// Waits up to `wait_ms` for the server to have changes for this user (a long poll,
    /// answered within milliseconds of a change), then pulls them.
    pub async fn wait_for_changes(
        &mut self,
        wait_ms: u64,
        progress: &mut (dyn FnMut(&Progress) + Send),
    ) -> Result<SyncReport> {
        let (server, token) = self.session()?;
        self.run_sync(&server, &token, progress, false, wait_ms).await
    }

    fn session(&self) -> Result<(String, String)> {
        let server = self
            .store
            .meta("server")?
            .ok_or_else(|| ClientError::NotSignedIn("You are not signed in; sign in first.".into()))?;
        config::check_server_address(&server, self.allow_insecure_http).map_err(ClientError::BadInput)?;
        Ok((server, self.token()?))
    }

    async fn run_sync(
        &mut self,
        server: &str,
        token: &str,
        progress: &mut (dyn FnMut(&Progress) + Send),
        with_push: bool,
        wait_ms: u64,
    ) -> Result<SyncReport> {
        let sync_id = Uuid::now_v7().to_string();
        let ctx = sync::SyncCtx {
            transport: &self.transport,
            clock: &self.clock,
            server,
            token,
            pull_limit: self.pull_limit,
            wait_ms,
            sync_id: &sync_id,
        };
        match sync::run(&ctx, &mut self.store, progress, with_push).await {
            // Another computer pushed as this profile: this copy gets its own identity
            // once the user signs in again; its pending changes wait for that.
            Err(ClientError::Server { code, message, .. }) if code == ErrorCode::ProfileCopied.as_str() => {
                tracing::warn!("the server saw this profile's identity used by another computer; signing out");
                self.store.set_meta("client_id", &Uuid::now_v7().to_string())?;
                // The prefix belongs to the identity: this copy gets its own at sign-in.
                self.store.delete_meta(NUMBER_PREFIX)?;
                self.tokens.clear()?;
                Err(ClientError::NotSignedIn(message))
            }
            other => other,
        }
    }

    // ----- local data ---------------------------------------------------------------

    /// Parses `FIELD=VALUE` pairs into typed values for `entity`.
    pub fn parse_sets(&self, entity: &str, sets: &[(String, String)]) -> Result<Object> {
        let def = self.store.entity(entity)?;
        let mut obj = Object::new();
        for (field, text) in sets {
            let f = def.field(field).ok_or_else(|| unknown_field(&def, field))?;
            let v = parse_cli_value(f, text).map_err(|e| ClientError::BadInput(format!("{}.{e}.", def.name)))?;
            obj.insert(field.clone(), v);
        }
        Ok(obj)
    }

    pub fn list(&self, entity: &str, filters: &[(String, String)]) -> Result<Vec<Object>> {
        let def = self.store.entity(entity)?;
        let mut typed = Vec::new();
        for (field, text) in filters {
            if field == "id" {
                typed.push((field.clone(), Value::String(text.clone())));
                continue;
            }
            let f = def.field(field).ok_or_else(|| unknown_field(&def, field))?;
            let v = parse_cli_value(&fieldsync_protocol::FieldDef { required: false, ..*f }, text)
                .map_err(|e| ClientError::BadInput(format!("{}.{e}.", def.name)))?;
            typed.push((field.clone(), v));
        }
        self.store.list(entity, &typed)
    }

    pub fn get(&self, entity: &str, id: &str) -> Result<Object> {
        self.store
            .get(entity, id)?
            .ok_or_else(|| ClientError::NotFound(format!("There is no {entity} record {id} in this profile.")))
    }

    /// Creates a record with a new UUIDv7 id; returns it. Fields left out get the
    /// registry's defaults (current user, today, list price, ...).
    pub fn create(&mut self, entity: &str, mut fields: Object) -> Result<Object> {
        let def = self.store.entity(entity)?;
        if let Some(f) = fields.keys().find(|f| def.field(f).is_some_and(|d| d.strategy == FieldStrategy::ServerOnly)) {
            return Err(ClientError::BadInput(format!(
                "{}.{f} is set by the server and cannot be changed here.",
                def.name
            )));
        }
        self.fill_defaults(&def, &mut fields)?;
        if let Some(missing) = def.fields.iter().find(|f| f.required && fields.get(f.name).is_none_or(Value::is_null)) {
            return Err(ClientError::BadInput(format!("A new {} needs a value for '{}'.", def.noun(), missing.name)));
        }
        let id = Uuid::now_v7().to_string();
        self.store.write_local(entity, &id, Op::Put, fields, self.clock.now_ms())?;
        self.get(entity, &id)
    }

    /// Today's pricing day ([`fieldsync_protocol::time::pricing_day`]) by the server's
    /// clock: this computer's, corrected by the offset measured at the last sync, so a
    /// line priced here near midnight carries the price the server checks it against.
    pub fn pricing_day(&self) -> String {
        let offset: i64 = self.store.meta("clock_offset_ms").ok().flatten().and_then(|v| v.parse().ok()).unwrap_or(0);
        fieldsync_protocol::time::pricing_day(self.clock.now_ms() + offset)
    }

    fn fill_defaults(&self, def: &EntityDef, fields: &mut Object) -> Result<()> {
        for f in def.fields {
            let (Some(default), None) = (f.default, fields.get(f.name)) else { continue };
            let value = match default {
                FieldDefault::CurrentUser => self.store.meta("user_id")?.map(Value::String),
                FieldDefault::Today => Some(Value::String(self.pricing_day())),
                FieldDefault::Now => Some(Value::String(rfc3339_ms(self.clock.now_ms()))),
                FieldDefault::Text(t) => Some(Value::from(t)),
                FieldDefault::Sequence => self.next_number()?.map(Value::String),
                FieldDefault::ListPrice | FieldDefault::PromotionDiscount => self.line_price(def, fields)?.map(|p| {
                    if default == FieldDefault::ListPrice {
                        Value::from(p.unit_price_cents)
                    } else {
                        Value::from(p.discount_pct)
                    }
                }),
            };
            if let Some(v) = value {
                fields.insert(f.name.to_string(), v);
            }
        }
        Ok(())
    }

    /// Today's price for a line record (its order via `frozen_with`, and `product_id`).
    fn line_price(&self, def: &EntityDef, fields: &Object) -> Result<Option<fieldsync_sqlkit::pricing::Price>> {
        let order = def.frozen_with.and_then(|link| fields.get(link)).and_then(Value::as_str);
        let product = fields.get("product_id").and_then(Value::as_str);
        match (order, product) {
            (Some(order), Some(product)) => self.store.price(order, product, &self.pricing_day()),
            _ => Ok(None),
        }
    }

    /// Changes the given fields to the given values; only fields whose value differs are
    /// queued. For append-only text the value is the text to add; for counters, the new
    /// total (the server receives the difference, so concurrent changes add up).
    pub fn update(&mut self, entity: &str, id: &str, fields: Object) -> Result<usize> {
        let def = self.store.entity(entity)?;
        let current = self.get(entity, id)?;
        let mut wire = Object::new();
        for (name, wanted) in fields {
            let old = current.get(&name).cloned().unwrap_or(Value::Null);
            let strategy = def.field(&name).map_or(FieldStrategy::Lww, |f| f.strategy);
            // Appending text is always a change, even text equal to what is there.
            if old == wanted && strategy != FieldStrategy::Append {
                continue;
            }
            let value =
                wire_value(strategy, &format!("{}.{name}", def.name), &old, &wanted).map_err(ClientError::BadInput)?;
            wire.insert(name, value);
        }
        if wire.is_empty() {
            return Ok(0);
        }
        let n = wire.len();
        self.store.write_local(entity, id, Op::Put, wire, self.clock.now_ms())?;
        Ok(n)
    }

    pub fn delete(&mut self, entity: &str, id: &str) -> Result<()> {
        self.get(entity, id)?;
        self.store.write_local(entity, id, Op::Delete, Object::new(), self.clock.now_ms())?;
        Ok(())
    }

    pub fn status(&self) -> Result<Status> {
        let s = &self.store;
        Ok(Status {
            pending: s.count("outbox")?,
            needs_attention: s.count("attention")?,
            last_sync: s.meta("last_sync_ms")?.and_then(|v| v.parse().ok()).map(rfc3339_ms),
            clock_offset_ms: s.meta("clock_offset_ms")?.and_then(|v| v.parse().ok()).unwrap_or(0),
            server: s.meta("server")?,
            user: s.meta("user")?,
        })
    }

    /// The conflict log, in people's words.
    pub fn conflicts(&self) -> Result<Vec<ConflictEntry>> {
        self.conflicts_of(&[])
    }

    /// The conflict log entries whose columns hold the given values (e.g. one record's).
    pub(crate) fn conflicts_of(&self, filters: &[(String, Value)]) -> Result<Vec<ConflictEntry>> {
        let rows = self.store.list("sync_conflicts", filters)?;
        let text = |o: &Object, k: &str| o.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let value = |o: &Object, k: &str| {
            o.get(k).and_then(Value::as_str).and_then(|s| serde_json::from_str(s).ok()).unwrap_or(Value::Null)
        };
        let mut out: Vec<ConflictEntry> = rows
            .iter()
            .map(|o| {
                let (entity, id, overwritten) = (text(o, "entity"), text(o, "record_id"), value(o, "overwritten"));
                let (field, kept) = (text(o, "field"), value(o, "kept"));
                let record = self.store.get(&entity, &id).ok().flatten();
                let shown_record = record.as_ref().or(overwritten.as_object());
                let record_name = shown_record.and_then(record_name);
                let def = self.store.registry().get(&entity).copied();
                let what = match (&def, shown_record) {
                    (Some(def), Some(r)) => self.describe(def, r),
                    (Some(def), None) => def.a_noun(),
                    (None, _) => entity.replace('_', " "),
                };
                let f = def.as_ref().and_then(|d| d.field(&field)).copied();
                let (field_label, kept_text, overwritten_text) = if field == fieldsync_protocol::wire::DELETED_RECORD {
                    ("the whole record".to_string(), "deleted".to_string(), "its last values".to_string())
                } else {
                    (
                        f.map_or_else(|| field.replace('_', " "), |f| f.label()),
                        self.shown(f.as_ref(), &kept),
                        self.shown(f.as_ref(), &overwritten),
                    )
                };
                ConflictEntry {
                    conflict_id: text(o, "id"),
                    entity,
                    id,
                    field,
                    kept,
                    overwritten,
                    kept_by: text(o, "kept_by"),
                    overwritten_by: text(o, "overwritten_by"),
                    at: text(o, "at"),
                    record_name,
                    what,
                    field_label,
                    kept_text,
                    overwritten_text,
                }
            })
            .collect();
        out.sort_by(|a, b| a.at.cmp(&b.at).then(a.conflict_id.cmp(&b.conflict_id)));
        Ok(out)
    }

    /// The rejected changes, each described for people: what record, which fields to fix.
    pub fn attention(&self) -> Result<Vec<AttentionItem>> {
        let mut items = self.store.attention()?;
        for item in &mut items {
            let Some(def) = self.store.registry().get(&item.entity).copied() else {
                item.what = item.entity.replace('_', " ");
                continue;
            };
            let mut record = self.store.get(&item.entity, &item.id)?.unwrap_or_default();
            record.extend(item.fields.iter().map(|(k, v)| (k.clone(), v.clone())));
            item.what = self.describe(&def, &record);
            item.fixable = def
                .fields
                .iter()
                .filter(|f| item.fields.contains_key(f.name))
                // References are chosen on their screens, and times are set when things happen.
                .filter(|f| f.references().is_none() && f.strategy != FieldStrategy::ServerOnly)
                .filter(|f| f.ty != fieldsync_protocol::FieldType::Timestamp)
                .map(|f| {
                    use fieldsync_protocol::FieldType as T;
                    let (choices, input) = match f.ty {
                        T::Enum(values) => (values.iter().map(|v| v.to_string()).collect(), "text"),
                        T::Int | T::Real => (Vec::new(), "number"),
                        T::Date => (Vec::new(), "date"),
                        T::Bool => (Vec::new(), "yes_no"),
                        _ => (Vec::new(), "text"),
                    };
                    store::FieldLabel { field: f.name.to_string(), label: f.label(), choices, input: input.into() }
                })
                .collect();
        }
        Ok(items)
    }

    /// A record in people's words: its noun and name ("customer Olsen Bakery"), or for a
    /// record without a name, what it belongs to ("visit for Olsen Bakery", "order line
    /// for SKU-0042"), or, when that is not on this computer either, "a visit".
    fn describe(&self, def: &EntityDef, record: &Object) -> String {
        if let Some(name) = record_name(record) {
            return format!("{} {name}", def.noun());
        }
        let owner = def.fields.iter().find_map(|f| {
            let id = record.get(f.name)?.as_str()?;
            self.store.get(f.references()?, id).ok().flatten().as_ref().and_then(record_name)
        });
        match owner {
            Some(owner) => format!("{} for {owner}", def.noun()),
            None => def.a_noun(),
        }
    }

    /// A field's value in people's words: a referenced record by its name, money in
    /// units, "yes"/"no", "empty".
    fn shown(&self, field: Option<&fieldsync_protocol::FieldDef>, value: &Value) -> String {
        let target = field.and_then(|f| f.references());
        let cents = field.is_some_and(|f| f.name.ends_with("_cents"));
        match (target, value) {
            (_, Value::Null) => "empty".into(),
            (_, Value::Bool(b)) => if *b { "yes" } else { "no" }.into(),
            (Some(target), Value::String(id)) => {
                let named = self.store.get(target, id).ok().flatten().as_ref().and_then(record_name);
                named.unwrap_or_else(|| {
                    let noun = self.store.registry().get(target).map_or_else(|| target.to_string(), |d| d.noun());
                    format!("a {noun} not on this computer")
                })
            }
            (_, Value::Number(n)) if cents && n.is_i64() => {
                let c = n.as_i64().unwrap_or_default();
                format!("{}{}.{:02}", if c < 0 { "-" } else { "" }, (c / 100).abs(), (c % 100).abs())
            }
            (_, Value::String(s)) => s.clone(),
            (_, other) => other.to_string(),
        }
    }

    /// Queues a rejected change again, with `fixes` applied on top of its fields.
    pub fn resend(&mut self, mutation_id: &str, fixes: Object) -> Result<Uuid> {
        let item = self.store.attention_item(mutation_id)?;
        if item.op == Op::Delete && !fixes.is_empty() {
            return Err(ClientError::BadInput(
                "A rejected delete has no fields to fix; resend it as it is or discard it.".into(),
            ));
        }
        // The queued fields are wire values (appended text, deltas); fixes are values the
        // user wants, converted the way `update` converts them.
        let def = self.store.entity(&item.entity)?;
        let current = self.store.get(&item.entity, &item.id)?.unwrap_or_default();
        let mut fields = item.fields.clone();
        for (name, wanted) in fixes {
            let strategy = def.field(&name).map_or(FieldStrategy::Lww, |f| f.strategy);
            let old = current.get(&name).cloned().unwrap_or(Value::Null);
            let value =
                wire_value(strategy, &format!("{}.{name}", def.name), &old, &wanted).map_err(ClientError::BadInput)?;
            fields.insert(name, value);
        }
        // The resend and the end of the rejection commit together.
        self.store.write_local_resolving(
            &item.entity,
            &item.id,
            item.op,
            fields,
            self.clock.now_ms(),
            Some(&item.mutation_id),
        )
    }

    /// Forgets a rejected change for good.
    pub fn discard(&mut self, mutation_id: &str) -> Result<()> {
        let item = self.store.attention_item(mutation_id)?;
        self.store.remove_attention(&item.mutation_id)
    }
}

/// Store meta keys of the order-number sequence ([`FieldDefault::Sequence`]): the prefix
/// the server gave this client, and the last counter value used.
const NUMBER_PREFIX: &str = "number_prefix";
const NUMBER_COUNTER: &str = "number_counter";
/// Store meta key of the device report being gathered (JSON of a [`DeviceReport`]).
const DEVICE_REPORT: &str = "device_report";
/// Store meta key of when the last device report was sent (ms, this laptop's clock).
const DEVICE_REPORT_SENT: &str = "device_report_sent_ms";
/// While syncs go well, a device report goes at most this often (10 minutes); one with a
/// failed or offline sync in it goes after the next successful sync.
pub const DEVICE_REPORT_EVERY_MS: i64 = 10 * 60_000;

/// The fields that name a record for people, most telling first (the CLI's `list` shows
/// them first too).
pub const NAMING_FIELDS: &[&str] = &["name", "title", "code", "sku", "number"];

/// What names a record for people: its name, title, code, SKU or number, whichever it has.
fn record_name(record: &Object) -> Option<String> {
    NAMING_FIELDS
        .iter()
        .find_map(|f| record.get(*f).and_then(Value::as_str).filter(|v| !v.is_empty()))
        .map(String::from)
}

fn unknown_field(def: &fieldsync_protocol::EntityDef, field: &str) -> ClientError {
    let names: Vec<&str> = def.field_names().collect();
    ClientError::BadInput(format!("{} has no field '{field}'; its fields are: {}.", def.name, names.join(", ")))
}
