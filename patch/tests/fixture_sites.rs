//! The engine on a real site (a copy of `shared/fixtures/sites/simple-sidebar` in a temp
//! dir): a model-style diff to its 10 000-line stylesheet plans, commits, matches what
//! `git apply` and `patch -p1` make of the normalised diff, and rolls back byte for byte.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use devflow_patch::{commit, plan, restore, HunkResult, PatchPlan};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/sites")
        .join(name)
}

/// Copies a fixture site into a fresh temp dir (never writing under `shared/`).
fn copy_site(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&fixture(name), dir.path());
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = fs::read(&path).expect("read");
                out.push((path.strip_prefix(dir).expect("inside").to_path_buf(), bytes));
            }
        }
    }
    out.sort();
    out
}

fn plan_in(workspace: &Path, diff: &str, allowed: &[&str]) -> PatchPlan {
    let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
    let read = |path: &str| match fs::read(workspace.join(path)) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    };
    plan(diff, &allowed, read).unwrap_or_else(|f| panic!("{}\n{:#?}", f.summary, f.hunks))
}

/// What a model writes: fenced, chatty, no `a/`/`b/`, line numbers far off, one invented
/// context line, and a second file.
const MODEL_DIFF: &str = r#"I'll make the sidebar use the brand blue and a wider width.

```diff
--- css/styles.css
+++ css/styles.css
@@ -120,9 +120,10 @@
 #sidebar-wrapper {
   min-height: 100vh;
   margin-left: -15rem;
   transition: margin 0.25s ease-out;
+  background-color: #0d6efd;
 }
 
 #sidebar-wrapper .sidebar-heading {
   padding: 0.875rem 1.25rem;
@@ -130,3 +131,3 @@
 #sidebar-wrapper .list-group {
-  width: 15rem;
+  width: 16rem;
 }
--- index.html
+++ index.html
@@ -8 +8 @@
-        <title>Simple Sidebar - Start Bootstrap Template</title>
+        <title>Simple Sidebar</title>
 <!-- unchanged -->
```

Let me know if you want the toggled state adjusted too.
"#;

#[test]
fn applies_a_model_style_css_change_to_the_simple_sidebar_site_and_rolls_it_back() {
    let site = copy_site("simple-sidebar");
    let original = tree(site.path());
    let plan = plan_in(site.path(), MODEL_DIFF, &["css/styles.css", "index.html"]);

    let results: Vec<(&str, u32, &HunkResult)> = plan
        .hunks
        .iter()
        .map(|h| (h.file.as_str(), h.line, &h.result))
        .collect();
    assert_eq!(
        results,
        vec![
            (
                "css/styles.css",
                10831,
                &HunkResult::Offset { lines: 10711 }
            ),
            (
                "css/styles.css",
                10842,
                &HunkResult::Offset { lines: 10712 }
            ),
            (
                "index.html",
                8,
                &HunkResult::Fuzzy {
                    kind: "edge context".into()
                }
            ),
        ]
    );

    commit(site.path(), &plan.files).expect("commit");
    let css = fs::read_to_string(site.path().join("css/styles.css")).expect("css");
    assert!(css.contains("  transition: margin 0.25s ease-out;\n  background-color: #0d6efd;\n}\n"));
    assert!(css.contains("#sidebar-wrapper .list-group {\n  width: 16rem;\n}"));
    let html = fs::read_to_string(site.path().join("index.html")).expect("html");
    assert!(html.contains("        <title>Simple Sidebar</title>\n"));

    restore(site.path(), &plan.files, false).expect("restore");
    assert_eq!(tree(site.path()), original);
}

/// Runs `program args` in `dir`; `None` when the program is not installed.
fn run(dir: &Path, program: &str, args: &[&str], stdin: &str) -> Option<std::process::Output> {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    Some(child.wait_with_output().expect("wait"))
}

#[test]
fn git_apply_and_gnu_patch_of_the_normalised_diff_reproduce_the_change() {
    let site = copy_site("simple-sidebar");
    let mut diff = MODEL_DIFF.to_string();
    // Exercise creation and deletion too.
    diff.push_str(
        "--- /dev/null\n+++ b/css/brand.css\n@@ -0,0 +1,3 @@\n+:root {\n+  --brand: #0d6efd;\n+}\n",
    );
    diff.push_str("--- a/js/scripts.js\n+++ /dev/null\n");
    let allowed = [
        "css/styles.css",
        "index.html",
        "css/brand.css",
        "js/scripts.js",
    ];
    let plan = plan_in(site.path(), &diff, &allowed);
    commit(site.path(), &plan.files).expect("commit");
    let expected = tree(site.path());

    let tools: [(&str, &[&str]); 2] = [
        ("git", &["apply", "-p1", "-"]),
        ("patch", &["-p1", "--quiet", "--no-backup-if-mismatch"]),
    ];
    for (program, args) in tools {
        let fresh = copy_site("simple-sidebar");
        let Some(output) = run(fresh.path(), program, args, &plan.unified_diff) else {
            eprintln!("{program} is not installed; skipped");
            continue;
        };
        assert!(
            output.status.success(),
            "{program} failed: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        );
        assert_eq!(
            tree(fresh.path()),
            expected,
            "{program} made something else of:\n{}",
            plan.unified_diff
        );
    }
}

#[test]
fn refuses_a_change_to_the_sites_binary_favicon() {
    let site = copy_site("simple-sidebar");
    let allowed = vec!["assets/favicon.ico".to_string()];
    let read = |path: &str| fs::read(site.path().join(path)).map(Some);
    let diff = "--- a/assets/favicon.ico\n+++ b/assets/favicon.ico\n@@ -1 +1 @@\n-x\n+y\n";
    let failure = plan(diff, &allowed, read).unwrap_err();
    assert!(
        failure.summary.starts_with("assets/favicon.ico is binary"),
        "{}",
        failure.summary
    );
}
