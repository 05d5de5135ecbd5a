//! The shipped parts over the project's libraries: [`WorkspacePatchEngine`] (devflow-patch
//! over the session's workspace; planning reads through `read_workspace_file`, which refuses
//! symlinks that leave the workspace) and [`ZipIngest`] (devflow-ingest).

use std::path::Path;

use devflow_patch::PlannedFile;
use devflow_protocol::Proposal;
use devflow_store::JournalFile;

use crate::parts::{IngestError, PatchEngine, PatchRejection, PlannedPatch, SiteIngest};

pub use devflow_patch::sha256_hex;

pub struct WorkspacePatchEngine;

fn to_planned(files: &[JournalFile]) -> Vec<PlannedFile> {
    files
        .iter()
        .map(|f| PlannedFile {
            path: f.path.clone(),
            before: f.before.clone(),
            after: f.after.clone(),
        })
        .collect()
}

impl PatchEngine for WorkspacePatchEngine {
    fn plan(&self, workspace: &Path, proposal: &Proposal) -> Result<PlannedPatch, PatchRejection> {
        let read = |path: &str| devflow_patch::read_workspace_file(workspace, path);
        match devflow_patch::plan(&proposal.unified_diff, &proposal.files_to_edit, read) {
            Ok(plan) => Ok(PlannedPatch {
                files: plan
                    .files
                    .into_iter()
                    .map(|f| JournalFile {
                        path: f.path,
                        before: f.before,
                        after: f.after,
                    })
                    .collect(),
                hunks: plan.hunks,
                unified_diff: plan.unified_diff,
            }),
            Err(failure) => Err(PatchRejection {
                summary: failure.summary,
                hunks: failure.hunks,
            }),
        }
    }

    fn commit(&self, workspace: &Path, files: &[JournalFile]) -> Result<(), String> {
        devflow_patch::commit(workspace, &to_planned(files)).map_err(|e| e.to_string())
    }

    fn restore(&self, workspace: &Path, files: &[JournalFile], force: bool) -> Result<(), String> {
        devflow_patch::restore(workspace, &to_planned(files), force).map_err(|e| e.to_string())
    }
}

/// Unpacks uploads with devflow-ingest's default limits: all or nothing.
pub struct ZipIngest;

impl SiteIngest for ZipIngest {
    fn ingest(&self, zip: &Path, workspace: &Path) -> Result<(u64, u64), IngestError> {
        use devflow_ingest::ErrorKind;
        use devflow_protocol::ErrorCode;
        match devflow_ingest::ingest(zip, workspace, &devflow_ingest::Limits::default()) {
            Ok(summary) => Ok((summary.files, summary.bytes)),
            Err(error) => Err(IngestError::Rejected {
                message: error.to_string(),
                entry: error.entry().map(str::to_string),
                code: match error.kind() {
                    ErrorKind::BadArchive | ErrorKind::UnsafeEntry => ErrorCode::ValidationError,
                    ErrorKind::TooLarge => ErrorCode::PayloadTooLarge,
                    ErrorKind::Workspace => ErrorCode::Conflict,
                    ErrorKind::Io => ErrorCode::Internal,
                },
            }),
        }
    }
}
