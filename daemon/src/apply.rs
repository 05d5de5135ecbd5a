//! `devflow apply`: a unified diff applied to a folder the way `git apply` does, but through
//! the daemon's own patch engine (devflow-patch): the same path rules, fuzzy cascade,
//! per-hunk report and all-or-nothing commit as a proposal, without a session or any daemon
//! state. `files_to_edit` is every file the diff names unless `--files-to-edit` narrows it.
//! Invariant: nothing is written unless every hunk of every file applies (and never with
//! `--check`); exit 0 applied / 1 does not fit the files / 2 bad input / 3 environment.

use std::cell::Cell;
use std::io::Read;
use std::path::{Path, PathBuf};

use devflow_patch::{CommitError, FileChange, HunkReport, HunkResult, PatchPlan, PlanError};
use serde::Serialize;

/// Applied, or with `--check` would apply.
pub const EXIT_APPLIED: u8 = 0;
/// The diff does not fit the files (a hunk matches nowhere or in several places, a file is
/// missing or already exists); nothing was written.
pub const EXIT_FAILED: u8 = 1;
/// The diff cannot be used: unreadable, not a diff, or it touches what devflow never edits
/// (outside the folder, lockfiles, `node_modules/`, binary files, files not allowed).
pub const EXIT_BAD_INPUT: u8 = 2;
/// The folder could not be read or written.
pub const EXIT_ENVIRONMENT: u8 = 3;

#[derive(Debug, Clone, clap::Args)]
pub struct ApplyArgs {
    /// The folder the diff's paths are relative to.
    #[arg(long)]
    pub dir: PathBuf,
    /// Validate and match every hunk, report, and write nothing.
    #[arg(long)]
    pub check: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Only these files may change (like a proposal's files_to_edit); repeat for several.
    /// Default: every file the diff names.
    #[arg(long = "files-to-edit", value_name = "PATH")]
    pub files_to_edit: Vec<String>,
    /// The diff; `-` or nothing reads it from stdin.
    #[arg(value_name = "PATCH")]
    pub patch: Option<PathBuf>,
}

/// What `devflow apply --json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyReport {
    pub status: ApplyStatus,
    /// Whether the folder was changed.
    pub written: bool,
    /// Every file whose content changes (a rename is a deletion and a creation).
    pub files: Vec<FileReport>,
    /// Every hunk of the diff, in order, with how it matched or why it failed.
    pub hunks: Vec<HunkReport>,
    /// The change as a clean unified diff (`git apply` reproduces it); empty on failure.
    pub unified_diff: String,
    /// Everything that stops the diff from applying.
    pub problems: Vec<String>,
    /// One line for a person.
    pub summary: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApplyStatus {
    Applied,
    /// `--check`: every hunk applies; nothing was written.
    Checked,
    Failed,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileReport {
    pub path: String,
    pub change: ChangeKind,
    /// SHA-256 hex of the content before (`None`: the file is created) and after
    /// (`None`: the file is deleted).
    pub pre_image_hash: Option<String>,
    pub post_image_hash: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Create,
    Modify,
    Delete,
}

/// How a run ended: the exit code and the report.
#[derive(Debug, Clone)]
pub struct ApplyOutcome {
    pub exit_code: u8,
    pub report: ApplyReport,
}

/// `devflow apply`: reads the diff, applies it, prints the report; returns the exit code.
pub fn run(args: ApplyArgs) -> u8 {
    let outcome = match read_diff(args.patch.as_deref()) {
        Ok(diff) => {
            let allowed = (!args.files_to_edit.is_empty()).then_some(args.files_to_edit.as_slice());
            apply(&args.dir, &diff, allowed, args.check)
        }
        Err(message) => error(EXIT_BAD_INPUT, message),
    };
    if args.json {
        match serde_json::to_string_pretty(&outcome.report) {
            Ok(json) => println!("{json}"),
            Err(e) => eprintln!("devflow apply: cannot encode the report: {e}"),
        }
    } else {
        print_text(&outcome);
    }
    outcome.exit_code
}

/// Applies `diff` to the folder `dir` (only planning it when `check`). `files_to_edit`:
/// the files allowed to change; `None` = every file the diff names.
pub fn apply(
    dir: &Path,
    diff: &str,
    files_to_edit: Option<&[String]>,
    check: bool,
) -> ApplyOutcome {
    if !dir.is_dir() {
        return error(
            EXIT_BAD_INPUT,
            format!("--dir {} is not a folder", dir.display()),
        );
    }
    let allowed = match files_to_edit {
        Some(files) => files.to_vec(),
        None => files_named(diff),
    };
    // Only a failure to read the folder is the environment's fault; a path the engine
    // refuses to read through (a symlink leading outside) is bad input like any other.
    let read_failed = Cell::new(false);
    let read = |path: &str| {
        devflow_patch::read_workspace_file(dir, path).inspect_err(|e| {
            if matches!(e, CommitError::Io { .. }) {
                read_failed.set(true);
            }
        })
    };
    let plan = match devflow_patch::plan(diff, &allowed, read) {
        Ok(plan) => plan,
        Err(failure) => {
            let exit_code = failure
                .problems
                .iter()
                .map(|p| exit_code_for(p, read_failed.get()))
                .max()
                .unwrap_or(EXIT_FAILED);
            let report = ApplyReport {
                status: status_for(exit_code),
                written: false,
                files: Vec::new(),
                hunks: failure.hunks,
                unified_diff: String::new(),
                problems: failure.problems.iter().map(ToString::to_string).collect(),
                summary: failure.summary,
            };
            return ApplyOutcome { exit_code, report };
        }
    };
    if check {
        return applied(plan, false);
    }
    match devflow_patch::commit(dir, &plan.files) {
        Ok(()) => applied(plan, true),
        Err(e) => {
            let exit_code = match &e {
                CommitError::ChangedSincePlan { .. } | CommitError::ChangedSinceApply { .. } => {
                    EXIT_FAILED
                }
                CommitError::InvalidPath { .. } | CommitError::OutsideWorkspace { .. } => {
                    EXIT_BAD_INPUT
                }
                CommitError::Io { .. } => EXIT_ENVIRONMENT,
            };
            let mut outcome = error(exit_code, e.to_string());
            outcome.report.hunks = plan.hunks;
            outcome
        }
    }
}

/// Every file the diff names (a rename's old name too): the default `files_to_edit`. A
/// diff that does not parse names none; planning it then reports the parse error.
pub fn files_named(diff: &str) -> Vec<String> {
    let Ok(parsed) = devflow_patch::parse(diff) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for file in parsed.files {
        if let FileChange::Rename { from } = file.change {
            files.push(from);
        }
        files.push(file.path);
    }
    files
}

/// Whether a problem means the diff does not fit these files (1) or cannot be used at all
/// (2, 3). Every variant is listed so that a new one gets decided here.
fn exit_code_for(problem: &PlanError, read_failed: bool) -> u8 {
    match problem {
        PlanError::Hunk { .. }
        | PlanError::Missing { .. }
        | PlanError::AlreadyExists { .. }
        | PlanError::DeleteLeavesContent { .. } => EXIT_FAILED,
        PlanError::Read { .. } if read_failed => EXIT_ENVIRONMENT,
        PlanError::Read { .. }
        | PlanError::Parse(_)
        | PlanError::DiffTooLarge { .. }
        | PlanError::TooManyFiles { .. }
        | PlanError::TooManyHunks { .. }
        | PlanError::InvalidPath { .. }
        | PlanError::ProtectedDir { .. }
        | PlanError::Lockfile { .. }
        | PlanError::NotInFilesToEdit { .. }
        | PlanError::Binary { .. }
        | PlanError::FileTooLarge { .. }
        | PlanError::TouchedTwice { .. } => EXIT_BAD_INPUT,
    }
}

fn status_for(exit_code: u8) -> ApplyStatus {
    match exit_code {
        EXIT_APPLIED => ApplyStatus::Applied,
        EXIT_FAILED => ApplyStatus::Failed,
        _ => ApplyStatus::Error,
    }
}

fn error(exit_code: u8, message: String) -> ApplyOutcome {
    ApplyOutcome {
        exit_code,
        report: ApplyReport {
            status: status_for(exit_code),
            written: false,
            files: Vec::new(),
            hunks: Vec::new(),
            unified_diff: String::new(),
            problems: vec![message.clone()],
            summary: message,
        },
    }
}

fn applied(plan: PatchPlan, written: bool) -> ApplyOutcome {
    let files: Vec<FileReport> = plan
        .files
        .iter()
        .map(|f| {
            let file = f.patch_file();
            FileReport {
                change: match (&f.before, &f.after) {
                    (None, _) => ChangeKind::Create,
                    (_, None) => ChangeKind::Delete,
                    _ => ChangeKind::Modify,
                },
                path: file.path,
                pre_image_hash: file.pre_image_hash,
                post_image_hash: file.post_image_hash,
            }
        })
        .collect();
    let summary = summary(&plan.hunks, files.len(), written);
    ApplyOutcome {
        exit_code: EXIT_APPLIED,
        report: ApplyReport {
            status: if written {
                ApplyStatus::Applied
            } else {
                ApplyStatus::Checked
            },
            written,
            files,
            hunks: plan.hunks,
            unified_diff: plan.unified_diff,
            problems: Vec::new(),
            summary,
        },
    }
}

/// "applied 3 hunks to 2 files (1 exact, 1 offset, 1 fuzzy whitespace)".
fn summary(hunks: &[HunkReport], files: usize, written: bool) -> String {
    let verb = if written { "applied" } else { "would apply" };
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for hunk in hunks {
        let kind = match &hunk.result {
            HunkResult::Exact => "exact".to_string(),
            HunkResult::Offset { .. } => "offset".to_string(),
            HunkResult::Fuzzy { kind } => format!("fuzzy {kind}"),
            HunkResult::Failed { .. } => "failed".to_string(),
        };
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, count)) => *count += 1,
            None => kinds.push((kind, 1)),
        }
    }
    let mut text = format!(
        "{verb} {} to {}",
        plural(hunks.len(), "hunk"),
        plural(files, "file")
    );
    if !kinds.is_empty() {
        let list: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        text.push_str(&format!(" ({})", list.join(", ")));
    }
    text
}

/// The diff from a file, or from stdin for `-` or no path.
fn read_diff(path: Option<&Path>) -> Result<String, String> {
    let bytes = match path.filter(|p| *p != Path::new("-")) {
        Some(path) => std::fs::read(path)
            .map_err(|e| format!("cannot read the diff {}: {e}", path.display()))?,
        None => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| format!("cannot read the diff from stdin: {e}"))?;
            bytes
        }
    };
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "the diff is not valid UTF-8 (byte {}); only text diffs can be applied",
            e.utf8_error().valid_up_to()
        )
    })
}

/// One line per hunk and the summary: on stdout when it applied, on stderr when not.
fn print_text(outcome: &ApplyOutcome) {
    let report = &outcome.report;
    let mut lines: Vec<String> = report.hunks.iter().map(hunk_line).collect();
    if outcome.exit_code == EXIT_APPLIED {
        lines.push(report.summary.clone());
        println!("{}", lines.join("\n"));
        return;
    }
    for problem in report.problems.iter().skip(1) {
        lines.push(format!("also: {problem}"));
    }
    lines.push(format!(
        "devflow apply: {}; nothing was written",
        report.summary
    ));
    eprintln!("{}", lines.join("\n"));
}

fn hunk_line(hunk: &HunkReport) -> String {
    let result = match &hunk.result {
        HunkResult::Exact => "exact".to_string(),
        HunkResult::Offset { lines } => format!("offset {lines:+}"),
        HunkResult::Fuzzy { kind } => format!("fuzzy ({kind})"),
        HunkResult::Failed { reason } => format!("failed: {reason}"),
    };
    format!(
        "{}: hunk {} at line {}: {result}",
        hunk.file, hunk.hunk, hunk.line
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hunk(result: HunkResult) -> HunkReport {
        HunkReport {
            file: "a.css".into(),
            hunk: 1,
            line: 3,
            result,
        }
    }

    #[test]
    fn summarises_hunks_by_how_they_matched_in_order_of_first_appearance() {
        let hunks = [
            hunk(HunkResult::Offset { lines: 4 }),
            hunk(HunkResult::Exact),
            hunk(HunkResult::Fuzzy {
                kind: "whitespace".into(),
            }),
            hunk(HunkResult::Offset { lines: -2 }),
        ];
        assert_eq!(
            summary(&hunks, 2, true),
            "applied 4 hunks to 2 files (2 offset, 1 exact, 1 fuzzy whitespace)"
        );
        assert_eq!(
            summary(&hunks[1..2], 1, false),
            "would apply 1 hunk to 1 file (1 exact)"
        );
        assert_eq!(summary(&[], 1, true), "applied 0 hunks to 1 file");
    }

    #[test]
    fn names_both_sides_of_a_rename_and_skips_dev_null() {
        let diff = "--- /dev/null\n+++ b/css/x.css\n@@ -0,0 +1 @@\n+a\ndiff --git a/old.css b/new.css\nrename from old.css\nrename to new.css\n";
        assert_eq!(files_named(diff), ["css/x.css", "old.css", "new.css"]);
        assert!(files_named("not a diff").is_empty());
    }

    #[test]
    fn a_hunk_that_does_not_fit_is_a_failure_and_a_refused_path_is_bad_input() {
        let hunk = PlanError::Missing {
            path: "a.css".into(),
        };
        assert_eq!(exit_code_for(&hunk, false), EXIT_FAILED);
        let lockfile = PlanError::Lockfile {
            path: "package-lock.json".into(),
        };
        assert_eq!(exit_code_for(&lockfile, false), EXIT_BAD_INPUT);
        let read = PlanError::Read {
            path: "a.css".into(),
            message: "permission denied".into(),
        };
        assert_eq!(exit_code_for(&read, true), EXIT_ENVIRONMENT);
        assert_eq!(exit_code_for(&read, false), EXIT_BAD_INPUT);
    }

    #[test]
    fn shows_signed_offsets_and_failure_reasons_per_hunk() {
        assert_eq!(
            hunk_line(&hunk(HunkResult::Offset { lines: 7 })),
            "a.css: hunk 1 at line 3: offset +7"
        );
        assert_eq!(
            hunk_line(&hunk(HunkResult::Failed {
                reason: "matches 2 places".into()
            })),
            "a.css: hunk 1 at line 3: failed: matches 2 places"
        );
    }
}
