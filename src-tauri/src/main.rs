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
    // stderr, and a rotating log file beside the profiles once Tauri says where they are.
    let (log, flush) = fieldsync_client::diagnostics::init_logging("info");
    if let Err(e) = shell::run(log, flush) {
        eprintln!("error: Fieldsync could not start: {e}");
        std::process::exit(1);
    }
}
