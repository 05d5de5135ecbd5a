//! What devflow's AWS clients (SQS in `devflow-fleet`, DynamoDB in `devflow-store-dynamodb`,
//! S3 in `devflow-blobs`, Bedrock in `devflow-llm`) share, so each says it once:
//! [`load_shared_config`] (the standard AWS chain over rustls on ring, an optional region and
//! static keys, us-east-1 when no region resolves), [`endpoint_in_use`] and [`region`] for
//! error messages, and the readers of the SDK's errors ([`credentials_problem`], [`chain`],
//! [`no_answer`], [`code`], [`http_status`], [`detail`]).
//!
//! Set-up and error reading only: no service SDK and no service calls. Each service keeps its
//! own retries, timeouts, endpoint override and the words of its messages.

mod config;
mod error;

pub use config::{
    endpoint_in_use, load_shared_config, region, AwsOptions, StaticKeys, FALLBACK_REGION,
};
pub use error::{chain, code, credentials_problem, detail, http_status, no_answer};
