//! The sections of the context message, as Markdown a model reads well: headings, lists, and
//! file contents in fences longer than any backtick run inside them. Excerpts are separate
//! fenced runs under "lines A–B" labels, never marker lines inside a fence, so nothing that
//! is not in the file can be copied into a diff's context lines.

use devflow_protocol::{ResolvedToken, Target};

use super::rank::Ranked;
use super::{estimate_tokens, tree, Body, OmittedFile, PageNowNote, PreviousAttempt, ScreenNote};

pub const FILES_HEADER: &str = "\n# Files, most relevant first\n\
Copy context and removed lines exactly from these files.\n";
/// Omitted files listed by name, at most; the rest are counted.
pub const MAX_OMITTED_LISTED: usize = 30;
/// Errors shown, at most, and characters of each.
const MAX_ERRORS: usize = 8;
const MAX_ERROR_CHARS: usize = 1500;

pub fn instruction(text: &str) -> String {
    format!("# Instruction\n{}\n", text.trim())
}

/// The element the person picked, first in the context: its selector and page, which of the
/// alike elements it is, and the rules that style it (file:line) when the daemon resolved them.
pub fn target(target: &Target) -> String {
    let page = target
        .page_file
        .as_deref()
        .or(target.page_url.as_deref())
        .map(|page| format!(" on {page}"))
        .unwrap_or_default();
    let line = target
        .page_line
        .map(|line| format!(" (line {line})"))
        .unwrap_or_default();
    let which = if target.matches > 1 {
        format!(", element {} of {}", target.index, target.matches)
    } else {
        String::new()
    };
    let mut out = format!(
        "# Target: the element the person pointed at\n`{}`{page}{line}{which}. \\
         \"This\" in the instruction means this element: change it (and what styles it), nothing else.\n",
        target.selector
    );
    if !target.rules.is_empty() {
        out.push_str(if target.best_effort {
            "Rules that may style it (found by its names; the page is made by scripts):\n"
        } else {
            "Rules that style it, lowest priority first:\n"
        });
        for rule in &target.rules {
            let shared = if rule.shared_with > 0 {
                format!(" — also styles {} other element(s)", rule.shared_with)
            } else {
                String::new()
            };
            out.push_str(&format!(
                "- {}:{} `{}`{shared}\n",
                rule.file, rule.line, rule.selector
            ));
        }
    }
    out.push('\n');
    out
}

pub fn previous(previous: &PreviousAttempt, share: usize) -> String {
    let mut out = format!(
        "\n# Your previous proposal failed\ndevflow could not use it: {}\nNothing was applied: the files below are unchanged. Write a new proposal that avoids this problem.\n",
        previous.failure.trim()
    );
    if let Some(diff) = &previous.unified_diff {
        let (shown, all) = failed_hunks(diff, &previous.failure);
        let label = if all {
            "The diff you proposed:"
        } else {
            "The part that failed:"
        };
        let mut text = shown;
        if estimate_tokens(&text) > share {
            let keep = share.saturating_mul(4);
            text = text.chars().take(keep).collect::<String>();
            text.push_str("\n(cut)");
        }
        let fence = fence_for(&text);
        out.push_str(&format!(
            "{label}\n{fence}diff\n{}\n{fence}\n",
            text.trim_end()
        ));
    }
    out
}

/// The hunks a failure names ("hunk 2 of css/style.css …"), rendered as a diff; or the
/// whole diff (`true`) when it names none that can be found.
fn failed_hunks(diff: &str, failure: &str) -> (String, bool) {
    let named = named_hunks(failure);
    let Ok(parsed) = devflow_patch::parse(diff) else {
        return (diff.to_string(), true);
    };
    let mut out = String::new();
    for file in &parsed.files {
        let hunks: Vec<(usize, &devflow_patch::Hunk)> = file
            .hunks
            .iter()
            .enumerate()
            .filter(|(index, _)| {
                named
                    .iter()
                    .any(|(n, path)| *n == index + 1 && file.path.ends_with(path.as_str()))
            })
            .collect();
        if hunks.is_empty() {
            continue;
        }
        out.push_str(&format!("--- a/{0}\n+++ b/{0}\n", file.path));
        for (_, hunk) in hunks {
            out.push_str(&render_hunk(hunk));
        }
    }
    if out.is_empty() {
        (diff.to_string(), true)
    } else {
        (out, false)
    }
}

/// `(hunk number, path)` pairs a failure summary names.
fn named_hunks(failure: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let words: Vec<&str> = failure.split_whitespace().collect();
    for window in words.windows(4) {
        if window[0] == "hunk" && window[2] == "of" {
            if let Ok(number) = window[1].parse::<usize>() {
                let path = window[3].trim_end_matches([',', ':', ';', '.', ')']);
                out.push((number, path.to_string()));
            }
        }
    }
    out
}

fn render_hunk(hunk: &devflow_patch::Hunk) -> String {
    use devflow_patch::HunkLine;
    let old = hunk.old_lines().len();
    let new = hunk.new_lines().len();
    let mut out = match hunk.old_start {
        Some(start) => format!("@@ -{start},{old} +{start},{new} @@\n"),
        None => "@@ @@\n".to_string(),
    };
    for line in &hunk.lines {
        let (marker, text) = match line {
            HunkLine::Context(t) => (' ', t),
            HunkLine::Remove(t) => ('-', t),
            HunkLine::Add(t) => ('+', t),
        };
        out.push(marker);
        out.push_str(text);
        out.push('\n');
    }
    out
}

/// The tokens section and how many tokens were not listed for the share.
pub fn tokens(tokens: &[ResolvedToken], share: usize) -> (Option<String>, usize) {
    if tokens.is_empty() {
        return (None, 0);
    }
    let mut out = String::from(
        "\n# Reference design tokens (FrontSwatch)\nThe ideal design. Use these values, or the site's CSS custom properties that hold them, rather than new ones.\n",
    );
    let mut shown = 0;
    for token in tokens {
        let alias = token
            .alias_of
            .as_deref()
            .map(|a| format!("; alias of {a}"))
            .unwrap_or_default();
        let description = token
            .description
            .as_deref()
            .map(|d| format!(" — {}", d.trim()))
            .unwrap_or_default();
        let line = format!(
            "- {} = {} ({}{alias}){description}\n",
            token.path, token.value, token.token_type
        );
        if estimate_tokens(&out) + estimate_tokens(&line) > share {
            break;
        }
        out.push_str(&line);
        shown += 1;
    }
    let omitted = tokens.len() - shown;
    if omitted > 0 {
        out.push_str(&format!("- … and {omitted} more tokens\n"));
    }
    (Some(out), omitted)
}

/// The page now (its screenshot, when attached) and the reference screens, each attached
/// picture named by its position among the message's images.
pub fn pictures(
    page_now: Option<&PageNowNote>,
    screens: &[ScreenNote],
    share: usize,
) -> Option<String> {
    let mut out = String::new();
    if let Some(page) = page_now {
        out.push_str(&format!(
            "\n# The page now\nImage {}: a screenshot of the page {} as it renders now, before your change ({} viewport, {}×{}).\n",
            page.image, page.path, page.viewport, page.width, page.height
        ));
    }
    if screens.is_empty() {
        return (!out.is_empty()).then_some(out);
    }
    out.push_str("\n# Reference screens (the ideal design of each page)\n");
    let mut html_parts = String::new();
    for screen in screens {
        let how = if let Some(image) = screen.image {
            format!("image {image}")
        } else if let Some(html) = &screen.html {
            let fence = fence_for(html);
            let part = format!(
                "\n## Reference screen {}\n{fence}html\n{}\n{fence}\n",
                screen.name,
                html.trim_end()
            );
            if estimate_tokens(&html_parts) + estimate_tokens(&part) <= share {
                html_parts.push_str(&part);
                "HTML, shown below".to_string()
            } else {
                "HTML, too long to show".to_string()
            }
        } else {
            "not attached".to_string()
        };
        out.push_str(&format!(
            "- {} ({}): {how}\n",
            screen.name, screen.media_type
        ));
    }
    out.push_str(&html_parts);
    Some(out)
}

pub fn errors(errors: &[String]) -> Option<String> {
    let errors: Vec<&String> = errors.iter().filter(|e| !e.trim().is_empty()).collect();
    if errors.is_empty() {
        return None;
    }
    let mut out =
        String::from("\n# Recent errors (dev server, build, browser console, earlier failures)\n");
    for error in errors.iter().rev().take(MAX_ERRORS).rev() {
        let text: String = error.trim().chars().take(MAX_ERROR_CHARS).collect();
        out.push_str(&format!("- {}\n", text.replace('\n', "\n  ")));
    }
    Some(out)
}

/// The file tree within its share, and how many entries were not listed.
pub fn tree(listed: &[&String], share: usize) -> (String, usize) {
    let mut out = format!(
        "\n# Files in the workspace ({} files; dependencies, build output and lockfiles left out)\n",
        listed.len()
    );
    let mut shown = 0;
    for path in listed {
        let line = format!("{path}\n");
        if estimate_tokens(&out) + estimate_tokens(&line) + 10 > share {
            break;
        }
        out.push_str(&line);
        shown += 1;
    }
    let omitted = listed.len() - shown;
    if omitted > 0 {
        out.push_str(&format!("… and {omitted} more\n"));
    }
    (out, omitted)
}

/// One file's section.
pub fn file(item: &Ranked, body: &Body) -> String {
    let lang = language(&item.path);
    let why = if item.reasons.is_empty() {
        String::new()
    } else {
        format!(" — {}", item.reasons.join("; "))
    };
    match body {
        Body::Whole(text) => {
            let fence = fence_for(text);
            let lines = text.lines().count();
            format!(
                "\n## {} (whole file, {lines} lines){why}\n{fence}{lang}\n{}\n{fence}\n",
                item.path,
                text.trim_end_matches('\n')
            )
        }
        Body::Excerpt { total_lines, runs } => {
            let mut out = format!(
                "\n## {} (excerpts: {} of its {total_lines} lines; the rest is not shown){why}\n",
                item.path,
                runs.iter().map(|(_, t)| t.lines().count()).sum::<usize>()
            );
            for (start, text) in runs {
                let end = start + text.lines().count().max(1) - 1;
                let fence = fence_for(text);
                out.push_str(&format!(
                    "Lines {start}–{end}:\n{fence}{lang}\n{}\n{fence}\n",
                    text.trim_end_matches('\n')
                ));
            }
            out
        }
    }
}

/// The most relevant runs of a file within `allowance` tokens, or `None` when not even the
/// first run fits.
pub fn excerpt(item: &Ranked, text: &str, allowance: usize) -> Option<(Body, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let total_lines = lines.len();
    if total_lines == 0 {
        return None;
    }
    let mut chosen = vec![false; total_lines + 2];
    let mut any = false;
    let mut best: Option<(Body, String)> = None;
    for focus in &item.focus {
        // A line of context on each side helps a hunk find its place.
        let start = focus.start.saturating_sub(1).max(1);
        let end = (focus.end + 1).min(total_lines);
        if start > end {
            continue;
        }
        let mut trial = chosen.clone();
        for flag in trial.iter_mut().take(end + 1).skip(start) {
            *flag = true;
        }
        let body = runs_of(&lines, &trial, total_lines);
        let rendered = file(item, &body);
        if estimate_tokens(&rendered) <= allowance {
            chosen = trial;
            any = true;
            best = Some((body, rendered));
        }
    }
    if any {
        best
    } else {
        None
    }
}

fn runs_of(lines: &[&str], chosen: &[bool], total_lines: usize) -> Body {
    let mut runs: Vec<(usize, String)> = Vec::new();
    let mut line = 1;
    while line <= total_lines {
        if chosen[line] {
            let start = line;
            let mut text = String::new();
            while line <= total_lines && chosen[line] {
                text.push_str(lines[line - 1]);
                text.push('\n');
                line += 1;
            }
            runs.push((start, text));
        } else {
            line += 1;
        }
    }
    Body::Excerpt { total_lines, runs }
}

/// The closing part: what was left out, and how to answer.
pub fn tail(omitted: &[OmittedFile], budget: usize) -> String {
    let mut out = String::new();
    if !omitted.is_empty() {
        out.push_str(&omitted_header(budget));
        for file in omitted.iter().filter(|f| f.listed) {
            out.push_str(&omitted_line(&file.path, file.tokens));
        }
        let unlisted = omitted.iter().filter(|f| !f.listed).count();
        if unlisted > 0 {
            out.push_str(&format!("- … and {unlisted} more\n"));
        }
    }
    out.push_str(&format!(
        "\n# Your answer\nCall `{}` once: a unified diff against the files above, the files it edits, the reason in the instruction's language, and your confidence.\n",
        crate::schema::TOOL_NAME
    ));
    out
}

fn omitted_header(budget: usize) -> String {
    format!(
        "\n# Not shown (to stay within {budget} tokens)\nThese files exist but are not shown; edit them only if you must, with context lines you are sure of.\n"
    )
}

/// Tokens to keep for the "not shown" header and its "… and N more" line.
pub fn omitted_reserve(budget: usize) -> usize {
    estimate_tokens(&omitted_header(budget)) + 8
}

fn omitted_line(path: &str, tokens: usize) -> String {
    format!("- {path} (~{tokens} tokens)\n")
}

/// Tokens one omitted file's line adds to the tail.
pub fn omitted_line_tokens(path: &str, tokens: usize) -> usize {
    estimate_tokens(&omitted_line(path, tokens))
}

/// A fence longer than any run of backticks in `text`.
pub fn fence_for(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

fn language(path: &str) -> &'static str {
    match tree::extension(path).as_str() {
        "css" | "pcss" | "postcss" => "css",
        "scss" => "scss",
        "sass" => "sass",
        "less" => "less",
        "html" | "htm" => "html",
        "js" | "mjs" | "cjs" => "js",
        "jsx" => "jsx",
        "ts" | "mts" | "cts" => "ts",
        "tsx" => "tsx",
        "vue" => "vue",
        "svelte" => "svelte",
        "json" | "webmanifest" => "json",
        "md" | "mdx" => "markdown",
        "yml" | "yaml" => "yaml",
        "toml" => "toml",
        "xml" => "xml",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_outgrow_backticks_in_the_content() {
        assert_eq!(fence_for("plain"), "```");
        assert_eq!(fence_for("a ```` b"), "`````");
    }

    #[test]
    fn names_the_hunks_a_failure_summary_mentions() {
        assert_eq!(
            named_hunks("hunk 2 of css/style.css matches 2 places (lines 40 and 112); hunk 1 of index.html: no match"),
            [(2, "css/style.css".to_string()), (1, "index.html".to_string())]
        );
    }

    #[test]
    fn shows_only_the_failed_hunk_of_the_previous_diff() {
        let diff = "--- a/a.css\n+++ b/a.css\n@@ -1,3 +1,3 @@\n a {\n-  color: red;\n+  color: blue;\n }\n@@ -9,3 +9,3 @@\n b {\n-  color: red;\n+  color: green;\n }\n";
        let (shown, all) = failed_hunks(
            diff,
            "hunk 2 of a.css does not match: the file has no `b {` near line 9",
        );
        assert!(!all);
        assert_eq!(
            shown,
            "--- a/a.css\n+++ b/a.css\n@@ -9,3 +9,3 @@\n b {\n-  color: red;\n+  color: green;\n }\n"
        );
        let (whole, all) = failed_hunks(diff, "the page broke after the patch");
        assert!(all);
        assert_eq!(whole, diff);
    }
}
