//! The one place where a failure becomes the seed-004 error object the user sees.

use devflow_protocol::{ApiError, ErrorCode, ErrorDetails};
use devflow_store::StoreError;

/// A failure of a facade call, with enough to build the [`ApiError`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ServiceError {
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
    pub value: Option<serde_json::Value>,
}

impl ServiceError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ServiceError {
            code,
            message: message.into(),
            field: None,
            value: None,
        }
    }

    pub fn invalid(
        field: &str,
        value: impl Into<serde_json::Value>,
        message: impl Into<String>,
    ) -> Self {
        ServiceError {
            code: ErrorCode::ValidationError,
            message: message.into(),
            field: Some(field.to_string()),
            value: Some(value.into()),
        }
    }

    pub fn not_found(field: &str, value: &str, what: &str) -> Self {
        ServiceError {
            code: ErrorCode::NotFound,
            message: format!("no {what} with id {value:?}"),
            field: Some(field.to_string()),
            value: Some(value.into()),
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        ServiceError::new(ErrorCode::Conflict, message)
    }

    pub fn not_configured(message: impl Into<String>) -> Self {
        ServiceError::new(ErrorCode::NotConfigured, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ServiceError::new(ErrorCode::Internal, message)
    }

    /// The wire object, stamped with a fresh request id and the current time.
    pub fn to_api_error(&self) -> ApiError {
        let details = if self.field.is_some() || self.value.is_some() {
            Some(ErrorDetails {
                field: self.field.clone(),
                value: self.value.clone(),
            })
        } else {
            None
        };
        ApiError {
            error: self.code,
            message: self.message.clone(),
            details,
            request_id: uuid::Uuid::new_v4().to_string(),
            timestamp: crate::now_millis() / 1000,
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::InvalidCursor => {
                ServiceError::invalid("cursor", serde_json::Value::Null, error.to_string())
            }
            other => ServiceError::internal(format!("storage failed: {other}")),
        }
    }
}

/// Turns a serde error on params into a validation error naming the field: the path where
/// decoding failed, or the field a `missing field`/`unknown field` message names.
pub fn params_error(error: &serde_path_to_error::Error<serde_json::Error>) -> ServiceError {
    let text = error.inner().to_string();
    let path = error.path().to_string();
    let named = text
        .split('`')
        .nth(1)
        .filter(|_| text.starts_with("missing field") || text.starts_with("unknown field"))
        .map(str::to_string);
    let field = match (path.as_str(), named) {
        (".", Some(name)) => Some(name),
        (".", None) => None,
        (path, Some(name)) if path == name || path.ends_with(&format!(".{name}")) => {
            Some(path.to_string())
        }
        (path, Some(name)) => Some(format!("{path}.{name}")),
        (path, None) => Some(path.to_string()),
    };
    let message = match &field {
        Some(field) => format!("invalid params: {field}: {text}"),
        None => format!("invalid params: {text}"),
    };
    ServiceError {
        code: ErrorCode::ValidationError,
        message,
        field,
        value: None,
    }
}
