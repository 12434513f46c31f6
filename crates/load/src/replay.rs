//! `--mode replay`: light clients that measure the server rather than the laptops.
//!
//! A light client speaks the sync protocol over its own reqwest connection and keeps
//! only what the protocol needs (session, cursor, client id and counters): no SQLite,
//! no engine, so one generator core drives thousands of them. What they push is real
//! app traffic: before the window, one real client engine per territory performs the
//! day mix's actions ([`crate::act`]: customer edits, visits, orders with lines and
//! submission) and every push it sends is recorded as a template. A light client replays
//! a template with fresh ids (records the template created, mutation ids), its own
//! client id, counter, order numbers, cursor and clock, so the server checks and stores
//! it as it would the app's.
//!
//! Between actions a light client waits like the app's background task: a long poll is
//! open while it thinks, and news wakes it to pull. After each action it pushes, pulls
//! until caught up and sends its device report when one is due, as `Engine::sync` does.
//!
//! The server runs as its own process (`fieldsync-server serve`, started here unless
//! `--server` is given), so its CPU seconds and resident memory are read from /proc
//! for the window alone. After the window, short calibration phases run one request
//! type at a time (no-op pulls, single-edit pushes, sign-ins) and divide the server's
//! CPU time by the requests served: CPU-ms per request type.

use std::collections::HashMap;
use std::io::BufRead;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fieldsync_client::transport::{BoxFuture, HttpReply, HttpRequest, HttpTransport, Transport};
use fieldsync_client::{Engine, EngineOptions};
use fieldsync_protocol::wire::{
    DeviceReport, LoginRequest, LoginResponse, Mutation, Op, PullResponse, PushRequest, PushResponse,
};
use fieldsync_protocol::{FieldDefault, Registry};
use fieldsync_server::db::{Db, Location};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{Cli, Recorded, Recorder, PASSWORD};

/// Templates recorded per territory with two territories; fewer (at least 6) with more.
const TEMPLATES: usize = 40;
/// How often a client whose syncs go well sends its device report.
const REPORT_EVERY: Duration = Duration::from_millis(fieldsync_client::DEVICE_REPORT_EVERY_MS as u64);

/// A long poll's wait, as the app's background task holds one (`LISTEN_MS`).
const LISTEN_MS: u64 = 25_000;
/// Clients working at once in a calibration phase.
const CALIBRATION_PARALLEL: usize = 16;
/// How often the server's memory is sampled during the window.
const RSS_EVERY: Duration = Duration::from_millis(100);

/// The server process whose CPU and memory are measured, and any helpers (PostgreSQL).
struct Measured {
    pids: Vec<u32>,
    /// Names of further processes to count (`--measure postgres`), found at each reading.
    names: Vec<String>,
    ticks_per_s: f64,
}

impl Measured {
    fn all_pids(&self) -> Vec<u32> {
        let mut pids = self.pids.clone();
        if !self.names.is_empty() {
            for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
                let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
                if self.names.iter().any(|n| n == comm.trim()) {
                    pids.push(pid);
                }
            }
        }
        pids
    }

    /// User plus system CPU seconds of the measured processes so far.
    fn cpu_seconds(&self) -> f64 {
        let ticks: u64 = self
            .all_pids()
            .iter()
            .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
            .filter_map(|stat| {
                // Fields after the command name (which may hold spaces), in parentheses.
                let rest = &stat[stat.rfind(')')? + 2..];
                let f: Vec<&str> = rest.split(' ').collect();
                Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
            })
            .sum();
        ticks as f64 / self.ticks_per_s
    }

    /// Resident memory of the server process (the first pid), in bytes.
    fn rss_bytes(&self) -> u64 {
        let Some(pid) = self.pids.first() else { return 0 };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }
}

fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// `fieldsync-server serve` as a child process, stopped when dropped.
struct ServerProcess {
    child: std::process::Child,
    url: String,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_server(cli: &Cli, data: &std::path::Path) -> anyhow::Result<ServerProcess> {
    let exe = std::env::current_exe()?;
    let server = exe.with_file_name("fieldsync-server");
    anyhow::ensure!(server.exists(), "{} is missing: build the workspace first", server.display());
    let mut cmd = match &cli.server_cpus {
        Some(cpus) => {
            let mut c = std::process::Command::new("taskset");
            c.args(["-c", cpus]).arg(&server);
            c
        }
        None => std::process::Command::new(&server),
    };
    cmd.arg("--data").arg(data);
    if let Some(url) = &cli.database {
        cmd.args(["--database", url]);
    }
    // Every light client signs in from 127.0.0.1: the per-address limit would refuse
    // all but the first 30 a minute.
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--login-per-address", "1000000"]);
    cmd.args(["--max-long-polls", &(cli.clients * 2 + 100).to_string()]);
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().map_err(|e| anyhow::anyhow!("cannot start {}: {e}", server.display()))?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let url = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(url) = line.strip_prefix("listening on ") {
                    break url.trim().to_string();
                }
            }
            _ => anyhow::bail!("the server stopped before it listened"),
        }
    };
    // Keep draining its output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok(ServerProcess { child, url })
}

/// A recorded push: the mutations of one action (empty: the action only synced).
type Template = Vec<Mutation>;

/// Captures the bodies of the pushes a real engine sends.
struct Capture {
    inner: HttpTransport,
    pushed: Arc<Mutex<Vec<Mutation>>>,
}

impl Transport for Capture {
    fn send(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpReply, String>> {
        Box::pin(async move {
            if req.url.contains("/v1/push") {
                if let Some(push) = req.body.as_deref().and_then(|b| serde_json::from_slice::<PushRequest>(b).ok()) {
                    self.pushed.lock().unwrap_or_else(|p| p.into_inner()).extend(push.mutations);
                }
            }
            self.inner.send(req).await
        })
    }
}

/// Records `count` actions of the day mix with a real engine signed in as `user`, and
/// more until one is a lone customer edit (the push calibration replays it).
async fn record(url: &str, user: &str, count: usize, seed: u64) -> anyhow::Result<Vec<Template>> {
    let dir = tempfile::tempdir()?;
    let pushed = Arc::new(Mutex::new(Vec::new()));
    let transport = Arc::new(Capture { inner: HttpTransport::new(), pushed: pushed.clone() });
    let mut engine = Engine::open_with(dir.path(), EngineOptions { transport, ..Default::default() })?;
    engine.login(url, user, PASSWORD).await?;
    engine.sync(&mut |_| {}).await?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut templates = Vec::new();
    while templates.len() < count || (lone_edit(&templates).is_none() && templates.len() < count * 10) {
        crate::act(&mut engine, &mut rng)?;
        engine.sync(&mut |_| {}).await?;
        templates.push(std::mem::take(&mut *pushed.lock().unwrap_or_else(|p| p.into_inner())));
    }
    Ok(templates)
}

/// A template that only edits one customer.
fn lone_edit(templates: &[Template]) -> Option<&Template> {
    templates.iter().find(|t| t.len() == 1 && t[0].entity == "customers")
}

/// One light client's identity and protocol state.
struct Light {
    http: reqwest::Client,
    url: String,
    user: String,
    /// The user's id, for fields that default to the current user (`rep_id`).
    user_id: String,
    /// Which recorded templates are this client's: its territory's index.
    territory: usize,
    token: String,
    client_id: Uuid,
    cursor: String,
    /// The last `client_seq` sent.
    seq: i64,
    prefix: Option<String>,
    numbers: u64,
    /// Successful syncs not yet reported, and when the next report may go: as
    /// `Engine::sync`, at once after the first sync, then once per `DEVICE_REPORT_EVERY_MS`.
    unreported: u32,
    report_due: Option<Instant>,
    rec: Arc<Recorder>,
}

impl Light {
    fn new(url: &str, user: String, territory: usize, rec: Arc<Recorder>) -> anyhow::Result<Light> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(2)
            .user_agent("fieldsync-load/replay")
            .build()?;
        Ok(Light {
            http,
            url: url.to_string(),
            user,
            user_id: String::new(),
            territory,
            token: String::new(),
            client_id: Uuid::now_v7(),
            cursor: String::new(),
            seq: 0,
            prefix: None,
            numbers: 0,
            unreported: 0,
            report_due: None,
            rec,
        })
    }

    /// Sends a request, timing it under `endpoint`; a failure is counted and returned.
    async fn call(&self, endpoint: &'static str, req: reqwest::RequestBuilder) -> anyhow::Result<Vec<u8>> {
        let started = Instant::now();
        let result = async {
            // Errors without the URL: they are grouped by kind in the report.
            let resp = req.send().await.map_err(reqwest::Error::without_url)?;
            let status = resp.status();
            let body = resp.bytes().await.map_err(reqwest::Error::without_url)?;
            if !status.is_success() {
                let code = serde_json::from_slice::<fieldsync_protocol::wire::ErrorBody>(&body)
                    .map(|b| b.error.code)
                    .unwrap_or_default();
                anyhow::bail!("HTTP {} {code}", status.as_u16());
            }
            anyhow::Ok(body.to_vec())
        }
        .await;
        let failure = result.as_ref().err().map(|e| format!("{endpoint}: {e}"));
        self.rec.note(endpoint, started.elapsed().as_secs_f64() * 1000.0, failure);
        result
    }

    async fn login(&mut self) -> anyhow::Result<()> {
        let body = LoginRequest {
            username: self.user.clone(),
            password: PASSWORD.into(),
            client_id: Some(self.client_id),
            device: Some("load-replay".into()),
            app_version: Some(env!("CARGO_PKG_VERSION").into()),
        };
        let reply = self.call("login", self.http.post(format!("{}/v1/login", self.url)).json(&body)).await?;
        let reply: LoginResponse = serde_json::from_slice(&reply)?;
        self.token = reply.token;
        self.user_id = reply.user.id.to_string();
        self.prefix = reply.number_prefix;
        Ok(())
    }

    /// Pulls pages until caught up; `wait_ms` > 0 makes the first a long poll of one row.
    async fn pull(&mut self, wait_ms: u64) -> anyhow::Result<usize> {
        let mut rows = 0;
        let mut limit = if wait_ms > 0 { 1 } else { fieldsync_protocol::wire::DEFAULT_PULL_LIMIT };
        let mut wait = wait_ms;
        loop {
            let url = format!("{}/v1/pull?cursor={}&limit={limit}&wait_ms={wait}", self.url, self.cursor);
            let endpoint = if wait > 0 { "pull (long poll)" } else { "pull" };
            let page = self.call(endpoint, self.http.get(url).bearer_auth(&self.token)).await?;
            let page: PullResponse = serde_json::from_slice(&page)?;
            rows += page.changes.iter().map(|c| c.rows.len() + c.deleted.len()).sum::<usize>();
            self.cursor = page.cursor;
            if wait > 0 {
                // A long poll only says whether there is news.
                return Ok(rows + page.notices.len());
            }
            if !page.has_more {
                return Ok(rows);
            }
            (limit, wait) = (fieldsync_protocol::wire::DEFAULT_PULL_LIMIT, 0);
        }
    }

    async fn push(&mut self, mutations: Vec<Mutation>) -> anyhow::Result<()> {
        let body = PushRequest {
            client_id: self.client_id,
            client_time_ms: now_ms(),
            cursor: Some(self.cursor.clone()),
            mutations,
        };
        let req = self.http.post(format!("{}/v1/push", self.url)).bearer_auth(&self.token).json(&body);
        let reply: PushResponse = serde_json::from_slice(&self.call("push", req).await?)?;
        for r in reply.results.iter().filter(|r| r.status == fieldsync_protocol::wire::MutationStatus::Rejected) {
            let code = r.code.clone().unwrap_or_default();
            *self.rec.rejected.lock().unwrap_or_else(|p| p.into_inner()).entry(code).or_default() += 1;
        }
        Ok(())
    }

    /// Counts a successful sync and sends the device report when one is due.
    async fn report(&mut self) -> anyhow::Result<()> {
        self.unreported += 1;
        if self.report_due.is_some_and(|due| Instant::now() < due) {
            return Ok(());
        }
        let report = DeviceReport {
            client_id: self.client_id,
            app_version: env!("CARGO_PKG_VERSION").into(),
            ok: self.unreported,
            ..Default::default()
        };
        let req = self.http.post(format!("{}/v1/device-report", self.url)).bearer_auth(&self.token).json(&report);
        self.call("device-report", req).await?;
        self.unreported = 0;
        self.report_due = Some(Instant::now() + REPORT_EVERY);
        Ok(())
    }

    /// What `Engine::sync` does: push (when there is something), pull, report when due.
    async fn sync(&mut self, mutations: Vec<Mutation>) -> anyhow::Result<()> {
        if !mutations.is_empty() {
            self.push(mutations).await?;
        }
        self.pull(0).await?;
        self.report().await
    }

    /// `template` as this client's own new work: fresh ids for the records it creates
    /// (and the references to them), fresh mutation ids, this client's counter, order
    /// numbers, cursor and clock.
    fn instantiate(&mut self, reg: &Registry, template: &Template) -> Vec<Mutation> {
        let mut fresh: HashMap<Uuid, Uuid> = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        for m in template {
            let Some(def) = reg.get(&m.entity) else { continue };
            // A record's first put carrying every required field is its creation.
            let creates = m.op == Op::Put
                && seen.insert(m.id)
                && def.fields.iter().filter(|f| f.required).all(|f| m.fields.contains_key(f.name));
            if creates {
                fresh.insert(m.id, Uuid::now_v7());
            }
        }
        let now = now_ms();
        let mut out = Vec::with_capacity(template.len());
        for m in template {
            let mut m = m.clone();
            m.mutation_id = Uuid::now_v7();
            m.id = fresh.get(&m.id).copied().unwrap_or(m.id);
            let def = reg.get(&m.entity);
            for (name, value) in m.fields.iter_mut() {
                let field = def.and_then(|d| d.field(name));
                if field.is_some_and(|f| f.default == Some(FieldDefault::CurrentUser)) {
                    *value = json!(self.user_id);
                } else if field.is_some_and(|f| f.default == Some(FieldDefault::Sequence)) {
                    if let Some(prefix) = &self.prefix {
                        self.numbers += 1;
                        *value = json!(fieldsync_protocol::wire::sequence_number(prefix, self.numbers));
                    }
                } else if let Some(id) = value.as_str().and_then(|s| Uuid::parse_str(s).ok()) {
                    if let Some(new) = fresh.get(&id) {
                        *value = json!(new.to_string());
                    }
                }
            }
            self.seq += 1;
            m.client_seq = Some(self.seq);
            m.base_cursor = self.cursor.clone();
            m.edited_at_ms = now;
            out.push(m);
        }
        out
    }
}

fn now_ms() -> i64 {
    fieldsync_protocol::time::Clock::now_ms(&fieldsync_protocol::time::SystemClock)
}

struct WarmSession {
    token: String,
    prefix: String,
    user_id: String,
}

/// Opens sessions for the warm clients straight in the database (as if they had signed
/// in yesterday) and gives each the head cursor (as if its store were synced).
fn warm_sessions(location: &Location, users: &[(String, Uuid)]) -> anyhow::Result<(Vec<WarmSession>, String)> {
    let db = Db::open(location, &fieldsync_protocol::Registry::standard(), &[])?;
    let now = now_ms();
    let sessions = db.write_blocking(|tx| -> anyhow::Result<Vec<WarmSession>> {
        let mut out = Vec::new();
        for (name, client_id) in users {
            let user = fieldsync_server::auth::credentials(tx, name)?
                .ok_or_else(|| anyhow::anyhow!("no load user {name}"))?
                .user;
            let device = fieldsync_server::auth::Device {
                client_id: Some(client_id.to_string()),
                host_name: Some("load-replay".into()),
                app_version: Some(env!("CARGO_PKG_VERSION").into()),
            };
            let (token, _) = fieldsync_server::auth::open_session(tx, &user, &device, now, 86_400_000)?;
            let prefix = fieldsync_server::auth::number_prefix(tx, &client_id.to_string())?;
            out.push(WarmSession { token, prefix, user_id: user.id.to_string() });
        }
        Ok(out)
    })?;
    let cursor = db.read_blocking(|tx| -> anyhow::Result<String> {
        let head = fieldsync_server::records::head(tx)?;
        Ok(fieldsync_server::history::History::read(tx)?.token(head))
    })?;
    Ok((sessions, cursor))
}

/// One light client's working day until `until`.
/// When and how one light client works.
struct Plan {
    /// Signs in and does its first sync inside the window.
    cold: bool,
    start_after: Duration,
    until: Instant,
    /// Mean seconds between actions.
    think: f64,
    /// Hold a long poll while thinking, as the app does.
    listen: bool,
    seed: u64,
}

async fn day(mut me: Light, plan: Plan, reg: Arc<Registry>, templates: Arc<Vec<Template>>) -> (Light, usize, usize) {
    let (mut syncs, mut failed) = (0, 0);
    let Plan { cold, start_after, until, think, listen, seed } = plan;
    tokio::time::sleep(start_after).await;
    if cold {
        syncs += 1;
        let first = async {
            me.login().await?;
            me.sync(Vec::new()).await
        };
        if first.await.is_err() {
            return (me, syncs, syncs);
        }
    }
    let mut rng = StdRng::seed_from_u64(seed);
    while Instant::now() < until {
        // Thinking, with a long poll open: news is pulled at once.
        let deadline = (Instant::now() + Duration::from_secs_f64(rng.gen_range(0.5 * think..1.5 * think))).min(until);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left < Duration::from_millis(500) || !listen {
                tokio::time::sleep(left).await;
                break;
            }
            let wait = (left.as_millis() as u64).min(LISTEN_MS);
            match me.pull(wait).await {
                Ok(0) => {}
                Ok(_) => {
                    syncs += 1;
                    failed += usize::from(me.sync(Vec::new()).await.is_err());
                }
                Err(_) => tokio::time::sleep(left.min(Duration::from_secs(2))).await,
            }
        }
        if Instant::now() >= until {
            break;
        }
        let template = &templates[rng.gen_range(0..templates.len())];
        let work = me.instantiate(&reg, template);
        syncs += 1;
        failed += usize::from(me.sync(work).await.is_err());
    }
    (me, syncs, failed)
}

/// Runs the calibration phase `what` for `length` and returns (requests, server
/// CPU-ms per request).
async fn calibrate(
    what: &'static str,
    clients: Vec<Light>,
    reg: &Arc<Registry>,
    edits: &Arc<Vec<Template>>,
    measured: &Measured,
    length: Duration,
) -> (Vec<Light>, usize, f64) {
    let cpu = measured.cpu_seconds();
    let until = Instant::now() + length;
    let mut tasks = Vec::new();
    let mut clients = clients.into_iter();
    for _ in 0..CALIBRATION_PARALLEL {
        let mut me = clients.next();
        let (reg, edits) = (reg.clone(), edits.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0usize;
            while let Some(light) = me.as_mut() {
                if Instant::now() >= until {
                    break;
                }
                let ok = match what {
                    "no-op pull" => light.pull(0).await.is_ok(),
                    "single-edit push" => {
                        let work = light.instantiate(&reg, &edits[light.territory]);
                        light.push(work).await.is_ok()
                    }
                    _ => light.login().await.is_ok(),
                };
                n += usize::from(ok);
            }
            (me, n)
        }));
    }
    let mut back: Vec<Light> = Vec::new();
    let mut served = 0;
    for t in tasks {
        if let Ok((me, n)) = t.await {
            back.extend(me);
            served += n;
        }
    }
    back.extend(clients);
    let ms = (measured.cpu_seconds() - cpu) * 1000.0;
    (back, served, if served == 0 { 0.0 } else { ms / served as f64 })
}

pub async fn run(cli: Cli) -> anyhow::Result<Value> {
    let data = tempfile::tempdir()?;
    let location = Location::new(data.path(), cli.database.as_deref());
    let (url, process, pids) = match (&cli.server, cli.server_pid) {
        (Some(url), pid) => (url.clone(), None, pid.into_iter().collect()),
        (None, _) => {
            let prepared = location.clone();
            let (clients, split) = (cli.clients, cli.reps_per_territory);
            tokio::task::spawn_blocking(move || crate::prepare(&prepared, clients, split)).await??;
            let process = spawn_server(&cli, data.path())?;
            let pid = process.child.id();
            (process.url.clone(), Some(process), vec![pid])
        }
    };
    let measured = Measured { pids, names: cli.measure.clone(), ticks_per_s: ticks_per_second() };
    let rec = Arc::new(Recorder::default());
    let reg = Arc::new(Registry::standard());

    // Templates per territory, recorded by its first rep.
    let split = cli.reps_per_territory;
    let territories = split.map_or(2, |reps| crate::territories(cli.clients, reps));
    let per_territory = (2 * TEMPLATES / territories).clamp(6, TEMPLATES);
    let mut by_territory = Vec::new();
    let mut edits = Vec::new();
    for t in 0..territories {
        let first = (0..cli.clients).find(|&i| crate::territory_of(i, split).0 == t);
        let Some(first) = first else { break };
        let templates = record(&url, &format!("load{first:04}"), per_territory, 100 + t as u64).await?;
        edits.push(lone_edit(&templates).cloned().ok_or_else(|| anyhow::anyhow!("no customer edit was recorded"))?);
        by_territory.push(Arc::new(templates));
    }
    let edits = Arc::new(edits);

    anyhow::ensure!((0.0..=1.0).contains(&cli.cold_share), "--cold-share must be between 0 and 1");
    let cold = (cli.clients as f64 * cli.cold_share).round() as usize;
    let mut lights = Vec::new();
    for i in 0..cli.clients {
        lights.push(Light::new(&url, format!("load{i:04}"), crate::territory_of(i, split).0, rec.clone())?);
    }
    let warm: Vec<(String, Uuid)> = lights[cold..].iter().map(|l| (l.user.clone(), l.client_id)).collect();
    if cli.server.is_none() && !warm.is_empty() {
        let location = location.clone();
        let (sessions, cursor) = tokio::task::spawn_blocking(move || warm_sessions(&location, &warm)).await??;
        let now = Instant::now();
        let warm_count = lights.len() - cold;
        for (i, (light, warm)) in lights[cold..].iter_mut().zip(sessions).enumerate() {
            (light.token, light.prefix, light.user_id) = (warm.token, Some(warm.prefix), warm.user_id);
            light.cursor = cursor.clone();
            // Running since before the window: their last reports are spread over an interval.
            light.report_due = Some(now + REPORT_EVERY.mul_f64(i as f64 / warm_count as f64));
        }
    } else {
        anyhow::ensure!(warm.is_empty(), "with --server, replay starts every client cold (--cold-share 1)");
    }

    rec.recording.store(true, Ordering::Relaxed);
    let cpu_before = measured.cpu_seconds();
    let started = Instant::now();
    let until = started + Duration::from_secs(cli.seconds);
    let peak = Arc::new(AtomicU64::new(measured.rss_bytes()));
    let sampler = {
        let (peak, pid) = (peak.clone(), measured.pids.first().copied());
        tokio::spawn(async move {
            let probe = Measured { pids: pid.into_iter().collect(), names: Vec::new(), ticks_per_s: 100.0 };
            loop {
                peak.fetch_max(probe.rss_bytes(), Ordering::Relaxed);
                tokio::time::sleep(RSS_EVERY).await;
            }
        })
    };
    let mut tasks = Vec::new();
    for (i, light) in lights.into_iter().enumerate() {
        let is_cold = i < cold;
        let spread = if is_cold { cli.ramp_up as f64 } else { cli.think };
        let offset = Duration::from_secs_f64(spread * i as f64 / cli.clients.max(1) as f64);
        let templates = by_territory[light.territory].clone();
        let listen = !cli.no_long_polls;
        let plan = Plan { cold: is_cold, start_after: offset, until, think: cli.think, listen, seed: i as u64 };
        tasks.push(tokio::spawn(day(light, plan, reg.clone(), templates)));
    }
    let (mut syncs, mut failed, mut lights) = (0, 0, Vec::new());
    for t in tasks {
        let (light, s, f) = t.await?;
        syncs += s;
        failed += f;
        lights.push(light);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_window = measured.cpu_seconds() - cpu_before;
    sampler.abort();
    let rss_end = measured.rss_bytes();
    rec.recording.store(false, Ordering::Relaxed);

    // Long polls wait by design; they are not requests the server spends time on.
    let Recorded { endpoints, requests, errors } = rec.take(|endpoint| !endpoint.contains("long poll"));

    // Calibration, one request type at a time, on the signed-in clients.
    let mut cpu_per_request = serde_json::Map::new();
    lights.retain(|l| !l.token.is_empty());
    for what in ["no-op pull", "single-edit push", "sign-in"] {
        let (back, served, ms) = calibrate(
            what,
            std::mem::take(&mut lights),
            &reg,
            &edits,
            &measured,
            Duration::from_secs_f64(cli.calibration),
        )
        .await;
        lights = back;
        cpu_per_request.insert(what.into(), json!({"requests": served, "cpu_ms": (ms * 1000.0).round() / 1000.0}));
    }
    drop(process);
    Ok(json!({
        "mode": "replay",
        "backend": if cli.database.is_some() { "postgres" } else { "sqlite" },
        "clients": cli.clients,
        "reps_per_territory": cli.reps_per_territory,
        "long_polls": !cli.no_long_polls,
        "cold_clients": cold,
        "seconds": (elapsed * 10.0).round() / 10.0,
        "requests": requests,
        "requests_per_s": (requests as f64 / elapsed).round(),
        "syncs": syncs,
        "sync_success_rate": if syncs == 0 { 0.0 } else { 1.0 - failed as f64 / syncs as f64 },
        "rejected_mutations": *rec.rejected.lock().unwrap_or_else(|p| p.into_inner()),
        "errors": errors.values().sum::<usize>(),
        "error_kinds": errors,
        "endpoints": endpoints,
        "server": {
            "cpu_seconds": (cpu_window * 100.0).round() / 100.0,
            "cpu_ms_per_request": if requests == 0 { 0.0 } else { (cpu_window * 1e6 / requests as f64).round() / 1000.0 },
            "peak_rss_mb": peak.load(Ordering::Relaxed) / (1024 * 1024),
            "rss_after_mb": rss_end / (1024 * 1024),
            "measured": if measured.names.is_empty() { json!("the server process") } else { json!(["the server process", measured.names]) },
        },
        "cpu_ms_by_request_type": cpu_per_request,
    }))
}
