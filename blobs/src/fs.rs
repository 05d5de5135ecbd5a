//! [`FsBlobStore`]: blobs as files under one root folder, `<root>/<bucket>/<key>`. Every
//! write goes to a temp file under `<root>/.partial/` and is renamed into place, so a reader
//! (or a crash) never sees half a blob. It hands out no URLs: whoever serves the files serves
//! them itself.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use crate::{BlobError, BlobInfo, BlobLocation, BlobStore};

/// Where temp files are written before their rename (on the root's file system). Bucket
/// names cannot start with `.`, so it never collides with one.
const PARTIAL_DIR: &str = ".partial";

/// Blobs in a local folder.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    pub fn new(root: impl Into<PathBuf>) -> FsBlobStore {
        FsBlobStore { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of a blob; refuses anything that could leave the root.
    pub fn path_of(&self, at: &BlobLocation) -> Result<PathBuf, BlobError> {
        let mut path = self.bucket_dir(&at.bucket)?;
        if at.key.is_empty() {
            return Err(BlobError::InvalidLocation(at.to_string()));
        }
        for segment in at.key.split('/') {
            if !plain_segment(segment) {
                return Err(BlobError::InvalidLocation(at.to_string()));
            }
            path.push(segment);
        }
        Ok(path)
    }

    fn bucket_dir(&self, bucket: &str) -> Result<PathBuf, BlobError> {
        if !plain_segment(bucket) || bucket.starts_with('.') {
            return Err(BlobError::InvalidLocation(format!("bucket {bucket:?}")));
        }
        Ok(self.root.join(bucket))
    }

    /// A fresh temp file path under the root.
    async fn partial_path(&self) -> Result<PathBuf, BlobError> {
        let dir = self.root.join(PARTIAL_DIR);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|source| io("create", &dir, source))?;
        Ok(dir.join(uuid::Uuid::new_v4().to_string()))
    }

    /// Renames a finished temp file into place (creating the blob's folders).
    async fn publish(&self, partial: &Path, target: &Path) -> Result<(), BlobError> {
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|source| io("create", parent, source))?;
        }
        if let Err(source) = tokio::fs::rename(partial, target).await {
            let _ = tokio::fs::remove_file(partial).await;
            return Err(io("store", target, source));
        }
        Ok(())
    }

    /// Removes the empty folders a delete left behind, up to the bucket's folder.
    async fn prune_empty_parents(&self, file: &Path, bucket_dir: &Path) {
        let mut dir = file.parent();
        while let Some(current) = dir {
            if current == bucket_dir || !current.starts_with(bucket_dir) {
                break;
            }
            // Fails (and stops) as soon as a folder still holds something.
            if tokio::fs::remove_dir(current).await.is_err() {
                break;
            }
            dir = current.parent();
        }
    }
}

/// A key segment or bucket name that names exactly one entry inside its folder.
fn plain_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && !segment.contains(['\\', '\0', '/'])
        && !segment.chars().any(char::is_control)
}

fn io(action: &'static str, path: &Path, source: std::io::Error) -> BlobError {
    BlobError::Io {
        action,
        what: path.display().to_string(),
        source,
    }
}

fn not_found_or(
    action: &'static str,
    at: &BlobLocation,
    path: &Path,
    source: std::io::Error,
) -> BlobError {
    if source.kind() == std::io::ErrorKind::NotFound {
        BlobError::NotFound {
            location: at.to_string(),
        }
    } else {
        io(action, path, source)
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put_bytes(
        &self,
        at: &BlobLocation,
        bytes: Bytes,
        _content_type: &str,
    ) -> Result<(), BlobError> {
        let target = self.path_of(at)?;
        let partial = self.partial_path().await?;
        let written = async {
            let mut file = tokio::fs::File::create(&partial).await?;
            file.write_all(&bytes).await?;
            file.sync_all().await
        }
        .await;
        if let Err(source) = written {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(io("write", &partial, source));
        }
        self.publish(&partial, &target).await
    }

    async fn put_file(
        &self,
        at: &BlobLocation,
        path: &Path,
        _content_type: &str,
    ) -> Result<u64, BlobError> {
        let target = self.path_of(at)?;
        let partial = self.partial_path().await?;
        let size = match tokio::fs::copy(path, &partial).await {
            Ok(size) => size,
            Err(source) => {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(io("read", path, source));
            }
        };
        self.publish(&partial, &target).await?;
        Ok(size)
    }

    async fn get_bytes(&self, at: &BlobLocation) -> Result<Bytes, BlobError> {
        let path = self.path_of(at)?;
        tokio::fs::read(&path)
            .await
            .map(Bytes::from)
            .map_err(|source| not_found_or("read", at, &path, source))
    }

    async fn get_to_file(&self, at: &BlobLocation, path: &Path) -> Result<u64, BlobError> {
        let source_path = self.path_of(at)?;
        let partial = partial_beside(path)?;
        match tokio::fs::copy(&source_path, &partial).await {
            Ok(size) => {
                if let Err(source) = tokio::fs::rename(&partial, path).await {
                    let _ = tokio::fs::remove_file(&partial).await;
                    return Err(io("write", path, source));
                }
                Ok(size)
            }
            Err(source) => {
                let _ = tokio::fs::remove_file(&partial).await;
                Err(not_found_or("read", at, &source_path, source))
            }
        }
    }

    async fn head(&self, at: &BlobLocation) -> Result<Option<BlobInfo>, BlobError> {
        let path = self.path_of(at)?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_file() => Ok(Some(BlobInfo {
                location: at.clone(),
                size: meta.len(),
            })),
            Ok(_) => Ok(None),
            Err(source) if source.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(io("read", &path, source)),
        }
    }

    async fn delete(&self, at: &BlobLocation) -> Result<(), BlobError> {
        let path = self.path_of(at)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {
                let bucket_dir = self.bucket_dir(&at.bucket)?;
                self.prune_empty_parents(&path, &bucket_dir).await;
                Ok(())
            }
            Err(source) if source.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(io("delete", &path, source)),
        }
    }

    async fn list(&self, prefix: &BlobLocation) -> Result<Vec<BlobInfo>, BlobError> {
        let bucket_dir = self.bucket_dir(&prefix.bucket)?;
        // Start at the deepest folder the prefix names whole; filter the rest by prefix.
        let (folder, _) = prefix.key.rsplit_once('/').unwrap_or(("", ""));
        let mut start = bucket_dir.clone();
        for segment in folder.split('/').filter(|s| !s.is_empty()) {
            if !plain_segment(segment) {
                return Err(BlobError::InvalidLocation(prefix.to_string()));
            }
            start.push(segment);
        }
        let mut found = Vec::new();
        let mut pending = vec![start];
        while let Some(dir) = pending.pop() {
            let mut entries = match tokio::fs::read_dir(&dir).await {
                Ok(entries) => entries,
                Err(source) if source.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(io("list", &dir, source)),
            };
            while let Some(entry) = entries
                .next_entry()
                .await
                .map_err(|source| io("list", &dir, source))?
            {
                let kind = entry
                    .file_type()
                    .await
                    .map_err(|source| io("list", &entry.path(), source))?;
                if kind.is_dir() {
                    pending.push(entry.path());
                    continue;
                }
                if !kind.is_file() {
                    continue; // links are not blobs
                }
                let path = entry.path();
                let Some(key) = path
                    .strip_prefix(&bucket_dir)
                    .ok()
                    .and_then(|relative| relative.to_str())
                    .map(|relative| relative.replace(std::path::MAIN_SEPARATOR, "/"))
                else {
                    continue;
                };
                if key.starts_with(&prefix.key) {
                    let size = entry
                        .metadata()
                        .await
                        .map_err(|source| io("list", &path, source))?
                        .len();
                    found.push(BlobInfo {
                        location: BlobLocation::new(prefix.bucket.clone(), key),
                        size,
                    });
                }
            }
        }
        found.sort_by(|a, b| a.location.key.cmp(&b.location.key));
        Ok(found)
    }

    async fn presign_get(&self, at: &BlobLocation, _: Duration) -> Result<String, BlobError> {
        Err(BlobError::Unsupported(format!(
            "the file-system blob store makes no URLs ({at} is served by the daemon itself)"
        )))
    }

    async fn presign_put(&self, at: &BlobLocation, _: Duration) -> Result<String, BlobError> {
        Err(BlobError::Unsupported(format!(
            "the file-system blob store makes no URLs ({at} is uploaded through the daemon)"
        )))
    }

    async fn check_bucket(&self, bucket: &str) -> Result<(), BlobError> {
        // Folders are made on first write; only the name has to be usable.
        self.bucket_dir(bucket).map(|_| ())
    }
}

/// A temp path in the destination's own folder, so the final rename stays on one file system.
fn partial_beside(path: &Path) -> Result<PathBuf, BlobError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| BlobError::InvalidLocation(path.display().to_string()))?;
    Ok(path.with_file_name(format!(".{name}.partial-{}", uuid::Uuid::new_v4())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, FsBlobStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::new(dir.path().join("blobs"));
        (dir, store)
    }

    #[tokio::test]
    async fn a_blob_reads_back_as_written_and_is_gone_after_delete() {
        let (_dir, store) = store();
        let at = BlobLocation::new("session-artifacts", "s1/patches/p1.diff");
        assert!(!store.exists(&at).await.unwrap());
        store
            .put_bytes(&at, Bytes::from_static(b"--- a\n+++ b\n"), "text/x-diff")
            .await
            .unwrap();
        assert_eq!(&store.get_bytes(&at).await.unwrap()[..], b"--- a\n+++ b\n");
        assert_eq!(store.head(&at).await.unwrap().unwrap().size, 12);
        store.delete(&at).await.unwrap();
        assert!(store.get_bytes(&at).await.unwrap_err().is_not_found());
        store.delete(&at).await.unwrap();
        assert!(
            !store.root().join("session-artifacts/s1").exists(),
            "empty folders are pruned"
        );
        assert_eq!(
            std::fs::read_dir(store.root().join(PARTIAL_DIR))
                .unwrap()
                .count(),
            0,
            "no temp file is left"
        );
    }

    #[tokio::test]
    async fn files_go_in_and_out_whole() {
        let (dir, store) = store();
        let source = dir.path().join("site.zip");
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&source, &bytes).unwrap();
        let at = BlobLocation::new("uploads", "s1.zip");
        assert_eq!(
            store
                .put_file(&at, &source, "application/zip")
                .await
                .unwrap(),
            200_000
        );
        let copy = dir.path().join("copy.zip");
        assert_eq!(store.get_to_file(&at, &copy).await.unwrap(), 200_000);
        assert_eq!(std::fs::read(&copy).unwrap(), bytes);
        let missing = dir.path().join("missing.zip");
        let error = store
            .get_to_file(&BlobLocation::new("uploads", "nope.zip"), &missing)
            .await
            .unwrap_err();
        assert!(error.is_not_found(), "{error}");
        assert!(!missing.exists());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 3, "{leftovers:?}");
    }

    #[tokio::test]
    async fn listing_by_prefix_finds_only_that_prefix_in_key_order() {
        let (_dir, store) = store();
        for key in [
            "s1/patches/b.diff",
            "s1/patches/a.diff",
            "s1/logs/session.log",
            "s10/x",
            "s2/y",
        ] {
            store
                .put_bytes(&BlobLocation::new("art", key), Bytes::from_static(b"x"), "")
                .await
                .unwrap();
        }
        let keys =
            |list: Vec<BlobInfo>| list.into_iter().map(|b| b.location.key).collect::<Vec<_>>();
        assert_eq!(
            keys(store.list(&BlobLocation::new("art", "s1/")).await.unwrap()),
            [
                "s1/logs/session.log",
                "s1/patches/a.diff",
                "s1/patches/b.diff"
            ]
        );
        assert_eq!(
            keys(store.list(&BlobLocation::new("art", "s1")).await.unwrap()),
            [
                "s1/logs/session.log",
                "s1/patches/a.diff",
                "s1/patches/b.diff",
                "s10/x"
            ]
        );
        assert!(store
            .list(&BlobLocation::new("other", ""))
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            store
                .delete_prefix(&BlobLocation::new("art", "s1/"))
                .await
                .unwrap(),
            3
        );
        assert_eq!(
            keys(store.list(&BlobLocation::new("art", "")).await.unwrap()),
            ["s10/x", "s2/y"]
        );
    }

    #[tokio::test]
    async fn locations_that_could_leave_the_root_are_refused() {
        let (_dir, store) = store();
        for (bucket, key) in [
            ("uploads", "../escape"),
            ("uploads", "a//b"),
            ("uploads", "a\\b"),
            ("uploads", ""),
            ("..", "x"),
            (".partial", "x"),
            ("", "x"),
        ] {
            let error = store
                .put_bytes(&BlobLocation::new(bucket, key), Bytes::new(), "")
                .await
                .unwrap_err();
            assert!(
                matches!(error, BlobError::InvalidLocation(_)),
                "{bucket}/{key}: {error}"
            );
        }
        assert!(!store.root().parent().unwrap().join("escape").exists());
    }

    #[tokio::test]
    async fn it_makes_no_urls() {
        let (_dir, store) = store();
        let at = BlobLocation::new("uploads", "s.zip");
        let error = store
            .presign_put(&at, Duration::from_secs(60))
            .await
            .unwrap_err();
        assert!(matches!(error, BlobError::Unsupported(_)), "{error}");
    }
}
