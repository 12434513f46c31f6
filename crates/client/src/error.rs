//! The client engine's one error type, grouped by who is at fault.

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The caller asked for something invalid (unknown entity or field, bad value).
    #[error("{0}")]
    BadInput(String),
    /// The record or item asked for is not in the local store.
    #[error("{0}")]
    NotFound(String),
    /// No usable session: never signed in, or the server says it expired.
    #[error("{0}")]
    NotSignedIn(String),
    /// The server refused the request; `message` is its sentence for people.
    #[error("{message}")]
    Server {
        status: u16,
        code: String,
        message: String,
        mutation_id: Option<uuid::Uuid>,
        /// Where to start over, with `history_changed` and `unknown_cursor`.
        cursor: Option<String>,
    },
    /// The server could not be reached or answered garbage; try again later.
    #[error("{0}")]
    Unavailable(String),
    /// Local storage failed.
    #[error("local storage error: {0}")]
    Storage(#[from] rusqlite::Error),
    #[error("{0}")]
    Internal(String),
}

impl ClientError {
    /// The server's code for a refusal (`profile_copied`, `history_changed`, ...).
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Server { code, .. } => Some(code),
            _ => None,
        }
    }

    /// What kind of failure this is, in one word: the server's code for a refusal, else
    /// `offline`, `not_signed_in`, `bad_input`, `not_found` or `internal` (the sync log and
    /// the device report count failures by it).
    pub fn failure_code(&self) -> &str {
        match self {
            ClientError::Server { code, .. } => code,
            ClientError::Unavailable(_) => "offline",
            ClientError::NotSignedIn(_) => "not_signed_in",
            ClientError::BadInput(_) => "bad_input",
            ClientError::NotFound(_) => "not_found",
            _ => "internal",
        }
    }

    /// The server's code as one of the protocol's, when it is one (`None` for the client's
    /// own `redirected` and `http_error`, and for errors not from the server).
    pub fn error_code(&self) -> Option<fieldsync_protocol::ErrorCode> {
        self.code().and_then(fieldsync_protocol::ErrorCode::parse)
    }

    /// Whether the same operation may succeed later without change.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ClientError::Unavailable(_))
            || matches!(self, ClientError::Server { status, .. } if *status >= 500)
    }
}

impl From<fieldsync_sqlkit::MigrationError> for ClientError {
    fn from(e: fieldsync_sqlkit::MigrationError) -> Self {
        ClientError::Internal(format!("cannot prepare the local database: {e}"))
    }
}

impl From<serde_json::Error> for ClientError {
    fn from(e: serde_json::Error) -> Self {
        ClientError::Internal(format!("corrupt local data: {e}"))
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;
