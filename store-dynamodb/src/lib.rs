//! devflow's [`Store`](devflow_store::Store) on DynamoDB, for a fleet of daemons that share
//! sessions: [`DynamoStore`] over eight tables ([`Tables`], names with a configurable prefix,
//! created by [`DynamoStore::init_tables`] = `devflow aws init`). Every write that must not
//! race another daemon is a conditional write: an event's `seq` is claimed with
//! `attribute_not_exists(seq)` (see `store.rs`), an idempotency key with a transaction that
//! puts the key and its command together. Client set-up (endpoint, credentials, region) is
//! the standard AWS chain through `devflow_aws`, as for the S3 blob store.

mod error;
mod journal;
mod lease;
mod store;
mod tables;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::Client;
use devflow_aws::{AwsOptions, StaticKeys};

pub use lease::DaemonRecord;
pub use tables::{TableInit, Tables};

/// How to reach DynamoDB. `Default` = everything from the standard AWS chain, tables
/// `devflow-*`.
#[derive(Debug, Clone)]
pub struct DynamoOptions {
    /// Prepended to every table name (`devflow-` → `devflow-sessions`, …).
    pub table_prefix: String,
    /// `None` = the SDK's choice: `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL`, the
    /// profile, else AWS's regional endpoint.
    pub endpoint: Option<String>,
    /// `None` = from the chain (`AWS_REGION`, the profile), else us-east-1.
    pub region: Option<String>,
    /// An access key id and secret to use instead of the chain's (tests, tools).
    pub credentials: Option<(String, String)>,
    /// Attempts per call, with the SDK's standard back-off between them.
    pub max_attempts: u32,
}

impl Default for DynamoOptions {
    fn default() -> Self {
        DynamoOptions {
            table_prefix: "devflow-".into(),
            endpoint: None,
            region: None,
            credentials: None,
            max_attempts: 3,
        }
    }
}

/// The DynamoDB [`Store`](devflow_store::Store). Cheap to clone; clones share the client.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    tables: Tables,
    /// For error messages: the endpoint in use.
    endpoint: String,
    clock: Arc<Monotonic>,
}

impl DynamoStore {
    /// A client from the standard AWS chain and `options`. Loading touches no network; the
    /// first call does (see [`DynamoStore::check_tables`] to fail early).
    pub async fn connect(options: DynamoOptions) -> DynamoStore {
        let shared = devflow_aws::load_shared_config(&AwsOptions {
            service: "DynamoDB",
            region: options.region.as_deref(),
            credentials: StaticKeys::named(
                options.credentials.as_ref(),
                "devflow-dynamodb-options",
            ),
        })
        .await;
        let mut builder = aws_sdk_dynamodb::config::Builder::from(&shared)
            .retry_config(RetryConfig::standard().with_max_attempts(options.max_attempts.max(1)))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .build(),
            );
        if let Some(url) = &options.endpoint {
            builder = builder.endpoint_url(url.clone());
        }
        let endpoint = devflow_aws::endpoint_in_use(
            options.endpoint.as_deref(),
            &["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"],
            &shared,
        )
        .unwrap_or_else(|| format!("AWS DynamoDB in {}", devflow_aws::region(&shared)));
        DynamoStore {
            client: Client::from_conf(builder.build()),
            tables: Tables::new(&options.table_prefix),
            endpoint,
            clock: Arc::new(Monotonic::default()),
        }
    }

    /// The table names this store uses.
    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// The endpoint in use, as error messages name it.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The SDK client, for callers that need a call this crate does not offer.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// Nanoseconds since the Unix epoch, strictly increasing within this process: the order in
/// which sessions, commands and patches were first stored (DynamoDB has no row ids). Across
/// daemons it is wall-clock order, which is all "oldest first" needs.
#[derive(Debug, Default)]
struct Monotonic {
    last: AtomicU64,
}

impl Monotonic {
    fn next(&self) -> u64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX / 2))
            .unwrap_or(0);
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let next = now.max(last + 1);
            match self
                .last
                .compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(current) => last = current,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_order_clock_never_repeats_or_goes_back() {
        let clock = Monotonic::default();
        let mut last = 0;
        for _ in 0..10_000 {
            let next = clock.next();
            assert!(next > last, "{next} after {last}");
            last = next;
        }
    }
}
