//! moto's server mode (PyPI `moto[server]`) as a local S3 (and IAM) for tests: [`Moto::start`]
//! installs it on first use (`scripts/moto.sh`, a cached venv), runs `moto_server` on a free
//! loopback port, waits until it answers and kills it on drop. No test is skipped for want
//! of it: a missing install is made, a failed one fails the test.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The credentials every test client sends (moto accepts any unless IAM auth is on).
pub const ACCESS_KEY_ID: &str = "testing";
pub const SECRET_ACCESS_KEY: &str = "testing";
pub const REGION: &str = "us-east-1";

/// `moto_server`: `DEVFLOW_MOTO_SERVER`, else the one `scripts/moto.sh` installs (once).
pub fn server_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("DEVFLOW_MOTO_SERVER") {
                return PathBuf::from(path);
            }
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/moto.sh");
            let output = Command::new("bash")
                .arg(&script)
                .stderr(Stdio::inherit())
                .output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
            assert!(
                output.status.success(),
                "{} failed ({}); the S3 tests need moto[server] from PyPI",
                script.display(),
                output.status
            );
            let path = String::from_utf8_lossy(&output.stdout).trim().to_string();
            assert!(
                Path::new(&path).is_file(),
                "scripts/moto.sh printed {path:?}, which is not a file"
            );
            PathBuf::from(path)
        })
        .clone()
}

/// A running `moto_server` on 127.0.0.1.
pub struct Moto {
    child: Child,
    pub port: u16,
    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_S3`.
    pub endpoint: String,
    _log_dir: tempfile::TempDir,
    log: PathBuf,
}

impl Moto {
    pub fn start() -> Moto {
        Moto::start_with(&[])
    }

    /// With extra environment, e.g. `INITIAL_NO_AUTH_ACTION_COUNT` to turn IAM checks on
    /// after that many calls (see [`Moto::create_user_with_policy`]).
    pub fn start_with(env: &[(&str, &str)]) -> Moto {
        let binary = server_binary();
        let log_dir = tempfile::tempdir().expect("temp dir for moto's log");
        let log = log_dir.path().join("moto.log");
        // The port is free when asked for; another process may take it before moto binds,
        // in which case moto exits and a new port is tried.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("a free loopback port");
            let log_file = std::fs::File::create(&log).expect("moto's log file");
            let mut command = Command::new(&binary);
            command
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file);
            for (key, value) in env {
                command.env(key, value);
            }
            let mut child = command
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if answers(port) {
                    return Moto {
                        child,
                        port,
                        endpoint: format!("http://127.0.0.1:{port}"),
                        _log_dir: log_dir,
                        log,
                    };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited (port taken?): try another port
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "moto_server did not answer within 60 s:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!(
            "moto_server did not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// The environment a `devflow` process needs to use this server as its S3.
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL_S3", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.into()),
            ("AWS_REGION", REGION.into()),
            // No shared files or profiles of the machine running the tests.
            ("AWS_CONFIG_FILE", "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// Creates a bucket with a plain (unsigned) `PUT /bucket`, as moto allows while IAM
    /// checks are off.
    pub async fn create_bucket(&self, bucket: &str) {
        let response = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .await
            .expect("moto answers");
        assert!(
            response.status().is_success(),
            "creating bucket {bucket}: {}",
            response.status()
        );
    }

    /// Creates an IAM user with `policy` as its only (inline) policy and returns its access
    /// key id and secret. Three IAM calls: a server started with
    /// `INITIAL_NO_AUTH_ACTION_COUNT` must leave room for them.
    pub async fn create_user_with_policy(&self, user: &str, policy: &str) -> (String, String) {
        // Unsigned: moto takes the service from the credential scope and checks nothing yet.
        let authorization = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20250101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=00";
        let call = |form: Vec<(&'static str, String)>| async move {
            let response = reqwest::Client::new()
                .post(format!("{}/", self.endpoint))
                .header("authorization", authorization)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_body(&form))
                .send()
                .await
                .expect("moto answers");
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            assert!(status.is_success(), "IAM {form:?}: {status} {text}");
            text
        };
        let version = ("Version", "2010-05-08".to_string());
        call(vec![
            ("Action", "CreateUser".into()),
            ("UserName", user.into()),
            version.clone(),
        ])
        .await;
        call(vec![
            ("Action", "PutUserPolicy".into()),
            ("UserName", user.into()),
            ("PolicyName", format!("{user}-policy")),
            ("PolicyDocument", policy.into()),
            version.clone(),
        ])
        .await;
        let created = call(vec![
            ("Action", "CreateAccessKey".into()),
            ("UserName", user.into()),
            version,
        ])
        .await;
        let tag = |name: &str| {
            let open = format!("<{name}>");
            created
                .split_once(&open)
                .and_then(|(_, rest)| rest.split_once(&format!("</{name}>")))
                .map(|(value, _)| value.to_string())
                .unwrap_or_else(|| panic!("no {name} in {created}"))
        };
        (tag("AccessKeyId"), tag("SecretAccessKey"))
    }

    /// What moto logged so far (its request lines), for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether moto's own API answers on `port` (a call that is not an AWS action, so it does
/// not count towards `INITIAL_NO_AUTH_ACTION_COUNT`).
fn answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET /moto-api/data.json HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200"
}

/// `application/x-www-form-urlencoded`.
fn form_body(pairs: &[(&str, String)]) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}
