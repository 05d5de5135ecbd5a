//! The Chromium process: launched headless in its own process group with a throw-away
//! profile, its DevTools WebSocket address read from its stderr, and the whole group killed
//! (and the profile removed) when the [`ChromiumProcess`] goes — or, through
//! `PR_SET_PDEATHSIG`, when the process that launched it dies.
//!
//! Invariant: the group never outlives this value. `kill` is idempotent and runs on drop.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};

use crate::{BrowserError, LaunchOptions};

/// The name every temporary profile folder starts with.
pub const PROFILE_PREFIX: &str = "devflow-chromium-";

/// How many of Chromium's last stderr lines an error quotes.
const TAIL_LINES: usize = 12;

/// Flags for a quiet, deterministic, loopback-only headless Chromium.
const FLAGS: &[&str] = &[
    "--headless=new",
    "--disable-gpu",
    "--remote-debugging-port=0",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    // Screenshots in sRGB whatever the machine's display profile, so pixels compare.
    "--force-color-profile=srgb",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--disable-dev-shm-usage",
    // Nothing but the page under test goes on the network.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--metrics-recording-only",
    "--no-pings",
    "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication",
    // A tab that is not in front must still run its timers and paint at full speed, or a
    // check in it would wait on throttled work.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    "--disable-hang-monitor",
    "--password-store=basic",
    "--use-mock-keychain",
];

type Tail = Arc<Mutex<VecDeque<String>>>;

/// A running Chromium: the leader of its own process group.
pub(crate) struct ChromiumProcess {
    child: Mutex<Child>,
    pid: u32,
    profile: Mutex<Option<tempfile::TempDir>>,
    tail: Tail,
}

impl ChromiumProcess {
    /// Starts Chromium and waits (up to `options.launch_timeout`) for its DevTools address.
    ///
    /// Must be called from a thread that lives as long as the browser should (a runtime's
    /// worker or the caller's own thread, not a `spawn_blocking` thread, which ends when
    /// idle): `PR_SET_PDEATHSIG` fires when the thread that forked Chromium ends.
    pub(crate) async fn launch(
        path: &Path,
        options: &LaunchOptions,
    ) -> Result<(ChromiumProcess, String), BrowserError> {
        let launch_error = |reason: String| BrowserError::Launch {
            path: path.to_path_buf(),
            reason,
        };
        let builder = {
            let mut builder = tempfile::Builder::new();
            builder.prefix(PROFILE_PREFIX);
            builder
        };
        let profile = match &options.profile_parent {
            Some(parent) => {
                std::fs::create_dir_all(parent).and_then(|()| builder.tempdir_in(parent))
            }
            None => builder.tempdir(),
        }
        .map_err(|e| launch_error(format!("cannot make a temporary profile: {e}")))?;
        let home = profile.path().join("home");
        std::fs::create_dir_all(&home)
            .map_err(|e| launch_error(format!("cannot make a temporary profile: {e}")))?;

        let mut command = Command::new(path);
        command
            .args(FLAGS)
            .arg(format!(
                "--user-data-dir={}",
                profile.path().join("profile").display()
            ))
            .args(&options.extra_args);
        // SAFETY: geteuid(2) only reads the process's credentials.
        if unsafe { libc::geteuid() } == 0 {
            // Chromium's sandbox refuses to run as root; the pages are the person's own.
            command.arg("--no-sandbox");
        }
        command
            .arg("about:blank")
            .env_clear()
            .envs(child_environment(std::env::vars_os(), &home))
            .envs(options.environment.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0);
        let launcher = std::process::id() as libc::pid_t;
        // SAFETY: runs in the forked child before exec and calls only prctl(2) and
        // getppid(2), both async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The launcher may have died between fork and prctl; no signal would come.
                if libc::getppid() != launcher {
                    return Err(std::io::Error::other("the launching process exited"));
                }
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .map_err(|e| launch_error(format!("cannot run it: {e}")))?;
        let pid = child.id();
        let tail: Tail = Arc::default();
        let (address_tx, address_rx) = tokio::sync::oneshot::channel();
        if let Some(stderr) = child.stderr.take() {
            let tail = tail.clone();
            // A thread, not a task: it blocks on the pipe, and must keep draining it for
            // the browser's whole life (a full pipe would stall Chromium).
            std::thread::Builder::new()
                .name("chromium-stderr".into())
                .spawn(move || read_stderr(stderr, tail, address_tx))
                .map_err(|e| launch_error(format!("cannot read its output: {e}")))?;
        }
        let process = ChromiumProcess {
            child: Mutex::new(child),
            pid,
            profile: Mutex::new(Some(profile)),
            tail,
        };
        match tokio::time::timeout(options.launch_timeout, address_rx).await {
            Ok(Ok(address)) => Ok((process, address)),
            Ok(Err(_)) => {
                let status = process
                    .wait_for_exit(std::time::Duration::from_secs(2))
                    .await;
                Err(launch_error(process.with_tail(&format!(
                    "it exited before opening DevTools ({})",
                    status.map_or_else(|| "still running".to_string(), |s| s.to_string())
                ))))
            }
            Err(_) => Err(launch_error(process.with_tail(&format!(
                "no DevTools address within {} s",
                options.launch_timeout.as_secs_f64()
            )))),
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// The exit status once the process has ended.
    pub(crate) fn exit_status(&self) -> Option<ExitStatus> {
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        child.try_wait().ok().flatten()
    }

    /// Polls for the exit for up to `limit`: a crash closes the DevTools socket a moment
    /// before the kernel reports the exit.
    pub(crate) async fn wait_for_exit(&self, limit: std::time::Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// `message`, followed by Chromium's last stderr lines when there are any.
    pub(crate) fn with_tail(&self, message: &str) -> String {
        let tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
        if tail.is_empty() {
            return message.to_string();
        }
        let lines: Vec<&str> = tail.iter().map(String::as_str).collect();
        format!("{message}; Chromium's last output:\n{}", lines.join("\n"))
    }

    /// Kills the process group, reaps the leader and removes the profile. Idempotent.
    pub(crate) fn kill(&self) {
        let group = self.pid as libc::pid_t;
        {
            let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
            // The group id stays reserved while the leader is unreaped or any member lives;
            // only then is signalling it sure to reach Chromium and nothing else (a reaped
            // leader's id may have been reused once its whole group is gone).
            let reserved = matches!(child.try_wait(), Ok(None)) || live_group_members(group) > 0;
            if group > 0 && reserved {
                // SAFETY: kill(2) with a negative pid signals that process group; no memory
                // is involved. The group was made for Chromium (process_group(0)).
                unsafe {
                    libc::kill(-group, libc::SIGKILL);
                }
            }
            // SIGKILL cannot be caught, so this wait is short; it keeps a zombie from
            // lingering and lets the profile go without a process writing into it.
            let _ = child.wait();
        }
        // The helpers are not our children, so nothing can wait for them; a killed process
        // still runs until the kernel has torn it down, which takes a moment on a busy
        // machine. Watch until the group has no live member, so "gone when this returns"
        // holds; bounded, should something unkillable (a process in D state) linger.
        let deadline = std::time::Instant::now() + GROUP_EXIT_LIMIT;
        while live_group_members(group) > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let profile = self
            .profile
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(profile) = profile {
            let path = profile.path().to_path_buf();
            if let Err(error) = profile.close() {
                tracing::warn!(path = %path.display(), %error, "cannot remove Chromium's temporary profile");
            }
        }
    }
}

impl Drop for ChromiumProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How long [`ChromiumProcess::kill`] waits for the killed group to be torn down.
const GROUP_EXIT_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// How many processes of `group` are alive (zombies, which hold nothing but a table entry
/// until their new parent reaps them, do not count), from `/proc/<pid>/stat`.
fn live_group_members(group: libc::pid_t) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                return false;
            };
            // After the command name in parentheses (which may itself hold spaces and
            // parentheses): state, parent, process group.
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let mut fields = rest.split_whitespace();
            let state = fields.next();
            let process_group = fields.nth(1);
            state != Some("Z") && state != Some("X") && process_group == Some(&group.to_string())
        })
        .count()
}

/// Reads Chromium's stderr to its end: the first `DevTools listening on ws://…` line is
/// the address; every line goes to the tail and to the debug log.
fn read_stderr(
    stderr: std::process::ChildStderr,
    tail: Tail,
    address: tokio::sync::oneshot::Sender<String>,
) {
    let mut address = Some(address);
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if let Some(found) = line.strip_prefix("DevTools listening on ") {
            if let Some(sender) = address.take() {
                let _ = sender.send(found.trim().to_string());
            }
            continue;
        }
        tracing::debug!(target: "devflow_browser::chromium", "{line}");
        let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

/// The environment Chromium runs with: the caller's, without devflow's and AWS's settings
/// or anything named like a secret, and with HOME and the XDG folders inside the
/// temporary profile (Chromium writes there on first run).
fn child_environment(
    vars: impl Iterator<Item = (OsString, OsString)>,
    home: &Path,
) -> Vec<(OsString, OsString)> {
    let secret = |name: &str| {
        let upper = name.to_ascii_uppercase();
        upper.starts_with("DEVFLOW_")
            || upper.starts_with("AWS_")
            || ["TOKEN", "SECRET", "PASSWORD", "API_KEY", "CREDENTIAL"]
                .iter()
                .any(|word| upper.contains(word))
    };
    let mut environment: Vec<(OsString, OsString)> = vars
        .filter(|(name, _)| {
            let name = name.to_string_lossy();
            !secret(&name) && !name.starts_with("XDG_") && name != "HOME"
        })
        .collect();
    environment.push(("HOME".into(), home.into()));
    environment.push(("XDG_CONFIG_HOME".into(), home.join(".config").into()));
    environment.push(("XDG_CACHE_HOME".into(), home.join(".cache").into()));
    environment
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_loses_secrets_and_gets_a_private_home() {
        let vars = [
            ("PATH", "/usr/bin"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
            ("DEVFLOW_TOKEN", "x"),
            ("GITHUB_TOKEN", "x"),
            ("OPENAI_API_KEY", "x"),
            ("HOME", "/root"),
            ("XDG_CONFIG_HOME", "/root/.config"),
            ("LANG", "C.UTF-8"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let environment = child_environment(vars.into_iter(), Path::new("/tmp/p/home"));
        let names: Vec<String> = environment
            .iter()
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
            .collect();
        assert_eq!(
            names,
            [
                "PATH=/usr/bin",
                "LANG=C.UTF-8",
                "HOME=/tmp/p/home",
                "XDG_CONFIG_HOME=/tmp/p/home/.config",
                "XDG_CACHE_HOME=/tmp/p/home/.cache",
            ]
        );
    }
}
