//! The model proposers in the daemon: one [`ModelProposer`] adapter turns a
//! [`ProposalRequest`] into a model call through devflow-llm — it reads the files the context
//! builder picks from the workspace and the session's reference screens from the state dir,
//! puts them beside the page's screenshot the pipeline hands it (for models that take images),
//! builds the context, asks the model, and maps its errors onto [`ProposerError`] (an
//! unusable answer is `Unusable`, which the pipeline's one re-inference is for).
//!
//! It remembers, per session, its last answer (so the re-inference can show the model the
//! hunks that failed) and the files its recent proposals touched. Their settings come from the
//! daemon's [`Config`] ([`bedrock_from_config`], [`openai_from_config`]).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use devflow_llm::bedrock::{Bedrock, BedrockConfig};
use devflow_llm::context::{self, ContextInput, PreviousAttempt, SourceFile};
use devflow_llm::openai::{OpenAi, OpenAiConfig};
use devflow_llm::pictures::{self, Pictures, Screen};
use devflow_llm::retry::CallPolicy;
use devflow_llm::{Model, ModelError, ModelRequest};
use devflow_protocol::{ProposerKind, TokenUsage};

use crate::config::Config;

use crate::parts::{ProposalRequest, Proposer, ProposerAnswer, ProposerError};

/// Recent proposals whose files count as "recently edited" for ranking.
const RECENT_PROPOSALS: usize = 5;
/// All files read for one context, at most (bytes).
const MAX_READ_TOTAL: u64 = 8 * 1024 * 1024;

/// What the adapter remembers of a session.
#[derive(Default)]
struct Memory {
    /// The diff of the last answer, or `None` when it was unusable.
    last_diff: Option<String>,
    /// Files of recent proposals, newest last.
    recent: VecDeque<Vec<String>>,
}

/// A [`Proposer`] over any devflow-llm [`Model`].
pub struct ModelProposer {
    model: Arc<dyn Model>,
    /// `<state dir>/references`: the sessions' uploaded references.
    references_dir: PathBuf,
    budget: usize,
    memory: Mutex<HashMap<String, Memory>>,
}

impl ModelProposer {
    pub fn new(model: Arc<dyn Model>, state_dir: &Path, budget: usize) -> ModelProposer {
        ModelProposer {
            model,
            references_dir: state_dir.join("references"),
            budget,
            memory: Mutex::new(HashMap::new()),
        }
    }

    fn remember(&self, session_id: &str, diff: Option<String>, files: Option<Vec<String>>) {
        let Ok(mut memory) = self.memory.lock() else {
            return;
        };
        let entry = memory.entry(session_id.to_string()).or_default();
        entry.last_diff = diff;
        if let Some(files) = files {
            entry.recent.push_back(files);
            while entry.recent.len() > RECENT_PROPOSALS {
                entry.recent.pop_front();
            }
        }
    }

    /// (the previous diff, files recently proposed) for a session.
    fn recall(&self, session_id: &str) -> (Option<String>, Vec<String>) {
        let Ok(memory) = self.memory.lock() else {
            return (None, Vec::new());
        };
        match memory.get(session_id) {
            Some(entry) => {
                let mut files: Vec<String> = Vec::new();
                for proposal in entry.recent.iter().rev() {
                    for file in proposal {
                        if !files.contains(file) {
                            files.push(file.clone());
                        }
                    }
                }
                (entry.last_diff.clone(), files)
            }
            None => (None, Vec::new()),
        }
    }
}

/// The inputs read from disk for one context.
struct ReadInputs {
    sources: Vec<SourceFile>,
    pictures: Pictures,
}

/// Reads the files worth reading (in the context builder's order, within the byte caps) and
/// the session's reference screens, beside the page now. Blocking: run it off the async threads.
fn read_inputs(
    request: &ProposalRequest,
    reference_dir: &Path,
    images_accepted: bool,
) -> ReadInputs {
    let mut sources = Vec::new();
    let mut total = 0u64;
    for path in context::reading_order(&request.files, &request.instruction, &request.recent_errors)
    {
        let full = request.workspace.join(&path);
        // Never follow a link out of the workspace; skip what is too large to be source.
        let Ok(meta) = std::fs::symlink_metadata(&full) else {
            continue;
        };
        if !meta.is_file() || meta.len() > context::MAX_READ_BYTES {
            continue;
        }
        if total + meta.len() > MAX_READ_TOTAL {
            break;
        }
        let Ok(bytes) = std::fs::read(&full) else {
            continue;
        };
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        total += meta.len();
        sources.push(SourceFile { path, text });
    }
    ReadInputs {
        sources,
        pictures: read_screens(reference_dir, request, images_accepted),
    }
}

/// What goes with the message as pictures ([`devflow_llm::pictures`]): the page as it renders
/// now and the session's reference screens — images for a model that takes them, HTML
/// screens as text.
fn read_screens(
    reference_dir: &Path,
    request: &ProposalRequest,
    images_accepted: bool,
) -> Pictures {
    let screens = std::fs::read(reference_dir.join("reference.zip"))
        .ok()
        .and_then(|bytes| devflow_reference::read_reference_zip(&bytes).ok())
        .map(|bundle| bundle.screens)
        .unwrap_or_default()
        .into_iter()
        .map(|screen| Screen {
            name: screen.name,
            media_type: screen.media_type,
            bytes: screen.bytes,
        })
        .collect();
    let page_now = request.page_now.clone();
    let pointed = request.target.as_ref().and_then(|t| t.page_url.as_deref());
    pictures::choose(page_now, screens, pointed, images_accepted)
}

#[async_trait]
impl Proposer for ModelProposer {
    fn takes_images(&self, model: Option<&str>) -> bool {
        self.model
            .model_id(model)
            .is_ok_and(|id| self.model.accepts_images(&id))
    }

    async fn propose(&self, request: ProposalRequest) -> Result<ProposerAnswer, ProposerError> {
        let model_id = self
            .model
            .model_id(request.model.as_deref())
            .map_err(|e| ProposerError::NotConfigured(e.to_string()))?;
        let images_accepted = self.model.accepts_images(&model_id);
        let reference_dir = self.references_dir.join(&request.session_id);
        let inputs = {
            let request = request.clone();
            tokio::task::spawn_blocking(move || {
                read_inputs(&request, &reference_dir, images_accepted)
            })
            .await
            .map_err(|e| ProposerError::Failed(format!("reading the workspace failed: {e}")))?
        };
        let (last_diff, recent_files) = self.recall(&request.session_id);
        let previous = request
            .previous_failure
            .as_ref()
            .map(|failure| PreviousAttempt {
                failure: failure.clone(),
                unified_diff: last_diff,
            });
        let built = context::build(&ContextInput {
            instruction: &request.instruction,
            target: request.target.as_ref(),
            files: &request.files,
            sources: &inputs.sources,
            tokens: &request.tokens,
            recent_errors: &request.recent_errors,
            recent_files: &recent_files,
            screens: &inputs.pictures.screens,
            page_now: inputs.pictures.page_now.as_ref(),
            previous: previous.as_ref(),
            budget: self.budget,
        });
        tracing::info!(
            proposer = self.model.kind(),
            model = %model_id,
            images = inputs.pictures.images.len(),
            page_now = inputs.pictures.page_now.is_some(),
            "asking the model; {}",
            built.summary().trim_end()
        );
        let answer = self
            .model
            .propose(ModelRequest {
                model: model_id,
                system: devflow_llm::prompt::system_prompt(&request.prompt),
                user: built.render(),
                images: inputs.pictures.images,
            })
            .await;
        match answer {
            Ok(answer) => {
                self.remember(
                    &request.session_id,
                    Some(answer.proposal.unified_diff.clone()),
                    Some(answer.proposal.files_to_edit.clone()),
                );
                Ok(ProposerAnswer {
                    proposal: answer.proposal,
                    usage: answer.usage.map(|u| TokenUsage {
                        input_tokens: u.input_tokens,
                        output_tokens: u.output_tokens,
                    }),
                })
            }
            Err(error) => {
                self.remember(&request.session_id, None, None);
                Err(match &error {
                    ModelError::Unusable { .. } => ProposerError::Unusable(error.to_string()),
                    e if e.needs_configuration() => ProposerError::NotConfigured(e.to_string()),
                    e => ProposerError::Failed(e.to_string()),
                })
            }
        }
    }
}

/// The call policy with `timeout` (`bedrockTimeoutSecs`, `openaiTimeoutSecs`) as the deadline.
fn policy_with(timeout: Option<Duration>) -> CallPolicy {
    let mut policy = CallPolicy::default();
    if let Some(deadline) = timeout {
        policy.deadline = deadline;
        policy.attempt_timeout = policy.attempt_timeout.min(policy.deadline);
    }
    policy
}

/// The Bedrock proposer, when this daemon should have one: a `bedrock*` setting or
/// `proposer = "bedrock"` asks for it, and so do AWS credentials the environment names
/// (keys, a profile, web identity, the ECS container endpoint). On EC2 with only an instance
/// role, set one of the first two.
pub fn bedrock_from_config(config: &Config) -> Option<Arc<dyn Proposer>> {
    let settings = &config.bedrock;
    let configured = settings.any_set() || config.proposer == Some(ProposerKind::Bedrock);
    if !configured && !crate::parts::aws_credentials_configured() {
        return None;
    }
    let mut bedrock_config = BedrockConfig {
        region: settings.region.clone(),
        policy: policy_with(settings.timeout),
        ..BedrockConfig::default()
    };
    if let Some(model) = &settings.model {
        bedrock_config.model = model.clone();
    }
    if let Some(max_tokens) = settings.max_tokens {
        bedrock_config.max_tokens = max_tokens;
    }
    tracing::info!(model = %bedrock_config.model, max_tokens = bedrock_config.max_tokens, "bedrock proposer configured");
    Some(bedrock(
        bedrock_config,
        &config.state_dir,
        config.context_tokens,
    ))
}

/// A Bedrock proposer from an explicit configuration (tests, embedders).
pub fn bedrock(config: BedrockConfig, state_dir: &Path, budget: usize) -> Arc<dyn Proposer> {
    Arc::new(ModelProposer::new(
        Arc::new(Bedrock::new(config)),
        state_dir,
        budget,
    ))
}

/// The OpenAI-compatible proposer, when `openaiUrl` (`DEVFLOW_OPENAI_URL`) is set.
pub fn openai_from_config(config: &Config) -> anyhow::Result<Option<Arc<dyn Proposer>>> {
    let settings = &config.openai;
    let Some(base_url) = settings.url.clone() else {
        return Ok(None);
    };
    let openai_config = OpenAiConfig {
        base_url,
        model: settings.model.clone(),
        api_key: settings.api_key.clone(),
        max_tokens: settings
            .max_tokens
            .unwrap_or(devflow_llm::openai::DEFAULT_MAX_TOKENS),
        policy: policy_with(settings.timeout),
    };
    Ok(Some(openai(
        openai_config,
        &config.state_dir,
        config.context_tokens,
    )?))
}

/// An OpenAI-compatible proposer from an explicit configuration.
pub fn openai(
    config: OpenAiConfig,
    state_dir: &Path,
    budget: usize,
) -> anyhow::Result<Arc<dyn Proposer>> {
    let client = OpenAi::new(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    tracing::info!(url = client.url(), "openai proposer configured");
    Ok(Arc::new(ModelProposer::new(
        Arc::new(client),
        state_dir,
        budget,
    )))
}
