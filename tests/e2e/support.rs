//! Test harness: a real server on 127.0.0.1:0 with the demo data, and real client engines
//! (own profile directories) talking HTTP to it. Time is simulated and shared, so edit
//! order is deterministic without sleeping.
//!
//! The store is a real SQLite file, or, when `FIELDSYNC_TEST_POSTGRES` holds connection
//! settings for a PostgreSQL cluster (`scripts/with-postgres.sh` starts a throwaway one),
//! a fresh database in that cluster per test: the same suite runs on both backends.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use fieldsync_client::{Engine, EngineOptions, Object, SyncReport};
use fieldsync_protocol::time::Clock;
use fieldsync_protocol::Registry;
use fieldsync_server::db::Db;
use fieldsync_server::sql::Tx;
use fieldsync_server::{RunningServer, ServerConfig};
use serde_json::Value;
use tempfile::TempDir;

/// Simulated time: every reading is 1 ms after the previous one, and tests can jump ahead.
pub struct SimClock {
    now: AtomicI64,
}

impl SimClock {
    /// The current simulated time, without advancing it.
    pub fn now_ms_for_tests(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }

    pub fn new() -> Arc<SimClock> {
        Arc::new(SimClock { now: AtomicI64::new(fieldsync_protocol::time::SystemClock.now_ms()) })
    }

    pub fn advance(&self, ms: i64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for SimClock {
    fn now_ms(&self) -> i64 {
        self.now.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// A clock that is wrong by a fixed amount, like a laptop set to the wrong time.
pub struct SkewedClock {
    pub base: Arc<SimClock>,
    pub skew_ms: i64,
}

impl Clock for SkewedClock {
    fn now_ms(&self) -> i64 {
        self.base.now_ms() + self.skew_ms
    }
}

pub struct TestServer {
    /// `None` while stopped (see [`TestServer::stop_server`]).
    server: Option<RunningServer>,
    pub url: String,
    pub clock: Arc<SimClock>,
    pub config: ServerConfig,
    /// Tokens from [`TestServer::token`], one sign-in per user (sign-ins are rate-limited).
    tokens: std::sync::Mutex<std::collections::HashMap<String, String>>,
    /// One HTTP client (and its connection pool) for the raw requests of a test.
    http: reqwest::Client,
    _dir: TempDir,
}

impl TestServer {
    /// A server with the demo data on simulated time.
    pub async fn demo() -> TestServer {
        Self::demo_with(|_| {}).await
    }

    pub async fn demo_with(adjust: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = SimClock::new();
        let mut config = ServerConfig::new(dir.path());
        config.clock = clock.clone();
        config.database_url = fresh_postgres_database();
        adjust(&mut config);
        off_runtime(|| {
            let db = Db::open(&config.location(), &config.registry, &config.extra_migrations).expect("migrate");
            db.write_blocking(|tx| fieldsync_server::seed::seed_demo(tx, &config.registry)).expect("seed");
        });
        let server = fieldsync_server::start(config.clone(), "127.0.0.1:0".parse().unwrap()).await.expect("start");
        TestServer {
            url: server.url(),
            server: Some(server),
            clock,
            config,
            tokens: Default::default(),
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// Signs a new client in as `user` (password "demo") on the shared simulated clock.
    pub async fn client(&self, user: &str) -> TestClient {
        self.client_with(user, |_| {}).await
    }

    pub async fn client_with(&self, user: &str, adjust: impl FnOnce(&mut EngineOptions)) -> TestClient {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut opts =
            EngineOptions { clock: self.clock.clone(), registry: self.config.registry.clone(), ..Default::default() };
        opts.extra_migrations = self.config.extra_migrations.clone();
        adjust(&mut opts);
        let mut engine = Engine::open_with(dir.path(), opts).expect("open engine");
        engine.login(&self.url, user, "demo").await.expect("login");
        TestClient { engine, dir, user: user.to_string() }
    }

    /// The metrics listener's `/metrics` URL, when the config asked for one.
    pub fn metrics_url(&self) -> Option<String> {
        self.server.as_ref().and_then(RunningServer::metrics_url)
    }

    /// Long polls the server holds open right now.
    pub fn open_long_polls(&self) -> usize {
        self.server.as_ref().map_or(0, RunningServer::open_long_polls)
    }

    /// Integration imports running or queued right now.
    pub fn imports_in_use(&self) -> usize {
        self.server.as_ref().map_or(0, RunningServer::imports_in_use)
    }

    /// Stops the server (clients now fail to connect); returns its address.
    pub async fn stop_server(&mut self) -> std::net::SocketAddr {
        let server = self.server.take().expect("server running");
        let addr = server.addr;
        server.stop().await;
        addr
    }

    /// Starts the server again on the same address and data.
    pub async fn restart_server(&mut self, addr: std::net::SocketAddr) {
        self.server = Some(fieldsync_server::start(self.config.clone(), addr).await.expect("restart"));
    }

    /// Starts another server instance on the same database (as a second process behind a
    /// load balancer would be). Stop it with [`RunningServer::stop`].
    pub async fn another_instance(&self) -> RunningServer {
        fieldsync_server::start(self.config.clone(), "127.0.0.1:0".parse().unwrap()).await.expect("second instance")
    }

    /// Fails unless `client` holds exactly what a new profile of the same user downloads:
    /// the count of every entity type first (a readable message), then every record.
    pub async fn assert_matches_fresh_download(&self, client: &TestClient, what: &str) {
        let mut fresh = self.client(&client.user).await;
        fresh.sync().await;
        for def in self.config.registry.entities() {
            let (mine, theirs) = (client.list(def.name).len(), fresh.list(def.name).len());
            assert_eq!(mine, theirs, "{what}: {}'s {} differ from a fresh download", client.user, def.name);
        }
        assert!(
            snapshot(client, &self.config.registry) == snapshot(&fresh, &self.config.registry),
            "{what}: {}'s profile differs from a fresh download",
            client.user
        );
    }

    /// A backup of the server's database as it is now, as IT would take one while it
    /// runs: `fieldsync-server backup --to` for SQLite, a `pg_dump` archive for PostgreSQL.
    pub fn backup(&self) -> PathBuf {
        let file = self._dir.path().join(format!("backup-{}", uuid::Uuid::now_v7().simple()));
        match &self.config.database_url {
            None => {
                let (ok, out, err) = self.server_cli(&["backup", "--to", &file.display().to_string()]);
                assert!(ok, "fieldsync-server backup: {out}{err}");
            }
            Some(url) => {
                let out = std::process::Command::new("pg_dump")
                    .args(["--format=custom", "--dbname", url, "--file"])
                    .arg(&file)
                    .output()
                    .expect("run pg_dump");
                assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
        file
    }

    /// Stops the server, puts `backup` back as the operations guide says
    /// (`fieldsync-server restore --from` for SQLite; `pg_restore`, then
    /// `fieldsync-server restore --in-place` for PostgreSQL), and starts it again.
    pub async fn restore(&mut self, backup: &std::path::Path) -> String {
        let addr = self.stop_server().await;
        let out = match &self.config.database_url {
            None => self.server_cli(&["restore", "--from", &backup.display().to_string()]),
            Some(url) => {
                let out = std::process::Command::new("pg_restore")
                    .args(["--clean", "--if-exists", "--single-transaction", "--dbname", url])
                    .arg(backup)
                    .output()
                    .expect("run pg_restore");
                assert!(out.status.success(), "pg_restore: {}", String::from_utf8_lossy(&out.stderr));
                self.server_cli(&["restore", "--in-place"])
            }
        };
        assert!(out.0, "fieldsync-server restore: {} {}", out.1, out.2);
        self.tokens.lock().unwrap().clear();
        self.restart_server(addr).await;
        out.1
    }

    /// Runs `f` in a write transaction on the server's database, as an administrator or a
    /// back-office system writing beside the running server would.
    pub fn with_db<T: Send>(&self, f: impl FnOnce(&Tx<'_>) -> T + Send) -> T {
        off_runtime(|| {
            let db = Db::open(&self.config.location(), &self.config.registry, &self.config.extra_migrations)
                .expect("open db");
            db.write_blocking(|tx| Ok::<_, fieldsync_server::sql::DbError>(f(tx))).expect("write")
        })
    }

    /// Arguments that point the `fieldsync-server` CLI at this server's database.
    pub fn database_args(&self) -> Vec<String> {
        match &self.config.database_url {
            Some(url) => vec!["--database".into(), url.clone()],
            None => vec!["--data".into(), self.config.data_dir.display().to_string()],
        }
    }

    /// Runs the `fieldsync-server` CLI on this server's database: (success, stdout, stderr).
    pub fn server_cli(&self, args: &[&str]) -> (bool, String, String) {
        let out = std::process::Command::new(workspace_bin("fieldsync-server"))
            .args(self.database_args())
            .args(args)
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
    }

    /// Adds a user with password "demo".
    pub fn add_user(&self, name: &str, role: fieldsync_protocol::Role, territories: &[&str], manager: Option<&str>) {
        let territories: Vec<String> = territories.iter().map(|t| t.to_string()).collect();
        self.with_db(|tx| {
            fieldsync_server::admin::save_user(tx, &self.config.registry, name, role, &territories, manager, "demo")
                .expect("add user")
        });
    }

    /// A session token of `user` for direct HTTP calls (the same one for every call).
    pub async fn token(&self, user: &str) -> String {
        if let Some(t) = self.tokens.lock().unwrap().get(user) {
            return t.clone();
        }
        let resp: Value = reqwest::Client::new()
            .post(format!("{}/v1/login", self.url))
            .json(&serde_json::json!({"username": user, "password": "demo"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = resp["token"].as_str().expect("token").to_string();
        self.tokens.lock().unwrap().insert(user.to_string(), token.clone());
        token
    }

    /// Pushes raw mutations as `user`, as a modified client could, and returns the per-
    /// mutation results (panics when the push fails as a whole).
    pub async fn push_raw(&self, user: &str, mutations: Vec<Value>) -> Vec<Value> {
        let resp = self.push_response(user, mutations).await;
        let body: Value = resp.json().await.unwrap();
        body["results"].as_array().unwrap_or_else(|| panic!("the push failed as a whole: {body}")).clone()
    }

    /// One pull page of `user` from position `seq` of the server's current history, as JSON.
    pub async fn pull_raw(&self, user: &str, seq: i64, limit: u32) -> Value {
        let cursor = self.cursor_at(seq);
        self.get_json(user, &format!("/v1/pull?cursor={cursor}&limit={limit}")).await
    }

    /// The cursor token for position `seq` in the server's current history (as a client
    /// would hold after a page ending there).
    pub fn cursor_at(&self, seq: i64) -> String {
        self.with_db(|tx| fieldsync_server::history::History::read(tx).expect("history").token(seq))
    }

    /// `GET path` as `user`, the body as JSON (error bodies too).
    pub async fn get_json(&self, user: &str, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(self.token(user).await)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Pushes raw mutations as `user` and returns the HTTP response as it came.
    pub async fn push_response(&self, user: &str, mutations: Vec<Value>) -> reqwest::Response {
        let mut mutations = mutations;
        if mutations.iter().any(|m| m["base_cursor"] == SEEN_EVERYTHING) {
            let latest = self.cursor_at(i64::MAX / 2);
            for m in mutations.iter_mut().filter(|m| m["base_cursor"] == SEEN_EVERYTHING) {
                m["base_cursor"] = Value::from(latest.clone());
            }
        }
        let body = serde_json::json!({"client_id": uuid::Uuid::now_v7(), "client_time_ms": 1, "mutations": mutations});
        self.http
            .post(format!("{}/v1/push", self.url))
            .bearer_auth(self.token(user).await)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// The newest change seq, read over HTTP.
    pub async fn head(&self) -> i64 {
        let v: Value = reqwest::get(format!("{}/v1/health", self.url)).await.unwrap().json().await.unwrap();
        v["head"].as_i64().expect("head")
    }
}

pub struct TestClient {
    pub engine: Engine,
    pub dir: TempDir,
    pub user: String,
}

impl TestClient {
    pub async fn sync(&mut self) -> SyncReport {
        let user = self.user.clone();
        self.engine.sync(&mut |_| {}).await.unwrap_or_else(|e| panic!("{user}: sync failed: {e}"))
    }

    pub fn list(&self, entity: &str) -> Vec<Object> {
        self.engine.list(entity, &[]).expect("list")
    }

    /// Ids of the records of `entity` whose `field` holds the text `value`.
    pub fn ids_where(&self, entity: &str, field: &str, value: &str) -> Vec<String> {
        self.list(entity)
            .into_iter()
            .filter(|r| r[field] == value)
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn ids(&self, entity: &str) -> Vec<String> {
        self.list(entity).iter().map(|o| o["id"].as_str().unwrap().to_string()).collect()
    }

    pub fn get(&self, entity: &str, id: &str) -> Option<Object> {
        self.engine.get(entity, id).ok()
    }

    pub fn set(&mut self, entity: &str, id: &str, pairs: &[(&str, &str)]) {
        let sets: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let fields = self.engine.parse_sets(entity, &sets).expect("parse");
        self.engine.update(entity, id, fields).expect("update");
    }

    pub fn create(&mut self, entity: &str, pairs: &[(&str, &str)]) -> String {
        let sets: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let fields = self.engine.parse_sets(entity, &sets).expect("parse");
        self.engine.create(entity, fields).expect("create")["id"].as_str().unwrap().to_string()
    }

    pub fn my_id(&self) -> String {
        self.engine.store().meta("user_id").unwrap().expect("signed in")
    }

    /// Points the client at another server instance (same database, same session), as a
    /// load balancer switching instances between syncs would.
    pub fn use_instance(&self, url: &str) {
        self.engine.store().set_meta("server", url).expect("set server");
    }

    pub fn profile(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

/// Every record of every entity type, for comparing whole stores.
pub fn snapshot(client: &TestClient, registry: &Registry) -> Vec<(String, Vec<Object>)> {
    registry.entities().iter().map(|e| (e.name.to_string(), client.list(e.name))).collect()
}

/// The path of a binary built by this workspace (tests run from target/<profile>/deps).
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join(name);
    assert!(bin.exists(), "{} is not built; run `cargo build --workspace` first", bin.display());
    bin
}

/// Runs the `fieldsync` CLI on a profile: (success, stdout, stderr).
pub fn cli(profile: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(workspace_bin("fieldsync"))
        .arg("--profile")
        .arg(profile)
        .args(args)
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// The URL a `fieldsync-server serve` child announces on its first stdout line
/// (`listening on URL`), read once it is ready.
pub fn listening(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout piped")).read_line(&mut line).unwrap();
    line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("server said {line:?}")).to_string()
}

/// Runs the CLI with `--json` and parses its output.
pub fn cli_json(profile: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let (ok, out, err) = cli(profile, &[args, &["--json"]].concat());
    assert!(ok, "fieldsync {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("fieldsync {args:?}: {e}: {out}"))
}

/// With `FIELDSYNC_TEST_POSTGRES` set (connection settings without a database name), a new
/// empty database in that cluster for one test; `None` means use SQLite.
pub fn fresh_postgres_database() -> Option<String> {
    let base = std::env::var("FIELDSYNC_TEST_POSTGRES").ok().filter(|s| !s.trim().is_empty())?;
    let name = format!("fs_{}", uuid::Uuid::now_v7().simple());
    off_runtime(|| {
        let mut admin: postgres::Client = format!("{base} dbname=postgres")
            .parse::<postgres::Config>()
            .and_then(|c| c.connect(postgres::NoTls))
            .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL cluster ({base}): {e}"));
        admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create test database");
    });
    Some(format!("{base} dbname={name}"))
}

/// Runs blocking database work (the PostgreSQL client blocks on its own runtime) on a plain
/// thread, so async tests can call it.
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
}

/// The `base_cursor` of a raw mutation written after every edit the server has;
/// [`TestServer::push_response`] puts a cursor of the server's history in its place.
pub const SEEN_EVERYTHING: &str = "@seen-everything";

/// A raw mutation for [`TestServer::push_raw`], written after every edit the server has
/// (no field counts as concurrently edited). `op` is "put" or "delete".
pub fn mutation(entity: &str, id: &str, op: &str, fields: Value) -> Value {
    serde_json::json!({"mutation_id": uuid::Uuid::now_v7(), "entity": entity, "id": id, "op": op,
                       "fields": fields, "base_cursor": SEEN_EVERYTHING, "edited_at_ms": 1})
}

/// A raw `put` of `fields` on record `id`.
pub fn put(entity: &str, id: &str, fields: Value) -> Value {
    mutation(entity, id, "put", fields)
}
