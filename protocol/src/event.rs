//! Events: the one-way stream of everything that happens to a session. `seq` starts at 1 and
//! has no gaps within a session; the same event carries the same `seq` on every transport.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{CommandStatus, DriftReport, HunkReport, SessionStatus, TokenUsage};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub session_id: String,
    #[ts(type = "number")]
    pub seq: u64,
    /// Unix milliseconds.
    #[ts(type = "number")]
    pub at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub command_id: Option<String>,
    #[serde(flatten)]
    #[ts(flatten)]
    pub body: EventBody,
}

/// The event's `type` and its `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(tag = "type", content = "data", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventBody {
    /// The preview answers at `previewUrl`.
    SessionReady {
        #[serde(rename = "previewUrl")]
        preview_url: String,
    },
    /// The session's status changed (`reason` says why, e.g. `expired`).
    SessionStatus {
        status: SessionStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        reason: Option<String>,
    },
    /// Pause or resume of the session's command queue.
    SessionPaused {
        paused: bool,
    },
    /// A command moved to `status`.
    CommandStatus {
        status: CommandStatus,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            rename = "errorSummary"
        )]
        #[ts(optional, rename = "errorSummary")]
        error_summary: Option<String>,
    },
    InferenceStarted {
        attempt: u32,
        proposer: String,
    },
    InferenceCompleted {
        attempt: u32,
        #[serde(rename = "filesToEdit")]
        #[ts(rename = "filesToEdit")]
        files_to_edit: Vec<String>,
        reason: String,
        confidence: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        usage: Option<TokenUsage>,
    },
    PatchApplyStarted {
        attempt: u32,
        files: Vec<String>,
    },
    PatchApplyCompleted {
        #[serde(rename = "patchId")]
        #[ts(rename = "patchId")]
        patch_id: String,
        files: Vec<String>,
        hunks: Vec<HunkReport>,
    },
    /// The preview shows a change; `cssOnly` changes are swapped in without a reload.
    PreviewUpdated {
        #[serde(default, skip_serializing_if = "Option::is_none", rename = "patchId")]
        #[ts(optional, rename = "patchId")]
        patch_id: Option<String>,
        files: Vec<String>,
        #[serde(rename = "cssOnly")]
        #[ts(rename = "cssOnly")]
        css_only: bool,
    },
    /// A patch attempt failed. `willRetry` = one re-inference follows; otherwise the files
    /// were restored (`rolledBack`).
    PatchFailed {
        summary: String,
        #[serde(rename = "rolledBack")]
        #[ts(rename = "rolledBack")]
        rolled_back: bool,
        #[serde(rename = "willRetry")]
        #[ts(rename = "willRetry")]
        will_retry: bool,
        #[serde(rename = "logsUrl")]
        #[ts(rename = "logsUrl")]
        logs_url: String,
    },
    /// A person rolled back an applied patch.
    RollbackCompleted {
        #[serde(rename = "patchId")]
        #[ts(rename = "patchId")]
        patch_id: String,
        files: Vec<String>,
    },
    SettingsUpdated {
        settings: crate::Settings,
    },
    ReferenceUpdated {
        #[serde(rename = "referenceId")]
        #[ts(rename = "referenceId")]
        reference_id: String,
    },
    /// A line of the session log worth showing in the timeline.
    Log {
        level: String,
        message: String,
    },
    /// A console error or uncaught exception relayed from the preview page.
    PreviewError {
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        source: Option<String>,
    },
    DriftReport {
        report: DriftReport,
        /// The page's similarity to the reference screen before and after the command's
        /// patch, when the reference has a screen for the page and a browser took screenshots.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        fidelity: Option<crate::ScreenFidelity>,
    },
}

impl EventBody {
    /// The wire name of the event type (`SESSION_READY`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            EventBody::SessionReady { .. } => "SESSION_READY",
            EventBody::SessionStatus { .. } => "SESSION_STATUS",
            EventBody::SessionPaused { .. } => "SESSION_PAUSED",
            EventBody::CommandStatus { .. } => "COMMAND_STATUS",
            EventBody::InferenceStarted { .. } => "INFERENCE_STARTED",
            EventBody::InferenceCompleted { .. } => "INFERENCE_COMPLETED",
            EventBody::PatchApplyStarted { .. } => "PATCH_APPLY_STARTED",
            EventBody::PatchApplyCompleted { .. } => "PATCH_APPLY_COMPLETED",
            EventBody::PreviewUpdated { .. } => "PREVIEW_UPDATED",
            EventBody::PatchFailed { .. } => "PATCH_FAILED",
            EventBody::RollbackCompleted { .. } => "ROLLBACK_COMPLETED",
            EventBody::SettingsUpdated { .. } => "SETTINGS_UPDATED",
            EventBody::ReferenceUpdated { .. } => "REFERENCE_UPDATED",
            EventBody::Log { .. } => "LOG",
            EventBody::PreviewError { .. } => "PREVIEW_ERROR",
            EventBody::DriftReport { .. } => "DRIFT_REPORT",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_serialises_with_type_and_data_beside_seq() {
        let event = Event {
            session_id: "s".into(),
            seq: 3,
            at: 1000,
            command_id: Some("c".into()),
            body: EventBody::CommandStatus {
                status: CommandStatus::Queued,
                error_summary: None,
            },
        };
        let json = serde_json::to_string(&event).unwrap();
        expect_test::expect![[r#"{"sessionId":"s","seq":3,"at":1000,"commandId":"c","type":"COMMAND_STATUS","data":{"status":"QUEUED"}}"#]]
            .assert_eq(&json);
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn type_name_matches_the_serialised_tag() {
        let body = EventBody::PatchFailed {
            summary: "x".into(),
            rolled_back: true,
            will_retry: false,
            logs_url: "/l".into(),
        };
        let value = serde_json::to_value(&body).unwrap();
        assert_eq!(value["type"], body.type_name());
        assert_eq!(value["data"]["rolledBack"], true);
    }
}
