//! Tauri commands: thin adapters from the UI to the client engine. Reads use the reader
//! connection; writes use the engine and nudge the background task to sync.

use fieldsync_client::profiles::ProfileSummary;
use fieldsync_client::schedule::SyncState;
use fieldsync_client::{
    BulkReview, ClientError, ConflictEntry, CustomerCard, Dashboard, Object, PickerProduct, ReviewFilter, ReviewItem,
    Status,
};
use fieldsync_protocol::wire::UserInfo;
use serde::Serialize;
use tauri::{AppHandle, State};

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

/// Calls `$then!` with every command the UI may invoke: `shell.rs` registers them, and the
/// TypeScript bindings and the capabilities file are checked against the same list.
macro_rules! all_commands {
    ($then:ident) => {
        $then!(
            app_info,
            sign_in,
            sign_out,
            sync_now,
            set_paused,
            sync_status,
            search,
            record,
            related,
            save,
            delete_record,
            review_queue,
            review,
            conflicts,
            attention,
            resend,
            resend_at_current_prices,
            discard,
            restore_conflict,
            dashboard,
            review_many,
            export_orders,
            waiting_changes,
            customer_card,
            picker_products,
            open_link
        )
    };
}
pub(crate) use all_commands;

#[cfg(test)]
macro_rules! names {
    ($($c:ident),*) => { &[$(stringify!($c)),*] };
}

/// The command names, as the UI spells them (checked by `bindings.rs`).
#[cfg(test)]
pub const NAMES: &[&str] = all_commands!(names);

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
pub async fn app_info(app: State<'_, App>) -> Res<AppInfo> {
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

#[tauri::command]
pub async fn sign_in(
    handle: AppHandle,
    app: State<'_, App>,
    server: String,
    user: String,
    password: String,
) -> Res<UserInfo> {
    let server = match (&app.config.server, app.config.lock_server) {
        (Some(locked), true) => locked.clone(),
        _ => server.trim().to_string(),
    };
    if server.is_empty() || user.trim().is_empty() {
        return Err(UiError::new("bad_input", "Enter the server address and your user name."));
    }
    let user = user.trim();
    let (dir, created) = app.profiles.dir_for(&server, user)?;
    let current = app.reader.lock().unwrap_or_else(|p| p.into_inner()).store().dir().to_path_buf();
    if dir == current {
        let info = app.engine.lock().await.login(&server, user, &password).await?;
        start_background(&handle);
        return Ok(info);
    }
    // Another person's profile: sign in there first, so a wrong password changes nothing.
    let mut engine = open_engine(&dir)?;
    let info = match engine.login(&server, user, &password).await {
        Ok(info) => info,
        Err(e) => {
            drop(engine);
            if created {
                let _ = std::fs::remove_dir_all(&dir);
            }
            return Err(e.into());
        }
    };
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
    Ok(info)
}

/// The other people whose changes wait on this computer for them to sign in again.
#[tauri::command]
pub async fn waiting_changes(app: State<'_, App>) -> Res<Vec<ProfileSummary>> {
    Ok(app.profiles.list()?.into_iter().filter(|p| p.pending + p.needs_attention > 0).collect())
}

#[tauri::command]
pub async fn sign_out(app: State<'_, App>) -> Res<()> {
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

#[tauri::command]
pub async fn set_paused(handle: AppHandle, paused: bool) -> Res<()> {
    with_background(&handle, |bg| if paused { bg.pause() } else { bg.resume() });
    Ok(())
}

#[derive(Serialize, ts_rs::TS)]
pub struct SyncStatus {
    state: SyncState,
    summary: String,
    status: Status,
}

#[tauri::command]
pub async fn sync_status(app: State<'_, App>) -> Res<SyncStatus> {
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

#[tauri::command]
pub async fn search(app: State<'_, App>, entity: String, query: String, limit: Option<usize>) -> Res<Vec<Object>> {
    Ok(app.reader.lock().unwrap_or_else(|p| p.into_inner()).search(&entity, &query, limit.unwrap_or(100))?)
}

#[tauri::command]
pub async fn record(app: State<'_, App>, entity: String, id: String) -> Res<Object> {
    Ok(app.reader.lock().unwrap_or_else(|p| p.into_inner()).get(&entity, &id)?)
}

/// Records of `entity` whose `field` equals `value` (a customer's contacts, an order's lines).
#[tauri::command]
pub async fn related(app: State<'_, App>, entity: String, field: String, value: String) -> Res<Vec<Object>> {
    Ok(app.reader.lock().unwrap_or_else(|p| p.into_inner()).list(&entity, &[(field, value)])?)
}

/// Creates (no `id`) or updates a record from form values given as text.
#[tauri::command]
pub async fn save(
    handle: AppHandle,
    app: State<'_, App>,
    entity: String,
    id: Option<String>,
    fields: std::collections::BTreeMap<String, String>,
) -> Res<Object> {
    let pairs: Vec<(String, String)> = fields.into_iter().collect();
    let saved = {
        let mut engine = app.engine.lock().await;
        let values = engine.parse_sets(&entity, &pairs)?;
        match id {
            Some(id) => {
                engine.update(&entity, &id, values)?;
                engine.get(&entity, &id)?
            }
            None => engine.create(&entity, values)?,
        }
    };
    with_background(&handle, |bg| bg.local_change());
    Ok(saved)
}

/// Deletes a record (an order line taken off an order); it syncs like any edit.
#[tauri::command]
pub async fn delete_record(handle: AppHandle, app: State<'_, App>, entity: String, id: String) -> Res<()> {
    app.engine.lock().await.delete(&entity, &id)?;
    with_background(&handle, |bg| bg.local_change());
    Ok(())
}

/// The team's orders, filtered by status (default: waiting for review), rep and order date.
#[tauri::command]
pub async fn review_queue(
    app: State<'_, App>,
    status: Option<String>,
    rep: Option<String>,
    from: Option<String>,
    to: Option<String>,
) -> Res<Vec<ReviewItem>> {
    let filter = filter(status, rep, from, to);
    Ok(app.reader.lock().unwrap_or_else(|p| p.into_inner()).review_queue(&filter)?)
}

/// Empty filter values from the UI's inputs mean "any".
fn filter(status: Option<String>, rep: Option<String>, from: Option<String>, to: Option<String>) -> ReviewFilter {
    let given = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    ReviewFilter { status: given(status), rep: given(rep), from: given(from), to: given(to) }
}

/// The manager's dashboard, from the local store (works offline).
#[tauri::command]
pub async fn dashboard(app: State<'_, App>) -> Res<Dashboard> {
    let reader = app.reader.lock().unwrap_or_else(|p| p.into_inner());
    Ok(reader.dashboard(&reader.pricing_day())?)
}

/// Approves or rejects the selected orders with one comment.
#[tauri::command]
pub async fn review_many(
    handle: AppHandle,
    app: State<'_, App>,
    order_ids: Vec<String>,
    approve: bool,
    comment: Option<String>,
) -> Res<BulkReview> {
    let done = app.engine.lock().await.review_many(&order_ids, approve, comment.as_deref())?;
    with_background(&handle, |bg| bg.local_change());
    Ok(done)
}

/// Writes the filtered order list as CSV into the Downloads folder; returns where.
#[tauri::command]
pub async fn export_orders(
    handle: AppHandle,
    app: State<'_, App>,
    status: Option<String>,
    rep: Option<String>,
    from: Option<String>,
    to: Option<String>,
) -> Res<String> {
    use tauri::Manager;
    let (csv, today) = {
        let reader = app.reader.lock().unwrap_or_else(|p| p.into_inner());
        (reader.orders_csv(&filter(status, rep, from, to))?, reader.pricing_day())
    };
    let folder = handle
        .path()
        .download_dir()
        .or_else(|_| handle.path().home_dir())
        .map_err(|_| UiError::new("internal", "There is no Downloads folder to save the file in."))?;
    let path = (1..)
        .map(|n| match n {
            1 => folder.join(format!("fieldsync-orders-{today}.csv")),
            n => folder.join(format!("fieldsync-orders-{today}-{n}.csv")),
        })
        .find(|p| !p.exists())
        .expect("some name is free");
    std::fs::write(&path, csv).map_err(|e| {
        UiError::new(
            "internal",
            format!("The file could not be saved in {}: {e}. Check there is space and try again.", folder.display()),
        )
    })?;
    Ok(path.display().to_string())
}

#[tauri::command]
pub async fn review(
    handle: AppHandle,
    app: State<'_, App>,
    order_id: String,
    approve: bool,
    comment: Option<String>,
) -> Res<()> {
    app.engine.lock().await.review(&order_id, approve, comment.as_deref())?;
    with_background(&handle, |bg| bg.local_change());
    Ok(())
}

#[tauri::command]
pub async fn conflicts(app: State<'_, App>) -> Res<Vec<ConflictEntry>> {
    Ok(app.reader.lock().unwrap_or_else(|p| p.into_inner()).conflicts()?)
}

#[tauri::command]
pub async fn attention(app: State<'_, App>) -> Res<Vec<fieldsync_client::AttentionItem>> {
    Ok(app.reader.lock().unwrap_or_else(|p| p.into_inner()).attention()?)
}

#[tauri::command]
pub async fn resend(
    handle: AppHandle,
    app: State<'_, App>,
    mutation_id: String,
    fixes: std::collections::BTreeMap<String, String>,
) -> Res<()> {
    {
        let mut engine = app.engine.lock().await;
        let item = engine.store().attention_item(&mutation_id)?;
        let pairs: Vec<(String, String)> = fixes.into_iter().collect();
        let fixes = engine.parse_sets(&item.entity, &pairs)?;
        engine.resend(&mutation_id, fixes)?;
    }
    with_background(&handle, |bg| bg.local_change());
    Ok(())
}

/// "Update prices and resubmit" for an order refused at yesterday's prices.
#[tauri::command]
pub async fn resend_at_current_prices(handle: AppHandle, app: State<'_, App>, mutation_id: String) -> Res<()> {
    app.engine.lock().await.resend_at_current_prices(&mutation_id, Default::default())?;
    with_background(&handle, |bg| bg.local_change());
    Ok(())
}

/// "Restore my value": brings back what a conflict overwrote (or a record a delete took).
#[tauri::command]
pub async fn restore_conflict(handle: AppHandle, app: State<'_, App>, conflict_id: String) -> Res<()> {
    app.engine.lock().await.restore_conflict(&conflict_id)?;
    with_background(&handle, |bg| bg.local_change());
    Ok(())
}

#[tauri::command]
pub async fn discard(app: State<'_, App>, mutation_id: String) -> Res<()> {
    app.engine.lock().await.discard(&mutation_id)?;
    Ok(())
}

/// How many orders and visits the customer card lists.
const CARD_ROWS: usize = 10;

#[tauri::command]
pub async fn customer_card(app: State<'_, App>, id: String) -> Res<CustomerCard> {
    Ok(app.reader.lock().unwrap_or_else(|p| p.into_inner()).customer_card(&id, CARD_ROWS)?)
}

/// Products for an order of `customer_id`, with its price today and the stock available.
#[tauri::command]
pub async fn picker_products(
    app: State<'_, App>,
    customer_id: String,
    query: String,
    limit: Option<usize>,
) -> Res<Vec<PickerProduct>> {
    let reader = app.reader.lock().unwrap_or_else(|p| p.into_inner());
    Ok(reader.picker_products(&customer_id, &query, limit.unwrap_or(20))?)
}

/// Calls a phone number or writes an e-mail with the computer's own apps.
#[tauri::command]
pub async fn open_link(handle: AppHandle, kind: String, value: String) -> Res<()> {
    use tauri_plugin_opener::OpenerExt;
    let url = contact_url(&kind, &value).ok_or_else(|| {
        UiError::new(
            "bad_input",
            format!("“{value}” does not look like a {kind} that can be opened; check it in the customer's details."),
        )
    })?;
    handle
        .opener()
        .open_url(url, None::<&str>)
        .map_err(|e| UiError::new("internal", format!("This computer has no app to open it ({e}); copy it instead.")))
}

/// `tel:` or `mailto:` for a phone number or an address, or `None` when the value is not
/// one (nothing but a phone number or an address may reach the system's opener).
fn contact_url(kind: &str, value: &str) -> Option<String> {
    let value = value.trim();
    match kind {
        "phone" => {
            let number: String = value.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.')).collect();
            let digits = number.strip_prefix('+').unwrap_or(&number);
            (digits.len() >= 3 && digits.chars().all(|c| c.is_ascii_digit())).then(|| format!("tel:{number}"))
        }
        "email" => {
            let ok = value.split_once('@').is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
                && value.chars().all(|c| c.is_ascii_alphanumeric() || "@.-_+".contains(c));
            ok.then(|| format!("mailto:{value}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::contact_url;

    #[test]
    fn only_phone_numbers_and_addresses_become_links() {
        assert_eq!(contact_url("phone", "+47 22 33-44 55").as_deref(), Some("tel:+4722334455"));
        assert_eq!(contact_url("email", "ola@fjord.example").as_deref(), Some("mailto:ola@fjord.example"));
        for (kind, bad) in [
            ("phone", "call me"),
            ("phone", "+"),
            ("email", "ola@localhost"),
            ("email", "a@b.c?subject=x"),
            ("email", "file:///etc/passwd"),
            ("web", "https://x.example"),
        ] {
            assert_eq!(contact_url(kind, bad), None, "{kind} {bad}");
        }
    }
}
