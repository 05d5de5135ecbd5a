//! The `builtin` proposer: devflow-builtin, offline and deterministic, over the session's
//! files. The default when no AWS credentials are configured. When it does not understand an
//! instruction it says so (with phrasings it does understand) instead of guessing.

use std::path::Path;

use async_trait::async_trait;
use devflow_builtin::DesignRequest;
use devflow_reference::SourceFile;

use crate::parts::{ProposalRequest, Proposer, ProposerAnswer, ProposerError};

/// Files the builtin engine reads: styles, pages, and scripts that hold markup or import CSS.
const EXTENSIONS: &[&str] = &["css", "html", "htm", "js", "mjs", "ts", "jsx", "tsx"];
const SKIPPED_DIRS: &[&str] = &[
    "node_modules",
    ".git",
    "dist",
    "build",
    "target",
    ".next",
    "out",
];
const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024;
const MAX_TOTAL_BYTES: u64 = 32 * 1024 * 1024;

pub struct BuiltinProposer;

#[async_trait]
impl Proposer for BuiltinProposer {
    async fn propose(&self, request: ProposalRequest) -> Result<ProposerAnswer, ProposerError> {
        let answer = tokio::task::spawn_blocking(move || {
            let design = DesignRequest {
                instruction: request.instruction,
                target: request.target,
                prompt: request.prompt,
                tokens: request.tokens,
                files: site_files(&request.workspace),
            };
            devflow_builtin::propose(&design)
        })
        .await
        .map_err(|e| ProposerError::Failed(format!("the builtin proposer stopped: {e}")))?;
        match answer {
            Ok(proposal) => Ok(ProposerAnswer {
                proposal,
                usage: None,
            }),
            Err(not_understood) => Err(ProposerError::Failed(not_understood.message)),
        }
    }
}

/// The site's text files the engine may read, relative paths with `/`, within the limits
/// (also what target resolution reads).
pub(crate) fn site_files(workspace: &Path) -> Vec<SourceFile> {
    let mut files = Vec::new();
    let mut total = 0u64;
    let mut stack = vec![workspace.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            if kind.is_dir() {
                if !SKIPPED_DIRS.contains(&name.as_str()) {
                    stack.push(path);
                }
                continue;
            }
            let wanted = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| EXTENSIONS.contains(&e));
            let size = entry.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
            if !kind.is_file() || !wanted || size > MAX_FILE_BYTES || total + size > MAX_TOTAL_BYTES
            {
                continue;
            }
            let (Ok(bytes), Ok(relative)) = (std::fs::read(&path), path.strip_prefix(workspace))
            else {
                continue;
            };
            let Ok(text) = String::from_utf8(bytes) else {
                continue;
            };
            total += size;
            files.push(SourceFile {
                path: relative.to_string_lossy().replace('\\', "/"),
                text,
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}
