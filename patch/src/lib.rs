//! devflow's patch engine: turns a unified diff as a language model writes it into a
//! [`PatchPlan`] (every touched file's bytes before and after, and how each hunk matched),
//! then writes that plan to disk all-or-nothing and can put the pre-image back exactly.
//!
//! [`parse`], [`plan`] and [`sha256_hex`] are pure: they take text and file contents and
//! return values, so they are tested with plain data. Only [`read_workspace_file`],
//! [`commit`] and [`restore`] touch the file system. A hunk is never applied by guess: one
//! that matches in more than one place, or nowhere, fails the whole plan and is reported
//! with the closest candidate.

mod commit;
mod matching;
mod parse;
mod plan;
mod policy;
mod render;
mod text;

/// The wire types a plan reports in, re-exported so callers need not name the protocol crate.
pub use devflow_protocol::{HunkReport, HunkResult, PatchFile};

pub use commit::{commit, read_workspace_file, restore, CommitError};
pub use matching::{Closest, Difference, HunkProblem};
pub use parse::{parse, Diff, FileChange, FileDiff, Hunk, HunkLine, ParseError};
pub use plan::{plan, plan_with_limits, PatchFailure, PatchPlan, PlanError, PlannedFile};
pub use policy::{Limits, LOCKFILES, PROTECTED_DIRS};

use sha2::{Digest, Sha256};

/// SHA-256 of `bytes` as lowercase hex: the pre-/post-image hash of a [`devflow_protocol::PatchFile`].
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_bytes_as_lowercase_hex_sha256() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
