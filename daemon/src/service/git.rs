//! Git for sessions (DESIGN.md "Git"): the shallow clone a `git` session starts from, the work
//! branch `devflow/<first 8 characters of the session id>` with one commit per applied patch
//! and one per rolled-back patch, and `publish` (push without force, then open or update the
//! GitHub pull request). A `dir` session in a repository gets the same branch when its
//! `gitCommits` setting is turned on; its HEAD, index and working tree are never written by
//! git (see devflow-git's `repo.rs`).
//!
//! A commit that fails leaves the patch applied: the command is READY, the failure is a
//! warning in the log and a LOG event. What devflow remembers of a session's repository is
//! in `<state>/git/<session>.json`, beside the private index commits are built in.

use std::path::PathBuf;

use devflow_git::pull_request::{self, Change, Summary};
use devflow_git::{
    Author, CommitMessage, FileChange, Git, GitError, GitHub, GitHubError, NewPullRequest,
    PatchCommit, RemoteUrl, RollbackCommit,
};
use devflow_protocol::{
    Command, CommandKind, ErrorCode, EventBody, HistoryItem, ProposerKind, PublishParams,
    PublishResult, Session, SessionSource,
};
use devflow_store::{JournalState, PatchRecord};
use serde::{Deserialize, Serialize};

use super::{Result, Service};
use crate::error::ServiceError;

/// The remote a session publishes to: the clone's origin, or the folder's.
const REMOTE: &str = "origin";

/// What devflow remembers of a session's repository.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GitState {
    /// The repository's top level.
    repository: PathBuf,
    /// The workspace inside it: empty, or ending in `/`.
    prefix: String,
    work_branch: String,
    /// The branch the pull request goes to; `None` when the folder's HEAD was detached.
    base_branch: Option<String>,
    /// Where the work branch started.
    base_commit: String,
    /// A clone devflow made: its HEAD is the work branch and its index follows it.
    owns_checkout: bool,
    /// Every commit devflow made on the work branch, oldest first.
    commits: Vec<RecordedCommit>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecordedCommit {
    patch_id: String,
    command_id: String,
    commit: String,
    rollback: bool,
}

/// The work branch of a session.
fn work_branch(session_id: &str) -> String {
    format!("devflow/{}", session_id.chars().take(8).collect::<String>())
}

/// Checks a git source before anything is created: the URL and the branch name.
pub(super) fn check_git_source(url: &str, branch: Option<&str>) -> Result<RemoteUrl> {
    let remote = RemoteUrl::parse(url)
        .map_err(|e| ServiceError::invalid("source.url", url, e.to_string()))?;
    if let Some(branch) = branch {
        devflow_git::check_branch_name(branch)
            .map_err(|e| ServiceError::invalid("source.branch", branch, e.to_string()))?;
    }
    Ok(remote)
}

/// The seed-004 error for a failed git operation.
fn git_error(error: GitError) -> ServiceError {
    let message = error.to_string();
    match error {
        GitError::BranchNotFound { branch, .. } => {
            ServiceError::invalid("source.branch", branch, message)
        }
        GitError::NotInstalled(_) => ServiceError::not_configured(message),
        GitError::AuthFailed { url, .. }
        | GitError::RepositoryNotFound { url, .. }
        | GitError::Unreachable { url, .. } => ServiceError {
            field: Some("source.url".into()),
            value: Some(url.into()),
            ..ServiceError::new(ErrorCode::UpstreamError, message)
        },
        GitError::Remote { .. } | GitError::TimedOut { .. } => {
            ServiceError::new(ErrorCode::UpstreamError, message)
        }
        GitError::NonFastForward { branch } => ServiceError {
            field: Some("branch".into()),
            value: Some(branch.into()),
            ..ServiceError::conflict(message)
        },
        GitError::NotARepository { .. } | GitError::NoCommits { .. } => {
            ServiceError::invalid("gitCommits", true, message)
        }
        GitError::RefMoved { .. } => ServiceError::conflict(message),
        GitError::Local { .. } => ServiceError::internal(message),
    }
}

/// The seed-004 error for a failed GitHub call; `pushed` names the branch when it is on the
/// remote already.
fn github_error(error: GitHubError, pushed: Option<&str>) -> ServiceError {
    let status = error.status();
    let message = match pushed {
        Some(branch) => format!("{error} (the branch {branch} is pushed; every commit is kept)"),
        None => error.to_string(),
    };
    let code = match error {
        GitHubError::BadApiUrl(_) => ErrorCode::NotConfigured,
        _ => ErrorCode::UpstreamError,
    };
    let field = match error {
        GitHubError::Unauthorized { .. } | GitHubError::Forbidden { .. } => "githubToken",
        GitHubError::BadApiUrl(_) => "githubApiUrl",
        _ => "github",
    };
    ServiceError {
        field: Some(field.into()),
        value: status.map(|s| serde_json::json!({ "status": s })),
        ..ServiceError::new(code, message)
    }
}

/// Runs blocking git work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::result::Result<T, GitError> + Send + 'static,
) -> std::result::Result<T, GitError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(GitError::Local {
            action: "run".into(),
            detail: format!("the git task stopped: {e}"),
        })
    })
}

impl Service {
    /// The git command line as configured: `gitAuthor`, and `githubToken` for the GitHub
    /// host of `githubApiUrl` only.
    fn git_cli(&self) -> Result<Git> {
        let config = self.config();
        let author = match config
            .git_author
            .as_deref()
            .filter(|a| !a.trim().is_empty())
        {
            Some(text) => Author::parse(text)
                .map_err(|message| ServiceError::new(ErrorCode::NotConfigured, message))?,
            None => Author::default(),
        };
        let mut git = Git::new(author);
        if let Some(token) = self.github_token() {
            if let Some(origin) = devflow_git::github::git_origin_of_api(&self.github_api_url()) {
                git = git.with_token_for(&origin, &token);
            }
        }
        Ok(git)
    }

    fn github_token(&self) -> Option<String> {
        self.config()
            .github_token
            .clone()
            .filter(|t| !t.trim().is_empty())
    }

    fn github_api_url(&self) -> String {
        self.config()
            .github_api_url
            .clone()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| devflow_git::github::DEFAULT_API_URL.to_string())
    }

    fn git_dir(&self) -> PathBuf {
        self.config().state_dir.join("git")
    }

    fn git_index_file(&self, session_id: &str) -> PathBuf {
        self.git_dir().join(format!("{session_id}.index"))
    }

    fn load_git_state(&self, session_id: &str) -> Option<GitState> {
        let path = self.git_dir().join(format!("{session_id}.json"));
        let bytes = std::fs::read(&path).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(state) => Some(state),
            Err(error) => {
                tracing::error!(session_id, %error, "the session's git state is unreadable");
                None
            }
        }
    }

    fn save_git_state(&self, session_id: &str, state: &GitState) -> Result<()> {
        let dir = self.git_dir();
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            let bytes = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
            let temporary = dir.join(format!("{session_id}.json.tmp"));
            std::fs::write(&temporary, bytes)?;
            std::fs::rename(&temporary, dir.join(format!("{session_id}.json")))
        };
        write().map_err(|e| {
            ServiceError::internal(format!("cannot save the session's git state: {e}"))
        })
    }

    /// On delete: what devflow kept about the repository (the branch stays in it).
    pub(super) fn forget_git(&self, session_id: &str) {
        for name in [format!("{session_id}.json"), format!("{session_id}.index")] {
            let _ = std::fs::remove_file(self.git_dir().join(name));
        }
    }

    /// A new `git` session: clones the source into the workspace, checks out the work
    /// branch, fills the seed-004 repository fields. On error nothing is left behind.
    pub(super) async fn clone_git_source(
        &self,
        session: &mut Session,
        remote: RemoteUrl,
        branch: Option<String>,
    ) -> Result<()> {
        let git = self.git_cli()?;
        let workspace = self.workspace(session);
        let work_branch = work_branch(&session.session_id);
        let session_id = session.session_id.clone();
        tracing::info!(session_id = %session_id, url = %remote.url, branch = ?branch, "cloning");
        let (cloned, top) = {
            let (remote, workspace, work_branch) =
                (remote.clone(), workspace.clone(), work_branch.clone());
            blocking(move || {
                if let Some(parent) = workspace.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| GitError::Local {
                        action: "clone".into(),
                        detail: format!("cannot create {}: {e}", parent.display()),
                    })?;
                }
                let cloned = git.clone_shallow(&remote, branch.as_deref(), &workspace)?;
                let repository = git.repository_at(&workspace, "");
                if let Err(error) = repository.check_out_new_branch(&work_branch) {
                    let _ = std::fs::remove_dir_all(&workspace);
                    return Err(error);
                }
                Ok((cloned, workspace))
            })
            .await
            .map_err(git_error)?
        };
        let state = GitState {
            repository: top,
            prefix: String::new(),
            work_branch: work_branch.clone(),
            base_branch: Some(cloned.branch.clone()),
            base_commit: cloned.head.clone(),
            owns_checkout: true,
            commits: Vec::new(),
        };
        if let Err(error) = self.save_git_state(&session_id, &state) {
            let _ = std::fs::remove_dir_all(&workspace);
            return Err(error);
        }
        session.source = SessionSource::Git {
            url: remote.url.clone(),
            branch: Some(cloned.branch.clone()),
        };
        session.repository_url = Some(remote.url.clone());
        session.repository_owner = remote.owner.clone();
        session.repository_name = remote.name.clone();
        session.branch_name = Some(work_branch.clone());
        session.settings.git_commits = true;
        tracing::info!(session_id = %session_id, base = %cloned.branch, head = %cloned.head, branch = %work_branch, "cloned");
        Ok(())
    }

    /// `gitCommits` turned on: a `dir` session gets its work branch at the folder's HEAD
    /// commit (HEAD itself is not moved). Refused, changing nothing, when the folder is not
    /// in a repository or it has no commit; a zip upload has no repository at all.
    pub(super) async fn enable_git_commits(&self, session_id: &str) -> Result<()> {
        let session = self.session(session_id).await?;
        let path = match &session.source {
            SessionSource::Git { .. } => return Ok(()),
            SessionSource::Upload => {
                return Err(ServiceError::invalid(
                    "gitCommits",
                    true,
                    "an uploaded site is not a git repository; gitCommits works in git sessions and in dir sessions on a folder inside a repository",
                ))
            }
            SessionSource::Dir { path } => PathBuf::from(path),
        };
        if self.load_git_state(session_id).is_some() {
            return Ok(());
        }
        let git = self.git_cli()?;
        let branch = work_branch(session_id);
        let (state, origin) = {
            let branch = branch.clone();
            blocking(move || {
                let repository = git.open(&path)?;
                let head = repository
                    .head_commit()?
                    .ok_or_else(|| GitError::NoCommits {
                        path: repository.top().display().to_string(),
                    })?;
                let base_branch = repository.current_branch()?;
                let base_commit = match repository.branch_tip(&branch)? {
                    // Turned on again after a delete of devflow's state: keep the branch.
                    Some(_) => head.clone(),
                    None => {
                        repository.create_branch(&branch, &head)?;
                        head
                    }
                };
                let origin = repository.remote_url(REMOTE)?;
                Ok((
                    GitState {
                        repository: repository.top().to_path_buf(),
                        prefix: repository.prefix().to_string(),
                        work_branch: branch,
                        base_branch,
                        base_commit,
                        owns_checkout: false,
                        commits: Vec::new(),
                    },
                    origin,
                ))
            })
            .await
            .map_err(git_error)?
        };
        self.save_git_state(session_id, &state)?;
        let remote = origin.as_deref().and_then(|url| RemoteUrl::parse(url).ok());
        self.update_session(session_id, |s| {
            s.repository_url = origin.clone();
            s.repository_owner = remote.as_ref().and_then(|r| r.owner.clone());
            s.repository_name = remote.as_ref().and_then(|r| r.name.clone());
            s.branch_name = Some(branch.clone());
            Ok(())
        })
        .await?;
        tracing::info!(session_id, branch = %branch, base = ?state.base_branch, "gitCommits on: work branch ready");
        Ok(())
    }

    /// A command ended READY with a patch: one commit on the work branch. Never fails the
    /// command; a failure is logged and published as a LOG warning.
    pub(super) async fn commit_command(&self, command: &Command) {
        let Some(patch_id) = command.patch_id.clone() else {
            return;
        };
        let session_id = command.session_id.clone();
        let Ok(session) = self.session(&session_id).await else {
            return;
        };
        if !session.settings.git_commits {
            return;
        }
        let Some(state) = self.load_git_state(&session_id) else {
            return;
        };
        let record = match self.store().get_patch(&session_id, &patch_id).await {
            Ok(Some(record)) if record.journal_state == JournalState::Applied => record,
            _ => return,
        };
        let (proposer, model, confidence) = self.proposer_of(&session, command);
        let reason = command.proposals.last().map(|p| p.reason.clone());
        let message = CommitMessage::for_patch(&PatchCommit {
            instruction: &command.instruction,
            reason: reason.as_deref(),
            command_id: &command.command_id,
            patch_id: &patch_id,
            proposer: &proposer,
            model: model.as_deref(),
            confidence,
        })
        .render();
        let files: Vec<(String, Option<Vec<u8>>)> = record
            .files
            .iter()
            .map(|f| (f.path.clone(), f.after.clone()))
            .collect();
        self.record_commit(
            &session_id,
            Some(&command.command_id),
            state,
            files,
            message,
            &record,
            false,
        )
        .await;
    }

    /// A patch was rolled back: when devflow committed it, one commit restoring its files.
    pub(super) async fn commit_rollback(&self, session: &Session, record: &PatchRecord) {
        let session_id = &session.session_id;
        let Ok(current) = self.session(session_id).await else {
            return;
        };
        if !current.settings.git_commits {
            return;
        }
        let Some(state) = self.load_git_state(session_id) else {
            return;
        };
        let patch_id = &record.patch.patch_id;
        let committed = state
            .commits
            .iter()
            .any(|c| &c.patch_id == patch_id && !c.rollback);
        if !committed {
            return; // never on the branch (a failed command, or gitCommits was off)
        }
        let instruction = match self
            .store()
            .get_command(session_id, &record.patch.command_id)
            .await
        {
            Ok(Some(command)) => command.instruction,
            _ => String::new(),
        };
        let message = CommitMessage::for_rollback(&RollbackCommit {
            instruction: &instruction,
            command_id: &record.patch.command_id,
            patch_id,
        })
        .render();
        let files: Vec<(String, Option<Vec<u8>>)> = record
            .files
            .iter()
            .map(|f| (f.path.clone(), f.before.clone()))
            .collect();
        self.record_commit(session_id, None, state, files, message, record, true)
            .await;
    }

    #[allow(clippy::too_many_arguments)]
    async fn record_commit(
        &self,
        session_id: &str,
        command_id: Option<&str>,
        mut state: GitState,
        files: Vec<(String, Option<Vec<u8>>)>,
        message: String,
        record: &PatchRecord,
        rollback: bool,
    ) {
        let patch_id = record.patch.patch_id.clone();
        let result = match self.git_cli() {
            Err(error) => Err(error.message),
            Ok(git) => {
                let index = self.git_index_file(session_id);
                let state = state.clone();
                blocking(move || {
                    let repository = git.repository_at(&state.repository, &state.prefix);
                    let changes: Vec<FileChange<'_>> = files
                        .iter()
                        .map(|(path, contents)| FileChange {
                            path,
                            contents: contents.as_deref(),
                        })
                        .collect();
                    let commit =
                        repository.commit_files(&state.work_branch, &index, &changes, &message)?;
                    if commit.is_some() && state.owns_checkout {
                        repository.reset_index_to(&state.work_branch)?;
                    }
                    Ok(commit)
                })
                .await
                .map_err(|e| e.to_string())
            }
        };
        match result {
            Ok(Some(commit)) => {
                tracing::info!(session_id, patch_id = %patch_id, commit = %commit, branch = %state.work_branch, rollback, "committed");
                state.commits.push(RecordedCommit {
                    patch_id,
                    command_id: record.patch.command_id.clone(),
                    commit,
                    rollback,
                });
                if let Err(error) = self.save_git_state(session_id, &state) {
                    tracing::warn!(session_id, %error, "the commit is made but could not be remembered");
                }
            }
            Ok(None) => {
                tracing::info!(session_id, patch_id = %patch_id, "nothing to commit: the work branch already holds these files")
            }
            Err(error) => {
                tracing::warn!(session_id, patch_id = %patch_id, %error, "the commit on the work branch failed; the change stays applied");
                let warning = EventBody::Log {
                    level: "warn".into(),
                    message: format!(
                        "{} {patch_id} is done, but committing it to {} failed: {error}",
                        if rollback {
                            "the rollback of patch"
                        } else {
                            "patch"
                        },
                        state.work_branch
                    ),
                };
                if let Err(error) = self.publish(session_id, command_id, warning).await {
                    tracing::warn!(session_id, %error, "could not publish the warning");
                }
            }
        }
    }

    /// The proposer, model and confidence behind a command's applied patch, for trailers.
    fn proposer_of(
        &self,
        session: &Session,
        command: &Command,
    ) -> (String, Option<String>, Option<f64>) {
        if let CommandKind::ManualPatch { .. } = command.kind {
            return ("manual".into(), None, None);
        }
        let confidence = command.proposals.last().map(|p| p.confidence);
        let (kind, _) = self.inner.parts.proposers.pick(session.settings.proposer);
        let chosen = session
            .settings
            .model
            .clone()
            .filter(|m| !m.trim().is_empty());
        let model = match kind {
            ProposerKind::Builtin => None,
            ProposerKind::Bedrock => chosen
                .or_else(|| self.config().bedrock.model.clone())
                .or_else(|| Some(devflow_llm::bedrock::DEFAULT_MODEL.to_string())),
            ProposerKind::Openai => chosen.or_else(|| self.config().openai.model.clone()),
        };
        (kind.as_str().to_string(), model, confidence)
    }

    /// History items of commands committed to a branch that has a pull request get its URL.
    pub(super) async fn link_pull_request(&self, session_id: &str, items: &mut [HistoryItem]) {
        let Ok(session) = self.session(session_id).await else {
            return;
        };
        let Some(pr_url) = session.pr_url else {
            return;
        };
        let Some(state) = self.load_git_state(session_id) else {
            return;
        };
        for item in items {
            if state
                .commits
                .iter()
                .any(|c| c.command_id == item.command_id && !c.rollback)
            {
                item.pr_url = Some(pr_url.clone());
            }
        }
    }

    /// `session/publish`: pushes the work branch (never forced) and opens, or updates, the
    /// GitHub pull request into the base branch. Nothing local changes unless it succeeds.
    pub async fn publish_session(&self, params: PublishParams) -> Result<PublishResult> {
        let session = self.session(&params.session_id).await?;
        let session_id = session.session_id.clone();
        let state = self.load_git_state(&session_id).ok_or_else(|| {
            ServiceError::conflict(
                "this session has no work branch to publish: start a session from a git URL (source.kind \"git\"), or turn on gitCommits for a folder inside a git repository",
            )
        })?;
        if let Some(title) = &params.title {
            if title.trim().is_empty() || title.chars().count() > 256 {
                return Err(ServiceError::invalid(
                    "title",
                    title.as_str(),
                    "title must have 1 to 256 characters",
                ));
            }
        }
        let branch = state.work_branch.clone();
        let (Some(owner), Some(name)) = (
            session.repository_owner.clone(),
            session.repository_name.clone(),
        ) else {
            return Err(ServiceError::conflict(format!(
                "cannot tell the GitHub owner and repository from {}: the remote URL needs them as its last two path segments",
                session
                    .repository_url
                    .as_deref()
                    .unwrap_or("the folder's repository (it has no remote \"origin\")")
            )));
        };
        let Some(base) = state.base_branch.clone() else {
            return Err(ServiceError::conflict(
                "the folder's HEAD was detached when gitCommits was turned on, so there is no branch to open the pull request against",
            ));
        };
        let token = self.github_token().ok_or_else(|| {
            ServiceError {
                field: Some("githubToken".into()),
                ..ServiceError::not_configured(
                    "publishing opens a GitHub pull request and needs a token: set githubToken (DEVFLOW_GITHUB_TOKEN), and githubApiUrl (DEVFLOW_GITHUB_API_URL) for GitHub Enterprise",
                )
            }
        })?;
        let github =
            GitHub::new(&self.github_api_url(), &token).map_err(|e| github_error(e, None))?;
        let git = self.git_cli()?;
        let work = self.work_lock(&session_id).await;
        let _work = work.lock().await; // no commit while the branch is pushed

        let remote_url = session.repository_url.clone().unwrap_or_default();
        let pushed = {
            let (state, remote_url) = (state.clone(), remote_url.clone());
            blocking(move || {
                let repository = git.repository_at(&state.repository, &state.prefix);
                let branch = &state.work_branch;
                if repository.commits_since(&state.base_commit, branch)? == 0 {
                    return Ok(false);
                }
                repository.push_branch(REMOTE, &remote_url, branch)?;
                Ok(true)
            })
            .await
            .map_err(git_error)?
        };
        if !pushed {
            return Err(ServiceError::conflict(format!(
                "nothing to publish yet: {branch} has no commit beyond {base}; apply a change first"
            )));
        }
        tracing::info!(session_id = %session_id, branch = %branch, "work branch pushed");

        let summary = Summary {
            session_name: session.name.clone(),
            session_id: session_id.clone(),
            branch: branch.clone(),
            changes: self.published_changes(&session_id, &state).await?,
        };
        let body = pull_request::render_body(&summary);
        let existing = github
            .open_pull_request(&owner, &name, &owner, &branch)
            .await
            .map_err(|e| github_error(e, Some(&branch)))?;
        let pull = match existing {
            Some(pull) => {
                github
                    .update_pull_request(&owner, &name, pull.number, params.title.as_deref(), &body)
                    .await
            }
            None => {
                let title = params
                    .title
                    .clone()
                    .unwrap_or_else(|| pull_request::default_title(&summary));
                github
                    .create_pull_request(
                        &owner,
                        &name,
                        &NewPullRequest {
                            title: &title,
                            head: &branch,
                            base: &base,
                            body: &body,
                            draft: params.draft.unwrap_or(false),
                        },
                    )
                    .await
            }
        }
        .map_err(|e| github_error(e, Some(&branch)))?;
        self.update_session(&session_id, |s| {
            s.pr_number = Some(pull.number);
            s.pr_url = Some(pull.html_url.clone());
            Ok(())
        })
        .await?;
        tracing::info!(session_id = %session_id, number = pull.number, url = %pull.html_url, "pull request published");
        self.publish(
            &session_id,
            None,
            EventBody::Log {
                level: "info".into(),
                message: format!(
                    "published {branch}: pull request #{} {}",
                    pull.number, pull.html_url
                ),
            },
        )
        .await?;
        self.touch(&session_id).await?;
        Ok(PublishResult {
            pr_number: pull.number,
            pr_url: pull.html_url,
            branch,
        })
    }

    /// The commands whose patches devflow committed, oldest first, for the body.
    async fn published_changes(&self, session_id: &str, state: &GitState) -> Result<Vec<Change>> {
        let mut changes = Vec::new();
        for recorded in state.commits.iter().filter(|c| !c.rollback) {
            let Some(command) = self
                .store()
                .get_command(session_id, &recorded.command_id)
                .await?
            else {
                continue;
            };
            let rolled_back = state
                .commits
                .iter()
                .any(|c| c.rollback && c.patch_id == recorded.patch_id);
            changes.push(Change {
                instruction: command.instruction.clone(),
                reason: command.proposals.last().map(|p| p.reason.clone()),
                command_id: command.command_id.clone(),
                patch_id: recorded.patch_id.clone(),
                drift_before: command.drift_before,
                drift_after: command.drift_after,
                rolled_back,
            });
        }
        Ok(changes)
    }
}
