//! Tauri commands: thin adapters from the UI to the client engine. Reads use the reader
//! connection; writes use the engine and nudge the background task to sync.

use std::collections::BTreeMap;
use std::future::Future;

use fieldsync_client::profiles::ProfileSummary;
use fieldsync_client::schedule::SyncState;
use fieldsync_client::{
    AttentionItem, BulkReview, ClientError, ConflictEntry, CustomerCard, Dashboard, Object, PickerProduct,
    ReviewFilter, ReviewItem, Status,
};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager};

use crate::shell::{open_engine, start_background, with_background, App};

/// The one error shape every command returns: a stable code the UI chooses its words and
/// actions by, the engine's or server's sentence for people, and details (the HTTP status,
/// the field) where they apply. The code is the server's (`ErrorCode`, e.g.
/// `wrong_credentials`, `price_changed`) for a refusal, else one of the engine's own:
/// `bad_input`, `not_found`, `not_signed_in`, `unreachable`, `internal`.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct UiError {
    code: String,
    message: String,
    details: std::collections::BTreeMap<String, String>,
}

impl UiError {
    fn new(code: &str, message: impl Into<String>) -> UiError {
        UiError { code: code.to_string(), message: message.into(), details: Default::default() }
    }
}

impl From<ClientError> for UiError {
    fn from(e: ClientError) -> Self {
        let message = e.to_string();
        match e {
            ClientError::Server { status, code, mutation_id, .. } => {
                let mut details = std::collections::BTreeMap::from([("status".to_string(), status.to_string())]);
                if let Some(id) = mutation_id {
                    details.insert("mutation_id".into(), id.to_string());
                }
                UiError { code, message, details }
            }
            ClientError::BadInput(_) => UiError::new("bad_input", message),
            ClientError::NotFound(_) => UiError::new("not_found", message),
            ClientError::NotSignedIn(_) => UiError::new("not_signed_in", message),
            ClientError::Unavailable(_) => UiError::new("unreachable", message),
            ClientError::Storage(_) | ClientError::Internal(_) => UiError::new("internal", message),
        }
    }
}

type Res<T> = Result<T, UiError>;

/// Calls `$then!` with every command the UI may invoke, each as `name(Args) -> Answer`
/// (`name() -> Answer` without arguments). This is the one list: `shell.rs` registers
/// these handlers, `build.rs` grants them (the capabilities file is checked against it),
/// the compiler checks each function's signature against its entry ([`typed`]), and the
/// TypeScript `Commands` interface is generated from it ([`typescript`]).
macro_rules! all_commands {
    ($then:ident) => {
        $then!(
            app_info() -> AppInfo,
            sign_in(SignIn) -> (),
            sign_out() -> (),
            sync_now() -> (),
            set_paused(SetPaused) -> (),
            sync_status() -> SyncStatus,
            search(Search) -> Vec<Row>,
            record(RecordId) -> Row,
            related(Related) -> Vec<Row>,
            save(Save) -> Row,
            delete_record(RecordId) -> (),
            review_queue(OrderFilter) -> Vec<ReviewItem>,
            review(Review) -> (),
            conflicts() -> Vec<ConflictEntry>,
            attention() -> Vec<AttentionItem>,
            resend(Resend) -> (),
            resend_at_current_prices(MutationId) -> (),
            discard(MutationId) -> (),
            restore_conflict(ConflictId) -> (),
            dashboard() -> Dashboard,
            review_many(ReviewMany) -> BulkReview,
            export_orders(OrderFilter) -> String,
            export_diagnostics() -> String,
            waiting_changes() -> Vec<ProfileSummary>,
            customer_card(CustomerId) -> CustomerCard,
            picker_products(PickerQuery) -> Vec<PickerProduct>,
            open_link(Link) -> ()
        )
    };
}
pub(crate) use all_commands;

/// Compiles only if every command's function takes `(AppHandle, Args)` (or `(AppHandle)`)
/// and answers `Res<Answer>` as its table entry says.
macro_rules! check_signatures {
    ($($name:ident($($args:ty)?) -> $out:ty),*) => {{
        $( check_signatures!(@one $name ($($args)?) $out); )*
    }};
    (@one $name:ident () $out:ty) => { typed0::<$out, _, _>($name) };
    (@one $name:ident ($args:ty) $out:ty) => { typed::<$args, $out, _, _>($name) };
}

#[allow(dead_code)]
fn signatures_match_the_table() {
    all_commands!(check_signatures)
}

fn typed<A, O, F: Fn(AppHandle, A) -> Fut, Fut: Future<Output = Res<O>>>(_: F) {}
fn typed0<O, F: Fn(AppHandle) -> Fut, Fut: Future<Output = Res<O>>>(_: F) {}

/// The TypeScript declaration of every command: `name: { args: ...; result: ... }`.
#[cfg(test)]
macro_rules! typescript_table {
    ($($name:ident($($args:ty)?) -> $out:ty),*) => {{
        use ts_rs::TS;
        let mut out = String::from("/** Every command the UI may invoke: its arguments (`null`: none) and its answer. */\nexport interface Commands {\n");
        $(
            let args: Vec<String> = vec![$(<$args as TS>::name()),*];
            out.push_str(&format!(
                "  {}: {{ args: {}; result: {} }};\n",
                stringify!($name),
                args.first().map_or("null", String::as_str),
                <$out as TS>::name()
            ));
        )*
        out.push_str("}\n\n/** A command's name. */\nexport type Command = keyof Commands;");
        out
    }};
}

/// The `Commands` interface for `ui/src/lib/bindings.ts`.
#[cfg(test)]
pub fn typescript() -> String {
    all_commands!(typescript_table)
}

macro_rules! names {
    ($($name:ident($($args:ty)?) -> $out:ty),*) => { &[$(stringify!($name)),*] };
}

/// The command names, as the UI spells them.
pub const NAMES: &[&str] = all_commands!(names);

/// The main window's permission to call exactly the commands of the table (each has an
/// `allow-` permission, made by `build.rs`); `capabilities/default.json` grants the rest.
pub fn grant() -> tauri::ipc::CapabilityBuilder {
    NAMES.iter().fold(tauri::ipc::CapabilityBuilder::new("app-commands").window("main"), |grant, name| {
        grant.permission(format!("allow-{}", name.replace('_', "-")))
    })
}

/// An event the Rust side sends the window, typed by its payload: emit through it, and
/// the UI's `Events` interface is generated from it ([`events_typescript`]).
pub struct Event<T> {
    pub name: &'static str,
    payload: std::marker::PhantomData<fn(&T)>,
}

impl<T: Serialize + Clone + ts_rs::TS> Event<T> {
    const fn new(name: &'static str) -> Self {
        Event { name, payload: std::marker::PhantomData }
    }

    /// Sends `payload` to the window (nothing happens when it is closed).
    pub fn emit(&self, handle: &AppHandle, payload: &T) {
        use tauri::Emitter;
        if let Err(e) = handle.emit(self.name, payload) {
            tracing::debug!("the window missed {}: {e}", self.name);
        }
    }

    #[cfg(test)]
    fn typescript(&self) -> String {
        format!("  \"{}\": {};\n", self.name, T::name())
    }
}

/// The sync state changed (also the tray's).
pub const SYNC_STATE: Event<SyncState> = Event::new("sync-state");
/// Something the user should be told (the desktop notifications' source).
pub const SYNC_EVENT: Event<fieldsync_client::background::Event> = Event::new("sync-event");

/// The `Events` interface for `ui/src/lib/bindings.ts`: every event and its payload.
#[cfg(test)]
pub fn events_typescript() -> String {
    let mut out =
        String::from("/** Every event the Rust side emits, with its payload. */\nexport interface Events {\n");
    out.push_str(&SYNC_STATE.typescript());
    out.push_str(&SYNC_EVENT.typescript());
    out.push('}');
    out
}

/// A record as the UI reads it: its fields by name, `id` among them.
#[derive(Serialize, ts_rs::TS)]
pub struct Row(#[ts(type = "Record<string, unknown> & { id: string }")] Object);

fn rows(records: Vec<Object>) -> Vec<Row> {
    records.into_iter().map(Row).collect()
}

/// The arguments of the commands that name one record.
#[derive(Deserialize, ts_rs::TS)]
pub struct RecordId {
    entity: String,
    id: String,
}

/// A customer, by id.
#[derive(Deserialize, ts_rs::TS)]
pub struct CustomerId {
    id: String,
}

/// A change the server refused, by its mutation id (from `attention`).
#[derive(Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct MutationId {
    mutation_id: String,
}

/// A conflict log entry, by id (from `conflicts`).
#[derive(Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct ConflictId {
    conflict_id: String,
}

#[derive(Serialize, ts_rs::TS)]
pub struct AppInfo {
    server: Option<String>,
    server_locked: bool,
    signed_in: bool,
    user: Option<String>,
    role: Option<String>,
    /// The pricing day (`YYYY-MM-DD`) by which prices and promotions are shown: the one the
    /// engine and the server price by, not this computer's local date.
    pricing_day: String,
}

#[tauri::command]
pub async fn app_info(handle: AppHandle) -> Res<AppInfo> {
    let app = handle.state::<App>();
    let reader = app.reader.lock().unwrap_or_else(|p| p.into_inner());
    let store = reader.store();
    let server = if app.config.lock_server {
        app.config.server.clone()
    } else {
        store.meta("server")?.or(app.config.server.clone())
    };
    Ok(AppInfo {
        server,
        server_locked: app.config.lock_server && app.config.server.is_some(),
        signed_in: reader.signed_in()?,
        user: store.meta("user")?,
        role: store.meta("role")?,
        pricing_day: reader.pricing_day(),
    })
}

#[derive(Deserialize, ts_rs::TS)]
pub struct SignIn {
    server: String,
    user: String,
    password: String,
}

/// Signs in on the user's own profile (made on first sign-in), then syncs in the background.
#[tauri::command]
pub async fn sign_in(handle: AppHandle, args: SignIn) -> Res<()> {
    let app = handle.state::<App>();
    let server = match (&app.config.server, app.config.lock_server) {
        (Some(locked), true) => locked.clone(),
        _ => args.server.trim().to_string(),
    };
    if server.is_empty() || args.user.trim().is_empty() {
        return Err(UiError::new("bad_input", "Enter the server address and your user name."));
    }
    let user = args.user.trim();
    let (dir, created) = app.profiles.dir_for(&server, user)?;
    let current = app.reader.lock().unwrap_or_else(|p| p.into_inner()).store().dir().to_path_buf();
    if dir == current {
        app.engine.lock().await.login(&server, user, &args.password).await?;
        start_background(&handle);
        return Ok(());
    }
    // Another person's profile: sign in there first, so a wrong password changes nothing.
    let mut engine = open_engine(&dir)?;
    if let Err(e) = engine.login(&server, user, &args.password).await {
        drop(engine);
        if created {
            let _ = std::fs::remove_dir_all(&dir);
        }
        return Err(e.into());
    }
    let reader = open_engine(&dir)?;
    app.background.lock().unwrap_or_else(|p| p.into_inner()).take();
    let previous = std::mem::replace(&mut *app.engine.lock().await, engine);
    let previous_reader = std::mem::replace(&mut *app.reader.lock().unwrap_or_else(|p| p.into_inner()), reader);
    drop((previous, previous_reader));
    app.profiles.set_current(&dir)?;
    // The blank profile of a first start has served its purpose.
    if app.profiles.is_blank(&current)? {
        let _ = std::fs::remove_dir_all(&current);
    }
    start_background(&handle);
    Ok(())
}

/// The other people whose changes wait on this computer for them to sign in again.
#[tauri::command]
pub async fn waiting_changes(handle: AppHandle) -> Res<Vec<ProfileSummary>> {
    let app = handle.state::<App>();
    Ok(app.profiles.list()?.into_iter().filter(|p| p.pending + p.needs_attention > 0).collect())
}

#[tauri::command]
pub async fn sign_out(handle: AppHandle) -> Res<()> {
    let app = handle.state::<App>();
    app.background.lock().unwrap_or_else(|p| p.into_inner()).take();
    if !app.engine.lock().await.sign_out().await? {
        tracing::warn!(
            "signed out on this computer; the server could not be told, so the session lasts until it expires"
        );
    }
    Ok(())
}

#[tauri::command]
pub async fn sync_now(handle: AppHandle) -> Res<()> {
    with_background(&handle, |bg| bg.sync_now());
    Ok(())
}

#[derive(Deserialize, ts_rs::TS)]
pub struct SetPaused {
    paused: bool,
}

#[tauri::command]
pub async fn set_paused(handle: AppHandle, args: SetPaused) -> Res<()> {
    with_background(&handle, |bg| if args.paused { bg.pause() } else { bg.resume() });
    Ok(())
}

#[derive(Serialize, ts_rs::TS)]
pub struct SyncStatus {
    state: SyncState,
    summary: String,
    status: Status,
}

#[tauri::command]
pub async fn sync_status(handle: AppHandle) -> Res<SyncStatus> {
    let app = handle.state::<App>();
    let state = app
        .background
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .map(|bg| bg.state().borrow().clone())
        .unwrap_or(SyncState::Idle);
    let status = app.reader.lock().unwrap_or_else(|p| p.into_inner()).status()?;
    Ok(SyncStatus { summary: crate::shell::summary(&state, status.needs_attention), state, status })
}

/// Records of `entity` matching every word of `query`; at most `limit` (default 100).
#[derive(Deserialize, ts_rs::TS)]
pub struct Search {
    entity: String,
    query: String,
    #[ts(optional)]
    limit: Option<u32>,
}

#[tauri::command]
pub async fn search(handle: AppHandle, args: Search) -> Res<Vec<Row>> {
    let reader = handle.state::<App>().reader.lock().unwrap_or_else(|p| p.into_inner()).search(
        &args.entity,
        &args.query,
        args.limit.unwrap_or(100) as usize,
    )?;
    Ok(rows(reader))
}

#[tauri::command]
pub async fn record(handle: AppHandle, args: RecordId) -> Res<Row> {
    let app = handle.state::<App>();
    let reader = app.reader.lock().unwrap_or_else(|p| p.into_inner());
    Ok(Row(reader.get(&args.entity, &args.id)?))
}

/// Records of `entity` whose `field` equals `value` (a customer's contacts, an order's lines).
#[derive(Deserialize, ts_rs::TS)]
pub struct Related {
    entity: String,
    field: String,
    value: String,
}

#[tauri::command]
pub async fn related(handle: AppHandle, args: Related) -> Res<Vec<Row>> {
    let app = handle.state::<App>();
    let found = app.reader.lock().unwrap_or_else(|p| p.into_inner()).list(&args.entity, &[(args.field, args.value)])?;
    Ok(rows(found))
}

/// Creates (no `id`) or updates a record from form values given as text.
#[derive(Deserialize, ts_rs::TS)]
pub struct Save {
    entity: String,
    id: Option<String>,
    fields: BTreeMap<String, String>,
}

#[tauri::command]
pub async fn save(handle: AppHandle, args: Save) -> Res<Row> {
    let pairs: Vec<(String, String)> = args.fields.into_iter().collect();
    let saved = {
        let app = handle.state::<App>();
        let mut engine = app.engine.lock().await;
        let values = engine.parse_sets(&args.entity, &pairs)?;
        match args.id {
            Some(id) => {
                engine.update(&args.entity, &id, values)?;
                engine.get(&args.entity, &id)?
            }
            None => engine.create(&args.entity, values)?,
        }
    };
    with_background(&handle, |bg| bg.local_change());
    Ok(Row(saved))
}

/// Deletes a record (an order line taken off an order); it syncs like any edit.
#[tauri::command]
pub async fn delete_record(handle: AppHandle, args: RecordId) -> Res<()> {
    handle.state::<App>().engine.lock().await.delete(&args.entity, &args.id)?;
    with_background(&handle, |bg| bg.local_change());
    Ok(())
}

/// Which orders: by status (default: waiting for review; `all`), rep and order date. Empty
/// values from the UI's inputs mean "any".
#[derive(Deserialize, ts_rs::TS)]
pub struct OrderFilter {
    status: Option<String>,
    rep: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

impl From<OrderFilter> for ReviewFilter {
    fn from(f: OrderFilter) -> Self {
        let given = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        ReviewFilter { status: given(f.status), rep: given(f.rep), from: given(f.from), to: given(f.to) }
    }
}

/// The team's orders, newest first.
#[tauri::command]
pub async fn review_queue(handle: AppHandle, args: OrderFilter) -> Res<Vec<ReviewItem>> {
    let app = handle.state::<App>();
    let reader = app.reader.lock().unwrap_or_else(|p| p.into_inner());
    Ok(reader.review_queue(&args.into())?)
}

/// The manager's dashboard, from the local store (works offline).
#[tauri::command]
pub async fn dashboard(handle: AppHandle) -> Res<Dashboard> {
    let app = handle.state::<App>();
    let reader = app.reader.lock().unwrap_or_else(|p| p.into_inner());
    Ok(reader.dashboard(&reader.pricing_day())?)
}

/// Approves or rejects the selected orders with one comment.
#[derive(Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct ReviewMany {
    order_ids: Vec<String>,
    approve: bool,
    comment: Option<String>,
}

#[tauri::command]
pub async fn review_many(handle: AppHandle, args: ReviewMany) -> Res<BulkReview> {
    let done = handle.state::<App>().engine.lock().await.review_many(
        &args.order_ids,
        args.approve,
        args.comment.as_deref(),
    )?;
    with_background(&handle, |bg| bg.local_change());
    Ok(done)
}

/// Writes the filtered order list as CSV into the Downloads folder; returns where.
#[tauri::command]
pub async fn export_orders(handle: AppHandle, args: OrderFilter) -> Res<String> {
    let (csv, today) = {
        let app = handle.state::<App>();
        let reader = app.reader.lock().unwrap_or_else(|p| p.into_inner());
        (reader.orders_csv(&args.into())?, reader.pricing_day())
    };
    let path = free_download(&handle, "fieldsync-orders", &today, "csv")?;
    std::fs::write(&path, csv).map_err(|e| {
        let folder = path.parent().unwrap_or(&path);
        UiError::new(
            "internal",
            format!("The file could not be saved in {}: {e}. Check there is space and try again.", folder.display()),
        )
    })?;
    Ok(path.display().to_string())
}

/// Saves a zip for the support desk into the Downloads folder and returns where: the
/// sync status, the last syncs' outcomes, app and OS versions and the app's log files,
/// never a password, the session token or the user's records
/// (`fieldsync_client::diagnostics`).
#[tauri::command]
pub async fn export_diagnostics(handle: AppHandle) -> Res<String> {
    let app = handle.state::<App>();
    // Gathered under the reader's lock, written without it: screens keep reading.
    let (diagnostics, today) = {
        let reader = app.reader.lock().unwrap_or_else(|p| p.into_inner());
        (reader.diagnostics("Fieldsync desktop", env!("CARGO_PKG_VERSION"))?, reader.pricing_day())
    };
    let path = free_download(&handle, "fieldsync-diagnostics", &today, "zip")?;
    diagnostics.write(&path, &app.logs)?;
    Ok(path.display().to_string())
}

/// `stem-DAY.ext` in the Downloads folder (else the home folder), or `stem-DAY-2.ext`...
/// when that is taken.
fn free_download(handle: &AppHandle, stem: &str, day: &str, ext: &str) -> Res<std::path::PathBuf> {
    let folder = handle
        .path()
        .download_dir()
        .or_else(|_| handle.path().home_dir())
        .map_err(|_| UiError::new("internal", "There is no Downloads folder to save the file in."))?;
    Ok((1..)
        .map(|n| match n {
            1 => folder.join(format!("{stem}-{day}.{ext}")),
            n => folder.join(format!("{stem}-{day}-{n}.{ext}")),
        })
        .find(|p| !p.exists())
        .expect("some name is free"))
}

/// Approves or rejects one order; rejecting needs a comment.
#[derive(Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    order_id: String,
    approve: bool,
    comment: Option<String>,
}

#[tauri::command]
pub async fn review(handle: AppHandle, args: Review) -> Res<()> {
    handle.state::<App>().engine.lock().await.review(&args.order_id, args.approve, args.comment.as_deref())?;
    with_background(&handle, |bg| bg.local_change());
    Ok(())
}

#[tauri::command]
pub async fn conflicts(handle: AppHandle) -> Res<Vec<ConflictEntry>> {
    let app = handle.state::<App>();
    let reader = app.reader.lock().unwrap_or_else(|p| p.into_inner());
    Ok(reader.conflicts()?)
}

#[tauri::command]
pub async fn attention(handle: AppHandle) -> Res<Vec<AttentionItem>> {
    let app = handle.state::<App>();
    let reader = app.reader.lock().unwrap_or_else(|p| p.into_inner());
    Ok(reader.attention()?)
}

/// Sends a refused change again with `fixes` (field name to the value as typed).
#[derive(Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Resend {
    mutation_id: String,
    fixes: BTreeMap<String, String>,
}

#[tauri::command]
pub async fn resend(handle: AppHandle, args: Resend) -> Res<()> {
    {
        let app = handle.state::<App>();
        let mut engine = app.engine.lock().await;
        let item = engine.store().attention_item(&args.mutation_id)?;
        let pairs: Vec<(String, String)> = args.fixes.into_iter().collect();
        let fixes = engine.parse_sets(&item.entity, &pairs)?;
        engine.resend(&args.mutation_id, fixes)?;
    }
    with_background(&handle, |bg| bg.local_change());
    Ok(())
}

/// "Update prices and resubmit" for an order refused at yesterday's prices.
#[tauri::command]
pub async fn resend_at_current_prices(handle: AppHandle, args: MutationId) -> Res<()> {
    handle.state::<App>().engine.lock().await.resend_at_current_prices(&args.mutation_id, Default::default())?;
    with_background(&handle, |bg| bg.local_change());
    Ok(())
}

/// "Restore my value": brings back what a conflict overwrote (or a record a delete took).
#[tauri::command]
pub async fn restore_conflict(handle: AppHandle, args: ConflictId) -> Res<()> {
    handle.state::<App>().engine.lock().await.restore_conflict(&args.conflict_id)?;
    with_background(&handle, |bg| bg.local_change());
    Ok(())
}

#[tauri::command]
pub async fn discard(handle: AppHandle, args: MutationId) -> Res<()> {
    handle.state::<App>().engine.lock().await.discard(&args.mutation_id)?;
    Ok(())
}

/// How many orders and visits the customer card lists.
const CARD_ROWS: usize = 10;

#[tauri::command]
pub async fn customer_card(handle: AppHandle, args: CustomerId) -> Res<CustomerCard> {
    let app = handle.state::<App>();
    let reader = app.reader.lock().unwrap_or_else(|p| p.into_inner());
    Ok(reader.customer_card(&args.id, CARD_ROWS)?)
}

/// Products for an order of `customer_id` matching `query`, at most `limit` (default 20).
#[derive(Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct PickerQuery {
    customer_id: String,
    query: String,
    #[ts(optional)]
    limit: Option<u32>,
}

/// Products for an order, with the customer's price today and the stock available.
#[tauri::command]
pub async fn picker_products(handle: AppHandle, args: PickerQuery) -> Res<Vec<PickerProduct>> {
    let app = handle.state::<App>();
    let reader = app.reader.lock().unwrap_or_else(|p| p.into_inner());
    Ok(reader.picker_products(&args.customer_id, &args.query, args.limit.unwrap_or(20) as usize)?)
}

/// What a contact link opens.
#[derive(Deserialize, ts_rs::TS, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    Phone,
    Email,
}

#[derive(Deserialize, ts_rs::TS)]
pub struct Link {
    kind: LinkKind,
    value: String,
}

/// Calls a phone number or writes an e-mail with the computer's own apps.
#[tauri::command]
pub async fn open_link(handle: AppHandle, args: Link) -> Res<()> {
    use tauri_plugin_opener::OpenerExt;
    let url = contact_url(args.kind, &args.value).ok_or_else(|| {
        let what = match args.kind {
            LinkKind::Phone => "phone number",
            LinkKind::Email => "e-mail address",
        };
        UiError::new(
            "bad_input",
            format!(
                "“{}” does not look like a {what} that can be opened; check it in the customer's details.",
                args.value
            ),
        )
    })?;
    handle
        .opener()
        .open_url(url, None::<&str>)
        .map_err(|e| UiError::new("internal", format!("This computer has no app to open it ({e}); copy it instead.")))
}

/// `tel:` or `mailto:` for a phone number or an address, or `None` when the value is not
/// one (nothing but a phone number or an address may reach the system's opener).
fn contact_url(kind: LinkKind, value: &str) -> Option<String> {
    let value = value.trim();
    match kind {
        LinkKind::Phone => {
            let number: String = value.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.')).collect();
            let digits = number.strip_prefix('+').unwrap_or(&number);
            (digits.len() >= 3 && digits.chars().all(|c| c.is_ascii_digit())).then(|| format!("tel:{number}"))
        }
        LinkKind::Email => {
            let ok = value.split_once('@').is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
                && value.chars().all(|c| c.is_ascii_alphanumeric() || "@.-_+".contains(c));
            ok.then(|| format!("mailto:{value}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{contact_url, LinkKind};

    #[test]
    fn only_phone_numbers_and_addresses_become_links() {
        assert_eq!(contact_url(LinkKind::Phone, "+47 22 33-44 55").as_deref(), Some("tel:+4722334455"));
        assert_eq!(contact_url(LinkKind::Email, "ola@fjord.example").as_deref(), Some("mailto:ola@fjord.example"));
        for (kind, bad) in [
            (LinkKind::Phone, "call me"),
            (LinkKind::Phone, "+"),
            (LinkKind::Email, "ola@localhost"),
            (LinkKind::Email, "a@b.c?subject=x"),
            (LinkKind::Email, "file:///etc/passwd"),
            (LinkKind::Email, "https://x.example"),
        ] {
            assert_eq!(contact_url(kind, bad), None, "{bad}");
        }
        // Anything else is not a kind at all: it does not reach the command.
        assert!(serde_json::from_str::<super::Link>(r#"{"kind": "web", "value": "https://x.example"}"#).is_err());
    }
}
