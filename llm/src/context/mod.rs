//! The context builder: everything a model is told about one instruction, as one message cut
//! to a token budget. Pure: the caller hands it the file list and the contents of the files
//! worth reading ([`reading_order`] says which), the reference tokens, recent errors and, on
//! the re-inference, the failed proposal and why it failed; it returns a [`Context`] that
//! renders to the message and reports what was cut.
//!
//! Order of the message: instruction, pointed-at element, previous failure, tokens, the page
//! now and the reference screens (which image is which: [`crate::pictures`]), recent errors,
//! file tree, then files by rank (whole, or excerpts around the rules and tags that matter
//! when a file is too large), then what was left out.

mod css;
mod rank;
mod render;
mod signals;
pub mod tree;

use devflow_protocol::{ResolvedToken, Target};

pub use rank::{Focus, Ranked};
pub use signals::Signals;

/// Tokens of the user message when nobody says otherwise: room for a few stylesheets and
/// pages while a Nova Micro/Lite call stays fast and cheap.
pub const DEFAULT_BUDGET_TOKENS: usize = 24_000;

/// Files read for ranking, at most; the best candidates by path come first.
pub const MAX_READ_FILES: usize = 400;
/// A file larger than this is not read (minified bundles, data dumps).
pub const MAX_READ_BYTES: u64 = 1024 * 1024;

/// A readable workspace file and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: String,
    pub text: String,
}

/// A reference screen as the model will get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenNote {
    pub name: String,
    pub media_type: String,
    /// Its position (1-based) among the images sent with this message; `None` when not sent.
    pub image: Option<usize>,
    /// The page's HTML, for HTML screens.
    pub html: Option<String>,
}

/// The screenshot of the page as it renders now, sent as an image with this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageNowNote {
    /// The page's path on the preview (`/`).
    pub path: String,
    /// The viewport's name (`desktop`).
    pub viewport: String,
    pub width: u32,
    pub height: u32,
    /// Its position (1-based) among the images sent with this message.
    pub image: usize,
}

/// What went wrong with the previous proposal (the one re-inference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousAttempt {
    /// The pipeline's summary ("hunk 2 of css/style.css matches 2 places …") or the reason
    /// the answer was unusable.
    pub failure: String,
    /// The diff that failed, when there was one.
    pub unified_diff: Option<String>,
}

/// Everything the builder needs; no IO behind any of it.
#[derive(Debug, Clone, Copy)]
pub struct ContextInput<'a> {
    pub instruction: &'a str,
    pub target: Option<&'a Target>,
    /// Every workspace file (relative, `/`-separated), as listed.
    pub files: &'a [String],
    /// The contents of the files the caller read (see [`reading_order`]).
    pub sources: &'a [SourceFile],
    pub tokens: &'a [ResolvedToken],
    pub recent_errors: &'a [String],
    /// Files recent commands edited.
    pub recent_files: &'a [String],
    pub screens: &'a [ScreenNote],
    /// The page as it renders now, when its screenshot goes with the message.
    pub page_now: Option<&'a PageNowNote>,
    pub previous: Option<&'a PreviousAttempt>,
    /// Tokens the rendered message may use.
    pub budget: usize,
}

/// A file as the message shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncludedFile {
    pub path: String,
    pub points: u32,
    pub reasons: Vec<String>,
    pub body: Body,
    /// Estimated tokens of its part of the message.
    pub tokens: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Whole(String),
    /// Runs of lines (1-based first line, text); the rest of the file is not shown.
    Excerpt {
        total_lines: usize,
        runs: Vec<(usize, String)>,
    },
}

/// A file left out to stay within the budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OmittedFile {
    pub path: String,
    pub points: u32,
    /// Its estimated size, whole.
    pub tokens: usize,
    /// Named in the message's "not shown" list (else only counted).
    pub listed: bool,
}

/// The built context: render it with [`Context::render`]; [`Context::summary`] says what was
/// included and what was cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub budget: usize,
    /// Estimated tokens of the rendered message.
    pub used: usize,
    pub files: Vec<IncludedFile>,
    pub omitted: Vec<OmittedFile>,
    /// Tree entries (and tokens) not listed for the budget.
    pub tree_omitted: usize,
    pub tokens_omitted: usize,
    /// The fixed sections alone exceed the budget (a very long instruction or error).
    pub over_budget: bool,
    sections: Vec<String>,
    file_sections: Vec<String>,
    tail: String,
}

/// Roughly the tokens a text costs: a quarter token per ASCII character, one per other
/// character (CJK text is close to a token a character). Deterministic and a little high,
/// which is the safe side for a budget.
pub fn estimate_tokens(text: &str) -> usize {
    let (mut ascii, mut other) = (0usize, 0usize);
    for c in text.chars() {
        if c.is_ascii() {
            ascii += 1;
        } else {
            other += 1;
        }
    }
    ascii.div_ceil(4) + other
}

/// Which of `files` to read for [`build`], most promising first (named ones, stylesheets and
/// markup, then other text), at most [`MAX_READ_FILES`]. Binary files, dependency folders,
/// build output and lockfiles are never read.
pub fn reading_order(files: &[String], instruction: &str, recent_errors: &[String]) -> Vec<String> {
    let signals = Signals::read(instruction, None);
    let mut candidates: Vec<(u32, &String)> = files
        .iter()
        .filter(|f| tree::is_readable(f))
        .map(|f| {
            let lower = f.to_ascii_lowercase();
            let name = tree::file_name(&lower);
            let mut points = 0;
            if signals
                .paths
                .iter()
                .any(|p| lower.ends_with(p.as_str()) || name == p)
            {
                points += 100;
            }
            if recent_errors.iter().any(|e| e.contains(f.as_str())) {
                points += 50;
            }
            if tree::is_stylesheet(f) {
                points += 20;
            } else if tree::is_markup(f) {
                points += 10;
            }
            // Shallow files are the site's own more often than deep ones.
            points += 5u32.saturating_sub(f.matches('/').count() as u32);
            (points, f)
        })
        .collect();
    candidates.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    candidates
        .into_iter()
        .take(MAX_READ_FILES)
        .map(|(_, f)| f.clone())
        .collect()
}

/// Builds the context for one instruction within `input.budget` tokens.
pub fn build(input: &ContextInput<'_>) -> Context {
    let signals = Signals::read(input.instruction, input.target.map(|t| t.selector.as_str()));
    let listed: Vec<&String> = input.files.iter().filter(|f| tree::is_listed(f)).collect();
    let readable: Vec<SourceFile> = input
        .sources
        .iter()
        .filter(|s| tree::is_readable(&s.path))
        .cloned()
        .collect();
    let ranked = rank::rank(&signals, &readable, input.recent_errors, input.recent_files);
    let budget = input.budget;

    // Fixed sections first; the tree and the token list shrink to their shares.
    // The picked element goes first: the instruction's "this" refers to it.
    let mut sections = Vec::new();
    if let Some(target) = input.target {
        sections.push(render::target(target));
    }
    sections.push(render::instruction(input.instruction));
    if let Some(previous) = input.previous {
        sections.push(render::previous(previous, budget / 6));
    }
    let (tokens_section, tokens_omitted) = render::tokens(input.tokens, budget / 6);
    sections.extend(tokens_section);
    sections.extend(render::pictures(input.page_now, input.screens, budget / 10));
    sections.extend(render::errors(input.recent_errors));
    let (tree_section, tree_omitted) = render::tree(&listed, budget / 8);
    sections.push(tree_section);
    let tail_for = |omitted: &[OmittedFile]| render::tail(omitted, budget);

    let fixed: usize = sections.iter().map(|s| estimate_tokens(s)).sum();
    let mut files = Vec::new();
    let mut file_sections = Vec::new();
    let mut omitted = Vec::new();
    // The tail grows with each omitted file that is named; its header is reserved up front.
    let reserved = fixed
        + estimate_tokens(&tail_for(&[]))
        + estimate_tokens(render::FILES_HEADER)
        + render::omitted_reserve(budget);
    let over_budget = reserved > budget;
    let mut remaining = budget.saturating_sub(reserved);
    let per_file_cap = remaining / 2;
    for item in &ranked {
        let Some(source) = readable.iter().find(|s| s.path == item.path) else {
            continue;
        };
        let whole_tokens = estimate_tokens(&source.text);
        let omitted_line = render::omitted_line_tokens(&item.path, whole_tokens);
        let whole = render::file(item, &Body::Whole(source.text.clone()));
        let whole_cost = estimate_tokens(&whole);
        let fits_whole = whole_cost <= remaining;
        let excerpt_worthwhile = item.points > 0 && !item.focus.is_empty();
        let chosen =
            if !over_budget && fits_whole && (whole_cost <= per_file_cap || !excerpt_worthwhile) {
                Some((Body::Whole(source.text.clone()), whole, whole_cost))
            } else if !over_budget && excerpt_worthwhile {
                let allowance = per_file_cap.min(remaining);
                render::excerpt(item, &source.text, allowance).map(|(body, text)| {
                    let cost = estimate_tokens(&text);
                    (body, text, cost)
                })
            } else {
                None
            };
        match chosen {
            Some((body, text, cost)) if cost <= remaining => {
                remaining -= cost;
                files.push(IncludedFile {
                    path: item.path.clone(),
                    points: item.points,
                    reasons: item.reasons.clone(),
                    body,
                    tokens: cost,
                });
                file_sections.push(text);
            }
            _ => {
                // The first omitted files are named while they fit; the rest are counted.
                let listed = omitted.iter().filter(|f: &&OmittedFile| f.listed).count()
                    < render::MAX_OMITTED_LISTED
                    && omitted_line <= remaining;
                if listed {
                    remaining -= omitted_line;
                }
                omitted.push(OmittedFile {
                    path: item.path.clone(),
                    points: item.points,
                    tokens: whole_tokens,
                    listed,
                });
            }
        }
    }
    let tail = tail_for(&omitted);
    let mut context = Context {
        budget,
        used: 0,
        files,
        omitted,
        tree_omitted,
        tokens_omitted,
        over_budget,
        sections,
        file_sections,
        tail,
    };
    context.used = estimate_tokens(&context.render());
    context
}

impl Context {
    /// The user message.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for section in &self.sections {
            out.push_str(section);
        }
        if !self.file_sections.is_empty() {
            out.push_str(render::FILES_HEADER);
            for section in &self.file_sections {
                out.push_str(section);
            }
        }
        out.push_str(&self.tail);
        out
    }

    /// One paragraph for logs and tests: the files shown (whole or excerpt), the tokens used
    /// of the budget, and what was cut.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "context: ~{} of {} tokens{}\n",
            self.used,
            self.budget,
            if self.over_budget {
                " (over budget: the instruction, errors and failure alone exceed it)"
            } else {
                ""
            }
        );
        for file in &self.files {
            let shown = match &file.body {
                Body::Whole(_) => "whole".to_string(),
                Body::Excerpt { total_lines, runs } => {
                    let ranges: Vec<String> = runs
                        .iter()
                        .map(|(start, text)| {
                            format!("{start}-{}", start + text.lines().count().max(1) - 1)
                        })
                        .collect();
                    format!("excerpt {} of {total_lines}", ranges.join(","))
                }
            };
            let why = if file.reasons.is_empty() {
                String::new()
            } else {
                format!(" {}", file.reasons.join("; "))
            };
            out.push_str(&format!(
                "  + {} [{} pts, {shown}, ~{} tokens]{why}\n",
                file.path, file.points, file.tokens
            ));
        }
        for file in &self.omitted {
            out.push_str(&format!(
                "  - {} [{} pts, ~{} tokens] left out for the budget\n",
                file.path, file.points, file.tokens
            ));
        }
        if self.tree_omitted > 0 {
            out.push_str(&format!(
                "  tree: {} entries not listed\n",
                self.tree_omitted
            ));
        }
        if self.tokens_omitted > 0 {
            out.push_str(&format!("  tokens: {} not listed\n", self.tokens_omitted));
        }
        out
    }

    /// The paths shown, in order.
    pub fn included_paths(&self) -> Vec<&str> {
        self.files.iter().map(|f| f.path.as_str()).collect()
    }
}

#[cfg(test)]
mod tests;
