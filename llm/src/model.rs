//! The boundary every model client implements: a [`ModelRequest`] (system prompt, the
//! rendered context, the page now and reference screens as images) in, a validated [`devflow_protocol::Proposal`]
//! with its token usage out, or a [`ModelError`] whose variant says what a caller can do and
//! whose message says what a person should do.

use async_trait::async_trait;
use devflow_protocol::Proposal;

use crate::answer::AnswerProblem;

/// One question to a model.
#[derive(Debug, Clone)]
pub struct ModelRequest {
    /// The model id to ask (already resolved from the session setting or the default).
    pub model: String,
    pub system: String,
    pub user: String,
    /// The page as it renders now, then reference screens, in the order the message numbers
    /// them ([`crate::pictures`]); a client sends them only to models that accept images.
    pub images: Vec<ImageInput>,
}

/// An image sent with a message: the page now, or a reference screen.
#[derive(Clone, PartialEq, Eq)]
pub struct ImageInput {
    /// What it shows, for logs (`home`, `the page / now`); the message says it to the model.
    pub name: String,
    pub format: ImageFormat,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for ImageInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The bytes would fill a log with numbers: their count says enough.
        f.debug_struct("ImageInput")
            .field("name", &self.name)
            .field("format", &self.format)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Jpeg,
    Gif,
    Webp,
}

impl ImageFormat {
    /// The format of a media type (`image/png`) or file name (`home.png`); `None` when models
    /// cannot take it as an image (SVG, HTML).
    pub fn from_name_or_media_type(text: &str) -> Option<ImageFormat> {
        let lower = text.to_ascii_lowercase();
        let ext = lower.rsplit(['/', '.']).next().unwrap_or("");
        match ext {
            "png" => Some(ImageFormat::Png),
            "jpeg" | "jpg" => Some(ImageFormat::Jpeg),
            "gif" => Some(ImageFormat::Gif),
            "webp" => Some(ImageFormat::Webp),
            _ => None,
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Gif => "image/gif",
            ImageFormat::Webp => "image/webp",
        }
    }
}

/// Tokens one call used, as the service counted them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// A model's answer that passed the schema and `Proposal::validate`.
#[derive(Debug, Clone)]
pub struct ModelAnswer {
    pub proposal: Proposal,
    pub usage: Option<Usage>,
    /// The model that answered.
    pub model: String,
}

/// Why a model gave no usable proposal. The message is complete (what happened and what to
/// do); the variant tells the caller whether asking again can help.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ModelError {
    /// No credentials / key: asking again will not help until a person configures them.
    #[error("{0}")]
    NoCredentials(String),
    /// The service refused this identity the model.
    #[error("{0}")]
    AccessDenied(String),
    /// The model id names no model the service offers here.
    #[error("{0}")]
    ModelNotFound(String),
    /// The request exceeds the model's context window.
    #[error("{0}")]
    ContextTooLong(String),
    /// The service rejected the request's shape.
    #[error("{0}")]
    InvalidRequest(String),
    /// Still throttled when the retries and the deadline ran out.
    #[error("{0}")]
    Throttled(String),
    /// No answer within the deadline.
    #[error("{0}")]
    Timeout(String),
    /// The endpoint could not be reached at all.
    #[error("{0}")]
    Unreachable(String),
    /// The service failed (5xx after retries, an answer it could not produce).
    #[error("{0}")]
    Service(String),
    /// The client lacks a setting it needs (a model name, a region).
    #[error("{0}")]
    NotConfigured(String),
    /// The model answered, but not with a usable proposal: worth the one re-inference, told
    /// this reason.
    #[error("{problem}")]
    Unusable {
        problem: AnswerProblem,
        usage: Option<Usage>,
    },
}

impl ModelError {
    /// The model answered, but the answer was not a proposal (not JSON, wrong shape, cut off).
    pub fn is_unusable_answer(&self) -> bool {
        matches!(self, ModelError::Unusable { .. })
    }

    /// A person must change a setting before this can work.
    pub fn needs_configuration(&self) -> bool {
        matches!(
            self,
            ModelError::NoCredentials(_)
                | ModelError::AccessDenied(_)
                | ModelError::ModelNotFound(_)
                | ModelError::NotConfigured(_)
        )
    }
}

/// A model client: Amazon Nova on Bedrock, an OpenAI-compatible endpoint, or a test double.
#[async_trait]
pub trait Model: Send + Sync {
    /// `bedrock`, `openai`: the proposer's name in messages.
    fn kind(&self) -> &'static str;
    /// The model a request asks: the session's choice, else the configured default.
    fn model_id(&self, requested: Option<&str>) -> Result<String, ModelError>;
    /// Whether the page now and reference screens go to this model as images.
    fn accepts_images(&self, model_id: &str) -> bool;
    async fn propose(&self, request: ModelRequest) -> Result<ModelAnswer, ModelError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_formats_come_from_names_and_media_types() {
        assert_eq!(
            ImageFormat::from_name_or_media_type("image/png"),
            Some(ImageFormat::Png)
        );
        assert_eq!(
            ImageFormat::from_name_or_media_type("screens/home.JPG"),
            Some(ImageFormat::Jpeg)
        );
        assert_eq!(ImageFormat::from_name_or_media_type("image/svg+xml"), None);
        assert_eq!(ImageFormat::from_name_or_media_type("about.html"), None);
    }
}
