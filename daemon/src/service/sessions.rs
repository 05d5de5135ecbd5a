//! Session lifecycle, settings, logs and the session's browser IDE (`editorUrl`, see
//! [`crate::editor`]). A `git` source is cloned and `gitCommits` prepared by `git.rs`, which
//! also implements `publish`.

use std::path::Path;

use devflow_protocol::{
    CreateSessionParams, CreateSessionResult, DeleteResult, EditorUrl, EventBody, Layout,
    LogsParams, LogsResult, Session, SessionList, SessionParams, SessionSource, SessionStatus,
    Settings, SubmitCommandParams, UpdateSettingsParams, UploadParams, UploadResult,
};

use super::{Result, Service};
use crate::config::MAX_TTL_MINUTES;
use crate::error::ServiceError;
use crate::parts::IngestError;

const MAX_NAME_CHARS: usize = 200;
const MAX_PROMPT_CHARS: usize = 20_000;

impl Service {
    pub async fn create_session(&self, params: CreateSessionParams) -> Result<CreateSessionResult> {
        let name = params.name.unwrap_or_default();
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(ServiceError::invalid(
                "name",
                name.len(),
                format!("name is longer than {MAX_NAME_CHARS} characters"),
            ));
        }
        let ttl_minutes = params
            .ttl_minutes
            .unwrap_or(self.config().default_ttl_minutes);
        if ttl_minutes == 0 || ttl_minutes > MAX_TTL_MINUTES {
            return Err(ServiceError::invalid(
                "ttlMinutes",
                ttl_minutes,
                format!("ttlMinutes must be between 1 and {MAX_TTL_MINUTES} (24 hours)"),
            ));
        }
        let mut git_source = None;
        let source = match params.source.unwrap_or(SessionSource::Upload) {
            SessionSource::Dir { path } => SessionSource::Dir {
                path: checked_dir(&path)?,
            },
            SessionSource::Git { url, branch } => {
                git_source = Some((
                    super::git::check_git_source(&url, branch.as_deref())?,
                    branch.clone(),
                ));
                SessionSource::Git { url, branch }
            }
            SessionSource::Upload => SessionSource::Upload,
        };
        if let Some(prompt) = &params.initial_prompt {
            super::commands::check_instruction("initialPrompt", prompt)?;
        }
        let session_id = uuid::Uuid::new_v4().to_string();
        tracing::Span::current().record("session_id", session_id.as_str());
        let now = crate::now_millis() / 1000;
        let name = if name.is_empty() {
            default_name(&source, &session_id)
        } else {
            name
        };
        let mut session = Session {
            session_id: session_id.clone(),
            name,
            user_id: "local".into(),
            source: source.clone(),
            status: SessionStatus::Created,
            preview_url: None,
            editor_url: None,
            reference_id: None,
            history: Vec::new(),
            initial_prompt: params.initial_prompt.clone(),
            repository_url: None,
            repository_owner: None,
            repository_name: None,
            branch_name: None,
            pr_number: None,
            pr_url: None,
            last_error_summary: None,
            logs_url: self.logs_url(&session_id),
            last_applied_patch_id: None,
            paused: false,
            settings: Settings::default(),
            layout: Layout::default(),
            ttl_minutes,
            created_at: now,
            updated_at: now,
            expires_at: now + i64::from(ttl_minutes) * 60,
            owner: None,
        };
        if matches!(source, SessionSource::Upload) {
            let workspace = self.workspace(&session);
            std::fs::create_dir_all(&workspace).map_err(|e| {
                ServiceError::internal(format!("cannot create the session workspace: {e}"))
            })?;
        }
        if let Some((remote, branch)) = git_source {
            self.clone_git_source(&mut session, remote, branch).await?;
        }
        self.store().put_session(&session).await?;
        self.hold_new_session(&session_id).await?;
        tracing::info!(session_id = %session_id, "session created");
        self.publish(
            &session_id,
            None,
            EventBody::SessionStatus {
                status: SessionStatus::Created,
                reason: None,
            },
        )
        .await?;
        if let Some(prompt) = params.initial_prompt {
            self.submit_command(SubmitCommandParams {
                session_id: session_id.clone(),
                instruction: prompt,
                idempotency_key: None,
                target: None,
            })
            .await?;
        }
        let upload_url = self.upload_url_for(&source, &session_id).await?;
        let session = self.present(self.session(&session_id).await?).await?;
        Ok(CreateSessionResult {
            upload_url,
            session,
        })
    }

    pub async fn upload(&self, params: UploadParams) -> Result<UploadResult> {
        let session = self.session(&params.session_id).await?;
        if !matches!(session.source, SessionSource::Upload) {
            return Err(ServiceError::conflict(
                "this session works on a folder or repository; it takes no upload",
            ));
        }
        let zip = Path::new(&params.zip_path);
        if !zip.is_file() {
            return Err(ServiceError::invalid(
                "zipPath",
                params.zip_path.clone(),
                "no file at zipPath",
            ));
        }
        let workspace = self.workspace(&session);
        match self.inner.parts.ingest.ingest(zip, &workspace) {
            Ok((files, bytes)) => {
                self.touch(&session.session_id).await?;
                Ok(UploadResult { files, bytes })
            }
            Err(IngestError::NotConfigured(message)) => Err(ServiceError::not_configured(message)),
            Err(IngestError::Rejected {
                message,
                entry,
                code,
            }) => Err(ServiceError {
                code,
                message,
                field: Some("zip".into()),
                value: entry.map(Into::into),
            }),
        }
    }

    pub async fn start_session(&self, params: SessionParams) -> Result<Session> {
        let session = self.session(&params.session_id).await?;
        if session.status == SessionStatus::Running {
            return self.present(session).await;
        }
        self.ingest_stored_upload(&session).await?;
        if matches!(session.source, SessionSource::Upload)
            && dir_is_empty(&self.workspace(&session))
        {
            return Err(ServiceError::conflict(
                "nothing to preview yet: upload the site zip to the session's uploadUrl first",
            ));
        }
        if self.fleet().is_some() && !matches!(session.source, SessionSource::Dir { .. }) {
            // Another daemon that takes the session over rebuilds its files from this
            // snapshot: it must exist before the session runs.
            self.store_start_snapshot_now(&session).await?;
        }
        let session = self
            .update_session(&params.session_id, |s| {
                s.status = SessionStatus::Starting;
                Ok(())
            })
            .await?;
        self.publish(
            &session.session_id,
            None,
            EventBody::SessionStatus {
                status: SessionStatus::Starting,
                reason: None,
            },
        )
        .await?;
        if self.fleet().is_none() {
            self.store_start_snapshot(&session);
        }
        let service = self.clone();
        let session_id = session.session_id.clone();
        tokio::spawn(async move {
            if let Err(error) = service.start_preview(&session_id).await {
                tracing::warn!(session_id = %session_id, %error, "preview did not start");
            }
        });
        self.present(session).await
    }

    /// Starts the preview and records the outcome: RUNNING + SESSION_READY, or ERROR.
    pub(super) async fn start_preview(&self, session_id: &str) -> Result<()> {
        let session = self.session(session_id).await?;
        let workspace = self.workspace(&session);
        match self.inner.parts.preview.start(session_id, &workspace).await {
            Ok(handle) => {
                let url = handle.url.clone();
                let mut stopped = false;
                self.update_session(session_id, |s| {
                    // Stopped while starting: the stop ended this preview too.
                    stopped = s.status == SessionStatus::Stopped;
                    if !stopped {
                        s.status = SessionStatus::Running;
                        s.preview_url = Some(url.clone());
                    }
                    Ok(())
                })
                .await?;
                if stopped {
                    return Ok(());
                }
                self.publish(
                    session_id,
                    None,
                    EventBody::SessionStatus {
                        status: SessionStatus::Running,
                        reason: None,
                    },
                )
                .await?;
                self.publish(
                    session_id,
                    None,
                    EventBody::SessionReady {
                        preview_url: handle.url,
                    },
                )
                .await?;
                self.prepare_baseline(session_id);
                tracing::info!(session_id, "preview ready");
                Ok(())
            }
            Err(error) => {
                let summary = format!("the preview did not start: {error}");
                let mut stopped = false;
                self.update_session(session_id, |s| {
                    // A stop while starting cancels the start: the session stays STOPPED.
                    stopped = s.status == SessionStatus::Stopped;
                    if !stopped {
                        s.status = SessionStatus::Error;
                        s.last_error_summary = Some(summary.clone());
                    }
                    Ok(())
                })
                .await?;
                if stopped {
                    return Ok(());
                }
                self.publish(
                    session_id,
                    None,
                    EventBody::SessionStatus {
                        status: SessionStatus::Error,
                        reason: Some(summary.clone()),
                    },
                )
                .await?;
                Err(ServiceError::internal(summary))
            }
        }
    }

    pub async fn get_session(&self, params: SessionParams) -> Result<Session> {
        let session = self.session(&params.session_id).await?;
        self.present(session).await
    }

    pub async fn list_sessions(&self) -> Result<SessionList> {
        let mut sessions = Vec::new();
        for session in self.store().list_sessions().await? {
            sessions.push(self.present(session).await?);
        }
        Ok(SessionList { sessions })
    }

    pub async fn stop_session(&self, params: SessionParams) -> Result<Session> {
        self.stop(&params.session_id, "stopped by the user").await?;
        self.get_session(params).await
    }

    /// Marks the session STOPPED, then stops the preview and fails the queued commands.
    pub(crate) async fn stop(&self, session_id: &str, reason: &str) -> Result<()> {
        let session = self.session(session_id).await?;
        // STOPPED first: a preview start finishing meanwhile sees it and leaves it
        // (`start_preview`), and the preview's stop below cancels a start under way.
        if session.status != SessionStatus::Stopped {
            self.update_session(session_id, |s| {
                s.status = SessionStatus::Stopped;
                s.preview_url = None;
                Ok(())
            })
            .await?;
            self.publish(
                session_id,
                None,
                EventBody::SessionStatus {
                    status: SessionStatus::Stopped,
                    reason: Some(reason.into()),
                },
            )
            .await?;
        }
        self.inner.parts.preview.stop(session_id).await;
        self.editors().stop(session_id).await;
        self.cancel_queued(session_id, &format!("session {reason}"))
            .await?;
        tracing::info!(session_id, reason, "session stopped");
        Ok(())
    }

    /// Removes the files devflow owns for a session: its workspace unless it is the user's
    /// own folder, which is never deleted.
    pub(crate) fn remove_owned_files(&self, session: &Session) {
        self.editors().remove_state(&session.session_id);
        if matches!(session.source, SessionSource::Dir { .. }) {
            return;
        }
        let workspace = self.workspace(session);
        if let Err(error) = std::fs::remove_dir_all(&workspace) {
            if error.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(session_id = %session.session_id, %error, "could not remove the workspace");
            }
        }
    }

    pub async fn delete_session(&self, params: SessionParams) -> Result<DeleteResult> {
        let session = self.session(&params.session_id).await?;
        self.stop(&session.session_id, "deleted").await?;
        let work = self.work_lock(&session.session_id).await;
        let _work = work.lock().await;
        self.remove_owned_files(&session);
        self.forget_git(&session.session_id);
        self.remove_artifacts(&session.session_id).await;
        self.store().delete_session(&session.session_id).await?;
        if let Some(node) = self.fleet() {
            node.drop_hold(&session.session_id);
        }
        self.inner
            .runtime
            .lock()
            .await
            .queues
            .remove(&session.session_id);
        self.inner.events.close(&session.session_id);
        let _ = std::fs::remove_file(
            self.config()
                .logs_dir()
                .join(format!("{}.log", session.session_id)),
        );
        Ok(DeleteResult {
            session_id: session.session_id,
            message: "session deleted".into(),
        })
    }

    pub async fn pause(&self, params: SessionParams) -> Result<Session> {
        self.set_paused(&params.session_id, true).await
    }

    pub async fn resume(&self, params: SessionParams) -> Result<Session> {
        let session = self.set_paused(&params.session_id, false).await?;
        self.ensure_worker(&params.session_id).await;
        Ok(session)
    }

    async fn set_paused(&self, session_id: &str, paused: bool) -> Result<Session> {
        let before = self.session(session_id).await?;
        let session = self
            .update_session(session_id, |s| {
                s.paused = paused;
                Ok(())
            })
            .await?;
        if before.paused != paused {
            self.publish(session_id, None, EventBody::SessionPaused { paused })
                .await?;
            tracing::info!(session_id, paused, "queue paused/resumed");
        }
        self.touch(session_id).await?;
        self.present(session).await
    }

    pub async fn get_settings(&self, params: SessionParams) -> Result<Settings> {
        Ok(self.session(&params.session_id).await?.settings)
    }

    pub async fn update_settings(&self, params: UpdateSettingsParams) -> Result<Settings> {
        if let Some(prompt) = &params.patch.prompt {
            if prompt.chars().count() > MAX_PROMPT_CHARS {
                return Err(ServiceError::invalid(
                    "prompt",
                    prompt.len(),
                    format!("prompt is longer than {MAX_PROMPT_CHARS} characters"),
                ));
            }
        }
        if params.patch.git_commits == Some(true) {
            self.enable_git_commits(&params.session_id).await?;
        }
        let session = self
            .update_session(&params.session_id, |s| {
                s.settings.apply(&params.patch);
                Ok(())
            })
            .await?;
        self.publish(
            &session.session_id,
            None,
            EventBody::SettingsUpdated {
                settings: session.settings.clone(),
            },
        )
        .await?;
        tracing::info!(session_id = %session.session_id, "settings updated");
        Ok(session.settings)
    }

    pub async fn logs(&self, params: LogsParams) -> Result<LogsResult> {
        self.session(&params.session_id).await?;
        let path = self
            .config()
            .logs_dir()
            .join(format!("{}.log", params.session_id));
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(error) => {
                return Err(ServiceError::internal(format!(
                    "cannot read the session log: {error}"
                )))
            }
        };
        let text = match params.tail {
            Some(n) => {
                let lines: Vec<&str> = text.lines().collect();
                let start = lines.len().saturating_sub(n as usize);
                lines[start..].iter().map(|l| format!("{l}\n")).collect()
            }
            None => text,
        };
        Ok(LogsResult { text })
    }

    /// The path of a session's log file, for transports that stream it.
    pub async fn log_path(&self, session_id: &str) -> Result<std::path::PathBuf> {
        self.session(session_id).await?;
        Ok(self.config().logs_dir().join(format!("{session_id}.log")))
    }

    /// A fresh signed `editorUrl` for the session's browser IDE; its code-server starts now
    /// (or keeps running) so the page finds it up.
    pub async fn editor_url(&self, params: SessionParams) -> Result<EditorUrl> {
        let session = self.session(&params.session_id).await?;
        refuse_stopped_editor(&session)?;
        let editors = self.editors();
        editors.check_installed().map_err(editor_error)?;
        let (editor_url, expires_at) = editors
            .link(&session.session_id, crate::now_millis() / 1000)
            .map_err(editor_error)?;
        editors
            .ensure(&session.session_id, &self.workspace(&session))
            .map_err(editor_error)?;
        self.touch(&session.session_id).await?;
        tracing::info!(session_id = %session.session_id, expires_at, "editor link issued");
        Ok(EditorUrl {
            editor_url,
            expires_at,
        })
    }

    /// The session's editor for the proxy: started when none runs. A stopped session has
    /// none.
    pub async fn editor_instance(
        &self,
        session_id: &str,
    ) -> Result<std::sync::Arc<crate::editor::Instance>> {
        let session = self.session(session_id).await?;
        refuse_stopped_editor(&session)?;
        self.editors()
            .ensure(session_id, &self.workspace(&session))
            .map_err(editor_error)
    }

    /// `Ok` when the session exists and may have an editor (it is not stopped).
    pub async fn editor_open(&self, session_id: &str) -> Result<()> {
        refuse_stopped_editor(&self.session(session_id).await?)
    }

    /// Someone works in the session's editor: its idle TTL starts again.
    pub async fn editor_in_use(&self, session_id: &str) {
        if let Err(error) = self.touch(session_id).await {
            tracing::debug!(session_id, %error, "could not renew the session for editor use");
        }
    }

    /// Records activity: the idle TTL starts again.
    pub(super) async fn touch(&self, session_id: &str) -> Result<()> {
        self.update_session(session_id, |s| {
            s.expires_at = crate::now_millis() / 1000 + i64::from(s.ttl_minutes) * 60;
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Sessions whose idle TTL ran out and that are not stopped yet.
    pub async fn expired_sessions(&self, now_secs: i64) -> Result<Vec<Session>> {
        Ok(self
            .store()
            .list_sessions()
            .await?
            .into_iter()
            .filter(|s| s.status != SessionStatus::Stopped && s.expires_at <= now_secs)
            .collect())
    }

    /// Number of sessions per status, for `/metrics`.
    pub async fn session_counts(&self) -> Result<Vec<(&'static str, usize)>> {
        let sessions = self.store().list_sessions().await?;
        let statuses = [
            SessionStatus::Created,
            SessionStatus::Starting,
            SessionStatus::Running,
            SessionStatus::Stopped,
            SessionStatus::Error,
        ];
        Ok(statuses
            .iter()
            .map(|status| {
                (
                    status.as_str(),
                    sessions.iter().filter(|s| s.status == *status).count(),
                )
            })
            .collect())
    }
}

fn refuse_stopped_editor(session: &Session) -> Result<()> {
    if session.status == SessionStatus::Stopped {
        return Err(ServiceError::conflict(
            "the session is stopped, and its editor with it; start the session again (POST /sessions/{id}/start) for a new editor link",
        ));
    }
    Ok(())
}

fn editor_error(error: crate::editor::EditorError) -> ServiceError {
    use crate::editor::EditorError;
    match error {
        EditorError::NotInstalled(_) | EditorError::NoHttpPort => {
            ServiceError::not_configured(error.to_string())
        }
        EditorError::Closed => ServiceError::conflict(error.to_string()),
        EditorError::Failed(_) | EditorError::Secret(_) => {
            ServiceError::internal(error.to_string())
        }
    }
}

fn checked_dir(path: &str) -> Result<String> {
    if path.is_empty() {
        return Err(ServiceError::invalid(
            "source.path",
            path,
            "source.path is empty",
        ));
    }
    let canonical = std::fs::canonicalize(path).map_err(|e| {
        ServiceError::invalid("source.path", path, format!("cannot open {path:?}: {e}"))
    })?;
    if !canonical.is_dir() {
        return Err(ServiceError::invalid(
            "source.path",
            path,
            format!("{path:?} is not a folder"),
        ));
    }
    canonical.to_str().map(str::to_string).ok_or_else(|| {
        ServiceError::invalid("source.path", path, "the folder's path is not valid UTF-8")
    })
}

fn default_name(source: &SessionSource, session_id: &str) -> String {
    match source {
        SessionSource::Dir { path } => Path::new(path)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("site")
            .to_string(),
        SessionSource::Git { url, .. } => url
            .trim_end_matches('/')
            .trim_end_matches(".git")
            .rsplit('/')
            .next()
            .unwrap_or("repository")
            .to_string(),
        SessionSource::Upload => format!("session {}", &session_id[..8]),
    }
}

fn dir_is_empty(path: &Path) -> bool {
    std::fs::read_dir(path)
        .map(|mut entries| entries.next().is_none())
        .unwrap_or(true)
}

impl Service {
    /// The sweeper's stop: STOPPED with reason `expired`, owned files removed.
    pub(crate) async fn expire(&self, session: &Session) -> Result<()> {
        self.stop(&session.session_id, "expired").await?;
        let work = self.work_lock(&session.session_id).await;
        let _work = work.lock().await;
        self.remove_owned_files(session);
        Ok(())
    }
}
