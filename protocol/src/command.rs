//! A command: one instruction (or one hand-written diff) run through the pipeline.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::Proposal;

/// Pipeline status of a command (product ticket): `QUEUED → ANALYZING → PATCHING → READY | FAILED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CommandStatus {
    Queued,
    Analyzing,
    Patching,
    Ready,
    Failed,
}

impl CommandStatus {
    pub fn is_final(self) -> bool {
        matches!(self, CommandStatus::Ready | CommandStatus::Failed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CommandStatus::Queued => "QUEUED",
            CommandStatus::Analyzing => "ANALYZING",
            CommandStatus::Patching => "PATCHING",
            CommandStatus::Ready => "READY",
            CommandStatus::Failed => "FAILED",
        }
    }

    pub fn parse(text: &str) -> Option<CommandStatus> {
        Some(match text {
            "QUEUED" => CommandStatus::Queued,
            "ANALYZING" => CommandStatus::Analyzing,
            "PATCHING" => CommandStatus::Patching,
            "READY" => CommandStatus::Ready,
            "FAILED" => CommandStatus::Failed,
            _ => return None,
        })
    }
}

/// What a command asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum CommandKind {
    /// A natural-language instruction for the proposer.
    Instruction,
    /// A person's own diff (the manual-fix path); no proposer is called.
    ManualPatch { proposal: Proposal },
}

/// An element a person pointed at in the preview; scopes the instruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub selector: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub page_url: Option<String>,
}

/// Tokens a model call used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// When a command moved through the pipeline (Unix milliseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct CommandTimings {
    #[ts(type = "number")]
    pub queued_at: i64,
    #[ts(type = "number | null")]
    pub started_at: Option<i64>,
    #[ts(type = "number | null")]
    pub finished_at: Option<i64>,
}

/// A command and everything known about its run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct Command {
    pub command_id: String,
    pub session_id: String,
    /// 1..=5000 characters. For a manual patch: its reason, or "manual patch".
    pub instruction: String,
    pub kind: CommandKind,
    pub idempotency_key: Option<String>,
    pub target: Option<Target>,
    pub status: CommandStatus,
    /// Every proposal received, in order (at most two: the first try and the one re-inference).
    pub proposals: Vec<Proposal>,
    /// The applied patch when READY.
    pub patch_id: Option<String>,
    /// Inference attempts made (0, 1 or 2).
    pub attempts: u32,
    /// Short summary of why the command FAILED.
    pub error_summary: Option<String>,
    /// True when a queued command was cancelled by the user (status FAILED).
    pub cancelled: bool,
    pub usage: Option<TokenUsage>,
    /// Drift score of the site before and after the applied patch (when a reference is set).
    /// A patch whose `driftAfter` is below `driftBefore` added drift.
    #[serde(default)]
    pub drift_before: Option<f64>,
    #[serde(default)]
    pub drift_after: Option<f64>,
    /// The patch lowered the drift score (`driftAfter < driftBefore`). With the session's
    /// `guardFidelity` on for this command it was then rolled back and the command FAILED.
    #[serde(default)]
    pub fidelity_lowered: bool,
    pub timings: CommandTimings,
}
