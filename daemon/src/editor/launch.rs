//! Starting one code-server for a session, the way `../shared/code-server.md` checked it
//! works offline: its own HOME, user-data and extensions folders under the session's editor
//! state, `--auth none` on a private loopback port, telemetry, update checks and the
//! extension gallery off, the devflow `.vsix` installed first (again only when it changed),
//! and user settings that point the extension at this daemon and this session. The child
//! runs in its own process group and never sees the daemon's secrets in its environment.
//!
//! Nothing of it outlives the daemon, `kill -9` included: code-server's `entry.js` is a
//! wrapper whose server child would survive it, so the server starts under [`GUARD`] — a
//! shell that forks a guard into the group and then `exec`s node (which keeps its pid and
//! leads the group). The guard blocks reading a pipe whose write end only the daemon holds;
//! when the daemon dies the kernel closes it and the guard kills the whole group. The leader
//! also gets `PR_SET_PDEATHSIG`.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long code-server may take to answer `/healthz` (0.4 s measured; a cold disk is slower).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long installing the `.vsix` may take (0.5 s measured).
const INSTALL_TIMEOUT: Duration = Duration::from_secs(120);
/// Output lines kept to explain a failed start.
const TAIL_LINES: usize = 20;

/// What code-server runs under (`sh -c GUARD devflow-editor-guard NODE ARGS…`): keeps the
/// pipe on stdin as fd 3 for the guard, gives node `/dev/null` as stdin, forks the guard
/// (ignoring TERM, so it outlives its own `kill 0`), then replaces the shell with node.
const GUARD: &str = "exec 3<&0 </dev/null
( trap '' HUP INT TERM; read -r _line <&3; kill -s TERM 0; sleep 2; kill -s KILL 0 ) >/dev/null 2>&1 &
exec \"$@\" 3<&-";

/// Everything one start needs.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub session_id: String,
    pub workspace: PathBuf,
    /// This session's editor state: `home/`, `data/`, `extensions/`, `config.yaml`.
    pub state: PathBuf,
    /// `…/node_modules/code-server/out/node/entry.js`.
    pub entry: PathBuf,
    pub vsix: PathBuf,
    pub node: OsString,
    /// What the extension needs to reach this daemon (`devflow.daemonUrl`, `devflow.token`).
    pub daemon_url: String,
    pub token: String,
}

/// A started code-server: answering `/healthz` on `port`.
pub struct Running {
    pub child: Child,
    pub port: u16,
    /// Its process group (= the leader's pid).
    pub group: i32,
    pub tail: Tail,
    /// The write end of the guard's pipe; kept apart from `child`, whose `wait` would close it.
    _lifeline: tokio::process::ChildStdin,
}

pub type Tail = Arc<Mutex<VecDeque<String>>>;

/// Prepares the folders and settings, installs the extension if needed, starts code-server
/// and waits until it answers. `Err` says what failed, with the end of its output.
pub async fn launch(spec: &LaunchSpec) -> Result<Running, String> {
    // Looked up here, not by the guard's shell, so that a missing node gets a clear message.
    if !node_exists(&spec.node) {
        return Err(format!(
            "cannot run {:?}: node is not installed (code-server 4.100.3 needs node 20)",
            spec.node
        ));
    }
    let dirs = Dirs::new(&spec.state);
    dirs.create()?;
    write_user_settings(&dirs.settings(), spec)?;
    install_extension_if_changed(spec, &dirs).await?;
    let port = free_port()?;
    std::fs::write(
        &dirs.config,
        format!("bind-addr: 127.0.0.1:{port}\nauth: none\ncert: false\n"),
    )
    .map_err(|e| format!("cannot write {}: {e}", dirs.config.display()))?;
    let mut args = dirs.common_args();
    args.extend(
        [
            "--auth",
            "none",
            "--disable-telemetry",
            "--disable-update-check",
            "--disable-workspace-trust",
            "--disable-getting-started-override",
            "--bind-addr",
        ]
        .map(OsString::from),
    );
    args.push(format!("127.0.0.1:{port}").into());
    args.push(spec.workspace.clone().into_os_string());
    let tail: Tail = Arc::default();
    let mut command = command(spec, &dirs, &args, true);
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| spawn_error(spec, &e))?;
    let group = child.id().map(|id| id as i32).unwrap_or(0);
    let lifeline = child
        .stdin
        .take()
        .ok_or("cannot start code-server: no pipe to its guard")?;
    if let Some(stdout) = child.stdout.take() {
        pipe(stdout, spec.session_id.clone(), tail.clone());
    }
    if let Some(stderr) = child.stderr.take() {
        pipe(stderr, spec.session_id.clone(), tail.clone());
    }
    let mut running = Running {
        child,
        port,
        group,
        tail,
        _lifeline: lifeline,
    };
    match wait_ready(&mut running).await {
        Ok(()) => Ok(running),
        Err(message) => {
            terminate(&mut running).await;
            Err(with_tail(&message, &running.tail))
        }
    }
}

/// TERM to the group, up to 5 s for the leader to go, then KILL to whatever is left.
pub async fn terminate(running: &mut Running) {
    if running.group > 0 {
        signal_group(running.group, libc::SIGTERM);
        let _ = tokio::time::timeout(Duration::from_secs(5), running.child.wait()).await;
        // The wrapper's children (server, extension host, watchers) share its group.
        signal_group(running.group, libc::SIGKILL);
    }
    let _ = running.child.kill().await;
}

pub fn signal_group(group: i32, signal: i32) {
    if group <= 0 {
        return;
    }
    // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
    unsafe {
        libc::kill(-group, signal);
    }
}

pub fn with_tail(message: &str, tail: &Tail) -> String {
    let tail = tail.lock().unwrap_or_else(|p| p.into_inner());
    if tail.is_empty() {
        return message.to_string();
    }
    let lines: Vec<&str> = tail.iter().map(String::as_str).collect();
    format!("{message}; last output:\n{}", lines.join("\n"))
}

/// The editor state's layout.
struct Dirs {
    home: PathBuf,
    data: PathBuf,
    extensions: PathBuf,
    config: PathBuf,
}

impl Dirs {
    fn new(state: &Path) -> Self {
        Dirs {
            home: state.join("home"),
            data: state.join("data"),
            extensions: state.join("extensions"),
            config: state.join("config.yaml"),
        }
    }

    fn create(&self) -> Result<(), String> {
        for dir in [&self.home, &self.data.join("User"), &self.extensions] {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        Ok(())
    }

    fn settings(&self) -> PathBuf {
        self.data.join("User").join("settings.json")
    }

    fn common_args(&self) -> Vec<OsString> {
        vec![
            "--config".into(),
            self.config.clone().into_os_string(),
            "--user-data-dir".into(),
            self.data.clone().into_os_string(),
            "--extensions-dir".into(),
            self.extensions.clone().into_os_string(),
        ]
    }
}

/// `node entry.js ARGS` in the workspace, in its own process group, with the scrubbed
/// environment and HOME/XDG_* inside the editor state (code-server's first run writes there);
/// `guarded`: under [`GUARD`] (the caller pipes stdin).
fn command(spec: &LaunchSpec, dirs: &Dirs, args: &[OsString], guarded: bool) -> Command {
    let mut command = if guarded {
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(GUARD)
            .arg("devflow-editor-guard")
            .arg(&spec.node);
        command
    } else {
        let mut command = Command::new(&spec.node);
        command.stdin(Stdio::null());
        command
    };
    command
        .arg(&spec.entry)
        .args(args)
        .current_dir(&spec.workspace)
        .env_clear()
        .envs(child_env(std::env::vars_os(), &dirs.home))
        .process_group(0)
        .kill_on_drop(true);
    let daemon = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and calls only prctl(2) and
    // getppid(2), both async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            // Dies with the daemon even when the daemon is killed with SIGKILL. (The signal
            // follows the forking thread; the supervisor forks from a runtime worker thread,
            // which lives as long as the daemon's runtime.)
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The daemon may have died between fork and prctl; then no signal would come.
            if libc::getppid() != daemon {
                return Err(std::io::Error::other("the daemon exited"));
            }
            Ok(())
        });
    }
    command
}

/// The environment code-server runs with: the daemon's, without its secrets (`AWS_*`,
/// `DEVFLOW_*`, API tokens) or a surrounding VS Code's variables, with HOME and XDG_* in the
/// editor state and the gallery switched off.
pub fn child_env(
    vars: impl Iterator<Item = (OsString, OsString)>,
    home: &Path,
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = vars
        .filter(|(name, _)| {
            name.to_str().is_some_and(|name| {
                let upper = name.to_ascii_uppercase();
                !crate::preview::detect::is_secret(name)
                    && !upper.starts_with("VSCODE_")
                    && !upper.starts_with("CODE_SERVER_")
                    && !matches!(
                        upper.as_str(),
                        "HOME"
                            | "XDG_CONFIG_HOME"
                            | "XDG_DATA_HOME"
                            | "XDG_CACHE_HOME"
                            | "EXTENSIONS_GALLERY"
                            | "PASSWORD"
                            | "HASHED_PASSWORD"
                            | "PORT"
                    )
            })
        })
        .collect();
    env.push(("HOME".into(), home.as_os_str().to_owned()));
    env.push((
        "XDG_CONFIG_HOME".into(),
        home.join(".config").into_os_string(),
    ));
    env.push((
        "XDG_DATA_HOME".into(),
        home.join(".local/share").into_os_string(),
    ));
    env.push((
        "XDG_CACHE_HOME".into(),
        home.join(".cache").into_os_string(),
    ));
    // An empty gallery: code-server never asks Open VSX for anything.
    env.push(("EXTENSIONS_GALLERY".into(), "{}".into()));
    env
}

/// The settings code-server needs offline (from the recipe), and the extension's link to
/// this daemon and session. Settings the user changed in the IDE are kept; ours win. The
/// file holds the daemon token, so it is private (0600).
fn write_user_settings(path: &Path, spec: &LaunchSpec) -> Result<(), String> {
    let mut settings = std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|value| match value {
            serde_json::Value::Object(map) => Some(map),
            _ => None,
        })
        .unwrap_or_default();
    for (key, value) in user_settings(spec) {
        settings.insert(key.to_string(), value);
    }
    let text = serde_json::to_string_pretty(&settings)
        .map_err(|e| format!("cannot write the editor settings: {e}"))?;
    crate::editor::write_private(path, text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn user_settings(spec: &LaunchSpec) -> Vec<(&'static str, serde_json::Value)> {
    use serde_json::Value;
    vec![
        ("telemetry.telemetryLevel", "off".into()),
        ("update.mode", "none".into()),
        ("extensions.autoCheckUpdates", false.into()),
        ("extensions.autoUpdate", false.into()),
        ("extensions.ignoreRecommendations", true.into()),
        ("workbench.enableExperiments", false.into()),
        ("workbench.startupEditor", "none".into()),
        ("workbench.tips.enabled", false.into()),
        ("npm.fetchOnlinePackageInfo", false.into()),
        ("git.enabled", false.into()),
        ("security.workspace.trust.enabled", false.into()),
        ("devflow.daemonUrl", Value::from(spec.daemon_url.clone())),
        ("devflow.token", Value::from(spec.token.clone())),
        ("devflow.sessionId", Value::from(spec.session_id.clone())),
    ]
}

/// Installs the `.vsix` unless this exact file (by SHA-256) is already installed.
async fn install_extension_if_changed(spec: &LaunchSpec, dirs: &Dirs) -> Result<(), String> {
    let bytes = std::fs::read(&spec.vsix).map_err(|e| {
        format!(
            "cannot read the devflow extension {}: {e}",
            spec.vsix.display()
        )
    })?;
    let digest = hex::encode(Sha256::digest(&bytes));
    let marker = dirs.extensions.join(".devflow-vsix-sha256");
    if std::fs::read_to_string(&marker).is_ok_and(|text| text.trim() == digest) {
        return Ok(());
    }
    let mut args = dirs.common_args();
    args.extend([
        "--install-extension".into(),
        spec.vsix.clone().into_os_string(),
        "--force".into(),
    ]);
    let mut command = command(spec, dirs, &args, false);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = command.spawn().map_err(|e| spawn_error(spec, &e))?;
    let output = tokio::time::timeout(INSTALL_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| {
            format!(
                "installing the devflow extension took longer than {} s",
                INSTALL_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| format!("installing the devflow extension failed: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "installing the devflow extension failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    std::fs::write(&marker, digest)
        .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    tracing::info!(session_id = %spec.session_id, vsix = %spec.vsix.display(), "devflow extension installed into the editor");
    Ok(())
}

fn spawn_error(spec: &LaunchSpec, error: &std::io::Error) -> String {
    if error.kind() == std::io::ErrorKind::NotFound {
        format!(
            "cannot run {:?}: node is not installed (code-server 4.100.3 needs node 20)",
            spec.node
        )
    } else {
        format!("cannot start code-server: {error}")
    }
}

fn node_exists(node: &std::ffi::OsStr) -> bool {
    let node = Path::new(node);
    if node.components().count() > 1 {
        return node.is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(node).is_file()))
}

/// A port the kernel just had free on loopback. Another process could take it before
/// code-server binds it; code-server then exits and the supervisor starts it again.
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("no free loopback port for the editor: {e}"))
}

/// Polls `/healthz` until HTTP 200 (its body says `expired` until a browser connects; only
/// the status counts), failing early when the child exits.
async fn wait_ready(running: &mut Running) -> Result<(), String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], running.port));
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = running.child.try_wait() {
            return Err(format!("code-server exited before it answered ({status})"));
        }
        if crate::preview::probe::http_status(addr, "/healthz", Duration::from_secs(5)).await
            == Ok(200)
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "code-server did not answer on 127.0.0.1:{} within {} s",
                running.port,
                READY_TIMEOUT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Relays the child's output lines to the session log and keeps the last few.
fn pipe(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    session_id: String,
    tail: Tail,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::debug!(session_id = %session_id, "code-server: {line}");
            let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_editor_never_sees_the_daemons_secrets() {
        let vars = [
            ("PATH", "/usr/bin"),
            ("LANG", "ja_JP.UTF-8"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_PROFILE", "p"),
            ("DEVFLOW_TOKEN", "tok"),
            ("DEVFLOW_EDITOR_VSIX", "/x.vsix"),
            ("OPENAI_API_KEY", "k"),
            ("GITHUB_TOKEN", "g"),
            ("VSCODE_IPC_HOOK_CLI", "/tmp/sock"),
            ("PASSWORD", "pw"),
            ("HOME", "/root"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let env = child_env(vars.into_iter(), Path::new("/state/editors/s/home"));
        let get = |name: &str| {
            env.iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("PATH"), ["/usr/bin"]);
        assert_eq!(get("LANG"), ["ja_JP.UTF-8"]);
        assert_eq!(get("HOME"), ["/state/editors/s/home"]);
        assert_eq!(get("XDG_DATA_HOME"), ["/state/editors/s/home/.local/share"]);
        assert_eq!(get("EXTENSIONS_GALLERY"), ["{}"]);
        for secret in [
            "AWS_SECRET_ACCESS_KEY",
            "AWS_PROFILE",
            "DEVFLOW_TOKEN",
            "DEVFLOW_EDITOR_VSIX",
            "OPENAI_API_KEY",
            "GITHUB_TOKEN",
            "VSCODE_IPC_HOOK_CLI",
            "PASSWORD",
        ] {
            assert!(get(secret).is_empty(), "{secret} leaked");
        }
    }

    #[test]
    fn user_settings_keep_the_users_own_and_point_at_this_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(
            &path,
            r#"{"editor.fontSize": 18, "devflow.sessionId": "old", "telemetry.telemetryLevel": "all"}"#,
        )
        .unwrap();
        let spec = LaunchSpec {
            session_id: "s-1".into(),
            workspace: dir.path().into(),
            state: dir.path().into(),
            entry: dir.path().join("entry.js"),
            vsix: dir.path().join("devflow.vsix"),
            node: "node".into(),
            daemon_url: "http://127.0.0.1:7878".into(),
            token: "t0ken".into(),
        };
        write_user_settings(&path, &spec).unwrap();
        let settings: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(settings["editor.fontSize"], 18);
        assert_eq!(settings["devflow.sessionId"], "s-1");
        assert_eq!(settings["devflow.daemonUrl"], "http://127.0.0.1:7878");
        assert_eq!(settings["devflow.token"], "t0ken");
        assert_eq!(settings["telemetry.telemetryLevel"], "off");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
