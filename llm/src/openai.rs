//! Any OpenAI-compatible chat endpoint (Ollama, llama.cpp's server, vLLM, OpenAI itself):
//! `POST {base}/v1/chat/completions` at temperature 0 with the Proposal schema as a strict
//! `json_schema` response format. A server that refuses that format is asked again with
//! `json_object`, then with no format, and remembered, so only its first call pays for the
//! probe. The answer is read as strictly as a Bedrock tool call. Retries with back-off on
//! 429 and 5xx run within the [`CallPolicy`] deadline.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
// An error and its sources on one line: reqwest's errors nest like the AWS SDK's.
use devflow_aws::chain;
use serde_json::{json, Value};

use crate::answer::{self, AnswerProblem};
use crate::model::{Model, ModelAnswer, ModelError, ModelRequest, Usage};
use crate::retry::{human, CallPolicy};
use crate::schema::proposal_schema;

pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// How to reach the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAiConfig {
    /// The server's base URL (`http://127.0.0.1:11434`), its `/v1`, or the full
    /// `/v1/chat/completions` URL.
    pub base_url: String,
    /// The model unless a session names one; `None` = each session must.
    pub model: Option<String>,
    /// Sent as `Authorization: Bearer …` when set.
    pub api_key: Option<String>,
    pub max_tokens: u32,
    pub policy: CallPolicy,
}

/// The structured-output modes, strictest first.
const FORMAT_SCHEMA: u8 = 0;
const FORMAT_OBJECT: u8 = 1;
const FORMAT_NONE: u8 = 2;

pub struct OpenAi {
    config: OpenAiConfig,
    url: String,
    http: reqwest::Client,
    /// The strictest response format this server accepted.
    format: AtomicU8,
}

/// `{base}/v1/chat/completions` from whatever form of the URL was configured.
pub fn completions_url(base: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    if base.ends_with("/chat/completions") {
        base.to_string()
    } else if base.ends_with("/v1") {
        format!("{base}/chat/completions")
    } else {
        format!("{base}/v1/chat/completions")
    }
}

impl OpenAi {
    pub fn new(config: OpenAiConfig) -> Result<OpenAi, ModelError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.policy.connect_timeout)
            .build()
            .map_err(|e| {
                ModelError::NotConfigured(format!("cannot set up the HTTP client: {e}"))
            })?;
        Ok(OpenAi {
            url: completions_url(&config.base_url),
            config,
            http,
            format: AtomicU8::new(FORMAT_SCHEMA),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn body(&self, request: &ModelRequest, format: u8) -> Value {
        let mut body = json!({
            "model": request.model,
            "messages": [
                {"role": "system", "content": request.system},
                {"role": "user", "content": request.user},
            ],
            "temperature": 0,
            "max_tokens": self.config.max_tokens,
            "stream": false,
        });
        let response_format = match format {
            FORMAT_SCHEMA => Some(json!({
                "type": "json_schema",
                "json_schema": {"name": "proposal", "strict": true, "schema": proposal_schema()},
            })),
            FORMAT_OBJECT => Some(json!({"type": "json_object"})),
            _ => None,
        };
        if let Some(format) = response_format {
            body["response_format"] = format;
        }
        body
    }

    /// One attempt: the answer, or the error and whether a retry may help (with the server's
    /// `Retry-After`).
    async fn attempt(
        &self,
        request: &ModelRequest,
        format: u8,
        timeout: Duration,
    ) -> Result<Value, Failure> {
        let mut call = self
            .http
            .post(&self.url)
            .timeout(timeout)
            .json(&self.body(request, format));
        if let Some(key) = &self.config.api_key {
            call = call.bearer_auth(key);
        }
        let response = call.send().await.map_err(|e| {
            if e.is_timeout() {
                Failure::retry(ModelError::Timeout(format!(
                    "{} did not answer within {} (model {})",
                    self.url,
                    human(timeout),
                    request.model
                )))
            } else {
                Failure::fatal(ModelError::Unreachable(format!(
                    "cannot reach the OpenAI-compatible server at {}: {}. Is it running? Check DEVFLOW_OPENAI_URL.",
                    self.url,
                    chain(&e)
                )))
            }
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.map_err(|e| {
            Failure::retry(ModelError::Service(format!(
                "the answer from {} broke off: {e}",
                self.url
            )))
        })?;
        if status.is_success() {
            return serde_json::from_str(&text).map_err(|e| {
                Failure::fatal(ModelError::Service(format!(
                    "{} answered with something that is not a chat completion ({e}): {}",
                    self.url,
                    answer::excerpt(&text, 200)
                )))
            });
        }
        let message = server_message(&text);
        let model = &request.model;
        let error = match status.as_u16() {
            401 | 403 => Failure::fatal(ModelError::NoCredentials(format!(
                "{} refused the request ({status}): {message}. Set DEVFLOW_OPENAI_API_KEY to a key it accepts.",
                self.url
            ))),
            404 if message.to_ascii_lowercase().contains("model") => {
                Failure::fatal(ModelError::ModelNotFound(format!(
                    "the server at {} has no model {model}: {message}. Pull or load it (e.g. `ollama pull {model}`), or set DEVFLOW_OPENAI_MODEL or the session's `model`.",
                    self.url
                )))
            }
            400 | 413 | 422 if is_context_too_long(&message) => {
                Failure::fatal(ModelError::ContextTooLong(format!(
                    "the request is too long for {model}: {message}. Name the files to change in the instruction, lower DEVFLOW_CONTEXT_TOKENS, or use a model with a larger context."
                )))
            }
            400 | 422 if format != FORMAT_NONE && mentions_format(&message) => Failure {
                error: ModelError::InvalidRequest(message.clone()),
                retry: false,
                retry_after: None,
                format_refused: true,
            },
            429 => Failure {
                error: ModelError::Throttled(format!(
                    "{} kept answering 429 Too Many Requests for {model}: {message}. Wait and try again.",
                    self.url
                )),
                retry: true,
                retry_after,
                format_refused: false,
            },
            500..=599 => Failure {
                error: ModelError::Service(format!(
                    "{} failed ({status}) for {model}: {message}",
                    self.url
                )),
                retry: true,
                retry_after,
                format_refused: false,
            },
            _ => Failure::fatal(ModelError::InvalidRequest(format!(
                "{} rejected the request ({status}): {message}",
                self.url
            ))),
        };
        Err(error)
    }

    fn read_answer(&self, body: &Value) -> Result<devflow_protocol::Proposal, AnswerProblem> {
        let choice = &body["choices"][0];
        let content = match &choice["message"]["content"] {
            Value::String(text) => text.clone(),
            // Some servers send content parts: [{"type":"text","text":"…"}].
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join(""),
            _ => String::new(),
        };
        let truncated = choice["finish_reason"].as_str() == Some("length");
        match answer::read_text(&content) {
            Err(_) if truncated => Err(AnswerProblem::Truncated {
                limit: self.config.max_tokens,
            }),
            other => other,
        }
    }
}

/// A failed attempt.
struct Failure {
    error: ModelError,
    retry: bool,
    retry_after: Option<Duration>,
    /// The server refused the response format: ask again with a looser one.
    format_refused: bool,
}

impl Failure {
    fn retry(error: ModelError) -> Failure {
        Failure {
            error,
            retry: true,
            retry_after: None,
            format_refused: false,
        }
    }

    fn fatal(error: ModelError) -> Failure {
        Failure {
            error,
            retry: false,
            retry_after: None,
            format_refused: false,
        }
    }
}

/// The `error.message` (OpenAI, Ollama, llama.cpp) of an error body, or the body itself.
fn server_message(text: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let message = parsed.as_ref().and_then(|v| {
        v["error"]["message"]
            .as_str()
            .or_else(|| v["error"].as_str())
            .or_else(|| v["message"].as_str())
            .or_else(|| v["detail"].as_str())
            .map(str::to_string)
    });
    message.unwrap_or_else(|| answer::excerpt(text, 300))
}

fn is_context_too_long(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("context length")
        || m.contains("context_length")
        || m.contains("context window")
        || m.contains("too long")
        || (m.contains("exceed") && m.contains("token"))
}

fn mentions_format(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("response_format") || m.contains("json_schema") || m.contains("response format")
}

#[async_trait]
impl Model for OpenAi {
    fn kind(&self) -> &'static str {
        "openai"
    }

    fn model_id(&self, requested: Option<&str>) -> Result<String, ModelError> {
        requested
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .or_else(|| self.config.model.clone())
            .ok_or_else(|| {
                ModelError::NotConfigured(format!(
                    "no model is set for the OpenAI-compatible server at {}: set DEVFLOW_OPENAI_MODEL (e.g. qwen2.5-coder:7b for Ollama) or the session's `model`",
                    self.url
                ))
            })
    }

    /// Text only: whether a local model takes images cannot be told from its name.
    fn accepts_images(&self, _model_id: &str) -> bool {
        false
    }

    async fn propose(&self, request: ModelRequest) -> Result<ModelAnswer, ModelError> {
        let policy = &self.config.policy;
        let started = Instant::now();
        let mut attempts = 0u32;
        let body = loop {
            let format = self.format.load(Ordering::Relaxed);
            attempts += 1;
            let budget = policy.attempt_budget(started.elapsed());
            if budget.is_zero() {
                return Err(ModelError::Timeout(format!(
                    "{} did not answer within {}",
                    self.url,
                    human(policy.deadline)
                )));
            }
            match self.attempt(&request, format, budget).await {
                Ok(body) => break body,
                Err(failure) if failure.format_refused => {
                    // Not a retry: the server cannot do this format, so never ask it again.
                    let looser = format + 1;
                    tracing::info!(url = %self.url, refused = format, "the server refuses the response format; asking with a looser one");
                    self.format.store(looser, Ordering::Relaxed);
                    attempts -= 1;
                }
                Err(failure) if failure.retry => {
                    match policy.next_delay(attempts, started.elapsed(), failure.retry_after) {
                        Some(delay) => {
                            tracing::info!(url = %self.url, attempts, delay_ms = delay.as_millis() as u64, error = %failure.error, "retrying the model call");
                            tokio::time::sleep(delay).await;
                        }
                        None => return Err(failure.error),
                    }
                }
                Err(failure) => return Err(failure.error),
            }
        };
        let usage = body["usage"].as_object().map(|u| Usage {
            input_tokens: u.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0),
            output_tokens: u
                .get("completion_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        });
        tracing::info!(
            url = %self.url,
            model = %request.model,
            elapsed_ms = started.elapsed().as_millis() as u64,
            input_tokens = usage.map(|u| u.input_tokens),
            output_tokens = usage.map(|u| u.output_tokens),
            "the OpenAI-compatible server answered"
        );
        match self.read_answer(&body) {
            Ok(proposal) => Ok(ModelAnswer {
                proposal,
                usage,
                model: request.model,
            }),
            Err(problem) => Err(ModelError::Unusable { problem, usage }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_url_accepts_base_v1_or_full_urls() {
        for base in [
            "http://127.0.0.1:11434",
            "http://127.0.0.1:11434/",
            "http://127.0.0.1:11434/v1",
            "http://127.0.0.1:11434/v1/chat/completions",
        ] {
            assert_eq!(
                completions_url(base),
                "http://127.0.0.1:11434/v1/chat/completions"
            );
        }
    }

    #[test]
    fn reads_the_error_message_of_common_servers() {
        assert_eq!(
            server_message(r#"{"error":{"message":"model 'x' not found","type":"api_error"}}"#),
            "model 'x' not found"
        );
        assert_eq!(
            server_message(r#"{"error":"model \"x\" not found, try pulling it first"}"#),
            "model \"x\" not found, try pulling it first"
        );
        assert_eq!(server_message("plain text"), "plain text");
    }
}
