//! Fieldsync desktop: a thin Tauri shell. It adapts the client engine (crates/client) to
//! Tauri commands and events, keeps the session token in the OS keyring, shows the sync
//! state in the tray and raises desktop notifications. No sync logic lives here.
//!
//! **Invariant:** every command returns `{code, message}` on error (see `UiError`).

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

#[cfg(test)]
mod bindings;
mod commands;
mod config;
mod secrets;
mod shell;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("FIELDSYNC_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = shell::run() {
        eprintln!("error: Fieldsync could not start: {e}");
        std::process::exit(1);
    }
}
