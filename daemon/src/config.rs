//! Daemon configuration: one [`Config`] for every setting, from four layers. Precedence is
//! flag > environment > file > default:
//!
//! - the file: `--config PATH`, else `devflow.toml` in the state dir when it exists; its keys
//!   are camelCase ([`ConfigValues`]) and an unknown key is an error naming the key and the file;
//! - the environment: every key also as `DEVFLOW_<KEY_IN_SCREAMING_SNAKE>` (`s3Bucket` →
//!   `DEVFLOW_S3_BUCKET`), empty values ignored;
//! - the command line's flags, handed in as a [`ConfigValues`] of what was given.
//!
//! [`Config::new`] is the defaults alone (tests, embedders); [`Config::load`] reads the layers.
//! A combination that cannot work (e.g. `events = "sqs"` without `store = "dynamodb"`) fails
//! the load with a clear message instead of being ignored.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use devflow_protocol::ProposerKind;
use serde::{Deserialize, Serialize};

/// Seed 001: a session lives at most 24 hours.
pub const MAX_TTL_MINUTES: u32 = 24 * 60;

/// The config file's name in the state dir.
pub const FILE_NAME: &str = "devflow.toml";

/// The port `devflow serve` listens on by default.
pub const DEFAULT_PORT: u16 = 7878;

/// S3 refuses presigned URLs valid for longer than 7 days.
const MAX_PRESIGN_TTL_SECONDS: u64 = 7 * 24 * 3600;
/// A daemon id names its SQS queue (`<tablePrefix>daemon-<id>`, at most 80 characters).
const MAX_DAEMON_ID_CHARS: usize = 48;

/// Where blobs (uploaded zips, session artifacts) are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobsKind {
    /// Under the state dir.
    #[default]
    Fs,
    /// In S3 or an S3-compatible store (the `s3*` keys).
    S3,
}

/// Where durable state is kept: the embedded SQLite file, or DynamoDB tables (`tablePrefix`,
/// made by `devflow aws init`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    #[default]
    Sqlite,
    Dynamodb,
}

/// How events reach subscribers: `local` (in-process, one daemon) or `sqs` (a fleet: every
/// daemon's events reach the others through their SQS queues; needs the DynamoDB store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventsKind {
    #[default]
    Local,
    Sqs,
}

/// One layer of configuration: every key of `devflow.toml`, each optional. The file, the
/// environment and the flags are each one of these; README's table documents every key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigValues {
    /// Only from `--state-dir`, `DEVFLOW_STATE_DIR` or a `--config` file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_base_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_ttl_minutes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep_interval_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposer: Option<ProposerKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_tokens: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bedrock_model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bedrock_region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bedrock_max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bedrock_timeout_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openai_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openai_model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openai_api_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openai_max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openai_timeout_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blobs: Option<BlobsKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_bucket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_uploads_bucket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_artifacts_bucket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_force_path_style: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presign_ttl_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<EventsKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daemon_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub editor_grant_ttl: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github_api_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chrome: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub browser_verify: Option<bool>,
}

/// The Bedrock proposer's settings (`bedrock*` keys).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BedrockSettings {
    pub model: Option<String>,
    pub region: Option<String>,
    pub max_tokens: Option<u32>,
    pub timeout: Option<Duration>,
}

impl BedrockSettings {
    /// Whether any `bedrock*` key was set (which asks for a Bedrock proposer).
    pub fn any_set(&self) -> bool {
        *self != BedrockSettings::default()
    }
}

/// The OpenAI-compatible proposer's settings (`openai*` keys); it exists when `url` is set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpenAiSettings {
    pub url: Option<String>,
    pub model: Option<String>,
    pub api_key: Option<String>,
    pub max_tokens: Option<u32>,
    pub timeout: Option<Duration>,
}

/// Where S3 blobs go (`s3*` keys, used when `blobs = "s3"`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct S3Settings {
    pub bucket: Option<String>,
    pub uploads_bucket: Option<String>,
    pub artifacts_bucket: Option<String>,
    /// Prepended to every key devflow writes; empty, or ending in `/`.
    pub prefix: String,
    /// `s3Endpoint`, else `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL` (S3-compatible stores).
    pub endpoint: Option<String>,
    /// `s3ForcePathStyle`, else true when an endpoint is set.
    pub force_path_style: bool,
    pub presign_ttl: Duration,
}

/// A bucket and the key prefix inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Empty, or ending in `/`.
    pub prefix: String,
}

impl S3Settings {
    /// Uploaded site zips: `s3UploadsBucket` under `s3Prefix`, else `s3Bucket` under
    /// `s3Prefix` + `uploads/` (seed 000's `uploads`). `None` when no bucket is configured.
    pub fn uploads(&self) -> Option<S3Location> {
        self.location(self.uploads_bucket.as_deref(), "uploads/")
    }

    /// Patches, snapshots and logs: `s3ArtifactsBucket` under `s3Prefix`, else `s3Bucket`
    /// under `s3Prefix` + `session-artifacts/` (seed 000's `session-artifacts`).
    pub fn artifacts(&self) -> Option<S3Location> {
        self.location(self.artifacts_bucket.as_deref(), "session-artifacts/")
    }

    fn location(&self, own_bucket: Option<&str>, default_folder: &str) -> Option<S3Location> {
        match (own_bucket, &self.bucket) {
            (Some(bucket), _) => Some(S3Location {
                bucket: bucket.to_string(),
                prefix: self.prefix.clone(),
            }),
            (None, Some(bucket)) => Some(S3Location {
                bucket: bucket.clone(),
                prefix: format!("{}{default_folder}", self.prefix),
            }),
            (None, None) => None,
        }
    }
}

/// Every setting of a daemon, resolved. See the module doc for where each comes from.
#[derive(Debug, Clone)]
pub struct Config {
    /// Holds `devflow.db`, `token`, `url`, `logs/`, `workspaces/` and `devflow.toml`.
    pub state_dir: PathBuf,
    /// Idle minutes before a session is stopped (seed 000: 30).
    pub default_ttl_minutes: u32,
    /// Prefix of the URLs handed out (`logsUrl`, `uploadUrl`), e.g. `http://127.0.0.1:7878`;
    /// empty = paths relative to the daemon's HTTP root (`serve` fills in its own address).
    pub public_base_url: String,
    /// How often the TTL sweeper looks for idle sessions.
    pub sweep_interval: Duration,
    /// Where `devflow serve` listens.
    pub port: u16,
    pub bind: String,
    /// The access token; `None` = generated and kept in the state dir.
    pub token: Option<String>,
    /// A `tracing` filter (`DEVFLOW_LOG`), e.g. `debug` or `devflow_daemon=trace`.
    pub log: Option<String>,
    /// The proposer of sessions that choose none; `None` = Bedrock when AWS credentials are
    /// configured, else builtin.
    pub proposer: Option<ProposerKind>,
    /// The model context budget in tokens.
    pub context_tokens: usize,
    pub bedrock: BedrockSettings,
    pub openai: OpenAiSettings,
    pub blobs: BlobsKind,
    pub s3: S3Settings,
    pub store: StoreKind,
    pub events: EventsKind,
    /// The DynamoDB store's table-name prefix (`devflow-` → `devflow-sessions`, …); also
    /// the prefix of the fleet's SQS queues (`devflow-daemon-<id>`).
    pub table_prefix: String,
    /// This daemon's id in a fleet (`events = "sqs"`); `None` = the one kept in the state dir
    /// (`daemon-id`, made on first start), so a restarted daemon is the same daemon.
    pub daemon_id: Option<String>,
    /// How long a session's lease lasts without renewal (renewed every third of it).
    pub lease: Duration,
    /// Reserved: how long an editor grant (`session/editorUrl`) is valid.
    pub editor_grant_ttl: Duration,
    /// Reserved for publishing: `Name <email>` of the commits devflow makes.
    pub git_author: Option<String>,
    /// Reserved for publishing: the token for the GitHub API.
    pub github_token: Option<String>,
    /// Reserved for publishing: the GitHub API base URL (GitHub Enterprise).
    pub github_api_url: Option<String>,
    /// The Chromium to verify patches with (`chrome`, `DEVFLOW_CHROME`); `None` = the first
    /// of `chromium`, `chromium-browser`, `google-chrome` on `PATH`. A configured path that is
    /// not an executable file means no browser, not another one.
    pub chrome: Option<PathBuf>,
    /// Whether patches are verified (and screenshotted) in a browser when one is found;
    /// `false` = HTTP-only verification.
    pub browser_verify: bool,
    /// The config file that was read, if any.
    pub file: Option<PathBuf>,
}

/// A configuration that cannot be used: names the key and where its value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// The defaults, with no file and no environment read.
    pub fn new(state_dir: PathBuf) -> Self {
        Config {
            state_dir,
            default_ttl_minutes: 30,
            public_base_url: String::new(),
            sweep_interval: Duration::from_secs(30),
            port: DEFAULT_PORT,
            bind: "127.0.0.1".into(),
            token: None,
            log: None,
            proposer: None,
            context_tokens: devflow_llm::context::DEFAULT_BUDGET_TOKENS,
            bedrock: BedrockSettings::default(),
            openai: OpenAiSettings::default(),
            blobs: BlobsKind::Fs,
            s3: S3Settings {
                presign_ttl: Duration::from_secs(3600),
                ..S3Settings::default()
            },
            store: StoreKind::Sqlite,
            events: EventsKind::Local,
            table_prefix: "devflow-".into(),
            daemon_id: None,
            lease: Duration::from_secs(15),
            editor_grant_ttl: Duration::from_secs(3600),
            git_author: None,
            github_token: None,
            github_api_url: None,
            chrome: None,
            browser_verify: true,
            file: None,
        }
    }

    /// Reads the layers: `file` (`--config`) or the state dir's `devflow.toml`, the process
    /// environment, then `flags`.
    pub fn load(file: Option<&Path>, flags: ConfigValues) -> Result<Config, ConfigError> {
        Config::load_with_env(file, flags, &|name| std::env::var(name).ok())
    }

    /// [`Config::load`] with the environment given as a lookup (tests).
    pub fn load_with_env(
        file: Option<&Path>,
        flags: ConfigValues,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut layers = Layers::default();
        let env_values = layers.read_env(env)?;
        layers.read_flags(&flags)?;

        // The state dir decides where the default file is, so it is settled first; a file
        // given with --config may name it, the state dir's own file may not.
        let state_dir_before_file = flags.state_dir.clone().or(env_values.state_dir.clone());
        let (file_path, explicit) = match file {
            Some(path) => (Some(path.to_path_buf()), true),
            None => {
                let dir = state_dir_before_file
                    .clone()
                    .unwrap_or_else(Config::default_state_dir);
                let path = dir.join(FILE_NAME);
                (path.is_file().then_some(path), false)
            }
        };
        if let Some(path) = &file_path {
            let file_values = layers.read_file(path)?;
            if !explicit && file_values.state_dir.is_some() {
                return Err(ConfigError(format!(
                    "{}: stateDir cannot be set in the state dir's own {FILE_NAME}; use --state-dir, DEVFLOW_STATE_DIR or --config",
                    path.display()
                )));
            }
        }
        let values = layers.merged()?;
        let state_dir = values
            .state_dir
            .clone()
            .unwrap_or_else(Config::default_state_dir);
        let mut config = Config::resolve(state_dir, values, &layers, env)?;
        config.file = file_path;
        Ok(config)
    }

    fn resolve(
        state_dir: PathBuf,
        values: ConfigValues,
        layers: &Layers,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let defaults = Config::new(state_dir);
        let bad = |key: &str, problem: String| ConfigError(layers.describe(key, &problem));
        let at_least = |key: &str, value: u64, min: u64| {
            if value < min {
                Err(bad(key, format!("must be at least {min}")))
            } else {
                Ok(value)
            }
        };
        let url = |key: &str, value: Option<String>| -> Result<Option<String>, ConfigError> {
            match value {
                Some(url) if !url.starts_with("http://") && !url.starts_with("https://") => {
                    Err(bad(key, "is not an http:// or https:// URL".into()))
                }
                other => Ok(other.map(|u| u.trim_end_matches('/').to_string())),
            }
        };
        let secs = |key: &str, value: Option<u64>| -> Result<Option<Duration>, ConfigError> {
            value
                .map(|s| at_least(key, s, 1).map(Duration::from_secs))
                .transpose()
        };

        let default_ttl_minutes = match values.default_ttl_minutes {
            Some(minutes) if minutes == 0 || minutes > MAX_TTL_MINUTES => {
                return Err(bad(
                    "defaultTtlMinutes",
                    format!("must be between 1 and {MAX_TTL_MINUTES}"),
                ))
            }
            Some(minutes) => minutes,
            None => defaults.default_ttl_minutes,
        };
        let context_tokens = match values.context_tokens {
            Some(tokens) if tokens < 2_000 => {
                return Err(bad(
                    "contextTokens",
                    "is too small to hold an instruction and a file; use 2000 or more".into(),
                ))
            }
            Some(tokens) => tokens,
            None => defaults.context_tokens,
        };
        if let Some(filter) = &values.log {
            tracing_subscriber::EnvFilter::try_new(filter)
                .map_err(|e| bad("log", format!("is not a log filter: {e}")))?;
        }
        if let Some(max) = values.bedrock_max_tokens {
            at_least("bedrockMaxTokens", max.into(), 1)?;
        }
        if let Some(max) = values.openai_max_tokens {
            at_least("openaiMaxTokens", max.into(), 1)?;
        }
        if values.events == Some(EventsKind::Sqs) && values.store != Some(StoreKind::Dynamodb) {
            return Err(bad(
                "events",
                "is \"sqs\" (a fleet of daemons), which shares sessions through DynamoDB: \
                 also set store = \"dynamodb\" (DEVFLOW_STORE)"
                    .into(),
            ));
        }
        if let Some(id) = &values.daemon_id {
            if id.is_empty()
                || id.len() > MAX_DAEMON_ID_CHARS
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(bad(
                    "daemonId",
                    format!(
                        "must be 1 to {MAX_DAEMON_ID_CHARS} letters, digits, '-' or '_' \
                         (it names the daemon's SQS queue)"
                    ),
                ));
            }
        }
        let lease = match values.lease_secs {
            Some(secs) if !(3..=300).contains(&secs) => {
                return Err(bad("leaseSecs", "must be between 3 and 300".into()))
            }
            Some(secs) => Duration::from_secs(secs),
            None => defaults.lease,
        };
        let presign_ttl = match values.presign_ttl_seconds {
            Some(s) if s == 0 || s > MAX_PRESIGN_TTL_SECONDS => {
                return Err(bad(
                    "presignTtlSeconds",
                    format!("must be between 1 and {MAX_PRESIGN_TTL_SECONDS} (7 days)"),
                ))
            }
            Some(s) => Duration::from_secs(s),
            None => defaults.s3.presign_ttl,
        };
        let endpoint = match url("s3Endpoint", values.s3_endpoint)? {
            Some(endpoint) => Some(endpoint),
            None => ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
                .iter()
                .find_map(|name| env(name).filter(|v| !v.trim().is_empty())),
        };
        let prefix = match values.s3_prefix.as_deref().map(|p| p.trim_matches('/')) {
            None | Some("") => String::new(),
            Some(prefix) => format!("{prefix}/"),
        };
        let s3 = S3Settings {
            bucket: values.s3_bucket,
            uploads_bucket: values.s3_uploads_bucket,
            artifacts_bucket: values.s3_artifacts_bucket,
            prefix,
            force_path_style: values.s3_force_path_style.unwrap_or(endpoint.is_some()),
            endpoint,
            presign_ttl,
        };
        let blobs = values.blobs.unwrap_or_default();
        if blobs == BlobsKind::S3 && (s3.uploads().is_none() || s3.artifacts().is_none()) {
            return Err(bad(
                "blobs",
                "is \"s3\" but no bucket is configured: set s3Bucket (DEVFLOW_S3_BUCKET)".into(),
            ));
        }

        Ok(Config {
            default_ttl_minutes,
            public_base_url: url("publicBaseUrl", values.public_base_url)?.unwrap_or_default(),
            sweep_interval: secs("sweepIntervalSecs", values.sweep_interval_secs)?
                .unwrap_or(defaults.sweep_interval),
            port: values.port.unwrap_or(defaults.port),
            bind: values.bind.unwrap_or(defaults.bind.clone()),
            token: values.token,
            log: values.log,
            proposer: values.proposer,
            context_tokens,
            bedrock: BedrockSettings {
                model: values.bedrock_model,
                region: values.bedrock_region,
                max_tokens: values.bedrock_max_tokens,
                timeout: secs("bedrockTimeoutSecs", values.bedrock_timeout_secs)?,
            },
            openai: OpenAiSettings {
                url: url("openaiUrl", values.openai_url)?,
                model: values.openai_model,
                api_key: values.openai_api_key,
                max_tokens: values.openai_max_tokens,
                timeout: secs("openaiTimeoutSecs", values.openai_timeout_secs)?,
            },
            blobs,
            s3,
            store: values.store.unwrap_or_default(),
            events: values.events.unwrap_or_default(),
            table_prefix: values.table_prefix.unwrap_or(defaults.table_prefix.clone()),
            daemon_id: values.daemon_id,
            lease,
            editor_grant_ttl: secs("editorGrantTtl", values.editor_grant_ttl)?
                .unwrap_or(defaults.editor_grant_ttl),
            git_author: values.git_author,
            github_token: values.github_token,
            github_api_url: url("githubApiUrl", values.github_api_url)?,
            chrome: values.chrome.filter(|path| !path.as_os_str().is_empty()),
            browser_verify: values.browser_verify.unwrap_or(defaults.browser_verify),
            ..defaults
        })
    }

    pub fn db_path(&self) -> PathBuf {
        self.state_dir.join("devflow.db")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.state_dir.join("logs")
    }

    pub fn workspaces_dir(&self) -> PathBuf {
        self.state_dir.join("workspaces")
    }

    /// The default state dir: `$XDG_DATA_HOME/devflow` (or the platform's data dir).
    pub fn default_state_dir() -> PathBuf {
        dirs::data_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("devflow")
    }
}

/// Every key of the file, camelCase, in declaration order.
pub fn keys() -> &'static [&'static str] {
    static KEYS: std::sync::OnceLock<&'static [&'static str]> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let mut fields: &'static [&'static str] = &[];
        let _ = ConfigValues::deserialize(FieldNames(&mut fields));
        fields
    })
}

/// The environment variable of a key: `s3UploadsBucket` → `DEVFLOW_S3_UPLOADS_BUCKET`.
pub fn env_name(key: &str) -> String {
    let mut name = String::from("DEVFLOW_");
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// Where each key's value came from, and the merged values.
#[derive(Default)]
struct Layers {
    /// Lowest first: file, environment, flags.
    tables: Vec<toml::Table>,
    origin: BTreeMap<String, String>,
}

impl Layers {
    fn read_file(&mut self, path: &Path) -> Result<ConfigValues, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        let values: ConfigValues = toml::from_str(&text).map_err(|e| {
            ConfigError(format!("{}: {}", path.display(), e.to_string().trim_end()))
        })?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        for key in table.keys() {
            self.origin
                .entry(key.clone())
                .or_insert_with(|| path.display().to_string());
        }
        // The file is the lowest layer, read last because its path depends on the others.
        self.tables.insert(0, table);
        Ok(values)
    }

    /// `DEVFLOW_<KEY>` for every key. A value is taken as text first, then as a TOML
    /// value (numbers, booleans), so `DEVFLOW_PORT=8080` and `DEVFLOW_S3_BUCKET=2024` both work.
    fn read_env(
        &mut self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ConfigValues, ConfigError> {
        let mut table = toml::Table::new();
        for key in keys() {
            let name = env_name(key);
            let Some(raw) = env(&name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
            else {
                continue;
            };
            let as_text = toml::Value::String(raw.clone());
            let value = match one_key(key, as_text.clone()) {
                Ok(()) => as_text,
                Err(text_error) => {
                    let native = toml::from_str::<toml::Table>(&format!("v = {raw}"))
                        .ok()
                        .and_then(|mut t| t.remove("v"));
                    match native {
                        Some(native) if one_key(key, native.clone()).is_ok() => native,
                        _ => {
                            return Err(ConfigError(format!("{name}={raw:?}: {text_error}")));
                        }
                    }
                }
            };
            self.origin.insert(key.to_string(), name);
            table.insert(key.to_string(), value);
        }
        let values = deserialize(table.clone())
            .map_err(|e| ConfigError(format!("the DEVFLOW_* environment: {e}")))?;
        self.tables.push(table);
        Ok(values)
    }

    fn read_flags(&mut self, flags: &ConfigValues) -> Result<(), ConfigError> {
        let table = match toml::Value::try_from(flags) {
            Ok(toml::Value::Table(table)) => table,
            Ok(_) => toml::Table::new(),
            Err(e) => return Err(ConfigError(format!("the command line's flags: {e}"))),
        };
        for key in table.keys() {
            self.origin
                .insert(key.clone(), format!("--{}", flag_name(key)));
        }
        self.tables.push(table);
        Ok(())
    }

    fn merged(&self) -> Result<ConfigValues, ConfigError> {
        let mut merged = toml::Table::new();
        for table in &self.tables {
            for (key, value) in table {
                merged.insert(key.clone(), value.clone());
            }
        }
        deserialize(merged).map_err(|e| ConfigError(e.to_string()))
    }

    /// `contextTokens = 100 (from DEVFLOW_CONTEXT_TOKENS) is too small…`
    fn describe(&self, key: &str, problem: &str) -> String {
        let value = self
            .tables
            .iter()
            .rev()
            .find_map(|t| t.get(key))
            .map(|v| v.to_string())
            .unwrap_or_default();
        match self.origin.get(key) {
            Some(origin) => format!("{key} = {value} (from {origin}) {problem}"),
            None => format!("{key} {problem}"),
        }
    }
}

/// Checks one key's value alone, so the error names that value's type problem.
fn one_key(key: &str, value: toml::Value) -> Result<(), String> {
    let mut table = toml::Table::new();
    table.insert(key.to_string(), value);
    deserialize(table)
        .map(|_| ())
        .map_err(|e| e.to_string().trim_end().to_string())
}

fn deserialize(table: toml::Table) -> Result<ConfigValues, toml::de::Error> {
    toml::Value::Table(table).try_into()
}

/// `stateDir` → `state-dir`.
fn flag_name(key: &str) -> String {
    let mut name = String::new();
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            name.push('-');
        }
        name.push(c.to_ascii_lowercase());
    }
    name
}

/// A deserializer that only records the field names a struct asks for.
struct FieldNames<'a>(&'a mut &'static [&'static str]);

impl<'de> serde::Deserializer<'de> for FieldNames<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("only structs have field names"))
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(serde::de::Error::custom("field names recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn state_with_file(text: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), text).unwrap();
        dir
    }

    fn flags_for(dir: &Path) -> ConfigValues {
        ConfigValues {
            state_dir: Some(dir.to_path_buf()),
            ..ConfigValues::default()
        }
    }

    #[test]
    fn every_key_has_its_env_name() {
        let keys = keys();
        assert!(keys.len() >= 30, "{keys:?}");
        for (key, env) in [
            ("s3Bucket", "DEVFLOW_S3_BUCKET"),
            ("s3UploadsBucket", "DEVFLOW_S3_UPLOADS_BUCKET"),
            ("s3ForcePathStyle", "DEVFLOW_S3_FORCE_PATH_STYLE"),
            ("presignTtlSeconds", "DEVFLOW_PRESIGN_TTL_SECONDS"),
            ("openaiApiKey", "DEVFLOW_OPENAI_API_KEY"),
            ("bedrockTimeoutSecs", "DEVFLOW_BEDROCK_TIMEOUT_SECS"),
            ("contextTokens", "DEVFLOW_CONTEXT_TOKENS"),
            ("editorGrantTtl", "DEVFLOW_EDITOR_GRANT_TTL"),
            ("githubApiUrl", "DEVFLOW_GITHUB_API_URL"),
            ("tablePrefix", "DEVFLOW_TABLE_PREFIX"),
            ("proposer", "DEVFLOW_PROPOSER"),
            ("log", "DEVFLOW_LOG"),
            ("chrome", "DEVFLOW_CHROME"),
            ("browserVerify", "DEVFLOW_BROWSER_VERIFY"),
        ] {
            assert!(keys.contains(&key), "{key} is not a key");
            assert_eq!(env_name(key), env);
        }
    }

    #[test]
    fn defaults_without_file_or_env() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::load_with_env(None, flags_for(dir.path()), &env_of(&[])).unwrap();
        assert_eq!(config.port, 7878);
        assert_eq!(config.blobs, BlobsKind::Fs);
        assert_eq!(config.store, StoreKind::Sqlite);
        assert_eq!(config.s3.presign_ttl, Duration::from_secs(3600));
        assert_eq!(config.editor_grant_ttl, Duration::from_secs(3600));
        assert_eq!(
            config.context_tokens,
            devflow_llm::context::DEFAULT_BUDGET_TOKENS
        );
        assert_eq!(config.file, None);
        assert_eq!(config.state_dir, dir.path());
        assert_eq!(config.chrome, None);
        assert!(
            config.browser_verify,
            "a browser verifies when one is found"
        );
    }

    #[test]
    fn the_browser_is_configured_by_path_and_switched_off_by_a_boolean() {
        let dir = state_with_file("chrome = \"/opt/chromium/chrome\"\nbrowserVerify = true\n");
        let env = env_of(&[("DEVFLOW_BROWSER_VERIFY", "false")]);
        let config = Config::load_with_env(None, flags_for(dir.path()), &env).unwrap();
        assert_eq!(config.chrome, Some(PathBuf::from("/opt/chromium/chrome")));
        assert!(!config.browser_verify, "env over file");
        let env = env_of(&[("DEVFLOW_CHROME", "/usr/bin/chromium")]);
        let config = Config::load_with_env(None, flags_for(dir.path()), &env).unwrap();
        assert_eq!(config.chrome, Some(PathBuf::from("/usr/bin/chromium")));
        assert!(config.browser_verify);
        let error = Config::load_with_env(
            None,
            flags_for(dir.path()),
            &env_of(&[("DEVFLOW_BROWSER_VERIFY", "sometimes")]),
        )
        .unwrap_err();
        assert!(error.0.contains("DEVFLOW_BROWSER_VERIFY"), "{error}");
    }

    #[test]
    fn flag_beats_env_beats_file_beats_default() {
        let dir = state_with_file(
            "port = 1001\ncontextTokens = 5000\nbedrockModel = \"from-file\"\nproposer = \"openai\"\n",
        );
        let env = env_of(&[
            ("DEVFLOW_PORT", "1002"),
            ("DEVFLOW_CONTEXT_TOKENS", "6000"),
            ("DEVFLOW_UNRELATED", "x"),
        ]);
        let flags = ConfigValues {
            port: Some(1003),
            ..flags_for(dir.path())
        };
        let config = Config::load_with_env(None, flags, &env).unwrap();
        assert_eq!(config.port, 1003, "flag over env");
        assert_eq!(config.context_tokens, 6000, "env over file");
        assert_eq!(
            config.bedrock.model.as_deref(),
            Some("from-file"),
            "file over default"
        );
        assert_eq!(config.proposer, Some(ProposerKind::Openai));
        assert_eq!(config.bind, "127.0.0.1", "default");
        assert_eq!(config.file, Some(dir.path().join(FILE_NAME)));
    }

    #[test]
    fn an_explicit_file_replaces_the_state_dirs_and_may_name_the_state_dir() {
        let elsewhere = tempfile::tempdir().unwrap();
        let file = elsewhere.path().join("ci.toml");
        let state = elsewhere.path().join("state");
        std::fs::write(
            &file,
            format!("stateDir = {:?}\nbind = \"::1\"\n", state.to_str().unwrap()),
        )
        .unwrap();
        let config =
            Config::load_with_env(Some(&file), ConfigValues::default(), &env_of(&[])).unwrap();
        assert_eq!(config.state_dir, state);
        assert_eq!(config.bind, "::1");

        let own = state_with_file("stateDir = \"/elsewhere\"\n");
        let error = Config::load_with_env(None, flags_for(own.path()), &env_of(&[])).unwrap_err();
        assert!(error.0.contains("stateDir cannot be set"), "{error}");
    }

    #[test]
    fn an_unknown_key_names_the_key_and_the_file() {
        let dir = state_with_file("port = 1\ns3Buckett = \"typo\"\n");
        let error = Config::load_with_env(None, flags_for(dir.path()), &env_of(&[])).unwrap_err();
        assert!(error.0.contains("s3Buckett"), "{error}");
        assert!(error.0.contains(FILE_NAME), "{error}");
        assert!(
            error.0.contains("s3Bucket"),
            "the known keys are listed: {error}"
        );
    }

    #[test]
    fn the_dynamodb_store_is_chosen_with_its_table_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_of(&[
            ("DEVFLOW_STORE", "dynamodb"),
            ("DEVFLOW_TABLE_PREFIX", "team-a-"),
        ]);
        let config = Config::load_with_env(None, flags_for(dir.path()), &env).expect("loads");
        assert_eq!(config.store, StoreKind::Dynamodb);
        assert_eq!(config.table_prefix, "team-a-");
    }

    #[test]
    fn bad_values_name_key_value_and_origin() {
        let dir = tempfile::tempdir().unwrap();
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("DEVFLOW_PORT", "eighty")], "DEVFLOW_PORT=\"eighty\""),
            (&[("DEVFLOW_PORT", "70000")], "DEVFLOW_PORT"),
            (&[("DEVFLOW_BLOBS", "gcs")], "DEVFLOW_BLOBS=\"gcs\""),
            (&[("DEVFLOW_PROPOSER", "gpt")], "DEVFLOW_PROPOSER"),
            (
                &[("DEVFLOW_CONTEXT_TOKENS", "100")],
                "contextTokens = 100 (from DEVFLOW_CONTEXT_TOKENS) is too small",
            ),
            (&[("DEVFLOW_OPENAI_URL", "localhost:11434")], "openaiUrl"),
            (&[("DEVFLOW_PRESIGN_TTL_SECONDS", "0")], "presignTtlSeconds"),
            (&[("DEVFLOW_LOG", "[[[")], "log"),
            (
                &[("DEVFLOW_EVENTS", "sqs")],
                "also set store = \"dynamodb\"",
            ),
            (&[("DEVFLOW_DAEMON_ID", "a/b")], "daemonId"),
            (&[("DEVFLOW_LEASE_SECS", "1")], "leaseSecs"),
            (&[("DEVFLOW_BLOBS", "s3")], "set s3Bucket"),
        ];
        for (env, expected) in cases {
            let error = Config::load_with_env(None, flags_for(dir.path()), &env_of(env))
                .expect_err(expected);
            assert!(error.0.contains(expected), "{env:?}: {error}");
        }
        let file = state_with_file("defaultTtlMinutes = 5000\n");
        let error = Config::load_with_env(None, flags_for(file.path()), &env_of(&[])).unwrap_err();
        assert!(
            error.0.contains("defaultTtlMinutes = 5000 (from ") && error.0.contains(FILE_NAME),
            "{error}"
        );
        let file = state_with_file("port = \"x\"\n");
        let error = Config::load_with_env(None, flags_for(file.path()), &env_of(&[])).unwrap_err();
        assert!(
            error.0.contains("port") && error.0.contains(FILE_NAME),
            "{error}"
        );
    }

    #[test]
    fn env_values_are_text_unless_the_key_wants_a_number_or_a_boolean() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_of(&[
            ("DEVFLOW_BLOBS", "s3"),
            ("DEVFLOW_S3_BUCKET", "2024"),
            ("DEVFLOW_S3_FORCE_PATH_STYLE", "false"),
            ("DEVFLOW_S3_ENDPOINT", "http://127.0.0.1:9000/"),
            ("DEVFLOW_PRESIGN_TTL_SECONDS", "60"),
            ("DEVFLOW_OPENAI_API_KEY", "12345"),
        ]);
        let config = Config::load_with_env(None, flags_for(dir.path()), &env).unwrap();
        assert_eq!(config.blobs, BlobsKind::S3);
        assert_eq!(config.s3.bucket.as_deref(), Some("2024"));
        assert!(
            !config.s3.force_path_style,
            "explicit false wins over the endpoint"
        );
        assert_eq!(config.s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(config.s3.presign_ttl, Duration::from_secs(60));
        assert_eq!(config.openai.api_key.as_deref(), Some("12345"));
    }

    #[test]
    fn s3_locations_default_to_seed_folders_in_one_bucket() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_of(&[
            ("DEVFLOW_BLOBS", "s3"),
            ("DEVFLOW_S3_BUCKET", "team"),
            ("DEVFLOW_S3_PREFIX", "/devflow/"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ]);
        let config = Config::load_with_env(None, flags_for(dir.path()), &env).unwrap();
        let uploads = config.s3.uploads().unwrap();
        assert_eq!(
            (uploads.bucket.as_str(), uploads.prefix.as_str()),
            ("team", "devflow/uploads/")
        );
        let artifacts = config.s3.artifacts().unwrap();
        assert_eq!(artifacts.prefix, "devflow/session-artifacts/");
        assert_eq!(config.s3.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
        assert!(
            config.s3.force_path_style,
            "an endpoint means path style by default"
        );

        let env = env_of(&[
            ("DEVFLOW_BLOBS", "s3"),
            ("DEVFLOW_S3_UPLOADS_BUCKET", "uploads"),
            ("DEVFLOW_S3_ARTIFACTS_BUCKET", "session-artifacts"),
        ]);
        let config = Config::load_with_env(None, flags_for(dir.path()), &env).unwrap();
        assert_eq!(config.s3.uploads().unwrap().bucket, "uploads");
        assert_eq!(config.s3.artifacts().unwrap().prefix, "");
        assert!(!config.s3.force_path_style);
    }
}
