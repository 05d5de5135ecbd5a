//! The IO edge: unpack an accepted zip into a staging folder beside the workspace, counting
//! the bytes that actually come out of each entry, then rename the staging folder into
//! place. Invariant: the workspace is either left as it was (absent or empty) or holds the
//! whole site; on any error the staging folder is removed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

use crate::archive::{self, Archive};
use crate::error::IngestError;
use crate::limits::Limits;
use crate::policy::{self, exceeds_ratio, ExtractionPlan, PlannedEntry, PlannedKind};

/// What an ingest wrote: regular files and their bytes (folders not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestSummary {
    pub files: u64,
    pub bytes: u64,
}

/// Unpacks the site zip at `zip_path` into `workspace`, which must be absent or an empty
/// folder. All or nothing: the zip is checked by [`policy::plan`] first, then streamed into
/// a staging folder in the same parent (so the final rename stays on one file system) and
/// renamed to `workspace` only when every entry came out within `limits`. Files get mode
/// 0644 whatever the zip says; folders the default; links are never created.
pub fn ingest(
    zip_path: &Path,
    workspace: &Path,
    limits: &Limits,
) -> Result<IngestSummary, IngestError> {
    let existing = check_workspace(workspace)?;
    let mut archive = archive::open(zip_path)?;
    let plan = policy::plan(&archive.entries, limits)?;

    let parent = match workspace.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::create_dir_all(parent).map_err(io_error("create", parent))?;
    let prefix = format!(
        ".{}.ingest-",
        workspace
            .file_name()
            .map(|name| name.to_string_lossy())
            .unwrap_or_default()
    );
    let staging = tempfile::Builder::new()
        .prefix(&prefix)
        .tempdir_in(parent)
        .map_err(io_error("create a staging folder in", parent))?;

    let summary = write_plan(&mut archive, &plan, staging.path(), limits)?;
    // A fresh temp dir is private (0700); the workspace keeps the mode it had, or gets the
    // usual folder mode, so the preview and the editor can read it.
    if let Some(permissions) = existing.or_else(default_folder_permissions) {
        fs::set_permissions(staging.path(), permissions)
            .map_err(io_error("set permissions of", staging.path()))?;
    }

    // Renaming onto an empty folder replaces it atomically; onto one that gained files
    // meanwhile it fails, and the staging folder is dropped.
    match fs::rename(staging.path(), workspace) {
        Ok(()) => {
            let _moved = staging.keep();
            Ok(summary)
        }
        Err(error) if is_not_empty(&error) => Err(IngestError::WorkspaceNotEmpty {
            path: workspace.to_path_buf(),
        }),
        Err(error) => Err(io_error("move the unpacked site to", workspace)(error)),
    }
}

/// Refuses a workspace that exists and is not an empty folder; returns the permissions of
/// one that exists.
fn check_workspace(workspace: &Path) -> Result<Option<fs::Permissions>, IngestError> {
    let metadata = match fs::symlink_metadata(workspace) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error("inspect", workspace)(error)),
    };
    if !metadata.is_dir() {
        return Err(IngestError::WorkspaceNotFolder {
            path: workspace.to_path_buf(),
        });
    }
    let mut children = fs::read_dir(workspace).map_err(io_error("list", workspace))?;
    if children.next().is_some() {
        return Err(IngestError::WorkspaceNotEmpty {
            path: workspace.to_path_buf(),
        });
    }
    Ok(Some(metadata.permissions()))
}

fn write_plan(
    archive: &mut Archive,
    plan: &ExtractionPlan,
    staging: &Path,
    limits: &Limits,
) -> Result<IngestSummary, IngestError> {
    let mut summary = IngestSummary { files: 0, bytes: 0 };
    let mut buffer = vec![0u8; 64 * 1024];
    for planned in &plan.entries {
        let target = staging.join(&planned.path);
        match planned.kind {
            PlannedKind::Folder => {
                fs::create_dir_all(&target).map_err(io_error("create", &target))?
            }
            PlannedKind::File => {
                if let Some(folder) = target.parent() {
                    fs::create_dir_all(folder).map_err(io_error("create", folder))?;
                }
                let mut out = create_file(&target)?;
                let written = copy_entry(
                    archive,
                    planned,
                    &target,
                    &mut out,
                    &mut buffer,
                    summary.bytes,
                    limits,
                )?;
                summary.files += 1;
                summary.bytes += written;
            }
        }
    }
    Ok(summary)
}

/// Streams one entry into `out`.
fn copy_entry(
    archive: &mut Archive,
    planned: &PlannedEntry,
    target: &Path,
    out: &mut File,
    buffer: &mut [u8],
    written_before: u64,
    limits: &Limits,
) -> Result<u64, IngestError> {
    let corrupt = |detail: String| IngestError::CorruptEntry {
        entry: planned.name.clone(),
        detail,
    };
    let index = archive
        .indices
        .get(planned.index)
        .copied()
        .ok_or_else(|| corrupt("it is not in the archive".into()))?;
    let mut reader = archive
        .zip
        .by_index(index)
        .map_err(|error| corrupt(archive::describe(&error)))?;
    copy_counted(&mut reader, planned, out, buffer, written_before, limits).map_err(|failure| {
        match failure {
            CopyFailure::Read(error) => read_error(planned, error),
            CopyFailure::Write(error) => io_error("write", target)(error),
            CopyFailure::Refused(error) => error,
        }
    })
}

enum CopyFailure {
    Read(io::Error),
    Write(io::Error),
    Refused(IngestError),
}

/// Copies what the decompressor really produces, counting it: the declared sizes were
/// checked already, but a bomb lies in its headers, so the same limits hold for the real
/// bytes, and a chunk past any of them is refused before it reaches `out`.
fn copy_counted(
    reader: &mut impl Read,
    planned: &PlannedEntry,
    out: &mut impl Write,
    buffer: &mut [u8],
    written_before: u64,
    limits: &Limits,
) -> Result<u64, CopyFailure> {
    let entry = || planned.name.clone();
    let mut written: u64 = 0;
    loop {
        let count = match reader.read(buffer) {
            Ok(0) => break,
            Ok(count) => count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(CopyFailure::Read(error)),
        };
        written += count as u64;
        let refusal = if written > planned.size {
            Some(IngestError::SizeMismatch {
                entry: entry(),
                declared: planned.size,
                more: true,
            })
        } else if written > limits.max_file_bytes {
            Some(IngestError::FileTooLarge {
                entry: entry(),
                size: written,
                limit: limits.max_file_bytes,
            })
        } else if written_before.saturating_add(written) > limits.max_total_bytes {
            Some(IngestError::TotalTooLarge {
                entry: entry(),
                limit: limits.max_total_bytes,
            })
        } else if exceeds_ratio(written, planned.compressed_size, limits.max_ratio) {
            Some(IngestError::RatioTooHigh {
                entry: entry(),
                ratio: written / planned.compressed_size.max(1),
                limit: limits.max_ratio,
            })
        } else {
            None
        };
        if let Some(error) = refusal {
            return Err(CopyFailure::Refused(error));
        }
        let chunk = buffer.get(..count).unwrap_or_default();
        out.write_all(chunk).map_err(CopyFailure::Write)?;
    }
    if written != planned.size {
        return Err(CopyFailure::Refused(IngestError::SizeMismatch {
            entry: entry(),
            declared: planned.size,
            more: false,
        }));
    }
    out.flush().map_err(CopyFailure::Write)?;
    Ok(written)
}

/// A decompression error as a reason. The `zip` crate stops an entry at its declared size
/// itself and checks its CRC; those two get our own words (matched on the crate's message,
/// falling back to it verbatim if that ever changes).
fn read_error(planned: &PlannedEntry, error: io::Error) -> IngestError {
    let text = error.to_string();
    if text.contains("larger than its declared") {
        return IngestError::SizeMismatch {
            entry: planned.name.clone(),
            declared: planned.size,
            more: true,
        };
    }
    let detail = if text.contains("Invalid checksum") {
        "its data does not match its checksum".to_string()
    } else {
        text
    };
    IngestError::CorruptEntry {
        entry: planned.name.clone(),
        detail,
    }
}

/// A new regular file, never one that exists (nothing in the staging folder should) and
/// with no execute, setuid or setgid bits whatever the zip asked for.
fn create_file(path: &Path) -> Result<File, IngestError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o644);
    }
    options.open(path).map_err(io_error("create", path))
}

#[cfg(unix)]
fn default_folder_permissions() -> Option<fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(fs::Permissions::from_mode(0o755))
}

/// Off Unix a temp dir gets ordinary permissions already.
#[cfg(not(unix))]
fn default_folder_permissions() -> Option<fs::Permissions> {
    None
}

fn is_not_empty(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::DirectoryNotEmpty | io::ErrorKind::AlreadyExists
    )
}

fn io_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> IngestError + 'a {
    move |source| IngestError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(size: u64, compressed_size: u64) -> PlannedEntry {
        PlannedEntry {
            index: 0,
            name: "zeros.bin".into(),
            path: "zeros.bin".into(),
            kind: PlannedKind::File,
            size,
            compressed_size,
        }
    }

    fn copy(
        real: u64,
        planned: &PlannedEntry,
        written_before: u64,
        limits: &Limits,
    ) -> (Result<u64, IngestError>, Vec<u8>) {
        let mut sink = Vec::new();
        let mut buffer = vec![0u8; 64 * 1024];
        let mut reader = io::repeat(0).take(real);
        let result = copy_counted(
            &mut reader,
            planned,
            &mut sink,
            &mut buffer,
            written_before,
            limits,
        )
        .map_err(|failure| match failure {
            CopyFailure::Refused(error) => error,
            CopyFailure::Read(error) | CopyFailure::Write(error) => panic!("{error}"),
        });
        (result, sink)
    }

    #[test]
    fn copies_an_honest_entry_whole() {
        let (result, sink) = copy(100_000, &planned(100_000, 1_000), 0, &Limits::default());
        assert_eq!(result.expect("copied"), 100_000);
        assert_eq!(sink.len(), 100_000);
    }

    #[test]
    fn stops_an_entry_that_produces_more_than_it_declared_before_writing_the_excess() {
        let (result, sink) = copy(10 << 20, &planned(1_000, 500), 0, &Limits::default());
        let error = result.expect_err("refused");
        assert!(
            matches!(
                error,
                IngestError::SizeMismatch {
                    declared: 1_000,
                    more: true,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(sink.len() <= 1_000, "wrote {} bytes", sink.len());
    }

    #[test]
    fn refuses_an_entry_that_ends_before_its_declared_size() {
        let (result, _) = copy(10, &planned(1_000, 500), 0, &Limits::default());
        let error = result.expect_err("refused");
        assert!(
            matches!(error, IngestError::SizeMismatch { more: false, .. }),
            "{error:?}"
        );
    }

    #[test]
    fn counts_real_bytes_against_the_file_limit() {
        let limits = Limits {
            max_file_bytes: 100_000,
            ..Limits::default()
        };
        let (result, sink) = copy(1 << 20, &planned(1 << 20, 1 << 20), 0, &limits);
        assert!(
            matches!(result, Err(IngestError::FileTooLarge { .. })),
            "{result:?}"
        );
        assert!(sink.len() <= 100_000);
    }

    #[test]
    fn counts_real_bytes_against_the_total_limit() {
        let limits = Limits {
            max_total_bytes: 1_000_000,
            ..Limits::default()
        };
        let (result, sink) = copy(500_000, &planned(500_000, 500_000), 900_000, &limits);
        assert!(
            matches!(result, Err(IngestError::TotalTooLarge { .. })),
            "{result:?}"
        );
        assert!(sink.len() <= 100_000);
    }

    #[test]
    fn counts_real_bytes_against_the_ratio() {
        let (result, sink) = copy(4 << 20, &planned(4 << 20, 1_000), 0, &Limits::default());
        assert!(
            matches!(result, Err(IngestError::RatioTooHigh { limit: 100, .. })),
            "{result:?}"
        );
        assert!(sink.len() as u64 <= crate::limits::RATIO_EXEMPT_BYTES);
    }
}
