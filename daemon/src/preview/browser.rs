//! Page checks in a real browser for the pipeline's verification ([`BrowserChecks`]): the
//! session's entry page, through its preview proxy, loaded and watched in headless Chromium
//! (devflow-browser) at the desktop and mobile viewports, with a screenshot of each.
//!
//! One Chromium serves every session. It is started lazily, by the first check, on a thread
//! of its own that lives as long as this value: Chromium's death signal is tied to the
//! thread that started it, so it must not be a runtime worker that may be retired or a
//! `spawn_blocking` thread that ends when idle. When Chromium dies, devflow-browser starts a
//! new one with the next check — on that same thread, since every check runs there.
//!
//! No Chromium (none found, the configured path is not an executable, `browserVerify` off,
//! or it cannot start) is not an error: the pipeline then verifies over HTTP only and the
//! Command says so, with [`LookError::Unavailable`]'s reason.
//!
//! The look after a patch that stays is remembered per session ([`BrowserChecks::remember`])
//! with the preview's page generation: while no file changes, it is the next command's
//! "before" ([`BrowserChecks::recall`]), so consecutive commands load the page once each.
//! A look at the page as it is before any command (the "baseline", taken when the preview
//! becomes ready or a file changes by hand) is remembered the same way; one look per session
//! runs at a time ([`BrowserChecks::baseline_turn`]), so a command that arrives while the
//! baseline is being taken waits for it instead of loading the page a second time.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use devflow_browser::{Browser, BrowserError, CheckOptions, LaunchOptions, PageCheck, Viewport};
use devflow_protocol::ViewportName;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::config::Config;

/// A session viewport with its wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedViewport {
    pub name: ViewportName,
    pub viewport: Viewport,
}

/// The viewports every command is checked at, in this order (DESIGN.md: desktop 1280×800,
/// mobile 390×844, device scale factor 1).
pub const VIEWPORTS: [NamedViewport; 2] = [
    NamedViewport {
        name: ViewportName::Desktop,
        viewport: Viewport::DESKTOP,
    },
    NamedViewport {
        name: ViewportName::Mobile,
        viewport: Viewport::MOBILE,
    },
];

/// How long a page is watched for errors after its `load` event. Short on purpose: every
/// command looks twice (before and after its patch), and errors thrown while the page runs
/// its scripts on load — what a patch breaks — arrive before `load` or right after it.
pub const WATCH: Duration = Duration::from_millis(500);
/// The limit of one page check (new tab, load, watch, screenshot, closing the tab).
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(15);
/// Page checks running at once, over all sessions (each is one tab).
const CONCURRENT_CHECKS: usize = 4;
/// After Chromium failed to start, checks answer "unavailable" for this long instead of
/// trying again (a start that fails can take the whole launch timeout).
const LAUNCH_RETRY_AFTER: Duration = Duration::from_secs(60);
/// How long a session's last look stays the "before" of its next command when no file has
/// changed since ([`BrowserChecks::recall`]); beyond it the page is looked at again, since
/// what it loads from elsewhere may have changed.
const REUSE_FOR: Duration = Duration::from_secs(300);
/// Sessions whose last look is kept (about 0.5 MB each: two PNGs).
const REMEMBERED_SESSIONS: usize = 32;

/// What the browser showed of one viewport.
#[derive(Debug, Clone)]
pub struct ViewLook {
    pub viewport: NamedViewport,
    pub check: PageCheck,
}

/// Why a look at the page has no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookError {
    /// No browser to look with; the reason goes into the Command's verification note.
    Unavailable(String),
    /// The page did not finish within [`CHECK_TIMEOUT`] (a script that never ends, a request
    /// that never answers).
    TimedOut(String),
    /// Chromium failed or refused something; not the page's fault.
    Failed(String),
}

impl std::fmt::Display for LookError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookError::Unavailable(why) | LookError::TimedOut(why) | LookError::Failed(why) => {
                f.write_str(why)
            }
        }
    }
}

/// One page check handed to the browser thread.
struct Request {
    url: String,
    options: CheckOptions,
    reply: oneshot::Sender<Result<PageCheck, LookError>>,
}

/// The daemon's browser: `None` inside when verification is HTTP-only.
pub struct BrowserChecks {
    inner: Result<Running, String>,
    /// Per session, the last look after a patch that stayed, with the page generation it
    /// was taken at.
    remembered: std::sync::Mutex<HashMap<String, Remembered>>,
    /// Per session, held while its baseline is looked at ([`BrowserChecks::baseline_turn`]).
    baseline_turns: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

struct Remembered {
    /// The page looked at (a restarted preview has another port).
    url: String,
    generation: u64,
    at: Instant,
    looks: Vec<ViewLook>,
}

struct Running {
    path: PathBuf,
    requests: mpsc::UnboundedSender<Request>,
    slots: Arc<Semaphore>,
}

impl BrowserChecks {
    /// HTTP-only verification, saying why.
    pub fn off(reason: impl Into<String>) -> BrowserChecks {
        BrowserChecks {
            inner: Err(reason.into()),
            remembered: Default::default(),
            baseline_turns: Default::default(),
        }
    }

    /// What the configuration asks for: the `chrome` path, else Chromium on `PATH`, unless
    /// `browserVerify` is off. `environment` is added to Chromium's (the preview owner token,
    /// so a Chromium a killed daemon left is ended with its dev servers at the next start).
    /// Nothing is started until the first check. Chromium's temporary profiles go under
    /// `<state dir>/chromium/`; what a killed daemon left there is removed here (the caller
    /// holds the state dir's lock).
    pub fn from_config(config: &Config, environment: Vec<(OsString, OsString)>) -> BrowserChecks {
        let profiles = config.state_dir.join("chromium");
        let removed = devflow_browser::remove_stale_profiles(&profiles);
        if removed > 0 {
            tracing::info!(removed, "removed Chromium profiles a previous daemon left");
        }
        if !config.browser_verify {
            return BrowserChecks::off("browser verification is off (browserVerify = false)");
        }
        let found = devflow_browser::find_chromium(
            config.chrome.as_deref(),
            std::env::var_os("PATH").as_deref(),
        );
        match found {
            Some(path) => {
                tracing::info!(chromium = %path.display(), "patches are verified in a browser");
                BrowserChecks::with_chromium(
                    path,
                    LaunchOptions {
                        environment,
                        profile_parent: Some(profiles),
                        ..LaunchOptions::default()
                    },
                )
            }
            None => {
                let reason = match &config.chrome {
                    Some(path) => format!(
                        "the configured Chromium ({}) is not an executable file",
                        path.display()
                    ),
                    None => {
                        "no Chromium found (set chrome / DEVFLOW_CHROME, or put chromium on PATH)"
                            .to_string()
                    }
                };
                tracing::info!("patches are verified over HTTP only: {reason}");
                BrowserChecks::off(reason)
            }
        }
    }

    /// Checks with the Chromium at `path`, started on a thread of its own at the first check.
    pub fn with_chromium(path: PathBuf, launch: LaunchOptions) -> BrowserChecks {
        let (requests, receiver) = mpsc::unbounded_channel();
        let thread_path = path.clone();
        let started = std::thread::Builder::new()
            .name("devflow-browser".into())
            .spawn(move || browser_thread(thread_path, launch, receiver));
        match started {
            Ok(_) => BrowserChecks {
                inner: Ok(Running {
                    path,
                    requests,
                    slots: Arc::new(Semaphore::new(CONCURRENT_CHECKS)),
                }),
                remembered: Default::default(),
                baseline_turns: Default::default(),
            },
            Err(error) => BrowserChecks::off(format!("cannot start the browser's thread: {error}")),
        }
    }

    /// The Chromium in use, or why there is none.
    pub fn chromium(&self) -> Result<&PathBuf, &str> {
        match &self.inner {
            Ok(running) => Ok(&running.path),
            Err(reason) => Err(reason),
        }
    }

    /// Loads `url` at every [`VIEWPORTS`] entry at once, each watched for [`WATCH`] with a
    /// screenshot. Fails as a whole when any viewport fails (the first failure is returned).
    pub async fn look(&self, url: &str) -> Result<Vec<ViewLook>, LookError> {
        let [desktop, mobile] = VIEWPORTS.map(|viewport| self.look_at(url, viewport));
        let started = Instant::now();
        let (desktop, mobile) = tokio::join!(desktop, mobile);
        tracing::debug!(
            ms = started.elapsed().as_millis() as u64,
            "looked at the page in the browser"
        );
        Ok(vec![desktop?, mobile?])
    }

    /// Loads `url` at one viewport, as [`BrowserChecks::look`] does at each (for pictures
    /// only one viewport is compared with: a candidate snap against a reference screen).
    pub async fn look_at(&self, url: &str, viewport: NamedViewport) -> Result<ViewLook, LookError> {
        let running = match &self.inner {
            Ok(running) => running,
            Err(reason) => return Err(LookError::Unavailable(reason.clone())),
        };
        let check = running.check(url, viewport.viewport).await?;
        Ok(ViewLook { viewport, check })
    }
}

impl BrowserChecks {
    /// Keeps `looks` (the page after a patch that stayed) as the session's page at
    /// `generation` ([`crate::parts::PreviewRuntime::page_generation`], read before looking).
    pub fn remember(&self, session_id: &str, url: &str, generation: u64, looks: &[ViewLook]) {
        let mut remembered = self
            .remembered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if remembered.len() >= REMEMBERED_SESSIONS && !remembered.contains_key(session_id) {
            let oldest = remembered
                .iter()
                .min_by_key(|(_, kept)| kept.at)
                .map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                remembered.remove(&oldest);
            }
        }
        remembered.insert(
            session_id.to_string(),
            Remembered {
                url: url.to_string(),
                generation,
                at: Instant::now(),
                looks: looks.to_vec(),
            },
        );
    }

    /// The session's remembered look when the page is still at `generation` and the look is
    /// recent: the next command's "before" without loading the page again.
    pub fn recall(&self, session_id: &str, url: &str, generation: u64) -> Option<Vec<ViewLook>> {
        let mut remembered = self
            .remembered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let kept = remembered.get(session_id)?;
        if kept.url == url && kept.generation == generation && kept.at.elapsed() < REUSE_FOR {
            return Some(kept.looks.clone());
        }
        remembered.remove(session_id);
        None
    }
}

impl BrowserChecks {
    /// The session's turn to take its baseline: whoever holds it looks at the page (or
    /// recalls the look), so two looks of one session's unchanged page never run at once.
    pub fn baseline_turn(&self, session_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut turns = self
            .baseline_turns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if turns.len() >= REMEMBERED_SESSIONS * 2 {
            // Turns nobody holds or waits for belong to sessions that are not looking now.
            turns.retain(|_, turn| Arc::strong_count(turn) > 1);
        }
        turns.entry(session_id.to_string()).or_default().clone()
    }
}

impl Running {
    async fn check(&self, url: &str, viewport: Viewport) -> Result<PageCheck, LookError> {
        // Closed only if the semaphore were closed, which nothing does.
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| LookError::Failed("the browser is shutting down".into()))?;
        let (reply, answer) = oneshot::channel();
        let request = Request {
            url: url.to_string(),
            options: CheckOptions {
                viewport,
                watch: WATCH,
                screenshot: true,
                timeout: CHECK_TIMEOUT,
            },
            reply,
        };
        if self.requests.send(request).is_err() {
            return Err(LookError::Unavailable(
                "the browser's thread has ended".into(),
            ));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(LookError::Failed("the browser dropped the check".into())))
    }
}

/// The browser's own thread: a single-threaded runtime that starts Chromium at the first
/// request and runs every check, each in a task of its own (checks overlap, one tab each).
/// Ends, with Chromium, when the [`BrowserChecks`] is dropped.
fn browser_thread(
    path: PathBuf,
    launch: LaunchOptions,
    mut requests: mpsc::UnboundedReceiver<Request>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the browser's runtime; verification is HTTP-only");
            return;
        }
    };
    runtime.block_on(async move {
        let mut browser: Option<Arc<Browser>> = None;
        let mut failed_launch: Option<(Instant, String)> = None;
        while let Some(request) = requests.recv().await {
            if browser.is_none() {
                if let Some((at, reason)) = &failed_launch {
                    if at.elapsed() < LAUNCH_RETRY_AFTER {
                        let _ = request.reply.send(Err(LookError::Unavailable(reason.clone())));
                        continue;
                    }
                }
                let started = Instant::now();
                match Browser::launch(&path, launch.clone()).await {
                    Ok(launched) => {
                        tracing::info!(
                            chromium = %path.display(),
                            pid = launched.pid(),
                            ms = started.elapsed().as_millis() as u64,
                            "Chromium started for verification"
                        );
                        browser = Some(Arc::new(launched));
                        failed_launch = None;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "Chromium did not start; verifying over HTTP only for now");
                        let reason = format!("Chromium did not start: {error}");
                        failed_launch = Some((Instant::now(), reason.clone()));
                        let _ = request.reply.send(Err(LookError::Unavailable(reason)));
                        continue;
                    }
                }
            }
            let Some(browser) = browser.clone() else {
                continue;
            };
            tokio::spawn(async move {
                let result = browser
                    .check_page(&request.url, &request.options)
                    .await
                    .map_err(|error| match error {
                        BrowserError::Timeout { .. } => LookError::TimedOut(error.to_string()),
                        other => LookError::Failed(other.to_string()),
                    });
                let _ = request.reply.send(result);
            });
        }
        // Every sender is gone: Chromium goes with the Browser, here, on its own thread.
        drop(browser);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_viewports_are_the_designed_sizes() {
        let sizes: Vec<(&str, u32, u32)> = VIEWPORTS
            .iter()
            .map(|v| (v.name.as_str(), v.viewport.width, v.viewport.height))
            .collect();
        assert_eq!(sizes, [("desktop", 1280, 800), ("mobile", 390, 844)]);
    }

    #[tokio::test]
    async fn without_a_browser_a_look_says_why() {
        let checks = BrowserChecks::off("browser verification is off (browserVerify = false)");
        assert_eq!(
            checks.chromium(),
            Err("browser verification is off (browserVerify = false)")
        );
        let error = checks.look("http://127.0.0.1:1/").await.unwrap_err();
        assert_eq!(
            error,
            LookError::Unavailable("browser verification is off (browserVerify = false)".into())
        );
    }

    #[test]
    fn a_look_is_recalled_only_at_the_same_generation() {
        let checks = BrowserChecks::off("none");
        let look = ViewLook {
            viewport: VIEWPORTS[0],
            check: PageCheck {
                console_errors: Vec::new(),
                exceptions: Vec::new(),
                failed_requests: Vec::new(),
                blank: false,
                title: "Home".into(),
                screenshot: None,
            },
        };
        let url = "http://127.0.0.1:4000/";
        assert!(checks.recall("s", url, 3).is_none());
        checks.remember("s", url, 3, std::slice::from_ref(&look));
        assert!(
            checks.recall("s", "http://127.0.0.1:4001/", 3).is_none(),
            "another preview"
        );
        checks.remember("s", url, 3, std::slice::from_ref(&look));
        assert_eq!(
            checks
                .recall("s", url, 3)
                .map(|l| l[0].check.title.clone())
                .as_deref(),
            Some("Home")
        );
        assert!(
            checks.recall("s", url, 4).is_none(),
            "the page changed since"
        );
        assert!(
            checks.recall("s", url, 3).is_none(),
            "a stale look is forgotten"
        );
        for i in 0..REMEMBERED_SESSIONS + 5 {
            checks.remember(&format!("s{i}"), url, 1, std::slice::from_ref(&look));
        }
        let kept = checks.remembered.lock().unwrap().len();
        assert_eq!(kept, REMEMBERED_SESSIONS);
    }

    #[test]
    fn a_configured_path_that_is_not_executable_means_no_browser() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new(dir.path().to_path_buf());
        config.chrome = Some(dir.path().join("nonexistent"));
        let checks = BrowserChecks::from_config(&config, Vec::new());
        let reason = checks.chromium().unwrap_err();
        assert!(reason.contains("not an executable file"), "{reason}");
        config.browser_verify = false;
        let checks = BrowserChecks::from_config(&config, Vec::new());
        assert!(checks.chromium().unwrap_err().contains("browserVerify"));
    }
}
