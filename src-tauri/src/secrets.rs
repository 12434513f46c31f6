//! The session token in the OS keyring (Secret Service on Linux), never in a file.

use fieldsync_client::error::{ClientError, Result};
use fieldsync_client::TokenStore;

pub struct KeyringTokenStore {
    entry: keyring::Entry,
}

impl KeyringTokenStore {
    /// One keyring entry per profile directory, so two profiles never share a session.
    pub fn for_profile(profile: &std::path::Path) -> Result<Self> {
        let account = format!("session:{}", profile.display());
        let entry = keyring::Entry::new("fieldsync", &account).map_err(unavailable)?;
        Ok(KeyringTokenStore { entry })
    }
}

fn unavailable(e: keyring::Error) -> ClientError {
    ClientError::Internal(format!(
        "The system keyring is not available ({e}); unlock your keyring or sign in to the desktop session again."
    ))
}

impl TokenStore for KeyringTokenStore {
    fn load(&self) -> Result<Option<String>> {
        match self.entry.get_password() {
            Ok(t) => Ok(Some(t)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn save(&self, token: &str) -> Result<()> {
        self.entry.set_password(token).map_err(unavailable)
    }

    fn clear(&self) -> Result<()> {
        match self.entry.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}
