//! Fieldsync sync server: login, push and pull over HTTP (axum), role-based visibility and
//! write rules compiled from the entity registry, per-field last-write-wins with a conflict
//! log, over embedded SQLite or PostgreSQL (see `db` and `sql`).
//!
//! **Invariant:** every push is one serialised write transaction that allocates its change
//! seqs inside it, so seqs commit in order and pulls never skip a change.

pub mod admin;
pub mod auth;
pub mod checks;
pub mod db;
pub mod devices;
pub mod error;
pub mod export;
pub mod history;
pub mod http;
pub mod import;
pub mod integration;
mod listen;
pub mod metrics;
pub mod openapi;
pub mod pull;
pub mod push;
pub mod reassign;
pub mod records;
pub mod rules;
pub mod seed;
pub mod serve;
pub mod settings;
pub mod sql;
pub mod throttle;
pub mod waits;
pub mod webhooks;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fieldsync_protocol::time::{Clock, SystemClock};
use fieldsync_protocol::Registry;
use fieldsync_sqlkit::Migration;

pub use error::AppError;

/// Everything a server instance needs; `ServerConfig::new(dir)` gives production defaults.
#[derive(Clone)]
pub struct ServerConfig {
    /// Where the SQLite database lives (unused with `database_url`).
    pub data_dir: PathBuf,
    /// A PostgreSQL URL; `None` uses SQLite in `data_dir`.
    pub database_url: Option<String>,
    pub registry: Arc<Registry>,
    /// Migrations for entity types added beyond the standard registry.
    pub extra_migrations: Vec<Migration>,
    pub token_ttl: Duration,
    pub before_commit: Option<push::BeforeCommit>,
    /// The server's clock: the time source for edit stamps, sessions and offsets.
    pub clock: Arc<dyn Clock>,
    /// Bearer token for the `/v1/admin/...` endpoints; `None` disables them.
    pub admin_token: Option<String>,
    /// What anonymous and signed-in clients may make the server spend.
    pub limits: Limits,
    /// Serve HTTPS with this certificate and key (`None`: plain HTTP, e.g. behind a proxy
    /// that terminates TLS).
    pub tls: Option<serve::TlsFiles>,
    /// Also serve `GET /metrics`, without the admin token, on this address (an internal
    /// network a Prometheus scrapes); on the main listener it needs the admin token.
    pub metrics_listen: Option<SocketAddr>,
}

/// Every bound on what clients may make the server spend, with production defaults.
/// docs/SECURITY.md lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    pub connections: serve::ConnectionLimits,
    pub login: throttle::LoginLimits,
    pub long_polls: waits::LongPollLimits,
    pub integration: integration::IntegrationLimits,
    pub webhooks: webhooks::WebhookLimits,
}

impl ServerConfig {
    pub fn location(&self) -> db::Location {
        db::Location::new(&self.data_dir, self.database_url.as_deref())
    }

    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ServerConfig {
            data_dir: data_dir.into(),
            database_url: None,
            registry: Arc::new(Registry::standard()),
            extra_migrations: Vec::new(),
            token_ttl: Duration::from_secs(30 * 24 * 3600),
            before_commit: None,
            clock: Arc::new(SystemClock),
            admin_token: None,
            limits: Limits::default(),
            tls: None,
            metrics_listen: None,
        }
    }
}

/// A running server; dropping the handle does not stop it, call [`RunningServer::stop`].
pub struct RunningServer {
    pub addr: SocketAddr,
    tls: bool,
    state: Arc<http::AppState>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The metrics listener's address and task, when `metrics_listen` is set.
    metrics: Option<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)>,
    watcher: tokio::task::JoinHandle<()>,
    waker: tokio::task::JoinHandle<()>,
    deliveries: tokio::task::JoinHandle<()>,
    /// The SQLite data directory, whose history mark is written a last time on stop.
    mark_dir: Option<PathBuf>,
}

impl RunningServer {
    /// `http://ADDR/metrics` of the metrics listener, when there is one.
    pub fn metrics_url(&self) -> Option<String> {
        self.metrics.as_ref().map(|(addr, _)| format!("http://{addr}/metrics"))
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Long polls waiting right now (tests and benchmarks wait for them to be in place).
    pub fn open_long_polls(&self) -> usize {
        self.state.waits.len()
    }

    /// Integration imports running or queued right now.
    pub fn imports_in_use(&self) -> usize {
        self.state.imports.in_use()
    }

    /// Stops serving and closes the database: when it returns, no connection of this
    /// server is open, so the database files may be replaced (a restore).
    pub async fn stop(self) {
        // Waiting pulls answer, the accept loop ends, requests in flight finish.
        self.state.stopping.send_replace(true);
        for task in [&self.watcher, &self.waker, &self.deliveries] {
            task.abort();
        }
        let _ = self.task.await;
        if let Some((_, task)) = self.metrics {
            let _ = task.await;
        }
        for task in [self.watcher, self.waker, self.deliveries] {
            let _ = task.await;
        }
        if let Some(dir) = &self.mark_dir {
            update_mark(&self.state, dir, None).await;
        }
        // Work a cancelled task started on a blocking thread still holds the database until
        // it ends; its last holder closes the connections (and checkpoints SQLite's WAL).
        let db = self.state.db.clone();
        drop(self.state);
        let deadline = tokio::time::Instant::now() + STOP_WAIT;
        while db.is_shared() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if db.is_shared() {
            tracing::warn!("the database is still in use {} s after stopping", STOP_WAIT.as_secs());
        }
    }
}

/// How long `stop` waits for database work already started to end.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// Writes the history mark beside an SQLite database when it moved on since `last`
/// (see [`history::Mark`]); returns the mark now on file.
async fn update_mark(
    state: &http::AppState,
    data_dir: &std::path::Path,
    last: Option<history::Mark>,
) -> Option<history::Mark> {
    let now = match state.db.read_single(|tx| Ok::<_, AppError>(history::Mark::of(tx)?)).await {
        Ok(now) => now,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the history mark");
            return last;
        }
    };
    if last.as_ref() == Some(&now) {
        return last;
    }
    match now.save(data_dir) {
        Ok(()) => Some(now),
        Err(e) => {
            tracing::warn!(error = %e, path = %history::Mark::path(data_dir).display(), "cannot write the history mark");
            last
        }
    }
}

/// The state every request handler shares, over an opened store. [`start`] serves it with
/// the background tasks (long-poll waker, webhook deliveries, change listener);
/// `http::router(state, &config.limits)` alone answers requests in process (the fault
/// simulator, crates/sim).
pub fn app_state(config: &ServerConfig, db: db::Db) -> Arc<http::AppState> {
    let head = db.head().clone();
    Arc::new(http::AppState {
        metrics: metrics::Metrics::new(db.waits()),
        db,
        registry: config.registry.clone(),
        token_ttl: config.token_ttl,
        before_commit: config.before_commit.clone(),
        clock: config.clock.clone(),
        admin_token: config.admin_token.clone(),
        login: throttle::LoginThrottle::new(&config.limits.login),
        waits: waits::Waits::new(config.limits.long_polls.clone()),
        head,
        webhooks_due: Arc::new(tokio::sync::Notify::new()),
        stopping: tokio::sync::watch::channel(false).0,
        imports: Arc::new(integration::ImportGate::new(config.limits.integration.clone())),
    })
}

/// Where an SQLite server notes the port it listens on (see [`bind`]).
const LAST_PORT: &str = "last-port";

/// Binds `listen`. Port 0 asks for any free port; a server started again on the same
/// SQLite data then takes the port it had last time if it is free, so that the laptops
/// signed in to it (which keep its address) reach it again.
async fn bind(config: &ServerConfig, listen: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    let cannot = |e: std::io::Error| anyhow::anyhow!("cannot listen on {listen}: {e}");
    let remembered = config.database_url.is_none() && listen.port() == 0;
    let last_port = config.data_dir.join(LAST_PORT);
    let previous = remembered
        .then(|| std::fs::read_to_string(&last_port).ok()?.trim().parse::<u16>().ok())
        .flatten()
        .filter(|p| *p != 0);
    let listener = match previous {
        Some(port) => match tokio::net::TcpListener::bind(SocketAddr::new(listen.ip(), port)).await {
            Ok(l) => l,
            Err(_) => tokio::net::TcpListener::bind(listen).await.map_err(cannot)?,
        },
        None => tokio::net::TcpListener::bind(listen).await.map_err(cannot)?,
    };
    if remembered {
        if let Err(e) = std::fs::write(&last_port, listener.local_addr()?.port().to_string()) {
            tracing::warn!(error = %e, path = %last_port.display(), "cannot note the port");
        }
    }
    Ok(listener)
}

/// Opens the store (migrating it) and serves on `listen` until stopped.
pub async fn start(config: ServerConfig, listen: SocketAddr) -> anyhow::Result<RunningServer> {
    // A bad certificate stops start-up before anything else happens.
    let tls = config.tls.as_ref().map(serve::load_tls).transpose()?;
    // Opening may connect to PostgreSQL with its blocking client: not on an async thread.
    let (location, registry, extra) = (config.location(), config.registry.clone(), config.extra_migrations.clone());
    let db = tokio::task::spawn_blocking(move || db::Db::open(&location, &registry, &extra)).await??;
    let state = app_state(&config, db);
    state.refresh_head().await?;
    let waker = tokio::spawn(waits::run_waker(state.clone()));
    let deliveries = tokio::spawn(webhooks::run(state.clone(), config.limits.webhooks.clone()));
    let watcher = match state.db.postgres_config() {
        // Every write on any instance sharing the database NOTIFYs on commit.
        Some(pg) => {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let stop = state.stopping.subscribe();
            std::thread::Builder::new()
                .name("fieldsync-listen".into())
                .spawn(move || listen::run(pg, tx, stop))
                .map_err(|e| anyhow::anyhow!("cannot start the change listener: {e}"))?;
            tokio::spawn(listen::wake_on_notify(state.clone(), rx))
        }
        // Writers outside this process (admin commands on the same SQLite file) do not
        // wake long polls directly; a cheap once-a-second look at the head catches them.
        // The same look keeps the history mark beside the database up to date.
        None => {
            let state = state.clone();
            let data_dir = config.data_dir.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
                let mut marked = None;
                loop {
                    tick.tick().await;
                    if let Err(e) = state.refresh_head().await {
                        tracing::warn!(error = %e, "cannot read the change head");
                    }
                    marked = update_mark(&state, &data_dir, marked).await;
                }
            })
        }
    };
    let listener = bind(&config, listen).await?;
    let addr = listener.local_addr()?;
    let app = http::router(state.clone(), &config.limits);
    let serving_tls = tls.is_some();
    let limits = config.limits.connections.clone();
    let task = tokio::spawn(serve::serve(listener, app, limits.clone(), tls, state.stopping.subscribe()));
    let metrics = match config.metrics_listen {
        None => None,
        Some(at) => {
            let listener = tokio::net::TcpListener::bind(at)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {at}: {e}"))?;
            let addr = listener.local_addr()?;
            let app = http::metrics_router(state.clone());
            Some((addr, tokio::spawn(serve::serve(listener, app, limits, None, state.stopping.subscribe()))))
        }
    };
    let mark_dir = state.db.postgres_config().is_none().then(|| config.data_dir.clone());
    Ok(RunningServer { addr, tls: serving_tls, state, task, metrics, watcher, waker, deliveries, mark_dir })
}
