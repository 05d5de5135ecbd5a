//! Session artifacts over a [`BlobStore`]: where a session's uploaded zip is fetched from and
//! what it leaves behind (the workspace as it started, each applied patch's diff, a copy of
//! its log): with the start snapshot and the diffs, the site can be rebuilt anywhere. With
//! `blobs = "fs"`
//! the store is a folder in the state dir and the daemon's own routes serve uploads and logs
//! as before; with `blobs = "s3"` clients upload straight to S3 through a presigned PUT and
//! `logsUrl` is a presigned GET of the log's copy.
//!
//! Invariant: an artifact is a copy. Failing to store one never changes a patch or a
//! session; the caller logs it and tells the user.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use devflow_blobs::{
    BlobError, BlobLocation, BlobStore, Bytes, FsBlobStore, KeyLayout, Place, S3BlobStore,
    S3Options,
};

use crate::config::{BlobsKind, Config};

/// Folders a snapshot leaves out: installed dependencies, git data and build output.
const NOT_SNAPSHOTTED: &[&str] = &["node_modules", ".git", "dist", "build", ".next", ".cache"];

/// Writes every file under `workspace` (but [`NOT_SNAPSHOTTED`] folders and links) into a
/// new zip at `zip_path`; the number of files.
fn zip_workspace(workspace: &Path, zip_path: &Path) -> std::io::Result<usize> {
    use std::io::Write as _;
    let mut writer = zip::ZipWriter::new(std::fs::File::create(zip_path)?);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o644);
    let mut stack = vec![workspace.to_path_buf()];
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let kind = entry.file_type()?;
            let name = entry.file_name();
            if kind.is_dir() {
                if !NOT_SNAPSHOTTED.iter().any(|skip| name == *skip) {
                    stack.push(path);
                }
                continue;
            }
            if !kind.is_file() {
                continue; // links stay out: a snapshot never reaches outside the workspace
            }
            let relative = path
                .strip_prefix(workspace)
                .map_err(std::io::Error::other)?
                .to_string_lossy()
                .replace('\\', "/");
            writer
                .start_file(relative, options)
                .map_err(std::io::Error::other)?;
            writer.write_all(&std::fs::read(&path)?)?;
            files += 1;
        }
    }
    writer.finish().map_err(std::io::Error::other)?;
    Ok(files)
}

/// The largest site zip fetched from the blob store: the daemon's own upload route's limit.
pub const MAX_UPLOAD_BYTES: u64 = 512 * 1024 * 1024;

/// A session's blobs: the store, where each blob goes, and how URLs to them are made.
pub struct SessionArtifacts {
    blobs: Arc<dyn BlobStore>,
    layout: KeyLayout,
    /// Uploads and logs go through the store's own (presigned) URLs instead of the daemon's
    /// routes.
    presigned: Option<Duration>,
    /// How many bytes of each session's log were copied last, so that an unchanged log is
    /// not sent again on every read of the session.
    log_copied: Mutex<HashMap<String, u64>>,
}

impl SessionArtifacts {
    /// The local default: `<state dir>/blobs/<uploads|session-artifacts>/…`.
    pub fn local(state_dir: &Path) -> SessionArtifacts {
        SessionArtifacts::new(
            Arc::new(FsBlobStore::new(state_dir.join("blobs"))),
            KeyLayout::seed_buckets(),
            None,
        )
    }

    /// A store handing out presigned URLs valid for `presign_ttl` when `Some`.
    pub fn new(
        blobs: Arc<dyn BlobStore>,
        layout: KeyLayout,
        presign_ttl: Option<Duration>,
    ) -> SessionArtifacts {
        SessionArtifacts {
            blobs,
            layout,
            presigned: presign_ttl,
            log_copied: Mutex::new(HashMap::new()),
        }
    }

    /// What the configuration asks for. With S3, every bucket is checked before the daemon
    /// takes a request, so a missing bucket or a missing permission stops the start with
    /// the bucket's name instead of failing the first upload.
    pub async fn from_config(config: &Config) -> anyhow::Result<SessionArtifacts> {
        if config.blobs == BlobsKind::Fs {
            return Ok(SessionArtifacts::local(&config.state_dir));
        }
        let place = |location: Option<crate::config::S3Location>, what: &str| {
            location
                .map(|l| Place::new(l.bucket, &l.prefix))
                .with_context(|| {
                    format!("blobs is \"s3\" but no bucket for {what} is configured: set s3Bucket (DEVFLOW_S3_BUCKET)")
                })
        };
        let layout = KeyLayout::new(
            place(config.s3.uploads(), "uploads")?,
            place(config.s3.artifacts(), "session artifacts")?,
        );
        let store = S3BlobStore::connect(S3Options {
            endpoint: config.s3.endpoint.clone(),
            force_path_style: config.s3.force_path_style,
            ..S3Options::default()
        })
        .await;
        for bucket in layout.buckets() {
            store.check_bucket(bucket).await?;
        }
        tracing::info!(
            uploads = %layout.upload("<sessionId>"),
            artifacts = %layout.session_artifacts("<sessionId>"),
            "blobs in S3"
        );
        Ok(SessionArtifacts::new(
            Arc::new(store),
            layout,
            Some(config.s3.presign_ttl),
        ))
    }

    /// Whether clients upload and read logs through the store's URLs.
    pub fn presigns(&self) -> bool {
        self.presigned.is_some()
    }

    pub fn layout(&self) -> &KeyLayout {
        &self.layout
    }

    /// Where a session's site zip is uploaded.
    pub fn upload_location(&self, session_id: &str) -> BlobLocation {
        self.layout.upload(session_id)
    }

    /// A presigned `PUT` URL for the session's site zip; `None` when the daemon takes
    /// uploads itself.
    pub async fn upload_url(&self, session_id: &str) -> Result<Option<String>, BlobError> {
        match self.presigned {
            Some(ttl) => self
                .blobs
                .presign_put(&self.upload_location(session_id), ttl)
                .await
                .map(Some),
            None => Ok(None),
        }
    }

    /// The size of the session's uploaded zip, `None` when nothing was uploaded.
    pub async fn upload_size(&self, session_id: &str) -> Result<Option<u64>, BlobError> {
        let at = self.upload_location(session_id);
        match self.blobs.head(&at).await? {
            Some(blob) => Ok(Some(blob.size)),
            // A HEAD answers 404 for a missing bucket too: say which it was.
            None => self.blobs.check_bucket(&at.bucket).await.map(|()| None),
        }
    }

    /// Streams the session's uploaded zip into `into`.
    pub async fn fetch_upload(&self, session_id: &str, into: &Path) -> Result<u64, BlobError> {
        self.blobs
            .get_to_file(&self.upload_location(session_id), into)
            .await
    }

    /// Streams one of the session's snapshots (`start.zip`) into `into`.
    pub async fn fetch_snapshot(
        &self,
        session_id: &str,
        name: &str,
        into: &Path,
    ) -> Result<u64, BlobError> {
        self.blobs
            .get_to_file(&self.layout.snapshot(session_id, name), into)
            .await
    }

    /// Stores an applied patch's unified diff.
    pub async fn store_patch_diff(
        &self,
        session_id: &str,
        patch_id: &str,
        unified_diff: &str,
    ) -> Result<BlobLocation, BlobError> {
        let at = self.layout.patch_diff(session_id, patch_id);
        self.blobs
            .put_bytes(
                &at,
                Bytes::copy_from_slice(unified_diff.as_bytes()),
                "text/x-diff; charset=utf-8",
            )
            .await?;
        Ok(at)
    }

    /// Stores one picture of a command (a screenshot or a difference image, PNG).
    pub async fn store_picture(
        &self,
        session_id: &str,
        command_id: &str,
        name: &str,
        png: Bytes,
    ) -> Result<BlobLocation, BlobError> {
        let at = self.layout.screenshot(session_id, command_id, name);
        self.blobs.put_bytes(&at, png, "image/png").await?;
        Ok(at)
    }

    /// One picture of a command, as stored by [`SessionArtifacts::store_picture`].
    pub async fn picture(
        &self,
        session_id: &str,
        command_id: &str,
        name: &str,
    ) -> Result<Bytes, BlobError> {
        self.blobs
            .get_bytes(&self.layout.screenshot(session_id, command_id, name))
            .await
    }

    /// Stores the workspace as a zip under the session's snapshots (`name`, e.g.
    /// `start.zip`): every file but dependencies, git data and build output, which a
    /// rebuild installs or makes again. Returns the location and how many files went in.
    pub async fn store_snapshot(
        &self,
        session_id: &str,
        name: &str,
        workspace: &Path,
        scratch_dir: &Path,
    ) -> Result<(BlobLocation, usize), BlobError> {
        let io = |action: &'static str, what: &Path| {
            let what = what.display().to_string();
            move |source| BlobError::Io {
                action,
                what,
                source,
            }
        };
        tokio::fs::create_dir_all(scratch_dir)
            .await
            .map_err(io("create", scratch_dir))?;
        let zip_path = scratch_dir.join(format!("snapshot-{session_id}-{name}"));
        let (workspace_owned, zip_owned) = (workspace.to_path_buf(), zip_path.clone());
        let files =
            tokio::task::spawn_blocking(move || zip_workspace(&workspace_owned, &zip_owned))
                .await
                .map_err(|e| BlobError::Io {
                    action: "zip",
                    what: workspace.display().to_string(),
                    source: std::io::Error::other(e.to_string()),
                })?
                .map_err(io("zip", workspace));
        let stored = match files {
            Ok(files) => {
                let at = self.layout.snapshot(session_id, name);
                self.blobs
                    .put_file(&at, &zip_path, "application/zip")
                    .await
                    .map(|_| (at, files))
            }
            Err(error) => Err(error),
        };
        let _ = tokio::fs::remove_file(&zip_path).await;
        stored
    }

    /// Copies the session's log file to the store when it grew since the last copy. Only
    /// for a store with URLs: locally the log file itself is what `logsUrl` serves.
    pub async fn copy_log(&self, session_id: &str, log_file: &Path) -> Result<(), BlobError> {
        if !self.presigns() {
            return Ok(());
        }
        let bytes = match tokio::fs::read(log_file).await {
            Ok(bytes) => bytes,
            // Nothing logged yet: an empty copy, so the URL answers.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => {
                return Err(BlobError::Io {
                    action: "read",
                    what: log_file.display().to_string(),
                    source,
                })
            }
        };
        let length = bytes.len() as u64;
        let unchanged = self
            .log_copied
            .lock()
            .map(|copied| copied.get(session_id) == Some(&length))
            .unwrap_or(false);
        if unchanged {
            return Ok(());
        }
        self.blobs
            .put_bytes(
                &self.layout.session_log(session_id),
                Bytes::from(bytes),
                "text/plain; charset=utf-8",
            )
            .await?;
        if let Ok(mut copied) = self.log_copied.lock() {
            copied.insert(session_id.to_string(), length);
        }
        Ok(())
    }

    /// A presigned `GET` of the log's copy; `None` when the daemon serves the log itself.
    pub async fn logs_url(&self, session_id: &str) -> Result<Option<String>, BlobError> {
        match self.presigned {
            Some(ttl) => self
                .blobs
                .presign_get(&self.layout.session_log(session_id), ttl)
                .await
                .map(Some),
            None => Ok(None),
        }
    }

    /// Removes the session's upload and every artifact (on `session/delete`).
    pub async fn remove_session(&self, session_id: &str) -> Result<usize, BlobError> {
        self.blobs.delete(&self.upload_location(session_id)).await?;
        let removed = self
            .blobs
            .delete_prefix(&self.layout.session_artifacts(session_id))
            .await?;
        if let Ok(mut copied) = self.log_copied.lock() {
            copied.remove(session_id);
        }
        Ok(removed)
    }

    /// A temp path for a download, in the state dir's spill folder (beside the workspaces,
    /// on the same file system).
    pub fn download_path(state_dir: &Path) -> PathBuf {
        state_dir
            .join("uploads")
            .join(format!("{}.zip", uuid::Uuid::new_v4()))
    }
}

/// The blob error as the API's: a store that is missing, refused or unreachable is this
/// daemon's configuration (NOT_CONFIGURED, naming the bucket and the fix), not the client's.
pub fn service_error(error: BlobError) -> crate::error::ServiceError {
    use crate::error::ServiceError;
    match error {
        BlobError::BucketMissing { .. }
        | BlobError::AccessDenied { .. }
        | BlobError::CredentialsRefused { .. }
        | BlobError::NoCredentials { .. }
        | BlobError::Unsupported(_) => ServiceError::not_configured(error.to_string()),
        other => ServiceError::internal(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: &str = "0b5c1a7e-1111-4222-8333-944445555666";

    #[tokio::test]
    async fn locally_diffs_are_kept_and_removed_with_the_session_and_no_urls_are_made() {
        let state = tempfile::tempdir().unwrap();
        let artifacts = SessionArtifacts::local(state.path());
        assert!(!artifacts.presigns());
        assert_eq!(artifacts.upload_url(SESSION).await.unwrap(), None);
        assert_eq!(artifacts.logs_url(SESSION).await.unwrap(), None);
        let at = artifacts
            .store_patch_diff(SESSION, "p1", "--- a/x\n+++ b/x\n")
            .await
            .unwrap();
        let file = state
            .path()
            .join(format!("blobs/session-artifacts/{SESSION}/patches/p1.diff"));
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "--- a/x\n+++ b/x\n"
        );
        assert_eq!(at.key, format!("{SESSION}/patches/p1.diff"));
        // The log is served from its own file locally: nothing is copied.
        artifacts
            .copy_log(SESSION, &state.path().join("logs/none.log"))
            .await
            .unwrap();
        assert!(!state
            .path()
            .join(format!("blobs/session-artifacts/{SESSION}/logs"))
            .exists());
        assert_eq!(artifacts.remove_session(SESSION).await.unwrap(), 1);
        assert!(!file.exists());
    }
}
