//! The shared part of every devflow AWS client's set-up: [`load_shared_config`] gives the
//! [`SdkConfig`] a service's config builder starts `from`, and [`endpoint_in_use`] /
//! [`region`] say where the client goes, for error messages. Loading touches no network.

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// Used when no region is configured anywhere (moto, DynamoDB Local and S3-compatible stores
/// ignore it; Bedrock's default `us.` inference profile lives there).
pub const FALLBACK_REGION: &str = "us-east-1";

/// What a service lets its user set over the standard chain.
#[derive(Debug, Clone, Copy)]
pub struct AwsOptions<'a> {
    /// The service as people call it (`SQS`, `Bedrock`), for the log line that says the
    /// fallback region is in use.
    pub service: &'static str,
    /// `None` = from the chain (`AWS_REGION`, the profile), else [`FALLBACK_REGION`].
    pub region: Option<&'a str>,
    /// Keys to use instead of the chain's (tests, tools).
    pub credentials: Option<StaticKeys<'a>>,
}

/// An access key id and secret, and the name of the provider they come from.
#[derive(Debug, Clone, Copy)]
pub struct StaticKeys<'a> {
    /// The access key id and the secret access key.
    pub id_and_secret: &'a (String, String),
    /// What the SDK's logs and debug output call their provider (`devflow-sqs-options`).
    pub provider: &'static str,
}

impl<'a> StaticKeys<'a> {
    /// A service option's keys, if it has any, under the name of their `provider`.
    pub fn named(
        id_and_secret: Option<&'a (String, String)>,
        provider: &'static str,
    ) -> Option<Self> {
        id_and_secret.map(|id_and_secret| StaticKeys {
            id_and_secret,
            provider,
        })
    }
}

/// The standard AWS chain (env, shared profile, web identity, ECS/EC2 roles) with `options`
/// over it, HTTPS through rustls on ring (no aws-lc C build; one TLS stack for every client
/// and reqwest), and [`FALLBACK_REGION`] when no region resolves.
pub async fn load_shared_config(options: &AwsOptions<'_>) -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
    if let Some(region) = options.region {
        loader = loader.region(Region::new(region.to_string()));
    }
    if let Some(StaticKeys {
        id_and_secret: (id, secret),
        provider,
    }) = options.credentials
    {
        loader = loader.credentials_provider(aws_credential_types::Credentials::new(
            id.clone(),
            secret.clone(),
            None,
            None,
            provider,
        ));
    }
    with_fallback_region(loader.load().await, options.service)
}

/// `shared`, with [`FALLBACK_REGION`] if it has no region.
fn with_fallback_region(shared: SdkConfig, service: &str) -> SdkConfig {
    if shared.region().is_some() {
        return shared;
    }
    tracing::info!(
        region = FALLBACK_REGION,
        "no AWS region configured; using the default for {service}"
    );
    shared
        .into_builder()
        .region(Region::new(FALLBACK_REGION))
        .build()
}

/// The region the clients made from `shared` use.
pub fn region(shared: &SdkConfig) -> String {
    shared
        .region()
        .map_or_else(|| FALLBACK_REGION.to_string(), |r| r.to_string())
}

/// The custom endpoint a client goes to, for messages: `explicit` (the service's option, which
/// the caller also sets on its builder), else the first non-blank of `env_names` (the
/// service's `AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`), else the profile's
/// `endpoint_url`. `None` = AWS's own regional endpoint.
pub fn endpoint_in_use(
    explicit: Option<&str>,
    env_names: &[&str],
    shared: &SdkConfig,
) -> Option<String> {
    endpoint_from(explicit, env_names, shared, |name| std::env::var(name).ok())
}

fn endpoint_from(
    explicit: Option<&str>,
    env_names: &[&str],
    shared: &SdkConfig,
    env: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    explicit.map(str::to_string).or_else(|| {
        env_names
            .iter()
            .find_map(|name| env(name).filter(|v| !v.trim().is_empty()))
            .or_else(|| shared.endpoint_url().map(str::to_string))
    })
}

#[cfg(test)]
mod tests {
    use aws_credential_types::provider::ProvideCredentials;

    use super::*;

    #[test]
    fn the_fallback_region_fills_only_a_missing_one() {
        let none = with_fallback_region(SdkConfig::builder().build(), "SQS");
        assert_eq!(region(&none), "us-east-1");
        assert_eq!(none.region().map(|r| r.as_ref()), Some("us-east-1"));
        let set = SdkConfig::builder()
            .region(Region::new("eu-west-1"))
            .build();
        assert_eq!(region(&with_fallback_region(set, "SQS")), "eu-west-1");
    }

    #[tokio::test]
    async fn explicit_region_and_keys_override_the_chain() {
        let keys = ("AKIDEXAMPLE".to_string(), "secret".to_string());
        let shared = load_shared_config(&AwsOptions {
            service: "S3",
            region: Some("ap-northeast-1"),
            credentials: StaticKeys::named(Some(&keys), "devflow-test-options"),
        })
        .await;
        assert_eq!(region(&shared), "ap-northeast-1");
        let provider = shared.credentials_provider().expect("a provider");
        let credentials = provider.provide_credentials().await.expect("static keys");
        assert_eq!(credentials.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(credentials.secret_access_key(), "secret");
        assert!(
            format!("{credentials:?}").contains("devflow-test-options"),
            "{credentials:?}"
        );
    }

    #[test]
    fn the_endpoint_is_the_option_then_the_first_set_variable_then_the_profile() {
        let env = |name: &str| match name {
            "AWS_ENDPOINT_URL_SQS" => Some("  ".to_string()),
            "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:4566".to_string()),
            _ => None,
        };
        let names = ["AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL"];
        let plain = SdkConfig::builder().build();
        let explicit = endpoint_from(Some("http://10.0.0.1:9324"), &names, &plain, env);
        assert_eq!(explicit.as_deref(), Some("http://10.0.0.1:9324"));
        // A blank service variable is passed over for the general one.
        let from_env = endpoint_from(None, &names, &plain, env);
        assert_eq!(from_env.as_deref(), Some("http://127.0.0.1:4566"));
        let profile = SdkConfig::builder()
            .endpoint_url("http://profile:1")
            .build();
        let unset = |_: &str| None;
        let from_profile = endpoint_from(None, &names, &profile, unset);
        assert_eq!(from_profile.as_deref(), Some("http://profile:1"));
        assert_eq!(endpoint_from(None, &names, &plain, unset), None);
    }
}
