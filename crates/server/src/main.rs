//! `fieldsync-server`: run, migrate and administer a Fieldsync sync server.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fieldsync_protocol::{Registry, Role};
use fieldsync_server::auth;
use fieldsync_server::db::{Db, Location};
use fieldsync_server::settings::{LogFormat, Settings};
use fieldsync_server::ServerConfig;

/// Faster than the system allocator for the per-row work of import and export, and it
/// returns freed memory to the system more readily.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "fieldsync-server", version, about = "Fieldsync sync server")]
struct Cli {
    /// The settings file (TOML, docs/OPERATIONS.md); without it /etc/fieldsync/server.toml is
    /// read when it exists. Flags and FIELDSYNC_* variables override what it says.
    #[arg(long, global = true, env = "FIELDSYNC_CONFIG")]
    config: Option<PathBuf>,
    /// Directory holding the server's SQLite database (when no PostgreSQL database is
    /// given); default ./fieldsync-data.
    #[arg(long, global = true, env = "FIELDSYNC_DATA")]
    data: Option<PathBuf>,
    /// PostgreSQL instead of SQLite: postgres://user:password@host:port/dbname (or the
    /// FIELDSYNC_DATABASE_URL environment variable). Several servers may share one.
    #[arg(long, global = true, env = "FIELDSYNC_DATABASE_URL")]
    database: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create or upgrade the database schema.
    Migrate,
    /// Load data.
    Seed {
        /// The demo data set (territories NORTH/SOUTH, users rep1..3, manager1, shipper1; password "demo").
        #[arg(long, required = true)]
        demo: bool,
    },
    /// Serve the HTTP API.
    Serve(ServeArgs),
    /// The laptops that reported how their syncs go: user, computer, app version, last
    /// successful sync, pending changes, the 7-day success rate and the last error.
    Devices {
        #[arg(long)]
        json: bool,
        /// Only the unhealthy ones (below 99% success over 7 days, or no successful sync
        /// for 3 days).
        #[arg(long)]
        unhealthy: bool,
    },
    /// Check or show the settings (file, flags and FIELDSYNC_* variables).
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Change who covers what: the affected users gain and lose records on their next sync.
    Territory {
        #[command(subcommand)]
        command: TerritoryCommand,
    },
    /// Load records from a CSV or JSON Lines file, matched by business key (docs/INTEGRATION.md).
    ///
    /// Bad rows are listed with their line, field and reason, and written to
    /// FILE.rejected.csv; the good rows are stored unless --all-or-nothing is given. Exits
    /// with status 2 when rows were rejected.
    Import {
        /// The entity type, e.g. customers, products, price_list_items.
        entity: String,
        #[arg(long)]
        file: PathBuf,
        /// csv or jsonl (default: from the file name; CSV unless it ends in .jsonl).
        #[arg(long, value_parser = parse_format)]
        format: Option<fieldsync_server::import::Format>,
        /// Check every row and report, but store nothing.
        #[arg(long)]
        dry_run: bool,
        /// Store nothing if any row is bad.
        #[arg(long)]
        all_or_nothing: bool,
        /// Retire records the file does not list: archive customers and products,
        /// delete other types unless something refers to them.
        #[arg(long)]
        delete_missing: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write records changed after a cursor to standard output, with codes in place of
    /// ids; orders come with their lines. The cursor to continue from goes to standard error.
    Export {
        entity: String,
        /// Only records changed after this cursor (printed by the previous export).
        #[arg(long, default_value_t = 0)]
        since: i64,
        /// Only records in this state, e.g. approved.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, value_parser = parse_format, default_value = "csv")]
        format: fieldsync_server::import::Format,
    },
    /// Tokens for back-office systems using the integration API (docs/INTEGRATION.md).
    Integration {
        #[command(subcommand)]
        command: IntegrationCommand,
    },
    /// URLs told about lifecycle events (an order approved or rejected), signed and retried.
    Webhook {
        #[command(subcommand)]
        command: WebhookCommand,
    },
    /// List and revoke sign-ins (one per laptop and user).
    Session {
        #[command(subcommand)]
        command: SessionCommand,
    },
    /// Copy the SQLite database to a new file while the server runs (pushes go on); the
    /// copy is checked before it is kept. For PostgreSQL use pg_dump (docs/OPERATIONS.md).
    Backup {
        /// The file to write (it must not exist yet).
        #[arg(long)]
        to: PathBuf,
    },
    /// Put the database back to a backup (stop the server first). A new history begins:
    /// laptops send again the changes they still hold, then download a fresh copy.
    Restore {
        /// A backup of the SQLite database (from `fieldsync-server backup`, or fieldsync.db
        /// copied with `sqlite3 .backup`).
        #[arg(long, required_unless_present = "in_place", conflicts_with = "in_place")]
        from: Option<PathBuf>,
        /// The database was already put back by other means (pg_restore for PostgreSQL, a
        /// file copy): only start the new history.
        #[arg(long)]
        in_place: bool,
    },
}

#[derive(Subcommand)]
enum WebhookCommand {
    /// Register a URL for events; prints its id and signing secret (shown once).
    Add {
        url: String,
        /// Comma-separated, e.g. order.approved,order.rejected.
        #[arg(long)]
        events: String,
    },
    /// The webhooks and how their deliveries went.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Stop sending to a webhook (by the id `webhook list` shows).
    Remove { id: String },
    /// The delivery log, newest first: event, status, attempts, last answer.
    Deliveries {
        /// Only this webhook's deliveries.
        #[arg(long)]
        webhook: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum IntegrationCommand {
    /// Create an integration and print its token (shown once; keep it in the ERP's secrets).
    Add {
        name: String,
        /// What it may do, e.g. import:products,import:price_list_items,export:orders
        /// (`import:*` or `export:*` for every type).
        #[arg(long)]
        scopes: String,
    },
    /// The integrations, their scopes and when each token was last used.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke an integration's token at once.
    Revoke { name: String },
}

#[derive(Subcommand)]
enum SessionCommand {
    /// The sessions in use: user, device, app version, created, last seen.
    List {
        /// Only this user's sessions.
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke one session (by the ID `session list` shows) or every session of a user; the
    /// laptop is told it was signed out by its administrator.
    Revoke {
        #[arg(conflicts_with = "user", required_unless_present = "user")]
        id: Option<String>,
        #[arg(long)]
        user: Option<String>,
    },
}

impl Cli {
    /// What the flags and FIELDSYNC_* variables say (the layer over the settings file).
    fn settings(&self) -> Settings {
        let mut s = Settings { data: self.data.clone(), database: self.database.clone(), ..Default::default() };
        if let Command::Serve(serve) | Command::Config { command: ConfigCommand::Print(serve) } = &self.command {
            let ServeArgs {
                listen,
                session_hours,
                admin_token_file,
                tls_cert,
                tls_key,
                log_format,
                metrics_listen,
                limits,
            } = serve;
            s.listen = *listen;
            s.session_hours = *session_hours;
            s.admin_token_file = admin_token_file.clone();
            s.tls_cert = tls_cert.clone();
            s.tls_key = tls_key.clone();
            s.log_format = *log_format;
            s.metrics_listen = *metrics_listen;
            s.limits = limits.clone();
        }
        s
    }
}

// `Print` carries serve's flags; the enum is parsed once per process, so its size is moot.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum ConfigCommand {
    /// Checks a settings file (default: the one the server would read): every key known,
    /// every value usable, the files it names readable. Exits non-zero with the reason.
    Check { file: Option<PathBuf> },
    /// Prints the settings in effect, defaults filled in and passwords redacted (`serve`'s
    /// flags may be given to see their effect).
    Print(ServeArgs),
}

/// What `serve` takes beyond the database (each overrides the settings file).
#[derive(clap::Args)]
struct ServeArgs {
    /// The address to listen on; default 127.0.0.1:8787.
    #[arg(long, env = "FIELDSYNC_LISTEN")]
    listen: Option<SocketAddr>,
    /// How long a sign-in stays valid, in hours; default 720.
    #[arg(long, env = "FIELDSYNC_SESSION_HOURS")]
    session_hours: Option<u64>,
    /// File holding the bearer token for the /v1/admin endpoints (off without it).
    #[arg(long, env = "FIELDSYNC_ADMIN_TOKEN_FILE")]
    admin_token_file: Option<PathBuf>,
    /// Serve HTTPS: the certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "FIELDSYNC_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM); needs --tls-cert.
    #[arg(long, env = "FIELDSYNC_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Log lines as `text` or `json`; default text.
    #[arg(long, env = "FIELDSYNC_LOG_FORMAT", value_parser = parse_log_format)]
    log_format: Option<LogFormat>,
    /// Also serve /metrics, without the admin token, on this address (internal network).
    #[arg(long, env = "FIELDSYNC_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    #[command(flatten)]
    limits: fieldsync_server::settings::LimitSettings,
}

fn parse_log_format(text: &str) -> Result<LogFormat, String> {
    match text {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(format!("'{text}' is not a log format; use text or json")),
    }
}

#[derive(Subcommand)]
enum TerritoryCommand {
    /// Give a user the territory (--user), move customers into it (--customer), or let it
    /// sell a product category (--category).
    Assign {
        code: String,
        #[arg(long, conflicts_with_all = ["customers", "categories"], required_unless_present_any = ["customers", "categories"])]
        user: Option<String>,
        /// Customer id or code; repeat for several.
        #[arg(long = "customer", conflicts_with = "categories")]
        customers: Vec<String>,
        /// Product category code; repeat for several.
        #[arg(long = "category")]
        categories: Vec<String>,
    },
    /// Take the territory away from a user (--user), or stop it selling a category (--category).
    Unassign {
        code: String,
        #[arg(long, conflicts_with = "categories", required_unless_present = "categories")]
        user: Option<String>,
        #[arg(long = "category")]
        categories: Vec<String>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user, or update an existing one; the password is read from standard input.
    Add {
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Territory code; repeat for several.
        #[arg(long = "territory")]
        territories: Vec<String>,
        /// User name of the user's manager.
        #[arg(long)]
        manager: Option<String>,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Set a user's password (read from standard input) and revoke all their sessions.
    Password {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Refuse the user's sign-ins (403 account_disabled) and revoke all their sessions.
    Disable { name: String },
    /// Allow a disabled user to sign in again.
    Enable { name: String },
}

/// The password on standard input (one line; the line ending is not part of it), checked
/// for length.
fn read_new_password() -> anyhow::Result<String> {
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password)?;
    let password = password.trim_end_matches(['\r', '\n']).to_string();
    fieldsync_server::auth::check_new_password(&password).map_err(anyhow::Error::msg)?;
    Ok(password)
}

fn now_ms() -> i64 {
    fieldsync_protocol::time::Clock::now_ms(&fieldsync_protocol::time::SystemClock)
}

fn parse_format(s: &str) -> Result<fieldsync_server::import::Format, String> {
    fieldsync_server::import::Format::parse(s).ok_or_else(|| format!("unknown format '{s}'; use csv or jsonl"))
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("unknown role '{s}'; use rep, manager or shipper"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match settings(&cli) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    init_logging(&settings);
    match run(cli, settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<RowsRejected>() => ExitCode::from(2),
        // `export ... | head`: the reader has what it wanted.
        Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The settings in effect: the settings file (if any) under the flags and variables. A
/// `config check FILE` reads its own file instead.
fn settings(cli: &Cli) -> Result<Settings, fieldsync_server::settings::SettingsError> {
    let flags = cli.settings();
    if let Command::Config { command: ConfigCommand::Check { file: Some(_) } } = &cli.command {
        return Ok(flags); // the file to check is read by the command itself
    }
    let from_file = match Settings::locate(cli.config.as_deref()) {
        Some(path) => Settings::read(&path)?,
        None => Settings::default(),
    };
    let merged = from_file.overridden_by(flags);
    merged.check().map_err(|e| fieldsync_server::settings::SettingsError::from(format!("flags and variables: {e}")))?;
    Ok(merged)
}

/// Log lines to stderr, as text or JSON; `FIELDSYNC_LOG` overrides the level.
fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FIELDSYNC_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(settings.log_level()))
        .unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match settings.log_format.unwrap_or_default() {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).init(),
    }
}

/// `config check`: the file parses, its values are usable and the files it names can be read.
fn check_settings_file(path: &std::path::Path) -> anyhow::Result<()> {
    let settings = Settings::read(path)?;
    if let Some(token) = &settings.admin_token_file {
        check_private(token, "admin token")?;
    }
    if let Some(key) = &settings.tls_key {
        check_private(key, "TLS private key")?;
    }
    if let Some(cert) = &settings.tls_cert {
        std::fs::metadata(cert)
            .map_err(|e| anyhow::anyhow!("cannot read the TLS certificate {}: {e}", cert.display()))?;
    }
    Ok(())
}

/// `import` stored what it could but rejected rows (exit status 2; already reported).
#[derive(Debug, thiserror::Error)]
#[error("rows were rejected")]
struct RowsRejected;

fn import(
    location: &Location,
    registry: &Registry,
    entity: &str,
    file: &std::path::Path,
    options: fieldsync_server::import::Options,
    json: bool,
) -> anyhow::Result<()> {
    use fieldsync_server::import;
    let def = import::entity(registry, entity)?;
    let input = std::fs::File::open(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let mut rejected_path = file.as_os_str().to_owned();
    rejected_path.push(".rejected.csv");
    let rejected_path = PathBuf::from(rejected_path);
    // A rejected file from an earlier run would now be misleading.
    let _ = std::fs::remove_file(&rejected_path);
    let db = Db::open(location, registry, &[])?;
    let report = import::run(
        &db,
        registry,
        def,
        input,
        options,
        Some(import::RejectedFile::new(rejected_path.clone())),
        now_ms(),
    )?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for e in &report.errors {
            println!("{e}");
        }
        if report.rejected as usize > report.errors.len() {
            println!("... and {} more rejected rows", report.rejected as usize - report.errors.len());
        }
        println!("{}", report.summary());
        if report.rejected > 0 {
            println!("the rejected rows, with a reason column, are in {}", rejected_path.display());
        }
    }
    if report.rejected > 0 {
        return Err(RowsRejected.into());
    }
    Ok(())
}

fn export(
    location: &Location,
    registry: &Registry,
    entity: &str,
    query: fieldsync_server::export::Query,
    format: fieldsync_server::import::Format,
) -> anyhow::Result<()> {
    use fieldsync_server::export;
    let def = registry.get(entity).ok_or_else(|| anyhow::anyhow!("there is no entity type '{entity}'"))?;
    export::check(def, &query).map_err(anyhow::Error::msg)?;
    let db = Db::open(location, registry, &[])?;
    let stdout = std::io::stdout().lock();
    let mut writer = export::Writer::new(registry, def, format, std::io::BufWriter::new(stdout));
    // One snapshot for every page: the cursor printed at the end is exact.
    let (count, cursor) = db.read_blocking(|tx| {
        let mut query = query.clone();
        let mut count = 0;
        loop {
            let page = export::page(tx, registry, def, &query, export::MAX_PAGE)?;
            count += page.records.len();
            writer.write(&page)?;
            query.since = page.next_cursor;
            if !page.more {
                return Ok::<_, anyhow::Error>((count, page.next_cursor));
            }
        }
    })?;
    writer.finish()?;
    eprintln!("{count} {entity} record(s) exported; next cursor: {cursor} (continue with --since {cursor})");
    Ok(())
}

fn integration(location: &Location, registry: &Registry, command: IntegrationCommand) -> anyhow::Result<()> {
    use fieldsync_server::integration;
    match command {
        IntegrationCommand::Add { name, scopes } => {
            let scopes = integration::parse_scopes(registry, &scopes).map_err(anyhow::Error::msg)?;
            let db = Db::open(location, registry, &[])?;
            let token = db.write_blocking(|tx| integration::add(tx, &name, &scopes, now_ms()))?;
            println!("integration {name} added; its token (shown only now):\n{token}");
        }
        IntegrationCommand::List { json } => {
            let db = Db::open(location, registry, &[])?;
            let all = db.read_blocking(integration::list)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else if all.is_empty() {
                println!("no integrations; add one with `fieldsync-server integration add NAME --scopes ...`");
            } else {
                println!("{:<20}  {:<10}  {:<20}  {:<20}  SCOPES", "NAME", "STATE", "CREATED", "LAST USED");
                let minute = |t: &str| t.get(..16).unwrap_or(t).replace('T', " ");
                for i in all {
                    let state = if i.revoked_at.is_some() { "revoked" } else { "active" };
                    let used = i.last_used_at.as_deref().map_or("never".to_string(), minute);
                    println!(
                        "{:<20}  {:<10}  {:<20}  {:<20}  {}",
                        i.name,
                        state,
                        minute(&i.created_at),
                        used,
                        i.scopes
                    );
                }
            }
        }
        IntegrationCommand::Revoke { name } => {
            let db = Db::open(location, registry, &[])?;
            let revoked = db.write_blocking(|tx| integration::revoke(tx, &name, now_ms()))?;
            anyhow::ensure!(
                revoked,
                "there is no integration '{name}' in use; `fieldsync-server integration list` shows them"
            );
            println!("the token of {name} is revoked");
        }
    }
    Ok(())
}

fn webhook(location: &Location, registry: &Registry, command: WebhookCommand) -> anyhow::Result<()> {
    use fieldsync_server::webhooks;
    let db = Db::open(location, registry, &[])?;
    let minute = |t: &str| t.get(..19).unwrap_or(t).replace('T', " ");
    match command {
        WebhookCommand::Add { url, events } => {
            let events = webhooks::parse_events(registry, &events).map_err(anyhow::Error::msg)?;
            let (id, secret) = db.write_blocking(|tx| webhooks::add(tx, &url, &events, now_ms()))?;
            println!("webhook {id} added for {}", events.join(", "));
            println!("signing secret (shown only now; the receiver checks Fieldsync-Signature with it):\n{secret}");
        }
        WebhookCommand::List { json } => {
            let all = db.read_blocking(webhooks::list)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else if all.is_empty() {
                println!("no webhooks; add one with `fieldsync-server webhook add URL --events order.approved`");
            } else {
                for w in all {
                    let state = if w.removed_at.is_some() { "removed" } else { "active" };
                    println!(
                        "{}  {state}  {}  events: {}  delivered {}, pending {}, failed {}",
                        w.id, w.url, w.events, w.delivered, w.pending, w.failed
                    );
                }
            }
        }
        WebhookCommand::Remove { id } => {
            let removed = db.write_blocking(|tx| webhooks::remove(tx, &id, now_ms()))?;
            anyhow::ensure!(removed, "there is no active webhook {id}; `fieldsync-server webhook list` shows them");
            println!("webhook {id} removed; it gets no more events");
        }
        WebhookCommand::Deliveries { webhook, limit, json } => {
            let all = db.read_blocking(|tx| webhooks::deliveries(tx, webhook.as_deref(), limit))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else if all.is_empty() {
                println!("no deliveries yet");
            } else {
                println!("{:<19}  {:<16}  {:<9}  {:>8}  LAST ANSWER", "CREATED", "EVENT", "STATUS", "ATTEMPTS");
                for d in all {
                    let answer = match (&d.last_status, &d.last_error) {
                        (_, Some(e)) => e.clone(),
                        (Some(s), None) => format!("HTTP {s}"),
                        (None, None) => "-".into(),
                    };
                    let next =
                        d.next_attempt_at.as_deref().map(|t| format!(" (next try {})", minute(t))).unwrap_or_default();
                    println!(
                        "{:<19}  {:<16}  {:<9}  {:>8}  {answer}{next}",
                        minute(&d.created_at),
                        d.event,
                        d.status,
                        d.attempts
                    );
                }
            }
        }
    }
    Ok(())
}

/// Adds or removes several categories of a territory in one transaction.
fn categories_of(
    tx: &fieldsync_server::sql::Tx<'_>,
    registry: &Registry,
    code: &str,
    categories: &[String],
    assign: bool,
    now: i64,
) -> anyhow::Result<Vec<fieldsync_server::reassign::ViewChange>> {
    let mut all = Vec::new();
    for category in categories {
        all.extend(fieldsync_server::admin::set_territory_category(tx, registry, code, category, assign, now)?);
    }
    Ok(all)
}

fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    let registry = Registry::standard();
    let data = settings.data();
    let location = Location::new(&data, settings.database.as_deref());
    if !matches!(cli.command, Command::Config { .. }) {
        refuse_root_in_service_data(&location)?;
    }
    match cli.command {
        Command::Config { command: ConfigCommand::Check { file } } => {
            let path = file.or_else(|| Settings::locate(cli.config.as_deref())).ok_or_else(|| {
                anyhow::anyhow!(
                    "there is no settings file to check: name one, or create {}",
                    fieldsync_server::settings::DEFAULT_PATH
                )
            })?;
            check_settings_file(&path)?;
            println!("{}: the settings are valid", path.display());
        }
        Command::Config { command: ConfigCommand::Print(_) } => {
            match Settings::locate(cli.config.as_deref()) {
                Some(path) => {
                    println!("# settings in effect: {} under flags and FIELDSYNC_* variables", path.display())
                }
                None => {
                    println!("# settings in effect: no settings file; defaults under flags and FIELDSYNC_* variables")
                }
            }
            print!("{}", settings.effective_toml());
        }
        Command::Migrate => {
            Db::open(&location, &registry, &[])?;
            println!("the database ({}) is up to date", location.describe());
        }
        Command::Seed { .. } => {
            let db = Db::open(&location, &registry, &[])?;
            match db.write_blocking(|tx| fieldsync_server::seed::seed_demo(tx, &registry))? {
                0 => println!("demo data already present"),
                n => println!("seeded {n} demo records; users rep1, rep2, rep3, manager1, shipper1 (password: demo)"),
            }
        }
        Command::User { command: UserCommand::Add { name, role, territories, manager, .. } } => {
            let password = read_new_password()?;
            let db = Db::open(&location, &registry, &[])?;
            db.write_blocking(|tx| {
                fieldsync_server::admin::save_user(
                    tx,
                    &registry,
                    &name,
                    role,
                    &territories,
                    manager.as_deref(),
                    &password,
                )
            })?;
            println!("user {name} saved");
        }
        Command::User { command: UserCommand::Password { name, .. } } => {
            let password = read_new_password()?;
            let db = Db::open(&location, &registry, &[])?;
            let revoked = db.write_blocking(|tx| auth::set_password(tx, &name, &password, now_ms()))?;
            println!("password of {name} changed; {revoked} session(s) revoked");
        }
        Command::User { command: UserCommand::Disable { name } } => {
            let db = Db::open(&location, &registry, &[])?;
            let revoked = db.write_blocking(|tx| auth::set_disabled(tx, &name, true, now_ms()))?;
            println!("{name} is disabled and cannot sign in; {revoked} session(s) revoked");
        }
        Command::User { command: UserCommand::Enable { name } } => {
            let db = Db::open(&location, &registry, &[])?;
            db.write_blocking(|tx| auth::set_disabled(tx, &name, false, now_ms()))?;
            println!("{name} can sign in again");
        }
        Command::Import { entity, file, format, dry_run, all_or_nothing, delete_missing, json } => {
            let format = format.unwrap_or_else(|| fieldsync_server::import::Format::guess(&file));
            let options = fieldsync_server::import::Options { format, dry_run, all_or_nothing, delete_missing };
            import(&location, &registry, &entity, &file, options, json)?;
        }
        Command::Export { entity, since, status, format } => {
            export(&location, &registry, &entity, fieldsync_server::export::Query { since, status }, format)?;
        }
        Command::Devices { json, unhealthy } => {
            let db = Db::open(&location, &registry, &[])?;
            let mut all = db.read_blocking(|tx| fieldsync_server::devices::list(tx, now_ms()))?;
            all.retain(|d| !unhealthy || !d.healthy);
            print_devices(&all, json)?;
        }
        Command::Backup { to } => match &location {
            Location::Sqlite(dir) => {
                let made = fieldsync_server::history::backup_sqlite(dir, &to)?;
                println!(
                    "backed up {} ({} MB, changes up to {}) to {}; restore it with `fieldsync-server restore --from {}`",
                    dir.display(),
                    made.bytes.div_ceil(1_000_000),
                    made.head,
                    to.display(),
                    to.display()
                );
            }
            Location::Postgres(_) => anyhow::bail!(
                "backup copies the SQLite database; for PostgreSQL use pg_dump --format=custom (docs/OPERATIONS.md)"
            ),
        },
        Command::Restore { from, .. } => {
            let history = match (from, &location) {
                (Some(backup), Location::Sqlite(dir)) => {
                    let restored = fieldsync_server::history::restore_sqlite(dir, &backup)?;
                    println!("restored {} into {}", backup.display(), dir.display());
                    if let Some(kept) = restored.kept {
                        println!("the database it replaced is kept as {}", kept.display());
                    }
                    restored.history
                }
                (Some(_), Location::Postgres(_)) => anyhow::bail!(
                    "--from takes an SQLite backup; for PostgreSQL, restore with pg_restore, then run 'fieldsync-server restore --in-place'"
                ),
                (None, _) => fieldsync_server::history::restore_in_place(&location)?,
            };
            println!(
                "history epoch {} begins: each laptop sends again the changes it holds from the last {} days on its next sync, then downloads a fresh copy",
                history.epoch,
                fieldsync_protocol::wire::DEFAULT_RESEND_DAYS
            );
        }
        Command::Integration { command } => integration(&location, &registry, command)?,
        Command::Webhook { command } => webhook(&location, &registry, command)?,
        Command::Session { command: SessionCommand::List { user, json } } => {
            let db = Db::open(&location, &registry, &[])?;
            let sessions = db.write_blocking(|tx| auth::list_sessions(tx, user.as_deref(), now_ms()))?;
            print_sessions(&sessions, json)?;
        }
        Command::Session { command: SessionCommand::Revoke { id, user } } => {
            let db = Db::open(&location, &registry, &[])?;
            let which = match (&id, &user) {
                (Some(id), _) => auth::Sessions::Id(id),
                (None, Some(user)) => auth::Sessions::User(user),
                (None, None) => anyhow::bail!("name a session ID or --user NAME"),
            };
            let n = db.write_blocking(|tx| auth::revoke_sessions(tx, which, "revoked", now_ms()))?;
            anyhow::ensure!(n > 0, "no session in use matches; `fieldsync-server session list` shows them");
            println!("{n} session(s) revoked; the laptop(s) must sign in again");
        }
        Command::Territory { command } => {
            let db = Db::open(&location, &registry, &[])?;
            let now = fieldsync_protocol::time::Clock::now_ms(&fieldsync_protocol::time::SystemClock);
            let changes = db.write_blocking(|tx| match command {
                TerritoryCommand::Assign { code, user: Some(user), .. } => {
                    fieldsync_server::admin::set_user_territory(tx, &registry, &code, &user, true, now)
                }
                TerritoryCommand::Assign { code, user: None, customers, categories } if customers.is_empty() => {
                    categories_of(tx, &registry, &code, &categories, true, now)
                }
                TerritoryCommand::Assign { code, user: None, customers, .. } => {
                    fieldsync_server::admin::move_customers(tx, &registry, &code, &customers, now)
                }
                TerritoryCommand::Unassign { code, user: Some(user), .. } => {
                    fieldsync_server::admin::set_user_territory(tx, &registry, &code, &user, false, now)
                }
                TerritoryCommand::Unassign { code, user: None, categories } => {
                    categories_of(tx, &registry, &code, &categories, false, now)
                }
            })?;
            if changes.is_empty() {
                println!("done; nobody's view changed");
            }
            for c in changes {
                let total = |m: &std::collections::BTreeMap<&str, usize>| m.values().sum::<usize>();
                println!(
                    "{}: gains {} records, loses {} records on next sync",
                    c.username,
                    total(&c.gained),
                    total(&c.lost)
                );
            }
        }
        Command::Serve(_) => {
            let mut config = ServerConfig::new(&data);
            settings.limits.apply(&mut config.limits);
            if let (Some(cert), Some(key)) = (settings.tls_cert.clone(), settings.tls_key.clone()) {
                check_private(&key, "TLS private key")?;
                config.tls = Some(fieldsync_server::serve::TlsFiles { cert, key });
            }
            config.database_url = settings.database.clone();
            config.metrics_listen = settings.metrics_listen;
            config.token_ttl = std::time::Duration::from_secs(settings.session_hours() * 3600);
            let listen = settings.listen();
            if let Some(path) = settings.admin_token_file.clone() {
                check_private(&path, "admin token")?;
                let token = std::fs::read_to_string(&path)
                    .map_err(|e| anyhow::anyhow!("cannot read the admin token file {}: {e}", path.display()))?;
                let token = token.trim().to_string();
                anyhow::ensure!(
                    token.len() >= 16,
                    "the admin token in {} must be at least 16 characters",
                    path.display()
                );
                config.admin_token = Some(token);
            }
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async move {
                let server = fieldsync_server::start(config, listen).await?;
                println!("listening on {}", server.url());
                if let Some(metrics) = server.metrics_url() {
                    println!("metrics on {metrics}");
                }
                std::io::stdout().flush()?;
                notify_service_manager(&format!("READY=1\nSTATUS=listening on {}", server.url()));
                shutdown_signal().await;
                tracing::info!("shutting down");
                notify_service_manager("STOPPING=1");
                server.stop().await;
                anyhow::Ok(())
            })?;
        }
    }
    Ok(())
}

/// Refuses to open, as root, an SQLite data directory that belongs to another user (the
/// package's `fieldsync`): files root created there (the WAL, a new database) would lock
/// the service out of its own data.
fn refuse_root_in_service_data(location: &Location) -> anyhow::Result<()> {
    #[cfg(target_os = "linux")]
    if let Location::Sqlite(dir) = location {
        use std::os::unix::fs::MetadataExt;
        // /proc/self belongs to the process's effective user.
        let me = std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX);
        let owner = std::fs::metadata(dir).map(|m| m.uid()).unwrap_or(0);
        if me == 0 && owner != 0 {
            let name = owner_name(owner).unwrap_or_else(|| owner.to_string());
            anyhow::bail!(
                "the data directory {} belongs to the user {name}; run this command as that user (sudo -u {name} fieldsync-server ...), so the service can still open the files it creates",
                dir.display()
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = location;
    Ok(())
}

/// The name of the user with id `uid`, from /etc/passwd.
#[cfg(target_os = "linux")]
fn owner_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_string())
    })
}

/// Refuses a secret file that users other than its owner could read.
fn check_private(path: &std::path::Path, what: &str) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| anyhow::anyhow!("cannot read the {what} file {}: {e}", path.display()))?
            .permissions()
            .mode();
        anyhow::ensure!(
            mode & 0o077 == 0,
            "the {what} file {} can be read by other users (mode {:o}); run `chmod 600 {}` and start again",
            path.display(),
            mode & 0o777,
            path.display()
        );
    }
    // Owner-only is right only if the owner is the user the server runs as.
    std::fs::File::open(path).map_err(|e| {
        anyhow::anyhow!(
            "the {what} file {} cannot be read by the user this runs as ({e}); make it belong to the server's user (with the package: `chown fieldsync: {}`)",
            path.display(),
            path.display()
        )
    })?;
    Ok(())
}

fn print_devices(devices: &[fieldsync_server::devices::Device], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(devices)?);
        return Ok(());
    }
    if devices.is_empty() {
        println!("no device has reported yet; laptops report after each successful sync");
        return Ok(());
    }
    let minute = |t: &str| t.get(..16).unwrap_or(t).replace('T', " ");
    println!(
        "{:<9}  {:<12}  {:<20}  {:<8}  {:<16}  {:>7}  {:>8}  LAST ERROR",
        "HEALTH", "USER", "DEVICE", "APP", "LAST OK", "PENDING", "7D OK"
    );
    for d in devices {
        let rate = d.success_rate.map_or("-".to_string(), |r| format!("{:.1}%", r * 100.0));
        println!(
            "{:<9}  {:<12}  {:<20}  {:<8}  {:<16}  {:>7}  {:>8}  {}",
            if d.healthy { "ok" } else { "UNHEALTHY" },
            d.user,
            d.device.as_deref().unwrap_or("-"),
            d.app_version.as_deref().unwrap_or("-"),
            d.last_ok_at.as_deref().map_or("never".into(), minute),
            d.pending,
            rate,
            d.last_error.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

fn print_sessions(sessions: &[auth::SessionInfo], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(sessions)?);
        return Ok(());
    }
    if sessions.is_empty() {
        println!("no sessions in use");
        return Ok(());
    }
    println!("{:<16}  {:<12}  {:<24}  {:<8}  {:<20}  LAST SEEN", "ID", "USER", "DEVICE", "APP", "CREATED");
    for s in sessions {
        let device = match (&s.device, &s.client_id) {
            (Some(host), Some(client)) => format!("{host} ({})", &client[client.len().saturating_sub(8)..]),
            (Some(host), None) => host.clone(),
            (None, Some(client)) => client.clone(),
            (None, None) => "-".into(),
        };
        let minute = |t: &str| t.get(..16).unwrap_or(t).replace('T', " ");
        println!(
            "{:<16}  {:<12}  {:<24}  {:<8}  {:<20}  {}",
            s.id,
            s.user,
            device,
            s.app_version.as_deref().unwrap_or("-"),
            minute(&s.created_at),
            minute(&s.last_seen_at)
        );
    }
    Ok(())
}

/// Tells systemd how the service is doing (`Type=notify` in packaging/fieldsync-server.service):
/// `READY=1` once the database is migrated and the listener bound, `STOPPING=1` on the way
/// out. Outside systemd (`NOTIFY_SOCKET` unset) it does nothing; this is the whole of the
/// sd_notify protocol, one datagram to the socket systemd names.
fn notify_service_manager(state: &str) {
    #[cfg(target_os = "linux")]
    if let Some(socket) = std::env::var_os("NOTIFY_SOCKET") {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::net::{SocketAddr, UnixDatagram};
        let sent = UnixDatagram::unbound().and_then(|sock| {
            let addr = match socket.as_bytes().strip_prefix(b"@") {
                Some(name) => SocketAddr::from_abstract_name(name)?,
                None => SocketAddr::from_pathname(&socket)?,
            };
            sock.send_to_addr(state.as_bytes(), &addr)
        });
        if let Err(e) = sent {
            tracing::warn!(error = %e, socket = ?socket, "cannot notify the service manager");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = state;
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
