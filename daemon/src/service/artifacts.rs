//! The facade's side of session artifacts ([`crate::artifacts`]): the `uploadUrl` a new
//! session gets, fetching and ingesting an upload from the blob store on `session/start`,
//! storing each applied patch's diff and a copy of the log, `logsUrl`, and removing it all
//! with the session. An artifact that cannot be stored is a warning (in the log and as a LOG
//! event), never a failed or half-applied patch.

use std::path::Path;

use devflow_protocol::{Command, EventBody, Patch, Session, SessionSource, UploadParams};

use super::{Result, Service};
use crate::artifacts::{service_error, SessionArtifacts, MAX_UPLOAD_BYTES};
use crate::error::ServiceError;

/// Removes a downloaded upload when ingest is done with it, however it ended.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Service {
    /// The `uploadUrl` of a new session: a presigned PUT into the uploads place when the
    /// blob store makes URLs, else the daemon's own upload route. `None` for a folder.
    pub(super) async fn upload_url_for(
        &self,
        source: &SessionSource,
        session_id: &str,
    ) -> Result<Option<String>> {
        if !matches!(source, SessionSource::Upload) {
            return Ok(None);
        }
        match self
            .inner
            .artifacts
            .upload_url(session_id)
            .await
            .map_err(service_error)?
        {
            Some(url) => Ok(Some(url)),
            None => Ok(Some(format!(
                "{}/sessions/{session_id}/upload",
                self.config().public_base_url
            ))),
        }
    }

    /// On `session/start` of an upload session whose zip went to the blob store: streams it
    /// into a temp file and ingests it like a `PUT <uploadUrl>` to the daemon (a refused zip
    /// writes nothing). Does nothing when the daemon takes uploads itself or the workspace
    /// is already filled.
    pub(super) async fn ingest_stored_upload(&self, session: &Session) -> Result<()> {
        let artifacts = &self.inner.artifacts;
        if !artifacts.presigns()
            || !matches!(session.source, SessionSource::Upload)
            || !workspace_is_empty(&self.workspace(session))
        {
            return Ok(());
        }
        let session_id = session.session_id.as_str();
        let location = artifacts.upload_location(session_id);
        let nothing_uploaded = || {
            ServiceError::conflict(format!(
                "nothing uploaded to {location} yet: PUT the site zip to the session's uploadUrl first"
            ))
        };
        // Sized before it is fetched: a huge object is refused without filling the disk.
        match artifacts
            .upload_size(session_id)
            .await
            .map_err(service_error)?
        {
            None => return Err(nothing_uploaded()),
            Some(size) if size > MAX_UPLOAD_BYTES => {
                return Err(ServiceError {
                    field: Some("zip".into()),
                    value: Some(size.into()),
                    ..ServiceError::new(
                        devflow_protocol::ErrorCode::PayloadTooLarge,
                        format!(
                            "the zip at {location} is {size} bytes; uploads are limited to {MAX_UPLOAD_BYTES}"
                        ),
                    )
                })
            }
            Some(_) => {}
        }
        let download = SessionArtifacts::download_path(&self.config().state_dir);
        if let Some(dir) = download.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                ServiceError::internal(format!("cannot make room for the download: {e}"))
            })?;
        }
        let _remove = RemoveOnDrop(download.clone());
        match artifacts.fetch_upload(session_id, &download).await {
            Ok(bytes) => tracing::info!(session_id, %location, bytes, "upload fetched"),
            Err(error) if error.is_not_found() => return Err(nothing_uploaded()),
            Err(error) => {
                tracing::warn!(session_id, %location, %error, "could not fetch the upload");
                return Err(service_error(error));
            }
        }
        let ingested = self
            .upload(UploadParams {
                session_id: session_id.to_string(),
                zip_path: download.to_string_lossy().into_owned(),
            })
            .await;
        match &ingested {
            Ok(result) => {
                tracing::info!(
                    session_id,
                    files = result.files,
                    bytes = result.bytes,
                    "upload ingested"
                )
            }
            Err(error) => {
                tracing::warn!(session_id, %location, %error, "the uploaded zip was refused")
            }
        }
        ingested.map(|_| ())
    }

    /// When a session starts with a blob store that makes URLs (S3): the workspace as it
    /// is, as `snapshots/start.zip`, in the background. With it and the patch diffs the
    /// site can be rebuilt by another daemon. A failure is a warning, as for every artifact.
    pub(super) fn store_start_snapshot(&self, session: &Session) {
        if !self.inner.artifacts.presigns() {
            return;
        }
        let service = self.clone();
        let session_id = session.session_id.clone();
        let workspace = self.workspace(session);
        tokio::spawn(async move {
            let scratch = service.config().state_dir.join("tmp");
            match service
                .inner
                .artifacts
                .store_snapshot(&session_id, "start.zip", &workspace, &scratch)
                .await
            {
                Ok((at, files)) => {
                    tracing::info!(session_id, %at, files, "start snapshot stored")
                }
                Err(error) => {
                    tracing::warn!(session_id, %error, "could not store the start snapshot");
                    let warning = EventBody::Log {
                        level: "warn".into(),
                        message: format!(
                            "the session's start snapshot could not be stored as a session artifact: {error}"
                        ),
                    };
                    if let Err(error) = service.publish(&session_id, None, warning).await {
                        tracing::warn!(session_id, %error, "could not publish the warning");
                    }
                }
            }
        });
    }

    /// Fleet mode: the start snapshot written before the session runs (a takeover
    /// rebuilds from it), its failure refusing the start.
    pub(super) async fn store_start_snapshot_now(&self, session: &Session) -> Result<()> {
        let scratch = self.config().state_dir.join("tmp");
        let (at, files) = self
            .inner
            .artifacts
            .store_snapshot(
                &session.session_id,
                "start.zip",
                &self.workspace(session),
                &scratch,
            )
            .await
            .map_err(|e| {
                ServiceError::internal(format!(
                    "the session's start snapshot could not be stored, so no other daemon \
                     could take it over: {e}"
                ))
            })?;
        tracing::info!(session_id = %session.session_id, %at, files, "start snapshot stored");
        Ok(())
    }

    /// After a patch is applied: its diff (and the log so far) as session artifacts.
    pub(super) async fn store_patch_artifacts(&self, command: &Command, patch: &Patch) {
        let (session_id, command_id) = (&command.session_id, &command.command_id);
        let patch_id = &patch.patch_id;
        let artifacts = &self.inner.artifacts;
        match artifacts
            .store_patch_diff(session_id, patch_id, &patch.unified_diff)
            .await
        {
            Ok(at) => tracing::debug!(session_id, patch_id, %at, "patch diff stored"),
            Err(error) => {
                tracing::warn!(session_id, patch_id, %error, "could not store the patch's diff as a session artifact");
                let warning = EventBody::Log {
                    level: "warn".into(),
                    message: format!(
                        "patch {patch_id} is applied, but its diff could not be stored as a session artifact: {error}"
                    ),
                };
                if let Err(error) = self.publish(session_id, Some(command_id), warning).await {
                    tracing::warn!(session_id, %error, "could not publish the warning");
                }
            }
        }
        self.copy_log(session_id).await;
    }

    /// Copies the session's log to the blob store (when it makes URLs and the log grew).
    async fn copy_log(&self, session_id: &str) {
        let log = self.config().logs_dir().join(format!("{session_id}.log"));
        if let Err(error) = self.inner.artifacts.copy_log(session_id, &log).await {
            tracing::warn!(session_id, %error, "could not copy the session log to the blob store");
        }
    }

    /// `logsUrl` as of now: a fresh presigned GET of a fresh copy of the log when the blob
    /// store makes URLs (they expire, so every read of the session gets a new one), else the
    /// daemon's own logs route.
    pub(super) async fn current_logs_url(&self, session_id: &str) -> String {
        if self.inner.artifacts.presigns() {
            self.copy_log(session_id).await;
            match self.inner.artifacts.logs_url(session_id).await {
                Ok(Some(url)) => return url,
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(session_id, %error, "could not presign the log's URL; handing out the daemon's")
                }
            }
        }
        self.logs_url(session_id)
    }

    /// On `session/delete`: the session's upload and artifacts go too.
    pub(super) async fn remove_artifacts(&self, session_id: &str) {
        match self.inner.artifacts.remove_session(session_id).await {
            Ok(removed) => tracing::debug!(session_id, removed, "session artifacts removed"),
            Err(error) => {
                tracing::warn!(session_id, %error, "could not remove the session's artifacts")
            }
        }
    }
}

fn workspace_is_empty(path: &Path) -> bool {
    std::fs::read_dir(path)
        .map(|mut entries| entries.next().is_none())
        .unwrap_or(true)
}
