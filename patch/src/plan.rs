//! From a diff and the current file contents to a [`PatchPlan`]: every touched file's bytes
//! before and after, the per-hunk report and a normalised diff. Pure: the caller passes a
//! `read` function, so nothing here touches the disk. All or nothing: one problem anywhere
//! fails the plan, yet the report still says how every hunk fared.

use std::fmt::Display;

use devflow_protocol::{HunkReport, HunkResult, PatchFile};
use thiserror::Error;

use crate::matching::{place, to_u32, HunkProblem, HunkShape, Placement};
use crate::parse::{parse, FileChange, FileDiff, Hunk, HunkLine, ParseError};
use crate::policy::{check_path, Limits};
use crate::text::{Eol, Line, TextFile};

/// One file as the plan would leave it. `before: None` = the file does not exist yet;
/// `after: None` = the plan deletes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    pub path: String,
    pub before: Option<Vec<u8>>,
    pub after: Option<Vec<u8>>,
}

impl PlannedFile {
    /// The journal entry for this file: SHA-256 of its content before and after.
    pub fn patch_file(&self) -> PatchFile {
        PatchFile {
            path: self.path.clone(),
            pre_image_hash: self.before.as_deref().map(crate::sha256_hex),
            post_image_hash: self.after.as_deref().map(crate::sha256_hex),
        }
    }
}

/// A diff that applies cleanly, ready for [`crate::commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchPlan {
    /// Files whose content changes, in diff order (a rename is a deletion and a creation).
    pub files: Vec<PlannedFile>,
    /// Every hunk, in diff order.
    pub hunks: Vec<HunkReport>,
    /// The change as a clean unified diff made from `before`/`after`; `git apply` and
    /// `patch -p1` of it reproduce the change.
    pub unified_diff: String,
}

impl PatchPlan {
    pub fn patch_files(&self) -> Vec<PatchFile> {
        self.files.iter().map(PlannedFile::patch_file).collect()
    }
}

/// Why a diff does not apply: every problem found, how every hunk fared (hunks that were
/// not tried because their file was refused are `failed` with the file's problem; a hunk
/// whose line is unknown reports line 0), and a one-line summary for a UI.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{summary}")]
pub struct PatchFailure {
    pub problems: Vec<PlanError>,
    pub hunks: Vec<HunkReport>,
    pub summary: String,
}

/// One thing that stops a diff from applying. Messages say what was wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("the diff is {size} bytes; the limit is {limit}")]
    DiffTooLarge { size: usize, limit: usize },
    #[error("the diff touches {count} files; the limit is {limit}")]
    TooManyFiles { count: usize, limit: usize },
    #[error("the diff has {count} hunks; the limit is {limit}")]
    TooManyHunks { count: usize, limit: usize },
    #[error("{path:?} is not a workspace path: {why}")]
    InvalidPath { path: String, why: &'static str },
    #[error("{path} is under {dir}/, which devflow never edits")]
    ProtectedDir { path: String, dir: String },
    #[error("{path} is a lockfile; change the manifest and let the package manager regenerate it")]
    Lockfile { path: String },
    #[error("{path} is not in files_to_edit ({}); list every file the diff touches", path_list(.allowed))]
    NotInFilesToEdit { path: String, allowed: Vec<String> },
    #[error("{path} does not exist (a diff that creates a file starts with `--- /dev/null`)")]
    Missing { path: String },
    #[error("{path} already exists; diff against its current content instead of creating it")]
    AlreadyExists { path: String },
    #[error("could not read {path}: {message}")]
    Read { path: String, message: String },
    #[error("{path} is binary ({why}); only text files can be patched")]
    Binary { path: String, why: &'static str },
    #[error("{path} {} {size} bytes; the limit is {limit}", if *.after { "would become" } else { "is" })]
    FileTooLarge {
        path: String,
        size: usize,
        limit: usize,
        after: bool,
    },
    #[error("the diff deletes {path}, but its hunks leave {lines} line(s) in it")]
    DeleteLeavesContent { path: String, lines: usize },
    #[error(
        "the diff changes {path} twice (e.g. renames it and also edits it); change each file once"
    )]
    TouchedTwice { path: String },
    #[error("hunk {hunk} of {file} {problem}")]
    Hunk {
        file: String,
        hunk: u32,
        line: u32,
        problem: HunkProblem,
    },
}

fn path_list(paths: &[String]) -> String {
    const SHOWN: usize = 5;
    if paths.is_empty() {
        return "it is empty".to_string();
    }
    let mut list = paths
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > SHOWN {
        list.push_str(&format!(", and {} more", paths.len() - SHOWN));
    }
    list
}

/// [`plan_with_limits`] with the default [`Limits`].
pub fn plan<E: Display>(
    diff: &str,
    allowed_files: &[String],
    read: impl Fn(&str) -> Result<Option<Vec<u8>>, E>,
) -> Result<PatchPlan, PatchFailure> {
    plan_with_limits(diff, allowed_files, read, &Limits::default())
}

/// Parses `diff`, checks every path it touches against the workspace rules and
/// `allowed_files` (the proposal's `files_to_edit`) before reading anything, reads the
/// allowed files through `read` (`Ok(None)` = no such file) and places every hunk with the
/// fuzzy cascade.
pub fn plan_with_limits<E: Display>(
    diff: &str,
    allowed_files: &[String],
    read: impl Fn(&str) -> Result<Option<Vec<u8>>, E>,
    limits: &Limits,
) -> Result<PatchPlan, PatchFailure> {
    if diff.len() > limits.max_diff_bytes {
        return Err(failure(
            vec![PlanError::DiffTooLarge {
                size: diff.len(),
                limit: limits.max_diff_bytes,
            }],
            Vec::new(),
        ));
    }
    let parsed = parse(diff).map_err(|e| failure(vec![e.into()], Vec::new()))?;
    if parsed.files.len() > limits.max_files {
        let problem = PlanError::TooManyFiles {
            count: parsed.files.len(),
            limit: limits.max_files,
        };
        return Err(failure(vec![problem], Vec::new()));
    }
    let hunk_count: usize = parsed.files.iter().map(|f| f.hunks.len()).sum();
    if hunk_count > limits.max_hunks {
        return Err(failure(
            vec![PlanError::TooManyHunks {
                count: hunk_count,
                limit: limits.max_hunks,
            }],
            Vec::new(),
        ));
    }

    let read = |path: &str| {
        read(path).map_err(|e| PlanError::Read {
            path: path.to_string(),
            message: e.to_string(),
        })
    };
    let mut problems = Vec::new();
    let mut reports = Vec::new();
    let mut files = Vec::new();
    for file in &parsed.files {
        let outcome = plan_file(file, allowed_files, &read, limits);
        reports.extend(outcome.reports);
        match outcome.result {
            Ok(planned) => files.extend(planned.into_iter().filter(|f| f.before != f.after)),
            Err(mut found) => problems.append(&mut found),
        }
    }
    for (i, file) in files.iter().enumerate() {
        if files[..i].iter().any(|earlier| earlier.path == file.path) {
            problems.push(PlanError::TouchedTwice {
                path: file.path.clone(),
            });
        }
    }
    if !problems.is_empty() {
        return Err(failure(problems, reports));
    }
    let unified_diff = crate::render::unified_diff(&files);
    Ok(PatchPlan {
        files,
        hunks: reports,
        unified_diff,
    })
}

fn failure(problems: Vec<PlanError>, hunks: Vec<HunkReport>) -> PatchFailure {
    let summary = match problems.split_first() {
        None => "the diff does not apply".to_string(),
        Some((first, [])) => first.to_string(),
        Some((first, rest)) => {
            let s = if rest.len() == 1 { "" } else { "s" };
            format!("{first} (and {} more problem{s})", rest.len())
        }
    };
    PatchFailure {
        problems,
        hunks,
        summary,
    }
}

/// The caller's `read`, with its error already turned into a [`PlanError`].
type ReadFile<'a> = dyn Fn(&str) -> Result<Option<Vec<u8>>, PlanError> + 'a;

struct FileOutcome {
    reports: Vec<HunkReport>,
    result: Result<Vec<PlannedFile>, Vec<PlanError>>,
}

fn plan_file(
    diff: &FileDiff,
    allowed: &[String],
    read: &ReadFile<'_>,
    limits: &Limits,
) -> FileOutcome {
    let refuse = |problem: PlanError| FileOutcome {
        reports: not_tried(diff, &problem),
        result: Err(vec![problem]),
    };
    let touched: Vec<&str> = match &diff.change {
        FileChange::Rename { from } => vec![from.as_str(), diff.path.as_str()],
        _ => vec![diff.path.as_str()],
    };
    for path in &touched {
        if let Err(problem) = check_path(path, allowed) {
            return refuse(problem);
        }
    }
    let load = |path: &str| -> Result<Option<(Vec<u8>, TextFile)>, PlanError> {
        let Some(bytes) = read(path)? else {
            return Ok(None);
        };
        if bytes.len() > limits.max_file_bytes {
            return Err(PlanError::FileTooLarge {
                path: path.to_string(),
                size: bytes.len(),
                limit: limits.max_file_bytes,
                after: false,
            });
        }
        let text = TextFile::decode(&bytes).map_err(|why| PlanError::Binary {
            path: path.to_string(),
            why,
        })?;
        Ok(Some((bytes, text)))
    };
    let must_exist = |path: &str| {
        load(path)?.ok_or_else(|| PlanError::Missing {
            path: path.to_string(),
        })
    };
    let must_not_exist = |path: &str| match read(path)? {
        Some(_) => Err(PlanError::AlreadyExists {
            path: path.to_string(),
        }),
        None => Ok(()),
    };
    let path = diff.path.clone();

    let (before_path, before, text) = match &diff.change {
        FileChange::Create => {
            if let Err(problem) = must_not_exist(&path) {
                return refuse(problem);
            }
            let text = created_text(&diff.hunks);
            let reports = diff
                .hunks
                .iter()
                .enumerate()
                .map(|(i, _)| report(&path, i, 1, HunkResult::Exact))
                .collect();
            let after = text.encode();
            return FileOutcome {
                reports,
                result: check_size(&path, after, limits)
                    .map(|after| {
                        vec![PlannedFile {
                            path: path.clone(),
                            before: None,
                            after: Some(after),
                        }]
                    })
                    .map_err(|problem| vec![problem]),
            };
        }
        FileChange::Modify | FileChange::Delete => match must_exist(&path) {
            Ok((bytes, text)) => (path.clone(), bytes, text),
            Err(problem) => return refuse(problem),
        },
        FileChange::Rename { from } => {
            let loaded = must_not_exist(&path).and_then(|()| must_exist(from));
            match loaded {
                Ok((bytes, text)) => (from.clone(), bytes, text),
                Err(problem) => return refuse(problem),
            }
        }
    };

    if diff.change == FileChange::Delete && diff.hunks.is_empty() {
        let planned = PlannedFile {
            path,
            before: Some(before),
            after: None,
        };
        return FileOutcome {
            reports: Vec::new(),
            result: Ok(vec![planned]),
        };
    }
    let (reports, applied) = apply_hunks(&text, &diff.hunks, &path);
    let result = applied.and_then(|after| {
        let planned = match &diff.change {
            FileChange::Delete if !after.lines.is_empty() => {
                return Err(vec![PlanError::DeleteLeavesContent {
                    path: path.clone(),
                    lines: after.lines.len(),
                }]);
            }
            FileChange::Delete => vec![PlannedFile {
                path: path.clone(),
                before: Some(before),
                after: None,
            }],
            FileChange::Rename { .. } => vec![
                PlannedFile {
                    path: before_path,
                    before: Some(before),
                    after: None,
                },
                PlannedFile {
                    path: path.clone(),
                    before: None,
                    after: Some(check_size(&path, after.encode(), limits).map_err(|p| vec![p])?),
                },
            ],
            _ => vec![PlannedFile {
                path: path.clone(),
                before: Some(before),
                after: Some(check_size(&path, after.encode(), limits).map_err(|p| vec![p])?),
            }],
        };
        Ok(planned)
    });
    FileOutcome { reports, result }
}

fn check_size(path: &str, bytes: Vec<u8>, limits: &Limits) -> Result<Vec<u8>, PlanError> {
    if bytes.len() > limits.max_file_bytes {
        return Err(PlanError::FileTooLarge {
            path: path.to_string(),
            size: bytes.len(),
            limit: limits.max_file_bytes,
            after: true,
        });
    }
    Ok(bytes)
}

fn report(file: &str, index: usize, line: u32, result: HunkResult) -> HunkReport {
    HunkReport {
        file: file.to_string(),
        hunk: to_u32(index + 1),
        line,
        result,
    }
}

fn stated_line(hunk: &Hunk) -> u32 {
    hunk.old_start.unwrap_or(0)
}

/// Reports for the hunks of a file that was refused before any hunk was tried.
fn not_tried(diff: &FileDiff, problem: &PlanError) -> Vec<HunkReport> {
    diff.hunks
        .iter()
        .enumerate()
        .map(|(i, hunk)| {
            report(
                &diff.path,
                i,
                stated_line(hunk),
                HunkResult::Failed {
                    reason: format!("not tried: {problem}"),
                },
            )
        })
        .collect()
}

/// The line ending the diff itself used, for files that have none to follow.
fn diff_eol(hunks: &[Hunk]) -> Eol {
    let crlf = hunks.iter().filter(|h| h.crlf).count();
    if crlf * 2 > hunks.len() {
        Eol::CrLf
    } else {
        Eol::Lf
    }
}

/// The content of a created file: the added lines of its hunks (ending as the diff's lines
/// did), without a final newline if the last hunk says so.
fn created_text(hunks: &[Hunk]) -> TextFile {
    let eol = diff_eol(hunks);
    let mut lines: Vec<Line> = hunks
        .iter()
        .flat_map(|h| h.new_lines())
        .map(|text| Line {
            text: text.to_string(),
            eol: Some(eol),
        })
        .collect();
    if hunks.last().is_some_and(|h| h.new_missing_newline) {
        if let Some(last) = lines.last_mut() {
            last.eol = None;
        }
    }
    TextFile { bom: false, lines }
}

/// Places every hunk of one file and, if all fit without overlapping, builds the new text.
fn apply_hunks(
    file: &TextFile,
    hunks: &[Hunk],
    path: &str,
) -> (Vec<HunkReport>, Result<TextFile, Vec<PlanError>>) {
    let texts = file.texts();
    let mut reports = Vec::with_capacity(hunks.len());
    let mut placed: Vec<(usize, Placement, usize)> = Vec::new();
    let mut problems = Vec::new();
    let mut drift = 0i64;
    for (index, hunk) in hunks.iter().enumerate() {
        let shape = shape_of(hunk);
        match place(&texts, &shape, drift) {
            Ok(placement) => {
                if let Some(stated) = shape.stated {
                    drift = placement.start as i64 - placement.trim_front as i64 - stated as i64;
                }
                let len = shape.old.len() - placement.trim_front - placement.trim_back;
                reports.push(report(
                    path,
                    index,
                    to_u32(placement.start + 1),
                    placement.result.clone(),
                ));
                placed.push((index, placement, len));
            }
            Err(problem) => {
                let line = match &problem {
                    HunkProblem::NotFound { closest: Some(c) } if shape.stated.is_none() => c.start,
                    _ => stated_line(hunk),
                };
                reports.push(report(
                    path,
                    index,
                    line,
                    HunkResult::Failed {
                        reason: problem.to_string(),
                    },
                ));
                problems.push(PlanError::Hunk {
                    file: path.to_string(),
                    hunk: to_u32(index + 1),
                    line,
                    problem,
                });
            }
        }
    }

    placed.sort_by_key(|(index, p, len)| (p.start, p.start + len, *index));
    let mut covered: Option<(usize, usize, usize)> = None; // (hunk index, start, end)
    let mut overlapping = Vec::new();
    for (index, p, len) in &placed {
        let end = p.start + len;
        match covered {
            Some((other, start, other_end)) if p.start < other_end => {
                overlapping.push(*index);
                let problem = HunkProblem::Overlaps {
                    other: to_u32(other + 1),
                    start: to_u32(start + 1),
                    end: to_u32(other_end),
                };
                reports[*index] = report(
                    path,
                    *index,
                    to_u32(p.start + 1),
                    HunkResult::Failed {
                        reason: problem.to_string(),
                    },
                );
                problems.push(PlanError::Hunk {
                    file: path.to_string(),
                    hunk: to_u32(index + 1),
                    line: to_u32(p.start + 1),
                    problem,
                });
            }
            Some((_, _, other_end)) if other_end >= end => {}
            _ => covered = Some((*index, p.start, end)),
        }
    }
    if !problems.is_empty() {
        return (reports, Err(problems));
    }

    let eol = file.dominant_eol().unwrap_or_else(|| diff_eol(hunks));
    let mut lines: Vec<Line> = Vec::with_capacity(file.lines.len() + 16);
    let mut final_newline = file.ends_with_newline();
    let mut cursor = 0;
    for (index, p, len) in &placed {
        let hunk = &hunks[*index];
        lines.extend_from_slice(&file.lines[cursor..p.start]);
        let body = &hunk.lines[p.trim_front..hunk.lines.len() - p.trim_back];
        let mut at = p.start;
        for line in body {
            match line {
                HunkLine::Context(_) => {
                    lines.push(file.lines[at].clone());
                    at += 1;
                }
                HunkLine::Remove(_) => at += 1,
                HunkLine::Add(text) => lines.push(Line {
                    text: p.shift.apply(without_bom(text)),
                    eol: Some(eol),
                }),
            }
        }
        cursor = at;
        // `\ No newline at end of file` on one side only changes the file's last newline,
        // and only when the hunk reaches the end; a model that leaves the note out keeps it.
        let reaches_end = p.start + len == file.lines.len() && p.trim_back == 0;
        if reaches_end && hunk.old_missing_newline != hunk.new_missing_newline {
            final_newline = !hunk.new_missing_newline;
        }
    }
    lines.extend_from_slice(&file.lines[cursor..]);
    let count = lines.len();
    for (i, line) in lines.iter_mut().enumerate() {
        if i + 1 < count {
            line.eol = line.eol.or(Some(eol));
        } else {
            line.eol = if final_newline {
                line.eol.or(Some(eol))
            } else {
                None
            };
        }
    }
    (
        reports,
        Ok(TextFile {
            bom: file.bom,
            lines,
        }),
    )
}

/// The file's byte-order mark is kept apart from its first line, so a model that copied
/// it into a hunk line must not make that line differ.
fn without_bom(line: &str) -> &str {
    line.strip_prefix('\u{feff}').unwrap_or(line)
}

fn shape_of(hunk: &Hunk) -> HunkShape<'_> {
    let old: Vec<&str> = hunk.old_lines().into_iter().map(without_bom).collect();
    let front = hunk
        .lines
        .iter()
        .take_while(|l| matches!(l, HunkLine::Context(_)))
        .count();
    let back = hunk
        .lines
        .iter()
        .rev()
        .take_while(|l| matches!(l, HunkLine::Context(_)))
        .count();
    let stated = hunk.old_start.map(|s| {
        let s = s as usize;
        if old.is_empty() {
            s
        } else {
            s.saturating_sub(1)
        }
    });
    let adds = hunk.lines.iter().any(|l| matches!(l, HunkLine::Add(_)));
    let new = if adds {
        hunk.new_lines().into_iter().map(without_bom).collect()
    } else {
        Vec::new()
    };
    HunkShape {
        old,
        new,
        front,
        back,
        stated,
    }
}

#[cfg(test)]
mod tests;
