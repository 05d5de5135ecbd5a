//! The model clients with their real HTTP stacks (the AWS SDK, reqwest) against fake servers
//! on 127.0.0.1 that speak the real wire formats and check what the clients send. One test
//! binary for both clients: the AWS SDK links once.
//!
//! Credentials are static fake keys in the process environment, set once before any client
//! is built; tests that need another environment (no credentials, the endpoint from
//! `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`) re-run themselves in a child process with it.

mod bedrock;
mod openai;

use std::process::Command;
use std::sync::Once;
use std::time::Duration;

use devflow_llm::retry::CallPolicy;

pub const DIFF: &str = "--- a/css/style.css\n+++ b/css/style.css\n@@ -1,3 +1,3 @@\n h1 {\n-  font-size: 2rem;\n+  font-size: 3rem;\n }\n";

/// Fake AWS settings for this process: keys, region, no shared files, no instance metadata.
pub fn fake_aws_env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (key, value) in [
            ("AWS_ACCESS_KEY_ID", "AKIDDEVFLOWTEST0001"),
            ("AWS_SECRET_ACCESS_KEY", "devflow-test-secret-key"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", "/nonexistent/devflow-test/aws-config"),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/devflow-test/aws-credentials",
            ),
        ] {
            std::env::set_var(key, value);
        }
        for key in [
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ] {
            std::env::remove_var(key);
        }
    });
}

/// Quick retries for tests: 10 ms back-off, three attempts, a 10 s deadline.
pub fn quick_policy() -> CallPolicy {
    CallPolicy {
        deadline: Duration::from_secs(10),
        attempt_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(1),
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    }
}

/// The marker a child process runs under.
const CHILD: &str = "DEVFLOW_LLM_TEST_CHILD";

/// In the parent: runs `test` (this binary's test path) in a child process whose AWS
/// environment is exactly `env` (plus no shared files and no instance metadata) and fails
/// if the child does. In the child: returns `true`, and the caller runs the test body.
pub async fn in_child(test: &str, env: &[(&str, &str)]) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let mut command = Command::new(exe);
    command.args(["--exact", test, "--nocapture", "--test-threads", "1"]);
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") {
            command.env_remove(key);
        }
    }
    command
        .env(CHILD, "1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/devflow-test/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/devflow-test/aws-credentials",
        );
    for (key, value) in env {
        command.env(key, value);
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the child runs")
        .expect("the child starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the child test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    false
}
