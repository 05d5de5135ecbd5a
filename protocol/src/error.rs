//! The error object every surface returns (seed 004), and the JSON-RPC codes it maps to.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Machine-readable error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The body or params are not JSON.
    ParseError,
    /// The request is not a valid request (JSON-RPC envelope, missing body).
    InvalidRequest,
    /// No such method or route.
    MethodNotFound,
    /// A field is missing, of the wrong type or out of range; `details.field` names it.
    ValidationError,
    /// No token, or a wrong one.
    Unauthorized,
    /// Refused: foreign Origin or Host, or an action the session's state forbids.
    Forbidden,
    /// No session, command or patch with that id.
    NotFound,
    /// The request conflicts with the session's state (e.g. stopped, nothing to roll back).
    Conflict,
    /// The body is larger than allowed.
    PayloadTooLarge,
    /// A part the request needs is not configured in this daemon (proposer, preview, …).
    NotConfigured,
    /// A service devflow talked to for the request (a git remote, the GitHub API) refused or
    /// failed; the message says which and why, `details` carries its answer.
    UpstreamError,
    /// Something failed on devflow's side; the logs say more.
    Internal,
}

impl ErrorCode {
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::ParseError | ErrorCode::InvalidRequest | ErrorCode::ValidationError => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound | ErrorCode::MethodNotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::NotConfigured => 501,
            ErrorCode::UpstreamError => 502,
            ErrorCode::Internal => 500,
        }
    }

    /// JSON-RPC 2.0 code: the standard ones, then application codes from -32000 up.
    pub fn jsonrpc_code(self) -> i64 {
        match self {
            ErrorCode::ParseError => -32700,
            ErrorCode::InvalidRequest => -32600,
            ErrorCode::MethodNotFound => -32601,
            ErrorCode::ValidationError => -32602,
            ErrorCode::Internal => -32603,
            ErrorCode::NotFound => -32004,
            ErrorCode::Conflict => -32009,
            ErrorCode::Unauthorized => -32001,
            ErrorCode::Forbidden => -32003,
            ErrorCode::PayloadTooLarge => -32013,
            ErrorCode::NotConfigured => -32010,
            ErrorCode::UpstreamError => -32020,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ParseError => "PARSE_ERROR",
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::MethodNotFound => "METHOD_NOT_FOUND",
            ErrorCode::ValidationError => "VALIDATION_ERROR",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::NotConfigured => "NOT_CONFIGURED",
            ErrorCode::UpstreamError => "UPSTREAM_ERROR",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
pub struct ErrorDetails {
    pub field: Option<String>,
    pub value: Option<serde_json::Value>,
}

/// Seed 004's error response, the same on every surface (JSON-RPC puts it in `error.data`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct ApiError {
    pub error: ErrorCode,
    /// What was wrong and what to do, for a person.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub details: Option<ErrorDetails>,
    pub request_id: String,
    /// Unix seconds.
    #[ts(type = "number")]
    pub timestamp: i64,
}
