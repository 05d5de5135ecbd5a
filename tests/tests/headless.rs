//! `devflow run`: the loop without a UI. Every fixture site with the builtin proposer, the
//! JSON report field by field; exit codes 0 READY / 1 FAILED / 2 bad input / 3 environment;
//! rollback (the folder byte-identical) unless `--keep-changes`; `--out` diffs that apply;
//! progress as plain lines or, on a terminal, a bar; and examples/ci/devflow.yml run as
//! written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use devflow_tests::daemon::binary;
use devflow_tests::fixtures::{copy_site, fixtures_dir};
use serde_json::Value;

/// The variables that would give `devflow run` a proposer or settings from this machine.
const AMBIENT: &[&str] = &[
    "DEVFLOW_PROPOSER",
    "DEVFLOW_OPENAI_URL",
    "DEVFLOW_BEDROCK_MODEL",
    "DEVFLOW_BEDROCK_REGION",
    "DEVFLOW_STATE_DIR",
    "DEVFLOW_LOG",
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
];

/// A `Command` for the devflow binary (or `program`) with no ambient credentials or config:
/// HOME and the data dir point into `home`.
fn hermetic(program: &Path, home: &Path) -> Command {
    let mut command = Command::new(program);
    for name in AMBIENT {
        command.env_remove(name);
    }
    command
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.join("no-aws-credentials"),
        )
        .env("AWS_CONFIG_FILE", home.join("no-aws-config"));
    command
}

fn run(args: &[&str], cwd: &Path) -> (i32, Value, String) {
    let output = hermetic(&binary(), cwd)
        .arg("run")
        .args(args)
        .current_dir(cwd)
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

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(
                    path.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    files
}

/// `git apply` of `diff` in `dir` (check only, or for real).
fn git_apply(dir: &Path, diff: &Path, check: bool) -> Result<(), String> {
    let mut command = Command::new("git");
    command.arg("apply");
    if check {
        command.arg("--check");
    }
    let output = command
        .arg(diff)
        .current_dir(dir)
        .output()
        .expect("git runs");
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// A fresh copy of `site` with `diff` applied.
fn applied_copy(site: &str, diff: &Path, into: &Path) -> PathBuf {
    std::fs::create_dir_all(into).unwrap();
    let copy = copy_site(site, into);
    git_apply(&copy, diff, false).expect("the diff applies to a fresh copy");
    copy
}

#[test]
fn every_fixture_site_gets_a_ready_patch_and_a_complete_report() {
    for name in ["simple-sidebar", "html5-boilerplate", "vite-vanilla"] {
        let temp = tempfile::tempdir().unwrap();
        let site = copy_site(name, temp.path());
        let before = snapshot(&site);
        let out = temp.path().join("design.diff");
        let (code, report, stderr) = run(
            &[
                "--dir",
                site.to_str().unwrap(),
                "--instruction",
                "round the corners",
                "--proposer",
                "builtin",
                "--json",
                "--out",
                out.to_str().unwrap(),
            ],
            temp.path(),
        );
        assert_eq!(code, 0, "{name}: {stderr}");
        assert_eq!(report["status"], "READY", "{name}");
        assert_eq!(report["keptChanges"], false);
        assert_eq!(report["workspace"], site.to_str().unwrap());
        assert!(report["sessionId"].as_str().is_some_and(|s| !s.is_empty()));
        assert_eq!(report["lastErrorSummary"], Value::Null);
        assert!(report["elapsedMs"].is_u64());
        assert_eq!(report["driftBefore"], Value::Null, "no reference, no drift");
        assert_eq!(report["driftAfter"], Value::Null);

        let commands = report["commands"].as_array().unwrap();
        assert_eq!(commands.len(), 1);
        let command = &commands[0];
        assert_eq!(command["instruction"], "round the corners");
        assert_eq!(command["status"], "READY");
        assert!(command["commandId"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(command["patchId"].as_str().is_some_and(|s| !s.is_empty()));
        assert_eq!(command["attempts"], 1);
        assert_eq!(command["errorSummary"], Value::Null);
        assert!(command["reason"].as_str().is_some_and(|r| !r.is_empty()));
        let confidence = command["confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&confidence));
        let files: Vec<&str> = command["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        assert!(!files.is_empty());
        let diff = command["diff"].as_str().unwrap();
        for file in &files {
            assert!(site.join(file).is_file(), "{name}: {file} is a site file");
            assert!(diff.contains(&format!("+++ b/{file}")), "{name}: {diff}");
        }
        assert!(diff.contains("radius"), "{name}: {diff}");
        assert_eq!(
            report["diff"], diff,
            "one command: the run's diff is its diff"
        );
        let timings = &command["timings"];
        let queued = timings["queuedAt"].as_i64().unwrap();
        let started = timings["startedAt"].as_i64().unwrap();
        let finished = timings["finishedAt"].as_i64().unwrap();
        assert!(queued <= started && started <= finished, "{timings}");
        assert!(command["elapsedMs"].is_u64());

        assert_eq!(std::fs::read_to_string(&out).unwrap(), diff, "--out");
        assert_eq!(snapshot(&site), before, "{name}: rolled back at the end");
        let patched = applied_copy(name, &out, &temp.path().join("check"));
        assert_ne!(
            snapshot(&patched),
            before,
            "{name}: the diff changes the site"
        );
        assert!(stderr.contains("rolled back"), "{name}: says so: {stderr}");
    }
}

#[test]
fn a_reference_gives_drift_before_and_after() {
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site("simple-sidebar", temp.path());
    let tokens = fixtures_dir().join("tokens/dtcg-small/tokens.json");
    let (code, report, stderr) = run(
        &[
            "--dir",
            site.to_str().unwrap(),
            "--reference",
            tokens.to_str().unwrap(),
            "--instruction",
            "round the corners",
            "--instruction",
            "use the design tokens",
            "--json",
        ],
        temp.path(),
    );
    assert_eq!(code, 0, "{stderr}");
    let commands = report["commands"].as_array().unwrap();
    assert_eq!(commands.len(), 2);
    for command in commands {
        assert!(command["driftBefore"].is_f64(), "{command}");
        assert!(command["driftAfter"].is_f64(), "{command}");
    }
    assert_eq!(
        commands[1]["driftBefore"], commands[0]["driftAfter"],
        "the second starts where the first ended"
    );
    assert_eq!(report["driftBefore"], commands[0]["driftBefore"]);
    assert_eq!(report["driftAfter"], commands[1]["driftAfter"]);
    assert!(stderr.contains("reference with 35 tokens"), "{stderr}");
}

#[test]
fn a_failed_instruction_exits_1_stops_the_script_and_rolls_back() {
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site("simple-sidebar", temp.path());
    let before = snapshot(&site);
    let script = temp.path().join("instructions.txt");
    std::fs::write(
        &script,
        "# design pass\nround the corners\n\nmake the sidebar feel magical\nthird line never runs\n",
    )
    .unwrap();
    let out = temp.path().join("design.diff");
    let args = [
        "--dir",
        site.to_str().unwrap(),
        "--script",
        script.to_str().unwrap(),
        "--json",
        "--out",
        out.to_str().unwrap(),
    ];
    let (code, report, stderr) = run(&args, temp.path());
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(report["status"], "FAILED");
    let commands = report["commands"].as_array().unwrap();
    assert_eq!(commands.len(), 2, "the run stops at the first failure");
    assert_eq!(commands[0]["status"], "READY");
    assert_eq!(commands[1]["instruction"], "make the sidebar feel magical");
    assert_eq!(commands[1]["status"], "FAILED");
    assert_eq!(commands[1]["patchId"], Value::Null);
    assert_eq!(commands[1]["diff"], Value::Null);
    assert!(
        commands[1]["errorSummary"]
            .as_str()
            .unwrap()
            .contains("could not act on"),
        "{report}"
    );
    assert!(commands[1]["timings"]["queuedAt"].as_i64().unwrap() > 0);
    assert_eq!(report["diff"], commands[0]["diff"], "only what applied");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        commands[0]["diff"].as_str().unwrap()
    );
    assert!(
        stderr.contains("QUEUED") && stderr.contains("FAILED"),
        "progress goes to stderr: {stderr}"
    );
    assert!(!stderr.contains("third line"), "{stderr}");
    assert_eq!(snapshot(&site), before, "nothing in the folder changed");

    // --keep-changes: the first patch stays, the failed one left nothing behind.
    let (code, report, stderr) = run(&[&args[..], &["--keep-changes"]].concat(), temp.path());
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(report["keptChanges"], true);
    let expected = applied_copy("simple-sidebar", &out, &temp.path().join("expected"));
    assert_eq!(snapshot(&site), snapshot(&expected));
}

#[test]
fn a_proposer_without_credentials_is_an_environment_problem() {
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site("simple-sidebar", temp.path());
    let before = snapshot(&site);
    for (proposer, hint) in [
        ("bedrock", "AWS credentials"),
        ("openai", "DEVFLOW_OPENAI_URL"),
    ] {
        let (code, report, stderr) = run(
            &[
                "--dir",
                site.to_str().unwrap(),
                "--instruction",
                "round the corners",
                "--proposer",
                proposer,
                "--json",
            ],
            temp.path(),
        );
        assert_eq!(code, 3, "{proposer}: {stderr}");
        assert_eq!(report["status"], "ERROR");
        assert_eq!(report["error"]["error"], "NOT_CONFIGURED");
        let message = report["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("no {proposer} proposer")) && message.contains(hint),
            "{message}"
        );
        assert!(message.contains("--proposer"), "{message}");
    }
    assert_eq!(snapshot(&site), before);
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

    let (code, _, stderr) = run(
        &["--dir", ".", "--script", "/no/such/script.txt"],
        temp.path(),
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("/no/such/script.txt"), "{stderr}");
}

#[test]
fn a_zip_site_is_patched_in_a_private_workspace() {
    let temp = tempfile::tempdir().unwrap();
    let zip = fixtures_dir().join("zips/simple-sidebar.zip");
    let out = temp.path().join("zip.diff");
    let (code, report, stderr) = run(
        &[
            "--zip",
            zip.to_str().unwrap(),
            "--instruction",
            "round the corners",
            "--json",
            "--out",
            out.to_str().unwrap(),
        ],
        temp.path(),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["status"], "READY");
    assert_eq!(report["keptChanges"], true, "a zip's workspace is private");
    assert!(stderr.contains("unpacked"), "{stderr}");
    let copy = copy_site("simple-sidebar", &temp.path().join("check"));
    git_apply(&copy, &out, true).expect("the zip's diff applies to the folder it came from");
}

#[test]
fn verify_starts_the_preview_before_the_first_instruction() {
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site("simple-sidebar", temp.path());
    let (code, report, stderr) = run(
        &[
            "--dir",
            site.to_str().unwrap(),
            "--instruction",
            "round the corners",
            "--verify",
            "--json",
        ],
        temp.path(),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["commands"][0]["status"], "READY");
    let preview = stderr
        .find("devflow: preview at http://127.0.0.1:")
        .expect("the preview's address is shown");
    let queued = stderr.find("round the corners: QUEUED").unwrap();
    assert!(preview < queued, "{stderr}");
}

#[test]
fn progress_is_plain_lines_in_a_log_and_a_bar_on_a_terminal() {
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site("html5-boilerplate", temp.path());
    let site_arg = site.to_str().unwrap();
    let args = [
        "--dir",
        site_arg,
        "--instruction",
        "round the corners",
        "--instruction",
        "make the text bigger",
    ];
    let (code, _, stderr) = run(&args, temp.path());
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !stderr.contains('\r') && !stderr.contains('\x1b'),
        "{stderr:?}"
    );
    assert!(stderr.contains("round the corners: PATCHING\n"), "{stderr}");
    assert!(stderr.contains("make the text bigger: READY\n"), "{stderr}");

    // script(1) gives devflow a terminal for stdout and stderr.
    let quoted: Vec<String> = std::iter::once(binary().display().to_string())
        .chain(std::iter::once("run".to_string()))
        .chain(args.iter().map(|a| a.to_string()))
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let output = hermetic(Path::new("script"), temp.path())
        .args(["-qec", &quoted.join(" "), "/dev/null"])
        .current_dir(temp.path())
        .output()
        .expect("script(1) runs");
    let screen = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{screen}");
    assert!(
        screen.contains("\r\x1b[2K["),
        "redrawn in place: {screen:?}"
    );
    assert!(
        screen.contains("] 1/2 round the corners: PATCHING"),
        "{screen:?}"
    );
    assert!(
        screen.contains(&format!(
            "[{}] 2/2 make the text bigger: READY",
            "#".repeat(24)
        )),
        "a full bar at the end: {screen:?}"
    );
}

/// One step of a GitHub Actions job.
#[derive(Debug, serde::Deserialize)]
struct Step {
    name: Option<String>,
    id: Option<String>,
    uses: Option<String>,
    run: Option<String>,
    #[serde(rename = "if")]
    condition: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    with: BTreeMap<String, serde_norway::Value>,
}

#[derive(Debug, serde::Deserialize)]
struct Job {
    #[serde(default)]
    env: BTreeMap<String, String>,
    steps: Vec<Step>,
}

#[derive(Debug, serde::Deserialize)]
struct Workflow {
    jobs: BTreeMap<String, Job>,
    defaults: serde_norway::Value,
}

/// Runs the job's steps after "Install devflow" as GitHub would (its bash flags, `$GITHUB_OUTPUT`,
/// `$RUNNER_TEMP` = `scratch/runner-temp`, step outputs in `${{ steps.ID.outputs.NAME }}`), with
/// `devflow` on PATH; returns each run step's name and exit code.
fn run_ci_job(job: &Job, site: &Path, instruction: &str, scratch: &Path) -> Vec<(String, i32)> {
    let bin = scratch.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let link = bin.join("devflow");
    if !link.exists() {
        std::os::unix::fs::symlink(binary(), &link).unwrap();
    }
    let runner_temp = scratch.join("runner-temp");
    std::fs::create_dir_all(&runner_temp).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let install = job
        .steps
        .iter()
        .position(|s| s.name.as_deref() == Some("Install devflow"))
        .expect("the workflow installs devflow");
    let mut outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut codes = Vec::new();
    for (index, step) in job.steps.iter().enumerate().skip(install + 1) {
        let Some(script) = &step.run else { continue };
        let mut command = hermetic(Path::new("bash"), scratch);
        let script_file = scratch.join(format!("step-{index}.sh"));
        std::fs::write(&script_file, script).unwrap();
        let output_file = scratch.join(format!("output-{index}"));
        std::fs::write(&output_file, "").unwrap();
        command
            .args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script_file)
            .current_dir(site)
            .env("PATH", &path)
            .env("CI", "true")
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_STEP_SUMMARY", scratch.join("summary.md"))
            .env("GITHUB_WORKSPACE", site)
            .env("RUNNER_TEMP", &runner_temp);
        for (key, value) in job.env.iter().chain(&step.env) {
            let value = if key == "DEVFLOW_INSTRUCTION" {
                instruction.to_string()
            } else if key == "DEVFLOW_REPOSITORY" {
                continue;
            } else {
                resolve_step_output(value, &outputs)
            };
            command.env(key, value);
        }
        let status = command.status().expect("bash runs");
        if let Some(id) = &step.id {
            let written = std::fs::read_to_string(&output_file).unwrap();
            outputs.insert(
                id.clone(),
                written
                    .lines()
                    .filter_map(|l| l.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            );
        }
        codes.push((
            step.name.clone().unwrap_or_default(),
            status.code().unwrap_or(-1),
        ));
    }
    codes
}

/// `${{ steps.ID.outputs.NAME }}` from earlier steps; any other expression is refused.
fn resolve_step_output(
    value: &str,
    outputs: &BTreeMap<String, BTreeMap<String, String>>,
) -> String {
    let Some(inner) = value
        .trim()
        .strip_prefix("${{")
        .and_then(|v| v.strip_suffix("}}"))
    else {
        assert!(!value.contains("${{"), "unexpected expression {value}");
        return value.to_string();
    };
    let parts: Vec<&str> = inner.trim().split('.').collect();
    match parts.as_slice() {
        ["steps", id, "outputs", name] => outputs
            .get(*id)
            .and_then(|o| o.get(*name))
            .cloned()
            .unwrap_or_default(),
        _ => panic!("the test does not evaluate {value}"),
    }
}

#[test]
fn the_ci_example_runs_as_written() {
    let yaml_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/ci/devflow.yml");
    let workflow: Workflow =
        serde_norway::from_str(&std::fs::read_to_string(&yaml_path).unwrap()).unwrap();
    assert_eq!(
        workflow.defaults["run"]["shell"], "bash",
        "the shell the test uses"
    );
    let job = workflow.jobs.get("design").expect("the design job");
    assert_eq!(job.env["DEVFLOW_PROPOSER"], "builtin");
    assert!(job.env["DEVFLOW_INSTRUCTION"].contains("'round the corners'"));
    // Shell lines, with `\`-continued lines joined.
    let devflow_lines: Vec<String> = job
        .steps
        .iter()
        .filter_map(|s| s.run.as_deref())
        .flat_map(|script| {
            script
                .replace("\\\n", " ")
                .lines()
                .map(|l| l.trim().to_string())
                .collect::<Vec<_>>()
        })
        .filter(|l| l.starts_with("devflow "))
        .collect();
    assert_eq!(devflow_lines.len(), 1, "{devflow_lines:?}");
    for flag in ["devflow run", "--dir .", "--json", "--out", "devflow.diff"] {
        assert!(
            devflow_lines[0].contains(flag),
            "{flag} in {}",
            devflow_lines[0]
        );
    }
    // The diff is uploaded before the job fails, and also when it fails.
    let upload = job
        .steps
        .iter()
        .position(|s| {
            s.uses
                .as_deref()
                .is_some_and(|u| u.starts_with("actions/upload-artifact"))
        })
        .expect("an upload step");
    assert_eq!(job.steps[upload].condition.as_deref(), Some("always()"));
    let paths = job.steps[upload].with["path"].as_str().unwrap();
    assert!(paths.contains("devflow.diff") && paths.contains("devflow.json"));
    let fail = job.steps.len() - 1;
    assert!(upload < fail);

    // READY: every step passes, the site is as it was, the diff applies.
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site("vite-vanilla", temp.path());
    let before = snapshot(&site);
    let scratch = temp.path().join("ready");
    let codes = run_ci_job(job, &site, "round the corners", &scratch);
    assert!(codes.iter().all(|(_, code)| *code == 0), "{codes:?}");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(scratch.join("runner-temp/devflow.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["status"], "READY");
    assert_eq!(report["commands"][0]["files"][0], "src/style.css");
    assert_eq!(snapshot(&site), before, "the checkout is left as it was");
    let diff = scratch.join("runner-temp/devflow.diff");
    git_apply(&site, &diff, true).expect("the uploaded diff applies to the checkout");
    let summary = std::fs::read_to_string(scratch.join("summary.md")).unwrap();
    assert!(summary.contains("border-radius"), "{summary}");

    // FAILED: the devflow step records exit 1, the report is there to upload, the job fails.
    let scratch = temp.path().join("failed");
    let codes = run_ci_job(job, &site, "make it feel magical", &scratch);
    assert_eq!(
        codes.first().map(|c| c.1),
        Some(0),
        "the devflow step records: {codes:?}"
    );
    assert_eq!(
        codes.last().map(|c| c.1),
        Some(1),
        "the job fails: {codes:?}"
    );
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(scratch.join("runner-temp/devflow.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["status"], "FAILED");
    assert_eq!(snapshot(&site), before);
}
