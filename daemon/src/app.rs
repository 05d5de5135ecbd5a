//! Start-up shared by every way of running the daemon: the state dir and its lock, logging,
//! the store, the parts, the facade and the TTL sweeper.

use std::path::PathBuf;
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
    _lock: std::fs::File,
    _sweeper: tokio::task::JoinHandle<()>,
    _preview_events: tokio::task::JoinHandle<()>,
}

/// Logs go to stderr (stdout belongs to the LSP transport) and to per-session log files.
pub fn init_logging(state_dir: &std::path::Path) {
    let filter = EnvFilter::try_from_env("DEVFLOW_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false),
        )
        .with(SessionLogLayer::new(state_dir.join("logs")))
        .try_init();
}

/// For `devflow run`: only errors on stderr (progress lines are its own).
pub fn init_logging_quiet() {
    let filter = EnvFilter::try_from_env("DEVFLOW_LOG").unwrap_or_else(|_| EnvFilter::new("error"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false),
        )
        .try_init();
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
    let store = SqliteStore::open(&config.db_path())
        .with_context(|| format!("cannot open {}", config.db_path().display()))?;
    // Console errors, dev-server crashes and hand edits the previews notice by themselves.
    let (preview_events_tx, preview_events) = tokio::sync::mpsc::channel(1024);
    let budget = crate::proposers::context_budget()?;
    let parts = Parts {
        proposers: Proposers {
            default: default_proposer()?,
            builtin: Some(Arc::new(crate::builtin_proposer::BuiltinProposer)),
            bedrock: crate::proposers::bedrock_from_env(&config.state_dir, budget)?,
            openai: crate::proposers::openai_from_env(&config.state_dir, budget)?,
        },
        patch_engine: Arc::new(crate::engine::WorkspacePatchEngine),
        ingest: Arc::new(crate::engine::ZipIngest),
        preview: Arc::new(crate::preview::SessionPreviews::new(
            crate::preview::PreviewSettings::default(),
            preview_events_tx,
        )),
    };
    let interval = config.sweep_interval;
    let service = Service::open(config, Arc::new(store), parts, Arc::new(Metrics::default()))
        .await
        .map_err(|e| anyhow::anyhow!("cannot recover the daemon's state: {e}"))?;
    let sweeper = crate::sweeper::spawn(service.clone(), interval);
    let preview_events = crate::preview::forward_events(service.clone(), preview_events);
    Ok(Daemon {
        service,
        _lock: lock,
        _sweeper: sweeper,
        _preview_events: preview_events,
    })
}

fn default_proposer() -> anyhow::Result<Option<devflow_protocol::ProposerKind>> {
    match std::env::var("DEVFLOW_PROPOSER")
        .ok()
        .filter(|v| !v.is_empty())
    {
        None => Ok(None),
        Some(name) => serde_json::from_value(serde_json::Value::String(name.clone()))
            .map(Some)
            .map_err(|_| {
                anyhow::anyhow!("DEVFLOW_PROPOSER={name:?} is not one of builtin, bedrock, openai")
            }),
    }
}

/// The state dir from the flag, or the platform default.
pub fn state_dir(flag: Option<PathBuf>) -> PathBuf {
    flag.unwrap_or_else(Config::default_state_dir)
}
