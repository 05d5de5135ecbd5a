//! One command through the pipeline of DESIGN.md: ANALYZING (context, proposer) → PATCHING
//! (validate, plan, journal, write, verify) → READY; a failed proposal gets ONE re-inference
//! with the failure in its context; failing again, the workspace is back at its pre-command
//! state and the command is FAILED with a short summary and the logs URL. Nothing is ever
//! left half-applied: the journal is stored before any file is written. With a reference
//! set, a patch that lowers the drift score flags its command (`fidelityLowered`); when the
//! session's `guardFidelity` covers the command, it is rolled back and the command FAILS.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use devflow_protocol::{
    Command, CommandKind, CommandStatus, EventBody, Patch, PatchState, Proposal, ProposerKind,
    Session, Settings,
};
use devflow_store::{JournalState, PatchRecord};
use tracing::Instrument;

use super::{Result, Service};
use crate::error::ServiceError;
use crate::parts::{PatchEngine, ProposalRequest, ProposerError};

/// How a failed attempt ended.
enum AttemptFailure {
    /// Worth one re-inference (bad diff, hunk that does not match, verification failed).
    Retryable(String),
    /// Re-inference would not help (no proposer, storage failure).
    Final(String),
}

/// Workspace files listed for the proposer at most.
const MAX_LISTED_FILES: usize = 2000;

impl Service {
    pub(super) async fn run_command(&self, session_id: &str, command_id: &str) {
        let span = tracing::info_span!("command", session_id, command_id);
        async {
            if let Err(error) = self.run_command_inner(session_id, command_id).await {
                tracing::error!(%error, "command aborted by an internal error");
                if let Ok(command) = self.command(session_id, command_id).await {
                    if !command.status.is_final() {
                        let _ = self
                            .finish_failed(command, format!("internal error: {error}"), false)
                            .await;
                    }
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn run_command_inner(&self, session_id: &str, command_id: &str) -> Result<()> {
        let mut command = self.command(session_id, command_id).await?;
        if command.status != CommandStatus::Queued {
            return Ok(()); // cancelled while waiting
        }
        command.timings.started_at = Some(crate::now_millis());
        match command.kind.clone() {
            CommandKind::ManualPatch { proposal } => {
                command.proposals.push(proposal.clone());
                match self.attempt_patch(&mut command, &proposal, 1).await? {
                    Ok(()) => self.finish_ready(command).await,
                    Err(AttemptFailure::Retryable(summary) | AttemptFailure::Final(summary)) => {
                        self.finish_failed(command, summary, true).await
                    }
                }
            }
            CommandKind::Instruction => self.run_instruction(command).await,
        }
    }

    async fn run_instruction(&self, mut command: Command) -> Result<()> {
        let mut previous_failure: Option<String> = None;
        for attempt in 1..=2u32 {
            let proposal = match self
                .infer(&mut command, attempt, previous_failure.clone())
                .await?
            {
                Ok(proposal) => proposal,
                // The model answered, but not with a usable proposal: that is the failure the
                // one re-inference is for, told why.
                Err(AttemptFailure::Retryable(summary)) if attempt == 1 => {
                    self.publish(
                        &command.session_id,
                        Some(&command.command_id),
                        EventBody::PatchFailed {
                            summary: summary.clone(),
                            rolled_back: true,
                            will_retry: true,
                            logs_url: self.logs_url(&command.session_id),
                        },
                    )
                    .await?;
                    tracing::info!(%summary, "the first answer was unusable; asking once more");
                    previous_failure = Some(summary);
                    continue;
                }
                Err(AttemptFailure::Retryable(summary)) => {
                    return self.finish_failed(command, summary, true).await
                }
                Err(AttemptFailure::Final(summary)) => {
                    return self.finish_failed(command, summary, false).await
                }
            };
            match self.attempt_patch(&mut command, &proposal, attempt).await? {
                Ok(()) => return self.finish_ready(command).await,
                Err(AttemptFailure::Retryable(summary)) if attempt == 1 => {
                    self.publish(
                        &command.session_id,
                        Some(&command.command_id),
                        EventBody::PatchFailed {
                            summary: summary.clone(),
                            rolled_back: true,
                            will_retry: true,
                            logs_url: self.logs_url(&command.session_id),
                        },
                    )
                    .await?;
                    tracing::info!(%summary, "first proposal failed; asking once more");
                    previous_failure = Some(summary);
                }
                Err(AttemptFailure::Retryable(summary) | AttemptFailure::Final(summary)) => {
                    return self.finish_failed(command, summary, true).await
                }
            }
        }
        Ok(())
    }

    /// ANALYZING: builds the request and asks the session's proposer. `Err` = why no
    /// proposal came: `Retryable` when the model answered unusably (worth the re-inference),
    /// `Final` when asking again cannot help (no proposer, no credentials, service down).
    async fn infer(
        &self,
        command: &mut Command,
        attempt: u32,
        previous_failure: Option<String>,
    ) -> Result<std::result::Result<Proposal, AttemptFailure>> {
        self.set_status(command, CommandStatus::Analyzing).await?;
        let session = self.session(&command.session_id).await?;
        let (kind, proposer) = self.inner.parts.proposers.pick(session.settings.proposer);
        if let Some(target) = command.target.clone().filter(|_| attempt == 1) {
            // Earlier commands may have moved the rules since submit: resolve on today's files.
            match super::commands::resolve_target(self.workspace(&session), target).await {
                Ok(resolved) => command.target = Some(resolved),
                Err(message) => return Ok(Err(AttemptFailure::Final(message))),
            }
        }
        command.attempts = attempt;
        self.store().update_command(command).await?;
        self.publish(
            &command.session_id,
            Some(&command.command_id),
            EventBody::InferenceStarted {
                attempt,
                proposer: kind.as_str().into(),
            },
        )
        .await?;
        let Some(proposer) = proposer else {
            return Ok(Err(AttemptFailure::Final(not_configured_message(kind))));
        };
        // Only a model that sees images gets the page's screenshot: the baseline look the
        // patch's verification reuses, so it costs no second page load.
        let page_now = if proposer.takes_images(session.settings.model.as_deref()) {
            self.page_now(&session).await
        } else {
            None
        };
        let workspace = self.workspace(&session);
        let request = ProposalRequest {
            session_id: session.session_id.clone(),
            instruction: command.instruction.clone(),
            prompt: session.settings.prompt.clone(),
            model: session.settings.model.clone(),
            target: command.target.clone(),
            files: list_files(&workspace),
            tokens: self.reference_tokens(&session.session_id),
            reference_screen: self
                .screen_to_match(&session.session_id, &command.instruction)
                .await,
            workspace,
            recent_errors: session
                .last_error_summary
                .clone()
                .into_iter()
                .chain(
                    self.inner
                        .parts
                        .preview
                        .recent_errors(&session.session_id)
                        .await,
                )
                .collect(),
            previous_failure,
            page_now,
        };
        let answer = match proposer.propose(request).await {
            Ok(answer) => answer,
            Err(ProposerError::Unusable(reason)) => {
                tracing::warn!(%reason, proposer = kind.as_str(), "the proposer's answer was unusable");
                return Ok(Err(AttemptFailure::Retryable(format!(
                    "the {} proposer's answer was unusable: {reason}",
                    kind.as_str()
                ))));
            }
            Err(ProposerError::NotConfigured(message) | ProposerError::Failed(message)) => {
                tracing::warn!(%message, proposer = kind.as_str(), "proposer gave no proposal");
                return Ok(Err(AttemptFailure::Final(format!(
                    "the {} proposer gave no proposal: {message}",
                    kind.as_str()
                ))));
            }
        };
        if let Some(usage) = answer.usage {
            let total = command.usage.get_or_insert_with(Default::default);
            total.input_tokens += usage.input_tokens;
            total.output_tokens += usage.output_tokens;
        }
        command.proposals.push(answer.proposal.clone());
        self.store().update_command(command).await?;
        self.publish(
            &command.session_id,
            Some(&command.command_id),
            EventBody::InferenceCompleted {
                attempt,
                files_to_edit: answer.proposal.files_to_edit.clone(),
                reason: answer.proposal.reason.clone(),
                confidence: answer.proposal.confidence,
                usage: answer.usage,
            },
        )
        .await?;
        Ok(Ok(answer.proposal))
    }

    /// PATCHING: validate, plan, journal, write, verify. On `Err` the workspace is as it was
    /// before this attempt.
    async fn attempt_patch(
        &self,
        command: &mut Command,
        proposal: &Proposal,
        attempt: u32,
    ) -> Result<std::result::Result<(), AttemptFailure>> {
        self.set_status(command, CommandStatus::Patching).await?;
        self.publish(
            &command.session_id,
            Some(&command.command_id),
            EventBody::PatchApplyStarted {
                attempt,
                files: proposal.files_to_edit.clone(),
            },
        )
        .await?;
        if let Err(problem) = proposal.validate() {
            return Ok(Err(AttemptFailure::Retryable(format!(
                "the proposal is invalid: {}",
                problem.message
            ))));
        }
        let session = self.session(&command.session_id).await?;
        let workspace = self.workspace(&session);
        let engine = self.inner.parts.patch_engine.clone();
        let plan = {
            let (workspace, proposal) = (workspace.clone(), proposal.clone());
            tokio::task::spawn_blocking(move || engine.plan(&workspace, &proposal))
                .await
                .map_err(|e| ServiceError::internal(format!("patch planning panicked: {e}")))?
        };
        let plan = match plan {
            Ok(plan) => plan,
            Err(rejection) => {
                tracing::warn!(summary = %rejection.summary, "patch rejected before writing");
                return Ok(Err(AttemptFailure::Retryable(rejection.summary)));
            }
        };
        let files: Vec<String> = plan.files.iter().map(|f| f.path.clone()).collect();
        let patch_id = uuid::Uuid::new_v4().to_string();
        let mut record = PatchRecord {
            patch: Patch {
                patch_id: patch_id.clone(),
                session_id: command.session_id.clone(),
                command_id: command.command_id.clone(),
                parent_patch_id: session.last_applied_patch_id.clone(),
                files: plan
                    .files
                    .iter()
                    .map(|f| devflow_protocol::PatchFile {
                        path: f.path.clone(),
                        pre_image_hash: f.before.as_deref().map(crate::engine::sha256_hex),
                        post_image_hash: f.after.as_deref().map(crate::engine::sha256_hex),
                    })
                    .collect(),
                hunks: plan.hunks.clone(),
                unified_diff: plan.unified_diff.clone(),
                state: PatchState::Applied,
                applied_at: crate::now_millis(),
                rolled_back_at: None,
            },
            journal_state: JournalState::Applying,
            files: plan.files,
        };
        // The reference is read once for both drift reports of this attempt.
        let tokens = Arc::new(self.reference_tokens(&session.session_id));
        let drift_before = self.drift_now(&tokens, &workspace).await;
        // The page in a browser as it is before the patch: what verification compares with.
        let browser_before = self.look_before_patch(&session).await;
        // Journal first: a stop between here and `Applied` is undone on the next start.
        self.store().put_patch(&record).await?;
        // The watcher leaves these to the PREVIEW_UPDATED below, which carries the patch id.
        self.inner
            .parts
            .preview
            .files_writing(&command.session_id, &files)
            .await;
        let (written, journal_files) = {
            let (workspace, journal_files) = (workspace.clone(), std::mem::take(&mut record.files));
            self.with_patch_engine(move |engine| {
                let written = engine.commit(&workspace, &journal_files);
                if written.is_err() {
                    // The engine undoes its own partial writes; should that undo have failed
                    // too, the journal still holds every pre-image.
                    let _ = engine.restore(&workspace, &journal_files, true);
                }
                (written, journal_files)
            })
            .await?
        };
        record.files = journal_files;
        if let Err(error) = written {
            self.mark_rolled_back(&mut record).await?;
            return Ok(Err(AttemptFailure::Final(format!(
                "could not write the files: {error}"
            ))));
        }
        record.journal_state = JournalState::Applied;
        self.store().put_patch(&record).await?;
        self.inner.metrics.patch_applied();
        tracing::info!(patch_id = %patch_id, files = ?files, "patch written");

        let css_only = files.iter().all(|f| f.ends_with(".css"));
        if session.preview_url.is_some() {
            self.inner
                .parts
                .preview
                .files_changed(&command.session_id, &files)
                .await;
            if let Err(http_problem) = self.inner.parts.preview.verify(&command.session_id).await {
                // Broken already; the browser's look adds what the page itself says.
                let verdict = self
                    .verify_after_patch(&session, browser_before, Some(http_problem))
                    .await;
                let problems = self.take_verdict(command, attempt, verdict).await;
                return self
                    .undo_attempt(&workspace, &mut record, &files, problems)
                    .await;
            }
        }
        // The page serves the patch: say so now, not after the browser's slower look (about a
        // second), which can still fail the attempt and roll it back below.
        self.publish(
            &command.session_id,
            Some(&command.command_id),
            EventBody::PatchApplyCompleted {
                patch_id: patch_id.clone(),
                files: files.clone(),
                hunks: record.patch.hunks.clone(),
            },
        )
        .await?;
        self.publish(
            &command.session_id,
            Some(&command.command_id),
            EventBody::PreviewUpdated {
                patch_id: Some(patch_id.clone()),
                files: files.clone(),
                css_only,
            },
        )
        .await?;
        if session.preview_url.is_some() {
            let verdict = self
                .verify_after_patch(&session, browser_before, None)
                .await;
            let problems = self.take_verdict(command, attempt, verdict).await;
            if !problems.is_empty() {
                let failed = self
                    .undo_attempt(&workspace, &mut record, &files, problems)
                    .await?;
                // The page went back: subscribers that showed the patch show this instead.
                self.publish(
                    &command.session_id,
                    Some(&command.command_id),
                    EventBody::PreviewUpdated {
                        patch_id: None,
                        files,
                        css_only,
                    },
                )
                .await?;
                return Ok(failed);
            }
        }

        let drift_after = self.drift_now(&tokens, &workspace).await;
        command.patch_id = Some(patch_id.clone());
        command.drift_before = drift_before.as_ref().map(|d| d.score);
        command.drift_after = drift_after.as_ref().map(|d| d.score);
        // The score is the on-token share: lower = further from the reference.
        let lowered = match (command.drift_before, command.drift_after) {
            (Some(before), Some(after)) if after < before => Some((before, after)),
            _ => None,
        };
        command.fidelity_lowered = lowered.is_some();
        if let Some((before, after)) = lowered {
            tracing::warn!(
                before,
                after,
                "the patch moved the site away from the reference"
            );
        }
        self.store().update_command(command).await?;
        self.update_session(&command.session_id, |s| {
            s.last_applied_patch_id = Some(patch_id.clone());
            Ok(())
        })
        .await?;
        if let Some(report) = drift_after {
            self.publish(
                &command.session_id,
                Some(&command.command_id),
                EventBody::DriftReport {
                    report,
                    fidelity: command.fidelity.clone(),
                },
            )
            .await?;
        }
        self.store_patch_artifacts(command, &record.patch).await;
        if let Some((before, after)) = lowered {
            if guards_fidelity(&session.settings, command) {
                return self
                    .undo_for_fidelity(&session, patch_id, before, after)
                    .await;
            }
        }
        Ok(Ok(()))
    }

    /// Puts a verification verdict in the command: the verification, and this attempt's
    /// pictures (or none). Returns the problems found, joined.
    async fn take_verdict(
        &self,
        command: &mut Command,
        attempt: u32,
        verdict: super::screens::Verdict,
    ) -> String {
        let problems = verdict.verification.problems.join("; ");
        command.verification = Some(verdict.verification);
        command.screenshots.clear();
        command.fidelity = None;
        if let Some((before, after)) = verdict.looks {
            self.keep_pictures(command, attempt, before, after).await;
        }
        problems
    }

    /// Verification failed with `problems`: restores the files the patch wrote (the watcher
    /// leaves them to the caller), marks the patch rolled back and says why the attempt failed.
    async fn undo_attempt(
        &self,
        workspace: &Path,
        record: &mut PatchRecord,
        files: &[String],
        problems: String,
    ) -> Result<std::result::Result<(), AttemptFailure>> {
        let session_id = record.patch.session_id.clone();
        let preview = &self.inner.parts.preview;
        preview.files_writing(&session_id, files).await;
        let (restored, journal_files) = {
            let (workspace, journal_files) =
                (workspace.to_path_buf(), std::mem::take(&mut record.files));
            self.with_patch_engine(move |engine| {
                (
                    engine.restore(&workspace, &journal_files, true),
                    journal_files,
                )
            })
            .await?
        };
        record.files = journal_files;
        self.mark_rolled_back(record).await?;
        preview.files_changed(&session_id, files).await;
        if let Err(restore_error) = restored {
            return Ok(Err(AttemptFailure::Final(format!(
                "the page broke after the patch ({problems}) and restoring failed: {restore_error}"
            ))));
        }
        Ok(Err(AttemptFailure::Retryable(format!(
            "the page broke after the patch: {problems}"
        ))))
    }

    /// Runs a write of the patch engine on the blocking pool: it fsyncs every file and its
    /// folder, and an async worker waiting on the disk would hold up every other session's
    /// requests and events meanwhile (measured in BENCHMARKS.md, "Load").
    async fn with_patch_engine<T: Send + 'static>(
        &self,
        write: impl FnOnce(&dyn PatchEngine) -> T + Send + 'static,
    ) -> Result<T> {
        let engine = self.inner.parts.patch_engine.clone();
        tokio::task::spawn_blocking(move || write(engine.as_ref()))
            .await
            .map_err(|e| ServiceError::internal(format!("writing the patch panicked: {e}")))
    }

    /// The fidelity guard: rolls the patch just applied back through the same path as
    /// `session/rollback` (ROLLBACK_COMPLETED, PREVIEW_UPDATED), so the command can end
    /// FAILED with the workspace as it was. Should the rollback be refused (a file changed
    /// in between), the patch stays applied and the command READY, flagged.
    async fn undo_for_fidelity(
        &self,
        session: &Session,
        patch_id: String,
        before: f64,
        after: f64,
    ) -> Result<std::result::Result<(), AttemptFailure>> {
        match self.rollback_locked(session, Some(patch_id.clone())).await {
            Ok(_) => {
                tracing::info!(%patch_id, before, after, "patch rolled back by guardFidelity");
                Ok(Err(AttemptFailure::Final(format!(
                    "Rolled back: the patch lowered fidelity to the reference from {before} to {after} (guardFidelity)"
                ))))
            }
            Err(error) => {
                tracing::error!(%patch_id, %error, "guardFidelity could not roll the patch back; it stays applied");
                Ok(Ok(()))
            }
        }
    }

    /// The site's drift against the session's reference, off the async threads.
    async fn drift_now(
        &self,
        tokens: &Arc<Vec<devflow_protocol::ResolvedToken>>,
        workspace: &Path,
    ) -> Option<devflow_protocol::DriftReport> {
        if tokens.is_empty() {
            return None;
        }
        let (tokens, workspace) = (Arc::clone(tokens), workspace.to_path_buf());
        tokio::task::spawn_blocking(move || super::reference::drift_of(&tokens, &workspace))
            .await
            .ok()
            .flatten()
    }

    async fn mark_rolled_back(&self, record: &mut PatchRecord) -> Result<()> {
        record.journal_state = JournalState::RolledBack;
        record.patch.state = PatchState::RolledBack;
        record.patch.rolled_back_at = Some(crate::now_millis());
        self.store().put_patch(record).await?;
        Ok(())
    }

    async fn set_status(&self, command: &mut Command, status: CommandStatus) -> Result<()> {
        command.status = status;
        self.store().update_command(command).await?;
        self.publish(
            &command.session_id,
            Some(&command.command_id),
            EventBody::CommandStatus {
                status,
                error_summary: None,
            },
        )
        .await
    }

    async fn finish_ready(&self, mut command: Command) -> Result<()> {
        self.commit_command(&command).await; // one commit on the work branch, if the session has one
        command.timings.finished_at = Some(crate::now_millis());
        command.error_summary = None;
        self.set_status(&mut command, CommandStatus::Ready).await?;
        self.inner.metrics.command_finished(CommandStatus::Ready);
        tracing::info!("command READY");
        Ok(())
    }

    /// FAILED with a summary. `patch_attempted`: a PATCH_FAILED event tells that the
    /// workspace is back at its pre-command state.
    pub(super) async fn finish_failed(
        &self,
        mut command: Command,
        summary: String,
        patch_attempted: bool,
    ) -> Result<()> {
        let logs_url = self.logs_url(&command.session_id);
        tracing::warn!(%summary, "command FAILED");
        if patch_attempted {
            self.publish(
                &command.session_id,
                Some(&command.command_id),
                EventBody::PatchFailed {
                    summary: summary.clone(),
                    rolled_back: true,
                    will_retry: false,
                    logs_url,
                },
            )
            .await?;
        }
        command.status = CommandStatus::Failed;
        command.error_summary = Some(summary.clone());
        command.timings.finished_at = Some(crate::now_millis());
        self.store().update_command(&command).await?;
        self.update_session(&command.session_id, |s: &mut Session| {
            s.last_error_summary = Some(summary.clone());
            Ok(())
        })
        .await?;
        self.inner.metrics.command_finished(CommandStatus::Failed);
        self.publish(
            &command.session_id,
            Some(&command.command_id),
            EventBody::CommandStatus {
                status: CommandStatus::Failed,
                error_summary: Some(summary),
            },
        )
        .await
    }
}

/// Whether a patch of this command that lowers the drift score is rolled back: the
/// session's `guardFidelity`, by default only for "match the reference" instructions.
fn guards_fidelity(settings: &Settings, command: &Command) -> bool {
    match settings.guard_fidelity {
        Some(guard) => guard,
        None => {
            matches!(command.kind, CommandKind::Instruction)
                && devflow_builtin::is_match_reference_instruction(&command.instruction)
        }
    }
}

fn not_configured_message(kind: ProposerKind) -> String {
    format!(
        "no {} proposer is configured in this daemon; choose another with the session setting `proposer` or DEVFLOW_PROPOSER",
        kind.as_str()
    )
}

/// Workspace files for the proposer's context, skipping dependency and VCS folders.
fn list_files(workspace: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut stack: Vec<PathBuf> = vec![workspace.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if !matches!(name, "node_modules" | ".git" | "dist" | "target") {
                    stack.push(entry.path());
                }
            } else if kind.is_file() {
                if let Ok(relative) = entry.path().strip_prefix(workspace) {
                    files.push(relative.to_string_lossy().replace('\\', "/"));
                }
            }
            if files.len() >= MAX_LISTED_FILES {
                files.sort();
                return files;
            }
        }
    }
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(kind: serde_json::Value, instruction: &str) -> Command {
        serde_json::from_value(serde_json::json!({
            "commandId": "c", "sessionId": "s", "instruction": instruction, "kind": kind,
            "idempotencyKey": null, "target": null, "status": "QUEUED", "proposals": [],
            "patchId": null, "attempts": 0, "errorSummary": null, "cancelled": false,
            "usage": null, "timings": {"queuedAt": 0, "startedAt": null, "finishedAt": null}
        }))
        .expect("a valid command")
    }

    #[test]
    fn guard_fidelity_by_default_covers_match_the_reference_instructions_only() {
        let instruction = |text: &str| command(serde_json::json!({"kind": "instruction"}), text);
        let manual = command(
            serde_json::json!({"kind": "manualPatch", "proposal": {
                "files_to_edit": ["a.css"], "unified_diff": "", "reason": "use the design tokens",
                "confidence": 1.0
            }}),
            "use the design tokens",
        );
        let default = Settings::default();
        assert!(guards_fidelity(
            &default,
            &instruction("use the design tokens")
        ));
        assert!(guards_fidelity(
            &default,
            &instruction("トークンに合わせて")
        ));
        assert!(!guards_fidelity(
            &default,
            &instruction("make the buttons red")
        ));
        assert!(!guards_fidelity(&default, &manual));
        let on = Settings {
            guard_fidelity: Some(true),
            ..Settings::default()
        };
        assert!(guards_fidelity(&on, &instruction("make the buttons red")));
        assert!(guards_fidelity(&on, &manual));
        let off = Settings {
            guard_fidelity: Some(false),
            ..Settings::default()
        };
        assert!(!guards_fidelity(&off, &instruction("match the reference")));
    }
}
