//! Properties of the patch engine over random files and edits: a diff made by `similar`
//! applies back exactly; with its line numbers removed or its context whitespace changed it
//! applies to the same place or fails, never elsewhere; and commit then restore is identity.

use std::fs;

use devflow_patch::{commit, plan, restore, HunkLine, PatchFailure, PatchPlan};
use proptest::prelude::*;
use similar::TextDiff;

/// A few distinct lines, so random files repeat lines the way CSS does.
const LINES: &[&str] = &[
    "a {",
    "}",
    "  color: red;",
    "  margin: 0;",
    "",
    "b c",
    "\tx",
    ".d { e: f }",
];

#[derive(Debug, Clone)]
struct Texts {
    old: String,
    new: String,
}

fn text(lines: &[usize], crlf: bool, final_newline: bool, bom: bool) -> String {
    let eol = if crlf { "\r\n" } else { "\n" };
    let mut out = if bom {
        "\u{feff}".to_string()
    } else {
        String::new()
    };
    for (i, &line) in lines.iter().enumerate() {
        out.push_str(LINES[line]);
        if i + 1 < lines.len() || final_newline {
            out.push_str(eol);
        }
    }
    out
}

/// Two texts with the same line-ending style and BOM, as a file before and after an edit.
fn texts() -> impl Strategy<Value = Texts> {
    let lines = || prop::collection::vec(0..LINES.len(), 0..24);
    (
        lines(),
        lines(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(old, new, crlf, old_nl, new_nl, bom)| Texts {
            old: text(&old, crlf, old_nl, bom),
            new: text(&new, crlf, new_nl, bom),
        })
        .prop_filter("an edit", |t| t.old != t.new)
}

/// Mostly-similar texts: the new one is the old one with a few lines replaced, inserted or
/// removed, so hunks keep real context.
fn edits() -> impl Strategy<Value = Texts> {
    (
        prop::collection::vec(0..LINES.len(), 1..40),
        prop::collection::vec((0..40usize, 0..3u8, 0..LINES.len()), 1..5),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(old, edits, crlf, final_newline)| {
            let mut new = old.clone();
            for (at, kind, line) in edits {
                let at = at % (new.len() + 1);
                match kind {
                    0 if at < new.len() => new[at] = line,
                    1 => new.insert(at, line),
                    _ if at < new.len() => {
                        new.remove(at);
                    }
                    _ => new.push(line),
                }
            }
            Texts {
                old: text(&old, crlf, final_newline, false),
                new: text(&new, crlf, final_newline, false),
            }
        })
        .prop_filter("an edit", |t| t.old != t.new)
}

fn diff_of(t: &Texts) -> String {
    TextDiff::from_lines(&t.old, &t.new)
        .unified_diff()
        .header("a/f.css", "b/f.css")
        .to_string()
}

fn plan_on(old: &str, diff: &str) -> Result<PatchPlan, PatchFailure> {
    let allowed = vec!["f.css".to_string()];
    plan(diff, &allowed, |path: &str| {
        Ok::<_, String>((path == "f.css").then(|| old.as_bytes().to_vec()))
    })
}

/// The one file's new content, as text for readable failures.
fn after(plan: &PatchPlan) -> String {
    match plan.files.as_slice() {
        [file] => String::from_utf8_lossy(file.after.as_deref().unwrap_or_default()).into_owned(),
        other => panic!("expected one file, got {other:?}"),
    }
}

/// Rewrites every `@@ -a,b +c,d @@` header to `@@ @@`.
fn without_line_numbers(diff: &str) -> String {
    diff.split_inclusive('\n')
        .map(|l| if l.starts_with("@@") { "@@ @@\n" } else { l })
        .collect()
}

/// Adds trailing spaces to every context line.
fn with_trailing_space_on_context(diff: &str) -> String {
    diff.split_inclusive('\n')
        .map(|l| match l.strip_prefix(' ') {
            Some(rest) => {
                let (body, eol) = match rest.strip_suffix("\r\n") {
                    Some(body) => (body, "\r\n"),
                    None => rest.strip_suffix('\n').map_or((rest, ""), |b| (b, "\n")),
                };
                format!(" {body}  {eol}")
            }
            None => l.to_string(),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn a_diff_made_by_similar_applies_back_exactly(t in texts()) {
        let diff = diff_of(&t);
        let plan = plan_on(&t.old, &diff).map_err(|f| TestCaseError::fail(format!("{f}\n{diff}")))?;
        prop_assert_eq!(after(&plan), t.new.clone(), "diff:\n{}", diff);
    }

    #[test]
    fn the_normalised_diff_applies_back_exactly_too(t in texts()) {
        let plan = plan_on(&t.old, &diff_of(&t)).map_err(|f| TestCaseError::fail(f.to_string()))?;
        let again = plan_on(&t.old, &plan.unified_diff).map_err(|f| TestCaseError::fail(format!("{f}\n{}", plan.unified_diff)))?;
        prop_assert_eq!(after(&again), t.new.clone());
    }

    #[test]
    fn without_line_numbers_a_hunk_applies_in_its_place_or_fails(t in edits()) {
        let diff = without_line_numbers(&diff_of(&t));
        if let Ok(plan) = plan_on(&t.old, &diff) {
            prop_assert_eq!(after(&plan), t.new.clone(), "diff:\n{}", diff);
        }
    }

    #[test]
    fn with_changed_context_whitespace_a_hunk_applies_in_its_place_or_fails(t in edits()) {
        let diff = with_trailing_space_on_context(&diff_of(&t));
        if let Ok(plan) = plan_on(&t.old, &diff) {
            prop_assert_eq!(after(&plan), t.new.clone(), "diff:\n{}", diff);
        }
    }

    #[test]
    fn with_one_edge_context_line_altered_a_hunk_applies_in_its_place_or_fails(t in edits()) {
        let diff = diff_of(&t);
        let parsed = devflow_patch::parse(&diff).map_err(|e| TestCaseError::fail(e.to_string()))?;
        // Alter the first context line of the first hunk, if it starts with context.
        let first_is_context = matches!(parsed.files[0].hunks[0].lines.first(), Some(HunkLine::Context(_)));
        if !first_is_context {
            return Ok(());
        }
        let mut lines: Vec<String> = diff.split_inclusive('\n').map(str::to_string).collect();
        let at = lines.iter().position(|l| l.starts_with("@@")).map(|i| i + 1);
        let at = at.ok_or_else(|| TestCaseError::fail("no hunk"))?;
        lines[at] = " /* a line the model made up */\n".to_string();
        let diff: String = lines.concat();
        if let Ok(plan) = plan_on(&t.old, &diff) {
            prop_assert_eq!(after(&plan), t.new.clone(), "diff:\n{}", diff);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn plan_commit_then_restore_is_byte_identical(t in texts()) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let path = dir.path().join("f.css");
        fs::write(&path, &t.old).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let plan = plan_on(&t.old, &diff_of(&t)).map_err(|f| TestCaseError::fail(f.to_string()))?;
        commit(dir.path(), &plan.files).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(fs::read(&path).ok(), Some(t.new.clone().into_bytes()));
        restore(dir.path(), &plan.files, false).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(fs::read(&path).ok(), Some(t.old.clone().into_bytes()));
        let entries = fs::read_dir(dir.path()).map(|d| d.count()).unwrap_or(0);
        prop_assert_eq!(entries, 1, "temp files left behind");
    }
}
