//! The session: one site being improved, its workspace, preview, settings and TTL.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Lifecycle of a session: `CREATED → STARTING → RUNNING → STOPPED | ERROR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SessionStatus {
    Created,
    Starting,
    Running,
    Stopped,
    Error,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Created => "CREATED",
            SessionStatus::Starting => "STARTING",
            SessionStatus::Running => "RUNNING",
            SessionStatus::Stopped => "STOPPED",
            SessionStatus::Error => "ERROR",
        }
    }
}

/// Where a session's files come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum SessionSource {
    /// A zip uploaded to the session's `uploadUrl` (or `session/upload`); the default.
    Upload,
    /// A folder already on disk (the editor case): edits land in the user's own files.
    Dir { path: String },
    /// A git repository cloned into the session workspace.
    Git {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        branch: Option<String>,
    },
}

/// The panel layout. Fixed by the product ticket: the user's preview left, the reference right.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
pub struct Layout {
    pub left: LayoutLeft,
    pub right: LayoutRight,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            left: LayoutLeft::UserPreview,
            right: LayoutRight::FrontswatchReference,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
pub enum LayoutLeft {
    #[serde(rename = "user-preview")]
    UserPreview,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
pub enum LayoutRight {
    #[serde(rename = "frontswatch-reference")]
    FrontswatchReference,
}

/// Which proposer turns an instruction into a diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "lowercase")]
pub enum ProposerKind {
    Builtin,
    Bedrock,
    Openai,
}

impl ProposerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProposerKind::Builtin => "builtin",
            ProposerKind::Bedrock => "bedrock",
            ProposerKind::Openai => "openai",
        }
    }
}

/// Per-session settings (seed 002: prompt change, read settings).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// System prompt / style guidance given to the proposer for later commands.
    #[serde(default)]
    pub prompt: String,
    /// The proposer for this session; `null` = the daemon's default.
    #[serde(default)]
    pub proposer: Option<ProposerKind>,
    /// Model id for the proposer; `null` = the proposer's default.
    #[serde(default)]
    pub model: Option<String>,
    /// Commit every applied patch to a work branch (git sessions and dir sessions in a repo).
    #[serde(default)]
    pub git_commits: bool,
    /// Roll back, and fail, a command whose patch lowers the drift score (the site's fidelity
    /// to the reference): `true` = every command, `false` = never (the command is only
    /// flagged, `fidelityLowered`), `null` = only "match the reference" instructions ("use the
    /// design tokens", 「トークンに合わせて」).
    #[serde(default)]
    pub guard_fidelity: Option<bool>,
}

/// A partial update of [`Settings`]: absent fields are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub proposer: Option<ProposerKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub git_commits: Option<bool>,
    /// `null` sets the setting back to its default; absent leaves it as it is.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[ts(optional)]
    pub guard_fidelity: Option<Option<bool>>,
}

/// A field that is present, `null` included: `Some(value)`; an absent field stays `None`
/// through `#[serde(default)]`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

impl Settings {
    pub fn apply(&mut self, patch: &SettingsPatch) {
        if let Some(prompt) = &patch.prompt {
            self.prompt = prompt.clone();
        }
        if let Some(proposer) = patch.proposer {
            self.proposer = Some(proposer);
        }
        if let Some(model) = &patch.model {
            self.model = if model.is_empty() {
                None
            } else {
                Some(model.clone())
            };
        }
        if let Some(git_commits) = patch.git_commits {
            self.git_commits = git_commits;
        }
        if let Some(guard_fidelity) = patch.guard_fidelity {
            self.guard_fidelity = guard_fidelity;
        }
    }
}

/// One exchange of the session's conversation (seed 004 `HistoryItem`), newest first in pages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct HistoryItem {
    pub command_id: String,
    /// The instruction the user gave.
    pub prompt: String,
    /// What devflow answered: the proposal's reason, or the error summary.
    pub response: String,
    pub status: crate::CommandStatus,
    pub patch_id: Option<String>,
    /// Unix seconds.
    #[ts(type = "number")]
    pub timestamp: i64,
    pub pr_url: Option<String>,
}

/// A session (seed 004 with the seed 000 fields). Unix seconds for every time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// UUID v4.
    pub session_id: String,
    pub name: String,
    /// Owner of the session; `local` on a single-machine daemon.
    pub user_id: String,
    pub source: SessionSource,
    pub status: SessionStatus,
    /// The session's own preview origin, through the preview proxy; set while RUNNING.
    pub preview_url: Option<String>,
    pub editor_url: Option<String>,
    pub reference_id: Option<String>,
    /// The newest history items (at most 20); `session/history` pages through all of them.
    pub history: Vec<HistoryItem>,
    pub initial_prompt: Option<String>,
    pub repository_url: Option<String>,
    pub repository_owner: Option<String>,
    pub repository_name: Option<String>,
    pub branch_name: Option<String>,
    #[ts(type = "number | null")]
    pub pr_number: Option<u64>,
    pub pr_url: Option<String>,
    pub last_error_summary: Option<String>,
    /// Where the session's log can be read (`GET /sessions/{id}/logs`).
    pub logs_url: String,
    pub last_applied_patch_id: Option<String>,
    /// While paused, queued commands wait.
    pub paused: bool,
    pub settings: Settings,
    pub layout: Layout,
    /// Idle time after which the session is stopped and its files removed.
    pub ttl_minutes: u32,
    #[ts(type = "number")]
    pub created_at: i64,
    #[ts(type = "number")]
    pub updated_at: i64,
    /// When the TTL sweeper will stop the session if nothing happens before (seed 004 `ttl`).
    #[ts(type = "number")]
    pub expires_at: i64,
    /// In fleet mode, the daemon holding this session's lease.
    pub owner: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UpdateSettingsParams;

    fn patch(json: &str) -> SettingsPatch {
        serde_json::from_str::<UpdateSettingsParams>(json)
            .expect("valid params")
            .patch
    }

    #[test]
    fn guard_fidelity_null_resets_and_absent_leaves_it() {
        let mut settings = Settings::default();
        settings.apply(&patch(r#"{"sessionId":"s","guardFidelity":true}"#));
        assert_eq!(settings.guard_fidelity, Some(true));
        settings.apply(&patch(r#"{"sessionId":"s","prompt":"p"}"#));
        assert_eq!(settings.guard_fidelity, Some(true), "absent: unchanged");
        settings.apply(&patch(r#"{"sessionId":"s","guardFidelity":null}"#));
        assert_eq!(settings.guard_fidelity, None, "null: back to the default");
        let round_trip = serde_json::to_value(patch(r#"{"sessionId":"s","guardFidelity":null}"#))
            .expect("serializes");
        assert_eq!(round_trip, serde_json::json!({"guardFidelity": null}));
    }
}
