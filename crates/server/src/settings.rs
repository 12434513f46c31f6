//! `fieldsync-server`'s settings file: TOML, read from `--config FILE` (or
//! `FIELDSYNC_CONFIG`), else from [`DEFAULT_PATH`] when that exists. Flags and `FIELDSYNC_*`
//! variables override what the file says; what neither says takes the defaults below.
//! `fieldsync-server config check` validates a file and `config print` shows the settings in
//! effect, secrets redacted. docs/OPERATIONS.md lists every key (a test keeps them in step).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where a packaged server keeps its settings.
pub const DEFAULT_PATH: &str = "/etc/fieldsync/server.toml";
/// The address `serve` listens on when nothing says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
/// The SQLite data directory when neither `data` nor `database` is given.
pub const DEFAULT_DATA: &str = "./fieldsync-data";
/// How long a sign-in stays valid.
pub const DEFAULT_SESSION_HOURS: u64 = 720;
/// The log filter when neither `log_level` nor `FIELDSYNC_LOG` says otherwise.
pub const DEFAULT_LOG_LEVEL: &str = "info";

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per line, for a log collector.
    Json,
}

/// The settings one layer gives (the file, or the flags and variables): `None` is "not said
/// here". Unknown keys are refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The address `serve` listens on.
    pub listen: Option<SocketAddr>,
    /// The directory of the embedded SQLite database.
    pub data: Option<PathBuf>,
    /// PostgreSQL instead of SQLite: `postgres://user:password@host:port/dbname`.
    pub database: Option<String>,
    /// How long a sign-in stays valid, in hours.
    pub session_hours: Option<u64>,
    /// A file holding the bearer token of the `/v1/admin` endpoints (off without it).
    pub admin_token_file: Option<PathBuf>,
    /// `text` or `json`.
    pub log_format: Option<LogFormat>,
    /// A tracing filter: `info`, `warn`, `fieldsync_server=debug,info`, ...
    pub log_level: Option<String>,
    /// Serve HTTPS: the certificate chain (PEM); needs `tls_key`.
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM); needs `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Also serve `/metrics`, without the admin token, on this address (internal network).
    pub metrics_listen: Option<SocketAddr>,
    /// Bounds on what clients may make the server spend (docs/SECURITY.md).
    #[serde(default, skip_serializing_if = "LimitSettings::is_empty")]
    pub limits: LimitSettings,
}

/// `[limits]`: each unset one keeps its default (docs/SECURITY.md). Also `serve`'s flags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Connections open at once; more are closed at once (also kept below `ulimit -n`).
    #[arg(long, env = "FIELDSYNC_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Seconds a connection may wait for, or take to send, a request's headers.
    #[arg(long, env = "FIELDSYNC_HEADER_TIMEOUT_SECS")]
    pub header_timeout_secs: Option<u64>,
    /// Sign-in attempts per account per login window.
    #[arg(long, env = "FIELDSYNC_LOGIN_PER_ACCOUNT")]
    pub login_per_account: Option<u32>,
    /// Sign-in attempts per client address per login window.
    #[arg(long, env = "FIELDSYNC_LOGIN_PER_ADDRESS")]
    pub login_per_address: Option<u32>,
    /// The login window, in seconds.
    #[arg(long, env = "FIELDSYNC_LOGIN_WINDOW_SECS")]
    pub login_window_secs: Option<u64>,
    /// Long polls (clients waiting for changes) held open at once, server-wide.
    #[arg(long, env = "FIELDSYNC_MAX_LONG_POLLS")]
    pub max_long_polls: Option<usize>,
}

impl LimitSettings {
    fn is_empty(&self) -> bool {
        self == &LimitSettings::default()
    }

    /// The limits in effect: these over the defaults.
    pub fn apply(&self, limits: &mut crate::Limits) {
        let secs = std::time::Duration::from_secs;
        let c = &mut limits.connections;
        c.max_connections = self.max_connections.unwrap_or(c.max_connections);
        c.header_timeout = self.header_timeout_secs.map_or(c.header_timeout, secs);
        let l = &mut limits.login;
        l.per_account = self.login_per_account.unwrap_or(l.per_account);
        l.per_address = self.login_per_address.unwrap_or(l.per_address);
        l.window = self.login_window_secs.map_or(l.window, secs);
        let w = &mut limits.long_polls;
        w.max_total = self.max_long_polls.unwrap_or(w.max_total);
    }
}

/// A settings file that cannot be used, in one sentence naming the file and the key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(String);

impl From<String> for SettingsError {
    fn from(sentence: String) -> Self {
        SettingsError(sentence)
    }
}

impl Settings {
    /// Reads and checks a settings file.
    pub fn read(path: &Path) -> Result<Settings, SettingsError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SettingsError(format!("cannot read the settings file {}: {e}", path.display())))?;
        Settings::parse(&text, path)
    }

    /// Parses settings from `text` (named `path` in errors) and checks them.
    pub fn parse(text: &str, path: &Path) -> Result<Settings, SettingsError> {
        let settings: Settings = toml::from_str(text).map_err(|e| SettingsError(describe(&e, text, path)))?;
        settings.check().map_err(|e| SettingsError(format!("{}: {e}", path.display())))?;
        Ok(settings)
    }

    /// The settings file to read: the one named (by flag or `FIELDSYNC_CONFIG`), else
    /// [`DEFAULT_PATH`] when it exists, else none.
    pub fn locate(named: Option<&Path>) -> Option<PathBuf> {
        match named {
            Some(path) => Some(path.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_PATH)).filter(|p| p.exists()),
        }
    }

    /// These settings with every key `over` says replaced by its value.
    pub fn overridden_by(mut self, over: Settings) -> Settings {
        macro_rules! take {
            ($($field:ident),*) => { $( if over.$field.is_some() { self.$field = over.$field; } )* };
        }
        take!(
            listen,
            data,
            database,
            session_hours,
            admin_token_file,
            log_format,
            log_level,
            tls_cert,
            tls_key,
            metrics_listen
        );
        let (mine, theirs) = (&mut self.limits, over.limits);
        macro_rules! take_limit {
            ($($field:ident),*) => { $( if theirs.$field.is_some() { mine.$field = theirs.$field; } )* };
        }
        take_limit!(
            max_connections,
            header_timeout_secs,
            login_per_account,
            login_per_address,
            login_window_secs,
            max_long_polls
        );
        self
    }

    /// Values no single key can be checked for by its type alone.
    pub fn check(&self) -> Result<(), String> {
        if self.session_hours == Some(0) {
            return Err("`session_hours` must be at least 1".into());
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err("`tls_cert` and `tls_key` go together: give both or neither".into());
        }
        if let Some(level) = &self.log_level {
            tracing_subscriber::EnvFilter::try_new(level).map_err(|e| {
                format!("`log_level` = \"{level}\" is not a log filter ({e}); try \"info\" or \"warn\"")
            })?;
        }
        if let Some(url) = &self.database {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://") || url.contains("host=")) {
                return Err(format!(
                    "`database` must be a PostgreSQL address (postgres://user:password@host:port/dbname), not \"{}\"",
                    crate::db::redact(url)
                ));
            }
        }
        let limits = &self.limits;
        for (key, value) in [
            ("max_connections", limits.max_connections.map(|v| v as u64)),
            ("header_timeout_secs", limits.header_timeout_secs),
            ("login_per_account", limits.login_per_account.map(u64::from)),
            ("login_per_address", limits.login_per_address.map(u64::from)),
            ("login_window_secs", limits.login_window_secs),
            ("max_long_polls", limits.max_long_polls.map(|v| v as u64)),
        ] {
            if value == Some(0) {
                return Err(format!("`limits.{key}` must be at least 1"));
            }
        }
        Ok(())
    }

    pub fn listen(&self) -> SocketAddr {
        self.listen.unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("a valid default address"))
    }

    pub fn data(&self) -> PathBuf {
        self.data.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DATA))
    }

    pub fn session_hours(&self) -> u64 {
        self.session_hours.unwrap_or(DEFAULT_SESSION_HOURS)
    }

    pub fn log_level(&self) -> &str {
        self.log_level.as_deref().unwrap_or(DEFAULT_LOG_LEVEL)
    }

    /// Every setting in effect, defaults filled in and secrets redacted, as TOML: what
    /// `config print` shows.
    pub fn effective_toml(&self) -> String {
        let mut limits = crate::Limits::default();
        self.limits.apply(&mut limits);
        let shown = Settings {
            listen: Some(self.listen()),
            data: Some(self.data()),
            database: self.database.as_deref().map(crate::db::redact),
            session_hours: Some(self.session_hours()),
            admin_token_file: self.admin_token_file.clone(),
            log_format: Some(self.log_format.unwrap_or_default()),
            log_level: Some(self.log_level().to_string()),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            metrics_listen: self.metrics_listen,
            limits: LimitSettings {
                max_connections: Some(limits.connections.max_connections),
                header_timeout_secs: Some(limits.connections.header_timeout.as_secs()),
                login_per_account: Some(limits.login.per_account),
                login_per_address: Some(limits.login.per_address),
                login_window_secs: Some(limits.login.window.as_secs()),
                max_long_polls: Some(limits.long_polls.max_total),
            },
        };
        let mut out = toml::to_string(&shown).unwrap_or_default();
        if self.database.is_some() {
            out.push_str("# data is not used: the database is PostgreSQL\n");
        }
        out
    }

    /// The names of every key a file may hold (`limits.` for the `[limits]` table).
    pub fn keys() -> Vec<String> {
        let all = Settings {
            listen: Some(DEFAULT_LISTEN.parse().expect("address")),
            data: Some(PathBuf::new()),
            database: Some(String::new()),
            session_hours: Some(1),
            admin_token_file: Some(PathBuf::new()),
            log_format: Some(LogFormat::Text),
            log_level: Some(String::new()),
            tls_cert: Some(PathBuf::new()),
            tls_key: Some(PathBuf::new()),
            metrics_listen: Some(DEFAULT_LISTEN.parse().expect("address")),
            limits: LimitSettings {
                max_connections: Some(1),
                header_timeout_secs: Some(1),
                login_per_account: Some(1),
                login_per_address: Some(1),
                login_window_secs: Some(1),
                max_long_polls: Some(1),
            },
        };
        let value = toml::Value::try_from(&all).expect("settings as TOML");
        let mut keys = Vec::new();
        for (key, v) in value.as_table().into_iter().flatten() {
            match v.as_table() {
                Some(table) => keys.extend(table.keys().map(|k| format!("{key}.{k}"))),
                None => keys.push(key.clone()),
            }
        }
        keys
    }
}

/// A TOML error as one sentence: the file, the line, the key and what is wrong with it.
fn describe(e: &toml::de::Error, text: &str, path: &Path) -> String {
    let message = e.message().trim_end_matches('.').replace('\n', " ");
    let Some(span) = e.span() else { return format!("{}: {message}", path.display()) };
    let line_no = text[..span.start.min(text.len())].matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or_default();
    // The key of the line the error points at (a bad value), with its table, unless the
    // message names it already (an unknown key).
    let key = line.split_once('=').map(|(k, _)| k.trim().trim_matches('"')).filter(|k| !k.is_empty());
    let table = text.lines().take(line_no - 1).filter_map(|l| l.trim().strip_prefix('[')?.strip_suffix(']')).last();
    match key {
        Some(key) if !message.contains(&format!("`{key}`")) => {
            let key = table.map_or_else(|| key.to_string(), |t| format!("{t}.{key}"));
            format!("{} line {line_no}: `{key}`: {message}", path.display())
        }
        _ => format!("{} line {line_no}: {message}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, String> {
        Settings::parse(text, Path::new("/etc/fieldsync/server.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn a_file_sets_what_it_says_and_flags_override_it() {
        let file = parse(
            "listen = \"0.0.0.0:9000\"\nsession_hours = 8\nlog_format = \"json\"\n[limits]\nmax_long_polls = 500\n",
        )
        .unwrap();
        assert_eq!(file.listen(), "0.0.0.0:9000".parse().unwrap());
        assert_eq!((file.session_hours(), file.log_format), (8, Some(LogFormat::Json)));
        let flags = Settings { session_hours: Some(24), ..Default::default() };
        let merged = file.overridden_by(flags);
        assert_eq!(merged.session_hours(), 24, "the flag wins");
        assert_eq!(merged.listen(), "0.0.0.0:9000".parse().unwrap(), "the file's value stays where no flag is given");
        assert_eq!(merged.limits.max_long_polls, Some(500));
        assert_eq!(merged.data(), PathBuf::from(DEFAULT_DATA), "the default where nobody says");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_one_sentence_naming_the_key_and_the_file() {
        let unknown = parse("listen = \"0.0.0.0:9000\"\nsesion_hours = 8\n").unwrap_err();
        assert!(unknown.starts_with("/etc/fieldsync/server.toml line 2:"), "{unknown}");
        assert!(unknown.contains("sesion_hours") && !unknown.contains('\n'), "{unknown}");
        let bad = parse("listen = \"everywhere\"\n").unwrap_err();
        assert!(bad.contains("`listen`") && bad.contains("line 1"), "{bad}");
        let nested = parse("[limits]\nmax_long_polls = -3\n").unwrap_err();
        assert!(nested.contains("max_long_polls") && nested.contains("line 2"), "{nested}");
        let unknown_limit = parse("[limits]\nmax_polls = 3\n").unwrap_err();
        assert!(unknown_limit.contains("max_polls"), "{unknown_limit}");
        for (text, key) in [
            ("session_hours = 0", "session_hours"),
            ("tls_cert = \"/etc/ssl/a.pem\"", "tls_key"),
            ("log_level = \"loud[\"", "log_level"),
            ("database = \"mysql://x\"", "database"),
            ("[limits]\nmax_connections = 0", "limits.max_connections"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(key) && e.contains("server.toml"), "{text}: {e}");
        }
    }

    #[test]
    fn print_shows_every_setting_in_effect_and_no_password() {
        let s = Settings { database: Some("postgres://fs:s3cret@db:5432/fieldsync".into()), ..Default::default() };
        let shown = s.effective_toml();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("postgres://fs:***@db:5432/fieldsync"), "{shown}");
        for key in ["listen", "session_hours", "log_format", "max_long_polls", "login_window_secs"] {
            assert!(shown.contains(key), "{key} missing from {shown}");
        }
        // What is printed is itself a valid settings file.
        assert!(parse(&shown).is_ok(), "{shown}");
        assert_eq!(
            crate::db::redact("host=db user=fs password=s3cret dbname=x"),
            "host=db user=fs password=*** dbname=x"
        );
    }

    #[test]
    fn the_packaged_settings_file_is_valid_and_the_operations_guide_names_every_key() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let packaged = root.join("packaging/server.toml");
        let text = std::fs::read_to_string(&packaged).unwrap();
        Settings::parse(&text, &packaged).unwrap();
        // Its commented defaults are the real ones.
        let uncommented: String = text
            .lines()
            .map(|l| l.strip_prefix("# ").filter(|l| l.contains(" = ")).unwrap_or(l))
            .map(|l| format!("{l}\n"))
            .collect();
        let shown: toml::Value = toml::from_str(&uncommented).unwrap();
        let defaults: toml::Value = toml::from_str(&Settings::default().effective_toml()).unwrap();
        for key in ["listen", "session_hours", "log_format", "log_level"] {
            assert_eq!(shown[key], defaults[key], "packaging/server.toml shows another default for `{key}`");
        }
        for (key, value) in defaults["limits"].as_table().unwrap() {
            assert_eq!(&shown["limits"][key], value, "packaging/server.toml shows another default for `limits.{key}`");
        }
        let guide = std::fs::read_to_string(root.join("docs/OPERATIONS.md")).unwrap();
        for key in Settings::keys() {
            let name = key.rsplit('.').next().unwrap();
            assert!(guide.contains(&format!("`{name}`")), "docs/OPERATIONS.md does not describe `{key}`");
            assert!(text.contains(name), "packaging/server.toml does not mention `{key}`");
        }
    }
}
