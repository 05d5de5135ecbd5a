//! Dev-server processes that a killed daemon left behind, ended at the next start.
//!
//! Every process a preview starts (installs, dev servers, and whatever they start in turn)
//! inherits `DEVFLOW_PREVIEW_OWNER=<token>`: a random token new for each daemon run, kept in
//! the state dir. On start-up, [`take_over`] ends every process that still carries the
//! previous run's token, and its process group, then records the new token.
//!
//! This is the backstop. Normally nothing is left over: the group leader dies with the
//! daemon (`PR_SET_PDEATHSIG`) and a guard inside each group ends the rest when the daemon's
//! end of a pipe closes (see [`super::devserver`]). What can still be left is a group whose
//! guard was itself killed. The environment marker, not a recorded pid, decides what is
//! ours: a pid or process group id may have been reused since, an inherited environment
//! entry is not.

use std::path::Path;

/// The environment variable that marks a preview's processes.
pub const OWNER_VAR: &str = "DEVFLOW_PREVIEW_OWNER";

/// A fresh token for this run.
pub fn new_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Ends what the previous run recorded in `file` left behind, then records `token` there.
/// Returns how many processes were ended. Problems are logged, never fatal: a daemon that
/// cannot clean up still starts.
pub fn take_over(file: &Path, token: &str) -> usize {
    let ended = match std::fs::read_to_string(file) {
        Ok(previous) if !previous.trim().is_empty() => end_marked(previous.trim()),
        _ => 0,
    };
    if ended > 0 {
        tracing::warn!(
            processes = ended,
            "ended dev-server processes a previous daemon left running"
        );
    }
    if let Err(error) = write_token(file, token) {
        tracing::warn!(%error, file = %file.display(), "cannot record the preview owner token; processes left by a crash will not be ended at the next start");
    }
    ended
}

fn write_token(file: &Path, token: &str) -> std::io::Result<()> {
    let temp = file.with_extension("tmp");
    std::fs::write(&temp, token)?;
    std::fs::rename(&temp, file)
}

/// SIGKILL to every process whose environment carries `OWNER_VAR=token`, and to the process
/// group of each (its children whose environment was replaced are in it).
#[cfg(target_os = "linux")]
fn end_marked(token: &str) -> usize {
    let marker = format!("{OWNER_VAR}={token}");
    let own_pid = std::process::id();
    // SAFETY: getpgrp(2) has no arguments and cannot fail.
    let own_group = unsafe { libc::getpgrp() };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut groups = Vec::new();
    let mut ended = 0;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == own_pid {
            continue;
        }
        // Other users' processes and ones that just exited cannot be read: not ours.
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if !environ
            .split(|b| *b == 0)
            .any(|variable| variable == marker.as_bytes())
        {
            continue;
        }
        let group = process_group(pid);
        // SAFETY: kill(2) on one pid; no memory is involved.
        if unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) } == 0 {
            ended += 1;
        }
        if let Some(group) = group.filter(|g| *g > 1 && *g != own_group) {
            if !groups.contains(&group) {
                groups.push(group);
            }
        }
    }
    for group in groups {
        // SAFETY: kill(2) with a negative pid signals that process group.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
    }
    ended
}

#[cfg(not(target_os = "linux"))]
fn end_marked(_token: &str) -> usize {
    0
}

/// The process group of `pid` from `/proc/<pid>/stat` (the field after the state, which
/// follows the command name in parentheses — a name may itself contain ") ").
#[cfg(target_os = "linux")]
fn process_group(pid: u32) -> Option<libc::pid_t> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rfind(')')
                .is_some_and(|at| !stat[at + 1..].trim_start().starts_with('Z'))
        })
    }

    #[test]
    fn only_processes_with_the_previous_token_are_ended() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("preview-owner");
        let previous = new_token();
        std::fs::write(&file, &previous).unwrap();
        let spawn = |token: &str| {
            Command::new("sleep")
                .arg("30")
                .env(OWNER_VAR, token)
                .stdin(Stdio::null())
                .spawn()
                .unwrap()
        };
        let mut left_over = spawn(&previous);
        let mut unrelated = spawn("someone-else");
        let next = new_token();

        assert_eq!(take_over(&file, &next), 1);
        let status = left_over.wait().unwrap();
        assert!(!status.success(), "killed: {status}");
        assert!(
            alive(unrelated.id()),
            "another token's process is left alone"
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), next);

        unrelated.kill().unwrap();
        unrelated.wait().unwrap();
    }

    #[test]
    fn a_missing_file_ends_nothing_and_records_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("preview-owner");
        assert_eq!(take_over(&file, "abc"), 0);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "abc");
    }

    #[test]
    fn the_process_group_is_read_past_a_name_with_parentheses() {
        let own = std::process::id();
        // SAFETY: getpgrp(2) has no arguments and cannot fail.
        let group = unsafe { libc::getpgrp() };
        assert_eq!(process_group(own), Some(group));
    }
}
