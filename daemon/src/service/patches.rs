//! Reading applied patches and rolling them back exactly, from their journal.

use devflow_protocol::{
    EventBody, Patch, PatchParams, PatchState, RollbackParams, RollbackResult, Session,
};
use devflow_store::JournalState;

use super::{Result, Service};
use crate::error::ServiceError;

impl Service {
    pub async fn get_patch(&self, params: PatchParams) -> Result<Patch> {
        self.session(&params.session_id).await?;
        self.store()
            .get_patch(&params.session_id, &params.patch_id)
            .await?
            .map(|record| record.patch)
            .ok_or_else(|| ServiceError::not_found("patchId", &params.patch_id, "patch"))
    }

    /// Rolls back `patchId` (default: the last applied) and every patch applied after it,
    /// newest first. Refuses, changing nothing, when a file was edited since the patch.
    pub async fn rollback(&self, params: RollbackParams) -> Result<RollbackResult> {
        let session = self.session(&params.session_id).await?;
        let work = self.work_lock(&session.session_id).await;
        let _work = work.lock().await; // not while a command is writing
        self.rollback_locked(&session, params.patch_id).await
    }

    /// [`Service::rollback`] for a caller that holds the session's work lock already: the
    /// pipeline, when its fidelity guard undoes the patch it just applied.
    pub(super) async fn rollback_locked(
        &self,
        session: &Session,
        patch_id: Option<String>,
    ) -> Result<RollbackResult> {
        let applied: Vec<_> = self
            .store()
            .list_patches(&session.session_id)
            .await?
            .into_iter()
            .filter(|r| r.journal_state == JournalState::Applied)
            .collect();
        let target = match patch_id {
            Some(id) => id,
            None => applied
                .last()
                .map(|r| r.patch.patch_id.clone())
                .ok_or_else(|| ServiceError::conflict("there is no applied patch to roll back"))?,
        };
        let Some(position) = applied.iter().position(|r| r.patch.patch_id == target) else {
            return match self.store().get_patch(&session.session_id, &target).await? {
                Some(_) => Err(ServiceError::conflict(format!(
                    "patch {target} is already rolled back"
                ))),
                None => Err(ServiceError::not_found("patchId", &target, "patch")),
            };
        };
        let workspace = self.workspace(session);
        let mut chain: Vec<_> = applied[position..].to_vec();
        chain.reverse();
        // Check every file of the whole chain first, so a refusal changes nothing.
        let mut expected: std::collections::BTreeMap<String, Option<Vec<u8>>> = Default::default();
        for record in &chain {
            for file in &record.files {
                expected
                    .entry(file.path.clone())
                    .or_insert_with(|| file.after.clone());
            }
        }
        for (path, after) in &expected {
            let current = match std::fs::read(workspace.join(path)) {
                Ok(bytes) => Some(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(ServiceError::internal(format!("cannot read {path}: {e}"))),
            };
            if &current != after {
                return Err(ServiceError {
                    field: Some("patchId".into()),
                    value: Some(target.clone().into()),
                    ..ServiceError::conflict(format!(
                        "{path} was changed after the patch was applied; rolling back would lose that change"
                    ))
                });
            }
        }
        let paths: Vec<String> = expected.keys().cloned().collect();
        self.inner
            .parts
            .preview
            .files_writing(&session.session_id, &paths)
            .await;
        let mut rolled_back = Vec::new();
        let mut files: Vec<String> = Vec::new();
        for mut record in chain {
            // On the blocking pool: restoring fsyncs every file and folder, which must not
            // hold up an async worker (other sessions' requests and events).
            let engine = self.inner.parts.patch_engine.clone();
            let (at, journal) = (workspace.clone(), record.files.clone());
            tokio::task::spawn_blocking(move || engine.restore(&at, &journal, false))
                .await
                .map_err(|e| ServiceError::internal(format!("the rollback stopped: {e}")))?
                .map_err(|e| {
                    ServiceError::internal(format!(
                        "rollback of {} failed: {e}",
                        record.patch.patch_id
                    ))
                })?;
            record.journal_state = JournalState::RolledBack;
            record.patch.state = PatchState::RolledBack;
            record.patch.rolled_back_at = Some(crate::now_millis());
            self.store().put_patch(&record).await?;
            self.commit_rollback(session, &record).await; // a rollback commit, if it was committed
            self.inner.metrics.rolled_back();
            let patch_files: Vec<String> = record.files.iter().map(|f| f.path.clone()).collect();
            tracing::info!(session_id = %session.session_id, patch_id = %record.patch.patch_id, "patch rolled back");
            self.publish(
                &session.session_id,
                Some(&record.patch.command_id),
                EventBody::RollbackCompleted {
                    patch_id: record.patch.patch_id.clone(),
                    files: patch_files.clone(),
                },
            )
            .await?;
            for file in patch_files {
                if !files.contains(&file) {
                    files.push(file);
                }
            }
            rolled_back.push(record.patch.patch_id);
        }
        let last_applied = applied[..position].last().map(|r| r.patch.patch_id.clone());
        let new_last = last_applied.clone();
        self.update_session(&session.session_id, |s| {
            s.last_applied_patch_id = new_last;
            Ok(())
        })
        .await?;
        if session.preview_url.is_some() {
            self.inner
                .parts
                .preview
                .files_changed(&session.session_id, &files)
                .await;
        }
        let css_only = files.iter().all(|f| f.ends_with(".css"));
        self.publish(
            &session.session_id,
            None,
            EventBody::PreviewUpdated {
                patch_id: None,
                files: files.clone(),
                css_only,
            },
        )
        .await?;
        self.prepare_baseline(&session.session_id);
        self.touch(&session.session_id).await?;
        Ok(RollbackResult {
            rolled_back,
            files,
            last_applied_patch_id: last_applied,
        })
    }
}
