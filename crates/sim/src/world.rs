//! The simulated world: one server (the real request handlers over a real SQLite file,
//! called in process) and client engines (real profiles), joined by [`SimTransport`],
//! which injects the faults a sync step asks for. Time is simulated: the server's clock
//! and each client's (skewed) clock.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use fieldsync_client::transport::{BoxFuture, HttpReply, HttpRequest, Method, Transport};
use fieldsync_client::{Engine, EngineOptions, FileTokenStore, TokenStore};
use fieldsync_protocol::time::Clock;
use fieldsync_protocol::{Registry, Role};
use fieldsync_server::db::Db;
use fieldsync_server::sql::Tx;
use fieldsync_server::{args, records, ServerConfig};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::plan::Fault;

/// Where the clients think the server is (requests never leave the process).
pub const SERVER_URL: &str = "http://fieldsync.sim";

/// Simulated server time: starts at a fixed instant, moves 1 ms per reading, and jumps
/// when the plan lets time pass.
pub struct SimClock {
    now: AtomicI64,
}

impl SimClock {
    fn new() -> Arc<SimClock> {
        // 2026-11-30 08:00 UTC.
        Arc::new(SimClock { now: AtomicI64::new(1_796_025_600_000) })
    }

    pub fn advance(&self, ms: i64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }

    /// The time now, without moving it.
    pub fn peek(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

impl Clock for SimClock {
    fn now_ms(&self) -> i64 {
        self.now.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// A client's clock: server time plus an offset (skew, backward jumps).
pub struct ClientClock {
    base: Arc<SimClock>,
    pub offset: AtomicI64,
}

impl Clock for ClientClock {
    fn now_ms(&self) -> i64 {
        self.base.now_ms() + self.offset.load(Ordering::SeqCst)
    }
}

/// The in-process server. `restart` drops every handle on the database and opens it
/// again, as a new process would.
pub struct Server {
    pub dir: PathBuf,
    config: ServerConfig,
    /// While running: the request handlers and their database handle.
    running: Mutex<Option<(axum::Router, Db)>>,
    /// Set for one push: it panics before its commit (a crash mid-transaction).
    crash_next_push: Arc<AtomicBool>,
}

/// The message of the simulated crash (the binary keeps it out of its output).
pub const CRASH: &str = "fieldsync-sim: simulated server crash";

impl Server {
    fn open(dir: &Path, clock: Arc<SimClock>) -> anyhow::Result<Server> {
        let mut config = ServerConfig::new(dir);
        config.clock = clock;
        let crash = Arc::new(AtomicBool::new(false));
        let flag = crash.clone();
        config.before_commit = Some(Arc::new(move || {
            if flag.swap(false, Ordering::SeqCst) {
                std::panic::panic_any(CRASH);
            }
        }));
        let server = Server { dir: dir.to_path_buf(), config, running: Mutex::new(None), crash_next_push: crash };
        server.start()?;
        Ok(server)
    }

    fn start(&self) -> anyhow::Result<()> {
        let db = Db::open(&self.config.location(), &self.config.registry, &[])?;
        let state = fieldsync_server::app_state(&self.config, db.clone());
        *self.running.lock().expect("running") = Some((fieldsync_server::http::router(state, &self.config.limits), db));
        Ok(())
    }

    pub fn stop(&self) {
        self.running.lock().expect("running").take();
    }

    /// The running server's database handle (admin work shares its writer, as the
    /// serialised writes of another process on the same SQLite file would).
    fn db(&self) -> anyhow::Result<Db> {
        let running = self.running.lock().expect("running");
        Ok(running.as_ref().ok_or_else(|| anyhow::anyhow!("the server is down"))?.1.clone())
    }

    pub fn restart(&self) -> anyhow::Result<()> {
        self.stop();
        self.start()
    }

    pub fn registry(&self) -> &Registry {
        &self.config.registry
    }

    /// Runs `f` in a write transaction, as an administrator beside the server would.
    pub fn admin<T>(&self, f: impl FnOnce(&Tx<'_>) -> anyhow::Result<T>) -> anyhow::Result<T> {
        self.db()?.write_blocking(f)
    }

    /// Reads from the server's database in one snapshot.
    pub fn read<T>(&self, f: impl FnOnce(&Tx<'_>) -> anyhow::Result<T>) -> anyhow::Result<T> {
        self.db()?.read_blocking(f)
    }

    async fn handle(&self, req: &HttpRequest) -> Result<HttpReply, String> {
        let router = self.running.lock().expect("running").as_ref().map(|r| r.0.clone()).ok_or("the server is down")?;
        let path = req.url.strip_prefix(SERVER_URL).ok_or("a request for another server")?;
        let mut builder = axum::http::Request::builder()
            .method(if req.method == Method::Post { "POST" } else { "GET" })
            .uri(path)
            .header("content-type", "application/json");
        if let Some(token) = &req.token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let body = req.body.clone().map(axum::body::Body::from).unwrap_or_else(axum::body::Body::empty);
        let request = builder.body(body).map_err(|e| e.to_string())?;
        let response = router.oneshot(request).await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.map_err(|e| e.to_string())?;
        Ok(HttpReply { status, body: body.to_vec(), location: None })
    }
}

/// Faults injected, by kind (the summary's `faults_injected`).
pub type FaultCounts = BTreeMap<&'static str, u64>;

/// One client's way to the server. Before a sync the world arms at most one fault for
/// the n-th request of it; requests held back for later wait in the world's queue.
pub struct SimTransport {
    server: Arc<Server>,
    armed: Mutex<Option<(u8, Fault)>>,
    sent: AtomicI64,
    held: Arc<Mutex<Vec<HttpRequest>>>,
    faults: Arc<Mutex<FaultCounts>>,
    /// Set when a [`Fault::ClientCrash`] fired: the client must start again.
    client_crashed: AtomicBool,
}

impl SimTransport {
    fn arm(&self, fault: Option<(u8, Fault)>) {
        *self.armed.lock().expect("armed") = fault;
        self.sent.store(0, Ordering::SeqCst);
    }

    async fn deliver(&self, req: HttpRequest) -> Result<HttpReply, String> {
        let n = self.sent.fetch_add(1, Ordering::SeqCst);
        let fault = {
            let mut armed = self.armed.lock().expect("armed");
            match *armed {
                Some((at, fault)) if i64::from(at) == n => armed.take().map(|_| fault),
                _ => None,
            }
        };
        let Some(fault) = fault else { return self.server.handle(&req).await };
        *self.faults.lock().expect("faults").entry(fault.name()).or_default() += 1;
        match fault {
            Fault::LoseRequest => Err("connection reset (lost request)".into()),
            Fault::LoseResponse => {
                self.server.handle(&req).await?;
                Err("connection reset (lost response)".into())
            }
            Fault::Duplicate => {
                self.server.handle(&req).await?;
                self.server.handle(&req).await
            }
            Fault::Delay => {
                self.held.lock().expect("held").push(req.clone());
                self.server.handle(&req).await
            }
            Fault::ClientCrash => {
                self.server.handle(&req).await?;
                self.client_crashed.store(true, Ordering::SeqCst);
                Err("the client died (no answer recorded)".into())
            }
            Fault::ServerCrash => {
                let push = req.method == Method::Post;
                self.server.crash_next_push.store(push, Ordering::SeqCst);
                let _ = self.server.handle(&req).await;
                self.server.crash_next_push.store(false, Ordering::SeqCst);
                self.server.restart().map_err(|e| format!("restart: {e}"))?;
                Err("connection reset (server crashed)".into())
            }
        }
    }
}

impl Transport for SimTransport {
    fn send(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpReply, String>> {
        Box::pin(self.deliver(req))
    }
}

pub struct Client {
    pub user: String,
    /// The role the plan gave the user last (the server's word is what counts).
    pub role: Role,
    pub dir: tempfile::TempDir,
    pub engine: Option<Engine>,
    pub clock: Arc<ClientClock>,
    transport: Arc<SimTransport>,
}

impl Client {
    pub fn engine(&mut self) -> &mut Engine {
        self.engine.as_mut().expect("engine open")
    }

    fn open(&mut self, registry: &Arc<Registry>) -> anyhow::Result<()> {
        let opts = EngineOptions {
            registry: registry.clone(),
            transport: self.transport.clone(),
            clock: self.clock.clone(),
            // The server address is a name in this process; nothing travels unencrypted.
            allow_insecure_http: true,
            ..EngineOptions::default()
        };
        self.engine = Some(Engine::open_with(self.dir.path(), opts)?);
        Ok(())
    }

    /// The process dies and starts again: everything not committed to the profile is gone.
    pub fn crash(&mut self, registry: &Arc<Registry>) -> anyhow::Result<()> {
        self.engine = None;
        self.open(registry)
    }

    pub fn arm(&self, fault: Option<(u8, Fault)>) {
        self.transport.arm(fault);
    }

    /// Whether a fault killed the client during its last sync (and clears that).
    pub fn take_crash(&self) -> bool {
        self.transport.client_crashed.swap(false, Ordering::SeqCst)
    }

    /// Delivers a request held back earlier, now; returns the status it got.
    pub async fn deliver_late(&self, req: HttpRequest) -> Result<u16, String> {
        self.transport.server.handle(&req).await.map(|r| r.status)
    }
}

pub struct World {
    pub clock: Arc<SimClock>,
    pub server: Arc<Server>,
    pub clients: Vec<Client>,
    pub registry: Arc<Registry>,
    pub backups: Vec<PathBuf>,
    pub held: Arc<Mutex<Vec<HttpRequest>>>,
    pub faults: Arc<Mutex<FaultCounts>>,
    /// Holds the server's files and the backups.
    pub dir: tempfile::TempDir,
}

/// Customers per territory in the simulated company: few, so that edits collide.
pub const CUSTOMERS: usize = 6;
const PRODUCTS: usize = 4;
/// Every user's password hash: the simulation opens sessions directly, nobody signs in.
const NO_PASSWORD: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2ltdWxhdGlvbg$bm90IGEgcmVhbCBoYXNoIGF0IGFsbCEhIQ";

impl World {
    /// A small company (two territories, a few customers, products and stock) and one
    /// signed-in profile per client, of the plan's roles.
    pub fn build(roles: &[Role]) -> anyhow::Result<World> {
        let dir = tempfile::tempdir()?;
        let clock = SimClock::new();
        let server = Arc::new(Server::open(&dir.path().join("server"), clock.clone())?);
        let registry = server.config.registry.clone();
        let now = clock.now_ms();
        server.admin(|tx| populate(tx, &registry, roles, now))?;
        let mut world = World {
            clock,
            server,
            clients: Vec::new(),
            registry,
            backups: Vec::new(),
            held: Arc::default(),
            faults: Arc::default(),
            dir,
        };
        for (i, role) in roles.iter().enumerate() {
            let client = world.signed_in(&user_name(i), *role, world.held.clone(), world.faults.clone())?;
            world.clients.push(client);
        }
        Ok(world)
    }

    /// A profile of `user` that has never synced (for the fresh-download comparison); its
    /// requests are never faulted.
    pub fn fresh_client(&self, user: &str) -> anyhow::Result<Client> {
        self.signed_in(user, Role::Rep, Arc::default(), Arc::default())
    }

    /// A new profile signed in as `user`: a session opened on the server, and in the profile
    /// what a sign-in would store.
    fn signed_in(
        &self,
        user: &str,
        role: Role,
        held: Arc<Mutex<Vec<HttpRequest>>>,
        faults: Arc<Mutex<FaultCounts>>,
    ) -> anyhow::Result<Client> {
        let now = self.clock.now_ms();
        let token = self.server.admin(|tx| {
            let who =
                fieldsync_server::auth::credentials(tx, user)?.ok_or_else(|| anyhow::anyhow!("no user {user}"))?.user;
            Ok(fieldsync_server::auth::open_session(tx, &who, &Default::default(), now, 365 * 86_400_000)?.0)
        })?;
        let transport = Arc::new(SimTransport {
            server: self.server.clone(),
            armed: Mutex::new(None),
            sent: AtomicI64::new(0),
            held,
            faults,
            client_crashed: AtomicBool::new(false),
        });
        let mut client = Client {
            user: user.to_string(),
            role,
            dir: tempfile::tempdir()?,
            engine: None,
            clock: Arc::new(ClientClock { base: self.clock.clone(), offset: AtomicI64::new(0) }),
            transport,
        };
        FileTokenStore::at(client.dir.path()).save(&token)?;
        client.open(&self.registry)?;
        adopt_session(client.engine(), user, &self.server)?;
        Ok(client)
    }

    /// A copy of the server's database as it is now.
    pub fn backup(&mut self) -> anyhow::Result<()> {
        let file = self.dir.path().join(format!("backup-{}.db", self.backups.len()));
        let db = rusqlite::Connection::open(fieldsync_server::db::db_path(&self.server.dir))?;
        db.execute("VACUUM INTO ?1", [file.to_string_lossy()])?;
        self.backups.push(file);
        Ok(())
    }

    /// Stops the server, puts backup `pick` back with `fieldsync-server restore`'s code, and
    /// starts the server again.
    pub fn restore(&mut self, pick: u32) -> anyhow::Result<Option<usize>> {
        if self.backups.is_empty() {
            return Ok(None); // a shrunk plan may have lost its backups
        }
        let i = pick as usize % self.backups.len();
        self.server.stop();
        fieldsync_server::history::restore_sqlite(&self.server.dir, &self.backups[i])?;
        self.server.start()?;
        Ok(Some(i))
    }

    pub fn faults(&self) -> FaultCounts {
        self.faults.lock().expect("faults").clone()
    }
}

pub fn user_name(client: usize) -> String {
    format!("user{client}")
}

/// What a sign-in would have stored in the profile.
fn adopt_session(engine: &mut Engine, user: &str, server: &Server) -> anyhow::Result<()> {
    let (id, role): (String, String) = server.read(|tx| {
        tx.query_opt("SELECT id, role FROM users WHERE username = ?1", args![user], |r| Ok((r.get(0)?, r.get(1)?)))?
            .ok_or_else(|| anyhow::anyhow!("no user {user}"))
    })?;
    let store = engine.store();
    store.set_meta("server", SERVER_URL)?;
    store.set_meta("user", user)?;
    store.set_meta("user_id", &id)?;
    store.set_meta("role", &role)?;
    Ok(())
}

/// Ids of the simulated company: fixed, so every seed starts from the same records.
fn id(n: u64) -> String {
    uuid::Builder::from_unix_timestamp_millis(1_764_000_000_000 + n, &[7; 10]).into_uuid().to_string()
}

fn populate(tx: &Tx<'_>, reg: &Registry, roles: &[Role], now_ms: i64) -> anyhow::Result<()> {
    let mut n = 0;
    let mut put = |entity: &str, obj: Value| -> anyhow::Result<String> {
        let def = reg.get(entity).ok_or_else(|| anyhow::anyhow!("no entity {entity}"))?;
        n += 1;
        let id = id(n);
        let obj = obj.as_object().ok_or_else(|| anyhow::anyhow!("a {entity} record must be a JSON object"))?;
        records::upsert_object(tx, def, &id, obj)?;
        Ok(id)
    };
    let territories = [
        put("territories", json!({"code": "NORTH", "name": "North"}))?,
        put("territories", json!({"code": "SOUTH", "name": "South"}))?,
    ];
    let category = put("product_categories", json!({"code": "ALL", "name": "Everything"}))?;
    for t in &territories {
        tx.execute("INSERT INTO territory_categories VALUES (?1, ?2)", args![t.as_str(), category.as_str()])?;
    }
    let list = put("price_lists", json!({"code": "STD", "name": "Standard", "currency": "EUR"}))?;
    let warehouse = put("warehouses", json!({"code": "WH", "name": "Depot", "city": "Oslo"}))?;
    for p in 0..PRODUCTS {
        let product = put(
            "products",
            json!({"sku": format!("SKU-{p}"), "name": format!("Product {p}"), "category_id": category, "active": true}),
        )?;
        put("price_list_items", json!({"price_list_id": list, "product_id": product, "unit_price_cents": 100 + p}))?;
        put(
            "inventory_levels",
            json!({"warehouse_id": warehouse, "product_id": product, "on_hand": 1_000_000, "reserved": 0}),
        )?;
    }
    for (t, territory) in territories.iter().enumerate() {
        for c in 0..CUSTOMERS {
            let code = format!("C{t}-{c}");
            let customer = put(
                "customers",
                json!({"code": code, "name": format!("Customer {code}"), "territory_id": territory, "price_list_id": list,
                       "phone": "+47 0", "credit_limit_cents": 1_000_000_000, "samples_given": 0}),
            )?;
            put("contacts", json!({"customer_id": customer, "name": format!("Contact {code}")}))?;
            put(
                "addresses",
                json!({"customer_id": customer, "kind": "shipping", "street": "1 Sim Road", "city": "Oslo"}),
            )?;
        }
    }
    for (i, role) in roles.iter().enumerate() {
        // Reps alternate between the territories; the manager leads everyone.
        let (territory, manager) = match role {
            Role::Manager => (vec![], None),
            _ => (vec![["NORTH", "SOUTH"][i % 2].to_string()], Some(user_name(0))),
        };
        fieldsync_server::admin::save_user_hashed(
            tx,
            reg,
            &user_name(i),
            *role,
            &territory,
            manager.as_deref(),
            NO_PASSWORD,
        )?;
    }
    tx.execute("UPDATE customers SET samples_given = 0", args![])?;
    let _ = now_ms;
    Ok(())
}
