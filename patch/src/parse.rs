//! Parsing unified diffs the way language models write them: inside code fences and prose,
//! with CRLF line endings, missing `a/`/`b/` prefixes, wrong hunk line counts and `@@ @@`
//! headers without line numbers. The parser never reads a file; it only says what the diff
//! claims, and every error names the file, the hunk and the line of the diff it is about.

use thiserror::Error;

/// A parsed diff: one entry per file, in the order the diff names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    pub files: Vec<FileDiff>,
}

/// What a file section does to its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    Modify,
    /// `--- /dev/null` (or git's `new file mode`): the file must not exist yet.
    Create,
    /// `+++ /dev/null` (or git's `deleted file mode`).
    Delete,
    /// git's `rename from`/`rename to`; [`FileDiff::path`] is the new name.
    Rename {
        from: String,
    },
}

/// One file's part of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiff {
    /// The path as the diff names it, `a/`/`b/` prefixes and `./` removed; not yet checked
    /// against the workspace (that is [`crate::plan`]'s job).
    pub path: String,
    pub change: FileChange,
    pub hunks: Vec<Hunk>,
    /// 1-based line of the diff where this file's section starts.
    pub line: usize,
}

/// One `@@` hunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    /// The old-side start line the header states (`None` for `@@ @@`). As in the unified
    /// format, a hunk without old lines states the line *after which* it inserts.
    pub old_start: Option<u32>,
    pub lines: Vec<HunkLine>,
    /// `\ No newline at end of file` follows the last old-side line.
    pub old_missing_newline: bool,
    /// `\ No newline at end of file` follows the last new-side line.
    pub new_missing_newline: bool,
    /// 1-based line of the diff holding the `@@` header.
    pub line: usize,
    /// Most of the hunk's lines ended with CRLF in the diff text. Only used for a file that
    /// has no line ending of its own to follow (empty, one line, or created).
    pub crlf: bool,
}

/// A hunk body line without its `' '`/`-`/`+` marker and without its line ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HunkLine {
    Context(String),
    Remove(String),
    Add(String),
}

impl Hunk {
    /// The lines the hunk expects in the file (context and removed lines).
    pub fn old_lines(&self) -> Vec<&str> {
        self.lines
            .iter()
            .filter_map(|line| match line {
                HunkLine::Context(text) | HunkLine::Remove(text) => Some(text.as_str()),
                HunkLine::Add(_) => None,
            })
            .collect()
    }

    /// The lines the hunk leaves in their place (context and added lines).
    pub fn new_lines(&self) -> Vec<&str> {
        self.lines
            .iter()
            .filter_map(|line| match line {
                HunkLine::Context(text) | HunkLine::Add(text) => Some(text.as_str()),
                HunkLine::Remove(_) => None,
            })
            .collect()
    }
}

/// Why a diff could not be read. Lines are 1-based lines of the diff text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error(
        "no unified diff found: expected `--- a/<file>` and `+++ b/<file>` lines followed by `@@` hunks"
    )]
    NoDiff,
    #[error("line {line}: hunk header `@@` before any `--- a/<file>` / `+++ b/<file>` header")]
    HunkWithoutFile { line: usize },
    #[error("line {line}: the file header names no file")]
    MissingPath { line: usize },
    #[error("line {line}: both `---` and `+++` are /dev/null")]
    BothDevNull { line: usize },
    #[error(
        "line {line}: `--- {old}` and `+++ {new}` name different files; use one name (a rename needs `rename from`/`rename to`)"
    )]
    DifferentNames {
        old: String,
        new: String,
        line: usize,
    },
    #[error("{file} (line {line}): binary patches are not supported")]
    Binary { file: String, line: usize },
    #[error("{file} (line {line}): copies (`copy from`/`copy to`) are not supported")]
    Copy { file: String, line: usize },
    #[error("{file} (line {line}): the file section has no `@@` hunks")]
    NoHunks { file: String, line: usize },
    #[error("{file} (line {line}): the file appears twice in the diff")]
    DuplicateFile { file: String, line: usize },
    #[error("hunk {hunk} of {file} (line {line}) has no lines")]
    EmptyHunk {
        file: String,
        hunk: u32,
        line: usize,
    },
    #[error("hunk {hunk} of {file} (line {line}) changes nothing: it has only context lines")]
    NothingChanged {
        file: String,
        hunk: u32,
        line: usize,
    },
    #[error(
        "hunk {hunk} of {file}, line {line}: `\\ No newline at end of file` must follow the last line of a side"
    )]
    MisplacedNoNewline {
        file: String,
        hunk: u32,
        line: usize,
    },
    #[error("hunk {hunk} of {file} (line {line}) creates the file, so it may only add lines")]
    CreateWithOldLines {
        file: String,
        hunk: u32,
        line: usize,
    },
    #[error("hunk {hunk} of {file} (line {line}) deletes the file, so it may only remove lines")]
    DeleteWithNewLines {
        file: String,
        hunk: u32,
        line: usize,
    },
}

/// Parses `text` into its file sections. Prose, code fences and blank lines around and
/// between the diff's parts are skipped; CRLF line endings of the diff are ignored.
pub fn parse(text: &str) -> Result<Diff, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines: Vec<&str> = text.split('\n').collect();
    if text.ends_with('\n') {
        lines.pop();
    }
    let crlf: Vec<bool> = lines.iter().map(|line| line.ends_with('\r')).collect();
    let lines: Vec<&str> = lines
        .iter()
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .collect();

    let mut sections: Vec<Section> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let git_header = line
            .strip_prefix("diff --git")
            .filter(|r| r.is_empty() || r.starts_with(' '));
        if let Some(rest) = git_header {
            let mut section = Section::new(i + 1);
            section.git = true;
            section.git_names = split_git_names(rest);
            i += 1;
            while i < lines.len() && section.read_git_header(lines[i]) {
                i += 1;
            }
            sections.push(section);
        } else if is_file_header(&lines, i) {
            let old = header_name(&lines[i][4..]);
            let new = header_name(&lines[i + 1][4..]);
            // `--- `/`+++ ` right after `diff --git` belong to that section.
            let joins_git_section = sections.last().is_some_and(|s| {
                s.git && s.old.is_none() && s.hunks.is_empty() && s.names_file(&old, &new)
            });
            if !joins_git_section {
                sections.push(Section::new(i + 1));
            }
            if let Some(section) = sections.last_mut() {
                section.old = Some(old);
                section.new = Some(new);
                section.header_line = i + 1;
            }
            i += 2;
        } else if line.starts_with("@@") {
            let Some(section) = sections.last_mut() else {
                return Err(ParseError::HunkWithoutFile { line: i + 1 });
            };
            let (mut raw, next) = read_hunk(&lines, i);
            raw.crlf = mostly_crlf(&lines, &crlf, i + 1, next);
            section.hunks.push(raw);
            i = next;
        } else if let Some(names) = line
            .strip_prefix("Binary files ")
            .and_then(|r| r.strip_suffix(" differ"))
        {
            // `diff -r` reports a binary file on a line of its own, outside any section.
            let (old, new) = names.split_once(" and ").unwrap_or((names, names));
            let file = if old == "/dev/null" {
                strip_prefix_dir(new, "b/")
            } else {
                strip_prefix_dir(old, "a/")
            };
            return Err(ParseError::Binary {
                file: normalize_path(&file),
                line: i + 1,
            });
        } else {
            i += 1;
        }
    }

    if sections.is_empty() {
        return Err(ParseError::NoDiff);
    }
    let mut files: Vec<FileDiff> = Vec::new();
    for section in sections {
        let file = section.finish()?;
        match files.iter_mut().find(|f| f.path == file.path) {
            // Models sometimes split one file's hunks over two sections; the hunks are
            // placed by content, so they can be merged.
            Some(earlier)
                if earlier.change == FileChange::Modify && file.change == FileChange::Modify =>
            {
                earlier.hunks.extend(file.hunks);
            }
            Some(_) => {
                return Err(ParseError::DuplicateFile {
                    file: file.path,
                    line: file.line,
                });
            }
            None => files.push(file),
        }
    }
    Ok(Diff { files })
}

/// Whether most body lines in `first..end` ended with CRLF in the diff, leaving out the
/// no-newline notes and the lines they mark (which end with a bare `\n` in any diff).
fn mostly_crlf(lines: &[&str], crlf: &[bool], first: usize, end: usize) -> bool {
    let (mut with, mut without) = (0, 0);
    for i in first..end {
        let marked = lines
            .get(i + 1)
            .is_some_and(|next| i + 1 < end && next.starts_with('\\'));
        if lines[i].starts_with('\\') || marked {
            continue;
        }
        if crlf[i] {
            with += 1;
        } else {
            without += 1;
        }
    }
    with > without
}

/// `--- ` immediately followed by `+++ `.
fn is_file_header(lines: &[&str], i: usize) -> bool {
    lines[i].starts_with("--- ")
        && lines
            .get(i + 1)
            .is_some_and(|next| next.starts_with("+++ "))
}

/// Where a hunk's body must stop whatever its line counts say.
fn ends_hunk(lines: &[&str], i: usize) -> bool {
    let line = lines[i];
    line.starts_with("@@") || line.starts_with("diff --git ") || is_file_header(lines, i)
}

/// A line that can be part of a hunk body: marker-prefixed, a no-newline note, or blank (a
/// context line whose single space an editor or a model dropped).
fn is_body_line(line: &str) -> bool {
    line.is_empty() || line.starts_with([' ', '+', '-', '\\'])
}

/// A file section as written, before its names are resolved.
struct Section {
    line: usize,
    header_line: usize,
    /// Started by `diff --git`.
    git: bool,
    git_names: Option<(String, String)>,
    /// `Some(None)` = `/dev/null`.
    old: Option<Option<String>>,
    new: Option<Option<String>>,
    new_file: bool,
    deleted_file: bool,
    rename_from: Option<String>,
    rename_to: Option<String>,
    copy: bool,
    binary: bool,
    hunks: Vec<RawHunk>,
}

struct RawHunk {
    old_start: Option<u32>,
    /// (1-based diff line, text) of every body line, no-newline notes included.
    body: Vec<(usize, String)>,
    line: usize,
    crlf: bool,
}

impl Section {
    fn new(line: usize) -> Self {
        Section {
            line,
            header_line: line,
            git: false,
            git_names: None,
            old: None,
            new: None,
            new_file: false,
            deleted_file: false,
            rename_from: None,
            rename_to: None,
            copy: false,
            binary: false,
            hunks: Vec::new(),
        }
    }

    /// Whether a `--- `/`+++ ` pair names this git section's file. A rename-only section is
    /// complete without one, and the pair that follows it may start the next file.
    fn names_file(&self, old: &Option<String>, new: &Option<String>) -> bool {
        let mut known: Vec<String> = Vec::new();
        if let Some((a, b)) = &self.git_names {
            known.push(normalize_path(&strip_prefix_dir(a, "a/")));
            known.push(normalize_path(&strip_prefix_dir(b, "b/")));
        }
        known.extend(self.rename_from.iter().cloned());
        known.extend(self.rename_to.iter().cloned());
        if known.is_empty() {
            return true;
        }
        let named = |name: &Option<String>, prefix: &str| {
            name.as_deref()
                .map(|n| known.contains(&normalize_path(&strip_prefix_dir(n, prefix))))
        };
        match (named(old, "a/"), named(new, "b/")) {
            (None, None) => false,
            (old, new) => old.unwrap_or(true) && new.unwrap_or(true),
        }
    }

    /// Takes one git extended header line; false when `line` is not one.
    fn read_git_header(&mut self, line: &str) -> bool {
        if line.starts_with("new file mode") {
            self.new_file = true;
        } else if line.starts_with("deleted file mode") {
            self.deleted_file = true;
        } else if let Some(name) = line.strip_prefix("rename from ") {
            self.rename_from = Some(normalize_path(&unquote(name)));
        } else if let Some(name) = line.strip_prefix("rename to ") {
            self.rename_to = Some(normalize_path(&unquote(name)));
        } else if line.starts_with("copy from ") || line.starts_with("copy to ") {
            self.copy = true;
        } else if line.starts_with("GIT binary patch")
            || (line.starts_with("Binary files ") && line.ends_with(" differ"))
        {
            self.binary = true;
        } else if ![
            "old mode",
            "new mode",
            "similarity index",
            "dissimilarity index",
            "index ",
        ]
        .iter()
        .any(|prefix| line.starts_with(prefix))
        {
            return false;
        }
        true
    }

    fn finish(self) -> Result<FileDiff, ParseError> {
        let line = self.header_line;
        let renamed = self.rename_from.is_some() && self.rename_to.is_some();
        if self.old.is_none() && self.git_names.is_none() && !renamed {
            return Err(ParseError::MissingPath { line });
        }
        let old = self
            .old
            .clone()
            .unwrap_or_else(|| self.git_names.as_ref().map(|(a, _)| a.clone()));
        let new = self
            .new
            .clone()
            .unwrap_or_else(|| self.git_names.as_ref().map(|(_, b)| b.clone()));
        let deleted = self.deleted_file || (self.new.is_some() && new.is_none());
        let created = self.new_file || (self.old.is_some() && old.is_none());

        let (path, change) = match (&self.rename_from, &self.rename_to) {
            (Some(from), Some(to)) if from != to => {
                (to.clone(), FileChange::Rename { from: from.clone() })
            }
            _ => match (old, new) {
                (None, None) => return Err(ParseError::BothDevNull { line }),
                _ if created && deleted => return Err(ParseError::BothDevNull { line }),
                (_, Some(new)) if created => (strip_prefix_dir(&new, "b/"), FileChange::Create),
                (Some(old), _) if deleted => (strip_prefix_dir(&old, "a/"), FileChange::Delete),
                (Some(old), Some(new)) => (resolve_pair(&old, &new, line)?, FileChange::Modify),
                (None, Some(new)) => (strip_prefix_dir(&new, "b/"), FileChange::Create),
                (Some(old), None) => (strip_prefix_dir(&old, "a/"), FileChange::Delete),
            },
        };
        let path = normalize_path(&path);
        if path.is_empty() {
            return Err(ParseError::MissingPath { line });
        }
        if self.binary {
            return Err(ParseError::Binary {
                file: path,
                line: self.line,
            });
        }
        if self.copy {
            return Err(ParseError::Copy {
                file: path,
                line: self.line,
            });
        }

        let mut hunks = Vec::with_capacity(self.hunks.len());
        for (index, raw) in self.hunks.into_iter().enumerate() {
            let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
            hunks.push(build_hunk(raw, &path, number)?);
        }
        for (index, hunk) in hunks.iter().enumerate() {
            let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let has = |pred: fn(&HunkLine) -> bool| hunk.lines.iter().any(pred);
            match change {
                FileChange::Create if has(|l| !matches!(l, HunkLine::Add(_))) => {
                    return Err(ParseError::CreateWithOldLines {
                        file: path,
                        hunk: number,
                        line: hunk.line,
                    });
                }
                FileChange::Delete if has(|l| !matches!(l, HunkLine::Remove(_))) => {
                    return Err(ParseError::DeleteWithNewLines {
                        file: path,
                        hunk: number,
                        line: hunk.line,
                    });
                }
                _ => {}
            }
        }
        if change == FileChange::Modify && hunks.is_empty() {
            return Err(ParseError::NoHunks { file: path, line });
        }
        Ok(FileDiff {
            path,
            change,
            hunks,
            line: self.line,
        })
    }
}

/// Reads the hunk whose `@@` header is `lines[start]`; returns it and the index after it.
///
/// When the header's line counts are consistent with the body they decide where it ends
/// (so a blank last context line is kept); when they are wrong the body runs while lines
/// look like hunk lines, minus trailing blank lines.
fn read_hunk(lines: &[&str], start: usize) -> (RawHunk, usize) {
    let (old, new) = parse_hunk_header(lines[start]);
    let first = start + 1;
    let counted = match (old, new) {
        (Some((_, old_len)), Some((_, new_len))) => counted_end(lines, first, old_len, new_len),
        _ => None,
    };
    let end = counted.unwrap_or_else(|| {
        let mut end = first;
        while end < lines.len() && is_body_line(lines[end]) && !ends_hunk(lines, end) {
            end += 1;
        }
        while end > first && lines[end - 1].is_empty() {
            end -= 1;
        }
        end
    });
    let body = (first..end)
        .map(|i| (i + 1, lines[i].to_string()))
        .collect();
    let raw = RawHunk {
        old_start: old.map(|(start, _)| start),
        body,
        line: start + 1,
        crlf: false,
    };
    (raw, end)
}

/// The end of a hunk body read by its header's counts, if the counts fit the body and no
/// hunk line follows them (which would mean the model under-counted).
fn counted_end(lines: &[&str], first: usize, old_len: u32, new_len: u32) -> Option<usize> {
    let (mut old, mut new) = (0u32, 0u32);
    let mut i = first;
    while old < old_len || new < new_len {
        if i >= lines.len() || ends_hunk(lines, i) {
            return None;
        }
        let line = lines[i];
        match line.as_bytes().first() {
            None | Some(b' ') => {
                old += 1;
                new += 1;
            }
            Some(b'-') => old += 1,
            Some(b'+') => new += 1,
            Some(b'\\') => {}
            Some(_) => return None,
        }
        if old > old_len || new > new_len {
            return None;
        }
        i += 1;
    }
    while i < lines.len() && lines[i].starts_with('\\') {
        i += 1;
    }
    let more_follows =
        i < lines.len() && !lines[i].is_empty() && is_body_line(lines[i]) && !ends_hunk(lines, i);
    (!more_follows).then_some(i)
}

/// `@@ -12,3 +12,4 @@ section` → (Some((12, 3)), Some((12, 4))). A missing count is 1; a
/// side that is missing or malformed is `None` (`@@ @@`).
fn parse_hunk_header(line: &str) -> (Option<Range>, Option<Range>) {
    let inner = line.trim_start_matches('@');
    let inner = inner.split("@@").next().unwrap_or("");
    let mut old = None;
    let mut new = None;
    for token in inner.split_whitespace() {
        if let Some(range) = token.strip_prefix('-') {
            old = old.or_else(|| parse_range(range));
        } else if let Some(range) = token.strip_prefix('+') {
            new = new.or_else(|| parse_range(range));
        }
    }
    (old, new)
}

/// One side of a hunk header: start line and line count.
type Range = (u32, u32);

fn parse_range(range: &str) -> Option<Range> {
    match range.split_once(',') {
        Some((start, len)) => Some((start.parse().ok()?, len.parse().ok()?)),
        None => Some((range.parse().ok()?, 1)),
    }
}

fn build_hunk(raw: RawHunk, file: &str, number: u32) -> Result<Hunk, ParseError> {
    let mut lines = Vec::with_capacity(raw.body.len());
    let mut old_missing_newline = false;
    let mut new_missing_newline = false;
    // Side(s) a no-newline note seen so far applies to; nothing may follow on that side.
    let misplaced = |line: usize| ParseError::MisplacedNoNewline {
        file: file.to_string(),
        hunk: number,
        line,
    };
    for (line_no, text) in raw.body {
        let line = match text.as_bytes().first() {
            Some(b'\\') => {
                match lines.last() {
                    Some(HunkLine::Context(_)) => {
                        old_missing_newline = true;
                        new_missing_newline = true;
                    }
                    Some(HunkLine::Remove(_)) => old_missing_newline = true,
                    Some(HunkLine::Add(_)) => new_missing_newline = true,
                    None => return Err(misplaced(line_no)),
                }
                continue;
            }
            Some(b'-') => HunkLine::Remove(text[1..].to_string()),
            Some(b'+') => HunkLine::Add(text[1..].to_string()),
            Some(_) => HunkLine::Context(text.get(1..).unwrap_or("").to_string()),
            None => HunkLine::Context(String::new()),
        };
        let old_side = matches!(line, HunkLine::Context(_) | HunkLine::Remove(_));
        let new_side = matches!(line, HunkLine::Context(_) | HunkLine::Add(_));
        if (old_side && old_missing_newline) || (new_side && new_missing_newline) {
            return Err(misplaced(line_no));
        }
        lines.push(line);
    }
    if lines.is_empty() {
        return Err(ParseError::EmptyHunk {
            file: file.to_string(),
            hunk: number,
            line: raw.line,
        });
    }
    if lines.iter().all(|l| matches!(l, HunkLine::Context(_))) {
        return Err(ParseError::NothingChanged {
            file: file.to_string(),
            hunk: number,
            line: raw.line,
        });
    }
    Ok(Hunk {
        old_start: raw.old_start,
        lines,
        old_missing_newline,
        new_missing_newline,
        line: raw.line,
        crlf: raw.crlf,
    })
}

/// A `---`/`+++` name: `None` for /dev/null; unquoted, timestamp after a tab dropped.
fn header_name(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let name = if raw.starts_with('"') {
        unquote(raw)
    } else {
        raw.split('\t').next().unwrap_or("").trim_end().to_string()
    };
    (name != "/dev/null").then_some(name)
}

/// The two names of `diff --git a/x b/x`, which git only quotes when they hold special
/// characters; unquoted names may contain spaces, so the split that makes them agree wins.
fn split_git_names(rest: &str) -> Option<(String, String)> {
    let rest = rest.trim();
    if let Some(quoted) = rest.strip_prefix('"') {
        let close = quoted.find("\" ").map(|i| i + 1)?;
        let (a, b) = rest.split_at(close + 1);
        return Some((unquote(a), unquote(b.trim())));
    }
    let splits: Vec<usize> = rest.match_indices(' ').map(|(i, _)| i).collect();
    splits
        .iter()
        .find(|&&i| strip_prefix_dir(&rest[..i], "a/") == strip_prefix_dir(&rest[i + 1..], "b/"))
        .or_else(|| splits.iter().find(|&&i| rest[i + 1..].starts_with("b/")))
        .map(|&i| (rest[..i].to_string(), unquote(&rest[i + 1..])))
}

/// Undoes git's C-style quoting (`"a/caf\303\251.css"`); other text is returned as is.
fn unquote(raw: &str) -> String {
    let raw = raw.trim();
    let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return raw.to_string();
    };
    let mut bytes = Vec::with_capacity(inner.len());
    let mut chars = inner.bytes().peekable();
    while let Some(b) = chars.next() {
        if b != b'\\' {
            bytes.push(b);
            continue;
        }
        match chars.next() {
            Some(b'n') => bytes.push(b'\n'),
            Some(b't') => bytes.push(b'\t'),
            Some(b'r') => bytes.push(b'\r'),
            Some(d @ b'0'..=b'7') => {
                let mut value = u32::from(d - b'0');
                for _ in 0..2 {
                    match chars.peek() {
                        Some(&o @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(o - b'0');
                            chars.next();
                        }
                        _ => break,
                    }
                }
                bytes.push(u8::try_from(value).unwrap_or(b'?'));
            }
            Some(other) => bytes.push(other),
            None => bytes.push(b'\\'),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn strip_prefix_dir(path: &str, prefix: &str) -> String {
    path.strip_prefix(prefix).unwrap_or(path).to_string()
}

/// The one file both sides of a modification name: `a/x` + `b/x`, `x` + `x`, one side
/// prefixed and the other not, or git's mnemonic prefixes (`i/x` + `w/x`).
fn resolve_pair(old: &str, new: &str, line: usize) -> Result<String, ParseError> {
    if old == new {
        return Ok(old.to_string());
    }
    let old_stripped = strip_prefix_dir(old, "a/");
    let new_stripped = strip_prefix_dir(new, "b/");
    if old_stripped == new_stripped {
        return Ok(old_stripped);
    }
    let single_char_dir = |p: &str| {
        p.split_once('/')
            .filter(|(dir, _)| dir.len() == 1)
            .map(|(_, rest)| rest.to_string())
    };
    if let (Some(a), Some(b)) = (single_char_dir(old), single_char_dir(new)) {
        if a == b {
            return Ok(a);
        }
    }
    Err(ParseError::DifferentNames {
        old: old.to_string(),
        new: new.to_string(),
        line,
    })
}

/// Drops `./` and empty components (`css//a.css`, `./css/a.css` → `css/a.css`). A leading
/// `/` goes too: models write site-root paths (`/css/style.css`), and read from the workspace
/// an absolute path can only name a file inside it (`/etc/hosts` → `etc/hosts`, which a plan
/// then finds missing), never one outside.
pub(crate) fn normalize_path(path: &str) -> String {
    path.split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only_file(text: &str) -> FileDiff {
        let mut diff = parse(text).expect("parses");
        assert_eq!(diff.files.len(), 1, "{diff:?}");
        diff.files.remove(0)
    }

    #[test]
    fn parses_a_plain_git_style_modification() {
        let file = only_file("--- a/css/a.css\n+++ b/css/a.css\n@@ -1,3 +1,3 @@\n a {\n-  color: red;\n+  color: blue;\n }\n");
        assert_eq!(file.path, "css/a.css");
        assert_eq!(file.change, FileChange::Modify);
        assert_eq!(file.hunks.len(), 1);
        let hunk = &file.hunks[0];
        assert_eq!(hunk.old_start, Some(1));
        assert_eq!(hunk.line, 3);
        assert_eq!(hunk.old_lines(), vec!["a {", "  color: red;", "}"]);
        assert_eq!(hunk.new_lines(), vec!["a {", "  color: blue;", "}"]);
    }

    #[test]
    fn strips_code_fences_and_prose_around_the_diff() {
        let text = "Here is the change:\n\n```diff\n--- a/a.css\n+++ b/a.css\n@@ -1,2 +1,2 @@\n a {\n-color: red;\n+color: blue;\n```\n\nThis makes the text blue.\n";
        let file = only_file(text);
        assert_eq!(file.hunks[0].lines.len(), 3);
        assert_eq!(file.hunks[0].new_lines(), vec!["a {", "color: blue;"]);
    }

    #[test]
    fn reads_a_diff_with_crlf_line_endings() {
        let text = "--- a/a.css\r\n+++ b/a.css\r\n@@ -1 +1 @@\r\n-x\r\n+y\r\n";
        let file = only_file(text);
        assert_eq!(file.path, "a.css");
        assert_eq!(
            file.hunks[0].lines,
            vec![HunkLine::Remove("x".into()), HunkLine::Add("y".into())]
        );
    }

    #[test]
    fn a_plain_file_header_after_a_rename_only_section_starts_a_new_file() {
        let text = "diff --git a/old.css b/new.css\nsimilarity index 100%\nrename from old.css\nrename to new.css\n--- a/index.html\n+++ b/index.html\n@@ -1 +1 @@\n-a\n+b\n";
        let diff = parse(text).expect("parses");
        let summary: Vec<(String, FileChange)> = diff
            .files
            .iter()
            .map(|f| (f.path.clone(), f.change.clone()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "new.css".to_string(),
                    FileChange::Rename {
                        from: "old.css".into()
                    }
                ),
                ("index.html".to_string(), FileChange::Modify),
            ]
        );
        assert!(diff.files[0].hunks.is_empty());
        assert_eq!(diff.files[1].hunks.len(), 1);
    }

    #[test]
    fn a_rename_with_edits_keeps_its_own_file_header() {
        let text = "diff --git a/old.css b/new.css\nsimilarity index 90%\nrename from old.css\nrename to new.css\n--- a/old.css\n+++ b/new.css\n@@ -1 +1 @@\n-a\n+b\n";
        let diff = parse(text).expect("parses");
        assert_eq!(diff.files.len(), 1);
        assert_eq!(diff.files[0].path, "new.css");
        assert_eq!(diff.files[0].hunks.len(), 1);
    }

    #[test]
    fn reads_an_absolute_path_from_the_workspace_root_never_outside_it() {
        let file = only_file("--- /etc/hosts\n+++ /etc/hosts\n@@ -1 +1 @@\n-a\n+b\n");
        assert_eq!(file.path, "etc/hosts");
        let file = only_file("--- /css/style.css\n+++ /css/style.css\n@@ -1 +1 @@\n-a\n+b\n");
        assert_eq!(file.path, "css/style.css");
    }

    #[test]
    fn accepts_paths_without_a_b_prefixes() {
        for (old, new) in [
            ("css/a.css", "css/a.css"),
            ("a/css/a.css", "css/a.css"),
            ("css/a.css", "b/css/a.css"),
            ("i/css/a.css", "w/css/a.css"),
        ] {
            let file = only_file(&format!("--- {old}\n+++ {new}\n@@ -1 +1 @@\n-x\n+y\n"));
            assert_eq!(file.path, "css/a.css", "{old} / {new}");
        }
    }

    #[test]
    fn keeps_a_real_directory_named_a_when_both_sides_agree() {
        let file = only_file("--- a/x.css\n+++ a/x.css\n@@ -1 +1 @@\n-x\n+y\n");
        assert_eq!(file.path, "a/x.css");
    }

    #[test]
    fn drops_timestamps_and_dot_slash_from_file_names() {
        let file = only_file("--- ./css/a.css\t2024-01-01 10:00:00.000 +0000\n+++ ./css/a.css\t2024-01-02 10:00:00.000 +0000\n@@ -1 +1 @@\n-x\n+y\n");
        assert_eq!(file.path, "css/a.css");
    }

    #[test]
    fn unquotes_git_quoted_names() {
        let file = only_file("--- \"a/caf\\303\\251 menu.css\"\n+++ \"b/caf\\303\\251 menu.css\"\n@@ -1 +1 @@\n-x\n+y\n");
        assert_eq!(file.path, "café menu.css");
    }

    #[test]
    fn parses_multiple_files_in_order() {
        let text = "--- a/a.css\n+++ b/a.css\n@@ -1 +1 @@\n-x\n+y\n--- a/index.html\n+++ b/index.html\n@@ -3,1 +3,2 @@\n <p>\n+<b>\n";
        let diff = parse(text).expect("parses");
        let paths: Vec<_> = diff.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["a.css", "index.html"]);
    }

    #[test]
    fn recognises_file_creation_from_dev_null() {
        let file = only_file("--- /dev/null\n+++ b/css/new.css\n@@ -0,0 +1,2 @@\n+a {}\n+b {}\n");
        assert_eq!(file.change, FileChange::Create);
        assert_eq!(file.path, "css/new.css");
    }

    #[test]
    fn recognises_file_deletion_to_dev_null() {
        let file = only_file("--- a/old.css\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-a {}\n-b {}\n");
        assert_eq!(file.change, FileChange::Delete);
        assert_eq!(file.path, "old.css");
    }

    #[test]
    fn recognises_git_creation_of_an_empty_file_without_hunks() {
        let file = only_file(
            "diff --git a/empty.css b/empty.css\nnew file mode 100644\nindex 0000000..e69de29\n",
        );
        assert_eq!(file.change, FileChange::Create);
        assert_eq!(file.path, "empty.css");
        assert!(file.hunks.is_empty());
    }

    #[test]
    fn recognises_git_rename_with_and_without_hunks() {
        let file = only_file("diff --git a/old.css b/new.css\nsimilarity index 100%\nrename from old.css\nrename to new.css\n");
        assert_eq!(
            file.change,
            FileChange::Rename {
                from: "old.css".into()
            }
        );
        assert_eq!(file.path, "new.css");

        let file = only_file("diff --git a/old.css b/new.css\nsimilarity index 90%\nrename from old.css\nrename to new.css\n--- a/old.css\n+++ b/new.css\n@@ -1 +1 @@\n-x\n+y\n");
        assert_eq!(
            file.change,
            FileChange::Rename {
                from: "old.css".into()
            }
        );
        assert_eq!(file.hunks.len(), 1);
    }

    #[test]
    fn records_no_newline_at_end_of_file_per_side() {
        let file = only_file(
            "--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-x\n\\ No newline at end of file\n+y\n",
        );
        let hunk = &file.hunks[0];
        assert!(hunk.old_missing_newline);
        assert!(!hunk.new_missing_newline);
        assert_eq!(hunk.lines.len(), 2);

        let file = only_file(
            "--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n-x\n+y\n z\n\\ No newline at end of file\n",
        );
        assert!(file.hunks[0].old_missing_newline && file.hunks[0].new_missing_newline);
    }

    #[test]
    fn reads_hunks_without_line_numbers() {
        let file = only_file("--- a/a.css\n+++ b/a.css\n@@ @@\n a {\n-x\n+y\n@@\n-p\n+q\n");
        assert_eq!(file.hunks.len(), 2);
        assert_eq!(file.hunks[0].old_start, None);
        assert_eq!(file.hunks[1].lines.len(), 2);
    }

    #[test]
    fn tolerates_hunk_counts_that_are_too_small() {
        let file = only_file("--- a/a.css\n+++ b/a.css\n@@ -1,1 +1,1 @@\n a {\n-x\n+y\n }\n");
        assert_eq!(file.hunks[0].lines.len(), 4);
    }

    #[test]
    fn tolerates_hunk_counts_that_are_too_large() {
        let file =
            only_file("--- a/a.css\n+++ b/a.css\n@@ -1,9 +1,9 @@\n a {\n-x\n+y\n }\n\nDone.\n");
        assert_eq!(file.hunks[0].lines.len(), 4);
    }

    #[test]
    fn overcounted_hunk_does_not_swallow_the_next_file_header() {
        let text = "--- a/a.css\n+++ b/a.css\n@@ -1,2 +1,2 @@\n-x\n+y\n--- a/b.css\n+++ b/b.css\n@@ -1 +1 @@\n-p\n+q\n";
        let diff = parse(text).expect("parses");
        assert_eq!(diff.files.len(), 2);
        assert_eq!(diff.files[0].hunks[0].lines.len(), 2);
    }

    #[test]
    fn keeps_a_blank_context_line_when_the_counts_say_so() {
        let file = only_file("--- a/a.css\n+++ b/a.css\n@@ -1,3 +1,3 @@\n-x\n+y\n z\n\n");
        assert_eq!(
            file.hunks[0].lines.last(),
            Some(&HunkLine::Context(String::new()))
        );
    }

    #[test]
    fn drops_trailing_blank_lines_when_the_counts_are_wrong() {
        let file = only_file("--- a/a.css\n+++ b/a.css\n@@ -1,7 +1,7 @@\n-x\n+y\n z\n\n\n");
        assert_eq!(file.hunks[0].lines.len(), 3);
    }

    #[test]
    fn treats_a_blank_line_inside_a_hunk_as_empty_context() {
        let file = only_file("--- a/a.css\n+++ b/a.css\n@@ @@\n a {}\n\n-b {}\n+c {}\n");
        assert_eq!(file.hunks[0].old_lines(), vec!["a {}", "", "b {}"]);
    }

    #[test]
    fn merges_two_sections_for_the_same_file() {
        let text = "--- a/a.css\n+++ b/a.css\n@@ -1 +1 @@\n-x\n+y\n\nand then\n\n--- a/a.css\n+++ b/a.css\n@@ -9 +9 @@\n-p\n+q\n";
        let file = only_file(text);
        assert_eq!(file.hunks.len(), 2);
    }

    #[test]
    fn rejects_text_without_a_diff() {
        assert_eq!(
            parse("I could not find the stylesheet."),
            Err(ParseError::NoDiff)
        );
    }

    #[test]
    fn rejects_hunk_before_any_file_header_naming_the_line() {
        assert_eq!(
            parse("intro\n@@ -1 +1 @@\n-x\n+y\n"),
            Err(ParseError::HunkWithoutFile { line: 2 })
        );
    }

    #[test]
    fn rejects_different_names_without_rename_headers() {
        let err = parse("--- a/x.css\n+++ b/y.css\n@@ -1 +1 @@\n-x\n+y\n").unwrap_err();
        assert_eq!(
            err,
            ParseError::DifferentNames {
                old: "a/x.css".into(),
                new: "b/y.css".into(),
                line: 1
            }
        );
    }

    #[test]
    fn rejects_context_only_hunk_naming_file_hunk_and_line() {
        let err = parse("--- a/a.css\n+++ b/a.css\n@@ -1 +1 @@\n-x\n+y\n@@ -5,2 +5,2 @@\n p\n q\n")
            .unwrap_err();
        assert_eq!(
            err,
            ParseError::NothingChanged {
                file: "a.css".into(),
                hunk: 2,
                line: 6
            }
        );
        assert_eq!(
            err.to_string(),
            "hunk 2 of a.css (line 6) changes nothing: it has only context lines"
        );
    }

    #[test]
    fn rejects_modification_without_hunks() {
        assert_eq!(
            parse("--- a/a.css\n+++ b/a.css\n"),
            Err(ParseError::NoHunks {
                file: "a.css".into(),
                line: 1
            })
        );
    }

    #[test]
    fn rejects_binary_patches() {
        let err = parse("diff --git a/logo.png b/logo.png\nindex 1..2 100644\nBinary files a/logo.png and b/logo.png differ\n").unwrap_err();
        assert_eq!(
            err,
            ParseError::Binary {
                file: "logo.png".into(),
                line: 1
            }
        );
    }

    #[test]
    fn rejects_a_binary_file_reported_by_diff_r_naming_it() {
        let text = "--- a/a.css\n+++ b/a.css\n@@ -1 +1 @@\n-x\n+y\nBinary files a/img/logo.png and b/img/logo.png differ\n";
        assert_eq!(
            parse(text),
            Err(ParseError::Binary {
                file: "img/logo.png".into(),
                line: 6
            })
        );
    }

    #[test]
    fn rejects_a_git_header_without_file_names() {
        assert_eq!(
            parse("diff --git\nnew file mode 100644\n"),
            Err(ParseError::MissingPath { line: 1 })
        );
    }

    #[test]
    fn rejects_creation_hunk_with_context_lines() {
        let err = parse("--- /dev/null\n+++ b/n.css\n@@ -0,0 +1,2 @@\n a\n+b\n").unwrap_err();
        assert_eq!(
            err,
            ParseError::CreateWithOldLines {
                file: "n.css".into(),
                hunk: 1,
                line: 3
            }
        );
    }

    #[test]
    fn rejects_no_newline_note_in_the_middle_of_a_side() {
        let err = parse(
            "--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n-x\n\\ No newline at end of file\n-y\n+z\n",
        )
        .unwrap_err();
        assert_eq!(
            err,
            ParseError::MisplacedNoNewline {
                file: "a.txt".into(),
                hunk: 1,
                line: 6
            }
        );
    }

    #[test]
    fn keeps_removed_lines_that_look_like_sql_comments_inside_counted_hunk() {
        let file = only_file(
            "--- a/q.sql\n+++ b/q.sql\n@@ -1,2 +1,2 @@\n--- note\n+-- note!\n select 1;\n",
        );
        assert_eq!(file.hunks[0].lines[0], HunkLine::Remove("-- note".into()));
        assert_eq!(file.hunks[0].lines.len(), 3);
    }
}
