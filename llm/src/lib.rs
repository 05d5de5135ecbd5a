//! devflow's model proposers, without the daemon: what a language model is told about one
//! instruction ([`context`], [`prompt`], and [`pictures`]: the page as it renders now and the
//! reference screens, for models that take images), how it is asked (the Amazon Nova client over Bedrock
//! Converse in [`bedrock`], any OpenAI-compatible chat endpoint in [`openai`]) and how its
//! answer is read ([`answer`]): strict JSON matching the Proposal schema, or a failure that
//! says why, so the one re-inference can tell the model what to fix.
//!
//! `context`, `pictures`, `prompt`, `answer` and `schema` are pure (values in, values out); only the two
//! clients do IO. A model only proposes: nothing here touches the workspace.

pub mod answer;
pub mod bedrock;
pub mod context;
mod convert;
pub mod model;
pub mod openai;
pub mod pictures;
pub mod prompt;
pub mod retry;
pub mod schema;

pub use model::{ImageFormat, ImageInput, Model, ModelAnswer, ModelError, ModelRequest, Usage};
