//! `devflow run`: the seed-000 loop without a UI, for CI pipelines and scripts. It runs the
//! same facade in-process on a private state dir: session, optional reference and preview,
//! each instruction through the pipeline, the result as JSON. Progress goes to stderr; the
//! exit code says how it ended (0 READY, 1 FAILED, 2 bad input, 3 environment problem).

use std::io::IsTerminal;
use std::path::PathBuf;

use devflow_protocol::{
    CommandParams, CommandStatus, CreateSessionParams, EventBody, PatchParams, ProposerKind,
    RollbackParams, SessionParams, SessionSource, SessionStatus, SetReferenceParams, SettingsPatch,
    SubmitCommandParams, SubscribeParams, UpdateSettingsParams, UploadParams,
};
use serde_json::{json, Value};

use crate::config::Config;
use crate::error::ServiceError;
use crate::service::Service;

#[derive(Debug, Clone)]
pub enum Site {
    Dir(PathBuf),
    Zip(PathBuf),
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub site: Site,
    /// Run in order; stop at the first that does not end READY.
    pub instructions: Vec<String>,
    pub reference: Option<PathBuf>,
    pub proposer: Option<ProposerKind>,
    /// Start the preview so every patch is verified against the running page.
    pub verify: bool,
    /// Leave the applied changes in a `--dir` folder (otherwise they are rolled back at the end).
    pub keep_changes: bool,
    /// Write the combined diff of the applied patches here.
    pub out: Option<PathBuf>,
    /// A state dir to keep; by default the run uses a private one, removed at the end.
    pub state_dir: Option<PathBuf>,
    /// Proposer and model settings; its `state_dir` is replaced by the run's.
    pub config: Config,
}

/// How the run ended.
pub struct RunOutcome {
    pub exit_code: u8,
    pub report: Value,
}

pub const EXIT_READY: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
pub const EXIT_ENVIRONMENT: u8 = 3;

/// Progress on stderr: on a terminal a bar redrawn in place, otherwise (CI logs, pipes) one
/// plain line per step.
struct Progress {
    tty: bool,
    /// Instructions in the run.
    total: usize,
}

/// Width of the bar in characters.
const BAR_WIDTH: usize = 24;

impl Progress {
    fn new(total: usize) -> Self {
        Progress {
            tty: std::io::stderr().is_terminal(),
            total: total.max(1),
        }
    }

    /// A message of its own line.
    fn note(&self, line: &str) {
        if self.tty {
            eprintln!("\r\x1b[2K{line}");
        } else {
            eprintln!("{line}");
        }
    }

    /// Instruction `index` (0-based) reached `status`.
    fn command(
        &self,
        index: usize,
        instruction: &str,
        status: CommandStatus,
        detail: Option<&str>,
    ) {
        let short: String = instruction.chars().take(60).collect();
        let text = match detail {
            Some(detail) => format!("{short}: {} — {detail}", status.as_str()),
            None => format!("{short}: {}", status.as_str()),
        };
        if !self.tty {
            eprintln!("{text}");
            return;
        }
        let stage = match status {
            CommandStatus::Queued => 0.05,
            CommandStatus::Analyzing => 0.3,
            CommandStatus::Patching => 0.7,
            CommandStatus::Ready | CommandStatus::Failed => 1.0,
        };
        let done = (index as f64 + stage) / self.total as f64;
        let filled = ((done * BAR_WIDTH as f64).round() as usize).min(BAR_WIDTH);
        let bar = format!("{}{}", "#".repeat(filled), "-".repeat(BAR_WIDTH - filled));
        let position = format!("{}/{}", index + 1, self.total);
        if status.is_final() {
            eprintln!("\r\x1b[2K[{bar}] {position} {text}");
        } else {
            // One line only: the rest of the text would wrap and break the redraw.
            let line: String = format!("[{bar}] {position} {text}")
                .lines()
                .next()
                .unwrap_or_default()
                .chars()
                .take(120)
                .collect();
            eprint!("\r\x1b[2K{line}");
        }
    }

    /// A step of the instruction that is not a status (the re-inference).
    fn command_note(&self, instruction: &str, line: &str) {
        let short: String = instruction.chars().take(60).collect();
        self.note(&format!("{short}: {line}"));
    }
}

fn bad_input(error: ServiceError) -> RunOutcome {
    let exit_code = match error.code {
        devflow_protocol::ErrorCode::Internal | devflow_protocol::ErrorCode::NotConfigured => {
            EXIT_ENVIRONMENT
        }
        _ => EXIT_BAD_INPUT,
    };
    RunOutcome {
        exit_code,
        report: json!({ "status": "ERROR", "error": error.to_api_error() }),
    }
}

/// Runs the instructions; never panics on bad input.
pub async fn run(options: RunOptions) -> anyhow::Result<RunOutcome> {
    if options.instructions.is_empty() {
        return Ok(bad_input(ServiceError::invalid(
            "instruction",
            Value::Null,
            "give --instruction or --script",
        )));
    }
    let temp = tempfile::tempdir()?;
    let state_dir = options
        .state_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let config = Config {
        state_dir,
        ..options.config.clone()
    };
    let daemon = crate::app::open(config).await?;
    let service = daemon.service.clone();
    let outcome = drive(&service, &options).await;
    Ok(match outcome {
        Ok(outcome) => outcome,
        Err(error) => bad_input(error),
    })
}

async fn drive(service: &Service, options: &RunOptions) -> Result<RunOutcome, ServiceError> {
    let progress = Progress::new(options.instructions.len());
    // Without the proposer nothing can run: say so before touching the site (exit 3).
    let (kind, available) = service.proposer_available(options.proposer);
    if !available {
        let hint = match kind {
            ProposerKind::Bedrock => "configure AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID, an IAM role) or a bedrock* setting",
            ProposerKind::Openai => "set openaiUrl (DEVFLOW_OPENAI_URL) to an OpenAI-compatible server",
            ProposerKind::Builtin => "this build has no builtin proposer",
        };
        return Err(ServiceError::not_configured(format!(
            "no {} proposer is configured: {hint}, or choose another with --proposer",
            kind.as_str()
        )));
    }
    let (source, zip) = match &options.site {
        Site::Dir(path) => (
            Some(SessionSource::Dir {
                path: path.to_string_lossy().into_owned(),
            }),
            None,
        ),
        Site::Zip(path) => (None, Some(path.to_string_lossy().into_owned())),
    };
    let created = service
        .create_session(CreateSessionParams {
            name: Some("devflow run".into()),
            source,
            ..Default::default()
        })
        .await?;
    let session_id = created.session.session_id.clone();
    if let Some(zip_path) = zip {
        let summary = service
            .upload(UploadParams {
                session_id: session_id.clone(),
                zip_path,
            })
            .await?;
        progress.note(&format!(
            "devflow: unpacked {} files ({} bytes)",
            summary.files, summary.bytes
        ));
    }
    if let Some(reference) = &options.reference {
        let path = reference.to_string_lossy().into_owned();
        let set = service
            .set_reference(SetReferenceParams {
                session_id: session_id.clone(),
                tokens: None,
                path: Some(path),
            })
            .await?;
        let drift = set
            .drift_score
            .map_or_else(|| "unknown".to_string(), |score| score.to_string());
        progress.note(&format!(
            "devflow: reference with {} tokens, drift score {drift}",
            set.tokens.len()
        ));
    }
    if let Some(proposer) = options.proposer {
        let patch = SettingsPatch {
            proposer: Some(proposer),
            ..Default::default()
        };
        service
            .update_settings(UpdateSettingsParams {
                session_id: session_id.clone(),
                patch,
            })
            .await?;
    }
    if options.verify {
        service
            .start_session(SessionParams {
                session_id: session_id.clone(),
            })
            .await?;
        wait_for_preview(service, &session_id, &progress).await?;
    }

    let run_started = std::time::Instant::now();
    let mut commands = Vec::new();
    let mut diffs = Vec::new();
    let mut applied = Vec::new();
    let mut exit_code = EXIT_READY;
    for (index, instruction) in options.instructions.iter().enumerate() {
        let started = std::time::Instant::now();
        let submitted = service
            .submit_command(SubmitCommandParams {
                session_id: session_id.clone(),
                instruction: instruction.clone(),
                idempotency_key: None,
                target: None,
            })
            .await?;
        let command_id = submitted.command_id;
        follow(
            service,
            &session_id,
            &command_id,
            instruction,
            index,
            &progress,
        )
        .await?;
        let command = service
            .get_command(CommandParams {
                session_id: session_id.clone(),
                command_id: command_id.clone(),
            })
            .await?;
        let mut entry = json!({
            "commandId": command.command_id,
            "instruction": command.instruction,
            "status": command.status,
            "patchId": command.patch_id,
            "files": [],
            "diff": null,
            "reason": command.proposals.last().map(|p| p.reason.clone()),
            "confidence": command.proposals.last().map(|p| p.confidence),
            "driftBefore": command.drift_before,
            "driftAfter": command.drift_after,
            "attempts": command.attempts,
            // How the page was checked with `--preview`: in a browser or over HTTP only.
            "verification": command.verification,
            "usage": command.usage,
            "errorSummary": command.error_summary,
            "timings": command.timings,
            "elapsedMs": started.elapsed().as_millis() as u64,
        });
        if let Some(patch_id) = &command.patch_id {
            let patch = service
                .get_patch(PatchParams {
                    session_id: session_id.clone(),
                    patch_id: patch_id.clone(),
                })
                .await?;
            entry["files"] = json!(patch
                .files
                .iter()
                .map(|f| f.path.clone())
                .collect::<Vec<_>>());
            entry["diff"] = json!(patch.unified_diff);
            diffs.push(patch.unified_diff);
            applied.push(patch_id.clone());
        }
        commands.push(entry);
        if command.status != CommandStatus::Ready {
            exit_code = EXIT_FAILED;
            break;
        }
    }

    let diff = diffs.concat();
    if let Some(out) = &options.out {
        std::fs::write(out, &diff).map_err(|e| {
            ServiceError::invalid(
                "out",
                out.to_string_lossy().as_ref(),
                format!("cannot write {}: {e}", out.display()),
            )
        })?;
    }
    let keep = options.keep_changes || matches!(options.site, Site::Zip(_));
    if !keep {
        if let Some(first) = applied.first() {
            service
                .rollback(RollbackParams {
                    session_id: session_id.clone(),
                    patch_id: Some(first.clone()),
                })
                .await?;
            progress.note("devflow: changes rolled back (use --keep-changes to keep them)");
        }
    }
    let workspace = match &options.site {
        Site::Dir(path) => path.to_string_lossy().into_owned(),
        Site::Zip(_) => service
            .config()
            .workspaces_dir()
            .join(&session_id)
            .to_string_lossy()
            .into_owned(),
    };
    let session = service
        .get_session(SessionParams {
            session_id: session_id.clone(),
        })
        .await?;
    // The run's drift: before its first command, after its last applied one.
    let drift_before = commands.first().map(|c| c["driftBefore"].clone());
    let drift_after = commands
        .iter()
        .rev()
        .find(|c| c["status"] == "READY")
        .map(|c| c["driftAfter"].clone());
    let report = json!({
        "status": if exit_code == EXIT_READY { "READY" } else { "FAILED" },
        "driftBefore": drift_before,
        "driftAfter": drift_after,
        "elapsedMs": run_started.elapsed().as_millis() as u64,
        "sessionId": session_id,
        "workspace": workspace,
        "keptChanges": keep,
        "commands": commands,
        "diff": diff,
        "lastErrorSummary": session.last_error_summary,
    });
    Ok(RunOutcome { exit_code, report })
}

async fn wait_for_preview(
    service: &Service,
    session_id: &str,
    progress: &Progress,
) -> Result<(), ServiceError> {
    for _ in 0..600 {
        let session = service
            .get_session(SessionParams {
                session_id: session_id.to_string(),
            })
            .await?;
        match session.status {
            SessionStatus::Running => {
                progress.note(&format!(
                    "devflow: preview at {}",
                    session.preview_url.unwrap_or_default()
                ));
                return Ok(());
            }
            SessionStatus::Error => {
                return Err(ServiceError::internal(
                    session
                        .last_error_summary
                        .unwrap_or_else(|| "the preview failed".into()),
                ))
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    Err(ServiceError::internal(
        "the preview did not start within 60 s",
    ))
}

/// Prints the command's progress until it is READY or FAILED.
async fn follow(
    service: &Service,
    session_id: &str,
    command_id: &str,
    instruction: &str,
    index: usize,
    progress: &Progress,
) -> Result<(), ServiceError> {
    let (_, mut events) = service
        .subscribe(SubscribeParams {
            session_id: session_id.to_string(),
            after_seq: Some(0),
        })
        .await?;
    while let Some(event) = events.next().await {
        if event.command_id.as_deref() != Some(command_id) {
            continue;
        }
        match &event.body {
            EventBody::CommandStatus {
                status,
                error_summary,
            } => {
                progress.command(index, instruction, *status, error_summary.as_deref());
                if status.is_final() {
                    return Ok(());
                }
            }
            EventBody::PatchFailed {
                summary,
                will_retry: true,
                ..
            } => progress.command_note(
                instruction,
                &format!("first proposal failed ({summary}); asking once more"),
            ),
            _ => {}
        }
    }
    Err(ServiceError::internal(
        "the event stream ended before the command finished",
    ))
}
