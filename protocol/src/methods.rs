//! The params and results of every API method. JSON-RPC params are the REST bodies plus the
//! ids of the REST path; the method names are in [`method`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{CommandStatus, Event, HistoryItem, Session, SessionSource, SettingsPatch, Target};

/// JSON-RPC method names (WebSocket `/rpc`; over LSP prefixed with `devflow/`).
pub mod method {
    pub const SESSION_CREATE: &str = "session/create";
    pub const SESSION_UPLOAD: &str = "session/upload";
    pub const SESSION_START: &str = "session/start";
    pub const SESSION_GET: &str = "session/get";
    pub const SESSION_LIST: &str = "session/list";
    pub const SESSION_HISTORY: &str = "session/history";
    pub const SESSION_SUBSCRIBE: &str = "session/subscribe";
    pub const SESSION_UNSUBSCRIBE: &str = "session/unsubscribe";
    pub const SESSION_LOGS: &str = "session/logs";
    pub const SESSION_ROLLBACK: &str = "session/rollback";
    pub const SESSION_PAUSE: &str = "session/pause";
    pub const SESSION_RESUME: &str = "session/resume";
    pub const SESSION_GET_SETTINGS: &str = "session/getSettings";
    pub const SESSION_UPDATE_SETTINGS: &str = "session/updateSettings";
    pub const SESSION_STOP: &str = "session/stop";
    pub const SESSION_DELETE: &str = "session/delete";
    pub const SESSION_PUBLISH: &str = "session/publish";
    pub const SESSION_EDITOR_URL: &str = "session/editorUrl";
    pub const COMMAND_SUBMIT: &str = "command/submit";
    pub const COMMAND_GET: &str = "command/get";
    pub const COMMAND_CANCEL: &str = "command/cancel";
    pub const PATCH_GET: &str = "patch/get";
    pub const PATCH_APPLY: &str = "patch/apply";
    pub const REFERENCE_SET: &str = "reference/set";
    pub const REFERENCE_GET: &str = "reference/get";
    pub const RESOURCE_READ: &str = "resource/read";
    /// The notification carrying an [`crate::Event`] (over LSP: `devflow/event`).
    pub const EVENT: &str = "event";

    /// Every request method, for dispatch tables and their tests.
    pub const ALL: &[&str] = &[
        SESSION_CREATE,
        SESSION_UPLOAD,
        SESSION_START,
        SESSION_GET,
        SESSION_LIST,
        SESSION_HISTORY,
        SESSION_SUBSCRIBE,
        SESSION_UNSUBSCRIBE,
        SESSION_LOGS,
        SESSION_ROLLBACK,
        SESSION_PAUSE,
        SESSION_RESUME,
        SESSION_GET_SETTINGS,
        SESSION_UPDATE_SETTINGS,
        SESSION_STOP,
        SESSION_DELETE,
        SESSION_PUBLISH,
        SESSION_EDITOR_URL,
        COMMAND_SUBMIT,
        COMMAND_GET,
        COMMAND_CANCEL,
        PATCH_GET,
        PATCH_APPLY,
        REFERENCE_SET,
        REFERENCE_GET,
        RESOURCE_READ,
    ];
}

/// `POST /sessions`, `session/create`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSessionParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub source: Option<SessionSource>,
    /// Idle minutes before the session is stopped and cleaned (default 30, at most 1440).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub ttl_minutes: Option<u32>,
    /// Seed 004's initial prompt: queued as the first command once the session exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub initial_prompt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct CreateSessionResult {
    /// Where to `PUT` the site zip (for `upload` sessions; `null` otherwise).
    pub upload_url: Option<String>,
    #[serde(flatten)]
    #[ts(flatten)]
    pub session: Session,
}

/// Params of methods that take only the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionParams {
    pub session_id: String,
}

/// `session/upload`: ingest a zip that is already on the daemon's disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadParams {
    pub session_id: String,
    pub zip_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct UploadResult {
    pub files: u64,
    #[ts(type = "number")]
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct SessionList {
    pub sessions: Vec<Session>,
}

/// `POST /sessions/{id}/commands`, `command/submit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubmitCommandParams {
    pub session_id: String,
    /// 1..=5000 characters.
    pub instruction: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub idempotency_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub target: Option<Target>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct SubmitCommandResult {
    pub command_id: String,
    pub status: CommandStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommandParams {
    pub session_id: String,
    pub command_id: String,
}

/// `GET /sessions/{id}/history?limit=&cursor=`, `session/history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HistoryParams {
    pub session_id: String,
    /// 1..=100, default 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub limit: Option<u32>,
    /// Opaque; from the previous page's `nextCursor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub cursor: Option<String>,
}

/// A page of history, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPage {
    pub items: Vec<HistoryItem>,
    pub next_cursor: Option<String>,
}

/// `session/subscribe`: replays events after `afterSeq`, then streams `event` notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscribeParams {
    pub session_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub after_seq: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct SubscribeResult {
    pub session_id: String,
    /// The newest seq at the moment of subscribing; events up to it are replayed first.
    #[ts(type = "number")]
    pub last_seq: u64,
}

/// `session/logs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogsParams {
    pub session_id: String,
    /// Only the last N lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub tail: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct LogsResult {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchParams {
    pub session_id: String,
    pub patch_id: String,
}

/// `POST /sessions/{id}/patches`, `patch/apply`: a person's own diff, run as a command.
/// Its fields keep the proposal's snake_case, beside the camelCase ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct ApplyPatchParams {
    #[serde(rename = "sessionId")]
    #[ts(rename = "sessionId")]
    pub session_id: String,
    pub unified_diff: String,
    /// Defaults to every file the diff names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub files_to_edit: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub reason: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "idempotencyKey"
    )]
    #[ts(optional, rename = "idempotencyKey")]
    pub idempotency_key: Option<String>,
}

/// `POST /sessions/{id}/rollback`, `session/rollback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RollbackParams {
    pub session_id: String,
    /// Default: the last applied patch. Rolling back an earlier patch also rolls back every
    /// patch applied after it, newest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub patch_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct RollbackResult {
    /// Patches rolled back, newest first.
    pub rolled_back: Vec<String>,
    pub files: Vec<String>,
    /// The last applied patch after the rollback.
    pub last_applied_patch_id: Option<String>,
}

/// `PATCH /sessions/{id}/settings`, `session/updateSettings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct UpdateSettingsParams {
    pub session_id: String,
    #[serde(flatten)]
    #[ts(flatten)]
    pub patch: SettingsPatch,
}

/// `reference/set`: tokens JSON inline, or a file (tokens JSON or zip) on the daemon's disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetReferenceParams {
    pub session_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub tokens: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub path: Option<String>,
}

/// The largest resource `resource/read` returns, in bytes (before base64).
pub const MAX_RESOURCE_BYTES: usize = 16 * 1024 * 1024;

/// `resource/read`: a picture or reference screen by the URL the daemon gave out for it
/// (`screenshots[].before/after/diff`, `screens[].url`), for hosts that cannot load the
/// daemon's HTTP URLs, such as an editor's webview over `devflow lsp`. A query string (the
/// browser's `?token=`) is ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReadResourceParams {
    pub url: String,
}

/// A resource's bytes, as the HTTP route serves them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct ResourceContent {
    /// `image/png`, `text/html`, … as the HTTP route's `Content-Type`.
    pub media_type: String,
    /// The bytes, standard base64 with padding; at most [`MAX_RESOURCE_BYTES`] before encoding.
    pub base64: String,
}

/// `POST /sessions/{id}/publish`, `session/publish`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublishParams {
    pub session_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub draft: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct PublishResult {
    #[ts(type = "number")]
    pub pr_number: u64,
    pub pr_url: String,
    pub branch: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct EditorUrl {
    pub editor_url: String,
    /// Unix seconds.
    #[ts(type = "number")]
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct DeleteResult {
    pub session_id: String,
    pub message: String,
}

/// The notification params of `event` (WebSocket) / `devflow/event` (LSP): the event itself.
pub type EventNotification = Event;
