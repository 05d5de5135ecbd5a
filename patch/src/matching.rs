//! Finding where a hunk goes: the fuzzy cascade. Stages, in order: exact at the stated line
//! → exact elsewhere (unique; an offset) → ignoring trailing whitespace → relative
//! indentation → dropping unmatched context lines at the hunk's edges. The invariant: a
//! hunk is placed only where exactly one region fits (the stated line breaks ties only for
//! exact matches); otherwise it fails with every candidate, or the closest region and why.
//! A hunk whose result is in the file while its old side is not fails as already applied,
//! before any fuzzy stage could apply it a second time.

use devflow_protocol::HunkResult;
use thiserror::Error;

/// Why a hunk could not be placed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HunkProblem {
    /// The hunk fits more than one region (1-based first lines of each).
    #[error("matches {} places ({}); add more context", .lines.len(), line_list(.lines))]
    Ambiguous { lines: Vec<u32> },
    #[error("{}", not_found_text(.closest))]
    NotFound { closest: Option<Closest> },
    #[error(
        "has no context lines and no line number, so nothing says where it goes; add context lines"
    )]
    Unplaceable,
    #[error("inserts after line {line}, but the file has only {file_lines} lines")]
    BeyondEnd { line: u32, file_lines: u32 },
    #[error("overlaps hunk {other}, which changes lines {start}-{end}")]
    Overlaps { other: u32, start: u32, end: u32 },
    /// What the hunk would leave is already in the file (1-based first line) and what it
    /// expects is not: it was applied before.
    #[error("is already applied: what it adds is at line {line} and what it replaces is not in the file; nothing to do")]
    AlreadyApplied { line: u32 },
}

/// The region of the file that came closest to a hunk that matched nowhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closest {
    /// 1-based first and last line of the region.
    pub start: u32,
    pub end: u32,
    /// How many of the hunk's old lines agree there (ignoring surrounding whitespace).
    pub agreeing: u32,
    pub total: u32,
    /// The first line that differs.
    pub difference: Option<Difference>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// 1-based line of the file.
    pub line: u32,
    pub expected: String,
    /// `None` when the file ends before this line.
    pub found: Option<String>,
}

/// How the added lines must be re-indented when the hunk matched with an indentation shift.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IndentShift {
    None,
    /// The file is indented this much deeper than the hunk.
    Add(String),
    /// The hunk is indented this much deeper than the file.
    Remove(String),
}

impl IndentShift {
    pub fn apply(&self, line: &str) -> String {
        match self {
            _ if line.trim().is_empty() => line.to_string(),
            IndentShift::None => line.to_string(),
            IndentShift::Add(prefix) => format!("{prefix}{line}"),
            IndentShift::Remove(prefix) => line
                .strip_prefix(prefix.as_str())
                .unwrap_or(line)
                .to_string(),
        }
    }
}

/// Where a hunk goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placement {
    /// 0-based index of the first file line the (trimmed) hunk covers.
    pub start: usize,
    /// Context lines dropped from the hunk's start and end (edge-context stage only).
    pub trim_front: usize,
    pub trim_back: usize,
    pub shift: IndentShift,
    pub result: HunkResult,
}

/// What the cascade needs to know about a hunk.
pub(crate) struct HunkShape<'a> {
    /// Context and removed lines, in order.
    pub old: Vec<&'a str>,
    /// Context and added lines, in order; empty when the hunk adds nothing (only an
    /// addition can be told apart from its own result).
    pub new: Vec<&'a str>,
    /// Leading and trailing context lines.
    pub front: usize,
    pub back: usize,
    /// 0-based index the header states for `old[0]` (for an insertion without old lines:
    /// the index it inserts before).
    pub stated: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    Exact,
    TrailingWhitespace,
    Indentation,
}

/// Places one hunk in `file` (the pre-image's lines). `drift` is how far the previous hunk
/// of the same file landed from its stated line; an exact match at that same distance
/// breaks a tie, as line-number offsets move whole files.
pub(crate) fn place(
    file: &[&str],
    hunk: &HunkShape<'_>,
    drift: i64,
) -> Result<Placement, HunkProblem> {
    let old = &hunk.old;
    let at = |start: usize, result: HunkResult| Placement {
        start,
        trim_front: 0,
        trim_back: 0,
        shift: IndentShift::None,
        result,
    };
    if old.is_empty() {
        return match hunk.stated {
            Some(s) if s <= file.len() => Ok(at(s, HunkResult::Exact)),
            Some(s) => Err(HunkProblem::BeyondEnd {
                line: to_u32(s),
                file_lines: to_u32(file.len()),
            }),
            None if file.is_empty() => Ok(at(0, HunkResult::Exact)),
            None => Err(HunkProblem::Unplaceable),
        };
    }

    if let Some(s) = hunk.stated {
        if matches_at(file, s, old, Compare::Exact).is_some() {
            return Ok(at(s, HunkResult::Exact));
        }
    }
    let offset = |start: usize| match hunk.stated {
        Some(s) => HunkResult::Offset {
            lines: start as i64 - s as i64,
        },
        // Nothing was stated, so nothing was off: the content matched exactly.
        None => HunkResult::Exact,
    };
    let exact = find_all(file, old, Compare::Exact);
    match exact.as_slice() {
        [(start, _)] => return Ok(at(*start, offset(*start))),
        [] => {}
        many => {
            let by_drift = hunk
                .stated
                .and_then(|s| usize::try_from(s as i64 + drift).ok())
                .filter(|_| drift != 0);
            if let Some(start) = by_drift.filter(|t| many.iter().any(|(p, _)| p == t)) {
                return Ok(at(start, offset(start)));
            }
            return Err(ambiguous(many.iter().map(|(p, _)| *p)));
        }
    }
    // The old side is nowhere exactly. If the result is there, the hunk was applied before:
    // the stages below would otherwise find the old side without the context line next to
    // the addition and add the lines a second time (GNU patch: "previously applied").
    if let Some(line) = already_applied(file, &hunk.new) {
        return Err(HunkProblem::AlreadyApplied { line });
    }

    for (compare, kind) in [
        (Compare::TrailingWhitespace, "whitespace"),
        (Compare::Indentation, "indentation"),
    ] {
        match find_all(file, old, compare).as_slice() {
            [] => {}
            [(start, shift)] => {
                return Ok(Placement {
                    shift: shift.clone(),
                    ..at(*start, fuzzy(kind))
                });
            }
            many => return Err(ambiguous(many.iter().map(|(p, _)| *p))),
        }
    }

    for dropped in 1..=hunk.front + hunk.back {
        let mut unique: Vec<Placement> = Vec::new();
        let mut ambiguous_at: Option<Vec<usize>> = None;
        for front in 0..=dropped.min(hunk.front) {
            let back = dropped - front;
            if back > hunk.back || front + back >= old.len() {
                continue;
            }
            let sub = &old[front..old.len() - back];
            // Edge context lines are shared by both sides, so this is the same trim of `new`.
            let sub_new = hunk.new.get(front..hunk.new.len().saturating_sub(back));
            for compare in [
                Compare::Exact,
                Compare::TrailingWhitespace,
                Compare::Indentation,
            ] {
                match find_all(file, sub, compare).as_slice() {
                    [] => continue,
                    [(start, shift)] => {
                        if let Some(line) = sub_new.and_then(|new| already_applied(file, new)) {
                            return Err(HunkProblem::AlreadyApplied { line });
                        }
                        unique.push(Placement {
                            start: *start,
                            trim_front: front,
                            trim_back: back,
                            shift: shift.clone(),
                            result: fuzzy("edge context"),
                        });
                    }
                    many => {
                        ambiguous_at.get_or_insert_with(|| many.iter().map(|(p, _)| *p).collect());
                    }
                }
                break;
            }
        }
        // Different trims that agree on where the hunk starts are the same placement.
        let mut anchors: Vec<i64> = unique
            .iter()
            .map(|p| p.start as i64 - p.trim_front as i64)
            .collect();
        anchors.sort_unstable();
        anchors.dedup();
        match (anchors.len(), unique.into_iter().next(), ambiguous_at) {
            (1, Some(placement), _) => return Ok(placement),
            (0, _, None) => continue,
            (0, _, Some(starts)) => return Err(ambiguous(starts.into_iter())),
            _ => {
                let starts = anchors
                    .into_iter()
                    .map(|a| usize::try_from(a.max(0)).unwrap_or(0));
                return Err(ambiguous(starts));
            }
        }
    }

    Err(HunkProblem::NotFound {
        closest: closest(file, old, hunk.stated),
    })
}

/// The 1-based first line where `new` (a hunk's result) is in the file, compared as the
/// cascade compares; `None` for an empty `new` (a hunk that adds nothing).
fn already_applied(file: &[&str], new: &[&str]) -> Option<u32> {
    if new.is_empty() {
        return None;
    }
    [
        Compare::Exact,
        Compare::TrailingWhitespace,
        Compare::Indentation,
    ]
    .into_iter()
    .find_map(|compare| {
        find_all(file, new, compare)
            .first()
            .map(|(start, _)| *start)
    })
    .map(|start| to_u32(start + 1))
}

fn fuzzy(kind: &str) -> HunkResult {
    HunkResult::Fuzzy {
        kind: kind.to_string(),
    }
}

fn ambiguous(starts: impl Iterator<Item = usize>) -> HunkProblem {
    let mut lines: Vec<u32> = starts.map(|s| to_u32(s + 1)).collect();
    lines.sort_unstable();
    lines.dedup();
    HunkProblem::Ambiguous { lines }
}

pub(crate) fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn find_all(file: &[&str], old: &[&str], compare: Compare) -> Vec<(usize, IndentShift)> {
    if old.len() > file.len() {
        return Vec::new();
    }
    (0..=file.len() - old.len())
        .filter_map(|start| matches_at(file, start, old, compare).map(|shift| (start, shift)))
        .collect()
}

fn matches_at(file: &[&str], start: usize, old: &[&str], compare: Compare) -> Option<IndentShift> {
    let region = file.get(start..start.checked_add(old.len())?)?;
    match compare {
        Compare::Exact => (region == old).then_some(IndentShift::None),
        Compare::TrailingWhitespace => region
            .iter()
            .zip(old)
            .all(|(f, h)| f.trim_end() == h.trim_end())
            .then_some(IndentShift::None),
        Compare::Indentation => indentation_shift(region, old),
    }
}

fn split_indent(line: &str) -> (&str, &str) {
    let line = line.trim_end();
    let rest = line.trim_start();
    (&line[..line.len() - rest.len()], rest)
}

/// The one indentation difference that turns every non-blank hunk line into the file's
/// line, if there is one; blank lines match blank lines.
fn indentation_shift(region: &[&str], old: &[&str]) -> Option<IndentShift> {
    let mut shift: Option<IndentShift> = None;
    for (f, h) in region.iter().zip(old) {
        let (f_ws, f_rest) = split_indent(f);
        let (h_ws, h_rest) = split_indent(h);
        if f_rest != h_rest {
            return None;
        }
        if f_rest.is_empty() {
            continue;
        }
        let this = if let Some(extra) = f_ws.strip_suffix(h_ws) {
            if extra.is_empty() {
                IndentShift::None
            } else {
                IndentShift::Add(extra.to_string())
            }
        } else if let Some(extra) = h_ws.strip_suffix(f_ws) {
            IndentShift::Remove(extra.to_string())
        } else {
            return None;
        };
        match &shift {
            None => shift = Some(this),
            Some(seen) if *seen == this => {}
            Some(_) => return None,
        }
    }
    shift
}

/// The region where most of the hunk's old lines agree (ignoring surrounding whitespace),
/// nearest to the stated line on a tie; `None` when no line agrees anywhere.
fn closest(file: &[&str], old: &[&str], stated: Option<usize>) -> Option<Closest> {
    let last_start = file.len().saturating_sub(old.len());
    let score = |start: usize| {
        old.iter()
            .enumerate()
            .filter(|(i, h)| file.get(start + i).is_some_and(|f| f.trim() == h.trim()))
            .count()
    };
    let distance = |start: usize| stated.map_or(start, |s| start.abs_diff(s));
    let (best, agreeing) = (0..=last_start)
        .map(|start| (start, score(start)))
        .max_by(|(a, sa), (b, sb)| sa.cmp(sb).then(distance(*b).cmp(&distance(*a))))?;
    if agreeing == 0 {
        return None;
    }
    let difference = old.iter().enumerate().find_map(|(i, expected)| {
        let found = file.get(best + i);
        (found != Some(expected)).then(|| Difference {
            line: to_u32(best + i + 1),
            expected: (*expected).to_string(),
            found: found.map(|f| (*f).to_string()),
        })
    });
    Some(Closest {
        start: to_u32(best + 1),
        end: to_u32((best + old.len()).min(file.len())),
        agreeing: to_u32(agreeing),
        total: to_u32(old.len()),
        difference,
    })
}

fn line_list(lines: &[u32]) -> String {
    const SHOWN: usize = 5;
    let mut shown: Vec<String> = lines.iter().take(SHOWN).map(u32::to_string).collect();
    if lines.len() > SHOWN {
        shown.push("...".to_string());
        return format!("lines {}", shown.join(", "));
    }
    match shown.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("lines {} and {last}", rest.join(", ")),
        _ => format!("line {}", shown.join("")),
    }
}

fn quote(line: &str) -> String {
    const LONGEST: usize = 60;
    let line = line.trim_end();
    if line.chars().count() > LONGEST {
        format!("`{}...`", line.chars().take(LONGEST).collect::<String>())
    } else {
        format!("`{line}`")
    }
}

fn not_found_text(closest: &Option<Closest>) -> String {
    let Some(c) = closest else {
        return "does not match anywhere: none of its lines is in the file".to_string();
    };
    let mut text = format!(
        "does not match anywhere; closest is lines {}-{} ({} of {} lines agree)",
        c.start, c.end, c.agreeing, c.total
    );
    if let Some(d) = &c.difference {
        match &d.found {
            Some(found) => text.push_str(&format!(
                ", where line {} is {} but the hunk expects {}",
                d.line,
                quote(found),
                quote(&d.expected)
            )),
            None => text.push_str(&format!(
                ", where the file ends before line {} but the hunk expects {}",
                d.line,
                quote(&d.expected)
            )),
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape<'a>(
        old: &[&'a str],
        front: usize,
        back: usize,
        stated: Option<usize>,
    ) -> HunkShape<'a> {
        HunkShape {
            old: old.to_vec(),
            new: Vec::new(),
            front,
            back,
            stated,
        }
    }

    const CSS: &[&str] = &[
        ".a {",            // 1
        "  color: red;",   // 2
        "}",               // 3
        ".b {",            // 4
        "  color: green;", // 5
        "}",               // 6
        ".c {",            // 7
        "  color: red;",   // 8
        "}",               // 9
    ];

    #[test]
    fn places_hunk_exactly_at_the_stated_line() {
        let p = place(
            CSS,
            &shape(&[".b {", "  color: green;", "}"], 1, 1, Some(3)),
            0,
        )
        .unwrap();
        assert_eq!((p.start, p.result), (3, HunkResult::Exact));
    }

    #[test]
    fn places_exact_match_at_the_stated_line_even_when_it_repeats_elsewhere() {
        let p = place(CSS, &shape(&["  color: red;", "}"], 0, 1, Some(7)), 0).unwrap();
        assert_eq!((p.start, p.result), (7, HunkResult::Exact));
    }

    #[test]
    fn places_unique_exact_match_elsewhere_as_offset() {
        let p = place(CSS, &shape(&[".b {", "  color: green;"], 1, 0, Some(0)), 0).unwrap();
        assert_eq!((p.start, p.result), (3, HunkResult::Offset { lines: 3 }));
    }

    #[test]
    fn reports_unstated_unique_exact_match_as_exact() {
        let p = place(CSS, &shape(&[".c {", "  color: red;"], 1, 0, None), 0).unwrap();
        assert_eq!((p.start, p.result), (6, HunkResult::Exact));
    }

    #[test]
    fn breaks_a_tie_with_the_previous_hunks_offset() {
        let p = place(CSS, &shape(&["  color: red;", "}"], 0, 1, Some(4)), 3).unwrap();
        assert_eq!((p.start, p.result), (7, HunkResult::Offset { lines: 3 }));
    }

    #[test]
    fn fails_ambiguous_exact_match_naming_every_candidate() {
        let err = place(CSS, &shape(&["  color: red;", "}"], 0, 1, Some(3)), 0).unwrap_err();
        assert_eq!(err, HunkProblem::Ambiguous { lines: vec![2, 8] });
        assert_eq!(
            err.to_string(),
            "matches 2 places (lines 2 and 8); add more context"
        );
    }

    #[test]
    fn matches_ignoring_trailing_whitespace() {
        let file = [".a {", "  color: red;   ", "}\t"];
        let p = place(
            &file,
            &shape(&[".a {", "  color: red;", "}"], 1, 1, Some(0)),
            0,
        )
        .unwrap();
        assert_eq!(
            p.result,
            HunkResult::Fuzzy {
                kind: "whitespace".into()
            }
        );
        assert_eq!(p.start, 0);
    }

    #[test]
    fn matches_a_block_indented_deeper_in_the_file() {
        let file = [
            "@media (x) {",
            "    .a {",
            "      color: red;",
            "    }",
            "}",
        ];
        let p = place(
            &file,
            &shape(&[".a {", "  color: red;", "}"], 1, 1, Some(0)),
            0,
        )
        .unwrap();
        assert_eq!(
            p.result,
            HunkResult::Fuzzy {
                kind: "indentation".into()
            }
        );
        assert_eq!((p.start, p.shift), (1, IndentShift::Add("    ".into())));
    }

    #[test]
    fn matches_a_block_the_hunk_indented_too_deep() {
        let file = [".a {", "  color: red;", "}"];
        let p = place(
            &file,
            &shape(&["\t.a {", "\t  color: red;", "\t}"], 1, 1, None),
            0,
        )
        .unwrap();
        assert_eq!(p.shift, IndentShift::Remove("\t".into()));
    }

    #[test]
    fn refuses_indentation_that_shifts_unevenly() {
        let file = [".a {", "  color: red;", "}"];
        // All three lines are removed, so there is no edge context to drop either.
        let err = place(
            &file,
            &shape(&["  .a {", "      color: red;", "  }"], 0, 0, None),
            0,
        )
        .unwrap_err();
        assert!(matches!(err, HunkProblem::NotFound { .. }), "{err:?}");
    }

    #[test]
    fn drops_an_invented_context_line_at_the_hunk_edge() {
        let hunk = [".b {", "  color: green;", "}", "/* end of .b */"];
        let p = place(CSS, &shape(&hunk, 1, 2, Some(3)), 0).unwrap();
        assert_eq!(
            p.result,
            HunkResult::Fuzzy {
                kind: "edge context".into()
            }
        );
        assert_eq!((p.start, p.trim_front, p.trim_back), (3, 0, 1));
    }

    #[test]
    fn refuses_a_hunk_whose_result_is_already_in_the_file() {
        // `.b` already holds the added line; without `}` the old side would match again.
        let file = [".a {", "}", ".b {", "  color: green;", "  border: 0;", "}"];
        let mut hunk = shape(&[".b {", "  color: green;", "}"], 2, 1, Some(2));
        hunk.new = vec![".b {", "  color: green;", "  border: 0;", "}"];
        assert_eq!(
            place(&file, &hunk, 0),
            Err(HunkProblem::AlreadyApplied { line: 3 })
        );
        // A hunk that only removes lines is never taken for its own result.
        let removal = shape(&[".b {", "  color: green;", "}"], 1, 1, Some(2));
        assert!(place(&file, &removal, 0).is_ok());
    }

    #[test]
    fn never_drops_edge_context_into_an_ambiguous_match() {
        // Without the invented first line, the rest matches at .a and at .c.
        let hunk = [".x {", "  color: red;", "}"];
        let err = place(CSS, &shape(&hunk, 1, 1, None), 0).unwrap_err();
        assert_eq!(err, HunkProblem::Ambiguous { lines: vec![2, 8] });
    }

    #[test]
    fn reports_the_closest_region_when_nothing_matches() {
        let hunk = [".b {", "  color: blue;", "}"];
        let err = place(CSS, &shape(&hunk, 1, 1, Some(3)), 0).unwrap_err();
        let HunkProblem::NotFound { closest: Some(c) } = &err else {
            panic!("{err:?}")
        };
        assert_eq!((c.start, c.end, c.agreeing, c.total), (4, 6, 2, 3));
        assert_eq!(
            err.to_string(),
            "does not match anywhere; closest is lines 4-6 (2 of 3 lines agree), where line 5 is `  color: green;` but the hunk expects `  color: blue;`"
        );
    }

    #[test]
    fn places_pure_insertion_only_by_its_stated_line() {
        let p = place(CSS, &shape(&[], 0, 0, Some(9)), 0).unwrap();
        assert_eq!(p.start, 9);
        assert_eq!(
            place(CSS, &shape(&[], 0, 0, None), 0),
            Err(HunkProblem::Unplaceable)
        );
        assert_eq!(
            place(CSS, &shape(&[], 0, 0, Some(12)), 0),
            Err(HunkProblem::BeyondEnd {
                line: 12,
                file_lines: 9
            })
        );
    }

    #[test]
    fn lists_many_candidates_briefly() {
        assert_eq!(line_list(&[1]), "line 1");
        assert_eq!(line_list(&[1, 2, 3]), "lines 1, 2 and 3");
        assert_eq!(
            line_list(&[1, 2, 3, 4, 5, 6, 7]),
            "lines 1, 2, 3, 4, 5, ..."
        );
    }
}
