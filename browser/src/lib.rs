//! devflow-browser: checks a preview page in a real, headless Chromium — console errors,
//! uncaught exceptions, failed same-origin requests, a blank page, the title and a
//! screenshot at an exact viewport — so the daemon can prove that a patch rendered without
//! new problems ([`PageCheck::new_problems`]) and show it as pictures.
//!
//! - [`Browser::find`] / [`find_chromium`]: where Chromium is; none means the caller verifies
//!   over HTTP only, which is not an error.
//! - [`Browser::launch`]: one Chromium process (`process.rs`: own process group, temporary
//!   profile, `PR_SET_PDEATHSIG`) reused by every [`Browser::check_page`]; each check runs in
//!   a fresh tab (`check.rs`) that is closed after it.
//!
//! CDP goes through chromiumoxide (typed commands and events; measured on two cores: about
//! 1 min 36 s for it and all its dependencies from nothing, 56 s on top of this workspace's
//! build, 47 s of which is its generated protocol crate). Chromiumoxide is only
//! connected to the Chromium launched here, so the process, its group and its profile stay
//! under this crate's control. Its protocol types are strict: an event whose enum value a
//! newer Chromium invented fails to decode and is dropped (with a warning in the log); the
//! tests run against the installed Chromium to catch that.
//!
//! Invariants: a check never outlives its [`CheckOptions::timeout`] (a hung page gives
//! [`BrowserError::Timeout`] naming the URL and the step, and its tab is closed in the
//! background); the Chromium process group never outlives the [`Browser`] value.

mod check;
mod find;
mod page_check;
mod process;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use chromiumoxide::cdp::browser_protocol::target::{CloseTargetParams, TargetId};
use chromiumoxide::handler::HandlerConfig;
use futures::StreamExt as _;

pub use find::{find_chromium, CHROMIUM_ENV, CHROMIUM_NAMES};
pub use page_check::{FailedRequest, PageCheck, BLANK_PAGE};

use process::ChromiumProcess;

/// A viewport in CSS pixels; screenshots are exactly this size (device scale factor 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewport {
    pub width: u32,
    pub height: u32,
}

impl Viewport {
    /// The default desktop viewport of a session.
    pub const DESKTOP: Viewport = Viewport {
        width: 1280,
        height: 800,
    };
    /// The default mobile viewport of a session (a phone's CSS size; the page is laid out
    /// at this width, without mobile emulation of `<meta name=viewport>` zooming).
    pub const MOBILE: Viewport = Viewport {
        width: 390,
        height: 844,
    };
}

/// How one page is checked.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckOptions {
    pub viewport: Viewport,
    /// How long the page is watched for errors after its `load` event.
    pub watch: Duration,
    /// Whether to take a PNG screenshot of the viewport.
    pub screenshot: bool,
    /// The limit for the whole check — tab, load, watch, reading, screenshot, closing the
    /// tab. Must leave room for `watch`.
    pub timeout: Duration,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            viewport: Viewport::DESKTOP,
            watch: Duration::from_millis(1500),
            screenshot: false,
            timeout: Duration::from_secs(20),
        }
    }
}

/// Removes the temporary profiles (`devflow-chromium-*`) left in `parent` by a Chromium
/// whose launcher was killed; how many. Only for a folder no running [`Browser`] uses (the
/// daemon calls it at start-up, holding its state dir's lock). Missing folder: 0.
pub fn remove_stale_profiles(parent: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.starts_with(process::PROFILE_PREFIX))
                && entry.file_type().is_ok_and(|kind| kind.is_dir())
        })
        .filter(|entry| std::fs::remove_dir_all(entry.path()).is_ok())
        .count()
}

/// How Chromium is started.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchOptions {
    /// How long Chromium may take to open DevTools.
    pub launch_timeout: Duration,
    /// More command-line flags, after devflow's own.
    pub extra_args: Vec<String>,
    /// More environment variables (e.g. an owner token an orphan sweep looks for), on top
    /// of the caller's environment less its secrets.
    pub environment: Vec<(OsString, OsString)>,
    /// Where the temporary profile folder (`devflow-chromium-*`) is made; `None`: the
    /// system's temp dir. A process killed with SIGKILL cannot remove its profile, so a
    /// caller with a folder of its own passes it and clears leftovers there at its next
    /// start ([`remove_stale_profiles`]).
    pub profile_parent: Option<PathBuf>,
}

impl Default for LaunchOptions {
    fn default() -> Self {
        LaunchOptions {
            launch_timeout: Duration::from_secs(30),
            extra_args: Vec::new(),
            environment: Vec::new(),
            profile_parent: None,
        }
    }
}

/// Why Chromium could not start or a page could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error("cannot start Chromium ({path}): {reason}")]
    Launch { path: PathBuf, reason: String },
    #[error("checking {url} took longer than {} ms (stuck {stage})", after.as_millis())]
    Timeout {
        url: String,
        stage: &'static str,
        after: Duration,
    },
    #[error("Chromium stopped while checking {url}: {detail}; the next check starts a new one")]
    Died { url: String, detail: String },
    #[error("Chromium refused a command while checking {url}: {message}")]
    Protocol { url: String, message: String },
}

/// One running Chromium with its CDP connection.
struct Session {
    process: ChromiumProcess,
    cdp: chromiumoxide::Browser,
    handler: tokio::task::JoinHandle<()>,
}

impl Session {
    async fn start(path: &Path, options: &LaunchOptions) -> Result<Session, BrowserError> {
        let (process, address) = ChromiumProcess::launch(path, options).await?;
        let config = HandlerConfig {
            // Emulation is set per check; a default viewport would be applied to each new
            // tab first and then replaced.
            viewport: None,
            // Each check sees the files as they are now, not a cached copy from before a patch.
            cache_enabled: false,
            // A backstop only: every check has its own, shorter deadline.
            request_timeout: Duration::from_secs(60),
            ..HandlerConfig::default()
        };
        let (cdp, mut handler) = chromiumoxide::Browser::connect_with_config(address, config)
            .await
            .map_err(|e| BrowserError::Launch {
                path: path.to_path_buf(),
                reason: process.with_tail(&format!("cannot connect to its DevTools: {e}")),
            })?;
        let handler = tokio::spawn(async move {
            // The handler drives the connection; it yields an error only when the socket is
            // gone (undecodable messages are skipped inside), so the first one ends it.
            while let Some(event) = handler.next().await {
                if let Err(error) = event {
                    tracing::debug!(%error, "Chromium's DevTools connection ended");
                    break;
                }
            }
        });
        Ok(Session {
            process,
            cdp,
            handler,
        })
    }

    fn is_alive(&self) -> bool {
        !self.handler.is_finished() && self.process.exit_status().is_none()
    }

    fn stop(&self) {
        self.handler.abort();
        self.process.kill();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A headless Chromium that checks pages, one process for many checks.
///
/// When the process dies, the check that was running returns [`BrowserError::Died`] and the
/// next [`Browser::check_page`] starts a new process (with the same path and options).
/// Checks may run concurrently (each in its own tab).
pub struct Browser {
    path: PathBuf,
    options: LaunchOptions,
    session: Mutex<Option<Arc<Session>>>,
    /// Held while a new process starts, so concurrent checks start only one.
    relaunch: tokio::sync::Mutex<()>,
}

impl Browser {
    /// The Chromium to use: `DEVFLOW_CHROME` when set, else the first of
    /// [`CHROMIUM_NAMES`] on `PATH`. The daemon passes its configured path to
    /// [`find_chromium`] instead. `None` means: verify over HTTP only.
    pub fn find() -> Option<PathBuf> {
        let configured = std::env::var_os(CHROMIUM_ENV).map(PathBuf::from);
        find_chromium(configured.as_deref(), std::env::var_os("PATH").as_deref())
    }

    /// Starts Chromium at `path`. Call it from an async task or a thread that lives as long
    /// as the browser should (not `spawn_blocking`): Chromium gets a death signal tied to
    /// the launching thread, so it cannot outlive a killed daemon.
    pub async fn launch(path: &Path, options: LaunchOptions) -> Result<Browser, BrowserError> {
        let session = Session::start(path, &options).await?;
        Ok(Browser {
            path: path.to_path_buf(),
            options,
            session: Mutex::new(Some(Arc::new(session))),
            relaunch: tokio::sync::Mutex::new(()),
        })
    }

    /// The running Chromium's process id (also its process group's), if one is running.
    pub fn pid(&self) -> Option<u32> {
        self.current()
            .filter(|session| session.is_alive())
            .map(|session| session.process.pid())
    }

    /// Whether the Chromium process is running and connected.
    pub fn is_alive(&self) -> bool {
        self.current().is_some_and(|session| session.is_alive())
    }

    /// Loads `url` in a new tab at `options.viewport`, waits for its `load` event, watches it
    /// for `options.watch`, reads it and (when asked) takes a screenshot, then closes the
    /// tab. The whole check is bounded by `options.timeout`.
    pub async fn check_page(
        &self,
        url: &str,
        options: &CheckOptions,
    ) -> Result<PageCheck, BrowserError> {
        let stage: check::Stage = Mutex::new("starting Chromium");
        let opened: Mutex<Option<TargetId>> = Mutex::new(None);
        let work = async {
            let session = self.running_session().await?;
            let outcome = check::run(&session.cdp, url, options, &opened, &stage).await;
            match outcome {
                Ok(check) => Ok(check),
                Err(failure) => Err(explain(&session, url, failure).await),
            }
        };
        let result = match tokio::time::timeout(options.timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(BrowserError::Timeout {
                url: url.to_string(),
                stage: *stage.lock().unwrap_or_else(PoisonError::into_inner),
                after: options.timeout,
            }),
        };
        let left_open = opened.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let (Some(target), Some(session)) = (left_open, self.current()) {
            close_in_background(Arc::downgrade(&session), target);
        }
        if let Err(error) = &result {
            tracing::debug!(url, %error, "page check failed");
        }
        result
    }

    fn current(&self) -> Option<Arc<Session>> {
        self.session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The running session, or a new one when the last has died.
    async fn running_session(&self) -> Result<Arc<Session>, BrowserError> {
        if let Some(session) = self.current().filter(|session| session.is_alive()) {
            return Ok(session);
        }
        let _starting = self.relaunch.lock().await;
        if let Some(session) = self.current().filter(|session| session.is_alive()) {
            return Ok(session);
        }
        if let Some(dead) = self.current() {
            dead.stop();
            tracing::info!(
                pid = dead.process.pid(),
                "Chromium had stopped; starting it again"
            );
        }
        let session = Arc::new(Session::start(&self.path, &self.options).await?);
        *self.session.lock().unwrap_or_else(PoisonError::into_inner) = Some(session.clone());
        Ok(session)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Killed here, not when the last Arc goes: a tab still closing in the background
        // must not keep the process alive past this value.
        let session = self
            .session
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(session) = session {
            session.stop();
        }
    }
}

/// Turns a failed CDP call into the error the caller acts on: the browser died (the next
/// check relaunches) or it refused something.
async fn explain(session: &Session, url: &str, failure: check::CdpFailure) -> BrowserError {
    let check::CdpFailure(message) = failure;
    let exited = session
        .process
        .wait_for_exit(Duration::from_millis(500))
        .await;
    match exited {
        Some(status) => BrowserError::Died {
            url: url.to_string(),
            detail: session
                .process
                .with_tail(&format!("the process exited ({status}) after: {message}")),
        },
        None if session.handler.is_finished() => BrowserError::Died {
            url: url.to_string(),
            detail: format!("the DevTools connection closed after: {message}"),
        },
        None => BrowserError::Protocol {
            url: url.to_string(),
            message,
        },
    }
}

/// Closes a tab a check left open (it timed out or failed), without making the caller wait;
/// gives up after a few seconds or when the browser is gone.
fn close_in_background(session: Weak<Session>, target: TargetId) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let Some(session) = session.upgrade() else {
            return;
        };
        let close = session.cdp.execute(CloseTargetParams::new(target));
        if let Ok(Err(error)) = tokio::time::timeout(Duration::from_secs(5), close).await {
            tracing::debug!(%error, "cannot close a checked tab");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_leftover_profiles_are_removed() {
        let parent = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(parent.path().join("devflow-chromium-a1/profile")).unwrap();
        std::fs::create_dir(parent.path().join("devflow-chromium-b2")).unwrap();
        std::fs::create_dir(parent.path().join("keep-me")).unwrap();
        std::fs::write(parent.path().join("devflow-chromium-file"), "").unwrap();
        assert_eq!(remove_stale_profiles(parent.path()), 2);
        let mut left: Vec<String> = std::fs::read_dir(parent.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["devflow-chromium-file", "keep-me"]);
        assert_eq!(remove_stale_profiles(&parent.path().join("missing")), 0);
    }
}
