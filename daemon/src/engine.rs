//! The patch engine the daemon ships (placeholder until devflow-patch lands).

use sha2::{Digest, Sha256};

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Placeholder engine: refuses every patch until devflow-patch lands.
pub struct WorkspacePatchEngine;

impl crate::parts::PatchEngine for WorkspacePatchEngine {
    fn plan(
        &self,
        _: &std::path::Path,
        _: &devflow_protocol::Proposal,
    ) -> Result<crate::parts::PlannedPatch, crate::parts::PatchRejection> {
        Err(crate::parts::PatchRejection {
            summary: "the patch engine is not part of this daemon yet".into(),
            hunks: vec![],
        })
    }
    fn commit(&self, _: &std::path::Path, _: &[devflow_store::JournalFile]) -> Result<(), String> {
        Err("the patch engine is not part of this daemon yet".into())
    }
    fn restore(
        &self,
        _: &std::path::Path,
        _: &[devflow_store::JournalFile],
        _: bool,
    ) -> Result<(), String> {
        Err("the patch engine is not part of this daemon yet".into())
    }
}
