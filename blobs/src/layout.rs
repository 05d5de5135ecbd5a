//! Where each blob goes, in one place and without IO. Seed 000 names two buckets, `uploads`
//! (site zips) and `session-artifacts` (what a session produced); a deployment may use them
//! as two buckets or as two folders of one bucket — [`Place`] is a bucket plus a key prefix,
//! and the configuration decides which.
//!
//! - `<uploads>/<sessionId>.zip`
//! - `<artifacts>/<sessionId>/patches/<patchId>.diff`
//! - `<artifacts>/<sessionId>/snapshots/<name>`
//! - `<artifacts>/<sessionId>/logs/session.log`
//! - `<artifacts>/<sessionId>/screenshots/<commandId>/<name>` (before/after/diff PNGs)

use crate::BlobLocation;

/// A bucket and the prefix of every key devflow writes in it (empty, or ending in `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub bucket: String,
    pub prefix: String,
}

impl Place {
    /// A prefix is normalised to no leading `/` and exactly one trailing `/` (or empty).
    pub fn new(bucket: impl Into<String>, prefix: &str) -> Place {
        let trimmed = prefix.trim_matches('/');
        Place {
            bucket: bucket.into(),
            prefix: if trimmed.is_empty() {
                String::new()
            } else {
                format!("{trimmed}/")
            },
        }
    }

    fn at(&self, key: &str) -> BlobLocation {
        BlobLocation::new(self.bucket.clone(), format!("{}{key}", self.prefix))
    }
}

/// The keys of uploads and session artifacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLayout {
    pub uploads: Place,
    pub artifacts: Place,
}

impl KeyLayout {
    pub fn new(uploads: Place, artifacts: Place) -> KeyLayout {
        KeyLayout { uploads, artifacts }
    }

    /// Seed 000's names as two buckets (folders, for the file-system store).
    pub fn seed_buckets() -> KeyLayout {
        KeyLayout::new(
            Place::new("uploads", ""),
            Place::new("session-artifacts", ""),
        )
    }

    /// The site zip a client uploads for a session.
    pub fn upload(&self, session_id: &str) -> BlobLocation {
        self.uploads.at(&format!("{session_id}.zip"))
    }

    /// Every artifact of a session (a prefix, ending in `/`).
    pub fn session_artifacts(&self, session_id: &str) -> BlobLocation {
        self.artifacts.at(&format!("{session_id}/"))
    }

    /// The unified diff of an applied patch.
    pub fn patch_diff(&self, session_id: &str, patch_id: &str) -> BlobLocation {
        self.artifacts
            .at(&format!("{session_id}/patches/{patch_id}.diff"))
    }

    /// A snapshot of the workspace (e.g. `initial.zip`).
    pub fn snapshot(&self, session_id: &str, name: &str) -> BlobLocation {
        self.artifacts.at(&format!("{session_id}/snapshots/{name}"))
    }

    /// One picture of a command: a screenshot before or after its patch, or their
    /// difference (`desktop-after-1.png`).
    pub fn screenshot(&self, session_id: &str, command_id: &str, name: &str) -> BlobLocation {
        self.artifacts
            .at(&format!("{session_id}/screenshots/{command_id}/{name}"))
    }

    /// The session's log as of its last copy.
    pub fn session_log(&self, session_id: &str) -> BlobLocation {
        self.artifacts.at(&format!("{session_id}/logs/session.log"))
    }

    /// The buckets in use, each once.
    pub fn buckets(&self) -> Vec<&str> {
        let mut buckets = vec![self.uploads.bucket.as_str()];
        if self.artifacts.bucket != self.uploads.bucket {
            buckets.push(self.artifacts.bucket.as_str());
        }
        buckets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: &str = "0b5c1a7e-1111-4222-8333-944445555666";

    #[test]
    fn two_buckets_hold_the_seed_layout() {
        let layout = KeyLayout::seed_buckets();
        assert_eq!(
            layout.upload(SESSION).to_string(),
            format!("s3://uploads/{SESSION}.zip")
        );
        assert_eq!(
            layout.patch_diff(SESSION, "p1").to_string(),
            format!("s3://session-artifacts/{SESSION}/patches/p1.diff")
        );
        assert_eq!(
            layout.snapshot(SESSION, "initial.zip").to_string(),
            format!("s3://session-artifacts/{SESSION}/snapshots/initial.zip")
        );
        assert_eq!(
            layout.session_log(SESSION).to_string(),
            format!("s3://session-artifacts/{SESSION}/logs/session.log")
        );
        assert_eq!(layout.buckets(), ["uploads", "session-artifacts"]);
    }

    #[test]
    fn one_bucket_holds_both_places_as_prefixes() {
        let layout = KeyLayout::new(
            Place::new("team", "/devflow/uploads"),
            Place::new("team", "devflow/session-artifacts/"),
        );
        assert_eq!(
            layout.upload(SESSION),
            BlobLocation::new("team", format!("devflow/uploads/{SESSION}.zip"))
        );
        assert_eq!(
            layout.session_artifacts(SESSION),
            BlobLocation::new("team", format!("devflow/session-artifacts/{SESSION}/"))
        );
        assert_eq!(layout.buckets(), ["team"]);
    }

    #[test]
    fn every_artifact_key_is_under_the_sessions_prefix() {
        let layout = KeyLayout::new(Place::new("b", "x"), Place::new("b", "y"));
        let prefix = layout.session_artifacts(SESSION).key;
        for location in [
            layout.patch_diff(SESSION, "p"),
            layout.snapshot(SESSION, "s.zip"),
            layout.session_log(SESSION),
            layout.screenshot(SESSION, "c", "desktop-diff-1.png"),
        ] {
            assert!(location.key.starts_with(&prefix), "{location}");
        }
        assert!(!layout.upload(SESSION).key.starts_with(&prefix));
    }
}
