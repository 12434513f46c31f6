//! The system-wide configuration IT deploys (`/etc/fieldsync/config.toml`, or the file
//! named by `FIELDSYNC_CONFIG`): the server address that pre-fills sign-in and can be
//! locked so users cannot change it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Server address shown on the sign-in screen.
    pub server: Option<String>,
    /// When true, the sign-in screen does not let users change the server address.
    #[serde(default)]
    pub lock_server: bool,
}

pub const SYSTEM_CONFIG: &str = "/etc/fieldsync/config.toml";

/// Reads the configuration. A missing file is no error; a broken one is reported.
pub fn load() -> Result<Config, String> {
    let path = std::env::var("FIELDSYNC_CONFIG").unwrap_or_else(|_| SYSTEM_CONFIG.to_string());
    let mut config = match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str::<Config>(&text).map_err(|e| format!("{path} is not valid: {e}"))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
        Err(e) => return Err(format!("cannot read {path}: {e}")),
    };
    if config.server.is_none() {
        config.server = std::env::var("FIELDSYNC_SERVER").ok();
    }
    Ok(config)
}
