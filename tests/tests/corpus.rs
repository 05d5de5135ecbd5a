//! The corpus of model-style diffs (`tests/corpus/NNN-slug.diff` + `.json`, see its README)
//! run through the built `devflow apply` against fresh copies of the fixture sites. Every case
//! must end as its `.json` says — exit code, status, every hunk's result, the problem — an
//! applied case must leave exactly the content its author intended and nothing else, and a
//! failed one must leave the folder byte-identical. The invariant: 0 wrong-place applies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use devflow_tests::daemon::binary;
use devflow_tests::fixtures::copy_site;
use serde_json::Value;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// Every file under `dir`, relative, `/`-separated, with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path
                    .strip_prefix(dir)
                    .expect("inside")
                    .to_string_lossy()
                    .replace('\\', "/");
                files.insert(relative, std::fs::read(&path).expect("read file"));
            }
        }
    }
    files
}

/// SHA-256 hex of `bytes` (coreutils' `sha256sum`; the harness has no hash crate).
fn sha256(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(bytes)
        .expect("write to sha256sum");
    let output = child.wait_with_output().expect("sha256sum finishes");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A fixture site copied into `temp`, with the case's `setup` done (files turned to CRLF,
/// extra files written).
fn prepare(case: &Value, temp: &Path) -> PathBuf {
    let site = copy_site(case["site"].as_str().expect("site"), temp);
    for path in case["setup"]["crlf"].as_array().into_iter().flatten() {
        let path = site.join(path.as_str().expect("crlf path"));
        let text = std::fs::read_to_string(&path).expect("text file");
        // The copies keep the fixtures' read-only mode; replace rather than write through.
        std::fs::remove_file(&path).expect("remove the LF copy");
        std::fs::write(&path, text.replace('\n', "\r\n")).expect("write crlf");
    }
    for (path, content) in case["setup"]["write"].as_object().into_iter().flatten() {
        let path = site.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, content.as_str().expect("content")).expect("write setup file");
    }
    site
}

fn apply(site: &Path, diff: &Path, case: &Value, check: bool) -> (i32, Value) {
    let mut command = Command::new(binary());
    command.args(["apply", "--json", "--dir"]).arg(site);
    if check {
        command.arg("--check");
    }
    for file in case["filesToEdit"].as_array().into_iter().flatten() {
        command
            .arg("--files-to-edit")
            .arg(file.as_str().expect("path"));
    }
    let output = command.arg(diff).output().expect("devflow apply runs");
    let report = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output.status.code().unwrap_or(-1), report)
}

/// Every field of every expected hunk, in order; `reason` is a substring of the real one.
fn hunk_mismatches(expected: &Value, actual: &Value) -> Vec<String> {
    let (Some(expected), Some(actual)) = (expected.as_array(), actual.as_array()) else {
        return vec![format!("hunks: expected {expected}, got {actual}")];
    };
    if expected.len() != actual.len() {
        return vec![format!(
            "{} hunks expected, {} reported: {actual:?}",
            expected.len(),
            actual.len()
        )];
    }
    let mut problems = Vec::new();
    for (i, (want, got)) in expected.iter().zip(actual).enumerate() {
        let Some(fields) = want.as_object() else {
            continue;
        };
        if got.as_object().map(|o| o.len()) != Some(fields.len()) {
            problems.push(format!("hunk #{}: expected {want}, got {got}", i + 1));
            continue;
        }
        for (key, value) in fields {
            let matches = match (key.as_str(), value.as_str(), got[key].as_str()) {
                ("reason", Some(part), Some(reason)) => reason.contains(part),
                _ => got[key] == *value,
            };
            if !matches {
                problems.push(format!(
                    "hunk #{} {key}: expected {value}, got {}",
                    i + 1,
                    got[key]
                ));
            }
        }
    }
    problems
}

/// The folder after an applied case: the intended content for every file the case meant
/// to change (`null` = deleted), the original for every other file.
fn intended_tree(
    original: &BTreeMap<String, Vec<u8>>,
    after: &BTreeMap<String, Vec<u8>>,
    intended: &serde_json::Map<String, Value>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let paths: std::collections::BTreeSet<&String> = original.keys().chain(after.keys()).collect();
    for path in paths {
        let now = after.get(path);
        match intended.get(path) {
            Some(Value::Null) if now.is_some() => problems.push(format!("{path} was not deleted")),
            Some(Value::Null) => {}
            Some(hash) => match now {
                None => problems.push(format!("{path} is missing")),
                Some(bytes) if hash.as_str() != Some(sha256(bytes).as_str()) => {
                    problems.push(format!("{path} is not what the diff's author intended"))
                }
                Some(_) => {}
            },
            None if now != original.get(path) => problems.push(format!(
                "{path} changed, but the diff did not mean to change it"
            )),
            None => {}
        }
    }
    problems
}

#[derive(Default)]
struct Tally {
    cases: usize,
    recoverable: usize,
    recovered: usize,
    wrong_place: Vec<String>,
    mismatches: Vec<String>,
}

fn run_case(stem: &str, case: &Value, tally: &mut Tally) {
    let temp = tempfile::tempdir().expect("tempdir");
    let site = prepare(case, temp.path());
    let diff = corpus_dir().join(format!("{stem}.diff"));
    let original = snapshot(&site);
    let expect = &case["expect"];
    let expected_exit = expect["exit"].as_i64().unwrap_or(-1) as i32;
    let mut problems = Vec::new();

    let (code, checked) = apply(&site, &diff, case, true);
    let checked_status = if expected_exit == 0 {
        "CHECKED"
    } else {
        expect["status"].as_str().unwrap_or_default()
    };
    if code != expected_exit || checked["status"] != checked_status {
        problems.push(format!(
            "--check: exit {code}, status {}, expected {expected_exit} {checked_status}: {}",
            checked["status"], checked["summary"]
        ));
    }
    if snapshot(&site) != original {
        tally
            .wrong_place
            .push(format!("{stem}: --check wrote to the folder"));
    }

    let (code, report) = apply(&site, &diff, case, false);
    let after = snapshot(&site);
    if code != expected_exit {
        problems.push(format!(
            "exit {code}, expected {expected_exit}: {}",
            report["summary"]
        ));
    }
    if report["status"] != expect["status"] {
        problems.push(format!(
            "status {}, expected {}",
            report["status"], expect["status"]
        ));
    }
    problems.extend(hunk_mismatches(&expect["hunks"], &report["hunks"]));
    if checked["hunks"] != report["hunks"] {
        problems.push("--check reported other hunks than the real run".into());
    }

    if code == 0 {
        let intended = case["intended"].as_object().cloned().unwrap_or_default();
        let wrong = intended_tree(&original, &after, &intended);
        if !wrong.is_empty() {
            tally
                .wrong_place
                .push(format!("{stem}: applied, but {}", wrong.join("; ")));
        }
        for file in report["files"].as_array().into_iter().flatten() {
            let path = file["path"].as_str().unwrap_or_default();
            let pre = original.get(path).map(|bytes| sha256(bytes));
            if file["preImageHash"].as_str() != pre.as_deref() {
                problems.push(format!("{path}: preImageHash is not the original's hash"));
            }
            if intended.get(path) != Some(&file["postImageHash"]) {
                problems.push(format!("{path}: postImageHash is not the intended hash"));
            }
        }
        if report["written"] != true || report["unifiedDiff"].as_str().is_none_or(str::is_empty) {
            problems.push(format!(
                "an applied report says written=true and has a diff: {report}"
            ));
        }
    } else {
        if after != original {
            tally.wrong_place.push(format!(
                "{stem}: failed (exit {code}) but changed the folder"
            ));
        }
        let problem = expect["problem"].as_str().unwrap_or_default();
        if !report["summary"]
            .as_str()
            .is_some_and(|s| s.contains(problem))
        {
            problems.push(format!(
                "summary {} does not say {problem:?}",
                report["summary"]
            ));
        }
        if report["written"] != false || report["files"] != Value::Array(Vec::new()) {
            problems.push(format!(
                "a failed report lists no files and written=false: {report}"
            ));
        }
    }

    tally.cases += 1;
    if case["category"] == "recoverable" {
        tally.recoverable += 1;
        if code == 0 {
            tally.recovered += 1;
        }
    }
    tally.mismatches.extend(
        problems
            .into_iter()
            .map(|p| format!("{stem} ({}): {p}", case["what"])),
    );
}

#[test]
fn every_corpus_diff_ends_as_expected_and_none_applies_in_a_wrong_place() {
    let mut stems: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("tests/corpus exists")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".json").map(str::to_string)
        })
        .collect();
    stems.sort();
    let mut tally = Tally::default();
    for stem in &stems {
        let text =
            std::fs::read_to_string(corpus_dir().join(format!("{stem}.json"))).expect("read case");
        let case: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{stem}.json: {e}"));
        run_case(stem, &case, &mut tally);
    }
    eprintln!(
        "corpus: {} cases; {} of {} recoverable applied; {} wrong-place applies",
        tally.cases,
        tally.recovered,
        tally.recoverable,
        tally.wrong_place.len()
    );
    assert!(tally.cases >= 60, "the corpus has {} cases", tally.cases);
    assert!(
        tally.wrong_place.is_empty(),
        "wrong-place applies:\n{}",
        tally.wrong_place.join("\n")
    );
    assert!(
        tally.mismatches.is_empty(),
        "{} cases did not end as expected:\n{}",
        tally.mismatches.len(),
        tally.mismatches.join("\n")
    );
    assert!(
        tally.recovered * 100 >= tally.recoverable * 95,
        "only {} of {} recoverable cases applied",
        tally.recovered,
        tally.recoverable
    );
}
