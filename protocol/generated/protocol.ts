// Generated from the devflow-protocol crate (cargo test -p devflow-protocol with
// DEVFLOW_BLESS=1). Do not edit.

export type SessionStatus = "CREATED" | "STARTING" | "RUNNING" | "STOPPED" | "ERROR";

export type SessionSource = { "kind": "upload" } | { "kind": "dir", path: string, } | { "kind": "git", url: string, branch?: string, };

export type Layout = { left: LayoutLeft, right: LayoutRight, };

export type LayoutLeft = "user-preview";

export type LayoutRight = "frontswatch-reference";

export type ProposerKind = "builtin" | "bedrock" | "openai";

export type Settings = { 
/**
 * System prompt / style guidance given to the proposer for later commands.
 */
prompt: string, 
/**
 * The proposer for this session; `null` = the daemon's default.
 */
proposer: ProposerKind | null, 
/**
 * Model id for the proposer; `null` = the proposer's default.
 */
model: string | null, 
/**
 * Commit every applied patch to a work branch (git sessions and dir sessions in a repo).
 */
gitCommits: boolean, 
/**
 * Roll back, and fail, a command whose patch lowers the drift score (the site's fidelity
 * to the reference): `true` = every command, `false` = never (the command is only
 * flagged, `fidelityLowered`), `null` = only "match the reference" instructions ("use the
 * design tokens", 「トークンに合わせて」).
 */
guardFidelity: boolean | null, };

export type SettingsPatch = { prompt?: string, proposer?: ProposerKind, model?: string, gitCommits?: boolean, 
/**
 * `null` sets the setting back to its default; absent leaves it as it is.
 */
guardFidelity?: boolean | null, };

export type HistoryItem = { commandId: string, 
/**
 * The instruction the user gave.
 */
prompt: string, 
/**
 * What devflow answered: the proposal's reason, or the error summary.
 */
response: string, status: CommandStatus, patchId: string | null, 
/**
 * Unix seconds.
 */
timestamp: number, prUrl: string | null, };

export type Session = { 
/**
 * UUID v4.
 */
sessionId: string, name: string, 
/**
 * Owner of the session; `local` on a single-machine daemon.
 */
userId: string, source: SessionSource, status: SessionStatus, 
/**
 * The session's own preview origin, through the preview proxy; set while RUNNING.
 */
previewUrl: string | null, editorUrl: string | null, referenceId: string | null, 
/**
 * The newest history items (at most 20); `session/history` pages through all of them.
 */
history: Array<HistoryItem>, initialPrompt: string | null, repositoryUrl: string | null, repositoryOwner: string | null, repositoryName: string | null, branchName: string | null, prNumber: number | null, prUrl: string | null, lastErrorSummary: string | null, 
/**
 * Where the session's log can be read (`GET /sessions/{id}/logs`).
 */
logsUrl: string, lastAppliedPatchId: string | null, 
/**
 * While paused, queued commands wait.
 */
paused: boolean, settings: Settings, layout: Layout, 
/**
 * Idle time after which the session is stopped and its files removed.
 */
ttlMinutes: number, createdAt: number, updatedAt: number, 
/**
 * When the TTL sweeper will stop the session if nothing happens before (seed 004 `ttl`).
 */
expiresAt: number, 
/**
 * In fleet mode, the daemon holding this session's lease.
 */
owner: string | null, };

export type CommandStatus = "QUEUED" | "ANALYZING" | "PATCHING" | "READY" | "FAILED";

export type CommandKind = { "kind": "instruction" } | { "kind": "manualPatch", proposal: Proposal, };

export type Target = { 
/**
 * A CSS selector for the element (the pick mode sends an `#id` or a
 * `tag.class:nth-of-type(n)` path).
 */
selector: string, 
/**
 * The page it was picked on (a URL or a path); the site's `index.html` when absent.
 */
pageUrl?: string, 
/**
 * The stylesheet rules that match the element, in cascade order (lowest priority first).
 */
rules?: Array<TargetRule>, 
/**
 * How many elements of the page the selector matches (0 = not resolved).
 */
matches?: number, 
/**
 * Which of them is meant, 1-based ("element 3 of 8"); 0 = not resolved.
 */
index?: number, 
/**
 * The workspace file of the page the element was found on (`index.html`).
 */
pageFile?: string, 
/**
 * 1-based line of the element's start tag in `pageFile` (static pages).
 */
pageLine?: number, 
/**
 * True when the rules were found without the page's markup (a Vite React/Vue app has
 * no static page: rules from the project's CSS whose class names the selector names).
 */
bestEffort?: boolean, };

export type TargetRule = { 
/**
 * Workspace-relative path with `/` (a `.css` file, or the page for a `<style>` block).
 */
file: string, 
/**
 * 1-based line of the rule's selector.
 */
line: number, 
/**
 * The rule's selector list as written.
 */
selector: string, 
/**
 * Other elements of the page this rule also styles (editing it changes them too).
 */
sharedWith?: number, };

export type TokenUsage = { inputTokens: bigint, outputTokens: bigint, };

export type CommandTimings = { queuedAt: number, startedAt: number | null, finishedAt: number | null, };

export type Command = { commandId: string, sessionId: string, 
/**
 * 1..=5000 characters. For a manual patch: its reason, or "manual patch".
 */
instruction: string, kind: CommandKind, idempotencyKey: string | null, target: Target | null, status: CommandStatus, 
/**
 * Every proposal received, in order (at most two: the first try and the one re-inference).
 */
proposals: Array<Proposal>, 
/**
 * The applied patch when READY.
 */
patchId: string | null, 
/**
 * Inference attempts made (0, 1 or 2).
 */
attempts: number, 
/**
 * Short summary of why the command FAILED.
 */
errorSummary: string | null, 
/**
 * True when a queued command was cancelled by the user (status FAILED).
 */
cancelled: boolean, usage: TokenUsage | null, 
/**
 * Drift score of the site before and after the applied patch (when a reference is set).
 * A patch whose `driftAfter` is below `driftBefore` added drift.
 */
driftBefore: number | null, driftAfter: number | null, 
/**
 * The patch lowered the drift score (`driftAfter < driftBefore`). With the session's
 * `guardFidelity` on for this command it was then rolled back and the command FAILED.
 */
fidelityLowered: boolean, 
/**
 * How the page was checked after the command's patch was written: in a real browser,
 * or over HTTP only (no browser found, `browserVerify` off, or the browser could not
 * look at the page). `null` until a patch was written on a running preview.
 */
verification: Verification | null, 
/**
 * Screenshots of the session's entry page before and after the patch, one per viewport
 * (browser verification only; empty otherwise).
 */
screenshots: Array<Screenshot>, 
/**
 * Similarity of the page to the reference screen before and after the patch, when the
 * session's reference has a screen for the page.
 */
fidelity: ScreenFidelity | null, timings: CommandTimings, };

export type VerificationMode = "browser" | "http";

export type Verification = { mode: VerificationMode, 
/**
 * What the page showed after the patch that it did not before (`console error: …`,
 * `uncaught exception: …`, `failed request: …`, `the page is blank`); empty when the
 * page passed.
 */
problems: Array<string>, 
/**
 * Why the check is HTTP-only, when it is (`no Chromium found`, …).
 */
note?: string, };

export type ViewportName = "desktop" | "mobile";

export type Screenshot = { viewport: ViewportName, 
/**
 * The viewport in CSS pixels; each picture is exactly this size (device scale 1).
 */
width: number, height: number, 
/**
 * URLs of the PNGs: the page before the patch, after it, and the difference (the after
 * picture greyed, changed pixels magenta). Daemon URLs need the token like any route.
 */
before: string, after: string, diff: string, 
/**
 * Share of the viewport's pixels that changed, 0..=1 (0 = nothing visible changed).
 */
changedShare: number, };

export type FidelityScore = { 
/**
 * Structural similarity (SSIM, luma, the screen scaled to the screenshot): 1 = identical.
 */
ssim: number, 
/**
 * Distance of the dominant-colour palettes in CIELAB (ΔE76): 0 = the same colours in the
 * same proportions.
 */
paletteDistance: number, };

export type ScreenFidelity = { 
/**
 * The reference screen's name (`home`).
 */
screen: string, 
/**
 * The viewport whose screenshots were compared with it.
 */
viewport: ViewportName, before: FidelityScore, after: FidelityScore, };

export type Proposal = { 
/**
 * Workspace-relative paths (`/` separators) the diff may touch.
 */
files_to_edit: Array<string>, unified_diff: string, reason: string, 
/**
 * 0.0..=1.0
 */
confidence: number, };

export type HunkResult = { "result": "exact" } | { "result": "offset", lines: number, } | { "result": "fuzzy", kind: string, } | { "result": "failed", reason: string, };

export type HunkReport = { file: string, 
/**
 * 1-based index of the hunk within its file.
 */
hunk: number, 
/**
 * 1-based line in the pre-image where the hunk applied (or was meant to).
 */
line: number, } & ({ "result": "exact" } | { "result": "offset", lines: number, } | { "result": "fuzzy", kind: string, } | { "result": "failed", reason: string, });

export type PatchFile = { path: string, preImageHash: string | null, postImageHash: string | null, };

export type PatchState = "APPLIED" | "ROLLED_BACK";

export type Patch = { patchId: string, sessionId: string, commandId: string, 
/**
 * The patch that was the last applied one when this one applied.
 */
parentPatchId: string | null, files: Array<PatchFile>, hunks: Array<HunkReport>, 
/**
 * The diff as applied (normalised), so `git apply` of it reproduces the change.
 */
unifiedDiff: string, state: PatchState, 
/**
 * Unix milliseconds.
 */
appliedAt: number, rolledBackAt: number | null, };

export type ResolvedToken = { 
/**
 * Dotted path, e.g. `color.brand.primary`.
 */
path: string, 
/**
 * DTCG type: color, dimension, fontFamily, fontWeight, duration, shadow, number.
 */
type: string, 
/**
 * The resolved value as CSS text (`#4f46e5`, `16px`, `150ms`).
 */
value: string, description: string | null, 
/**
 * The alias it was written as, when it was one.
 */
aliasOf: string | null, };

export type ReferenceScreen = { 
/**
 * `home` = `/`, `about` = `/about`.
 */
name: string, mediaType: string, 
/**
 * Where the panel can load it from.
 */
url: string, };

export type Reference = { referenceId: string, tokens: Array<ResolvedToken>, screens: Array<ReferenceScreen>, 
/**
 * The drift score of the site against these tokens, once computed.
 */
driftScore: number | null, };

export type DriftEntry = { 
/**
 * color, fontFamily, fontSize, spacing or radius: says how to read `distance`
 * (CIEDE2000 ΔE for colours, a ratio for lengths, 0/0.5/1 for font families).
 */
kind: string, file: string, line: number, property: string, value: string, nearestToken: string | null, distance: number, onToken: boolean, };

export type DriftReport = { score: number, entries: Array<DriftEntry>, 
/**
 * One summary per kind (color, fontFamily, fontSize, spacing, radius), in that order.
 * Empty in reports stored before the summary existed.
 */
kinds: Array<DriftKindSummary>, };

export type DriftKindSummary = { 
/**
 * color, fontFamily, fontSize, spacing or radius.
 */
kind: string, 
/**
 * Values of this kind the site declares (keywords, `0`, `calc()` … are not counted).
 */
declarations: number, 
/**
 * Of those, the ones judged against a token (the entries of this kind); 0 when the
 * reference has no tokens of this kind.
 */
judged: number, onToken: number, 
/**
 * `onToken / judged`; `null` when nothing of this kind was judged.
 */
score: number | null, 
/**
 * This kind's weight in the overall score.
 */
weight: number, };

export type Event = { sessionId: string, seq: number, 
/**
 * Unix milliseconds.
 */
at: number, commandId?: string, } & ({ "type": "SESSION_READY", "data": { previewUrl: string, } } | { "type": "SESSION_STATUS", "data": { status: SessionStatus, reason?: string, } } | { "type": "SESSION_PAUSED", "data": { paused: boolean, } } | { "type": "COMMAND_STATUS", "data": { status: CommandStatus, errorSummary?: string, } } | { "type": "INFERENCE_STARTED", "data": { attempt: number, proposer: string, } } | { "type": "INFERENCE_COMPLETED", "data": { attempt: number, filesToEdit: Array<string>, reason: string, confidence: number, usage?: TokenUsage, } } | { "type": "PATCH_APPLY_STARTED", "data": { attempt: number, files: Array<string>, } } | { "type": "PATCH_APPLY_COMPLETED", "data": { patchId: string, files: Array<string>, hunks: Array<HunkReport>, } } | { "type": "PREVIEW_UPDATED", "data": { patchId?: string, files: Array<string>, cssOnly: boolean, } } | { "type": "PATCH_FAILED", "data": { summary: string, rolledBack: boolean, willRetry: boolean, logsUrl: string, } } | { "type": "ROLLBACK_COMPLETED", "data": { patchId: string, files: Array<string>, } } | { "type": "SETTINGS_UPDATED", "data": { settings: Settings, } } | { "type": "REFERENCE_UPDATED", "data": { referenceId: string, } } | { "type": "LOG", "data": { level: string, message: string, } } | { "type": "PREVIEW_ERROR", "data": { message: string, source?: string, } } | { "type": "DRIFT_REPORT", "data": { report: DriftReport, 
/**
 * The page's similarity to the reference screen before and after the command's
 * patch, when the reference has a screen for the page and a browser took screenshots.
 */
fidelity?: ScreenFidelity, } });

export type EventBody = { "type": "SESSION_READY", "data": { previewUrl: string, } } | { "type": "SESSION_STATUS", "data": { status: SessionStatus, reason?: string, } } | { "type": "SESSION_PAUSED", "data": { paused: boolean, } } | { "type": "COMMAND_STATUS", "data": { status: CommandStatus, errorSummary?: string, } } | { "type": "INFERENCE_STARTED", "data": { attempt: number, proposer: string, } } | { "type": "INFERENCE_COMPLETED", "data": { attempt: number, filesToEdit: Array<string>, reason: string, confidence: number, usage?: TokenUsage, } } | { "type": "PATCH_APPLY_STARTED", "data": { attempt: number, files: Array<string>, } } | { "type": "PATCH_APPLY_COMPLETED", "data": { patchId: string, files: Array<string>, hunks: Array<HunkReport>, } } | { "type": "PREVIEW_UPDATED", "data": { patchId?: string, files: Array<string>, cssOnly: boolean, } } | { "type": "PATCH_FAILED", "data": { summary: string, rolledBack: boolean, willRetry: boolean, logsUrl: string, } } | { "type": "ROLLBACK_COMPLETED", "data": { patchId: string, files: Array<string>, } } | { "type": "SETTINGS_UPDATED", "data": { settings: Settings, } } | { "type": "REFERENCE_UPDATED", "data": { referenceId: string, } } | { "type": "LOG", "data": { level: string, message: string, } } | { "type": "PREVIEW_ERROR", "data": { message: string, source?: string, } } | { "type": "DRIFT_REPORT", "data": { report: DriftReport, 
/**
 * The page's similarity to the reference screen before and after the command's
 * patch, when the reference has a screen for the page and a browser took screenshots.
 */
fidelity?: ScreenFidelity, } };

export type ErrorCode = "PARSE_ERROR" | "INVALID_REQUEST" | "METHOD_NOT_FOUND" | "VALIDATION_ERROR" | "UNAUTHORIZED" | "FORBIDDEN" | "NOT_FOUND" | "CONFLICT" | "PAYLOAD_TOO_LARGE" | "NOT_CONFIGURED" | "UPSTREAM_ERROR" | "INTERNAL";

export type ErrorDetails = { field: string | null, value: JsonValue | null, };

export type ApiError = { error: ErrorCode, 
/**
 * What was wrong and what to do, for a person.
 */
message: string, details?: ErrorDetails, requestId: string, 
/**
 * Unix seconds.
 */
timestamp: number, };

export type CreateSessionParams = { name?: string, source?: SessionSource, 
/**
 * Idle minutes before the session is stopped and cleaned (default 30, at most 1440).
 */
ttlMinutes?: number, 
/**
 * Seed 004's initial prompt: queued as the first command once the session exists.
 */
initialPrompt?: string, };

export type CreateSessionResult = { 
/**
 * Where to `PUT` the site zip (for `upload` sessions; `null` otherwise).
 */
uploadUrl: string | null, 
/**
 * UUID v4.
 */
sessionId: string, name: string, 
/**
 * Owner of the session; `local` on a single-machine daemon.
 */
userId: string, source: SessionSource, status: SessionStatus, 
/**
 * The session's own preview origin, through the preview proxy; set while RUNNING.
 */
previewUrl: string | null, editorUrl: string | null, referenceId: string | null, 
/**
 * The newest history items (at most 20); `session/history` pages through all of them.
 */
history: Array<HistoryItem>, initialPrompt: string | null, repositoryUrl: string | null, repositoryOwner: string | null, repositoryName: string | null, branchName: string | null, prNumber: number | null, prUrl: string | null, lastErrorSummary: string | null, 
/**
 * Where the session's log can be read (`GET /sessions/{id}/logs`).
 */
logsUrl: string, lastAppliedPatchId: string | null, 
/**
 * While paused, queued commands wait.
 */
paused: boolean, settings: Settings, layout: Layout, 
/**
 * Idle time after which the session is stopped and its files removed.
 */
ttlMinutes: number, createdAt: number, updatedAt: number, 
/**
 * When the TTL sweeper will stop the session if nothing happens before (seed 004 `ttl`).
 */
expiresAt: number, 
/**
 * In fleet mode, the daemon holding this session's lease.
 */
owner: string | null, };

export type SessionParams = { sessionId: string, };

export type UploadParams = { sessionId: string, zipPath: string, };

export type UploadResult = { files: bigint, bytes: number, };

export type SessionList = { sessions: Array<Session>, };

export type SubmitCommandParams = { sessionId: string, 
/**
 * 1..=5000 characters.
 */
instruction: string, idempotencyKey?: string, target?: Target, };

export type SubmitCommandResult = { commandId: string, status: CommandStatus, };

export type CommandParams = { sessionId: string, commandId: string, };

export type HistoryParams = { sessionId: string, 
/**
 * 1..=100, default 20.
 */
limit?: number, 
/**
 * Opaque; from the previous page's `nextCursor`.
 */
cursor?: string, };

export type HistoryPage = { items: Array<HistoryItem>, nextCursor: string | null, };

export type SubscribeParams = { sessionId: string, afterSeq?: number, };

export type SubscribeResult = { sessionId: string, 
/**
 * The newest seq at the moment of subscribing; events up to it are replayed first.
 */
lastSeq: number, };

export type LogsParams = { sessionId: string, 
/**
 * Only the last N lines.
 */
tail?: number, };

export type LogsResult = { text: string, };

export type PatchParams = { sessionId: string, patchId: string, };

export type ApplyPatchParams = { sessionId: string, unified_diff: string, 
/**
 * Defaults to every file the diff names.
 */
files_to_edit?: Array<string>, reason?: string, idempotencyKey?: string, };

export type RollbackParams = { sessionId: string, 
/**
 * Default: the last applied patch. Rolling back an earlier patch also rolls back every
 * patch applied after it, newest first.
 */
patchId?: string, };

export type RollbackResult = { 
/**
 * Patches rolled back, newest first.
 */
rolledBack: Array<string>, files: Array<string>, 
/**
 * The last applied patch after the rollback.
 */
lastAppliedPatchId: string | null, };

export type UpdateSettingsParams = { sessionId: string, prompt?: string, proposer?: ProposerKind, model?: string, gitCommits?: boolean, 
/**
 * `null` sets the setting back to its default; absent leaves it as it is.
 */
guardFidelity?: boolean | null, };

export type SetReferenceParams = { sessionId: string, tokens?: JsonValue, path?: string, };

export type PublishParams = { sessionId: string, title?: string, draft?: boolean, };

export type PublishResult = { prNumber: number, prUrl: string, branch: string, };

export type EditorUrl = { editorUrl: string, 
/**
 * Unix seconds.
 */
expiresAt: number, };

export type DeleteResult = { sessionId: string, message: string, };

export type ReadResourceParams = { url: string, };

export type ResourceContent = { 
/**
 * `image/png`, `text/html`, … as the HTTP route's `Content-Type`.
 */
mediaType: string, 
/**
 * The bytes, standard base64 with padding; at most [`MAX_RESOURCE_BYTES`] before encoding.
 */
base64: string, };

export const METHODS = [
  "session/create",
  "session/upload",
  "session/start",
  "session/get",
  "session/list",
  "session/history",
  "session/subscribe",
  "session/unsubscribe",
  "session/logs",
  "session/rollback",
  "session/pause",
  "session/resume",
  "session/getSettings",
  "session/updateSettings",
  "session/stop",
  "session/delete",
  "session/publish",
  "session/editorUrl",
  "command/submit",
  "command/get",
  "command/cancel",
  "patch/get",
  "patch/apply",
  "reference/set",
  "reference/get",
  "resource/read",
] as const;
export type Method = (typeof METHODS)[number];
