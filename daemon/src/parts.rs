//! The parts the pipeline plugs in: the proposer, the patch engine, zip ingest and the preview
//! runtime. Each is a trait so that a test can put a double in its place and so that a
//! missing part answers with a clear "not configured" error, never with a fake success.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use devflow_protocol::{HunkReport, Proposal, ProposerKind, Target, TokenUsage};
use devflow_store::JournalFile;

/// Everything a proposer is told about one instruction.
#[derive(Debug, Clone)]
pub struct ProposalRequest {
    pub session_id: String,
    pub instruction: String,
    /// The session's system prompt / style guidance (seed 002 prompt change).
    pub prompt: String,
    pub model: Option<String>,
    pub target: Option<Target>,
    pub workspace: PathBuf,
    /// Workspace files, relative, `/`-separated.
    pub files: Vec<String>,
    /// The session's reference tokens, resolved (empty without a reference).
    pub tokens: Vec<devflow_protocol::ResolvedToken>,
    /// For a "match the reference" instruction: the reference's PNG screen of the entry page,
    /// when it has one (the builtin proposer renders its candidate snaps against it).
    /// Read only for those instructions: screens can be large.
    pub reference_screen: Option<devflow_reference::ScreenFile>,
    /// Recent errors: dev-server output, console errors, earlier failures.
    pub recent_errors: Vec<String>,
    /// On the one re-inference: why the first proposal failed (which hunk, why).
    pub previous_failure: Option<String>,
    /// The page as the preview renders it now, for a proposer that takes images
    /// ([`Proposer::takes_images`]); `None` for the others, or without a preview or browser.
    pub page_now: Option<devflow_llm::pictures::PageShot>,
}

#[derive(Debug, Clone)]
pub struct ProposerAnswer {
    pub proposal: Proposal,
    pub usage: Option<TokenUsage>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ProposerError {
    #[error("{0}")]
    NotConfigured(String),
    #[error("{0}")]
    Failed(String),
    /// The model answered, but not with a usable proposal (not JSON, not schema-valid, cut
    /// off). The pipeline spends its one re-inference on it, with this reason.
    #[error("{0}")]
    Unusable(String),
}

#[async_trait]
pub trait Proposer: Send + Sync {
    async fn propose(&self, request: ProposalRequest) -> Result<ProposerAnswer, ProposerError>;
    /// Whether the model a session names (`None`: the proposer's default) is sent images;
    /// only then does the pipeline put the page's screenshot in the request.
    fn takes_images(&self, _model: Option<&str>) -> bool {
        false
    }
}

/// The proposers this daemon has, and which one a session gets.
#[derive(Clone, Default)]
pub struct Proposers {
    pub builtin: Option<Arc<dyn Proposer>>,
    pub bedrock: Option<Arc<dyn Proposer>>,
    pub openai: Option<Arc<dyn Proposer>>,
    /// The daemon-wide default (`DEVFLOW_PROPOSER`); `None` = decide by credentials.
    pub default: Option<ProposerKind>,
}

impl Proposers {
    /// The proposer for a session whose setting is `chosen`.
    pub fn pick(&self, chosen: Option<ProposerKind>) -> (ProposerKind, Option<Arc<dyn Proposer>>) {
        let kind = chosen
            .or(self.default)
            .unwrap_or(if aws_credentials_configured() {
                ProposerKind::Bedrock
            } else {
                ProposerKind::Builtin
            });
        let proposer = match kind {
            ProposerKind::Builtin => self.builtin.clone(),
            ProposerKind::Bedrock => self.bedrock.clone(),
            ProposerKind::Openai => self.openai.clone(),
        };
        (kind, proposer)
    }
}

/// Whether the standard AWS credential sources name any credentials (environment or the
/// shared files); the full chain is resolved by the bedrock proposer itself.
pub fn aws_credentials_configured() -> bool {
    let env = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    // The ECS container endpoint is how a task role (seed 001's Fargate) hands out keys.
    if env("AWS_ACCESS_KEY_ID")
        || env("AWS_PROFILE")
        || env("AWS_WEB_IDENTITY_TOKEN_FILE")
        || env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        || env("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    {
        return true;
    }
    let shared = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|home| home.join(".aws").join("credentials")));
    shared.is_some_and(|path| path.is_file())
}

/// A proposal turned into exact file contents, not yet written.
#[derive(Debug, Clone)]
pub struct PlannedPatch {
    pub files: Vec<JournalFile>,
    pub hunks: Vec<HunkReport>,
    /// The normalised diff of what will change.
    pub unified_diff: String,
}

/// Why a proposal cannot be applied; nothing was written.
#[derive(Debug, Clone)]
pub struct PatchRejection {
    /// One or two lines for the UI ("hunk 2 of css/styles.css matches 2 places …").
    pub summary: String,
    pub hunks: Vec<HunkReport>,
}

pub trait PatchEngine: Send + Sync {
    /// Reads the workspace and computes the patch, validating paths and hunks. Writes nothing.
    fn plan(&self, workspace: &Path, proposal: &Proposal) -> Result<PlannedPatch, PatchRejection>;
    /// Writes every file's `after` atomically: all of them, or (on error) none.
    fn commit(&self, workspace: &Path, files: &[JournalFile]) -> Result<(), String>;
    /// Writes every file's `before` back. Unless `force`, refuses (naming the file) when a
    /// file no longer holds its `after`, i.e. someone edited it since.
    fn restore(&self, workspace: &Path, files: &[JournalFile], force: bool) -> Result<(), String>;
}

/// Unpacks an uploaded site zip into an empty workspace.
pub trait SiteIngest: Send + Sync {
    /// Returns (files, bytes) written. On error nothing is written.
    fn ingest(&self, zip: &Path, workspace: &Path) -> Result<(u64, u64), IngestError>;
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum IngestError {
    #[error("{0}")]
    NotConfigured(String),
    /// The zip was refused; `entry` names the offending entry when there is one.
    #[error("{message}")]
    Rejected {
        message: String,
        entry: Option<String>,
        /// VALIDATION_ERROR, PAYLOAD_TOO_LARGE, CONFLICT or INTERNAL.
        code: devflow_protocol::ErrorCode,
    },
}

/// A running preview of one session.
#[derive(Debug, Clone)]
pub struct PreviewHandle {
    pub url: String,
}

#[async_trait]
pub trait PreviewRuntime: Send + Sync {
    /// Starts (or restarts) the preview of a workspace and returns once it answers.
    async fn start(&self, session_id: &str, workspace: &Path) -> Result<PreviewHandle, String>;
    async fn stop(&self, session_id: &str);
    /// After a patch: does the page still work? `Err` says what broke.
    async fn verify(&self, session_id: &str) -> Result<(), String>;
    /// Tells the preview which files changed (reload or CSS swap).
    async fn files_changed(&self, session_id: &str, files: &[String]);
    /// Devflow itself is about to write these files (a patch, a rollback): the watcher
    /// leaves them to the caller, whose PREVIEW_UPDATED carries the patch id. Ends with the
    /// matching `files_changed`.
    async fn files_writing(&self, _session_id: &str, _files: &[String]) {}
    /// A number that changes whenever the preview's page may have changed (a file written by
    /// devflow or by hand, a dev-server restart); `None` when unknown or not running. Equal
    /// numbers at two moments mean the page is still what it was.
    async fn page_generation(&self, _session_id: &str) -> Option<u64> {
        None
    }
    /// What went wrong in the page lately (console errors, uncaught exceptions, dev-server
    /// crashes and error output), oldest first, for the proposer's context.
    async fn recent_errors(&self, _session_id: &str) -> Vec<String> {
        Vec::new()
    }
}

/// The shipped stand-in for parts not built into this daemon: every call says so.
pub struct NotConfigured(pub &'static str);

#[async_trait]
impl Proposer for NotConfigured {
    async fn propose(&self, _: ProposalRequest) -> Result<ProposerAnswer, ProposerError> {
        Err(ProposerError::NotConfigured(self.0.to_string()))
    }
}

impl SiteIngest for NotConfigured {
    fn ingest(&self, _: &Path, _: &Path) -> Result<(u64, u64), IngestError> {
        Err(IngestError::NotConfigured(self.0.to_string()))
    }
}
