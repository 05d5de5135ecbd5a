//! The normalised diff of a plan, made from each file's bytes before and after with
//! `similar`, so that `git apply` and `patch -p1` of it reproduce the change exactly
//! (whatever quirks the proposer's own diff had). Lines split at `\n` only, as git does.

use similar::udiff::UnifiedHunkHeader;
use similar::{Algorithm, DiffTag};

use crate::plan::PlannedFile;

const CONTEXT: usize = 3;

pub(crate) fn unified_diff(files: &[PlannedFile]) -> String {
    let mut out = String::new();
    for file in files {
        let path = &file.path;
        let before = file.before.as_deref().map(String::from_utf8_lossy);
        let after = file.after.as_deref().map(String::from_utf8_lossy);
        match (before, after) {
            (Some(before), Some(after)) if before != after => {
                out.push_str(&format!("--- a/{path}\n+++ b/{path}\n"));
                hunks(&mut out, &before, &after);
            }
            // Only git's extended header can say "create/delete an empty file".
            (None, Some(after)) if after.is_empty() => {
                out.push_str(&format!(
                    "diff --git a/{path} b/{path}\nnew file mode 100644\n"
                ));
            }
            (None, Some(after)) => {
                out.push_str(&format!("--- /dev/null\n+++ b/{path}\n"));
                hunks(&mut out, "", &after);
            }
            (Some(before), None) if before.is_empty() => {
                out.push_str(&format!(
                    "diff --git a/{path} b/{path}\ndeleted file mode 100644\n"
                ));
            }
            (Some(before), None) => {
                out.push_str(&format!("--- a/{path}\n+++ /dev/null\n"));
                hunks(&mut out, &before, "");
            }
            _ => {}
        }
    }
    out
}

fn hunks(out: &mut String, before: &str, after: &str) {
    let old: Vec<&str> = before.split_inclusive('\n').collect();
    let new: Vec<&str> = after.split_inclusive('\n').collect();
    let ops = similar::capture_diff_slices(Algorithm::Myers, &old, &new);
    for group in similar::group_diff_ops(ops, CONTEXT) {
        if group.is_empty() {
            continue;
        }
        out.push_str(&format!("{}\n", UnifiedHunkHeader::new(&group)));
        for op in &group {
            let (tag, old_range, new_range) = op.as_tag_tuple();
            if matches!(tag, DiffTag::Equal) {
                old_range.for_each(|i| push_line(out, ' ', old[i]));
                continue;
            }
            if matches!(tag, DiffTag::Delete | DiffTag::Replace) {
                old_range.for_each(|i| push_line(out, '-', old[i]));
            }
            if matches!(tag, DiffTag::Insert | DiffTag::Replace) {
                new_range.for_each(|i| push_line(out, '+', new[i]));
            }
        }
    }
}

fn push_line(out: &mut String, marker: char, line: &str) {
    out.push(marker);
    out.push_str(line);
    if !line.ends_with('\n') {
        out.push_str("\n\\ No newline at end of file\n");
    }
}
