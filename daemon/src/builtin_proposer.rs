//! The `builtin` proposer: devflow-builtin, offline and deterministic, over the session's
//! files. The default when no AWS credentials are configured. When it does not understand an
//! instruction it says so (with phrasings it does understand) instead of guessing.
//!
//! "Match the reference" with a PNG screen of the page in the reference: the builtin's
//! candidate snaps are rendered against the screen ([`crate::candidates`]) and the most
//! similar one is the proposal, its reason listing every candidate's score. Without a
//! screen, a browser or a static site, the nearest-token snap is proposed and its reason
//! says why nothing was compared.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use devflow_builtin::DesignRequest;
use devflow_protocol::Proposal;
use devflow_reference::SourceFile;
use tracing::Instrument;

use crate::candidates::CandidateRenderer;
use crate::parts::{ProposalRequest, Proposer, ProposerAnswer, ProposerError};

/// Files the builtin engine reads: styles, pages, and scripts that hold markup or import CSS.
const EXTENSIONS: &[&str] = &["css", "html", "htm", "js", "mjs", "ts", "jsx", "tsx"];
const SKIPPED_DIRS: &[&str] = &[
    "node_modules",
    ".git",
    "dist",
    "build",
    "target",
    ".next",
    "out",
];
const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024;
const MAX_TOTAL_BYTES: u64 = 32 * 1024 * 1024;

/// The builtin proposer, with the renderer of candidate snaps when the daemon has one.
#[derive(Default)]
pub struct BuiltinProposer {
    renderer: Option<Arc<CandidateRenderer>>,
}

impl BuiltinProposer {
    /// Renders "match the reference" candidates with `renderer` when given.
    pub fn new(renderer: Option<Arc<CandidateRenderer>>) -> BuiltinProposer {
        BuiltinProposer { renderer }
    }
}

fn not_understood(error: devflow_builtin::NotUnderstood) -> ProposerError {
    ProposerError::Failed(error.message)
}

fn answer(proposal: Proposal) -> ProposerAnswer {
    ProposerAnswer {
        proposal,
        usage: None,
    }
}

/// `note` before the proposal's own reason.
fn with_note(mut proposal: Proposal, note: &str) -> Proposal {
    proposal.reason = format!("{note} {}", proposal.reason);
    proposal
}

#[async_trait]
impl Proposer for BuiltinProposer {
    async fn propose(&self, request: ProposalRequest) -> Result<ProposerAnswer, ProposerError> {
        let matches_reference =
            devflow_builtin::is_match_reference_instruction(&request.instruction);
        let span = tracing::info_span!("builtin_proposer", session_id = %request.session_id);
        if !matches_reference {
            return propose_blocking(request, false)
                .instrument(span)
                .await
                .map(|mut candidates| answer(candidates.remove(0).proposal));
        }
        self.match_reference(request).instrument(span).await
    }
}

impl BuiltinProposer {
    /// "Match the reference": the candidates rendered against the screen and the best one
    /// chosen, or the nearest-token snap with the reason nothing was compared.
    async fn match_reference(
        &self,
        mut request: ProposalRequest,
    ) -> Result<ProposerAnswer, ProposerError> {
        let lang = devflow_builtin::instruction_lang(&request.instruction);
        let screen = request.reference_screen.take();
        let renderable = match (&self.renderer, screen) {
            (None, _) => Err("this daemon renders no candidates".to_string()),
            (_, None) => Err("the reference has no PNG screen of the page".to_string()),
            (Some(renderer), Some(screen)) => match renderer.unavailable(&request.workspace) {
                Some(why) => Err(why),
                None => Ok((renderer.clone(), screen)),
            },
        };
        let (renderer, screen) = match renderable {
            Ok(renderable) => renderable,
            Err(why) => {
                tracing::debug!(%why, "snapping to the nearest tokens without rendering candidates");
                let mut candidates = propose_blocking(request, false).await?;
                let nearest = candidates.remove(0).proposal;
                return Ok(answer(with_note(
                    nearest,
                    &devflow_builtin::fallback_note(lang, &why),
                )));
            }
        };
        let workspace = request.workspace.clone();
        let mut candidates = propose_blocking(request, true).await?;
        if candidates.len() == 1 {
            // One way to snap: nothing to choose between.
            return Ok(answer(candidates.remove(0).proposal));
        }
        match renderer.render(&workspace, &screen, &candidates).await {
            Ok(rendered) => {
                let Some(chosen) = crate::candidates::choose(&rendered.scores) else {
                    let note = devflow_builtin::fallback_note(
                        lang,
                        "none of the candidates could be rendered",
                    );
                    return Ok(answer(with_note(candidates.remove(0).proposal, &note)));
                };
                let note = devflow_builtin::choice_note(
                    lang,
                    &screen.name,
                    rendered.viewport.name.as_str(),
                    &rendered.scores,
                    candidates[chosen].variant,
                );
                tracing::info!(
                    chosen = candidates[chosen].variant.label(),
                    "chose a candidate snap by the reference screen"
                );
                Ok(answer(with_note(
                    candidates.swap_remove(chosen).proposal,
                    &note,
                )))
            }
            Err(why) => {
                tracing::warn!(%why, "candidate snaps were not compared with the reference screen");
                let note = devflow_builtin::fallback_note(lang, &why);
                Ok(answer(with_note(candidates.remove(0).proposal, &note)))
            }
        }
    }
}

/// The builtin's answer on the blocking pool: every candidate snap when `candidates`, else
/// the one proposal (as a single candidate). Never empty on `Ok`.
async fn propose_blocking(
    request: ProposalRequest,
    candidates: bool,
) -> Result<Vec<devflow_builtin::Candidate>, ProposerError> {
    let answer = tokio::task::spawn_blocking(move || {
        let design = DesignRequest {
            instruction: request.instruction,
            target: request.target,
            prompt: request.prompt,
            tokens: request.tokens,
            files: site_files(&request.workspace),
        };
        if candidates {
            devflow_builtin::snap_candidates(&design)
        } else {
            devflow_builtin::propose(&design).map(|proposal| {
                vec![devflow_builtin::Candidate {
                    variant: devflow_builtin::SnapVariant::Nearest,
                    proposal,
                }]
            })
        }
    })
    .await
    .map_err(|e| ProposerError::Failed(format!("the builtin proposer stopped: {e}")))?;
    let list = answer.map_err(not_understood)?;
    if list.is_empty() {
        return Err(ProposerError::Failed(
            "the builtin proposer made no proposal".into(),
        ));
    }
    Ok(list)
}

/// The site's text files the engine may read, relative paths with `/`, within the limits
/// (also what target resolution reads).
pub(crate) fn site_files(workspace: &Path) -> Vec<SourceFile> {
    let mut files = Vec::new();
    let mut total = 0u64;
    let mut stack = vec![workspace.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            if kind.is_dir() {
                if !SKIPPED_DIRS.contains(&name.as_str()) {
                    stack.push(path);
                }
                continue;
            }
            let wanted = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| EXTENSIONS.contains(&e));
            let size = entry.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
            if !kind.is_file() || !wanted || size > MAX_FILE_BYTES || total + size > MAX_TOTAL_BYTES
            {
                continue;
            }
            let (Ok(bytes), Ok(relative)) = (std::fs::read(&path), path.strip_prefix(workspace))
            else {
                continue;
            };
            let Ok(text) = String::from_utf8(bytes) else {
                continue;
            };
            total += size;
            files.push(SourceFile {
                path: relative.to_string_lossy().replace('\\', "/"),
                text,
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}
