//! [`FleetError`]: what went wrong with a queue, in words a person can act on. A refusal names
//! the IAM action (`sqs:SendMessage`, …) and the queues' ARN to allow it on; an unreachable
//! endpoint names the endpoint; a missing queue says who makes it. `sdk_error` is the one
//! place the SDK's errors become these.

use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};

use crate::SqsClient;

/// The SDK's error code if the service answered, and an error with its sources on one line.
pub(crate) use devflow_aws::{chain, code};

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error(
        "'{id}' is not a usable daemon id: {reason} (a daemon id is 1 to 60 characters of A-Z, a-z, 0-9, '-' and '_')"
    )]
    InvalidDaemonId { id: String, reason: String },

    #[error("invalid SQS settings: {0}")]
    InvalidOptions(String),

    #[error(
        "SQS queue {queue} does not exist at {endpoint} ({action}): it was deleted, e.g. by a daemon that took its owner for dead; a daemon makes its queue again when it starts"
    )]
    QueueMissing {
        queue: String,
        endpoint: String,
        action: &'static str,
    },

    #[error(
        "SQS queue {queue} was deleted less than a minute ago and SQS does not give its name out again yet ({action}): start the daemon again after 60 s, or with another daemon id"
    )]
    QueueDeletedRecently { queue: String, action: &'static str },

    #[error(
        "SQS refused {action} on queue {queue} ({detail}); allow {action} on {arn} for the daemon's credentials (README, \"Fleet\", has the whole policy)"
    )]
    AccessDenied {
        queue: String,
        /// The IAM action(s) the call needs, e.g. `sqs:SendMessage`.
        action: &'static str,
        /// `arn:aws:sqs:<region>:<account>:<prefix>daemon-*`: every daemon needs it on all.
        arn: String,
        detail: String,
    },

    #[error(
        "SQS refused the credentials for {action} on queue {queue} ({detail}): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and AWS_SESSION_TOKEN"
    )]
    CredentialsRefused {
        queue: String,
        action: &'static str,
        detail: String,
    },

    #[error(
        "no AWS credentials for SQS ({detail}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with an IAM role"
    )]
    NoCredentials { detail: String },

    #[error(
        "SQS at {endpoint} is unreachable ({action} on queue {queue}): {detail}; check AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL, AWS_REGION and the network"
    )]
    Unreachable {
        endpoint: String,
        queue: String,
        action: &'static str,
        detail: String,
    },

    #[error(
        "{failed} of {total} messages of queue {queue} could not be deleted ({detail}); SQS hands them out again after their visibility timeout, and the receiver drops them as duplicates"
    )]
    AckIncomplete {
        queue: String,
        failed: usize,
        total: usize,
        detail: String,
    },

    #[error("SQS {action} on queue {queue} failed: {detail}")]
    Service {
        queue: String,
        action: &'static str,
        detail: String,
    },
}

impl FleetError {
    /// The queue is gone (deleted), as opposed to unreachable or refused.
    pub fn is_queue_missing(&self) -> bool {
        matches!(self, FleetError::QueueMissing { .. })
    }
}

/// SQS's error codes for "no such queue": the JSON protocol's and the query protocol's (which
/// SQS still sends in `x-amzn-query-error`, and moto sends as the code).
pub(crate) fn is_queue_gone<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    matches!(
        error.code(),
        Some("QueueDoesNotExist" | "AWS.SimpleQueueService.NonExistentQueue" | "NonExistentQueue")
    )
}

/// The error a person can act on, from the SDK's. `action` is the IAM action of the call.
pub(crate) fn sdk_error<E>(
    client: &SqsClient,
    action: &'static str,
    queue: &str,
    error: SdkError<E, HttpResponse>,
) -> FleetError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let queue = crate::client::queue_name_of(queue).to_string();
    if let Some(detail) = devflow_aws::credentials_problem(&error) {
        return FleetError::NoCredentials { detail };
    }
    if devflow_aws::no_answer(&error) {
        return FleetError::Unreachable {
            endpoint: client.endpoint().to_string(),
            queue,
            action,
            detail: chain(&error),
        };
    }
    if is_queue_gone(&error) {
        return FleetError::QueueMissing {
            queue,
            endpoint: client.endpoint().to_string(),
            action,
        };
    }
    let status = devflow_aws::http_status(&error);
    let detail = devflow_aws::detail(&error);
    match error.code().unwrap_or_default() {
        "AWS.SimpleQueueService.QueueDeletedRecently" | "QueueDeletedRecently" => {
            FleetError::QueueDeletedRecently { queue, action }
        }
        "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "IncompleteSignature"
        | "ExpiredToken"
        | "MissingAuthenticationToken"
        | "InvalidSecurity"
        | "UnrecognizedClientException" => FleetError::CredentialsRefused {
            queue,
            action,
            detail,
        },
        "AccessDenied" | "AccessDeniedException" | "AuthorizationError" => {
            FleetError::AccessDenied {
                queue,
                action,
                arn: client.queues_arn(),
                detail,
            }
        }
        // A refusal without SQS's error shape (some proxies) still comes as 403.
        "" if status == Some(403) => FleetError::AccessDenied {
            queue,
            action,
            arn: client.queues_arn(),
            detail,
        },
        _ => FleetError::Service {
            queue,
            action,
            detail,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_queue_the_action_and_the_fix() {
        let denied = FleetError::AccessDenied {
            queue: "devflow-daemon-b".into(),
            action: "sqs:SendMessage",
            arn: "arn:aws:sqs:us-east-1:<account>:devflow-daemon-*".into(),
            detail: "AccessDenied: no".into(),
        };
        expect_test::expect![[r#"SQS refused sqs:SendMessage on queue devflow-daemon-b (AccessDenied: no); allow sqs:SendMessage on arn:aws:sqs:us-east-1:<account>:devflow-daemon-* for the daemon's credentials (README, "Fleet", has the whole policy)"#]]
        .assert_eq(&denied.to_string());
        let unreachable = FleetError::Unreachable {
            endpoint: "http://127.0.0.1:1".into(),
            queue: "devflow-daemon-a".into(),
            action: "sqs:CreateQueue",
            detail: "connection refused".into(),
        };
        expect_test::expect![[r#"SQS at http://127.0.0.1:1 is unreachable (sqs:CreateQueue on queue devflow-daemon-a): connection refused; check AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL, AWS_REGION and the network"#]]
        .assert_eq(&unreachable.to_string());
    }
}
