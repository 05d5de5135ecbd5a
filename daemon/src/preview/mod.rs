//! The live preview of each running session ([`SessionPreviews`], the daemon's
//! [`PreviewRuntime`]): the reload-injecting proxy (devflow-preview-proxy) on the session's
//! own loopback port — a different origin from the API, so the page cannot call the daemon —
//! in front of the folder served in-process or of the project's dev server
//! ([`devserver`]), plus the workspace watcher ([`watch`]).
//!
//! What the preview notices on its own (console errors relayed by the reload client, a dev
//! server crash, files changed by hand) leaves as [`PreviewEvent`]s on a channel that
//! [`forward_events`] turns into the session's PREVIEW_ERROR / PREVIEW_UPDATED events.

pub mod detect;
pub mod devserver;
pub mod probe;
pub mod standalone;
pub mod watch;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use devflow_preview_proxy::{ClientReport, Notifier, Proxy, ProxyConfig, ProxyHandle, Upstream};
use devflow_protocol::EventBody;
use tokio::sync::mpsc;

use crate::parts::{PreviewHandle, PreviewRuntime};
use detect::Plan;
use devserver::{DevEvent, DevServer, DevServerSpec};
use watch::OwnWrites;

/// Something a session's preview noticed by itself, for its event stream.
#[derive(Debug, Clone)]
pub struct PreviewEvent {
    pub session_id: String,
    pub body: EventBody,
}

/// Limits and timings of the previews.
#[derive(Debug, Clone)]
pub struct PreviewSettings {
    /// How long a dev server may take to answer HTTP after it starts.
    pub ready_timeout: Duration,
    /// How long installing dependencies may take.
    pub install_timeout: Duration,
    /// The watcher's coalescing window.
    pub watch_window: Duration,
    /// How long `verify` waits for the page.
    pub verify_timeout: Duration,
}

impl Default for PreviewSettings {
    fn default() -> Self {
        PreviewSettings {
            ready_timeout: Duration::from_secs(120),
            install_timeout: Duration::from_secs(600),
            watch_window: watch::WINDOW,
            verify_timeout: Duration::from_secs(30),
        }
    }
}

/// Recent errors kept per session for the proposer's context.
const RECENT_ERRORS: usize = 20;
/// The same error text is announced once per this window.
const REPEAT_WINDOW: Duration = Duration::from_secs(10);
/// PREVIEW_ERROR events per session per minute, at most.
const EVENTS_PER_MINUTE: usize = 30;

/// The previews of every running session.
pub struct SessionPreviews {
    settings: PreviewSettings,
    events: mpsc::Sender<PreviewEvent>,
    running: tokio::sync::Mutex<HashMap<String, Running>>,
}

struct Running {
    proxy: ProxyHandle,
    dev: Option<DevServer>,
    _watcher: Option<watch::Watcher>,
    shared: Arc<Shared>,
}

/// What the proxy's, the dev server's and the watcher's callbacks share.
struct Shared {
    session_id: String,
    workspace: PathBuf,
    events: mpsc::Sender<PreviewEvent>,
    notifier: OnceLock<Notifier>,
    own_writes: Mutex<OwnWrites>,
    errors: Mutex<ErrorLog>,
}

impl SessionPreviews {
    /// `events` receives what the previews notice on their own; give its receiver to
    /// [`forward_events`].
    pub fn new(settings: PreviewSettings, events: mpsc::Sender<PreviewEvent>) -> Self {
        SessionPreviews {
            settings,
            events,
            running: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The proxy's address of a running session (tests, diagnostics).
    pub async fn proxy_addr(&self, session_id: &str) -> Option<SocketAddr> {
        self.running
            .lock()
            .await
            .get(session_id)
            .map(|r| r.proxy.local_addr())
    }

    async fn launch(&self, session_id: &str, workspace: &Path) -> Result<Running, String> {
        let shared = Arc::new(Shared {
            session_id: session_id.to_string(),
            workspace: workspace.to_path_buf(),
            events: self.events.clone(),
            notifier: OnceLock::new(),
            own_writes: Mutex::new(OwnWrites::default()),
            errors: Mutex::new(ErrorLog::default()),
        });
        let package_json = std::fs::read_to_string(workspace.join("package.json")).ok();
        let plan = detect::plan(package_json.as_deref(), |name| {
            workspace.join(name).exists()
        })
        .unwrap_or_else(|warning| {
            tracing::warn!(session_id, "{warning}");
            Plan::Static
        });
        let (upstream, dev) = match plan {
            Plan::Static => {
                tracing::info!(session_id, "serving the folder as a static site");
                (Upstream::Static(workspace.to_path_buf()), None)
            }
            Plan::Script { manager, script } => {
                if !workspace.join("node_modules").is_dir() && !workspace.join(".pnp.cjs").is_file()
                {
                    devserver::install(
                        session_id,
                        workspace,
                        manager,
                        self.settings.install_timeout,
                    )
                    .await?;
                }
                let spec = DevServerSpec {
                    session_id: session_id.to_string(),
                    workspace: workspace.to_path_buf(),
                    manager,
                    script,
                    port: free_port()?,
                    ready_timeout: self.settings.ready_timeout,
                };
                let events = shared.clone();
                let dev =
                    DevServer::start(spec, Arc::new(move |event| events.dev_event(event))).await?;
                (Upstream::Http(format!("http://{}", dev.addr)), Some(dev))
            }
        };
        let reports = shared.clone();
        let config = ProxyConfig::new(upstream).on_report(move |report| reports.page_error(report));
        let proxy = Proxy::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config)
            .await
            .map_err(|e| format!("cannot open the preview port: {e}"))?;
        let _ = shared.notifier.set(proxy.notifier());
        let changes = shared.clone();
        let watcher = match watch::watch(workspace, self.settings.watch_window, move |files| {
            changes.files_changed_on_disk(files)
        }) {
            Ok(watcher) => Some(watcher),
            Err(error) => {
                tracing::warn!(session_id, %error, "cannot watch the workspace; edits made by hand will not refresh the preview");
                None
            }
        };
        let status = probe::http_status(proxy.local_addr(), "/", self.settings.verify_timeout)
            .await
            .map_err(|e| format!("the preview does not answer: {e}"))?;
        tracing::info!(session_id, url = %proxy.url(), status, "preview ready");
        Ok(Running {
            proxy,
            dev,
            _watcher: watcher,
            shared,
        })
    }
}

#[async_trait]
impl PreviewRuntime for SessionPreviews {
    async fn start(&self, session_id: &str, workspace: &Path) -> Result<PreviewHandle, String> {
        self.stop(session_id).await;
        if !workspace.is_dir() {
            return Err(format!("{} is not a folder", workspace.display()));
        }
        let running = self.launch(session_id, workspace).await?;
        let url = running.proxy.url();
        if let Some(previous) = self
            .running
            .lock()
            .await
            .insert(session_id.to_string(), running)
        {
            stop_running(previous).await;
        }
        Ok(PreviewHandle { url })
    }

    async fn stop(&self, session_id: &str) {
        let running = self.running.lock().await.remove(session_id);
        if let Some(running) = running {
            stop_running(running).await;
            tracing::info!(session_id, "preview stopped");
        }
    }

    async fn verify(&self, session_id: &str) -> Result<(), String> {
        let Some(addr) = self.proxy_addr(session_id).await else {
            return Ok(());
        };
        match probe::http_status(addr, "/", self.settings.verify_timeout).await? {
            status if status < 500 => Ok(()),
            status => Err(format!("the page answers HTTP {status}")),
        }
    }

    async fn files_changed(&self, session_id: &str, files: &[String]) {
        let shared = match self.running.lock().await.get(session_id) {
            Some(running) => running.shared.clone(),
            None => return,
        };
        {
            let mut own = shared.own_writes.lock().unwrap_or_else(|p| p.into_inner());
            own.written(files, Instant::now(), |file| {
                digest(&shared.workspace, file)
            });
        }
        if let Some(notifier) = shared.notifier.get() {
            notifier.changed(files);
        }
    }

    async fn files_writing(&self, session_id: &str, files: &[String]) {
        if let Some(running) = self.running.lock().await.get(session_id) {
            running
                .shared
                .own_writes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .writing(files, Instant::now());
        }
    }

    async fn recent_errors(&self, session_id: &str) -> Vec<String> {
        match self.running.lock().await.get(session_id) {
            Some(running) => running
                .shared
                .errors
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .recent
                .iter()
                .cloned()
                .collect(),
            None => Vec::new(),
        }
    }
}

async fn stop_running(running: Running) {
    let Running {
        proxy,
        dev,
        _watcher,
        shared: _,
    } = running;
    drop(_watcher);
    if let Some(dev) = dev {
        dev.stop().await;
    }
    proxy.shutdown();
}

impl Shared {
    fn emit(&self, body: EventBody) {
        let event = PreviewEvent {
            session_id: self.session_id.clone(),
            body,
        };
        if self.events.try_send(event).is_err() {
            tracing::debug!(session_id = %self.session_id, "preview event dropped: the event queue is full");
        }
    }

    /// A console error / uncaught exception relayed by the reload client.
    fn page_error(&self, report: ClientReport) {
        let location = match (&report.url, report.line) {
            (Some(url), Some(line)) => format!(" (at {url}:{line}:{})", report.column.unwrap_or(0)),
            (Some(url), None) => format!(" (at {url})"),
            _ => String::new(),
        };
        let text = format!("{}{location}", report.message);
        tracing::info!(session_id = %self.session_id, kind = %report.kind, "page error: {text}");
        self.error(text, report.kind, true);
    }

    fn dev_event(&self, event: DevEvent) {
        match event {
            DevEvent::ErrorOutput(line) => {
                if line.to_ascii_lowercase().contains("error") {
                    self.error(line, "dev-server".into(), false);
                }
            }
            DevEvent::Crashed(summary) => self.error(summary, "dev-server".into(), true),
            DevEvent::Back => {
                if let Some(notifier) = self.notifier.get() {
                    notifier.reload();
                }
            }
        }
    }

    /// Keeps `text` among the recent errors and, when `announce` and not a repeat,
    /// publishes it as PREVIEW_ERROR.
    fn error(&self, text: String, source: String, announce: bool) {
        let publish = self
            .errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(&format!("{source}: {text}"), announce, Instant::now());
        if publish {
            self.emit(EventBody::PreviewError {
                message: text,
                source: Some(source),
            });
        }
    }

    /// A watcher batch: what devflow did not write itself reloads the page and becomes a
    /// PREVIEW_UPDATED without a patch id.
    fn files_changed_on_disk(&self, files: Vec<String>) {
        let files = self
            .own_writes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .others(files, Instant::now(), |file| digest(&self.workspace, file));
        let files: Vec<String> = files.into_iter().filter(|f| !f.is_empty()).collect();
        if files.is_empty() {
            return;
        }
        tracing::info!(session_id = %self.session_id, files = ?files, "files changed on disk");
        if let Some(notifier) = self.notifier.get() {
            notifier.changed(&files);
        }
        let css_only = files.iter().all(|f| f.ends_with(".css"));
        self.emit(EventBody::PreviewUpdated {
            patch_id: None,
            files,
            css_only,
        });
    }
}

/// A file's content digest (`None` when it is gone).
fn digest(workspace: &Path, file: &str) -> Option<Vec<u8>> {
    use sha2::Digest as _;
    let bytes = std::fs::read(workspace.join(file)).ok()?;
    Some(sha2::Sha256::digest(&bytes).to_vec())
}

/// The recent errors of one session, and what was announced when.
#[derive(Default)]
struct ErrorLog {
    recent: VecDeque<String>,
    announced: VecDeque<(String, Instant)>,
}

impl ErrorLog {
    /// Keeps the error; true when it should be announced now (not a repeat within
    /// [`REPEAT_WINDOW`], and under [`EVENTS_PER_MINUTE`]).
    fn record(&mut self, text: &str, announce: bool, now: Instant) -> bool {
        if self.recent.back().map(String::as_str) != Some(text) {
            if self.recent.len() == RECENT_ERRORS {
                self.recent.pop_front();
            }
            self.recent.push_back(text.to_string());
        }
        if !announce {
            return false;
        }
        while self
            .announced
            .front()
            .is_some_and(|(_, at)| now.duration_since(*at) > Duration::from_secs(60))
        {
            self.announced.pop_front();
        }
        let repeat = self
            .announced
            .iter()
            .any(|(seen, at)| seen == text && now.duration_since(*at) < REPEAT_WINDOW);
        if repeat || self.announced.len() >= EVENTS_PER_MINUTE {
            return false;
        }
        self.announced.push_back((text.to_string(), now));
        true
    }
}

/// A free loopback port for a dev server (the OS picks; released at once).
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// Publishes what the previews notice into each session's event stream. Runs until every
/// sender is gone.
pub fn forward_events(
    service: crate::service::Service,
    mut events: mpsc::Receiver<PreviewEvent>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let Err(error) = service
                .events()
                .publish(&event.session_id, None, event.body)
                .await
            {
                tracing::warn!(session_id = %event.session_id, %error, "cannot record a preview event");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_errors_are_announced_once_per_window_and_capped_per_minute() {
        let t0 = Instant::now();
        let mut log = ErrorLog::default();
        assert!(log.record("x is undefined", true, t0));
        assert!(!log.record("x is undefined", true, t0 + Duration::from_secs(1)));
        assert!(log.record("x is undefined", true, t0 + REPEAT_WINDOW * 2));
        assert_eq!(log.recent.len(), 1, "consecutive repeats are kept once");
        let announced = (0..100)
            .filter(|i| log.record(&format!("error {i}"), true, t0 + REPEAT_WINDOW * 2))
            .count();
        assert_eq!(announced, EVENTS_PER_MINUTE - 2);
        assert_eq!(log.recent.len(), RECENT_ERRORS);
        assert!(!log.record("quiet", false, t0), "kept, not announced");
    }
}
