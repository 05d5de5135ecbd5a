//! The browser IDE of each session (seeds 001/004): one code-server per session, a child of
//! the daemon on a private loopback port, reached only through the daemon's own port under
//! `/editor/{sessionId}/` ([`proxy`]) with a signed, expiring grant ([`grant`]).
//!
//! [`Editors`] owns the instances: started on the first `editorUrl` or request, reused
//! after, stopped with the session, after [`EditorSettings::idle_timeout`] without a browser,
//! and restarted with back-off when code-server crashes. Invariant: every code-server this
//! module starts is in its own process group, and that group is killed when the instance
//! stops or the daemon exits.

pub mod grant;
pub mod launch;
pub mod proxy;

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::config::Config;
use crate::metrics::Metrics;
use grant::{GrantError, GrantKind, SECRET_LEN};
use launch::{LaunchSpec, Running};

/// How long the browser cookie a link is exchanged for stays valid. Longer than a link
/// (links leak into histories and chats; the HttpOnly cookie does not), bounded by seed 001's
/// longest session.
pub const COOKIE_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// A crash within this time of a start counts toward giving up.
const HEALTHY_UPTIME: Duration = Duration::from_secs(60);
/// Back-to-back failed starts or early crashes before the instance gives up; the next
/// request starts a fresh one.
const MAX_QUICK_FAILURES: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Where code-server and the extension are, and the editors' timings.
#[derive(Debug, Clone)]
pub struct EditorSettings {
    /// The folder `scripts/install-editor` installs into: holds
    /// `node_modules/code-server/out/node/entry.js` (`DEVFLOW_CODE_SERVER_DIR`, default
    /// `~/.cache/devflow/code-server`).
    pub code_server_dir: PathBuf,
    /// The devflow extension package (`DEVFLOW_EDITOR_VSIX`, default
    /// `<code_server_dir>/devflow.vsix`).
    pub vsix: PathBuf,
    /// The node that runs code-server (`node` on PATH; 4.100.3 needs node 20).
    pub node: OsString,
    /// Lifetime of an `editorUrl` grant (`editorGrantTtl`, `DEVFLOW_EDITOR_GRANT_TTL`).
    pub grant_ttl: Duration,
    /// Time without a connected browser after which code-server is stopped
    /// (`DEVFLOW_EDITOR_IDLE_SECS`, default 15 minutes).
    pub idle_timeout: Duration,
    /// `<state dir>/editors`: one folder per session, plus the grant secret beside it.
    pub state_dir: PathBuf,
}

impl EditorSettings {
    pub fn from_config(config: &Config) -> Self {
        Self::from_env(config, &|name| std::env::var_os(name))
    }

    /// The settings with the environment read through `env` (tests hand in a map).
    pub fn from_env(config: &Config, env: &dyn Fn(&str) -> Option<OsString>) -> Self {
        let set = |name: &str| env(name).filter(|value| !value.is_empty());
        let code_server_dir = set("DEVFLOW_CODE_SERVER_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(default_code_server_dir);
        let vsix = set("DEVFLOW_EDITOR_VSIX")
            .map(PathBuf::from)
            .unwrap_or_else(|| code_server_dir.join("devflow.vsix"));
        let idle_timeout = set("DEVFLOW_EDITOR_IDLE_SECS")
            .and_then(|v| v.to_str().and_then(|v| v.trim().parse::<u64>().ok()))
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(15 * 60));
        EditorSettings {
            code_server_dir,
            vsix,
            node: "node".into(),
            grant_ttl: config.editor_grant_ttl,
            idle_timeout,
            state_dir: config.state_dir.clone(),
        }
    }

    /// code-server's entry point in [`Self::code_server_dir`].
    pub fn entry(&self) -> PathBuf {
        self.code_server_dir
            .join("node_modules/code-server/out/node/entry.js")
    }

    fn session_state(&self, session_id: &str) -> PathBuf {
        self.state_dir.join("editors").join(session_id)
    }
}

fn default_code_server_dir() -> PathBuf {
    dirs::home_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join(".cache/devflow/code-server")
}

/// Why an editor cannot be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditorError {
    /// code-server or the extension package is missing; the message says how to install.
    #[error("{0}")]
    NotInstalled(String),
    /// Only `devflow serve` has the HTTP port the editor is served on.
    #[error("the browser IDE is served by `devflow serve`; this daemon has no HTTP port")]
    NoHttpPort,
    /// code-server did not start or stopped; the message has the end of its output.
    #[error("{0}")]
    Failed(String),
    #[error("{0}")]
    Secret(String),
    /// Stopped with its session; a new `editorUrl` opens it again.
    #[error("this editor was closed when its session stopped; ask for a new editorUrl (GET /sessions/{{id}}/editor)")]
    Closed,
}

/// What the extension inside code-server needs to reach this daemon.
#[derive(Debug, Clone)]
struct DaemonAccess {
    base_url: String,
    token: String,
}

/// The daemon's editors, one per session at most.
pub struct Editors {
    settings: EditorSettings,
    metrics: Arc<Metrics>,
    secret: OnceLock<[u8; SECRET_LEN]>,
    access: RwLock<Option<DaemonAccess>>,
    instances: Mutex<Instances>,
    http: proxy::HttpClient,
}

#[derive(Default)]
struct Instances {
    running: HashMap<String, Arc<Instance>>,
    /// Sessions whose editor was stopped with the session: no request starts it again (a
    /// workbench reconnecting while its session stops would otherwise revive it) until a
    /// new `editorUrl` is asked for.
    closed: HashSet<String>,
}

impl Editors {
    pub fn new(settings: EditorSettings, metrics: Arc<Metrics>) -> Self {
        Editors {
            settings,
            metrics,
            secret: OnceLock::new(),
            access: RwLock::new(None),
            instances: Mutex::new(Instances::default()),
            http: proxy::http_client(),
        }
    }

    pub fn settings(&self) -> &EditorSettings {
        &self.settings
    }

    /// Tells the editors where this daemon answers and with which token: written into each
    /// code-server's user settings so the extension talks to this daemon, not a second one.
    /// Called by the HTTP transport; without it (`devflow lsp`) there is no editor.
    /// An empty `base_url` (a router without a public address) leaves the editors off:
    /// `editorUrl` must be absolute.
    pub fn serve_on(&self, base_url: &str, token: &str) {
        let base_url = base_url.trim_end_matches('/');
        let mut access = self.access.write().unwrap_or_else(|p| p.into_inner());
        *access = (!base_url.is_empty()).then(|| DaemonAccess {
            base_url: base_url.to_string(),
            token: token.to_string(),
        });
    }

    /// `Ok` when code-server and the extension package are where the settings say.
    pub fn check_installed(&self) -> Result<(), EditorError> {
        let entry = self.settings.entry();
        let how = "run `scripts/install-editor` in the devflow repository (installs code-server 4.100.3 and the devflow extension into ~/.cache/devflow/code-server, about 35 s), or point DEVFLOW_CODE_SERVER_DIR / DEVFLOW_EDITOR_VSIX at an existing install";
        if !entry.is_file() {
            return Err(EditorError::NotInstalled(format!(
                "code-server is not installed: no {}; {how}",
                entry.display()
            )));
        }
        if !self.settings.vsix.is_file() {
            return Err(EditorError::NotInstalled(format!(
                "the devflow extension package is missing: no {}; {how}",
                self.settings.vsix.display()
            )));
        }
        Ok(())
    }

    /// A fresh `editorUrl` for a session and its expiry (unix seconds); the session's
    /// editor may start again.
    pub fn link(&self, session_id: &str, now_secs: i64) -> Result<(String, i64), EditorError> {
        let base = self.base_url().ok_or(EditorError::NoHttpPort)?;
        self.instances
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .closed
            .remove(session_id);
        let ttl = i64::try_from(self.settings.grant_ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let expires_at = now_secs.saturating_add(ttl.max(1));
        let grant = grant::sign(
            self.secret()?,
            GrantKind::Link,
            session_id,
            expires_at,
            &rand::random(),
        );
        Ok((
            format!("{base}{}?grant={grant}", proxy::prefix(session_id)),
            expires_at,
        ))
    }

    pub(crate) fn verify(
        &self,
        kind: GrantKind,
        session_id: &str,
        grant: &str,
        now_secs: i64,
    ) -> Result<i64, GrantError> {
        let secret = self.secret().map_err(|_| GrantError::BadSignature)?;
        grant::verify(secret, kind, session_id, grant, now_secs)
    }

    /// The cookie grant a valid link is exchanged for.
    pub(crate) fn cookie_grant(
        &self,
        session_id: &str,
        now_secs: i64,
    ) -> Result<String, EditorError> {
        let expires_at = now_secs + COOKIE_LIFETIME.as_secs() as i64;
        Ok(grant::sign(
            self.secret()?,
            GrantKind::Cookie,
            session_id,
            expires_at,
            &rand::random(),
        ))
    }

    fn base_url(&self) -> Option<String> {
        let access = self.access.read().unwrap_or_else(|p| p.into_inner());
        access.as_ref().map(|a| a.base_url.clone())
    }

    fn secret(&self) -> Result<&[u8; SECRET_LEN], EditorError> {
        if let Some(secret) = self.secret.get() {
            return Ok(secret);
        }
        let loaded = load_or_create_secret(&self.settings.state_dir).map_err(|e| {
            EditorError::Secret(format!("cannot read or create the editor secret: {e}"))
        })?;
        Ok(self.secret.get_or_init(|| loaded))
    }

    /// The session's running (or starting) editor, started when there is none.
    pub fn ensure(&self, session_id: &str, workspace: &Path) -> Result<Arc<Instance>, EditorError> {
        self.check_installed()?;
        let access = {
            let access = self.access.read().unwrap_or_else(|p| p.into_inner());
            access.clone().ok_or(EditorError::NoHttpPort)?
        };
        let mut instances = self.instances.lock().unwrap_or_else(|p| p.into_inner());
        if instances.closed.contains(session_id) {
            return Err(EditorError::Closed);
        }
        if let Some(instance) = instances.running.get(session_id) {
            if !instance.is_over() {
                return Ok(instance.clone());
            }
        }
        let spec = LaunchSpec {
            session_id: session_id.to_string(),
            workspace: workspace.to_path_buf(),
            state: self.settings.session_state(session_id),
            entry: self.settings.entry(),
            vsix: self.settings.vsix.clone(),
            node: self.settings.node.clone(),
            daemon_url: access.base_url,
            token: access.token,
        };
        let instance = Instance::spawn(spec, self.metrics.clone(), self.settings.idle_timeout);
        instances
            .running
            .insert(session_id.to_string(), instance.clone());
        Ok(instance)
    }

    /// Stops the session's editor, if any, and returns once its processes are gone; no
    /// request starts it again before the next [`Self::link`].
    pub async fn stop(&self, session_id: &str) {
        let instance = {
            let mut instances = self.instances.lock().unwrap_or_else(|p| p.into_inner());
            instances.closed.insert(session_id.to_string());
            instances.running.remove(session_id)
        };
        if let Some(instance) = instance {
            instance.stop().await;
            tracing::info!(session_id, "editor stopped with its session");
        }
    }

    /// Removes the session's editor state (settings, installed extension, IDE history).
    pub fn remove_state(&self, session_id: &str) {
        self.instances
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .closed
            .remove(session_id);
        let dir = self.settings.session_state(session_id);
        if let Err(error) = std::fs::remove_dir_all(&dir) {
            if error.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(session_id, %error, "could not remove the editor state");
            }
        }
    }

    /// Per running editor: session id, resident memory of its whole process group (bytes)
    /// and seconds its last start took.
    pub fn usage(&self) -> Vec<EditorUsage> {
        let instances: Vec<Arc<Instance>> = self
            .instances
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .running
            .values()
            .cloned()
            .collect();
        let mut usage: Vec<EditorUsage> = instances
            .iter()
            .filter_map(|instance| {
                let group = instance.group.load(Ordering::SeqCst);
                (group > 0).then(|| EditorUsage {
                    session_id: instance.session_id.clone(),
                    rss_bytes: group_rss_bytes(group),
                    start_seconds: instance.start_millis.load(Ordering::Relaxed) as f64 / 1000.0,
                    browsers: instance.browsers.load(Ordering::SeqCst),
                })
            })
            .collect();
        usage.sort_by(|a, b| a.session_id.cmp(&b.session_id));
        usage
    }

    pub(crate) fn http(&self) -> &proxy::HttpClient {
        &self.http
    }
}

impl Drop for Editors {
    fn drop(&mut self) {
        let instances = self.instances.get_mut().unwrap_or_else(|p| p.into_inner());
        for instance in instances.running.values() {
            instance.kill_now();
        }
    }
}

/// One running editor's figures for `/metrics`.
#[derive(Debug, Clone)]
pub struct EditorUsage {
    pub session_id: String,
    pub rss_bytes: u64,
    pub start_seconds: f64,
    pub browsers: usize,
}

/// Where an instance is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceState {
    Starting,
    Ready {
        port: u16,
    },
    /// Gave up after repeated failures; the message says why.
    Failed(String),
    /// Stopped (with its session, or idle).
    Stopped,
}

/// One session's code-server and its supervisor.
pub struct Instance {
    session_id: String,
    state: watch::Sender<InstanceState>,
    stop: watch::Sender<bool>,
    /// Open WebSockets through the proxy: a connected workbench holds at least one.
    browsers: AtomicUsize,
    /// Unix millis of the last proxied request or closed WebSocket.
    last_used: AtomicI64,
    /// Unix millis when the session's TTL was last renewed for editor use.
    last_touch: AtomicI64,
    /// The current code-server's process group, 0 when none runs.
    group: AtomicI32,
    /// How long the last start took until `/healthz` answered.
    start_millis: AtomicI64,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Instance {
    fn spawn(spec: LaunchSpec, metrics: Arc<Metrics>, idle_timeout: Duration) -> Arc<Instance> {
        let (state, _) = watch::channel(InstanceState::Starting);
        let (stop, _) = watch::channel(false);
        let instance = Arc::new(Instance {
            session_id: spec.session_id.clone(),
            state,
            stop,
            browsers: AtomicUsize::new(0),
            last_used: AtomicI64::new(crate::now_millis()),
            last_touch: AtomicI64::new(0),
            group: AtomicI32::new(0),
            start_millis: AtomicI64::new(0),
            task: Mutex::new(None),
        });
        let task = tokio::spawn(supervise(instance.clone(), spec, metrics, idle_timeout));
        *instance.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        instance
    }

    pub fn state(&self) -> InstanceState {
        self.state.borrow().clone()
    }

    fn is_over(&self) -> bool {
        matches!(
            *self.state.borrow(),
            InstanceState::Failed(_) | InstanceState::Stopped
        )
    }

    /// The port once code-server answers; `Err` when it failed, stopped or took too long.
    pub async fn ready(&self, timeout: Duration) -> Result<u16, EditorError> {
        let mut state = self.state.subscribe();
        let settled = tokio::time::timeout(
            timeout,
            state.wait_for(|s| !matches!(s, InstanceState::Starting)),
        )
        .await
        .map_err(|_| {
            EditorError::Failed(format!(
                "the editor did not start within {} s",
                timeout.as_secs()
            ))
        })?
        .map_err(|_| EditorError::Failed("the editor stopped".into()))?
        .clone();
        match settled {
            InstanceState::Ready { port } => Ok(port),
            InstanceState::Failed(message) => Err(EditorError::Failed(message)),
            InstanceState::Stopped => Err(EditorError::Failed(
                "the editor stopped; open the editor link again".into(),
            )),
            InstanceState::Starting => unreachable!("waited for a state other than Starting"),
        }
    }

    /// Records a request: the idle clock starts again.
    pub fn used(&self) {
        self.last_used.store(crate::now_millis(), Ordering::SeqCst);
    }

    /// A browser WebSocket is open until the guard drops.
    pub fn browser_connected(self: &Arc<Self>) -> BrowserGuard {
        self.browsers.fetch_add(1, Ordering::SeqCst);
        self.used();
        BrowserGuard(self.clone())
    }

    /// True at most once a minute: whether editor use should renew the session's TTL now.
    pub fn should_renew_session(&self) -> bool {
        let now = crate::now_millis();
        let last = self.last_touch.load(Ordering::SeqCst);
        now - last >= 60_000
            && self
                .last_touch
                .compare_exchange(last, now, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
    }

    fn idle_for(&self, now_millis: i64) -> Option<Duration> {
        if self.browsers.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let idle = now_millis - self.last_used.load(Ordering::SeqCst);
        Some(Duration::from_millis(idle.max(0) as u64))
    }

    async fn stop(&self) {
        self.stop.send_replace(true);
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
        self.kill_now();
    }

    fn kill_now(&self) {
        let group = self.group.swap(0, Ordering::SeqCst);
        launch::signal_group(group, libc::SIGKILL);
    }
}

/// Counts one open browser connection; dropping it records the end.
pub struct BrowserGuard(Arc<Instance>);

impl Drop for BrowserGuard {
    fn drop(&mut self) {
        self.0.used();
        self.0.browsers.fetch_sub(1, Ordering::SeqCst);
    }
}

enum Ended {
    Stopped,
    Idle(Duration),
    Exited(String),
}

/// Starts code-server, waits for it to end, and starts it again after a crash (with
/// back-off, giving up after [`MAX_QUICK_FAILURES`] in a row); stops it on request or
/// after the idle timeout.
async fn supervise(
    instance: Arc<Instance>,
    spec: LaunchSpec,
    metrics: Arc<Metrics>,
    idle_timeout: Duration,
) {
    let session_id = spec.session_id.clone();
    let mut stop = instance.stop.subscribe();
    let mut backoff = FIRST_BACKOFF;
    let mut quick_failures = 0;
    loop {
        if *stop.borrow() {
            break;
        }
        instance.state.send_replace(InstanceState::Starting);
        let began = Instant::now();
        let launched = tokio::select! {
            launched = launch::launch(&spec) => launched,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let failure = match launched {
            Ok(mut running) => {
                let took = began.elapsed();
                instance
                    .start_millis
                    .store(took.as_millis() as i64, Ordering::Relaxed);
                instance.group.store(running.group, Ordering::SeqCst);
                metrics.editor_started(took);
                tracing::info!(session_id = %session_id, port = running.port, start_ms = took.as_millis() as u64, "editor ready");
                instance
                    .state
                    .send_replace(InstanceState::Ready { port: running.port });
                let up = Instant::now();
                let ended = run_until_end(&instance, &mut running, &mut stop, idle_timeout).await;
                match ended {
                    Ended::Stopped => {
                        launch::terminate(&mut running).await;
                        instance.group.store(0, Ordering::SeqCst);
                        break;
                    }
                    Ended::Idle(idle) => {
                        launch::terminate(&mut running).await;
                        instance.group.store(0, Ordering::SeqCst);
                        tracing::info!(session_id = %session_id, idle_s = idle.as_secs(), "editor stopped: no browser connected");
                        break;
                    }
                    Ended::Exited(how) => {
                        // Requests wait for the restart instead of trying the dead port.
                        instance.state.send_replace(InstanceState::Starting);
                        // The wrapper is gone; whatever it left in its group goes too.
                        launch::signal_group(running.group, libc::SIGKILL);
                        instance.group.store(0, Ordering::SeqCst);
                        metrics.editor_crashed();
                        let message = launch::with_tail(
                            &format!("code-server exited unexpectedly ({how})"),
                            &running.tail,
                        );
                        tracing::warn!(session_id = %session_id, "{message}");
                        if up.elapsed() >= HEALTHY_UPTIME {
                            quick_failures = 0;
                            backoff = FIRST_BACKOFF;
                        }
                        message
                    }
                }
            }
            Err(message) => {
                tracing::warn!(session_id = %session_id, "the editor did not start: {message}");
                message
            }
        };
        quick_failures += 1;
        if quick_failures >= MAX_QUICK_FAILURES {
            instance.state.send_replace(InstanceState::Failed(format!(
                "the editor failed {quick_failures} times in a row; last: {failure}"
            )));
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.wait_for(|stop| *stop) => break,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    instance.state.send_replace(InstanceState::Stopped);
}

async fn run_until_end(
    instance: &Instance,
    running: &mut Running,
    stop: &mut watch::Receiver<bool>,
    idle_timeout: Duration,
) -> Ended {
    let check_every = (idle_timeout / 4).clamp(Duration::from_millis(250), Duration::from_secs(15));
    let mut ticker = tokio::time::interval(check_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            status = running.child.wait() => {
                return Ended::Exited(match status {
                    Ok(status) => status.to_string(),
                    Err(error) => error.to_string(),
                });
            }
            _ = stop.wait_for(|stop| *stop) => return Ended::Stopped,
            _ = ticker.tick() => {
                if let Some(idle) = instance.idle_for(crate::now_millis()) {
                    if idle >= idle_timeout {
                        return Ended::Idle(idle);
                    }
                }
            }
        }
    }
}

/// Loads the grant secret, or creates it (32 random bytes, hex, mode 0600) beside the
/// daemon's token.
pub fn load_or_create_secret(state_dir: &Path) -> std::io::Result<[u8; SECRET_LEN]> {
    let path = state_dir.join("editor-secret");
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(bytes) = hex::decode(text.trim()) {
            if let Ok(secret) = <[u8; SECRET_LEN]>::try_from(bytes.as_slice()) {
                return Ok(secret);
            }
        }
    }
    std::fs::create_dir_all(state_dir)?;
    let secret: [u8; SECRET_LEN] = rand::random();
    write_private(&path, hex::encode(secret).as_bytes())?;
    Ok(secret)
}

/// Writes a file only its owner may read (0600), replacing what was there.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // An existing file keeps its mode on open; make it private too.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)
}

/// Resident memory of every process in a process group, from `/proc` (0 elsewhere).
fn group_rss_bytes(group: i32) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as u64;
    entries
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|entry| {
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            (stat_group(&stat)? == group).then_some(())?;
            let statm = std::fs::read_to_string(entry.path().join("statm")).ok()?;
            let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
            Some(pages * page)
        })
        .sum()
}

/// The process group in a `/proc/PID/stat` line (field 5; the command name in field 2 may
/// hold spaces and parentheses, so fields are counted after its last `)`).
fn stat_group(stat: &str) -> Option<i32> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_is_read_after_the_command_name() {
        let stat = "4242 (node (code) x) S 1 4240 4240 0 -1 4194560 1234";
        assert_eq!(stat_group(stat), Some(4240));
        assert_eq!(stat_group("garbage"), None);
    }

    #[test]
    fn the_secret_is_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_secret(dir.path()).unwrap();
        let second = load_or_create_secret(dir.path()).unwrap();
        assert_eq!(first, second);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("editor-secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn settings_come_from_the_environment_with_defaults() {
        let config = Config::new(PathBuf::from("/state"));
        let settings = EditorSettings::from_env(&config, &|name| match name {
            "DEVFLOW_CODE_SERVER_DIR" => Some("/opt/cs".into()),
            "DEVFLOW_EDITOR_IDLE_SECS" => Some("90".into()),
            _ => None,
        });
        assert_eq!(settings.vsix, PathBuf::from("/opt/cs/devflow.vsix"));
        assert_eq!(
            settings.entry(),
            PathBuf::from("/opt/cs/node_modules/code-server/out/node/entry.js")
        );
        assert_eq!(settings.idle_timeout, Duration::from_secs(90));
        assert_eq!(settings.grant_ttl, config.editor_grant_ttl);
        let defaults = EditorSettings::from_env(&config, &|_| None);
        assert!(defaults
            .code_server_dir
            .ends_with(".cache/devflow/code-server"));
        assert_eq!(defaults.idle_timeout, Duration::from_secs(900));
    }

    #[tokio::test]
    async fn a_stopped_editor_starts_again_only_after_a_new_link() {
        let dir = tempfile::tempdir().unwrap();
        let install = dir.path().join("cs");
        let entry = install.join("node_modules/code-server/out/node");
        std::fs::create_dir_all(&entry).unwrap();
        std::fs::write(entry.join("entry.js"), "process.exit(3)").unwrap();
        std::fs::write(install.join("devflow.vsix"), "PK").unwrap();
        let config = Config::new(dir.path().join("state"));
        let settings = EditorSettings::from_env(&config, &|name| {
            (name == "DEVFLOW_CODE_SERVER_DIR").then(|| install.clone().into())
        });
        let editors = Editors::new(settings, Arc::new(Metrics::default()));
        editors.serve_on("http://127.0.0.1:7878", "token");
        let session = "0b5c1e9e-3f7a-4c1d-9a57-2b1f0c6d8e21";
        editors.stop(session).await;
        assert_eq!(
            editors.ensure(session, dir.path()).err(),
            Some(EditorError::Closed)
        );
        let (url, _) = editors.link(session, 1_000).unwrap();
        assert!(url.starts_with(&format!(
            "http://127.0.0.1:7878/editor/{session}/?grant=4600."
        )));
        let instance = editors.ensure(session, dir.path()).unwrap();
        assert!(!instance.is_over());
        editors.stop(session).await;
        assert!(instance.is_over());
    }

    #[test]
    fn a_missing_install_says_how_to_install() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::new(dir.path().to_path_buf());
        let settings = EditorSettings::from_env(&config, &|name| {
            (name == "DEVFLOW_CODE_SERVER_DIR").then(|| dir.path().join("empty").into())
        });
        let editors = Editors::new(settings, Arc::new(Metrics::default()));
        match editors.check_installed() {
            Err(EditorError::NotInstalled(message)) => {
                assert!(message.contains("scripts/install-editor"), "{message}");
                assert!(
                    message.contains("code-server is not installed"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
