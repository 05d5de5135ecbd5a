//! The live preview of each running session ([`SessionPreviews`], the daemon's
//! [`PreviewRuntime`]): the reload-injecting proxy (devflow-preview-proxy) on the session's
//! own loopback port — a different origin from the API, so the page cannot call the daemon —
//! in front of the folder served in-process or of the project's dev server
//! ([`devserver`]), plus the workspace watcher ([`watch`]).
//!
//! What the preview notices on its own (console errors relayed by the reload client, a dev
//! server crash, files changed by hand) leaves as [`PreviewEvent`]s on a channel that
//! [`forward_events`] turns into the session's PREVIEW_ERROR / PREVIEW_UPDATED events.
//!
//! A stop while the preview is still starting (installing dependencies, waiting for the dev
//! server) cancels the start: what it had started is killed and nothing is left running.
//!
//! Verification after a patch ([`PreviewRuntime::verify`]) compares the page with how it
//! was just before the patch was written (taken in [`PreviewRuntime::files_writing`]): the
//! entry page and its same-origin stylesheets and scripts over HTTP ([`verify`]), and the
//! errors the reload clients relay once they have applied the change. Where a browser is
//! found, the pipeline also looks at the page in it ([`browser`]).

pub mod browser;
pub mod detect;
pub mod devserver;
pub mod orphans;
pub mod page;
pub mod probe;
pub mod standalone;
pub mod verify;
pub mod watch;

use std::collections::{HashMap, HashSet, VecDeque};
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
    /// How long `verify` waits for the open pages to apply the change (reload or swap their
    /// stylesheets) before it reads what they reported.
    pub settle_timeout: Duration,
    /// Where the daemon run's [`orphans`] token is kept: processes a killed daemon left are
    /// ended at start-up. `None`: no clean-up (tests, embedded uses).
    pub owner_file: Option<PathBuf>,
}

impl Default for PreviewSettings {
    fn default() -> Self {
        PreviewSettings {
            ready_timeout: Duration::from_secs(120),
            install_timeout: Duration::from_secs(600),
            watch_window: watch::WINDOW,
            verify_timeout: Duration::from_secs(30),
            settle_timeout: Duration::from_secs(5),
            owner_file: None,
        }
    }
}

/// Recent errors kept per session for the proposer's context.
const RECENT_ERRORS: usize = 20;
/// The same error text is announced once per this window.
const REPEAT_WINDOW: Duration = Duration::from_secs(10);
/// PREVIEW_ERROR events per session per minute, at most.
const EVENTS_PER_MINUTE: usize = 30;
/// Page errors kept per session for comparing before and after a patch.
const PAGE_REPORTS: usize = 100;
/// After the pages have applied a change: errors they report this soon still count.
const REPORT_GRACE: Duration = Duration::from_millis(250);
/// How long the pre-patch look at the page may take.
const BASELINE_TIMEOUT: Duration = Duration::from_secs(5);

/// The previews of every running session.
pub struct SessionPreviews {
    settings: PreviewSettings,
    events: mpsc::Sender<PreviewEvent>,
    running: tokio::sync::Mutex<HashMap<String, Running>>,
    /// Starts under way, by session: a stop cancels them.
    starting: Mutex<HashMap<String, Starting>>,
    /// This run's [`orphans::OWNER_VAR`] token.
    owner: String,
    http: reqwest::Client,
}

/// The start's own side of its [`Starting`] entry.
struct StartTicket {
    id: u64,
    cancelled: tokio::sync::watch::Receiver<bool>,
    finished: tokio::sync::watch::Sender<bool>,
}

/// A start under way.
struct Starting {
    /// Tells each start apart (a restart replaces an older start of the same session).
    id: u64,
    cancel: tokio::sync::watch::Sender<bool>,
    /// Becomes true once the start has finished and cleaned up after itself.
    finished: tokio::sync::watch::Receiver<bool>,
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
    /// The page just before the files of a patch were written.
    baseline: Mutex<Option<Baseline>>,
    /// The last change devflow announced, and whether any page was open to apply it.
    announced: Mutex<Option<Announced>>,
    /// Bumped whenever the page may have changed ([`PreviewRuntime::page_generation`]).
    generation: std::sync::atomic::AtomicU64,
}

/// How the page was before a patch.
struct Baseline {
    page: Option<verify::PageState>,
    /// [`ErrorLog::page_seq`] then.
    errors_seq: u64,
    /// The page errors known then (kind and message).
    known_errors: HashSet<String>,
}

#[derive(Clone, Copy)]
struct Announced {
    seq: u64,
    clients: usize,
}

impl SessionPreviews {
    /// `events` receives what the previews notice on their own; give its receiver to
    /// [`forward_events`]. With [`PreviewSettings::owner_file`], first ends what a killed
    /// daemon left running.
    pub fn new(settings: PreviewSettings, events: mpsc::Sender<PreviewEvent>) -> Self {
        let owner = orphans::new_token();
        if let Some(file) = &settings.owner_file {
            orphans::take_over(file, &owner);
        }
        let http = verify::client(settings.verify_timeout);
        SessionPreviews {
            settings,
            events,
            running: tokio::sync::Mutex::new(HashMap::new()),
            starting: Mutex::new(HashMap::new()),
            owner,
            http,
        }
    }

    /// This run's [`orphans::OWNER_VAR`] token: other processes the daemon starts (Chromium)
    /// carry it too, so a killed daemon's are ended at the next start.
    pub fn owner_token(&self) -> &str {
        &self.owner
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
            baseline: Mutex::new(None),
            announced: Mutex::new(None),
            generation: std::sync::atomic::AtomicU64::new(first_generation()),
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
                        &self.owner,
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
                    owner: self.owner.clone(),
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

    /// Registers a start of `session_id` that a stop can cancel, cancelling an older one.
    fn begin_start(&self, session_id: &str) -> StartTicket {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (cancel, cancelled) = tokio::sync::watch::channel(false);
        let (finished_tx, finished) = tokio::sync::watch::channel(false);
        let older = self
            .starting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                session_id.to_string(),
                Starting {
                    id,
                    cancel,
                    finished,
                },
            );
        if let Some(older) = older {
            let _ = older.cancel.send(true);
        }
        StartTicket {
            id,
            cancelled,
            finished: finished_tx,
        }
    }

    fn end_start(&self, session_id: &str, id: u64) {
        let mut starting = self.starting.lock().unwrap_or_else(|p| p.into_inner());
        if starting.get(session_id).is_some_and(|s| s.id == id) {
            starting.remove(session_id);
        }
    }

    /// Launches under `cancelled`: a cancel drops the launch, and with it whatever it had
    /// started (installs and dev servers kill their process groups when dropped).
    async fn launch_cancellable(
        &self,
        session_id: &str,
        workspace: &Path,
        mut cancelled: tokio::sync::watch::Receiver<bool>,
    ) -> Result<PreviewHandle, String> {
        let running = tokio::select! {
            launched = self.launch(session_id, workspace) => launched?,
            _ = cancelled.wait_for(|cancel| *cancel) => {
                tracing::info!(session_id, "preview start cancelled: the session was stopped");
                return Err(STOPPED_WHILE_STARTING.into());
            }
        };
        let url = running.proxy.url();
        let mut map = self.running.lock().await;
        // A stop that came after the launch finished but before this point.
        if *cancelled.borrow() {
            drop(map);
            stop_running(running).await;
            tracing::info!(
                session_id,
                "preview start cancelled: the session was stopped"
            );
            return Err(STOPPED_WHILE_STARTING.into());
        }
        let previous = map.insert(session_id.to_string(), running);
        drop(map);
        if let Some(previous) = previous {
            stop_running(previous).await;
        }
        Ok(PreviewHandle { url })
    }
}

/// What `start` answers when a stop cancelled it.
const STOPPED_WHILE_STARTING: &str = "the session was stopped while its preview was starting";

#[async_trait]
impl PreviewRuntime for SessionPreviews {
    async fn start(&self, session_id: &str, workspace: &Path) -> Result<PreviewHandle, String> {
        self.stop(session_id).await;
        if !workspace.is_dir() {
            return Err(format!("{} is not a folder", workspace.display()));
        }
        let ticket = self.begin_start(session_id);
        let result = self
            .launch_cancellable(session_id, workspace, ticket.cancelled)
            .await;
        self.end_start(session_id, ticket.id);
        let _ = ticket.finished.send(true);
        result
    }

    async fn stop(&self, session_id: &str) {
        let starting = self
            .starting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(session_id);
        if let Some(starting) = starting {
            let _ = starting.cancel.send(true);
            let mut finished = starting.finished;
            // The start drops what it had begun as soon as it sees the cancel.
            if tokio::time::timeout(Duration::from_secs(10), finished.wait_for(|done| *done))
                .await
                .is_err()
            {
                tracing::warn!(
                    session_id,
                    "the cancelled preview start has not finished after 10 s"
                );
            }
        }
        let running = self.running.lock().await.remove(session_id);
        if let Some(running) = running {
            stop_running(running).await;
            tracing::info!(session_id, "preview stopped");
        }
    }

    async fn verify(&self, session_id: &str) -> Result<(), String> {
        let Some((addr, shared)) = self
            .running
            .lock()
            .await
            .get(session_id)
            .map(|r| (r.proxy.local_addr(), r.shared.clone()))
        else {
            return Ok(());
        };
        let baseline = shared
            .baseline
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let now = verify::check(&self.http, addr).await;
        if let Some(problem) = now.new_problem(baseline.as_ref().and_then(|b| b.page.as_ref())) {
            tracing::info!(session_id, "verification failed: {problem}");
            return Err(problem);
        }
        // The open pages report what went wrong once they have applied the change.
        let announced = *shared.announced.lock().unwrap_or_else(|p| p.into_inner());
        if let (Some(announced), Some(notifier)) = (announced, shared.notifier.get()) {
            if announced.clients > 0 {
                if !notifier
                    .settled(announced.seq, self.settings.settle_timeout)
                    .await
                {
                    tracing::debug!(session_id, "no page said it applied the change in time");
                }
                tokio::time::sleep(REPORT_GRACE).await;
            }
        }
        let new_error = {
            let errors = shared.errors.lock().unwrap_or_else(|p| p.into_inner());
            let (since, known) = match &baseline {
                Some(b) => (b.errors_seq, Some(&b.known_errors)),
                None => (errors.page_seq, None),
            };
            let found = errors
                .page_reports_since(since)
                .find(|report| known.is_none_or(|k| !k.contains(&report.key)))
                .map(|report| report.text.clone());
            found
        };
        if let Some(error) = new_error {
            tracing::info!(session_id, "verification failed: the page reported {error}");
            return Err(format!(
                "the page reported an error after the change: {error}"
            ));
        }
        Ok(())
    }

    async fn files_changed(&self, session_id: &str, files: &[String]) {
        let shared = match self.running.lock().await.get(session_id) {
            Some(running) => running.shared.clone(),
            None => return,
        };
        shared.page_changed();
        {
            let mut own = shared.own_writes.lock().unwrap_or_else(|p| p.into_inner());
            own.written(files, Instant::now(), |file| {
                digest(&shared.workspace, file)
            });
        }
        if let Some(notifier) = shared.notifier.get() {
            let clients = notifier.clients();
            let seq = notifier.changed(files);
            *shared.announced.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(Announced { seq, clients });
        }
    }

    async fn files_writing(&self, session_id: &str, files: &[String]) {
        let Some((addr, shared)) = self
            .running
            .lock()
            .await
            .get(session_id)
            .map(|r| (r.proxy.local_addr(), r.shared.clone()))
        else {
            return;
        };
        shared
            .own_writes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .writing(files, Instant::now());
        // The page as it is before these files change, for `verify` to compare with.
        let page = tokio::time::timeout(BASELINE_TIMEOUT, verify::check(&self.http, addr))
            .await
            .ok();
        let (errors_seq, known_errors) = {
            let errors = shared.errors.lock().unwrap_or_else(|p| p.into_inner());
            (
                errors.page_seq,
                errors.page_reports.iter().map(|r| r.key.clone()).collect(),
            )
        };
        *shared.baseline.lock().unwrap_or_else(|p| p.into_inner()) = Some(Baseline {
            page,
            errors_seq,
            known_errors,
        });
        *shared.announced.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    async fn page_generation(&self, session_id: &str) -> Option<u64> {
        self.running.lock().await.get(session_id).map(|running| {
            running
                .shared
                .generation
                .load(std::sync::atomic::Ordering::SeqCst)
        })
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
    fn page_changed(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

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
        self.errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .page_report(
                format!("{}: {}", report.kind, report.message),
                format!("{}: {text}", report.kind),
            );
        self.error(text, report.kind, true);
    }

    fn dev_event(&self, event: DevEvent) {
        match event {
            DevEvent::ErrorOutput(line) => {
                if line.to_ascii_lowercase().contains("error") {
                    self.error(line, "dev-server".into(), false);
                }
            }
            DevEvent::Crashed(summary) => {
                self.page_changed();
                self.error(summary, "dev-server".into(), true)
            }
            DevEvent::Back => {
                self.page_changed();
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
        self.page_changed();
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

/// Where a new preview's page generation starts: apart from every earlier preview's in this
/// process, so a look taken on a preview that was stopped never matches one started since.
fn first_generation() -> u64 {
    static LAUNCHES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    LAUNCHES.fetch_add(1, std::sync::atomic::Ordering::SeqCst) << 32
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
    /// How many errors the pages have reported so far (numbers [`PageReport::seq`]).
    page_seq: u64,
    /// The latest of them.
    page_reports: VecDeque<PageReport>,
}

/// One error a page reported.
struct PageReport {
    seq: u64,
    /// Kind and message, without where: the same error on a line a patch moved is not new.
    key: String,
    /// What verification says about it.
    text: String,
}

impl ErrorLog {
    fn page_report(&mut self, key: String, text: String) {
        self.page_seq += 1;
        if self.page_reports.len() == PAGE_REPORTS {
            self.page_reports.pop_front();
        }
        self.page_reports.push_back(PageReport {
            seq: self.page_seq,
            key,
            text,
        });
    }

    /// The page errors reported after the `seq`th.
    fn page_reports_since(&self, seq: u64) -> impl Iterator<Item = &PageReport> {
        self.page_reports.iter().filter(move |r| r.seq > seq)
    }

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
            // A change by hand: the next command's "before" is taken now, in the background.
            let changed = matches!(event.body, EventBody::PreviewUpdated { .. });
            if changed {
                service.prepare_baseline(&event.session_id);
            }
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
