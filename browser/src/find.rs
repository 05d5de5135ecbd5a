//! Where the Chromium executable is: a configured path, else the first of `chromium`,
//! `chromium-browser`, `google-chrome` on `PATH`.
//!
//! Not finding one is an answer, not an error: the daemon then verifies over HTTP only.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The names looked for on `PATH`, in order (Debian's package installs `chromium`).
pub const CHROMIUM_NAMES: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

/// The environment variable [`crate::Browser::find`] reads a path from: the daemon's own
/// `chrome` setting's variable, so one name works for the crate alone and for the daemon
/// (which reads it through its configuration and passes it to [`find_chromium`]).
pub const CHROMIUM_ENV: &str = "DEVFLOW_CHROME";

/// `configured` when it is an executable file; with nothing configured, the first of
/// [`CHROMIUM_NAMES`] found as an executable file in the directories of `path_var` (a
/// `PATH`-style list). A configured path that is not executable gives `None` rather than
/// another browser: the person asked for that one.
pub fn find_chromium(configured: Option<&Path>, path_var: Option<&OsStr>) -> Option<PathBuf> {
    if let Some(configured) = configured.filter(|path| !path.as_os_str().is_empty()) {
        if is_executable(configured) {
            return Some(configured.to_path_buf());
        }
        tracing::warn!(path = %configured.display(), "the configured Chromium is not an executable file");
        return None;
    }
    let directories: Vec<PathBuf> = std::env::split_paths(path_var?).collect();
    CHROMIUM_NAMES.iter().find_map(|name| {
        directories
            .iter()
            .map(|directory| directory.join(name))
            .find(|candidate| is_executable(candidate))
    })
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn executable(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn finds_the_first_name_in_path_order_of_names() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        executable(first.path(), "google-chrome");
        let chromium = executable(second.path(), "chromium");
        let path_var = std::env::join_paths([first.path(), second.path()]).unwrap();
        assert_eq!(find_chromium(None, Some(&path_var)), Some(chromium));
    }

    #[test]
    fn skips_files_that_are_not_executable() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("chromium"), "").unwrap();
        let chrome = executable(dir.path(), "google-chrome");
        let path_var = OsString::from(dir.path());
        assert_eq!(find_chromium(None, Some(&path_var)), Some(chrome));
    }

    #[test]
    fn a_configured_path_wins_and_a_wrong_one_finds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let chromium = executable(dir.path(), "chromium");
        let mine = executable(dir.path(), "my-chrome");
        let path_var = OsString::from(dir.path());
        assert_eq!(find_chromium(Some(&mine), Some(&path_var)), Some(mine));
        let missing = dir.path().join("absent");
        assert_eq!(find_chromium(Some(&missing), Some(&path_var)), None);
        assert_eq!(
            find_chromium(Some(Path::new("")), Some(&path_var)),
            Some(chromium)
        );
    }

    #[test]
    fn nothing_on_an_empty_path() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(find_chromium(None, Some(dir.path().as_os_str())), None);
        assert_eq!(find_chromium(None, None), None);
    }
}
