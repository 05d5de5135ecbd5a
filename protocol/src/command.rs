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

/// An element a person pointed at in the preview; scopes the instruction. A request carries
/// `selector` and `pageUrl`; the daemon fills the rest when it resolves the target against
/// the site's files (what a client sends in those fields is replaced).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// A CSS selector for the element (the pick mode sends an `#id` or a
    /// `tag.class:nth-of-type(n)` path).
    pub selector: String,
    /// The page it was picked on (a URL or a path); the site's `index.html` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub page_url: Option<String>,
    /// The stylesheet rules that match the element, in cascade order (lowest priority first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[ts(as = "Option<Vec<TargetRule>>", optional)]
    pub rules: Vec<TargetRule>,
    /// How many elements of the page the selector matches (0 = not resolved).
    #[serde(default, skip_serializing_if = "is_zero")]
    #[ts(as = "Option<u32>", optional)]
    pub matches: u32,
    /// Which of them is meant, 1-based ("element 3 of 8"); 0 = not resolved.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[ts(as = "Option<u32>", optional)]
    pub index: u32,
    /// The workspace file of the page the element was found on (`index.html`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub page_file: Option<String>,
    /// 1-based line of the element's start tag in `pageFile` (static pages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub page_line: Option<u32>,
    /// True when the rules were found without the page's markup (a Vite React/Vue app has
    /// no static page: rules from the project's CSS whose class names the selector names).
    #[serde(default, skip_serializing_if = "is_false")]
    #[ts(as = "Option<bool>", optional)]
    pub best_effort: bool,
}

/// One stylesheet rule that styles a [`Target`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct TargetRule {
    /// Workspace-relative path with `/` (a `.css` file, or the page for a `<style>` block).
    pub file: String,
    /// 1-based line of the rule's selector.
    pub line: u32,
    /// The rule's selector list as written.
    pub selector: String,
    /// Other elements of the page this rule also styles (editing it changes them too).
    #[serde(default, skip_serializing_if = "is_zero")]
    #[ts(as = "Option<u32>", optional)]
    pub shared_with: u32,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

fn is_false(value: &bool) -> bool {
    !*value
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
    /// How the page was checked after the command's patch was written: in a real browser,
    /// or over HTTP only (no browser found, `browserVerify` off, or the browser could not
    /// look at the page). `null` until a patch was written on a running preview.
    #[serde(default)]
    pub verification: Option<Verification>,
    /// Screenshots of the session's entry page before and after the patch, one per viewport
    /// (browser verification only; empty otherwise).
    #[serde(default)]
    pub screenshots: Vec<Screenshot>,
    /// Similarity of the page to the reference screen before and after the patch, when the
    /// session's reference has a screen for the page.
    #[serde(default)]
    pub fidelity: Option<ScreenFidelity>,
    pub timings: CommandTimings,
}

/// How a patch was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "lowercase")]
pub enum VerificationMode {
    /// Loaded and watched in headless Chromium at each viewport, compared with the page
    /// before the patch (console errors, uncaught exceptions, failed same-origin requests, a
    /// blank page), on top of the HTTP checks.
    Browser,
    /// HTTP only: the page and its same-origin stylesheets and scripts answer, and the open
    /// previews report no new error.
    Http,
}

/// The outcome of checking the page after a patch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub mode: VerificationMode,
    /// What the page showed after the patch that it did not before (`console error: …`,
    /// `uncaught exception: …`, `failed request: …`, `the page is blank`); empty when the
    /// page passed.
    #[serde(default)]
    pub problems: Vec<String>,
    /// Why the check is HTTP-only, when it is (`no Chromium found`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub note: Option<String>,
}

/// A viewport every command is looked at in the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "lowercase")]
pub enum ViewportName {
    /// 1280×800.
    Desktop,
    /// 390×844.
    Mobile,
}

impl ViewportName {
    pub fn as_str(self) -> &'static str {
        match self {
            ViewportName::Desktop => "desktop",
            ViewportName::Mobile => "mobile",
        }
    }
}

/// The page before and after a patch at one viewport, with the difference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct Screenshot {
    pub viewport: ViewportName,
    /// The viewport in CSS pixels; each picture is exactly this size (device scale 1).
    pub width: u32,
    pub height: u32,
    /// URLs of the PNGs: the page before the patch, after it, and the difference (the after
    /// picture greyed, changed pixels magenta). Daemon URLs need the token like any route.
    pub before: String,
    pub after: String,
    pub diff: String,
    /// Share of the viewport's pixels that changed, 0..=1 (0 = nothing visible changed).
    pub changed_share: f64,
}

/// How close the page's screenshot is to a reference screen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct FidelityScore {
    /// Structural similarity (SSIM, luma, the screen scaled to the screenshot): 1 = identical.
    pub ssim: f64,
    /// Distance of the dominant-colour palettes in CIELAB (ΔE76): 0 = the same colours in the
    /// same proportions.
    pub palette_distance: f64,
}

/// The similarity of the page to the session's reference screen before and after a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct ScreenFidelity {
    /// The reference screen's name (`home`).
    pub screen: String,
    /// The viewport whose screenshots were compared with it.
    pub viewport: ViewportName,
    pub before: FidelityScore,
    pub after: FidelityScore,
}
