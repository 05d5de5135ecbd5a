//! Starting and killing the `devflow` binary.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The token every test daemon runs with.
pub const TOKEN: &str = "test-token-0123456789abcdef";

/// The built binary: `DEVFLOW_BIN`, else `devflow` next to this test's target dir (built by
/// `cargo build` first if it is missing).
pub fn binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("DEVFLOW_BIN") {
                return PathBuf::from(path);
            }
            let exe = std::env::current_exe().expect("the test binary knows its path");
            // target/debug/deps/<test> → target/debug/devflow
            let profile_dir = exe
                .parent()
                .and_then(Path::parent)
                .expect("test binary is in target/<profile>/deps");
            let binary = profile_dir.join(format!("devflow{}", std::env::consts::EXE_SUFFIX));
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "devflow-daemon",
                    "--bin",
                    "devflow",
                ])
                .status()
                .expect("cargo runs");
            assert!(status.success(), "building devflow failed");
            assert!(binary.exists(), "no devflow binary at {}", binary.display());
            binary
        })
        .clone()
}

/// A `devflow serve` process on an ephemeral loopback port.
pub struct Daemon {
    child: Option<Child>,
    pub base_url: String,
    pub port: u16,
    pub state_dir: PathBuf,
}

impl Daemon {
    /// Starts `devflow serve --port 0 --state-dir <dir> --token TOKEN` and waits until it
    /// prints its URL.
    pub fn start(state_dir: &Path) -> Daemon {
        Daemon::start_with(state_dir, &[])
    }

    pub fn start_with(state_dir: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut command = Command::new(binary());
        command
            .args(["serve", "--port", "0", "--state-dir"])
            .arg(state_dir)
            .args(["--token", TOKEN])
            .env("DEVFLOW_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("devflow starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        // Keep draining stderr so the daemon never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if std::env::var_os("DEVFLOW_TEST_ECHO").is_some() {
                    eprintln!("[devflow] {line}");
                }
            }
        });
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = sender.send(line);
            }
            for _ in lines {}
        });
        let line = receiver
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("devflow did not print its URL within 60 s");
            });
        let url = line
            .strip_prefix("devflow listening on ")
            .and_then(|rest| rest.split("/?token=").next())
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .to_string();
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("URL has a port");
        Daemon {
            child: Some(child),
            base_url: url,
            port,
            state_dir: state_dir.to_path_buf(),
        }
    }

    /// SIGKILL: nothing gets to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The `ws://` URL of `/rpc`.
    pub fn ws_url(&self) -> String {
        format!("{}/rpc", self.base_url.replacen("http://", "ws://", 1))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// GET of `url` (one the daemon handed out) with the token: the status, the content type
/// (empty without one) and the body.
pub async fn get_with_token(url: &str) -> (u16, String, Vec<u8>) {
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = response
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    (status, content_type, body.to_vec())
}

/// Polls `check` until it returns `Some`, failing after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
