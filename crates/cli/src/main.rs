//! `fieldsync`: the headless Fieldsync client. Every command but `login` and `sync` works
//! offline against the profile's local store.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fieldsync_client::diagnostics::LOG_DIR;
use fieldsync_client::{ClientError, Engine, Object, ReviewFilter, NAMING_FIELDS};
use serde_json::Value;

#[derive(Parser)]
#[command(name = "fieldsync", version, about = "Fieldsync headless client")]
struct Cli {
    /// Profile directory holding the local store and session.
    #[arg(long, global = true, default_value = "./fieldsync-profile")]
    profile: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sign in to a server; the password is read from standard input.
    Login {
        #[arg(long)]
        server: String,
        #[arg(long)]
        user: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Sign out: the server ends the session and this profile forgets it. Local data and
    /// unsynced changes stay for the next sign-in.
    Logout,
    /// Push local changes, then pull the server's.
    Sync {
        #[arg(long)]
        json: bool,
        /// Changes per pull page; smaller pages lose less work on a flaky link.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=20000))]
        page_size: Option<u32>,
    },
    /// List records of an entity type.
    List {
        entity: String,
        /// Only records whose FIELD equals VALUE; repeatable.
        #[arg(long = "where", value_parser = parse_pair)]
        filters: Vec<(String, String)>,
        /// The fields to show, comma-separated (default: the name, then a few others, then the id).
        #[arg(long, value_delimiter = ',')]
        columns: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one record.
    Get {
        entity: String,
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Create a record; prints its new id.
    Create {
        entity: String,
        #[arg(long = "set", value_parser = parse_pair, required = true)]
        sets: Vec<(String, String)>,
        #[arg(long)]
        json: bool,
    },
    /// Change fields of a record.
    Update {
        entity: String,
        id: String,
        #[arg(long = "set", value_parser = parse_pair, required = true)]
        sets: Vec<(String, String)>,
    },
    /// Delete a record.
    Delete { entity: String, id: String },
    /// Pending changes, last sync, clock offset, server and user.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Save a zip for the support desk: the status, the last syncs' outcomes, the app and
    /// OS versions and the profile's log files. It holds no password, token or record data.
    Diagnostics {
        /// The zip to write (it must not exist yet).
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Values overwritten by concurrent edits; `restore` brings one back.
    #[command(args_conflicts_with_subcommands = true)]
    Conflicts {
        #[command(subcommand)]
        action: Option<ConflictAction>,
        #[arg(long)]
        json: bool,
    },
    /// The manager's review of the team's orders.
    Review {
        #[command(subcommand)]
        action: ReviewAction,
    },
    /// Changes the server rejected, to fix and resend or discard.
    #[command(args_conflicts_with_subcommands = true)]
    Attention {
        #[command(subcommand)]
        action: Option<AttentionAction>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ConflictAction {
    /// Set the overwritten value again, as a new edit (use the conflict_id).
    Restore { conflict_id: String },
}

#[derive(Subcommand)]
enum ReviewAction {
    /// Orders waiting for review (or other statuses), with totals and history.
    List {
        /// draft, submitted, approved, rejected, delivered, cancelled or all.
        #[arg(long, default_value = "submitted")]
        status: String,
        /// Only this rep's orders (user name).
        #[arg(long)]
        rep: Option<String>,
        /// Orders dated on or after this day (YYYY-MM-DD).
        #[arg(long)]
        from: Option<String>,
        /// Orders dated on or before this day (YYYY-MM-DD).
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Approve a submitted order.
    Approve {
        order_id: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Reject a submitted order; the comment tells the rep what to fix.
    Reject {
        order_id: String,
        #[arg(long, required = true)]
        comment: String,
    },
}

#[derive(Subcommand)]
enum AttentionAction {
    /// Queue a rejected change again, optionally with fixed fields.
    Resend {
        mutation_id: String,
        #[arg(long = "set", value_parser = parse_pair)]
        sets: Vec<(String, String)>,
        /// Re-price the record's lines from today's price list first (after a
        /// "prices changed" rejection).
        #[arg(long)]
        accept_prices: bool,
    },
    /// Drop a rejected change for good.
    Discard { mutation_id: String },
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .ok_or_else(|| format!("expected FIELD=VALUE, got '{s}'"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Warnings on stderr; the profile keeps a log file for `fieldsync diagnostics`.
    let (log, _flush) = fieldsync_client::diagnostics::init_logging("warn");
    if let Err(e) = log.open(&cli.profile.join(LOG_DIR)) {
        eprintln!("warning: no log file in the profile: {e}");
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The engine speaks to people; here they sign in with a command.
            let hint = match e.downcast_ref::<ClientError>() {
                Some(ClientError::NotSignedIn(_)) => " (run 'fieldsync login')",
                _ => "",
            };
            eprintln!("error: {e}{hint}");
            ExitCode::FAILURE
        }
    }
}

/// `println!` that ends the program quietly when the reader went away (`fieldsync list
/// customers | head`): a closed pipe is how a pager says it has enough.
macro_rules! outln {
    ($($arg:tt)*) => { write_out(format_args!($($arg)*)) };
}

fn write_out(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(line).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write the output: {e}");
        std::process::exit(1);
    }
}

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// The columns `list` prints: the ones asked for (each must be a field), or by default
/// what names a record (name or title, then code, SKU or number), a few more plain fields,
/// and the id last.
fn list_columns(def: &fieldsync_protocol::EntityDef, asked: Vec<String>) -> anyhow::Result<Vec<String>> {
    if !asked.is_empty() {
        if let Some(bad) = asked.iter().find(|c| *c != "id" && def.field(c).is_none()) {
            let known: Vec<&str> = def.fields.iter().map(|f| f.name).collect();
            anyhow::bail!("{} has no field '{bad}'; its fields are id, {}", def.name, known.join(", "));
        }
        return Ok(asked);
    }
    let mut columns: Vec<String> =
        NAMING_FIELDS.iter().filter(|n| def.field(n).is_some()).map(|n| n.to_string()).collect();
    let plain = def.fields.iter().filter(|f| {
        f.references().is_none()
            && !NAMING_FIELDS.contains(&f.name)
            && f.strategy != fieldsync_protocol::FieldStrategy::ServerOnly
    });
    for f in plain {
        if columns.len() >= 4 {
            break;
        }
        columns.push(f.name.to_string());
    }
    columns.push("id".into());
    Ok(columns)
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut engine = Engine::open(&cli.profile)?;
    match cli.command {
        Command::Login { server, user, .. } => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let info = engine.login(&server, &user, password.trim_end_matches(['\r', '\n'])).await?;
            outln!("signed in to {server} as {} ({})", info.username, info.role);
        }
        Command::Logout => {
            if engine.sign_out().await? {
                outln!("signed out");
            } else {
                outln!(
                    "signed out on this computer; the server could not be reached, so the session stays valid there until it expires (IT can revoke it)"
                );
            }
        }
        Command::Sync { json, page_size } => {
            if let Some(n) = page_size {
                engine.set_pull_limit(n);
            }
            let report = engine.sync(&mut |p| eprintln!("pulled {} records ({}%)", p.pulled, p.percent)).await?;
            if json {
                print_json(&report)?;
            } else {
                outln!(
                    "pushed {} ({} applied, {} rejected), pulled {}, {} conflicts involving you",
                    report.pushed,
                    report.applied,
                    report.rejected,
                    report.pulled,
                    report.conflicts
                );
                for n in &report.notices {
                    outln!("note: {n}");
                }
            }
        }
        Command::List { entity, filters, columns, json } => {
            let rows = engine.list(&entity, &filters)?;
            if json {
                print_json(&rows)?;
            } else {
                let columns = list_columns(&engine.store().entity(&entity)?, columns)?;
                outln!("{}", columns.join("\t"));
                for r in &rows {
                    let cells: Vec<String> = columns.iter().map(|c| r.get(c).map(show).unwrap_or_default()).collect();
                    outln!("{}", cells.join("\t"));
                }
            }
        }
        Command::Get { entity, id, json } => {
            let obj = engine.get(&entity, &id)?;
            if json {
                print_json(&obj)?;
            } else {
                print_object(&obj);
            }
        }
        Command::Create { entity, sets, json } => {
            let fields = engine.parse_sets(&entity, &sets)?;
            let obj = engine.create(&entity, fields)?;
            if json {
                print_json(&obj)?;
            } else {
                outln!("{}", show(&obj["id"]));
            }
        }
        Command::Update { entity, id, sets } => {
            let fields = engine.parse_sets(&entity, &sets)?;
            match engine.update(&entity, &id, fields)? {
                0 => outln!("nothing changed"),
                n => outln!("changed {n} field(s); they sync on the next 'fieldsync sync'"),
            }
        }
        Command::Delete { entity, id } => {
            engine.delete(&entity, &id)?;
            outln!("deleted; the deletion syncs on the next 'fieldsync sync'");
        }
        Command::Status { json } => {
            let s = engine.status()?;
            if json {
                print_json(&s)?;
            } else {
                outln!("server: {}", s.server.as_deref().unwrap_or("(not signed in)"));
                outln!("user: {}", s.user.as_deref().unwrap_or("-"));
                outln!("pending changes: {}", s.pending);
                outln!("needs attention: {}", s.needs_attention);
                outln!("last sync: {}", s.last_sync.as_deref().unwrap_or("never"));
                outln!("clock offset: {} ms", s.clock_offset_ms);
            }
        }
        Command::Diagnostics { to } => {
            let diagnostics = engine.diagnostics("fieldsync CLI", env!("CARGO_PKG_VERSION"))?;
            diagnostics.write(&to, &cli.profile.join(LOG_DIR))?;
            outln!("saved the diagnostics in {}", to.display());
        }
        Command::Conflicts { action: Some(ConflictAction::Restore { conflict_id }), .. } => {
            engine.restore_conflict(&conflict_id)?;
            outln!("restored; it syncs on the next 'fieldsync sync'");
        }
        Command::Review { action } => review(&mut engine, action)?,
        Command::Conflicts { action: None, json } => {
            let list = engine.conflicts()?;
            if json {
                print_json(&list)?;
            } else {
                for c in &list {
                    outln!(
                        "{} [{}] {} {}.{}: kept {} ({}), overwritten {} ({})",
                        c.at,
                        c.conflict_id,
                        c.id,
                        c.entity,
                        c.field,
                        show(&c.kept),
                        c.kept_by,
                        show(&c.overwritten),
                        c.overwritten_by
                    );
                }
            }
        }
        Command::Attention { action: None, json } => {
            let items = engine.attention()?;
            if json {
                print_json(&items)?;
            } else if items.is_empty() {
                outln!("nothing needs attention");
            } else {
                for a in &items {
                    outln!("{} {} {}: {}", a.mutation_id, a.entity, a.id, a.reason);
                }
            }
        }
        Command::Attention { action: Some(AttentionAction::Resend { mutation_id, sets, accept_prices }), .. } => {
            let item = engine.store().attention_item(&mutation_id)?;
            let fixes: Object = engine.parse_sets(&item.entity, &sets)?;
            if accept_prices {
                let n = engine.resend_at_current_prices(&mutation_id, fixes)?;
                outln!("re-priced {n} line(s) from today's price list");
            } else {
                engine.resend(&mutation_id, fixes)?;
            }
            outln!("queued again; it syncs on the next 'fieldsync sync'");
        }
        Command::Attention { action: Some(AttentionAction::Discard { mutation_id }), .. } => {
            engine.discard(&mutation_id)?;
            outln!("discarded");
        }
    }
    Ok(())
}

fn review(engine: &mut Engine, action: ReviewAction) -> anyhow::Result<()> {
    match action {
        ReviewAction::List { status, rep, from, to, json } => {
            let queue = engine.review_queue(&ReviewFilter { status: Some(status), rep, from, to })?;
            if json {
                print_json(&queue)?;
            } else if queue.is_empty() {
                outln!("no orders match");
            } else {
                for o in &queue {
                    let flags = o.flags.as_deref().map(|f| format!("  [{f}]")).unwrap_or_default();
                    outln!(
                        "{}  {}  {:<10} {:<8} {:>4} lines {:>12.2}  {}{flags}",
                        o.id,
                        o.order_date,
                        o.status,
                        o.rep,
                        o.lines,
                        o.total_cents as f64 / 100.0,
                        o.customer
                    );
                }
            }
        }
        ReviewAction::Approve { order_id, comment } => {
            engine.review(&order_id, true, comment.as_deref())?;
            outln!("approved; the rep sees it after the next 'fieldsync sync'");
        }
        ReviewAction::Reject { order_id, comment } => {
            engine.review(&order_id, false, Some(&comment))?;
            outln!("rejected; the rep sees it after the next 'fieldsync sync'");
        }
    }
    Ok(())
}

fn print_object(obj: &Object) {
    for (k, v) in obj {
        outln!("{k}: {}", show(v));
    }
}
