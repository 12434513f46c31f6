//! What a support desk asks for when a rep's syncs go wrong: the app's log files (a
//! size-bounded, rotating set in the profile) and one zip that gathers them with the
//! engine's status, the app and OS versions and the last syncs' outcomes.
//!
//! The zip never holds the session token, a password or record data: the status and the
//! sync log are counts, error codes and sentences; the logs are what `tracing` wrote (the
//! engine never logs a value or a secret) with anything token-like masked on the way in.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::error::{ClientError, Result};
use crate::Engine;

/// The folder of the CLI's profile (and of the desktop app's data) that holds the log files.
pub const LOG_DIR: &str = "logs";
/// The current log file; older ones are `fieldsync.log.1`, `.2`...
pub const LOG_FILE: &str = "fieldsync.log";
/// A log file is rotated when it reaches this size...
pub const LOG_FILE_BYTES: u64 = 1024 * 1024;
/// ...and this many files are kept, the current one included: at most 3 MB of logs.
pub const LOG_FILES: usize = 3;
/// Syncs kept in the profile's sync log, and shown in the diagnostics.
pub const KEEP_SYNCS: usize = 50;

/// How one sync went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncOutcome {
    /// When it ended (RFC 3339, UTC).
    pub at: String,
    /// `ok`, `offline` or `failed`.
    pub outcome: String,
    /// The error's code when it failed (`unauthorized`, `bad_input`...).
    pub code: Option<String>,
    /// The error in words when it did not succeed.
    pub message: Option<String>,
    pub pushed: i64,
    pub rejected: i64,
    pub pulled: i64,
    pub conflicts: i64,
}

impl SyncOutcome {
    pub(crate) fn of(outcome: &Result<crate::SyncReport>) -> SyncOutcome {
        let mut entry = SyncOutcome {
            at: String::new(),
            outcome: "ok".into(),
            code: None,
            message: None,
            pushed: 0,
            rejected: 0,
            pulled: 0,
            conflicts: 0,
        };
        match outcome {
            Ok(report) => {
                let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
                (entry.pushed, entry.rejected) = (n(report.pushed), n(report.rejected));
                (entry.pulled, entry.conflicts) = (n(report.pulled), n(report.conflicts));
            }
            Err(e) => {
                entry.outcome = if matches!(e, ClientError::Unavailable(_)) { "offline" } else { "failed" }.into();
                entry.code = Some(e.failure_code().to_string());
                entry.message = Some(e.to_string().chars().take(fieldsync_protocol::wire::MAX_REPORT_TEXT).collect());
            }
        }
        entry
    }
}

/// The `n`th newest log file's name: `fieldsync.log`, `fieldsync.log.1`...
fn log_file_name(n: usize) -> String {
    match n {
        0 => LOG_FILE.to_string(),
        n => format!("{LOG_FILE}.{n}"),
    }
}

/// A log file in the profile that rotates by size (`LOG_FILE_BYTES`, `LOG_FILES`), for
/// `tracing_appender::non_blocking`. A line is never split across two files.
pub struct RotatingLog {
    dir: PathBuf,
    file: File,
    size: u64,
}

impl RotatingLog {
    /// Opens (appending) `LOG_FILE` in `dir`, made readable by its owner only.
    pub fn open(dir: &Path) -> io::Result<RotatingLog> {
        let dir = dir.to_path_buf();
        fieldsync_sqlkit::private_dir(&dir)?;
        let file = OpenOptions::new().create(true).append(true).open(dir.join(LOG_FILE))?;
        let size = file.metadata()?.len();
        Ok(RotatingLog { dir, file, size })
    }

    fn numbered(&self, n: usize) -> PathBuf {
        self.dir.join(log_file_name(n))
    }

    fn rotate(&mut self) -> io::Result<()> {
        for n in (0..LOG_FILES - 1).rev() {
            let from = self.numbered(n);
            if from.exists() {
                std::fs::rename(&from, self.numbered(n + 1))?;
            }
        }
        self.file = OpenOptions::new().create(true).append(true).open(self.numbered(0))?;
        self.size = 0;
        Ok(())
    }
}

impl Write for RotatingLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.size > 0 && self.size + buf.len() as u64 > LOG_FILE_BYTES {
            self.rotate()?;
        }
        let masked = mask_bearer(&String::from_utf8_lossy(buf));
        self.file.write_all(masked.as_bytes())?;
        self.size += masked.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Bytes of log lines kept in memory until [`LogFile::open`] names the directory.
const EARLY_LOG_BYTES: usize = 256 * 1024;

/// The log file the logging writes to, opened when its directory is known (the desktop
/// learns it only once Tauri has started): lines logged before wait in memory.
#[derive(Clone)]
pub struct LogFile(Arc<Mutex<Sink>>);

enum Sink {
    Waiting(Vec<u8>),
    Open(RotatingLog),
}

impl LogFile {
    fn new() -> LogFile {
        LogFile(Arc::new(Mutex::new(Sink::Waiting(Vec::new()))))
    }

    /// Starts writing to the [`RotatingLog`] in `dir`, with what was logged so far.
    pub fn open(&self, dir: &Path) -> io::Result<()> {
        let mut log = RotatingLog::open(dir)?;
        let mut sink = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Sink::Waiting(early) = &*sink {
            log.write_all(early)?;
        }
        *sink = Sink::Open(log);
        Ok(())
    }
}

impl Write for LogFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut *self.0.lock().unwrap_or_else(|p| p.into_inner()) {
            Sink::Open(log) => log.write(buf),
            Sink::Waiting(early) => {
                if early.len() + buf.len() <= EARLY_LOG_BYTES {
                    early.extend_from_slice(buf);
                }
                Ok(buf.len())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut *self.0.lock().unwrap_or_else(|p| p.into_inner()) {
            Sink::Open(log) => log.flush(),
            Sink::Waiting(_) => Ok(()),
        }
    }
}

/// Logs to stderr (at `FIELDSYNC_LOG`, else `stderr_level`) and to the returned
/// [`LogFile`] (at `FIELDSYNC_LOG`, else `info`), which writes once it is opened. Keep the
/// guard for the life of the program: dropping it flushes the file.
pub fn init_logging(stderr_level: &str) -> (LogFile, tracing_appender::non_blocking::WorkerGuard) {
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::EnvFilter;
    let filter = |default: &str| EnvFilter::try_from_env("FIELDSYNC_LOG").unwrap_or_else(|_| default.into());
    let stderr = tracing_subscriber::fmt::layer().with_writer(io::stderr).with_filter(filter(stderr_level));
    let file = LogFile::new();
    let (writer, guard) = tracing_appender::non_blocking(file.clone());
    let to_file = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(writer)
        .with_filter(filter("info,hyper=warn,hyper_util=warn,reqwest=warn,rustls=warn,tao=warn,wry=warn"));
    tracing_subscriber::registry().with(stderr).with(to_file).init();
    (file, guard)
}

/// `Bearer <anything>` becomes `Bearer [redacted]`.
fn mask_bearer(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("Bearer ") {
        let (before, after) = rest.split_at(at + "Bearer ".len());
        out.push_str(before);
        let secret = after.find(|c: char| c.is_whitespace() || c == '"').unwrap_or(after.len());
        if secret > 0 {
            out.push_str("[redacted]");
        }
        rest = &after[secret..];
    }
    out.push_str(rest);
    out
}

/// This computer, in the words a support desk needs.
#[derive(Serialize)]
struct About<'a> {
    app: &'a str,
    app_version: &'a str,
    engine_version: &'static str,
    os: String,
    kernel: Option<String>,
    arch: &'static str,
    computer: Option<String>,
    created_at: String,
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")).map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_string())
}

/// What the zip says about itself.
const README: &str = "Fieldsync diagnostics\n\
\n\
about.json    the app and its version, the operating system, this computer's name\n\
status.json   the sync state: pending changes, changes needing attention, last sync,\n\
              clock offset, server address and user name\n\
syncs.json    how the last syncs went (newest first): counts and errors, no data\n\
logs/         the app's log files, newest first\n\
\n\
It holds no password, no session token and no customer, product or order data.\n";

/// What goes into the diagnostics zip, gathered from the engine ([`Engine::diagnostics`]);
/// [`Diagnostics::write`] adds the log files and writes it, without the engine.
pub struct Diagnostics {
    files: Vec<(String, String)>,
    /// Masked wherever they appear: the session token, the proxy's password.
    secrets: Vec<String>,
}

impl Engine {
    /// Records how a sync went in the profile's sync log (for [`Engine::diagnostics`]).
    /// Best effort: a sync is not failed for want of its log entry.
    pub(crate) fn log_sync(&self, outcome: &Result<crate::SyncReport>) {
        if let Err(e) = self.store.log_sync(&SyncOutcome::of(outcome), self.clock.now_ms(), KEEP_SYNCS) {
            tracing::warn!("the sync log missed a sync: {e}");
        }
    }

    /// The last syncs' outcomes, newest first (at most `KEEP_SYNCS`).
    pub fn recent_syncs(&self) -> Result<Vec<SyncOutcome>> {
        self.store.recent_syncs()
    }

    /// Gathers `about.json`, `status.json` and `syncs.json`. `app` names the program
    /// ("Fieldsync desktop") and `app_version` its version.
    pub fn diagnostics(&self, app: &str, app_version: &str) -> Result<Diagnostics> {
        let token = self.tokens.load()?;
        let about = About {
            app,
            app_version,
            engine_version: env!("CARGO_PKG_VERSION"),
            os: os_name(),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|k| k.trim().to_string()),
            arch: std::env::consts::ARCH,
            computer: whoami::hostname().ok(),
            created_at: fieldsync_protocol::time::rfc3339_ms(self.clock.now_ms()),
        };
        let mut status = serde_json::to_value(self.status()?).map_err(|e| ClientError::Internal(e.to_string()))?;
        status["role"] = self.store.meta("role")?.into();
        status["client_id"] = self.store.meta("client_id")?.into();
        status["signed_in"] = token.is_some().into();
        fn pretty<T: Serialize>(value: &T) -> String {
            serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
        }
        let proxy = crate::config::SystemConfig::load_or_default().proxy;
        let proxy_password = proxy.as_deref().and_then(crate::config::url_password).map(str::to_string);
        Ok(Diagnostics {
            files: vec![
                ("README.txt".into(), README.into()),
                ("about.json".into(), pretty(&about)),
                ("status.json".into(), pretty(&status)),
                ("syncs.json".into(), pretty(&self.recent_syncs()?)),
            ],
            secrets: token.into_iter().chain(proxy_password).filter(|s| !s.is_empty()).collect(),
        })
    }
}

impl Diagnostics {
    /// Writes the zip to `to`, which must not exist yet, with the log files in `logs` (see
    /// [`RotatingLog`]) added and every secret masked.
    pub fn write(mut self, to: &Path, logs: &Path) -> Result<()> {
        let cannot = |e: &dyn std::fmt::Display| {
            ClientError::BadInput(format!("The diagnostics could not be saved as {}: {e}.", to.display()))
        };
        for n in 0..LOG_FILES {
            let name = log_file_name(n);
            match std::fs::read(logs.join(&name)) {
                Ok(bytes) => {
                    self.files.push((format!("{LOG_DIR}/{name}"), String::from_utf8_lossy(&bytes).into_owned()))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(cannot(&e)),
            }
        }
        let mask = |text: &str| -> String {
            self.secrets.iter().fold(mask_bearer(text), |text, secret| text.replace(secret.as_str(), "[redacted]"))
        };

        // Written beside the target and renamed into place: a half-written zip never
        // carries the name the user was told.
        let dir = to.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if to.exists() {
            return Err(ClientError::BadInput(format!("{} already exists; choose another file name.", to.display())));
        }
        let tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| cannot(&e))?;
        let mut zip = zip::ZipWriter::new(tmp.as_file());
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, text) in &self.files {
            zip.start_file(name.as_str(), options).map_err(|e| cannot(&e))?;
            zip.write_all(mask(text).as_bytes()).map_err(|e| cannot(&e))?;
        }
        zip.finish().map_err(|e| cannot(&e))?;
        tmp.as_file().sync_all().map_err(|e| cannot(&e))?;
        tmp.persist_noclobber(to).map_err(|e| cannot(&e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_masked() {
        assert_eq!(mask_bearer("auth: Bearer abc.def-123 ok"), "auth: Bearer [redacted] ok");
        assert_eq!(mask_bearer("\"Bearer xyz\" and Bearer q"), "\"Bearer [redacted]\" and Bearer [redacted]");
        assert_eq!(mask_bearer("no secret"), "no secret");
    }

    #[test]
    fn the_log_rotates_by_size_and_keeps_a_bounded_number_of_files() {
        let profile = tempfile::tempdir().unwrap();
        let logs = profile.path().join(LOG_DIR);
        let mut log = RotatingLog::open(&logs).unwrap();
        let line = format!("{}\n", "x".repeat(999));
        let lines = (LOG_FILE_BYTES as usize / line.len() + 1) * (LOG_FILES + 2);
        for _ in 0..lines {
            log.write_all(line.as_bytes()).unwrap();
        }
        log.flush().unwrap();
        let mut names: Vec<String> = std::fs::read_dir(profile.path().join(LOG_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["fieldsync.log", "fieldsync.log.1", "fieldsync.log.2"]);
        for name in &names {
            let text = std::fs::read_to_string(profile.path().join(LOG_DIR).join(name)).unwrap();
            assert!(text.len() as u64 <= LOG_FILE_BYTES, "{name} holds {} bytes", text.len());
            assert!(text.lines().all(|l| l.len() == 999), "{name} holds a split line");
        }
        // Reopening appends to the current file instead of starting it over.
        let before = std::fs::metadata(profile.path().join(LOG_DIR).join(LOG_FILE)).unwrap().len();
        let mut again = RotatingLog::open(&logs).unwrap();
        again.write_all(b"after restart\n").unwrap();
        let after = std::fs::metadata(profile.path().join(LOG_DIR).join(LOG_FILE)).unwrap().len();
        assert_eq!(after, before + 14);
    }
}
