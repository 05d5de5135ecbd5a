//! [`SqsClient`]: one aws-sdk-sqs client set up by `devflow_aws` like the S3 and DynamoDB ones
//! (standard AWS chain, `AWS_ENDPOINT_URL_SQS` / `AWS_ENDPOINT_URL`, explicit options for
//! tests and tools, rustls on ring), plus what every call needs to name things: the queue
//! prefix, the long poll and the endpoint for error messages. Loading touches no network.

use std::time::Duration;

use aws_sdk_sqs::config::retry::RetryConfig;
use aws_sdk_sqs::config::timeout::TimeoutConfig;
use aws_sdk_sqs::Client;
use devflow_aws::{AwsOptions, StaticKeys};

use crate::queue::{validate_daemon_id, MAX_DAEMON_ID_LEN};
use crate::FleetError;

/// SQS's longest queue name.
const MAX_QUEUE_NAME_LEN: usize = 80;

/// Between the prefix and the daemon id in a queue name.
const DAEMON_INFIX: &str = "daemon-";

/// SQS's longest long poll.
const MAX_WAIT_SECONDS: i32 = 20;

/// How to reach SQS. `Default` = everything from the standard AWS chain, queues
/// `devflow-daemon-<id>`, 20 s long polls.
#[derive(Debug, Clone)]
pub struct SqsOptions {
    /// Prepended to every queue name (`devflow-` → `devflow-daemon-<id>`): A–Z, a–z, 0–9,
    /// `-` and `_`. The whole name must fit SQS's 80 characters: with a prefix of up to 13
    /// any daemon id fits, a longer one leaves less room for the id.
    pub queue_prefix: String,
    /// `None` = the SDK's choice: `AWS_ENDPOINT_URL_SQS`, `AWS_ENDPOINT_URL`, the profile,
    /// else AWS's regional endpoint.
    pub endpoint: Option<String>,
    /// `None` = from the chain (`AWS_REGION`, the profile), else us-east-1.
    pub region: Option<String>,
    /// An access key id and secret to use instead of the chain's (tests, tools).
    pub credentials: Option<(String, String)>,
    /// Attempts per call, with the SDK's standard back-off between them.
    pub max_attempts: u32,
    /// The long poll of [`DaemonQueue::receive`](crate::DaemonQueue::receive), 0–20 s (20 =
    /// the fewest empty receives, 3 a minute per idle daemon).
    pub wait_seconds: i32,
}

impl Default for SqsOptions {
    fn default() -> Self {
        SqsOptions {
            queue_prefix: "devflow-".into(),
            endpoint: None,
            region: None,
            credentials: None,
            max_attempts: 3,
            wait_seconds: MAX_WAIT_SECONDS,
        }
    }
}

/// One SQS client and the settings every call shares. Cheap to clone; clones share the
/// connection pool. [`DaemonQueue::create_with`](crate::DaemonQueue::create_with) and
/// [`FanoutSender::new`](crate::FanoutSender::new) take one, so a daemon opens one pool.
#[derive(Debug, Clone)]
pub struct SqsClient {
    client: Client,
    /// For error messages: the endpoint in use.
    endpoint: String,
    /// For error messages: the region of the queues' ARNs.
    region: String,
    queue_prefix: String,
    wait_seconds: i32,
}

impl SqsClient {
    /// A client from the standard AWS chain and `options`, after checking the options.
    /// Touches no network; the first call does.
    pub async fn connect(options: &SqsOptions) -> Result<SqsClient, FleetError> {
        check_prefix(&options.queue_prefix)?;
        if !(0..=MAX_WAIT_SECONDS).contains(&options.wait_seconds) {
            return Err(FleetError::InvalidOptions(format!(
                "wait_seconds {} is outside SQS's long poll of 0 to {MAX_WAIT_SECONDS} seconds",
                options.wait_seconds
            )));
        }
        let shared = devflow_aws::load_shared_config(&AwsOptions {
            service: "SQS",
            region: options.region.as_deref(),
            credentials: StaticKeys::named(options.credentials.as_ref(), "devflow-sqs-options"),
        })
        .await;
        let mut builder = aws_sdk_sqs::config::Builder::from(&shared)
            .retry_config(RetryConfig::standard().with_max_attempts(options.max_attempts.max(1)))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    // A receive rightly waits the whole long poll before it answers.
                    .operation_attempt_timeout(Duration::from_secs(
                        options.wait_seconds as u64 + 15,
                    ))
                    .build(),
            );
        if let Some(url) = &options.endpoint {
            builder = builder.endpoint_url(url.clone());
        }
        let region = devflow_aws::region(&shared);
        let endpoint = devflow_aws::endpoint_in_use(
            options.endpoint.as_deref(),
            &["AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL"],
            &shared,
        )
        .unwrap_or_else(|| format!("AWS SQS in {region}"));
        Ok(SqsClient {
            client: Client::from_conf(builder.build()),
            endpoint,
            region,
            queue_prefix: options.queue_prefix.clone(),
            wait_seconds: options.wait_seconds,
        })
    }

    /// The name of `daemon_id`'s queue, `<prefix>daemon-<id>`, after checking the id and
    /// that the name fits SQS's 80 characters.
    pub fn queue_name(&self, daemon_id: &str) -> Result<String, FleetError> {
        validate_daemon_id(daemon_id)?;
        let name = format!("{}{DAEMON_INFIX}{daemon_id}", self.queue_prefix);
        if name.len() > MAX_QUEUE_NAME_LEN {
            return Err(FleetError::InvalidDaemonId {
                id: daemon_id.to_string(),
                reason: format!(
                    "its queue name {name} is {} characters, and SQS allows \
                     {MAX_QUEUE_NAME_LEN}; shorten the daemon id or the queue prefix '{}'",
                    name.len(),
                    self.queue_prefix
                ),
            });
        }
        Ok(name)
    }

    /// The daemon id in a queue name or URL of this prefix, if it is one.
    pub fn daemon_id_of(&self, queue_name_or_url: &str) -> Option<String> {
        let name = queue_name_of(queue_name_or_url);
        let id = name
            .strip_prefix(self.queue_prefix.as_str())?
            .strip_prefix(DAEMON_INFIX)?;
        validate_daemon_id(id).ok().map(|()| id.to_string())
    }

    /// The prefix of every daemon queue's name, `<prefix>daemon-`.
    pub fn daemon_queue_prefix(&self) -> String {
        format!("{}{DAEMON_INFIX}", self.queue_prefix)
    }

    /// The endpoint in use, as error messages name it.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The long poll of a receive, in seconds.
    pub fn wait_seconds(&self) -> i32 {
        self.wait_seconds
    }

    /// The SDK client, for callers that need a call this crate does not offer.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The IAM resource every daemon needs its SQS actions on, for error messages.
    pub(crate) fn queues_arn(&self) -> String {
        format!(
            "arn:aws:sqs:{}:<account>:{}*",
            self.region,
            self.daemon_queue_prefix()
        )
    }
}

/// The queue's name: the last path segment of a queue URL, or the name itself.
pub(crate) fn queue_name_of(queue_name_or_url: &str) -> &str {
    queue_name_or_url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(queue_name_or_url)
}

fn check_prefix(prefix: &str) -> Result<(), FleetError> {
    // Room for `daemon-` and a one-character id; the name's length is checked with the id.
    let room = MAX_QUEUE_NAME_LEN - DAEMON_INFIX.len() - 1;
    if prefix.len() > room {
        return Err(FleetError::InvalidOptions(format!(
            "queue prefix '{prefix}' is {} characters; at most {room} leave room in SQS's \
             {MAX_QUEUE_NAME_LEN}-character queue names for '{DAEMON_INFIX}' and a daemon id \
             (13 or fewer leave room for any daemon id of up to {MAX_DAEMON_ID_LEN})",
            prefix.len()
        )));
    }
    if let Some(bad) = prefix
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(FleetError::InvalidOptions(format!(
            "queue prefix '{prefix}' contains {bad:?}; SQS queue names allow only A-Z, a-z, \
             0-9, '-' and '_'"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn client(prefix: &str) -> Result<SqsClient, FleetError> {
        SqsClient::connect(&SqsOptions {
            queue_prefix: prefix.into(),
            endpoint: Some("http://127.0.0.1:1".into()),
            region: Some("eu-west-1".into()),
            credentials: Some(("id".into(), "secret".into())),
            ..SqsOptions::default()
        })
        .await
    }

    #[tokio::test]
    async fn queue_names_are_prefix_daemon_and_id_and_read_back() {
        let client = client("devflow-").await.expect("valid options");
        let name = client.queue_name("host-1").expect("valid id");
        assert_eq!(name, "devflow-daemon-host-1");
        let url = format!("http://127.0.0.1:1/123456789012/{name}");
        assert_eq!(client.daemon_id_of(&url).as_deref(), Some("host-1"));
        assert_eq!(client.daemon_id_of("other-daemon-x"), None);
        assert_eq!(client.daemon_id_of("devflow-sessions"), None);
        assert_eq!(
            client.queues_arn(),
            "arn:aws:sqs:eu-west-1:<account>:devflow-daemon-*"
        );
        assert_eq!(client.endpoint(), "http://127.0.0.1:1");
    }

    #[tokio::test]
    async fn the_longest_prefix_and_id_make_a_name_sqs_accepts() {
        let client = client("abcdefghijklm").await.expect("13 characters fit");
        let name = client
            .queue_name(&"x".repeat(MAX_DAEMON_ID_LEN))
            .expect("60 characters fit");
        assert_eq!(name.len(), MAX_QUEUE_NAME_LEN);
    }

    #[tokio::test]
    async fn a_longer_prefix_leaves_less_room_for_the_id() {
        let client = client("team-alpha-staging-").await.expect("19 characters");
        assert!(client.queue_name(&"x".repeat(48)).is_ok());
        let error = client
            .queue_name(&"x".repeat(MAX_DAEMON_ID_LEN))
            .expect_err("86 characters");
        assert!(
            matches!(error, FleetError::InvalidDaemonId { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("is 86 characters"), "{error}");
        assert!(
            error.to_string().contains("'team-alpha-staging-'"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn refuses_a_prefix_that_leaves_no_room_or_has_other_characters() {
        let long = client(&"p".repeat(73)).await.expect_err("73 characters");
        assert!(long.to_string().contains("at most 72"), "{long}");
        assert!(client(&"p".repeat(72)).await.is_ok());
        let dotted = client("devflow.").await.expect_err("a dot");
        assert!(dotted.to_string().contains("'.'"), "{dotted}");
    }

    #[tokio::test]
    async fn refuses_a_long_poll_sqs_does_not_have() {
        let error = SqsClient::connect(&SqsOptions {
            wait_seconds: 21,
            ..SqsOptions::default()
        })
        .await
        .expect_err("21 s");
        assert!(error.to_string().contains("0 to 20"), "{error}");
    }
}
