//! The service facade: the one owner of session state and the one implementation of every
//! API method. Transports decode a request, call a method here and encode the answer; they
//! hold no state of their own. Durable state lives in the [`Store`]; what only a running
//! daemon has (command queues, the per-session work lock) lives in [`Runtime`] behind a
//! single mutex.
//!
//! Method groups: `sessions.rs` (lifecycle, settings, logs), `commands.rs` (submit, cancel,
//! history), `patches.rs` (get, rollback), `pipeline.rs` (running one command), `git.rs`
//! (the clone, the work branch's commits, publish).

mod artifacts;
mod commands;
mod fleet;
mod git;
mod patches;
mod pipeline;
mod reference;
mod resources;
mod screens;
mod sessions;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use devflow_protocol::{
    Command, CommandStatus, EventBody, PatchState, Session, SessionSource, SessionStatus,
};
use devflow_store::{JournalState, Store};

use crate::config::Config;
use crate::error::ServiceError;
use crate::events::EventHub;
use crate::metrics::Metrics;
use crate::parts::{PatchEngine, PreviewRuntime, Proposers, SiteIngest};

pub use fleet::Route;

pub type Result<T> = std::result::Result<T, ServiceError>;

/// The parts the pipeline plugs in.
#[derive(Clone)]
pub struct Parts {
    pub proposers: Proposers,
    pub patch_engine: Arc<dyn PatchEngine>,
    pub ingest: Arc<dyn SiteIngest>,
    pub preview: Arc<dyn PreviewRuntime>,
    /// Verification and screenshots in a real browser (HTTP-only when it has none).
    pub browser: Arc<crate::preview::browser::BrowserChecks>,
}

#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    store: Arc<dyn Store>,
    events: EventHub,
    metrics: Arc<Metrics>,
    parts: Parts,
    /// The sessions' browser IDEs (code-server), started on demand.
    editors: Arc<crate::editor::Editors>,
    /// Uploaded zips and what sessions leave behind (diffs, log copies).
    artifacts: Arc<crate::artifacts::SessionArtifacts>,
    runtime: tokio::sync::Mutex<Runtime>,
    /// Fleet mode: this daemon's leases and relay (set once, before serving).
    fleet: std::sync::OnceLock<Arc<crate::fleet::FleetNode>>,
}

/// What exists only while the daemon runs.
#[derive(Default)]
struct Runtime {
    queues: HashMap<String, SessionQueue>,
}

#[derive(Default)]
struct SessionQueue {
    pending: VecDeque<String>,
    worker_running: bool,
    /// Held while a command runs or a rollback restores files: one change at a time.
    work: Arc<tokio::sync::Mutex<()>>,
    /// Fleet mode: commands ever put in `pending` here, so a repeated notice of a command
    /// queued on another daemon never runs it twice.
    taken: HashSet<String>,
    /// The running worker, so a daemon that lost the session's lease can stop it.
    worker: Option<tokio::task::AbortHandle>,
}

impl Service {
    /// Opens the facade over a store, recovering from an unclean stop: half-written patches
    /// are restored from their journal and interrupted commands are marked FAILED.
    pub async fn open(
        config: Config,
        store: Arc<dyn Store>,
        parts: Parts,
        metrics: Arc<Metrics>,
    ) -> Result<Service> {
        let artifacts = Arc::new(crate::artifacts::SessionArtifacts::local(&config.state_dir));
        Service::open_with_artifacts(config, store, parts, metrics, artifacts).await
    }

    /// [`Service::open`] with the session artifacts in a store of the caller's choice (S3).
    pub async fn open_with_artifacts(
        config: Config,
        store: Arc<dyn Store>,
        parts: Parts,
        metrics: Arc<Metrics>,
        artifacts: Arc<crate::artifacts::SessionArtifacts>,
    ) -> Result<Service> {
        let events = EventHub::new(store.clone(), metrics.clone());
        let editors = Arc::new(crate::editor::Editors::new(
            crate::editor::EditorSettings::from_config(&config),
            metrics.clone(),
        ));
        let service = Service {
            inner: Arc::new(Inner {
                config,
                editors,
                artifacts,
                store,
                events,
                metrics,
                parts,
                runtime: tokio::sync::Mutex::new(Runtime::default()),
                fleet: std::sync::OnceLock::new(),
            }),
        };
        // In a fleet, what a stop interrupted is recovered session by session by whichever
        // daemon takes each lease (`fleet.rs`), never for the whole store at once.
        if service.config().events != crate::config::EventsKind::Sqs {
            service.recover().await?;
        }
        Ok(service)
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The proposer a session choosing `chosen` gets, and whether this daemon has one.
    pub fn proposer_available(
        &self,
        chosen: Option<devflow_protocol::ProposerKind>,
    ) -> (devflow_protocol::ProposerKind, bool) {
        let (kind, proposer) = self.inner.parts.proposers.pick(chosen);
        (kind, proposer.is_some())
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    pub fn events(&self) -> &EventHub {
        &self.inner.events
    }

    pub fn editors(&self) -> &Arc<crate::editor::Editors> {
        &self.inner.editors
    }

    fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    async fn recover(&self) -> Result<()> {
        for mut record in self.store().interrupted_patches().await? {
            let session_id = record.patch.session_id.clone();
            let Some(session) = self.store().get_session(&session_id).await? else {
                continue;
            };
            let workspace = self.workspace(&session);
            match self
                .inner
                .parts
                .patch_engine
                .restore(&workspace, &record.files, true)
            {
                Ok(()) => {
                    tracing::warn!(session_id = %session_id, patch_id = %record.patch.patch_id, "restored a patch interrupted by a stop")
                }
                Err(error) => {
                    tracing::error!(session_id = %session_id, patch_id = %record.patch.patch_id, %error, "could not restore an interrupted patch")
                }
            }
            record.journal_state = JournalState::RolledBack;
            record.patch.state = PatchState::RolledBack;
            record.patch.rolled_back_at = Some(crate::now_millis());
            self.store().put_patch(&record).await?;
        }
        for mut command in self.store().unfinished_commands().await? {
            let was = command.status;
            let summary = format!(
                "interrupted: the daemon stopped while this command was {}; no change was left half-applied",
                was.as_str()
            );
            tracing::warn!(session_id = %command.session_id, command_id = %command.command_id, "{summary}");
            command.status = CommandStatus::Failed;
            command.error_summary = Some(summary.clone());
            command.timings.finished_at = Some(crate::now_millis());
            self.store().update_command(&command).await?;
            self.publish(
                &command.session_id,
                Some(&command.command_id),
                EventBody::CommandStatus {
                    status: CommandStatus::Failed,
                    error_summary: Some(summary),
                },
            )
            .await?;
        }
        // Previews died with the old process: bring back the ones that were running.
        for session in self.store().list_sessions().await? {
            if matches!(
                session.status,
                SessionStatus::Running | SessionStatus::Starting
            ) {
                let service = self.clone();
                let session_id = session.session_id.clone();
                tokio::spawn(async move {
                    if let Err(error) = service.start_preview(&session_id).await {
                        tracing::warn!(session_id = %session_id, %error, "could not restart the preview after a restart");
                    }
                });
            }
        }
        Ok(())
    }

    /// Appends and broadcasts an event.
    async fn publish(
        &self,
        session_id: &str,
        command_id: Option<&str>,
        body: EventBody,
    ) -> Result<()> {
        self.inner
            .events
            .publish(session_id, command_id, body)
            .await?;
        Ok(())
    }

    async fn session(&self, session_id: &str) -> Result<Session> {
        self.store()
            .get_session(session_id)
            .await?
            .ok_or_else(|| ServiceError::not_found("sessionId", session_id, "session"))
    }

    /// Reads, changes and stores a session under the runtime lock, so concurrent updates of
    /// one session never overwrite each other.
    async fn update_session(
        &self,
        session_id: &str,
        change: impl FnOnce(&mut Session) -> Result<()>,
    ) -> Result<Session> {
        let _runtime = self.inner.runtime.lock().await;
        let mut session = self.session(session_id).await?;
        change(&mut session)?;
        session.updated_at = crate::now_millis() / 1000;
        self.store().put_session(&session).await?;
        Ok(session)
    }

    /// The folder a session's files live in.
    fn workspace(&self, session: &Session) -> PathBuf {
        match &session.source {
            SessionSource::Dir { path } => PathBuf::from(path),
            _ => self.inner.config.workspaces_dir().join(&session.session_id),
        }
    }

    fn logs_url(&self, session_id: &str) -> String {
        format!(
            "{}/sessions/{session_id}/logs",
            self.inner.config.public_base_url
        )
    }

    /// The session as clients see it: URLs for this daemon, the newest history.
    async fn present(&self, mut session: Session) -> Result<Session> {
        session.logs_url = self.current_logs_url(&session.session_id).await;
        session.history = self.history_items(&session.session_id, 20, None).await?.0;
        if self.fleet().is_some() {
            session.owner = self
                .store()
                .get_lease(&session.session_id)
                .await?
                .filter(|lease| lease.expires_at > crate::now_millis())
                .map(|lease| lease.owner);
        }
        Ok(session)
    }

    async fn work_lock(&self, session_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut runtime = self.inner.runtime.lock().await;
        runtime
            .queues
            .entry(session_id.to_string())
            .or_default()
            .work
            .clone()
    }

    async fn command(&self, session_id: &str, command_id: &str) -> Result<Command> {
        self.store()
            .get_command(session_id, command_id)
            .await?
            .ok_or_else(|| ServiceError::not_found("commandId", command_id, "command"))
    }
}
