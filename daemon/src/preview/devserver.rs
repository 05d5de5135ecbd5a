//! A session's dev server: `npm|pnpm|yarn run <script>` in its own process group, the port
//! injected, every output line in the session log, readiness = an HTTP answer on the port,
//! restarted with back-off when it dies, and stopped by signalling the whole group (TERM,
//! then KILL), so no grandchild (the `vite` under `npm`) outlives the session.
//!
//! Nor does anything outlive the daemon, however it ends (`kill -9` included). Every child
//! (install or dev server) starts as `/bin/sh -c` [`GUARD`]: the shell forks a guard into
//! the new group and then `exec`s the real command, which keeps its pid and so leads the
//! group. The guard blocks reading a pipe whose write end only the daemon holds; when the
//! daemon dies the kernel closes that end, the read returns, and the guard ends the whole
//! group (TERM, KILL 3 s later). The leader also gets `PR_SET_PDEATHSIG` (Linux), which
//! covers only the direct child — hence the guard for what `npm` starts. What survives even
//! that (a guard killed by hand) carries the run's [`orphans::OWNER_VAR`] marker and is
//! ended at the next start-up.
//!
//! Invariant: the child's environment is [`detect::child_env`]'s (never the daemon's
//! secrets) plus the owner marker.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{oneshot, watch};

use super::detect::{self, Manager};
use super::{orphans, probe};

/// Output lines kept for error messages.
const TAIL_LINES: usize = 40;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A dev server that ran this long before dying gets the short back-off again.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);
/// Between TERM and KILL.
const TERM_GRACE: Duration = Duration::from_secs(5);

/// What every child runs under (`sh -c GUARD devflow-guard PROGRAM ARGS…`). Keeps the pipe
/// on stdin as fd 3 for the guard, gives the command `/dev/null` as stdin, forks the guard
/// (which ignores TERM so that it outlives its own `kill 0`, and talks to no one), then
/// replaces the shell with the command.
const GUARD: &str = "exec 3<&0 </dev/null
( trap '' HUP INT TERM; read -r _line <&3; kill -s TERM 0; sleep 3; kill -s KILL 0 ) >/dev/null 2>&1 &
exec \"$@\" 3<&-";

/// What to run.
#[derive(Debug, Clone)]
pub struct DevServerSpec {
    pub session_id: String,
    pub workspace: PathBuf,
    pub manager: Manager,
    pub script: String,
    pub port: u16,
    pub ready_timeout: Duration,
    /// The daemon run's [`orphans::OWNER_VAR`] token.
    pub owner: String,
}

/// What a running dev server reports.
#[derive(Debug, Clone)]
pub enum DevEvent {
    /// A line it wrote to stderr.
    ErrorOutput(String),
    /// It died (or never became ready after a restart); a restart is scheduled.
    Crashed(String),
    /// It answers again after a restart.
    Back,
}

pub type DevEvents = Arc<dyn Fn(DevEvent) + Send + Sync>;

/// A supervised dev server. [`DevServer::stop`] ends it; dropping it kills its group.
pub struct DevServer {
    /// Where it answered first (127.0.0.1 or [::1]).
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
    group: Arc<AtomicI32>,
}

impl DevServer {
    /// Starts the script and returns once it answers HTTP on its port; `Err` (with the end
    /// of its output) when it exits first or does not answer in time.
    pub async fn start(spec: DevServerSpec, events: DevEvents) -> Result<DevServer, String> {
        let (stop, stop_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = oneshot::channel();
        let group = Arc::new(AtomicI32::new(0));
        let task = tokio::spawn(supervise(spec, events, group.clone(), stop_rx, ready_tx));
        let mut server = DevServer {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stop,
            task: Some(task),
            group,
        };
        match ready_rx.await {
            Ok(Ok(addr)) => {
                server.addr = addr;
                Ok(server)
            }
            Ok(Err(message)) => {
                server.stop().await;
                Err(message)
            }
            Err(_) => {
                server.stop().await;
                Err("the dev server supervisor ended unexpectedly".into())
            }
        }
    }

    /// TERM to the process group, KILL after a grace period; returns once it is gone.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        let group = self.group.swap(0, Ordering::SeqCst);
        if group > 0 {
            signal_group(group, libc::SIGKILL);
        }
    }
}

/// SIGKILL to a process group when dropped before [`KillGroupOnDrop::disarm`]: a future
/// abandoned half-way (a stop during the install) leaves nothing running.
struct KillGroupOnDrop(i32);

impl KillGroupOnDrop {
    fn disarm(&mut self) {
        self.0 = 0;
    }
}

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        if self.0 > 0 {
            signal_group(self.0, libc::SIGKILL);
        }
    }
}

fn signal_group(group: i32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
    unsafe {
        libc::kill(-group, signal);
    }
}

enum Outcome<T> {
    Done(T),
    Exited(std::io::Result<std::process::ExitStatus>),
    Stopped,
}

async fn supervise(
    spec: DevServerSpec,
    events: DevEvents,
    group: Arc<AtomicI32>,
    mut stop: watch::Receiver<bool>,
    ready: oneshot::Sender<Result<SocketAddr, String>>,
) {
    let mut ready = Some(ready);
    let mut backoff = FIRST_BACKOFF;
    loop {
        let tail: Tail = Arc::default();
        let args = spec.manager.run_args(&spec.script, spec.port);
        // `_lifeline` lives as long as this attempt: dropping it ends the group.
        let (mut child, _lifeline) =
            match spawn(&spec, spec.manager.program(), &args, &tail, Some(&events)) {
                Ok(spawned) => spawned,
                Err(error) => {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(Err(error));
                        return;
                    }
                    events(DevEvent::Crashed(error));
                    if !pause(&mut stop, backoff).await {
                        return;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
        let pid = child.id().map_or(0, |id| id as i32);
        group.store(pid, Ordering::SeqCst);
        let started = Instant::now();
        tracing::info!(session_id = %spec.session_id, pid, port = spec.port, "dev server started: {} {}", spec.manager.program(), args.join(" "));

        let outcome = tokio::select! {
            answered = wait_ready(spec.port, spec.ready_timeout) => Outcome::Done(answered),
            status = child.wait() => Outcome::Exited(status),
            _ = stopped(&mut stop) => Outcome::Stopped,
        };
        let failure = match outcome {
            Outcome::Done(Ok(addr)) => {
                tracing::info!(session_id = %spec.session_id, %addr, "dev server answers");
                match ready.take() {
                    Some(ready) => {
                        let _ = ready.send(Ok(addr));
                    }
                    None => events(DevEvent::Back),
                }
                None
            }
            Outcome::Done(Err(message)) => Some(message),
            Outcome::Exited(status) => {
                Some(format!("the dev server exited ({})", describe(status)))
            }
            Outcome::Stopped => {
                terminate(&mut child, pid, &group).await;
                return;
            }
        };
        if let Some(message) = failure {
            terminate(&mut child, pid, &group).await;
            if let Some(ready) = ready.take() {
                let _ = ready.send(Err(with_tail(&message, &tail)));
                return;
            }
            // A restart that dies before it answers: said like a crash after answering, with
            // the back-off (repeats of one text would be announced only once a while).
            let message = format!("{message}; restarting in {} ms", backoff.as_millis());
            tracing::warn!(session_id = %spec.session_id, "{message}");
            events(DevEvent::Crashed(with_tail(&message, &tail)));
        } else {
            let outcome = tokio::select! {
                status = child.wait() => Outcome::<()>::Exited(status),
                _ = stopped(&mut stop) => Outcome::Stopped,
            };
            let status = match outcome {
                Outcome::Exited(status) => status,
                _ => {
                    terminate(&mut child, pid, &group).await;
                    return;
                }
            };
            // What it left behind in its group goes too before the next start.
            terminate(&mut child, pid, &group).await;
            if started.elapsed() > HEALTHY_AFTER {
                backoff = FIRST_BACKOFF;
            }
            let message = format!(
                "the dev server exited ({}); restarting in {} ms",
                describe(status),
                backoff.as_millis()
            );
            tracing::warn!(session_id = %spec.session_id, "{message}");
            events(DevEvent::Crashed(with_tail(&message, &tail)));
        }
        if !pause(&mut stop, backoff).await {
            return;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Sleeps the back-off; false when the server was stopped meanwhile.
async fn pause(stop: &mut watch::Receiver<bool>, backoff: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(backoff) => true,
        _ = stopped(stop) => false,
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// TERM to the group, up to [`TERM_GRACE`] for the leader to go, then KILL to whatever
/// is left in the group; reaps the leader.
async fn terminate(child: &mut Child, pid: i32, group: &AtomicI32) {
    if pid > 0 {
        signal_group(pid, libc::SIGTERM);
        if tokio::time::timeout(TERM_GRACE, child.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                pid,
                "the dev server ignored SIGTERM; killing its process group"
            );
        }
        signal_group(pid, libc::SIGKILL);
    }
    let _ = child.kill().await;
    group.store(0, Ordering::SeqCst);
}

fn describe(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Ok(status) => match (
            status.code(),
            std::os::unix::process::ExitStatusExt::signal(&status),
        ) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            _ => status.to_string(),
        },
        Err(error) => error.to_string(),
    }
}

/// Polls the port (IPv4, then IPv6: `localhost` may be either) until HTTP answers.
async fn wait_ready(port: u16, timeout: Duration) -> Result<SocketAddr, String> {
    let deadline = Instant::now() + timeout;
    let candidates = [
        SocketAddr::from(([127, 0, 0, 1], port)),
        SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)),
    ];
    loop {
        for addr in candidates {
            if probe::http_status(addr, "/", Duration::from_secs(5))
                .await
                .is_ok()
            {
                return Ok(addr);
            }
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the dev server did not answer HTTP on port {port} within {} s",
                timeout.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

type Tail = Arc<Mutex<VecDeque<String>>>;

fn with_tail(message: &str, tail: &Tail) -> String {
    let tail = tail.lock().unwrap_or_else(|p| p.into_inner());
    if tail.is_empty() {
        return message.to_string();
    }
    let lines: Vec<&str> = tail.iter().map(String::as_str).collect();
    format!("{message}; last output:\n{}", lines.join("\n"))
}

/// The write end of a child's guard pipe. Dropping it (or the daemon dying) makes the guard
/// end the child's whole group. Kept apart from the [`Child`], whose `wait` would close it.
pub(crate) struct Lifeline {
    _pipe: tokio::process::ChildStdin,
}

/// Spawns `program args` in the workspace, in its own process group under the [`GUARD`],
/// with the scrubbed environment; its output goes to the session log (and stderr lines to
/// `events`).
fn spawn(
    spec: &DevServerSpec,
    program: &str,
    args: &[String],
    tail: &Tail,
    events: Option<&DevEvents>,
) -> Result<(Child, Lifeline), String> {
    // Log lines say which step wrote them.
    let label = if events.is_some() {
        "dev server"
    } else {
        program
    };
    let env = detect::child_env(std::env::vars_os(), Some(spec.port));
    let search = env
        .iter()
        .find(|(name, _)| name == "PATH")
        .map(|(_, value)| value.clone());
    // Looked up here, not by the shell, so that a missing tool gets a clear message.
    let resolved = find_program(program, search.as_deref()).ok_or_else(|| {
        format!(
            "`{program}` is not installed (this project runs its `{}` script with it)",
            spec.script
        )
    })?;
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(GUARD)
        .arg("devflow-guard")
        .arg(&resolved)
        .args(args)
        .current_dir(&spec.workspace)
        .env_clear()
        .envs(env)
        .env(orphans::OWNER_VAR, &spec.owner)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    die_with_the_daemon(&mut command);
    let mut child = command
        .spawn()
        .map_err(|error| format!("cannot run `{program}`: {error}"))?;
    let lifeline = child
        .stdin
        .take()
        .map(|pipe| Lifeline { _pipe: pipe })
        .ok_or_else(|| format!("cannot run `{program}`: no pipe to its guard"))?;
    if let Some(stdout) = child.stdout.take() {
        pipe(stdout, label, spec.session_id.clone(), tail.clone(), None);
    }
    if let Some(stderr) = child.stderr.take() {
        pipe(
            stderr,
            label,
            spec.session_id.clone(),
            tail.clone(),
            events.cloned(),
        );
    }
    Ok((child, lifeline))
}

/// `PR_SET_PDEATHSIG`: the kernel SIGKILLs the child when the daemon dies. Strictly, when
/// the *thread* that spawned it ends: children are spawned from async tasks, i.e. on the
/// runtime's worker threads, which live as long as the daemon.
#[cfg(target_os = "linux")]
fn die_with_the_daemon(command: &mut Command) {
    // SAFETY: getpid(2) cannot fail.
    let daemon = unsafe { libc::getpid() };
    // SAFETY: only async-signal-safe system calls run between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            // The daemon may have died before the prctl took effect.
            if libc::getppid() != daemon {
                return Err(std::io::Error::other("the daemon exited"));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_the_daemon(_command: &mut Command) {}

/// `program` on `search` (a `PATH` value), as the shell would find it.
fn find_program(program: &str, search: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let executable = |path: &Path| {
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = PathBuf::from(program);
        return executable(&path).then_some(path);
    }
    std::env::split_paths(search?)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(program))
        .find(|candidate| executable(candidate))
}

fn pipe(
    stream: impl AsyncRead + Unpin + Send + 'static,
    label: &str,
    session_id: String,
    tail: Tail,
    errors: Option<DevEvents>,
) {
    let label = label.to_string();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let line = strip_ansi(&line);
            if line.trim().is_empty() {
                continue;
            }
            tracing::info!(session_id = %session_id, "{label}: {line}");
            {
                let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line.clone());
            }
            if let Some(errors) = &errors {
                errors(DevEvent::ErrorOutput(line));
            }
        }
    });
}

/// Colour codes out of a log line.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Installs the dependencies (`node_modules` missing), output streamed to the session log
/// as progress; `Err` with the end of the output when it fails or takes too long. Dropping
/// the future (the session was stopped meanwhile) kills the install's whole process group.
pub async fn install(
    session_id: &str,
    workspace: &Path,
    manager: Manager,
    timeout: Duration,
    owner: &str,
) -> Result<(), String> {
    let spec = DevServerSpec {
        session_id: session_id.to_string(),
        workspace: workspace.to_path_buf(),
        manager,
        script: "install".into(),
        port: 0,
        ready_timeout: timeout,
        owner: owner.to_string(),
    };
    let args = manager.install_args();
    tracing::info!(
        session_id,
        "installing dependencies: {} {}",
        manager.program(),
        args.join(" ")
    );
    let tail: Tail = Arc::default();
    let (mut child, _lifeline) = spawn(&spec, manager.program(), &args, &tail, None)?;
    let pid = child.id().map_or(0, |id| id as i32);
    let group = AtomicI32::new(pid);
    let mut cancelled = KillGroupOnDrop(pid);
    let status = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            cancelled.disarm();
            terminate(&mut child, pid, &group).await;
            return Err(with_tail(
                &format!(
                    "installing dependencies took longer than {} s",
                    timeout.as_secs()
                ),
                &tail,
            ));
        }
    };
    // Post-install scripts may leave helpers behind.
    cancelled.disarm();
    terminate(&mut child, pid, &group).await;
    match status {
        Ok(status) if status.success() => {
            tracing::info!(session_id, "dependencies installed");
            Ok(())
        }
        status => Err(with_tail(
            &format!(
                "`{} {}` failed ({})",
                manager.program(),
                args.join(" "),
                describe(status)
            ),
            &tail,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_codes_are_stripped_from_log_lines() {
        assert_eq!(
            strip_ansi("\u{1b}[32m  VITE\u{1b}[39m ready"),
            "  VITE ready"
        );
        assert_eq!(strip_ansi("plain"), "plain");
    }

    #[test]
    fn programs_are_found_on_the_childs_path() {
        let path = std::env::var_os("PATH");
        assert!(find_program("sh", path.as_deref()).is_some());
        assert!(find_program("devflow-no-such-tool", path.as_deref()).is_none());
        assert!(find_program("sh", Some(std::ffi::OsStr::new(""))).is_none());
        assert_eq!(
            find_program("/bin/sh", None),
            Some(PathBuf::from("/bin/sh"))
        );
    }

    fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rfind(')')
                .is_some_and(|at| !stat[at + 1..].trim_start().starts_with('Z'))
        })
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn when_the_daemons_end_of_the_pipe_closes_the_guard_ends_the_whole_group() {
        let workspace = tempfile::tempdir().unwrap();
        let spec = DevServerSpec {
            session_id: "guard-test".into(),
            workspace: workspace.path().to_path_buf(),
            manager: Manager::Npm,
            script: "dev".into(),
            port: 0,
            ready_timeout: Duration::from_secs(5),
            owner: "test-owner".into(),
        };
        // A leader that ignores TERM and a background child, as npm and vite would be.
        let script = "trap '' TERM; sleep 60 & echo $! > child.pid; wait".to_string();
        let tail: Tail = Arc::default();
        let (mut child, lifeline) =
            spawn(&spec, "sh", &["-c".into(), script], &tail, None).unwrap();
        let pid_file = workspace.path().join("child.pid");
        let deadline = Instant::now() + Duration::from_secs(10);
        let background = loop {
            if let Some(pid) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|t| t.trim().parse::<u32>().ok())
            {
                break pid;
            }
            assert!(Instant::now() < deadline, "the child never started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(alive(background));

        // What the kernel does when the daemon dies, whatever the signal.
        drop(lifeline);
        let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
            .await
            .expect("the leader is ended")
            .unwrap();
        assert!(!status.success(), "{status}");
        let deadline = Instant::now() + Duration::from_secs(15);
        while alive(background) {
            assert!(
                Instant::now() < deadline,
                "the background child is still running"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
