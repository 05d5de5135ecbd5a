//! The facade's side of fleet mode (see [`crate::fleet`]): where a session's owner-only work
//! runs ([`Service::route`]), adopting a session whose lease this daemon was granted
//! ([`Service::adopt`]), letting one go ([`Service::release_local`]), and joining commands
//! queued on other daemons to the owner's queue. Without a fleet every session is local and
//! none of this runs.

use std::sync::Arc;

use tracing::Instrument;

use devflow_protocol::{CommandStatus, Event, EventBody, PatchState, SessionSource, SessionStatus};
use devflow_store::{JournalFile, JournalState, LeaseClaim, Store};

use super::{Result, Service};
use crate::error::ServiceError;
use crate::fleet::{FleetNode, ForwardReply};

/// Where a session's owner-only work (its pipeline, preview and files) runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Here,
    /// Another live daemon holds the session's lease.
    Elsewhere {
        owner: String,
    },
}

impl Service {
    /// Makes this daemon a member of a fleet; called once, before it serves.
    pub fn attach_fleet(&self, node: Arc<FleetNode>) {
        let relay = node.clone();
        self.inner
            .events
            .set_relay(Box::new(move |event: &Event| relay.announce(event)));
        let _ = self.inner.fleet.set(node);
    }

    pub(crate) fn fleet(&self) -> Option<&Arc<FleetNode>> {
        self.inner.fleet.get()
    }

    pub(crate) fn store_handle(&self) -> &dyn Store {
        self.store()
    }

    pub(crate) async fn events_from_store(
        &self,
        session_id: &str,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<Event>> {
        Ok(self
            .store()
            .events_after(session_id, after_seq, limit)
            .await?)
    }

    /// Here when there is no fleet, when this daemon holds the lease, or when nobody live
    /// does and this daemon now takes it (adopting the session first).
    pub async fn route(&self, session_id: &str) -> Result<Route> {
        let Some(node) = self.fleet() else {
            return Ok(Route::Here);
        };
        if node.holds(session_id) {
            return Ok(Route::Here);
        }
        self.session(session_id).await?; // no lease for a session that does not exist
        let previous = self.store().get_lease(session_id).await?.map(|l| l.owner);
        match node.claim(self.store(), session_id).await? {
            LeaseClaim::Granted(lease) => {
                let seen = self.store().last_seq(session_id).await?;
                node.hold(session_id, lease.generation, seen);
                self.adopt(session_id, previous.filter(|p| p != node.daemon_id()))
                    .await;
                Ok(Route::Here)
            }
            LeaseClaim::Held(lease) => Ok(Route::Elsewhere { owner: lease.owner }),
        }
    }

    /// A session this daemon just created is its own: the lease is taken before anyone
    /// else can see the session.
    pub(crate) async fn hold_new_session(&self, session_id: &str) -> Result<()> {
        let Some(node) = self.fleet() else {
            return Ok(());
        };
        match node.claim(self.store(), session_id).await? {
            LeaseClaim::Granted(lease) => {
                node.hold(session_id, lease.generation, 0);
                Ok(())
            }
            LeaseClaim::Held(lease) => Err(ServiceError::internal(format!(
                "the new session {session_id} is already leased to daemon {}",
                lease.owner
            ))),
        }
    }

    /// Runs a method call on daemon `owner` (which runs the session) and returns its
    /// answer as if it had been run here.
    pub(crate) async fn forward(
        &self,
        owner: &str,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value> {
        let Some(node) = self.fleet() else {
            return Err(ServiceError::internal("no fleet to forward to"));
        };
        match node.forward(owner, method, params).await {
            Ok(ForwardReply::Result(value)) => Ok(value),
            Ok(ForwardReply::Error(error)) => Err(
                match serde_json::from_value::<devflow_protocol::ApiError>(error) {
                    Ok(api) => ServiceError {
                        code: api.error,
                        message: api.message,
                        field: api.details.as_ref().and_then(|d| d.field.clone()),
                        value: api.details.and_then(|d| d.value),
                    },
                    Err(e) => ServiceError::internal(format!(
                        "daemon {owner} answered with an unreadable error: {e}"
                    )),
                },
            ),
            Err(why) => Err(ServiceError::new(
                devflow_protocol::ErrorCode::UpstreamError,
                format!("{method} runs on daemon {owner}, which runs the session, but {why}"),
            )),
        }
    }

    /// Takes a session over on this daemon after its lease was granted here: the patch
    /// that was being written when its last owner stopped is rolled back, the workspace is
    /// rebuilt (from the start snapshot and the applied patches' journals, unless it is the
    /// user's own folder), interrupted commands are FAILED with a summary, queued ones join
    /// this daemon's queue, and a running session's preview starts here.
    pub(crate) async fn adopt(&self, session_id: &str, previous_owner: Option<String>) {
        let span = tracing::info_span!("adopt", session_id);
        let adopted = self
            .adopt_inner(session_id, previous_owner)
            .instrument(span)
            .await;
        if let Err(error) = adopted {
            tracing::error!(session_id, %error, "could not adopt the session");
            let summary = format!("this daemon could not take the session over: {error}");
            let _ = self
                .update_session(session_id, |s| {
                    s.status = SessionStatus::Error;
                    s.last_error_summary = Some(summary.clone());
                    Ok(())
                })
                .await;
            let _ = self
                .publish(
                    session_id,
                    None,
                    EventBody::SessionStatus {
                        status: SessionStatus::Error,
                        reason: Some(summary),
                    },
                )
                .await;
        }
    }

    async fn adopt_inner(&self, session_id: &str, previous_owner: Option<String>) -> Result<()> {
        let work = self.work_lock(session_id).await;
        let _work = work.lock().await;
        let mut session = self.session(session_id).await?;
        let here = self
            .fleet()
            .map(|n| n.daemon_id().to_string())
            .unwrap_or_default();
        let by = previous_owner
            .as_deref()
            .map_or_else(|| "its daemon".to_string(), |o| format!("daemon {o}"));
        let workspace = self.workspace(&session);
        let mut patches = self.store().list_patches(session_id).await?;
        for record in patches
            .iter_mut()
            .filter(|r| r.journal_state == JournalState::Applying)
        {
            if matches!(session.source, SessionSource::Dir { .. }) {
                if let Err(error) =
                    self.inner
                        .parts
                        .patch_engine
                        .restore(&workspace, &record.files, true)
                {
                    tracing::error!(session_id, patch_id = %record.patch.patch_id, %error, "could not restore an interrupted patch");
                }
            }
            record.journal_state = JournalState::RolledBack;
            record.patch.state = PatchState::RolledBack;
            record.patch.rolled_back_at = Some(crate::now_millis());
            self.store().put_patch(record).await?;
        }
        let started = !matches!(session.status, SessionStatus::Created);
        if started && !matches!(session.source, SessionSource::Dir { .. }) {
            self.rebuild_workspace(&session, &patches).await?;
        }
        for mut command in self.store().unfinished_commands().await? {
            if command.session_id != session_id {
                continue;
            }
            if command.status == CommandStatus::Queued {
                self.pick_up_queued(session_id, &command.command_id).await;
                continue;
            }
            let summary = format!(
                "interrupted: {by} stopped while this command was {}; daemon {here} took the \
                 session over and restored the last good state",
                command.status.as_str()
            );
            tracing::warn!(session_id, command_id = %command.command_id, "{summary}");
            command.status = CommandStatus::Failed;
            command.error_summary = Some(summary.clone());
            command.timings.finished_at = Some(crate::now_millis());
            self.store().update_command(&command).await?;
            self.inner.metrics.command_finished(CommandStatus::Failed);
            self.publish(
                session_id,
                Some(&command.command_id),
                EventBody::CommandStatus {
                    status: CommandStatus::Failed,
                    error_summary: Some(summary),
                },
            )
            .await?;
        }
        session = self.session(session_id).await?;
        let restart_preview = matches!(
            session.status,
            SessionStatus::Running | SessionStatus::Starting
        );
        if restart_preview {
            // The old preview died with its daemon; this one's URL comes with SESSION_READY.
            self.update_session(session_id, |s| {
                s.status = SessionStatus::Starting;
                s.preview_url = None;
                Ok(())
            })
            .await?;
            self.publish(
                session_id,
                None,
                EventBody::SessionStatus {
                    status: SessionStatus::Starting,
                    reason: Some(format!("taken over by daemon {here}")),
                },
            )
            .await?;
        }
        self.publish(
            session_id,
            None,
            EventBody::Log {
                level: "info".into(),
                message: format!("daemon {here} runs this session now (taken over from {by})"),
            },
        )
        .await?;
        if restart_preview {
            let service = self.clone();
            let session_id = session_id.to_string();
            tokio::spawn(async move {
                if let Err(error) = service.start_preview(&session_id).await {
                    tracing::warn!(session_id = %session_id, %error, "could not start the adopted session's preview");
                }
            });
        }
        drop(_work);
        self.ensure_worker(session_id).await;
        Ok(())
    }

    /// The workspace as the last good state: the start snapshot unpacked into a staging
    /// folder, every applied patch's journal written over it in order, then swapped in.
    async fn rebuild_workspace(
        &self,
        session: &devflow_protocol::Session,
        patches: &[devflow_store::PatchRecord],
    ) -> Result<()> {
        let session_id = &session.session_id;
        let workspace = self.workspace(session);
        let scratch = self.config().state_dir.join("tmp");
        let zip = scratch.join(format!("takeover-{session_id}.zip"));
        let staging = self
            .config()
            .workspaces_dir()
            .join(format!(".takeover-{session_id}"));
        let io = |what: &str, e: std::io::Error| {
            ServiceError::internal(format!("cannot {what} while rebuilding the workspace: {e}"))
        };
        tokio::fs::create_dir_all(&scratch)
            .await
            .map_err(|e| io("create the scratch folder", e))?;
        if staging.exists() {
            tokio::fs::remove_dir_all(&staging)
                .await
                .map_err(|e| io("clear the staging folder", e))?;
        }
        self.inner
            .artifacts
            .fetch_snapshot(session_id, "start.zip", &zip)
            .await
            .map_err(|e| {
                ServiceError::internal(format!(
                    "the session's start snapshot is not available ({e}); its files cannot \
                     be rebuilt on this daemon"
                ))
            })?;
        // `restore` writes each file's `before`; the journal's `after` is what the patch
        // left, so the sides are swapped.
        let replay: Vec<(String, Vec<JournalFile>)> = patches
            .iter()
            .filter(|r| r.journal_state == JournalState::Applied)
            .map(|record| {
                let forward = record
                    .files
                    .iter()
                    .map(|f| JournalFile {
                        path: f.path.clone(),
                        before: f.after.clone(),
                        after: f.before.clone(),
                    })
                    .collect();
                (record.patch.patch_id.clone(), forward)
            })
            .collect();
        // Unpacking and replaying write (and fsync) every file: on the blocking pool.
        let (ingest, engine) = (
            self.inner.parts.ingest.clone(),
            self.inner.parts.patch_engine.clone(),
        );
        let (from, into) = (zip.clone(), staging.clone());
        let rebuilt = tokio::task::spawn_blocking(move || {
            ingest.ingest(&from, &into).map_err(|e| {
                ServiceError::internal(format!("the start snapshot could not be unpacked: {e}"))
            })?;
            for (patch_id, forward) in &replay {
                engine.restore(&into, forward, true).map_err(|e| {
                    ServiceError::internal(format!(
                        "patch {patch_id} could not be replayed onto the start snapshot: {e}"
                    ))
                })?;
            }
            Ok::<(), ServiceError>(())
        })
        .await
        .map_err(|e| ServiceError::internal(format!("the rebuild stopped: {e}")));
        let _ = tokio::fs::remove_file(&zip).await;
        rebuilt??;
        if workspace.exists() {
            tokio::fs::remove_dir_all(&workspace)
                .await
                .map_err(|e| io("remove the old workspace", e))?;
        }
        tokio::fs::rename(&staging, &workspace)
            .await
            .map_err(|e| io("move the rebuilt workspace into place", e))?;
        tracing::info!(
            session_id,
            applied = patches
                .iter()
                .filter(|r| r.journal_state == JournalState::Applied)
                .count(),
            "workspace rebuilt from the start snapshot"
        );
        Ok(())
    }

    /// Stops running a session here (its lease went to another daemon, or this daemon is
    /// leaving): the preview, the queue and the command running now end on this daemon; the
    /// session's state is untouched.
    pub(crate) async fn release_local(&self, session_id: &str) {
        self.inner.parts.preview.stop(session_id).await;
        self.editors().stop(session_id).await;
        let mut runtime = self.inner.runtime.lock().await;
        if let Some(queue) = runtime.queues.get_mut(session_id) {
            queue.pending.clear();
            // The command it is running now belongs to the new owner, which has failed it
            // and rebuilt the files from the store: nothing more of it may be written here.
            if let Some(worker) = queue.worker.take() {
                worker.abort();
            }
            queue.worker_running = false;
        }
    }

    /// Joins a command queued anywhere in the fleet to this daemon's queue for its session
    /// (once: a repeated notice is ignored).
    pub(crate) async fn pick_up_queued(&self, session_id: &str, command_id: &str) {
        {
            let mut runtime = self.inner.runtime.lock().await;
            let queue = runtime.queues.entry(session_id.to_string()).or_default();
            if !queue.taken.insert(command_id.to_string()) {
                return;
            }
            queue.pending.push_back(command_id.to_string());
        }
        if let Err(error) = self.touch(session_id).await {
            tracing::warn!(session_id, %error, "could not renew the session's TTL");
        }
        self.ensure_worker(session_id).await;
    }

    /// An event another daemon appended, for a session this daemon runs.
    pub(crate) async fn on_fleet_event(&self, event: &Event) {
        if let (
            EventBody::CommandStatus {
                status: CommandStatus::Queued,
                ..
            },
            Some(command_id),
        ) = (&event.body, &event.command_id)
        {
            self.pick_up_queued(&event.session_id, command_id).await;
        }
    }
}
