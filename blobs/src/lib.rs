//! Blob storage for uploaded site zips and session artifacts (patch diffs, snapshots, logs)
//! behind one async trait, [`BlobStore`]: [`FsBlobStore`] keeps them under a local folder
//! (the default, in the daemon's state dir), [`S3BlobStore`] in S3 or an S3-compatible store.
//! [`KeyLayout`] is the one place that says where each blob goes.
//!
//! Invariant: a reader never sees half a blob — a put is either complete or absent.

mod error;
mod fs;
mod layout;
mod s3;

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;

pub use bytes::Bytes;
pub use error::BlobError;
pub use fs::FsBlobStore;
pub use layout::{KeyLayout, Place};
pub use s3::{S3BlobStore, S3Options, DEFAULT_PART_SIZE};

/// Where one blob lives: a bucket (a folder for [`FsBlobStore`]) and a `/`-separated key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobLocation {
    pub bucket: String,
    pub key: String,
}

impl BlobLocation {
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> BlobLocation {
        BlobLocation {
            bucket: bucket.into(),
            key: key.into(),
        }
    }
}

impl std::fmt::Display for BlobLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// A stored blob as a listing or `head` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub location: BlobLocation,
    pub size: u64,
}

/// Puts, gets, lists and deletes blobs, and hands out time-limited URLs to them.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` at `at`, replacing what was there.
    async fn put_bytes(
        &self,
        at: &BlobLocation,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<(), BlobError>;

    /// Stores the file at `path` without reading it into memory (multipart in S3 when it is
    /// large). Returns its size.
    async fn put_file(
        &self,
        at: &BlobLocation,
        path: &Path,
        content_type: &str,
    ) -> Result<u64, BlobError>;

    /// The whole blob. [`BlobError::NotFound`] when there is none.
    async fn get_bytes(&self, at: &BlobLocation) -> Result<Bytes, BlobError>;

    /// Streams the blob into `path` (written beside it, then renamed into place, so `path`
    /// is either complete or untouched). Returns its size.
    async fn get_to_file(&self, at: &BlobLocation, path: &Path) -> Result<u64, BlobError>;

    /// The blob's size, or `None` when there is none.
    async fn head(&self, at: &BlobLocation) -> Result<Option<BlobInfo>, BlobError>;

    async fn exists(&self, at: &BlobLocation) -> Result<bool, BlobError> {
        Ok(self.head(at).await?.is_some())
    }

    /// Removes the blob; removing one that is not there is not an error.
    async fn delete(&self, at: &BlobLocation) -> Result<(), BlobError>;

    /// Every blob of `prefix.bucket` whose key starts with `prefix.key`, in key order.
    async fn list(&self, prefix: &BlobLocation) -> Result<Vec<BlobInfo>, BlobError>;

    /// A URL that reads the blob with a plain `GET` until `ttl` has passed.
    async fn presign_get(&self, at: &BlobLocation, ttl: Duration) -> Result<String, BlobError>;

    /// A URL that stores a blob with a plain `PUT` of its bytes until `ttl` has passed.
    async fn presign_put(&self, at: &BlobLocation, ttl: Duration) -> Result<String, BlobError>;

    /// Checks that `bucket` exists and can be reached with these credentials.
    async fn check_bucket(&self, bucket: &str) -> Result<(), BlobError>;

    /// Removes every blob under `prefix`; returns how many were removed.
    async fn delete_prefix(&self, prefix: &BlobLocation) -> Result<usize, BlobError> {
        let blobs = self.list(prefix).await?;
        for blob in &blobs {
            self.delete(&blob.location).await?;
        }
        Ok(blobs.len())
    }
}
