//! From the SDK's errors to a [`StoreError`] a person can act on: a missing table names the
//! table and says to run `devflow aws init`; a refused call names the IAM action and the
//! table's ARN; missing credentials and an unreachable endpoint say so.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{BuildError, ProvideErrorMetadata, SdkError};
use devflow_store::StoreError;

use crate::DynamoStore;

/// The service's error code (`ConditionalCheckFailedException`, …), if it answered.
pub(crate) use devflow_aws::code;
use devflow_aws::{chain, credentials_problem};

/// A request the SDK refused to build (a required field missing: a bug here, not the user's).
pub(crate) fn built<T>(result: Result<T, BuildError>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Database(format!("cannot build a DynamoDB request: {e}")))
}

pub(crate) fn sdk_error<E>(
    store: &DynamoStore,
    action: &'static str,
    table: &str,
    error: SdkError<E, HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let Some(detail) = credentials_problem(&error) {
        return StoreError::Database(format!(
            "no AWS credentials for DynamoDB ({detail}); set AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with an IAM role"
        ));
    }
    if devflow_aws::no_answer(&error) {
        return StoreError::Database(format!(
            "DynamoDB at {} is unreachable ({action} on table {table}): {}; check \
             AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL and the network",
            store.endpoint,
            chain(&error)
        ));
    }
    let status = devflow_aws::http_status(&error);
    let mut code = code(&error).unwrap_or_default().to_string();
    // An IAM refusal that is not in DynamoDB's JSON error shape (moto, some proxies) still
    // comes as 403.
    if code.is_empty() && status == Some(403) {
        code = "AccessDeniedException".into();
    }
    let message = match &error {
        SdkError::ServiceError(service) => service.err().message().unwrap_or_default().to_string(),
        _ => chain(&error),
    };
    let message = if message.is_empty() {
        status.map_or_else(|| chain(&error), |status| format!("HTTP {status}"))
    } else {
        message
    };
    match code.as_str() {
        "ResourceNotFoundException" => StoreError::Database(format!(
            "table {table} does not exist at {}; run `devflow aws init` (with the same \
             tablePrefix / DEVFLOW_TABLE_PREFIX and AWS settings as the daemon)",
            store.endpoint
        )),
        "AccessDeniedException"
        | "UnrecognizedClientException"
        | "MissingAuthenticationToken"
        | "InvalidSignatureException" => StoreError::Database(format!(
            "DynamoDB refused dynamodb:{action} on table {table} ({code}: {message}); allow \
             dynamodb:{action} on arn:aws:dynamodb:<region>:<account>:table/{table} for the \
             daemon's credentials (README, \"Fleet\", has the whole policy)"
        )),
        "" => StoreError::Database(format!(
            "DynamoDB {action} on table {table} failed: {message}"
        )),
        _ => StoreError::Database(format!(
            "DynamoDB {action} on table {table} failed: {code}: {message}"
        )),
    }
}
