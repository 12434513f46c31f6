//! The system-wide configuration IT deploys: the client engine reads it (server address,
//! lock, trusted CA, plain-HTTP policy) for the desktop app and the CLI alike.

pub use fieldsync_client::config::SystemConfig as Config;

/// Reads the configuration. A missing file is no error; a broken one is reported.
pub fn load() -> Result<Config, String> {
    Config::load()
}
