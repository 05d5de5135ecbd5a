//! moto's server mode (PyPI `moto[server]`) as the fleet's DynamoDB, SQS and S3: `moto_server`
//! from `DEVFLOW_MOTO_SERVER`, else the one `scripts/moto.sh` installs (a cached venv), on a
//! free loopback port, killed on drop. Its log goes to a temp file, read back only when it
//! fails to start.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// The credentials and region every fleet process uses (moto accepts any).
pub const AWS_ENV: [(&str, &str); 6] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_REGION", "us-east-1"),
    // Nothing from the machine's own AWS set-up.
    ("AWS_CONFIG_FILE", "/dev/null"),
    ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

pub struct MotoServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    log: PathBuf,
    _log_dir: tempfile::TempDir,
}

impl MotoServer {
    pub async fn start() -> anyhow::Result<MotoServer> {
        let binary = server_binary()?;
        let log_dir = tempfile::Builder::new()
            .prefix("devflow-bench-moto-")
            .tempdir()
            .context("cannot create a temp dir for moto's log")?;
        let log = log_dir.path().join("moto.log");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .context("no free loopback port for moto")?;
        let log_file = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot run {}", binary.display()))?;
        let mut server = MotoServer {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
            _log_dir: log_dir,
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answer = http
                .get(format!("{}/moto-api/data.json", server.endpoint))
                .send()
                .await;
            if answer.is_ok_and(|a| a.status().is_success()) {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                bail!(
                    "moto_server exited ({status}):\n{}",
                    std::fs::read_to_string(&server.log).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                server.kill();
                bail!(
                    "moto_server did not answer within 60 s:\n{}",
                    std::fs::read_to_string(&server.log).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Makes a bucket with a plain `PUT /bucket` (moto checks no signature).
    pub async fn create_bucket(&self, bucket: &str) -> anyhow::Result<()> {
        let answer = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .await
            .context("moto did not answer the bucket creation")?;
        anyhow::ensure!(
            answer.status().is_success(),
            "creating bucket {bucket} on moto answered {}",
            answer.status()
        );
        Ok(())
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn server_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("DEVFLOW_MOTO_SERVER") {
        return Ok(PathBuf::from(path));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/moto.sh");
    let output = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "{} failed ({}); the fleet benchmark needs moto[server] from PyPI",
        script.display(),
        output.status
    );
    let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    anyhow::ensure!(
        path.is_file(),
        "scripts/moto.sh printed {}, which is not a file",
        path.display()
    );
    Ok(path)
}
