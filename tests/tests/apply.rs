//! `devflow apply` run as a person runs it: on a copy of a fixture site, the diff from a file
//! or stdin. Exit codes 0 applied / 1 a hunk does not fit (nothing written) / 2 bad input
//! (nothing written), the JSON report field by field, `--check` writing nothing, and the
//! plain-text report on stdout or stderr.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use devflow_tests::daemon::binary;
use devflow_tests::fixtures::copy_site;
use serde_json::{json, Value};

/// Exit code, stdout, stderr.
fn devflow(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(binary())
        .arg("apply")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("devflow apply starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write the diff");
    }
    drop(input);
    let output = child.wait_with_output().expect("devflow apply finishes");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `devflow apply --json ARGS`: exit code and the parsed report.
fn apply_json(args: &[&str], stdin: Option<&str>) -> (i32, Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = devflow(&all, stdin);
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr: {stderr}"));
    (code, report)
}

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(dir).expect("inside");
                files.insert(
                    relative.to_string_lossy().replace('\\', "/"),
                    std::fs::read(&path).expect("read"),
                );
            }
        }
    }
    files
}

fn sha256(bytes: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(bytes)
        .expect("write");
    let output = child.wait_with_output().expect("sha256sum finishes");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

struct Site {
    _temp: tempfile::TempDir,
    dir: PathBuf,
}

impl Site {
    fn new(name: &str) -> Site {
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = copy_site(name, temp.path());
        Site { _temp: temp, dir }
    }

    fn dir(&self) -> &str {
        self.dir.to_str().expect("utf-8 temp path")
    }

    fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.dir.join(path)).expect("read site file")
    }

    /// Writes `text` to a file beside the site and returns its path.
    fn diff_file(&self, text: &str) -> String {
        let path = self.dir.with_extension("diff");
        std::fs::write(&path, text).expect("write diff");
        path.to_string_lossy().into_owned()
    }
}

/// A model's answer: prose, a fence, no a/ b/ prefixes, the stylesheet's line numbers
/// 10 711 too low, and an exact hunk in a second file.
const MODEL_DIFF: &str = "I'll widen the sidebar and rename the page.

```diff
--- css/styles.css
+++ css/styles.css
@@ -130,3 +130,3 @@
 #sidebar-wrapper .list-group {
-  width: 15rem;
+  width: 16rem;
 }
--- index.html
+++ index.html
@@ -7,3 +7,3 @@
         <meta name=\"author\" content=\"\" />
-        <title>Simple Sidebar - Start Bootstrap Template</title>
+        <title>Simple Sidebar</title>
         <!-- Favicon-->
```
";

#[test]
fn applies_a_model_style_diff_and_reports_files_hunks_and_the_normalised_diff() {
    let site = Site::new("simple-sidebar");
    let before = snapshot(&site.dir);
    let patch = site.diff_file(MODEL_DIFF);
    let (code, report) = apply_json(&["--dir", site.dir(), &patch], None);
    assert_eq!(code, 0, "{report}");

    assert_eq!(report["status"], "APPLIED");
    assert_eq!(report["written"], true);
    assert_eq!(report["problems"], json!([]));
    assert_eq!(
        report["summary"],
        "applied 2 hunks to 2 files (1 offset, 1 exact)"
    );
    assert_eq!(
        report["hunks"],
        json!([
            {"file": "css/styles.css", "hunk": 1, "line": 10842, "result": "offset", "lines": 10712},
            {"file": "index.html", "hunk": 1, "line": 7, "result": "exact"},
        ])
    );
    let after = snapshot(&site.dir);
    let files = report["files"].as_array().expect("files");
    assert_eq!(files.len(), 2);
    for (file, path) in files.iter().zip(["css/styles.css", "index.html"]) {
        assert_eq!(file["path"], path);
        assert_eq!(file["change"], "modify");
        assert_eq!(file["preImageHash"], sha256(&before[path]), "{path}");
        assert_eq!(file["postImageHash"], sha256(&after[path]), "{path}");
    }

    assert!(site
        .read("css/styles.css")
        .contains("#sidebar-wrapper .list-group {\n  width: 16rem;\n}"));
    assert!(site
        .read("index.html")
        .contains("\n        <title>Simple Sidebar</title>\n"));
    let changed: Vec<&String> = after
        .iter()
        .filter(|(path, bytes)| before.get(*path) != Some(*bytes))
        .map(|(path, _)| path)
        .collect();
    assert_eq!(changed, ["css/styles.css", "index.html"]);

    let normalised = report["unifiedDiff"].as_str().expect("unifiedDiff");
    assert!(
        normalised
            .starts_with("--- a/css/styles.css\n+++ b/css/styles.css\n@@ -10840,7 +10840,7 @@\n"),
        "{normalised}"
    );
    assert!(normalised.contains("\n-        <title>Simple Sidebar - Start Bootstrap Template</title>\n+        <title>Simple Sidebar</title>\n"));
}

#[test]
fn check_reports_the_same_plan_and_writes_nothing() {
    let site = Site::new("simple-sidebar");
    let before = snapshot(&site.dir);
    let patch = site.diff_file(MODEL_DIFF);
    let (code, checked) = apply_json(&["--check", "--dir", site.dir(), &patch], None);
    assert_eq!(code, 0, "{checked}");
    assert_eq!(checked["status"], "CHECKED");
    assert_eq!(checked["written"], false);
    assert_eq!(
        checked["summary"],
        "would apply 2 hunks to 2 files (1 offset, 1 exact)"
    );
    assert_eq!(snapshot(&site.dir), before, "--check wrote nothing");

    let (code, applied) = apply_json(&["--dir", site.dir(), &patch], None);
    assert_eq!(code, 0);
    for field in ["files", "hunks", "unifiedDiff"] {
        assert_eq!(checked[field], applied[field], "{field}");
    }
}

#[test]
fn a_hunk_that_fits_nowhere_exits_1_and_writes_no_file_not_even_the_ones_that_fit() {
    let site = Site::new("vite-vanilla");
    let before = snapshot(&site.dir);
    let diff = "--- a/src/main.js\n+++ b/src/main.js\n@@ -15,3 +15,3 @@\n   <div>\n-    <h1>Get started</h1>\n+    <h1>Welcome</h1>\n     <p>Edit <code>src/main.js</code> and save to test <code>HMR</code></p>\n--- a/src/style.css\n+++ b/src/style.css\n@@ -7,3 +7,3 @@\n   --code-bg: #f4f3ec;\n-  --accent: #646cff;\n+  --accent: #ff3e00;\n   --accent-bg: rgba(170, 59, 255, 0.1);\n";
    let (code, report) = apply_json(&["--dir", site.dir(), "-"], Some(diff));
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["status"], "FAILED");
    assert_eq!(report["written"], false);
    assert_eq!(report["files"], json!([]));
    assert_eq!(report["unifiedDiff"], "");
    let expected_reason = "does not match anywhere; closest is lines 6-8 (2 of 3 lines agree), where line 7 is `  --accent: #aa3bff;` but the hunk expects `  --accent: #646cff;`";
    assert_eq!(
        report["hunks"],
        json!([
            {"file": "src/main.js", "hunk": 1, "line": 14, "result": "offset", "lines": -1},
            {"file": "src/style.css", "hunk": 1, "line": 7, "result": "failed", "reason": expected_reason},
        ])
    );
    assert_eq!(
        report["summary"],
        format!("hunk 1 of src/style.css {expected_reason}")
    );
    assert_eq!(report["problems"], json!([report["summary"]]));
    assert_eq!(
        snapshot(&site.dir),
        before,
        "main.js was not written either"
    );
}

#[test]
fn an_ambiguous_hunk_exits_1_naming_every_candidate_line() {
    let site = Site::new("html5-boilerplate");
    let diff = "--- a/css/style.css\n+++ b/css/style.css\n@@ @@\n-    page-break-inside: avoid;\n+    page-break-inside: auto;\n   }\n";
    let (code, report) = apply_json(&["--check", "--dir", site.dir()], Some(diff));
    assert_eq!(code, 1);
    assert_eq!(
        report["hunks"][0]["reason"],
        "matches 2 places (lines 227 and 232); add more context"
    );
}

#[test]
fn creates_deletes_and_renames_files() {
    let site = Site::new("simple-sidebar");
    let diff = "--- /dev/null\n+++ b/css/brand.css\n@@ -0,0 +1,3 @@\n+:root {\n+  --brand: #0d6efd;\n+}\ndiff --git a/js/scripts.js b/js/sidebar.js\nsimilarity index 100%\nrename from js/scripts.js\nrename to js/sidebar.js\ndiff --git a/LICENSE b/LICENSE\ndeleted file mode 100644\n";
    let script = site.read("js/scripts.js");
    let (code, report) = apply_json(&["--dir", site.dir()], Some(diff));
    assert_eq!(code, 0, "{report}");
    let changes: Vec<(&str, &str, bool, bool)> = report["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap_or_default(),
                f["change"].as_str().unwrap_or_default(),
                f["preImageHash"].is_string(),
                f["postImageHash"].is_string(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("css/brand.css", "create", false, true),
            ("js/scripts.js", "delete", true, false),
            ("js/sidebar.js", "create", false, true),
            ("LICENSE", "delete", true, false),
        ]
    );
    assert_eq!(site.read("js/sidebar.js"), script);
    assert!(!site.dir.join("js/scripts.js").exists());
    assert!(!site.dir.join("LICENSE").exists());
    assert_eq!(
        site.read("css/brand.css"),
        ":root {\n  --brand: #0d6efd;\n}\n"
    );
}

#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let site = Site::new("vite-vanilla");
    std::fs::write(site.dir.join("package-lock.json"), "{}\n").expect("lockfile");
    let before = snapshot(&site.dir);
    let hunk = "@@ -1 +1 @@\n-x\n+y\n";
    let cases: Vec<(Vec<&str>, String, &str)> = vec![
        (vec![], "Sorry, I could not find the file.".into(), "no unified diff found"),
        (vec![], format!("--- a/../../etc/passwd\n+++ b/../../etc/passwd\n{hunk}"), "path leaves the workspace"),
        (vec![], format!("--- a/package-lock.json\n+++ b/package-lock.json\n{hunk}"), "package-lock.json is a lockfile"),
        (vec![], format!("--- a/node_modules/vite/index.js\n+++ b/node_modules/vite/index.js\n{hunk}"), "under node_modules/"),
        (vec![], format!("--- a/src/assets/hero.png\n+++ b/src/assets/hero.png\n{hunk}"), "src/assets/hero.png is binary"),
        (
            vec!["--files-to-edit", "src/style.css"],
            "--- a/index.html\n+++ b/index.html\n@@ -7 +7 @@\n-    <title>Vite + JS</title>\n+    <title>Counter</title>\n".into(),
            "index.html is not in files_to_edit (src/style.css)",
        ),
    ];
    for (extra, diff, message) in cases {
        let mut args = vec!["--dir", site.dir()];
        args.extend(extra);
        let (code, report) = apply_json(&args, Some(&diff));
        assert_eq!(code, 2, "{diff}\n{report}");
        assert_eq!(report["status"], "ERROR");
        assert_eq!(report["written"], false);
        let summary = report["summary"].as_str().unwrap_or_default();
        assert!(summary.contains(message), "{summary:?} lacks {message:?}");
    }

    let (code, report) = apply_json(&["--dir", site.dir(), "/no/such/patch.diff"], None);
    assert_eq!(code, 2);
    assert!(report["summary"]
        .as_str()
        .unwrap_or_default()
        .starts_with("cannot read the diff /no/such/patch.diff"));
    let (code, report) = apply_json(&["--dir", "/no/such/site"], Some("x"));
    assert_eq!(code, 2);
    assert_eq!(report["summary"], "--dir /no/such/site is not a folder");
    let (code, _, stderr) = devflow(&["--dir", site.dir(), "--colour", "red"], None);
    assert_eq!(code, 2, "an unknown flag is bad input");
    assert!(stderr.contains("--colour"), "{stderr}");

    assert_eq!(snapshot(&site.dir), before);
}

#[test]
fn applying_the_same_diff_twice_fails_the_second_time_instead_of_duplicating_lines() {
    let site = Site::new("simple-sidebar");
    let diff = "--- a/css/styles.css\n+++ b/css/styles.css\n@@ -10831,4 +10831,5 @@\n #sidebar-wrapper {\n   min-height: 100vh;\n   margin-left: -15rem;\n   transition: margin 0.25s ease-out;\n+  background-color: #0d6efd;\n }\n";
    let (code, _) = apply_json(&["--dir", site.dir()], Some(diff));
    assert_eq!(code, 0);
    let once = snapshot(&site.dir);
    let (code, report) = apply_json(&["--dir", site.dir()], Some(diff));
    assert_eq!(code, 1, "{report}");
    assert!(report["summary"]
        .as_str()
        .unwrap_or_default()
        .contains("is already applied"));
    assert_eq!(snapshot(&site.dir), once);
}

#[test]
fn prints_each_hunk_and_a_summary_on_stdout_and_failures_on_stderr() {
    let site = Site::new("simple-sidebar");
    let patch = site.diff_file(MODEL_DIFF);
    let (code, stdout, stderr) = devflow(&["--check", "--dir", site.dir(), &patch], None);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "css/styles.css: hunk 1 at line 10842: offset +10712\nindex.html: hunk 1 at line 7: exact\nwould apply 2 hunks to 2 files (1 offset, 1 exact)\n"
    );
    assert_eq!(stderr, "");

    let diff = "--- a/index.html\n+++ b/index.html\n@@ -1 +1 @@\n-<html>\n+<html lang=\"de\">\n";
    let (code, stdout, stderr) = devflow(&["--dir", site.dir()], Some(diff));
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    assert!(
        stderr.starts_with("index.html: hunk 1 at line 1: failed: does not match anywhere"),
        "{stderr}"
    );
    assert!(
        stderr.trim_end().ends_with("; nothing was written"),
        "{stderr}"
    );
}
