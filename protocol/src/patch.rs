//! An applied patch: what it changed, how each hunk matched, and the journal that makes
//! rollback exact.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// How one hunk found its place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(tag = "result", rename_all = "camelCase")]
pub enum HunkResult {
    /// At the line the hunk header stated.
    Exact,
    /// Same text, `lines` away from the stated line.
    Offset {
        #[ts(type = "number")]
        lines: i64,
    },
    /// Matched after forgiving something (`kind`: whitespace, indentation, edge context).
    Fuzzy { kind: String },
    /// Not applied; `reason` says why and where the closest candidate was.
    Failed { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct HunkReport {
    pub file: String,
    /// 1-based index of the hunk within its file.
    pub hunk: u32,
    /// 1-based line in the pre-image where the hunk applied (or was meant to).
    pub line: u32,
    #[serde(flatten)]
    #[ts(flatten)]
    pub result: HunkResult,
}

/// One file a patch touched, with SHA-256 hex of its content before and after
/// (`null` before = created, `null` after = deleted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct PatchFile {
    pub path: String,
    pub pre_image_hash: Option<String>,
    pub post_image_hash: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PatchState {
    Applied,
    RolledBack,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct Patch {
    pub patch_id: String,
    pub session_id: String,
    pub command_id: String,
    /// The patch that was the last applied one when this one applied.
    pub parent_patch_id: Option<String>,
    pub files: Vec<PatchFile>,
    pub hunks: Vec<HunkReport>,
    /// The diff as applied (normalised), so `git apply` of it reproduces the change.
    pub unified_diff: String,
    pub state: PatchState,
    /// Unix milliseconds.
    #[ts(type = "number")]
    pub applied_at: i64,
    #[ts(type = "number | null")]
    pub rolled_back_at: Option<i64>,
}
