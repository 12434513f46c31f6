//! Where the session token lives. The CLI keeps it in a file only its user can read; the
//! desktop app keeps it in the OS keyring (its own `TokenStore`), never in a file.

use std::path::PathBuf;

use crate::error::{ClientError, Result};

pub trait TokenStore: Send + Sync {
    fn load(&self) -> Result<Option<String>>;
    fn save(&self, token: &str) -> Result<()>;
    fn clear(&self) -> Result<()>;
}

/// `session-token` in the profile directory, mode 0600.
pub struct FileTokenStore {
    pub path: PathBuf,
}

impl FileTokenStore {
    /// The token file of a profile, its mode fixed to 0600 if an older version left it
    /// readable by others.
    pub fn at(profile: &std::path::Path) -> FileTokenStore {
        let path = profile.join("session-token");
        if let Err(e) = fieldsync_sqlkit::private_file(&path) {
            tracing::warn!(error = %e, "cannot restrict access to the session token file");
        }
        FileTokenStore { path }
    }
}

impl TokenStore for FileTokenStore {
    fn load(&self) -> Result<Option<String>> {
        match std::fs::read_to_string(&self.path) {
            Ok(t) => Ok(Some(t.trim().to_string()).filter(|t| !t.is_empty())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ClientError::Internal(format!("cannot read the session token: {e}"))),
        }
    }

    fn save(&self, token: &str) -> Result<()> {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let fail = |e: std::io::Error| ClientError::Internal(format!("cannot store the session token: {e}"));
        let mut file = opts.open(&self.path).map_err(fail)?;
        // `mode` applies only to a new file; an older one may have been readable by others.
        fieldsync_sqlkit::private_file(&self.path).map_err(fail)?;
        file.write_all(token.as_bytes()).map_err(fail)
    }

    fn clear(&self) -> Result<()> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ClientError::Internal(format!("cannot remove the session token: {e}"))),
        }
    }
}
