//! The IO edge: reading workspace files for a plan, writing a plan into the workspace and
//! putting the pre-image back. Each file is written to a temp file in its own directory,
//! fsynced and renamed over the target, so a reader never sees half a file; if any file
//! fails, the ones already written are put back, so the workspace is byte-identical to
//! before. Nothing is read or written through a symlink that leaves the workspace, and
//! nothing is written over a file that changed since it was read.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use thiserror::Error;

use crate::plan::PlannedFile;

/// Why the workspace was not changed (or, for `rollback_failed`, which files may be damaged).
#[derive(Debug, Error)]
pub enum CommitError {
    #[error("{path:?} is not a workspace path: {why}")]
    InvalidPath { path: String, why: &'static str },
    #[error("{path} is a symlink that leads outside the workspace (or nowhere); refusing to write through it")]
    OutsideWorkspace { path: String },
    #[error("{} changed on disk since the patch was planned; nothing was written (plan again from the current content)", .files.join(", "))]
    ChangedSincePlan { files: Vec<String> },
    #[error("{} changed since the patch was applied; nothing was restored (restore with force to discard those edits)", .files.join(", "))]
    ChangedSinceApply { files: Vec<String> },
    #[error("could not {action} {path}: {source}; {}", rollback_note(.rollback_failed))]
    Io {
        path: String,
        action: &'static str,
        #[source]
        source: io::Error,
        /// Files that could not be put back after the failure (empty: the workspace is as it was).
        rollback_failed: Vec<String>,
    },
}

fn rollback_note(failed: &[String]) -> String {
    if failed.is_empty() {
        "the workspace is unchanged".to_string()
    } else {
        format!(
            "could not put back {}: restore them from the journal",
            failed.join(", ")
        )
    }
}

/// Writes every file of a plan (`after`; `None` deletes), all or nothing. Refuses, writing
/// nothing, when a file's current content is not its `before`.
pub fn commit(workspace: &Path, files: &[PlannedFile]) -> Result<(), CommitError> {
    let writes: Vec<FileWrite> = files
        .iter()
        .map(|f| FileWrite {
            path: &f.path,
            expected: f.before.as_deref(),
            desired: f.after.as_deref(),
        })
        .collect();
    write_all(workspace, &writes, Check::Plan, &|_| Ok(()))
}

/// Puts every file back to `before` (rollback and crash recovery), all or nothing. Unless
/// `force`, first checks that each file still holds `after` and refuses with
/// [`CommitError::ChangedSinceApply`] naming the files edited since.
pub fn restore(workspace: &Path, files: &[PlannedFile], force: bool) -> Result<(), CommitError> {
    let writes: Vec<FileWrite> = files
        .iter()
        .map(|f| FileWrite {
            path: &f.path,
            expected: f.after.as_deref(),
            desired: f.before.as_deref(),
        })
        .collect();
    let check = if force { Check::None } else { Check::Apply };
    write_all(workspace, &writes, check, &|_| Ok(()))?;
    // A process killed inside `commit` (crash recovery is why this runs) can have left the
    // temp file it was about to rename; the folder is as it was only once that is gone too.
    if let Ok(root) = fs::canonicalize(workspace) {
        for file in files {
            if let Ok(target) = resolve(&root, &file.path) {
                remove_stale_temp_files(&target);
            }
        }
    }
    Ok(())
}

/// Reads one workspace file for [`crate::plan`]'s `read`: `Ok(None)` when it does not
/// exist, and the same refusals as [`commit`] for paths that leave the workspace (a symlink
/// pointing outside would otherwise leak that file's content into the plan).
pub fn read_workspace_file(workspace: &Path, path: &str) -> Result<Option<Vec<u8>>, CommitError> {
    let root = fs::canonicalize(workspace).map_err(|e| CommitError::Io {
        path: workspace.display().to_string(),
        action: "open the workspace",
        source: e,
        rollback_failed: Vec::new(),
    })?;
    let target = resolve(&root, path)?;
    read_current(&target).map_err(|e| CommitError::Io {
        path: path.to_string(),
        action: "read",
        source: e,
        rollback_failed: Vec::new(),
    })
}

/// One file to put into a state: `None` = absent.
pub(crate) struct FileWrite<'a> {
    pub path: &'a str,
    pub expected: Option<&'a [u8]>,
    pub desired: Option<&'a [u8]>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    None,
    Plan,
    Apply,
}

/// `before_write` runs before each file is written; tests use it to inject a failure.
pub(crate) fn write_all(
    workspace: &Path,
    writes: &[FileWrite<'_>],
    check: Check,
    before_write: &dyn Fn(&str) -> io::Result<()>,
) -> Result<(), CommitError> {
    let io_error = |path: &str, action: &'static str, source: io::Error| CommitError::Io {
        path: path.to_string(),
        action,
        source,
        rollback_failed: Vec::new(),
    };
    let root = fs::canonicalize(workspace)
        .map_err(|e| io_error(&workspace.display().to_string(), "open the workspace", e))?;
    let mut targets = Vec::with_capacity(writes.len());
    let mut originals = Vec::with_capacity(writes.len());
    for write in writes {
        let target = resolve(&root, write.path)?;
        originals.push(read_current(&target).map_err(|e| io_error(write.path, "read", e))?);
        targets.push(target);
    }
    let changed: Vec<String> = writes
        .iter()
        .zip(&originals)
        .filter(|(w, current)| current.as_deref() != w.expected)
        .map(|(w, _)| w.path.to_string())
        .collect();
    match check {
        Check::Plan if !changed.is_empty() => {
            return Err(CommitError::ChangedSincePlan { files: changed })
        }
        Check::Apply if !changed.is_empty() => {
            return Err(CommitError::ChangedSinceApply { files: changed })
        }
        _ => {}
    }

    let mut created_dirs = Vec::new();
    for (i, (write, target)) in writes.iter().zip(&targets).enumerate() {
        let result =
            before_write(write.path).and_then(|()| put(target, write.desired, &mut created_dirs));
        if let Err(source) = result {
            let rollback_failed = writes[..i]
                .iter()
                .zip(&targets)
                .zip(&originals)
                .rev()
                .filter(|((_, target), original)| {
                    put(target, original.as_deref(), &mut Vec::new()).is_err()
                })
                .map(|((w, _), _)| w.path.to_string())
                .collect();
            for dir in created_dirs.iter().rev() {
                // Only removes directories that are still empty: ours, never the user's.
                let _ = fs::remove_dir(dir);
            }
            let action = if write.desired.is_some() {
                "write"
            } else {
                "delete"
            };
            return Err(CommitError::Io {
                path: write.path.to_string(),
                action,
                source,
                rollback_failed,
            });
        }
    }
    Ok(())
}

/// The real path a workspace path writes to: symlinks resolved, and refused when they lead
/// outside `root` (itself canonical).
fn resolve(root: &Path, path: &str) -> Result<PathBuf, CommitError> {
    devflow_protocol::check_relative_path(path).map_err(|why| CommitError::InvalidPath {
        path: path.to_string(),
        why,
    })?;
    let mut existing = root.join(path);
    let mut missing = Vec::new();
    loop {
        match fs::symlink_metadata(&existing) {
            Ok(_) => break,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                match existing.file_name() {
                    Some(name) => missing.push(name.to_os_string()),
                    None => break,
                }
                if !existing.pop() {
                    break;
                }
            }
            Err(e) => {
                return Err(CommitError::Io {
                    path: path.to_string(),
                    action: "inspect",
                    source: e,
                    rollback_failed: Vec::new(),
                });
            }
        }
    }
    let outside = || CommitError::OutsideWorkspace {
        path: path.to_string(),
    };
    let mut real = fs::canonicalize(&existing).map_err(|_| outside())?;
    if !real.starts_with(root) {
        return Err(outside());
    }
    for name in missing.iter().rev() {
        real.push(name);
    }
    if real == root {
        return Err(CommitError::InvalidPath {
            path: path.to_string(),
            why: "path is the workspace itself",
        });
    }
    Ok(real)
}

fn read_current(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Puts one file into a state: writes `content` atomically, or deletes it for `None`.
fn put(path: &Path, content: Option<&[u8]>, created_dirs: &mut Vec<PathBuf>) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("the path has no parent directory"))?;
    let Some(content) = content else {
        return match fs::remove_file(path) {
            Ok(()) => sync_dir(dir),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        };
    };
    create_dirs(dir, created_dirs)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let temp = dir.join(format!(
        "{}{}-{}.tmp",
        temp_prefix(&name),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(content)?;
        // Keep the mode (e.g. an executable script) of the file being replaced.
        if let Ok(meta) = fs::metadata(path) {
            file.set_permissions(meta.permissions())?;
        }
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    sync_dir(dir)
}

/// How the temp files `put` writes `name` through start: `.{name}.devflow-{pid}-{n}.tmp`.
fn temp_prefix(name: &str) -> String {
    format!(".{name}.devflow-")
}

/// Removes temp files another process's `put` left beside `path` (best effort: a file that
/// cannot be removed is left, never anything else). This process's own are in use.
fn remove_stale_temp_files(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let prefix = temp_prefix(&name.to_string_lossy());
    let own = format!("{prefix}{}-", std::process::id());
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let entry_name = entry.file_name();
        let entry_name = entry_name.to_string_lossy();
        if entry_name.starts_with(&prefix)
            && entry_name.ends_with(".tmp")
            && !entry_name.starts_with(&own)
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Creates `dir` and its missing parents, recording the ones it made.
fn create_dirs(dir: &Path, created: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut at = dir;
    while fs::symlink_metadata(at).is_err() {
        missing.push(at.to_path_buf());
        match at.parent() {
            Some(parent) => at = parent,
            None => break,
        }
    }
    for dir in missing.into_iter().rev() {
        fs::create_dir(&dir)?;
        created.push(dir);
    }
    Ok(())
}

/// Makes a rename or unlink in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(path: &str, before: Option<&str>, after: Option<&str>) -> PlannedFile {
        PlannedFile {
            path: path.to_string(),
            before: before.map(|s| s.as_bytes().to_vec()),
            after: after.map(|s| s.as_bytes().to_vec()),
        }
    }

    fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in fs::read_dir(&d).expect("read dir") {
                let entry = entry.expect("entry");
                let path = entry.path();
                let rel = path
                    .strip_prefix(dir)
                    .expect("inside")
                    .to_string_lossy()
                    .into_owned();
                let meta = fs::symlink_metadata(&path).expect("meta");
                if meta.is_dir() {
                    out.push((format!("{rel}/"), Vec::new()));
                    stack.push(path);
                } else if meta.file_type().is_symlink() {
                    out.push((
                        format!("{rel} ->"),
                        fs::read_link(&path)
                            .expect("link")
                            .to_string_lossy()
                            .into_owned()
                            .into_bytes(),
                    ));
                } else {
                    out.push((rel, fs::read(&path).expect("read")));
                }
            }
        }
        out.sort();
        out
    }

    fn workspace(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for (path, content) in files {
            let full = dir.path().join(path);
            fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            fs::write(full, content).expect("write");
        }
        dir
    }

    #[test]
    fn writes_creates_and_deletes_files_creating_parent_dirs() {
        let ws = workspace(&[("a.css", "a\n"), ("old.css", "x\n")]);
        let files = [
            planned("a.css", Some("a\n"), Some("b\n")),
            planned("css/deep/new.css", None, Some("n\n")),
            planned("old.css", Some("x\n"), None),
        ];
        commit(ws.path(), &files).expect("commit");
        assert_eq!(fs::read_to_string(ws.path().join("a.css")).unwrap(), "b\n");
        assert_eq!(
            fs::read_to_string(ws.path().join("css/deep/new.css")).unwrap(),
            "n\n"
        );
        assert!(!ws.path().join("old.css").exists());
        let names: Vec<String> = snapshot(ws.path()).into_iter().map(|(n, _)| n).collect();
        assert!(
            names.iter().all(|n| !n.contains(".tmp")),
            "temp file left: {names:?}"
        );
    }

    #[test]
    fn write_error_on_the_second_of_three_files_leaves_all_three_unchanged() {
        let ws = workspace(&[("a.css", "a\n"), ("b.css", "b\n"), ("c.css", "c\n")]);
        let before = snapshot(ws.path());
        let files = [
            planned("a.css", Some("a\n"), Some("A\n")),
            planned("b.css", Some("b\n"), Some("B\n")),
            planned("c.css", Some("c\n"), Some("C\n")),
        ];
        let writes: Vec<FileWrite> = files
            .iter()
            .map(|f| FileWrite {
                path: &f.path,
                expected: f.before.as_deref(),
                desired: f.after.as_deref(),
            })
            .collect();
        let fail_on_b = |path: &str| {
            if path == "b.css" {
                Err(io::Error::other("disk full"))
            } else {
                Ok(())
            }
        };
        let err = write_all(ws.path(), &writes, Check::Plan, &fail_on_b).unwrap_err();
        assert_eq!(
            err.to_string(),
            "could not write b.css: disk full; the workspace is unchanged"
        );
        assert_eq!(snapshot(ws.path()), before);
    }

    #[test]
    fn real_write_failure_midway_restores_written_files_and_removes_created_dirs() {
        // `blocker` is a file, so creating `blocker/b.css` fails after `a.css` and `new/x.css` were written.
        let ws = workspace(&[("a.css", "a\n"), ("blocker", "not a dir\n")]);
        let before = snapshot(ws.path());
        let files = [
            planned("a.css", Some("a\n"), Some("A\n")),
            planned("new/x.css", None, Some("x\n")),
            planned("blocker/b.css", None, Some("b\n")),
        ];
        let err = commit(ws.path(), &files).unwrap_err();
        assert!(
            matches!(&err, CommitError::Io { path, rollback_failed, .. } if path == "blocker/b.css" && rollback_failed.is_empty()),
            "{err}"
        );
        assert_eq!(snapshot(ws.path()), before);
    }

    #[test]
    fn refuses_to_commit_over_a_file_that_changed_since_the_plan() {
        let ws = workspace(&[("a.css", "edited by hand\n")]);
        let err = commit(ws.path(), &[planned("a.css", Some("a\n"), Some("b\n"))]).unwrap_err();
        assert!(matches!(&err, CommitError::ChangedSincePlan { files } if files == &["a.css"]));
        assert_eq!(
            fs::read_to_string(ws.path().join("a.css")).unwrap(),
            "edited by hand\n"
        );
    }

    #[test]
    fn restore_puts_the_pre_image_back_byte_for_byte() {
        let ws = workspace(&[("a.css", "a\r\n"), ("gone.css", "g")]);
        let before = snapshot(ws.path());
        let files = [
            planned("a.css", Some("a\r\n"), Some("b\r\n")),
            planned("gone.css", Some("g"), None),
            planned("made.css", None, Some("m\n")),
        ];
        commit(ws.path(), &files).expect("commit");
        restore(ws.path(), &files, false).expect("restore");
        assert_eq!(snapshot(ws.path()), before);
    }

    #[test]
    fn restore_names_files_edited_since_the_patch_and_leaves_them_alone() {
        let ws = workspace(&[("a.css", "a\n"), ("b.css", "b\n")]);
        let files = [
            planned("a.css", Some("a\n"), Some("A\n")),
            planned("b.css", Some("b\n"), Some("B\n")),
        ];
        commit(ws.path(), &files).expect("commit");
        fs::write(ws.path().join("b.css"), "B and a manual edit\n").unwrap();
        let err = restore(ws.path(), &files, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "b.css changed since the patch was applied; nothing was restored (restore with force to discard those edits)"
        );
        assert_eq!(fs::read_to_string(ws.path().join("a.css")).unwrap(), "A\n");
        assert_eq!(
            fs::read_to_string(ws.path().join("b.css")).unwrap(),
            "B and a manual edit\n"
        );

        restore(ws.path(), &files, true).expect("forced restore");
        assert_eq!(fs::read_to_string(ws.path().join("b.css")).unwrap(), "b\n");
    }

    #[cfg(unix)]
    #[test]
    fn refuses_to_write_through_a_symlink_leading_outside_the_workspace() {
        let outside = workspace(&[("secret.css", "s\n")]);
        let ws = workspace(&[]);
        std::os::unix::fs::symlink(
            outside.path().join("secret.css"),
            ws.path().join("link.css"),
        )
        .unwrap();
        std::os::unix::fs::symlink(outside.path(), ws.path().join("linkdir")).unwrap();
        for path in ["link.css", "linkdir/secret.css", "linkdir/new.css"] {
            let before = if path == "linkdir/new.css" {
                None
            } else {
                Some("s\n")
            };
            let err = commit(ws.path(), &[planned(path, before, Some("pwned\n"))]).unwrap_err();
            assert!(
                matches!(&err, CommitError::OutsideWorkspace { .. }),
                "{path}: {err}"
            );
        }
        assert_eq!(
            fs::read_to_string(outside.path().join("secret.css")).unwrap(),
            "s\n"
        );
        assert!(!outside.path().join("new.css").exists());
    }

    #[cfg(unix)]
    #[test]
    fn writes_through_a_symlink_inside_the_workspace_to_its_target() {
        let ws = workspace(&[("real/a.css", "a\n")]);
        std::os::unix::fs::symlink("real/a.css", ws.path().join("a.css")).unwrap();
        commit(ws.path(), &[planned("a.css", Some("a\n"), Some("b\n"))]).expect("commit");
        assert_eq!(
            fs::read_to_string(ws.path().join("real/a.css")).unwrap(),
            "b\n"
        );
        assert!(fs::symlink_metadata(ws.path().join("a.css"))
            .unwrap()
            .file_type()
            .is_symlink());
    }

    #[cfg(unix)]
    #[test]
    fn keeps_the_mode_of_a_replaced_file() {
        use std::os::unix::fs::PermissionsExt;
        let ws = workspace(&[("run.sh", "echo a\n")]);
        fs::set_permissions(ws.path().join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        commit(
            ws.path(),
            &[planned("run.sh", Some("echo a\n"), Some("echo b\n"))],
        )
        .expect("commit");
        let mode = fs::metadata(ws.path().join("run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    #[cfg(unix)]
    #[test]
    fn reads_workspace_files_but_not_through_a_symlink_leading_outside() {
        let outside = workspace(&[("secret.css", "s\n")]);
        let ws = workspace(&[("css/a.css", "a\n")]);
        std::os::unix::fs::symlink(
            outside.path().join("secret.css"),
            ws.path().join("link.css"),
        )
        .unwrap();
        assert_eq!(
            read_workspace_file(ws.path(), "css/a.css").unwrap(),
            Some(b"a\n".to_vec())
        );
        assert_eq!(
            read_workspace_file(ws.path(), "css/none.css").unwrap(),
            None
        );
        let err = read_workspace_file(ws.path(), "link.css").unwrap_err();
        assert!(matches!(err, CommitError::OutsideWorkspace { .. }), "{err}");
    }

    #[test]
    fn restore_removes_the_temp_file_a_killed_commit_left_behind() {
        let ws = workspace(&[("css/a.css", "a\n"), ("css/b.css", "b\n")]);
        let before = snapshot(ws.path());
        // What a commit killed between writing its temp file and renaming it leaves.
        fs::write(ws.path().join("css/.a.css.devflow-999999-0.tmp"), "A\n").unwrap();
        // Another file's temp is not this restore's business.
        fs::write(ws.path().join("css/.c.css.devflow-999999-1.tmp"), "C\n").unwrap();
        let files = [planned("css/a.css", Some("a\n"), Some("A\n"))];
        restore(ws.path(), &files, true).expect("restore");
        let mut expected = before;
        expected.push(("css/.c.css.devflow-999999-1.tmp".into(), b"C\n".to_vec()));
        expected.sort();
        assert_eq!(snapshot(ws.path()), expected);
    }

    #[test]
    fn rejects_paths_leaving_the_workspace() {
        let ws = workspace(&[]);
        let err = commit(ws.path(), &[planned("../x.css", None, Some("x"))]).unwrap_err();
        assert!(matches!(err, CommitError::InvalidPath { .. }));
    }
}
