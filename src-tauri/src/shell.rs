//! App setup: the engine on the user's profile, the background sync task, the tray and
//! desktop notifications.

use std::path::PathBuf;
use std::sync::Arc;

use fieldsync_client::background::{Background, Event};
use fieldsync_client::profiles::Profiles;
use fieldsync_client::schedule::{Policy, SyncState};
use fieldsync_client::{Engine, EngineOptions};
use tauri::image::Image;
use tauri::menu::{Menu, MenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager};
use tokio::sync::Mutex;

use crate::config::Config;
use crate::secrets::KeyringTokenStore;

/// `tauri::generate_handler!` over the command names (see `commands::all_commands`).
macro_rules! handler {
    ($($c:ident($($args:ty)?) -> $out:ty),*) => { tauri::generate_handler![$(crate::commands::$c),*] };
}

/// What every command can reach.
pub struct App {
    pub config: Config,
    /// One profile (local store) per server and user; `engine` and `reader` are on the
    /// current one, and signing in as someone else switches both.
    pub profiles: Profiles,
    /// Writes and syncs (the background task holds it only while syncing).
    pub engine: Arc<Mutex<Engine>>,
    /// Reads, on a second connection to the same store, so screens stay responsive
    /// while a sync writes.
    pub reader: std::sync::Mutex<Engine>,
    pub background: std::sync::Mutex<Option<Background>>,
    /// The folder of the app's rotating log files (`LOG_DIR` beside the profiles).
    pub logs: PathBuf,
}

pub fn open_engine(profile: &std::path::Path) -> fieldsync_client::Result<Engine> {
    let tokens = KeyringTokenStore::for_profile(profile)?;
    let opts = EngineOptions { tokens: Some(Arc::new(tokens)), ..Default::default() };
    Engine::open_with(profile, opts)
}

/// The profiles directory: `FIELDSYNC_PROFILES`, or `profiles` in the app's local data.
/// The single `profile` of versions before profiles were per user moves in, its session
/// with it, so its pending changes wait for their owner like any other profile's.
fn open_profiles(app: &tauri::App) -> Result<Profiles, Box<dyn std::error::Error>> {
    if let Some(root) = std::env::var_os("FIELDSYNC_PROFILES") {
        return Ok(Profiles::at(&PathBuf::from(root))?);
    }
    let data = app.path().app_local_data_dir()?;
    let profiles = Profiles::at(&data.join("profiles"))?;
    let old = data.join("profile");
    if old.join("fieldsync.db").is_file() {
        let moved = profiles.root().join("from-previous-version");
        std::fs::rename(&old, &moved)?;
        let token = KeyringTokenStore::for_profile(&old)?;
        if let Some(t) = fieldsync_client::TokenStore::load(&token)? {
            fieldsync_client::TokenStore::save(&KeyringTokenStore::for_profile(&moved)?, &t)?;
            fieldsync_client::TokenStore::clear(&token)?;
        }
        profiles.set_current(&moved)?;
    }
    Ok(profiles)
}

/// Runs the app until it quits. `log` is opened beside the profiles once Tauri says where
/// they are; `flush` is dropped on exit, which writes the last log lines (Tauri ends the
/// process without returning here).
pub fn run(
    log: fieldsync_client::diagnostics::LogFile,
    flush: tracing_appender::non_blocking::WorkerGuard,
) -> Result<(), String> {
    let mut flush = Some(flush);
    let config = crate::config::load()?;
    tauri::Builder::default()
        .plugin(tauri_plugin_opener::init())
        .invoke_handler(crate::commands::all_commands!(handler))
        .setup(move |app| {
            app.add_capability(crate::commands::grant())?;
            let profiles = open_profiles(app)?;
            let logs = profiles.root().join(fieldsync_client::diagnostics::LOG_DIR);
            if let Err(e) = log.open(&logs) {
                tracing::warn!(error = %e, "no log file");
            }
            tracing::info!(version = env!("CARGO_PKG_VERSION"), "Fieldsync desktop started");
            // Before anyone signed in, a blank profile; the first sign-in replaces it.
            let profile = profiles.current().unwrap_or_else(|| profiles.root().join("signed-out"));
            let engine = open_engine(&profile)?;
            let reader = open_engine(&profile)?;
            let signed_in = engine.signed_in().unwrap_or(false);
            app.manage(App {
                config: config.clone(),
                profiles,
                engine: Arc::new(Mutex::new(engine)),
                reader: std::sync::Mutex::new(reader),
                background: std::sync::Mutex::new(None),
                logs,
            });
            build_tray(app.handle())?;
            if signed_in {
                start_background(app.handle());
            }
            Ok(())
        })
        .build(tauri::generate_context!())
        .map_err(|e| e.to_string())?
        .run(move |_, event| {
            if let tauri::RunEvent::Exit = event {
                drop(flush.take());
            }
        });
    Ok(())
}

/// Starts (or restarts) the background sync task and wires its state and events to the
/// window, the tray and notifications.
pub fn start_background(handle: &AppHandle) {
    let app = handle.state::<App>();
    let bg = Background::start(app.engine.clone(), Policy::default());
    let mut states = bg.state();
    let mut events = bg.events();
    *app.background.lock().unwrap_or_else(|p| p.into_inner()) = Some(bg);
    let h = handle.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            let state = states.borrow_and_update().clone();
            show_state(&h, &state);
            if states.changed().await.is_err() {
                return;
            }
        }
    });
    let h = handle.clone();
    tauri::async_runtime::spawn(async move {
        while let Ok(event) = events.recv().await {
            crate::commands::SYNC_EVENT.emit(&h, &event);
            notify(&event);
        }
    });
}

fn build_tray(handle: &AppHandle) -> tauri::Result<()> {
    let sync = MenuItem::with_id(handle, "sync", "Sync now", true, None::<&str>)?;
    let open = MenuItem::with_id(handle, "open", "Open Fieldsync", true, None::<&str>)?;
    let pause = MenuItem::with_id(handle, "pause", "Pause sync", true, None::<&str>)?;
    let quit = MenuItem::with_id(handle, "quit", "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(handle, &[&sync, &open, &pause, &quit])?;
    handle.manage(PauseItem(pause));
    TrayIconBuilder::with_id("sync")
        .icon(tray_icon("offline"))
        .tooltip("Fieldsync: not signed in")
        .menu(&menu)
        .on_menu_event(move |app, event| match event.id.as_ref() {
            "sync" => with_background(app, |bg| bg.sync_now()),
            "open" => {
                if let Some(w) = app.get_webview_window("main") {
                    let _ = w.show();
                    let _ = w.set_focus();
                }
            }
            // Toggles the background task's own state, which the sync panel's button
            // also changes; `show_state` relabels this item from that state.
            "pause" => with_background(app, |bg| {
                if matches!(*bg.state().borrow(), SyncState::Paused) {
                    bg.resume()
                } else {
                    bg.pause()
                }
            }),
            "quit" => app.exit(0),
            _ => {}
        })
        .build(handle)?;
    Ok(())
}

pub fn with_background(handle: &AppHandle, f: impl FnOnce(&Background)) {
    let app = handle.state::<App>();
    let guard = app.background.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(bg) = guard.as_ref() {
        f(bg);
    }
}

fn tray_icon(name: &str) -> Image<'static> {
    let bytes: &'static [u8] = match name {
        "syncing" => include_bytes!("../icons/tray-syncing.png"),
        "ok" => include_bytes!("../icons/tray-ok.png"),
        "error" => include_bytes!("../icons/tray-error.png"),
        "paused" => include_bytes!("../icons/tray-paused.png"),
        _ => include_bytes!("../icons/tray-offline.png"),
    };
    Image::from_bytes(bytes).expect("bundled tray icons are valid PNG")
}

/// One short line for the tray tooltip and the sync panel.
pub fn describe(state: &SyncState) -> (&'static str, String) {
    match state {
        SyncState::Idle => ("offline", "Fieldsync: not syncing yet".into()),
        SyncState::Offline { .. } => {
            ("offline", "Fieldsync: offline, changes are kept and sync when back online".into())
        }
        SyncState::Syncing { percent, rows } => ("syncing", format!("Fieldsync: syncing, {rows} records ({percent}%)")),
        SyncState::UpToDate { .. } => ("ok", "Fieldsync: up to date".into()),
        SyncState::Failed { error, .. } => ("error", format!("Fieldsync: sync failed: {error}")),
        // The server's sentence: expired, or signed out by the administrator.
        SyncState::SignInNeeded { reason } => ("error", format!("Fieldsync: {reason}")),
        SyncState::Paused => ("paused", "Fieldsync: sync paused".into()),
    }
}

/// The header's one line about syncing: "up to date" only when nothing waits for the user.
pub fn summary(state: &SyncState, needs_attention: i64) -> String {
    match (state, needs_attention) {
        (SyncState::UpToDate { .. }, 1) => "Fieldsync: synced; 1 change needs your attention".into(),
        (SyncState::UpToDate { .. }, n) if n > 1 => format!("Fieldsync: synced; {n} changes need your attention"),
        _ => describe(state).1,
    }
}

/// The tray's "Pause sync" / "Resume sync" item.
struct PauseItem(MenuItem<tauri::Wry>);

fn show_state(handle: &AppHandle, state: &SyncState) {
    let (icon, tip) = describe(state);
    if let Some(tray) = handle.tray_by_id("sync") {
        let _ = tray.set_icon(Some(tray_icon(icon)));
        let _ = tray.set_tooltip(Some(&tip));
    }
    if let Some(item) = handle.try_state::<PauseItem>() {
        let _ = item.0.set_text(if matches!(state, SyncState::Paused) { "Resume sync" } else { "Pause sync" });
    }
    crate::commands::SYNC_STATE.emit(handle, state);
}

/// `text` as a sentence that ends with one full stop.
fn sentence(text: &str) -> String {
    let text = text.trim().trim_end_matches('.');
    if text.is_empty() {
        String::new()
    } else {
        format!("{text}.")
    }
}

/// The title and text of the notification for `event`.
fn notification(event: &Event) -> (String, String) {
    match event {
        Event::Rejected { count, latest } => (
            match count {
                1 => "A change needs your attention".to_string(),
                n => format!("{n} changes need your attention"),
            },
            format!("{} Open Fieldsync to fix and resend it, or discard it.", sentence(latest))
                .trim_start()
                .to_string(),
        ),
        Event::Overwritten { count } => (
            "Your edit was overwritten".to_string(),
            format!(
                "{count} value(s) you changed were replaced by a later edit; open the conflict log to restore yours."
            ),
        ),
        Event::SignInExpired { reason } => ("Sign in again".to_string(), reason.clone()),
        Event::FirstSyncDone { rows } => {
            ("Fieldsync is ready".to_string(), format!("{rows} records downloaded; you can work offline now."))
        }
        Event::Notice { text } => ("Fieldsync".to_string(), text.clone()),
    }
}

/// A desktop notification for things that need the user; one per kind per sync.
fn notify(event: &Event) {
    let (summary, body) = notification(event);
    if let Err(e) = notify_rust::Notification::new().appname("Fieldsync").summary(&summary).body(&body).show() {
        tracing::warn!(error = %e, "cannot show a desktop notification");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_to_date_is_said_only_when_nothing_waits_for_the_user() {
        let synced = SyncState::UpToDate { last_ok_ms: 1 };
        assert_eq!(summary(&synced, 0), "Fieldsync: up to date");
        assert_eq!(summary(&synced, 1), "Fieldsync: synced; 1 change needs your attention");
        assert_eq!(summary(&synced, 3), "Fieldsync: synced; 3 changes need your attention");
        assert_eq!(summary(&SyncState::Paused, 3), "Fieldsync: sync paused");
    }

    #[test]
    fn a_rejection_notification_reads_as_sentences_without_ids() {
        let reason = "As a rep you may not change inventory levels.".to_string();
        let (title, body) = notification(&Event::Rejected { count: 1, latest: reason });
        assert_eq!(title, "A change needs your attention");
        assert_eq!(
            body,
            "As a rep you may not change inventory levels. Open Fieldsync to fix and resend it, or discard it."
        );
        let (title, body) = notification(&Event::Rejected { count: 3, latest: String::new() });
        assert_eq!(
            (title.as_str(), body.as_str()),
            ("3 changes need your attention", "Open Fieldsync to fix and resend it, or discard it.")
        );
    }
}
