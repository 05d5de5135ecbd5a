//! Submitting, cancelling and listing commands, and the per-session queue that runs them one
//! at a time, in order, waiting while the session is paused.

use devflow_protocol::{
    ApplyPatchParams, Command, CommandKind, CommandParams, CommandStatus, CommandTimings,
    EventBody, HistoryItem, HistoryPage, HistoryParams, Proposal, SessionStatus,
    SubmitCommandParams, SubmitCommandResult, MAX_INSTRUCTION_CHARS,
};
use devflow_store::Inserted;

use super::{Result, Service};
use crate::error::ServiceError;

const MAX_IDEMPOTENCY_KEY_CHARS: usize = 200;

/// An instruction must have 1..=5000 characters (seed 004).
pub(super) fn check_instruction(field: &str, text: &str) -> Result<()> {
    let chars = text.chars().count();
    if text.trim().is_empty() {
        return Err(ServiceError::invalid(
            field,
            text,
            format!("{field} is empty"),
        ));
    }
    if chars > MAX_INSTRUCTION_CHARS {
        return Err(ServiceError::invalid(
            field,
            chars,
            format!("{field} has {chars} characters; at most {MAX_INSTRUCTION_CHARS} are allowed"),
        ));
    }
    Ok(())
}

/// Resolves a target (the element, the rules that style it) against the workspace's files.
pub(super) async fn resolve_target(
    workspace: std::path::PathBuf,
    target: devflow_protocol::Target,
) -> std::result::Result<devflow_protocol::Target, String> {
    tokio::task::spawn_blocking(move || {
        let files = crate::builtin_proposer::site_files(&workspace);
        devflow_targets::resolve(&files, &target).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| format!("target resolution stopped: {e}"))?
}

fn check_idempotency_key(key: &Option<String>) -> Result<()> {
    if let Some(key) = key {
        if key.is_empty() || key.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS {
            return Err(ServiceError::invalid(
                "idempotencyKey",
                key.as_str(),
                format!("idempotencyKey must have 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters"),
            ));
        }
    }
    Ok(())
}

impl Service {
    pub async fn submit_command(&self, params: SubmitCommandParams) -> Result<SubmitCommandResult> {
        check_instruction("instruction", &params.instruction)?;
        check_idempotency_key(&params.idempotency_key)?;
        let mut target = params.target;
        if let Some(asked) = &target {
            if asked.selector.trim().is_empty() {
                return Err(ServiceError::invalid(
                    "target.selector",
                    asked.selector.as_str(),
                    "target.selector is empty",
                ));
            }
            // Resolved now when the site is there, so a selector that names nothing is
            // refused at once; the pipeline resolves it again against the files it runs on.
            let session = self.session(&params.session_id).await?;
            let workspace = self.workspace(&session);
            if workspace.is_dir() {
                let resolved =
                    resolve_target(workspace, asked.clone())
                        .await
                        .map_err(|message| {
                            ServiceError::invalid(
                                "target.selector",
                                asked.selector.as_str(),
                                message,
                            )
                        })?;
                target = Some(resolved);
            }
        }
        self.enqueue(
            &params.session_id,
            params.instruction,
            CommandKind::Instruction,
            params.idempotency_key,
            target,
        )
        .await
    }

    /// A person's own diff, run through the same pipeline without a proposer.
    pub async fn apply_patch(&self, params: ApplyPatchParams) -> Result<SubmitCommandResult> {
        check_idempotency_key(&params.idempotency_key)?;
        let files_to_edit = match params.files_to_edit {
            Some(files) => files,
            None => files_named_by_diff(&params.unified_diff),
        };
        let proposal = Proposal {
            files_to_edit,
            unified_diff: params.unified_diff,
            reason: params
                .reason
                .clone()
                .unwrap_or_else(|| "manual patch".into()),
            confidence: 1.0,
        };
        if let Err(problem) = proposal.validate() {
            return Err(ServiceError::invalid(
                problem.field,
                problem.value,
                problem.message,
            ));
        }
        let instruction: String = params
            .reason
            .unwrap_or_else(|| "manual patch".into())
            .chars()
            .take(MAX_INSTRUCTION_CHARS)
            .collect();
        self.enqueue(
            &params.session_id,
            instruction,
            CommandKind::ManualPatch { proposal },
            params.idempotency_key,
            None,
        )
        .await
    }

    async fn enqueue(
        &self,
        session_id: &str,
        instruction: String,
        kind: CommandKind,
        idempotency_key: Option<String>,
        target: Option<devflow_protocol::Target>,
    ) -> Result<SubmitCommandResult> {
        let session = self.session(session_id).await?;
        if session.status == SessionStatus::Stopped {
            return Err(ServiceError::conflict(
                "the session is stopped; create a new session to continue",
            ));
        }
        let command = Command {
            command_id: uuid::Uuid::new_v4().to_string(),
            session_id: session_id.to_string(),
            instruction,
            kind,
            idempotency_key,
            target,
            status: CommandStatus::Queued,
            proposals: Vec::new(),
            patch_id: None,
            attempts: 0,
            error_summary: None,
            cancelled: false,
            usage: None,
            drift_before: None,
            drift_after: None,
            fidelity_lowered: false,
            verification: None,
            screenshots: Vec::new(),
            fidelity: None,
            timings: CommandTimings {
                queued_at: crate::now_millis(),
                started_at: None,
                finished_at: None,
            },
        };
        let command = {
            // Holding the runtime lock from insert to enqueue keeps queue order = store order.
            let mut runtime = self.inner.runtime.lock().await;
            match self.store().insert_command(&command).await? {
                Inserted::Existing(existing) => {
                    tracing::info!(session_id, command_id = %existing.command_id, "idempotent resubmission");
                    return Ok(SubmitCommandResult {
                        command_id: existing.command_id,
                        status: existing.status,
                    });
                }
                Inserted::New(command) => {
                    // In a fleet the session's owner queues it (below, or from the event).
                    if self.fleet().is_none() {
                        runtime
                            .queues
                            .entry(session_id.to_string())
                            .or_default()
                            .pending
                            .push_back(command.command_id.clone());
                    }
                    command
                }
            }
        };
        self.inner.metrics.command_submitted();
        tracing::info!(session_id, command_id = %command.command_id, "command queued");
        self.publish(
            session_id,
            Some(&command.command_id),
            EventBody::CommandStatus {
                status: CommandStatus::Queued,
                error_summary: None,
            },
        )
        .await?;
        if self.fleet().is_some() {
            if self.route(session_id).await? == super::Route::Here {
                self.pick_up_queued(session_id, &command.command_id).await;
            }
        } else {
            self.touch(session_id).await?;
            self.ensure_worker(session_id).await;
        }
        Ok(SubmitCommandResult {
            command_id: command.command_id,
            status: CommandStatus::Queued,
        })
    }

    /// Starts the session's queue worker unless it runs already or the session is paused.
    pub(super) async fn ensure_worker(&self, session_id: &str) {
        {
            let mut runtime = self.inner.runtime.lock().await;
            let queue = runtime.queues.entry(session_id.to_string()).or_default();
            if queue.worker_running || queue.pending.is_empty() {
                return;
            }
            queue.worker_running = true;
        }
        let service = self.clone();
        let session_id = session_id.to_string();
        let key = session_id.clone();
        let worker = tokio::spawn(async move { service.drain_queue(&session_id).await });
        let mut runtime = self.inner.runtime.lock().await;
        if let Some(queue) = runtime.queues.get_mut(&key) {
            queue.worker = Some(worker.abort_handle());
        }
    }

    async fn drain_queue(&self, session_id: &str) {
        loop {
            let paused = match self.session(session_id).await {
                Ok(session) => session.paused,
                Err(_) => true,
            };
            let next = {
                let mut runtime = self.inner.runtime.lock().await;
                let Some(queue) = runtime.queues.get_mut(session_id) else {
                    return;
                };
                let next = if paused {
                    None
                } else {
                    queue.pending.pop_front()
                };
                if next.is_none() {
                    queue.worker_running = false;
                    return;
                }
                next.map(|id| (id, queue.work.clone()))
            };
            if let Some((command_id, work)) = next {
                let _work = work.lock().await;
                self.run_command(session_id, &command_id).await;
            }
        }
    }

    pub async fn get_command(&self, params: CommandParams) -> Result<Command> {
        self.session(&params.session_id).await?;
        self.command(&params.session_id, &params.command_id).await
    }

    /// Cancels a command that is still QUEUED; a running or finished one cannot be.
    pub async fn cancel_command(&self, params: CommandParams) -> Result<Command> {
        self.session(&params.session_id).await?;
        let removed = {
            let mut runtime = self.inner.runtime.lock().await;
            let queue = runtime.queues.entry(params.session_id.clone()).or_default();
            let before = queue.pending.len();
            queue.pending.retain(|id| id != &params.command_id);
            queue.pending.len() != before
        };
        let command = self.command(&params.session_id, &params.command_id).await?;
        if !removed {
            return Err(ServiceError::conflict(format!(
                "command {} is {}; only a QUEUED command can be cancelled",
                command.command_id,
                command.status.as_str()
            )));
        }
        self.finish_cancelled(command, "cancelled by the user")
            .await
    }

    /// Fails every queued command of a session (on stop).
    pub(super) async fn cancel_queued(&self, session_id: &str, why: &str) -> Result<()> {
        let pending: Vec<String> = {
            let mut runtime = self.inner.runtime.lock().await;
            runtime
                .queues
                .get_mut(session_id)
                .map(|q| q.pending.drain(..).collect())
                .unwrap_or_default()
        };
        for command_id in pending {
            let command = self.command(session_id, &command_id).await?;
            self.finish_cancelled(command, why).await?;
        }
        Ok(())
    }

    async fn finish_cancelled(&self, mut command: Command, why: &str) -> Result<Command> {
        command.status = CommandStatus::Failed;
        command.cancelled = true;
        command.error_summary = Some(why.to_string());
        command.timings.finished_at = Some(crate::now_millis());
        self.store().update_command(&command).await?;
        self.inner.metrics.command_finished(CommandStatus::Failed);
        tracing::info!(session_id = %command.session_id, command_id = %command.command_id, why, "command cancelled");
        self.publish(
            &command.session_id,
            Some(&command.command_id),
            EventBody::CommandStatus {
                status: CommandStatus::Failed,
                error_summary: Some(why.to_string()),
            },
        )
        .await?;
        Ok(command)
    }

    pub async fn history(&self, params: HistoryParams) -> Result<HistoryPage> {
        self.session(&params.session_id).await?;
        let limit = params.limit.unwrap_or(20);
        if limit == 0 || limit > 100 {
            return Err(ServiceError::invalid(
                "limit",
                limit,
                "limit must be between 1 and 100",
            ));
        }
        let (items, next_cursor) = self
            .history_items(&params.session_id, limit, params.cursor.as_deref())
            .await?;
        Ok(HistoryPage { items, next_cursor })
    }

    pub(super) async fn history_items(
        &self,
        session_id: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<(Vec<HistoryItem>, Option<String>)> {
        let page = self.store().command_page(session_id, limit, cursor).await?;
        let mut items: Vec<HistoryItem> = page.commands.iter().map(history_item).collect();
        self.link_pull_request(session_id, &mut items).await; // prUrl of published commits
        Ok((items, page.next_cursor))
    }
}

fn history_item(command: &Command) -> HistoryItem {
    let response = match (&command.error_summary, command.proposals.last()) {
        (Some(error), _) => error.clone(),
        (None, Some(proposal)) => proposal.reason.clone(),
        (None, None) => command.status.as_str().to_string(),
    };
    HistoryItem {
        command_id: command.command_id.clone(),
        prompt: command.instruction.clone(),
        response,
        status: command.status,
        patch_id: command.patch_id.clone(),
        timestamp: command.timings.queued_at / 1000,
        pr_url: None,
    }
}

/// The files a diff's `+++`/`---` headers name, for a manual patch without `files_to_edit`.
pub(crate) fn files_named_by_diff(diff: &str) -> Vec<String> {
    let mut files: Vec<String> = Vec::new();
    for line in diff.lines() {
        let Some(rest) = line
            .strip_prefix("+++ ")
            .or_else(|| line.strip_prefix("--- "))
        else {
            continue;
        };
        let path = rest.split('\t').next().unwrap_or("").trim();
        if path == "/dev/null" || path.is_empty() {
            continue;
        }
        let path = path
            .strip_prefix("a/")
            .or_else(|| path.strip_prefix("b/"))
            .unwrap_or(path)
            .to_string();
        if !files.contains(&path) {
            files.push(path);
        }
    }
    files
}

impl Service {
    /// Starts following a session's events after `afterSeq` (default 0: everything).
    pub async fn subscribe(
        &self,
        params: devflow_protocol::SubscribeParams,
    ) -> Result<(
        devflow_protocol::SubscribeResult,
        crate::events::Subscription,
    )> {
        self.session(&params.session_id).await?;
        let subscription = self
            .inner
            .events
            .subscribe(&params.session_id, params.after_seq.unwrap_or(0))
            .await?;
        let result = devflow_protocol::SubscribeResult {
            session_id: params.session_id,
            last_seq: subscription.last_seq_at_start(),
        };
        Ok((result, subscription))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_named_by_diff_strips_prefixes_and_skips_dev_null() {
        let diff = "--- /dev/null\n+++ b/css/new.css\n@@ -0,0 +1 @@\n+a\n--- a/index.html\n+++ b/index.html\n";
        assert_eq!(
            files_named_by_diff(diff),
            vec!["css/new.css".to_string(), "index.html".to_string()]
        );
    }

    #[test]
    fn instruction_of_5001_characters_is_refused_with_its_length() {
        let error = check_instruction("instruction", &"あ".repeat(5001)).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("instruction"));
        assert!(error.message.contains("5001"), "{}", error.message);
        assert!(check_instruction("instruction", &"あ".repeat(5000)).is_ok());
    }
}
