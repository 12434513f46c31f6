//! The server's one error type, grouped by who is at fault, mapped to HTTP once.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fieldsync_protocol::wire::{ApiError, ErrorBody};
use fieldsync_protocol::ErrorCode;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed or names things that do not exist (4xx).
    #[error("{message}")]
    BadInput {
        status: StatusCode,
        code: ErrorCode,
        message: String,
        field: Option<String>,
        mutation_id: Option<Uuid>,
        /// Where to start over (`history_changed`, `unknown_cursor`).
        cursor: Option<String>,
    },
    /// No valid session (401).
    #[error("{message}")]
    Unauthenticated { code: ErrorCode, message: String },
    /// Not now: too many attempts (429) or too busy (503); the response says when to retry.
    #[error("{message}")]
    Unavailable { status: StatusCode, code: ErrorCode, message: String, retry_after: std::time::Duration },
    /// A bug or a storage failure; details are logged, never sent (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn bad(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError::BadInput {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code,
            message: message.into(),
            field: None,
            mutation_id: None,
            cursor: None,
        }
    }

    pub fn with_status(mut self, s: StatusCode) -> Self {
        if let AppError::BadInput { status, .. } = &mut self {
            *status = s;
        }
        self
    }

    pub fn with_field(mut self, f: &str) -> Self {
        if let AppError::BadInput { field, .. } = &mut self {
            *field = Some(f.to_string());
        }
        self
    }

    pub fn with_mutation(mut self, id: Uuid) -> Self {
        if let AppError::BadInput { mutation_id, .. } = &mut self {
            *mutation_id = Some(id);
        }
        self
    }

    /// The cursor a client starts over from after this refusal.
    pub fn with_cursor(mut self, token: String) -> Self {
        if let AppError::BadInput { cursor, .. } = &mut self {
            *cursor = Some(token);
        }
        self
    }

    /// Whether the same request may succeed later without change.
    pub fn is_retryable(&self) -> bool {
        matches!(self, AppError::Internal(_) | AppError::Unavailable { .. })
    }
}

impl From<crate::sql::DbError> for AppError {
    fn from(e: crate::sql::DbError) -> Self {
        match e {
            crate::sql::DbError::Unavailable(why) => {
                tracing::warn!("database unavailable: {why}");
                AppError::Unavailable {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    code: ErrorCode::Busy,
                    message:
                        "The server cannot reach its database right now; your changes are kept, try again in a minute."
                            .into(),
                    retry_after: std::time::Duration::from_secs(5),
                }
            }
            e => AppError::Internal(format!("database: {e}")),
        }
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(e: tokio::task::JoinError) -> Self {
        AppError::Internal(format!("worker task: {e}"))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, error) = match self {
            AppError::BadInput { status, code, message, field, mutation_id, cursor } => {
                (status, ApiError { code: code.as_str().into(), message, field, mutation_id, cursor })
            }
            AppError::Unauthenticated { code, message } => (
                StatusCode::UNAUTHORIZED,
                ApiError { code: code.as_str().into(), message, field: None, mutation_id: None, cursor: None },
            ),
            AppError::Unavailable { status, code, message, retry_after } => {
                // Whole seconds, rounded up: a client that waits exactly this long succeeds.
                let secs = retry_after.as_millis().div_ceil(1000).max(1);
                let body = ErrorBody {
                    error: ApiError {
                        code: code.as_str().into(),
                        message,
                        field: None,
                        mutation_id: None,
                        cursor: None,
                    },
                };
                return (status, [(axum::http::header::RETRY_AFTER, secs.to_string())], axum::Json(body))
                    .into_response();
            }
            AppError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                let message = "The server hit an internal error; try again, and tell IT if it persists.".into();
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ApiError {
                        code: ErrorCode::Internal.as_str().into(),
                        message,
                        field: None,
                        mutation_id: None,
                        cursor: None,
                    },
                )
            }
        };
        (status, axum::Json(ErrorBody { error })).into_response()
    }
}
