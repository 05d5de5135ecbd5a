//! Plans made from plain data: every cascade stage, every file-level rule, and the exact
//! text of the failures a user and the re-inference prompt see.

use std::cell::RefCell;
use std::collections::BTreeMap;

use expect_test::{expect, Expect};

use super::*;

const STYLES: &str = ".a {\n  color: red;\n}\n.b {\n  color: green;\n}\n.c {\n  color: red;\n}\n";

/// A workspace as a map; `reads` records every path `plan` asked for.
struct Files {
    files: BTreeMap<String, Vec<u8>>,
    reads: RefCell<Vec<String>>,
}

impl Files {
    fn new(entries: &[(&str, &[u8])]) -> Self {
        Files {
            files: entries
                .iter()
                .map(|(p, c)| (p.to_string(), c.to_vec()))
                .collect(),
            reads: RefCell::new(Vec::new()),
        }
    }

    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, String> {
        self.reads.borrow_mut().push(path.to_string());
        Ok(self.files.get(path).cloned())
    }

    fn plan(&self, diff: &str, allowed: &[&str]) -> Result<PatchPlan, PatchFailure> {
        let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
        plan(diff, &allowed, |p: &str| self.read(p))
    }
}

fn styles() -> Files {
    Files::new(&[("css/styles.css", STYLES.as_bytes())])
}

fn after(plan: &PatchPlan, path: &str) -> String {
    let file = plan
        .files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} not in plan"));
    String::from_utf8(file.after.clone().expect("not deleted")).expect("utf-8")
}

fn results(hunks: &[HunkReport]) -> Vec<(u32, u32, HunkResult)> {
    hunks
        .iter()
        .map(|h| (h.hunk, h.line, h.result.clone()))
        .collect()
}

fn check_failure(failure: &PatchFailure, expected: Expect) {
    let mut text = format!("summary: {}\n", failure.summary);
    for h in &failure.hunks {
        let result = match &h.result {
            HunkResult::Exact => "exact".to_string(),
            HunkResult::Offset { lines } => format!("offset {lines}"),
            HunkResult::Fuzzy { kind } => format!("fuzzy {kind}"),
            HunkResult::Failed { reason } => format!("failed: {reason}"),
        };
        text.push_str(&format!(
            "{} hunk {} line {}: {result}\n",
            h.file, h.hunk, h.line
        ));
    }
    expected.assert_eq(&text);
}

#[test]
fn applies_exact_hunk_at_its_stated_line() {
    let diff = "--- a/css/styles.css\n+++ b/css/styles.css\n@@ -4,3 +4,3 @@\n .b {\n-  color: green;\n+  color: #0d6efd;\n }\n";
    let plan = styles().plan(diff, &["css/styles.css"]).expect("applies");
    assert_eq!(
        after(&plan, "css/styles.css"),
        STYLES.replace("green", "#0d6efd")
    );
    assert_eq!(results(&plan.hunks), vec![(1, 4, HunkResult::Exact)]);
}

#[test]
fn applies_hunk_with_wrong_line_numbers_as_offset() {
    let diff = "--- a/css/styles.css\n+++ b/css/styles.css\n@@ -40,3 +40,3 @@\n .b {\n-  color: green;\n+  color: blue;\n }\n";
    let plan = styles().plan(diff, &["css/styles.css"]).expect("applies");
    assert_eq!(
        after(&plan, "css/styles.css"),
        STYLES.replace("green", "blue")
    );
    assert_eq!(
        results(&plan.hunks),
        vec![(1, 4, HunkResult::Offset { lines: -36 })]
    );
}

#[test]
fn applies_hunk_without_line_numbers_where_it_matches_uniquely() {
    let diff = "--- a/css/styles.css\n+++ b/css/styles.css\n@@ @@\n .c {\n-  color: red;\n+  color: purple;\n";
    let plan = styles().plan(diff, &["css/styles.css"]).expect("applies");
    assert_eq!(
        after(&plan, "css/styles.css"),
        ".a {\n  color: red;\n}\n.b {\n  color: green;\n}\n.c {\n  color: purple;\n}\n"
    );
    assert_eq!(results(&plan.hunks), vec![(1, 7, HunkResult::Exact)]);
}

#[test]
fn rejects_ambiguous_hunk_with_both_candidate_lines() {
    let diff = "--- a/css/styles.css\n+++ b/css/styles.css\n@@ -20,2 +20,2 @@\n-  color: red;\n+  color: blue;\n }\n";
    let failure = styles().plan(diff, &["css/styles.css"]).unwrap_err();
    assert_eq!(
        failure.problems,
        vec![PlanError::Hunk {
            file: "css/styles.css".into(),
            hunk: 1,
            line: 20,
            problem: HunkProblem::Ambiguous { lines: vec![2, 8] }
        }]
    );
    check_failure(
        &failure,
        expect![[r#"
            summary: hunk 1 of css/styles.css matches 2 places (lines 2 and 8); add more context
            css/styles.css hunk 1 line 20: failed: matches 2 places (lines 2 and 8); add more context
        "#]],
    );
}

#[test]
fn reports_closest_region_when_a_hunk_matches_nowhere() {
    let diff = "--- a/css/styles.css\n+++ b/css/styles.css\n@@ -4,3 +4,3 @@\n .b {\n-  color: teal;\n+  color: blue;\n }\n";
    let failure = styles().plan(diff, &["css/styles.css"]).unwrap_err();
    check_failure(
        &failure,
        expect![[r#"
            summary: hunk 1 of css/styles.css does not match anywhere; closest is lines 4-6 (2 of 3 lines agree), where line 5 is `  color: green;` but the hunk expects `  color: teal;`
            css/styles.css hunk 1 line 4: failed: does not match anywhere; closest is lines 4-6 (2 of 3 lines agree), where line 5 is `  color: green;` but the hunk expects `  color: teal;`
        "#]],
    );
}

#[test]
fn fails_the_whole_plan_for_one_bad_hunk_but_reports_every_hunk() {
    let diff = "--- a/css/styles.css\n+++ b/css/styles.css\n@@ -1,3 +1,3 @@\n .a {\n-  color: red;\n+  color: blue;\n }\n@@ -4,3 +4,3 @@\n .b {\n-  color: pink;\n+  color: blue;\n }\n@@ -7,3 +7,3 @@\n .c {\n-  color: red;\n+  color: blue;\n }\n";
    let failure = styles().plan(diff, &["css/styles.css"]).unwrap_err();
    check_failure(
        &failure,
        expect![[r#"
            summary: hunk 2 of css/styles.css does not match anywhere; closest is lines 4-6 (2 of 3 lines agree), where line 5 is `  color: green;` but the hunk expects `  color: pink;`
            css/styles.css hunk 1 line 1: exact
            css/styles.css hunk 2 line 4: failed: does not match anywhere; closest is lines 4-6 (2 of 3 lines agree), where line 5 is `  color: green;` but the hunk expects `  color: pink;`
            css/styles.css hunk 3 line 7: exact
        "#]],
    );
}

#[test]
fn keeps_crlf_line_endings() {
    let crlf = STYLES.replace('\n', "\r\n");
    let files = Files::new(&[("css/styles.css", crlf.as_bytes())]);
    let diff = "--- a/css/styles.css\n+++ b/css/styles.css\n@@ -4,3 +4,4 @@\n .b {\n-  color: green;\n+  color: blue;\n+  margin: 0;\n }\n";
    let plan = files.plan(diff, &["css/styles.css"]).expect("applies");
    assert_eq!(
        after(&plan, "css/styles.css"),
        crlf.replace("green;\r\n", "blue;\r\n  margin: 0;\r\n")
    );
}

#[test]
fn applies_a_crlf_diff_to_an_lf_file_keeping_lf() {
    let diff = "--- a/css/styles.css\r\n+++ b/css/styles.css\r\n@@ -4,3 +4,3 @@\r\n .b {\r\n-  color: green;\r\n+  color: blue;\r\n }\r\n";
    let plan = styles().plan(diff, &["css/styles.css"]).expect("applies");
    assert_eq!(
        after(&plan, "css/styles.css"),
        STYLES.replace("green", "blue")
    );
}

#[test]
fn keeps_a_missing_final_newline_when_the_diff_does_not_mention_it() {
    let files = Files::new(&[("a.txt", b"one\ntwo")]);
    let diff = "--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,3 @@\n one\n two\n+three\n";
    let plan = files.plan(diff, &["a.txt"]).expect("applies");
    assert_eq!(after(&plan, "a.txt"), "one\ntwo\nthree");
}

#[test]
fn adds_or_removes_the_final_newline_when_the_diff_says_so() {
    let files = Files::new(&[("a.txt", b"one\ntwo")]);
    let diff = "--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n one\n-two\n\\ No newline at end of file\n+two\n";
    assert_eq!(
        after(&files.plan(diff, &["a.txt"]).expect("applies"), "a.txt"),
        "one\ntwo\n"
    );

    let files = Files::new(&[("a.txt", b"one\ntwo\n")]);
    let diff = "--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n one\n-two\n+two\n\\ No newline at end of file\n";
    assert_eq!(
        after(&files.plan(diff, &["a.txt"]).expect("applies"), "a.txt"),
        "one\ntwo"
    );
}

#[test]
fn keeps_a_utf8_byte_order_mark() {
    let files = Files::new(&[("a.css", "\u{feff}a {\n  color: red;\n}\n".as_bytes())]);
    let diff =
        "--- a/a.css\n+++ b/a.css\n@@ -1,3 +1,3 @@\n a {\n-  color: red;\n+  color: blue;\n }\n";
    let plan = files.plan(diff, &["a.css"]).expect("applies");
    assert_eq!(after(&plan, "a.css"), "\u{feff}a {\n  color: blue;\n}\n");
}

#[test]
fn applies_hunk_ignoring_trailing_whitespace_and_keeps_the_files_context_lines() {
    let files = Files::new(&[("a.css", b"a {  \n  color: red;\t\n}\n")]);
    let diff =
        "--- a/a.css\n+++ b/a.css\n@@ -1,3 +1,3 @@\n a {\n-  color: red;\n+  color: blue;\n }\n";
    let plan = files.plan(diff, &["a.css"]).expect("applies");
    assert_eq!(after(&plan, "a.css"), "a {  \n  color: blue;\n}\n");
    assert_eq!(
        results(&plan.hunks),
        vec![(
            1,
            1,
            HunkResult::Fuzzy {
                kind: "whitespace".into()
            }
        )]
    );
}

#[test]
fn reindents_added_lines_to_the_files_indentation() {
    let files = Files::new(&[(
        "a.css",
        b"@media (min-width: 768px) {\n    .a {\n        color: red;\n    }\n}\n",
    )]);
    let diff = "--- a/a.css\n+++ b/a.css\n@@ -1,3 +1,4 @@\n .a {\n-    color: red;\n+    color: blue;\n+    margin: 0;\n }\n";
    let plan = files.plan(diff, &["a.css"]).expect("applies");
    assert_eq!(
        after(&plan, "a.css"),
        "@media (min-width: 768px) {\n    .a {\n        color: blue;\n        margin: 0;\n    }\n}\n"
    );
    assert_eq!(
        results(&plan.hunks),
        vec![(
            1,
            2,
            HunkResult::Fuzzy {
                kind: "indentation".into()
            }
        )]
    );
}

#[test]
fn applies_hunk_whose_edge_context_line_the_model_invented() {
    let diff = "--- a/css/styles.css\n+++ b/css/styles.css\n@@ -3,4 +3,4 @@\n /* buttons */\n .b {\n-  color: green;\n+  color: blue;\n }\n";
    let plan = styles().plan(diff, &["css/styles.css"]).expect("applies");
    assert_eq!(
        after(&plan, "css/styles.css"),
        STYLES.replace("green", "blue")
    );
    assert_eq!(
        results(&plan.hunks),
        vec![(
            1,
            4,
            HunkResult::Fuzzy {
                kind: "edge context".into()
            }
        )]
    );
}

#[test]
fn refuses_to_apply_an_addition_a_second_time() {
    // The first application leaves `.b { color: green; border: 0; }`; sent again, the old
    // side without its `}` would still match, and `border: 0;` would be added twice.
    let diff = "--- a/css/styles.css\n+++ b/css/styles.css\n@@ -4,3 +4,4 @@\n .b {\n   color: green;\n+  border: 0;\n }\n";
    let once = styles().plan(diff, &["css/styles.css"]).expect("applies");
    let applied = after(&once, "css/styles.css");
    let files = Files::new(&[("css/styles.css", applied.as_bytes())]);
    let failure = files.plan(diff, &["css/styles.css"]).unwrap_err();
    check_failure(
        &failure,
        expect![[r#"
            summary: hunk 1 of css/styles.css is already applied: what it adds is at line 4 and what it replaces is not in the file; nothing to do
            css/styles.css hunk 1 line 4: failed: is already applied: what it adds is at line 4 and what it replaces is not in the file; nothing to do
        "#]],
    );

    // Also when the model invented an edge context line, so neither side is there whole.
    let invented = "--- a/css/styles.css\n+++ b/css/styles.css\n@@ -4,4 +4,5 @@\n .b {\n   color: green;\n+  border: 0;\n }\n /* end of .b */\n";
    let failure = files.plan(invented, &["css/styles.css"]).unwrap_err();
    assert!(
        failure.summary.contains("is already applied"),
        "{}",
        failure.summary
    );
}

#[test]
fn applies_a_fenced_diff_with_prose_and_no_prefixes() {
    let diff = "Sure! Here is the patch:\n\n```diff\n--- css/styles.css\n+++ css/styles.css\n@@ -4,3 +4,3 @@\n .b {\n-  color: green;\n+  color: blue;\n }\n```\n\nThis turns `.b` blue.\n";
    let plan = styles().plan(diff, &["css/styles.css"]).expect("applies");
    assert_eq!(
        after(&plan, "css/styles.css"),
        STYLES.replace("green", "blue")
    );
}

#[test]
fn applies_hunks_given_out_of_order_and_uses_the_first_hunks_offset_for_the_next() {
    let diff = "--- a/css/styles.css\n+++ b/css/styles.css\n@@ -8,2 +8,2 @@\n .c {\n-  color: red;\n+  color: c;\n@@ -2,2 +2,2 @@\n .a {\n-  color: red;\n+  color: a;\n";
    let plan = styles().plan(diff, &["css/styles.css"]).expect("applies");
    assert_eq!(
        after(&plan, "css/styles.css"),
        STYLES.replacen("red", "a", 1).replacen("red", "c", 1)
    );
    assert_eq!(
        results(&plan.hunks),
        vec![
            (1, 7, HunkResult::Offset { lines: -1 }),
            (2, 1, HunkResult::Offset { lines: -1 })
        ]
    );
}

#[test]
fn rejects_overlapping_hunks() {
    let diff = "--- a/css/styles.css\n+++ b/css/styles.css\n@@ -4,2 +4,2 @@\n .b {\n-  color: green;\n+  color: blue;\n@@ -5,2 +5,2 @@\n-  color: green;\n+  color: pink;\n }\n";
    let failure = styles().plan(diff, &["css/styles.css"]).unwrap_err();
    check_failure(
        &failure,
        expect![[r#"
            summary: hunk 2 of css/styles.css overlaps hunk 1, which changes lines 4-5
            css/styles.css hunk 1 line 4: exact
            css/styles.css hunk 2 line 5: failed: overlaps hunk 1, which changes lines 4-5
        "#]],
    );
}

#[test]
fn creates_a_file_and_refuses_to_create_one_that_exists() {
    let diff = "--- /dev/null\n+++ b/css/new.css\n@@ -0,0 +1,2 @@\n+.new {\n+}\n";
    let plan = styles().plan(diff, &["css/new.css"]).expect("applies");
    assert_eq!(
        plan.files,
        vec![PlannedFile {
            path: "css/new.css".into(),
            before: None,
            after: Some(b".new {\n}\n".to_vec())
        }]
    );

    let diff = "--- /dev/null\n+++ b/css/styles.css\n@@ -0,0 +1 @@\n+x\n";
    let failure = styles().plan(diff, &["css/styles.css"]).unwrap_err();
    check_failure(
        &failure,
        expect![[r#"
            summary: css/styles.css already exists; diff against its current content instead of creating it
            css/styles.css hunk 1 line 0: failed: not tried: css/styles.css already exists; diff against its current content instead of creating it
        "#]],
    );
}

#[test]
fn deletes_a_file_whose_hunk_removes_every_line() {
    let files = Files::new(&[("old.css", b"a\nb\n")]);
    let plan = files
        .plan(
            "--- a/old.css\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-a\n-b\n",
            &["old.css"],
        )
        .expect("applies");
    assert_eq!(
        plan.files,
        vec![PlannedFile {
            path: "old.css".into(),
            before: Some(b"a\nb\n".to_vec()),
            after: None
        }]
    );

    let failure = files
        .plan(
            "--- a/old.css\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n",
            &["old.css"],
        )
        .unwrap_err();
    assert_eq!(
        failure.summary,
        "the diff deletes old.css, but its hunks leave 1 line(s) in it"
    );
}

#[test]
fn renames_a_file_with_a_change() {
    let files = Files::new(&[("old.css", b"a\nb\n")]);
    let diff = "diff --git a/old.css b/new.css\nsimilarity index 50%\nrename from old.css\nrename to new.css\n--- a/old.css\n+++ b/new.css\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n";
    let plan = files.plan(diff, &["old.css", "new.css"]).expect("applies");
    assert_eq!(
        plan.files,
        vec![
            PlannedFile {
                path: "old.css".into(),
                before: Some(b"a\nb\n".to_vec()),
                after: None
            },
            PlannedFile {
                path: "new.css".into(),
                before: None,
                after: Some(b"a\nc\n".to_vec())
            },
        ]
    );
}

#[test]
fn reports_a_missing_file_to_modify() {
    let failure = styles()
        .plan(
            "--- a/css/gone.css\n+++ b/css/gone.css\n@@ -1 +1 @@\n-a\n+b\n",
            &["css/gone.css"],
        )
        .unwrap_err();
    assert_eq!(
        failure.problems,
        vec![PlanError::Missing {
            path: "css/gone.css".into()
        }]
    );
}

#[test]
fn refuses_files_not_in_files_to_edit_without_reading_them() {
    let files = styles();
    let diff = "--- a/css/styles.css\n+++ b/css/styles.css\n@@ -1 +1 @@\n-.a {\n+.z {\n--- a/index.html\n+++ b/index.html\n@@ -1 +1 @@\n-<p>\n+<div>\n";
    let failure = files.plan(diff, &["css/styles.css"]).unwrap_err();
    check_failure(
        &failure,
        expect![[r#"
            summary: index.html is not in files_to_edit (css/styles.css); list every file the diff touches
            css/styles.css hunk 1 line 1: exact
            index.html hunk 1 line 1: failed: not tried: index.html is not in files_to_edit (css/styles.css); list every file the diff touches
        "#]],
    );
    assert_eq!(*files.reads.borrow(), vec!["css/styles.css".to_string()]);
}

#[test]
fn never_reads_a_path_outside_the_workspace() {
    let files = styles();
    let diff = "--- a/../../etc/passwd\n+++ b/../../etc/passwd\n@@ -1 +1 @@\n-root\n+toor\n";
    let failure = files.plan(diff, &["../../etc/passwd"]).unwrap_err();
    assert_eq!(
        failure.summary,
        "\"../../etc/passwd\" is not a workspace path: path leaves the workspace ('..')"
    );
    assert!(files.reads.borrow().is_empty());
}

#[test]
fn refuses_lockfiles_and_vendored_or_git_internals() {
    let files = Files::new(&[]);
    for (path, summary) in [
        ("package-lock.json", "package-lock.json is a lockfile; change the manifest and let the package manager regenerate it"),
        ("node_modules/x/index.js", "node_modules/x/index.js is under node_modules/, which devflow never edits"),
        (".git/config", ".git/config is under .git/, which devflow never edits"),
    ] {
        let diff = format!("--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-a\n+b\n");
        assert_eq!(files.plan(&diff, &[path]).unwrap_err().summary, summary);
    }
    assert!(files.reads.borrow().is_empty());
}

#[test]
fn refuses_binary_pre_images() {
    let files = Files::new(&[
        ("logo.svg", b"<svg>\0</svg>\n"),
        ("latin1.css", b"a { content: \"\xe9\"; }\n"),
    ]);
    let nul = files
        .plan(
            "--- a/logo.svg\n+++ b/logo.svg\n@@ -1 +1 @@\n-<svg>\n+<svg/>\n",
            &["logo.svg"],
        )
        .unwrap_err();
    assert_eq!(
        nul.summary,
        "logo.svg is binary (it contains a NUL byte); only text files can be patched"
    );
    let latin1 = files
        .plan(
            "--- a/latin1.css\n+++ b/latin1.css\n@@ -1 +1 @@\n-a\n+b\n",
            &["latin1.css"],
        )
        .unwrap_err();
    assert_eq!(
        latin1.summary,
        "latin1.css is binary (it is not valid UTF-8); only text files can be patched"
    );
}

#[test]
fn enforces_size_limits() {
    let files = styles();
    let allowed = vec!["css/styles.css".to_string()];
    let diff = "--- a/css/styles.css\n+++ b/css/styles.css\n@@ -1 +1 @@\n-.a {\n+.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa {\n";
    let limits = Limits {
        max_file_bytes: 64,
        ..Limits::default()
    };
    let failure = plan_with_limits(diff, &allowed, |p: &str| files.read(p), &limits).unwrap_err();
    assert_eq!(
        failure.summary,
        "css/styles.css is 65 bytes; the limit is 64"
    );

    let limits = Limits {
        max_file_bytes: 100,
        ..Limits::default()
    };
    let failure = plan_with_limits(diff, &allowed, |p: &str| files.read(p), &limits).unwrap_err();
    let grown = STYLES.len() + ".aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".len() - ".a".len();
    assert_eq!(
        failure.summary,
        format!("css/styles.css would become {grown} bytes; the limit is 100")
    );

    let limits = Limits {
        max_diff_bytes: 10,
        ..Limits::default()
    };
    let failure = plan_with_limits(diff, &allowed, |p: &str| files.read(p), &limits).unwrap_err();
    assert_eq!(
        failure.summary,
        format!("the diff is {} bytes; the limit is 10", diff.len())
    );
}

#[test]
fn reports_read_errors_with_the_path() {
    let allowed = vec!["a.css".to_string()];
    let failure = plan(
        "--- a/a.css\n+++ b/a.css\n@@ -1 +1 @@\n-a\n+b\n",
        &allowed,
        |_: &str| Err::<Option<Vec<u8>>, _>("permission denied"),
    )
    .unwrap_err();
    assert_eq!(failure.summary, "could not read a.css: permission denied");
}

#[test]
fn summarises_several_problems_by_the_first() {
    let diff = "--- a/css/styles.css\n+++ b/css/styles.css\n@@ @@\n-  color: red;\n+  color: blue;\n--- a/yarn.lock\n+++ b/yarn.lock\n@@ -1 +1 @@\n-a\n+b\n";
    let failure = styles()
        .plan(diff, &["css/styles.css", "yarn.lock"])
        .unwrap_err();
    check_failure(
        &failure,
        expect![[r#"
            summary: hunk 1 of css/styles.css matches 2 places (lines 2 and 8); add more context (and 1 more problem)
            css/styles.css hunk 1 line 0: failed: matches 2 places (lines 2 and 8); add more context
            yarn.lock hunk 1 line 1: failed: not tried: yarn.lock is a lockfile; change the manifest and let the package manager regenerate it
        "#]],
    );
}

#[test]
fn reports_parse_errors_as_the_summary() {
    let failure = styles()
        .plan("I changed the colour for you.", &["css/styles.css"])
        .unwrap_err();
    assert_eq!(failure.problems, vec![PlanError::Parse(ParseError::NoDiff)]);
    assert!(failure.hunks.is_empty());
}

#[test]
fn produces_hashes_for_the_patch_journal() {
    let diff = "--- a/css/styles.css\n+++ b/css/styles.css\n@@ -5 +5 @@\n-  color: green;\n+  color: blue;\n";
    let plan = styles().plan(diff, &["css/styles.css"]).expect("applies");
    let files = plan.patch_files();
    assert_eq!(
        files[0].pre_image_hash.as_deref(),
        Some(crate::sha256_hex(STYLES.as_bytes()).as_str())
    );
    assert_eq!(
        files[0].post_image_hash.as_deref(),
        Some(crate::sha256_hex(STYLES.replace("green", "blue").as_bytes()).as_str())
    );
}

#[test]
fn normalises_the_diff_it_applied() {
    let diff = "```diff\n--- css/styles.css\n+++ css/styles.css\n@@ @@\n .b {\n-  color: green;\n+  color: blue;\n```\n";
    let plan = styles().plan(diff, &["css/styles.css"]).expect("applies");
    expect![[r#"
        --- a/css/styles.css
        +++ b/css/styles.css
        @@ -2,7 +2,7 @@
           color: red;
         }
         .b {
        -  color: green;
        +  color: blue;
         }
         .c {
           color: red;
    "#]]
    .assert_eq(&plan.unified_diff);
}

#[test]
fn refuses_a_diff_that_changes_one_file_twice() {
    let files = Files::new(&[("old.css", b"a\n")]);
    let diff = "diff --git a/old.css b/new.css\nrename from old.css\nrename to new.css\ndiff --git a/old.css b/old.css\n--- a/old.css\n+++ b/old.css\n@@ -1 +1 @@\n-a\n+b\n";
    let failure = files.plan(diff, &["old.css", "new.css"]).unwrap_err();
    assert_eq!(
        failure.problems,
        vec![PlanError::TouchedTwice {
            path: "old.css".into()
        }]
    );
}

#[test]
fn applies_hunk_whose_blank_context_line_lost_its_space() {
    let files = Files::new(&[("a.css", b".a {}\n\n.b {\n  color: red;\n}\n")]);
    // The blank context line is "" instead of " ", as editors and models often leave it.
    let diff = "--- a/a.css\n+++ b/a.css\n@@ -1,4 +1,4 @@\n .a {}\n\n .b {\n-  color: red;\n+  color: blue;\n";
    let plan = files.plan(diff, &["a.css"]).expect("applies");
    assert_eq!(after(&plan, "a.css"), ".a {}\n\n.b {\n  color: blue;\n}\n");
    assert_eq!(results(&plan.hunks), vec![(1, 1, HunkResult::Exact)]);
}
