//! Start-up shared by every way of running the daemon: the state dir and its lock, logging,
//! the store, the parts, the facade and the TTL sweeper.

use std::sync::Arc;

use anyhow::Context;
use devflow_store::SqliteStore;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config::Config;
use crate::logs::SessionLogLayer;
use crate::metrics::Metrics;
use crate::parts::Proposers;
use crate::service::{Parts, Service};

/// A running daemon's core. Dropping it releases the state dir.
pub struct Daemon {
    pub service: Service,
    /// Fleet mode: this daemon's membership (leave it on a clean stop).
    pub fleet: Option<Arc<crate::fleet::FleetNode>>,
    _fleet_tasks: Vec<tokio::task::JoinHandle<()>>,
    _lock: std::fs::File,
    _sweeper: tokio::task::JoinHandle<()>,
    _preview_events: tokio::task::JoinHandle<()>,
}

/// The `log` setting (`DEVFLOW_LOG`), else `default`.
fn log_filter(config: &Config, default: &str) -> EnvFilter {
    config
        .log
        .as_deref()
        .and_then(|filter| EnvFilter::try_new(filter).ok())
        .unwrap_or_else(|| EnvFilter::new(default))
}

/// Logs go to stderr (stdout belongs to the LSP transport) and to per-session log files.
pub fn init_logging(config: &Config) {
    let filter = log_filter(config, "info");
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false),
        )
        .with(SessionLogLayer::new(config.logs_dir()))
        .try_init();
}

/// For `devflow run`: only errors on stderr (progress lines are its own).
pub fn init_logging_quiet(config: &Config) {
    let filter = log_filter(config, "error");
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false),
        )
        .try_init();
}

/// The store `config.store` names: the SQLite file in the state dir, or the DynamoDB tables
/// (checked up front, so a missing `devflow aws init` fails the start naming the table).
/// The DynamoStore is also returned: a fleet's registry lives beside the tables.
async fn open_store(
    config: &Config,
) -> anyhow::Result<(
    Arc<dyn devflow_store::Store>,
    Option<devflow_store_dynamodb::DynamoStore>,
)> {
    Ok(match config.store {
        crate::config::StoreKind::Sqlite => (
            Arc::new(
                SqliteStore::open(&config.db_path())
                    .with_context(|| format!("cannot open {}", config.db_path().display()))?,
            ),
            None,
        ),
        crate::config::StoreKind::Dynamodb => {
            let store = devflow_store_dynamodb::DynamoStore::connect(dynamo_options(config)).await;
            store.check_tables().await?;
            (Arc::new(store.clone()), Some(store))
        }
    })
}

/// How the DynamoDB store is reached: the table prefix from the config, everything else
/// (endpoint, region, credentials) from the standard AWS chain.
pub fn dynamo_options(config: &Config) -> devflow_store_dynamodb::DynamoOptions {
    devflow_store_dynamodb::DynamoOptions {
        table_prefix: config.table_prefix.clone(),
        ..Default::default()
    }
}

/// Opens the state dir (exclusively: two daemons on one store would both run the same
/// queues), recovers and starts the sweeper.
pub async fn open(config: Config) -> anyhow::Result<Daemon> {
    std::fs::create_dir_all(&config.state_dir)
        .with_context(|| format!("cannot create the state dir {}", config.state_dir.display()))?;
    let lock_path = config.state_dir.join("daemon.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open {}", lock_path.display()))?;
    lock.try_lock().map_err(|_| {
        anyhow::anyhow!(
            "another devflow daemon is using {}; stop it or pass a different --state-dir",
            config.state_dir.display()
        )
    })?;
    let (store, dynamo) = open_store(&config).await?;
    // Fleet mode: the queue and the registry before anything is served.
    let fleet = match (config.events, dynamo) {
        (crate::config::EventsKind::Sqs, Some(registry)) => {
            let daemon_id = crate::fleet::daemon_id(&config)?;
            Some(
                crate::fleet::FleetNode::join(&config, registry, daemon_id)
                    .await
                    .context("cannot join the fleet")?,
            )
        }
        _ => None,
    };
    // Console errors, dev-server crashes and hand edits the previews notice by themselves.
    let (preview_events_tx, preview_events) = tokio::sync::mpsc::channel(1024);
    let preview = Arc::new(crate::preview::SessionPreviews::new(
        crate::preview::PreviewSettings {
            // Dev servers a killed daemon left running are ended here, at start-up.
            owner_file: Some(config.state_dir.join("preview-owner")),
            ..Default::default()
        },
        preview_events_tx,
    ));
    // Chromium carries the previews' owner token: a killed daemon's is ended with them.
    let browser = Arc::new(crate::preview::browser::BrowserChecks::from_config(
        &config,
        vec![(
            crate::preview::orphans::OWNER_VAR.into(),
            preview.owner_token().into(),
        )],
    ));
    let patch_engine: Arc<dyn crate::parts::PatchEngine> =
        Arc::new(crate::engine::WorkspacePatchEngine);
    // "Match the reference screen" renders the builtin's candidate snaps with the same browser.
    let candidates = crate::candidates::CandidateRenderer::new(
        browser.clone(),
        patch_engine.clone(),
        config.state_dir.join("candidates"),
    );
    let parts = Parts {
        proposers: Proposers {
            default: config.proposer,
            builtin: Some(Arc::new(crate::builtin_proposer::BuiltinProposer::new(
                Some(Arc::new(candidates)),
            ))),
            bedrock: crate::proposers::bedrock_from_config(&config),
            openai: crate::proposers::openai_from_config(&config)?,
        },
        patch_engine,
        ingest: Arc::new(crate::engine::ZipIngest),
        preview,
        browser,
    };
    // Uploads and artifacts: the state dir, or S3 with every bucket checked up front.
    let artifacts = Arc::new(crate::artifacts::SessionArtifacts::from_config(&config).await?);
    let interval = config.sweep_interval;
    let metrics = Arc::new(Metrics::default());
    let service = Service::open_with_artifacts(config, store, parts, metrics, artifacts)
        .await
        .map_err(|e| anyhow::anyhow!("cannot recover the daemon's state: {e}"))?;
    let fleet_tasks = match &fleet {
        Some(node) => {
            service.attach_fleet(node.clone());
            node.run(service.clone())
        }
        None => Vec::new(),
    };
    let sweeper = crate::sweeper::spawn(service.clone(), interval);
    let preview_events = crate::preview::forward_events(service.clone(), preview_events);
    Ok(Daemon {
        fleet,
        _fleet_tasks: fleet_tasks,
        service,
        _lock: lock,
        _sweeper: sweeper,
        _preview_events: preview_events,
    })
}
