//! `devflow run`: the loop without a UI. Exit codes 0 READY / 1 FAILED / 2 bad input, the
//! JSON report field by field, and a site folder left byte-identical when nothing applies.

use std::path::Path;
use std::process::Command;

use devflow_tests::daemon::binary;
use devflow_tests::fixtures::{copy_site, fixtures_dir};
use serde_json::Value;

fn run(args: &[&str], cwd: &Path) -> (i32, Value, String) {
    let output = Command::new(binary())
        .arg("run")
        .args(args)
        .current_dir(cwd)
        .env_remove("DEVFLOW_PROPOSER")
        .output()
        .expect("devflow run starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (
        output.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push((
                    path.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                    std::fs::read(&path).unwrap(),
                ));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn a_failed_instruction_exits_1_with_its_summary_and_leaves_the_folder_identical() {
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site("simple-sidebar", temp.path());
    let before = snapshot(&site);
    let script = temp.path().join("instructions.txt");
    std::fs::write(
        &script,
        "# design pass\nmake the sidebar feel magical\n\nsecond line never runs\n",
    )
    .unwrap();
    let (code, report, stderr) = run(
        &[
            "--dir",
            site.to_str().unwrap(),
            "--script",
            script.to_str().unwrap(),
            "--proposer",
            "bedrock",
            "--json",
        ],
        temp.path(),
    );
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(report["status"], "FAILED");
    let commands = report["commands"].as_array().unwrap();
    assert_eq!(commands.len(), 1, "the run stops at the first failure");
    assert_eq!(commands[0]["instruction"], "make the sidebar feel magical");
    assert_eq!(commands[0]["status"], "FAILED");
    assert!(
        commands[0]["errorSummary"]
            .as_str()
            .unwrap()
            .contains("no bedrock proposer"),
        "{report}"
    );
    assert_eq!(commands[0]["patchId"], Value::Null);
    assert!(commands[0]["timings"]["queuedAt"].as_i64().unwrap() > 0);
    assert_eq!(report["diff"], "");
    assert!(
        stderr.contains("QUEUED") && stderr.contains("FAILED"),
        "progress goes to stderr: {stderr}"
    );
    assert_eq!(snapshot(&site), before, "nothing in the folder changed");
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let temp = tempfile::tempdir().unwrap();
    let zips = fixtures_dir().join("zips");
    let (code, report, _) = run(
        &[
            "--zip",
            zips.join("zip-slip.zip").to_str().unwrap(),
            "--instruction",
            "x",
            "--json",
        ],
        temp.path(),
    );
    assert_eq!(code, 2);
    assert_eq!(report["status"], "ERROR");
    assert_eq!(report["error"]["details"]["value"], "../../evil.txt");
    assert!(!temp.path().join("evil.txt").exists());

    let (code, _, stderr) = run(
        &["--dir", ".", "--instruction", "x", "--colour", "red"],
        temp.path(),
    );
    assert_eq!(code, 2, "an unknown flag is bad input");
    assert!(stderr.contains("--colour"), "{stderr}");

    let (code, _, stderr) = run(
        &["--dir", ".", "--instruction", "x", "--proposer", "gpt"],
        temp.path(),
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("builtin"),
        "the accepted values are listed: {stderr}"
    );

    let (code, report, _) = run(
        &["--dir", "/no/such/site", "--instruction", "x", "--json"],
        temp.path(),
    );
    assert_eq!(code, 2);
    assert_eq!(report["error"]["details"]["field"], "source.path");

    let (code, report, _) = run(&["--dir", ".", "--instruction", "", "--json"], temp.path());
    assert_eq!(code, 2);
    assert_eq!(report["error"]["details"]["field"], "instruction");
}
