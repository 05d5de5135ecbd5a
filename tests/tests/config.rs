//! The config file and `DEVFLOW_*` variables seen from outside: which layer wins (flag > env >
//! file), and a file or value devflow cannot use stops it at start with exit 2 and a message
//! naming the key and where it came from.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use devflow_tests::daemon::binary;

/// How `devflow serve` ended its start: the token it printed, or its exit code and stderr.
enum Start {
    Listening { token: String },
    Exited { code: i32, stderr: String },
}

/// Starts `devflow serve --port 0 ARGS` with `env` (and no inherited `DEVFLOW_*` that matter),
/// reads its first line, and stops it.
fn serve(args: &[&str], env: &[(&str, &str)], data_home: &Path) -> Start {
    let mut command = Command::new(binary());
    command
        .args(["serve", "--port", "0"])
        .args(args)
        .env("XDG_DATA_HOME", data_home)
        .env_remove("DEVFLOW_TOKEN")
        .env_remove("DEVFLOW_STATE_DIR")
        .env_remove("DEVFLOW_PORT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("devflow starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    if let Some(rest) = line.trim().strip_prefix("devflow listening on ") {
        let token = rest
            .split("/?token=")
            .nth(1)
            .unwrap_or_default()
            .to_string();
        let _ = child.kill();
        let _ = child.wait();
        return Start::Listening { token };
    }
    let output = child.wait_with_output().expect("devflow exits");
    Start::Exited {
        code: output.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn token_of(start: Start) -> String {
    match start {
        Start::Listening { token } => token,
        Start::Exited { code, stderr } => panic!("devflow exited {code}: {stderr}"),
    }
}

fn refusal_of(start: Start) -> (i32, String) {
    match start {
        Start::Listening { .. } => panic!("devflow started with a configuration it should refuse"),
        Start::Exited { code, stderr } => (code, stderr),
    }
}

#[test]
fn a_flag_beats_the_environment_which_beats_the_file() {
    let temp = tempfile::tempdir().unwrap();
    let state = temp.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let state_arg = state.to_str().unwrap();
    std::fs::write(
        state.join("devflow.toml"),
        "# the state dir's own file\ntoken = \"token-from-the-file-0001\"\n",
    )
    .unwrap();

    let from_file = token_of(serve(&["--state-dir", state_arg], &[], temp.path()));
    assert_eq!(from_file, "token-from-the-file-0001");

    let from_env = token_of(serve(
        &["--state-dir", state_arg],
        &[("DEVFLOW_TOKEN", "token-from-the-env-0002")],
        temp.path(),
    ));
    assert_eq!(from_env, "token-from-the-env-0002");

    let from_flag = token_of(serve(
        &[
            "--state-dir",
            state_arg,
            "--token",
            "token-from-the-flag-0003",
        ],
        &[("DEVFLOW_TOKEN", "token-from-the-env-0002")],
        temp.path(),
    ));
    assert_eq!(from_flag, "token-from-the-flag-0003");

    // --config replaces the state dir's file, and may name the state dir itself.
    let other = temp.path().join("ci.toml");
    std::fs::write(
        &other,
        format!(
            "stateDir = {:?}\ntoken = \"token-from-config-flag-4\"\n",
            temp.path().join("other-state").to_str().unwrap()
        ),
    )
    .unwrap();
    let from_config = token_of(serve(
        &["--config", other.to_str().unwrap()],
        &[],
        temp.path(),
    ));
    assert_eq!(from_config, "token-from-config-flag-4");
    assert!(
        temp.path().join("other-state").join("devflow.db").is_file(),
        "the state dir named in the --config file is used"
    );
}

#[test]
fn a_bad_config_file_stops_serve_with_exit_2_naming_key_and_file() {
    let temp = tempfile::tempdir().unwrap();
    let file = temp.path().join("bad.toml");
    std::fs::write(&file, "port = 0\ns3Buckett = \"designs\"\n").unwrap();
    let (code, stderr) = refusal_of(serve(
        &["--config", file.to_str().unwrap()],
        &[],
        temp.path(),
    ));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("s3Buckett"), "names the key: {stderr}");
    assert!(stderr.contains("bad.toml"), "names the file: {stderr}");
    assert!(
        stderr.contains("s3Bucket"),
        "lists the known keys: {stderr}"
    );

    std::fs::write(&file, "events = \"sqs\"\n").unwrap();
    let (code, stderr) = refusal_of(serve(
        &["--config", file.to_str().unwrap()],
        &[],
        temp.path(),
    ));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("events") && stderr.contains("store = \"dynamodb\""),
        "{stderr}"
    );

    std::fs::write(&file, "this is not toml\n").unwrap();
    let (code, stderr) = refusal_of(serve(
        &["--config", file.to_str().unwrap()],
        &[],
        temp.path(),
    ));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("bad.toml"), "{stderr}");

    let (code, stderr) = refusal_of(serve(
        &[
            "--config",
            temp.path().join("missing.toml").to_str().unwrap(),
        ],
        &[],
        temp.path(),
    ));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("cannot read") && stderr.contains("missing.toml"),
        "{stderr}"
    );
}

#[test]
fn a_bad_environment_value_stops_every_command_with_exit_2() {
    let temp = tempfile::tempdir().unwrap();
    let (code, stderr) = refusal_of(serve(
        &[],
        &[("DEVFLOW_CONTEXT_TOKENS", "lots")],
        temp.path(),
    ));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("DEVFLOW_CONTEXT_TOKENS=\"lots\""),
        "{stderr}"
    );

    let (code, stderr) = refusal_of(serve(&[], &[("DEVFLOW_BLOBS", "s3")], temp.path()));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("s3Bucket"),
        "says what is missing: {stderr}"
    );

    // The same loading for the other commands (--config is a global flag).
    let file = temp.path().join("bad.toml");
    std::fs::write(&file, "proposer = \"gpt\"\n").unwrap();
    for args in [
        vec!["lsp", "--config", file.to_str().unwrap()],
        vec![
            "run",
            "--dir",
            ".",
            "--instruction",
            "x",
            "--config",
            file.to_str().unwrap(),
        ],
        vec!["rpc", "session/list", "--config", file.to_str().unwrap()],
    ] {
        let output = Command::new(binary())
            .args(&args)
            .env("XDG_DATA_HOME", temp.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("proposer") && stderr.contains("bad.toml"),
            "{args:?}: {stderr}"
        );
    }
}
