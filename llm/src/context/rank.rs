//! Ranking the workspace's readable files by how much they matter to one instruction, in
//! whole points so that the order is deterministic: named in the instruction or in a recent
//! error, styling the element a person pointed at, holding the rules and tags the
//! instruction's words select, mentioning its identifiers, edited recently; then small priors
//! (stylesheets, the entry page). Each point comes with a reason a person can read, and each
//! hit with the lines it is on, so a file too large to show whole can be shown in excerpts.

use super::css::{self, Part};
use super::signals::Signals;
use super::tree;
use super::SourceFile;

/// A file's rank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranked {
    pub path: String,
    pub points: u32,
    pub reasons: Vec<String>,
    /// Lines worth showing when the file must be cut, most relevant first.
    pub focus: Vec<Focus>,
}

/// A run of lines (1-based, inclusive) and how much it matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Focus {
    pub start: usize,
    pub end: usize,
    pub weight: u32,
}

const NAMED_PATH: u32 = 50;
const IN_RECENT_ERROR: u32 = 25;
const RECENTLY_EDITED: u32 = 6;
const TARGET_RULE: u32 = 12;
const TARGET_RULES_MAX: u32 = 60;
const TARGET_MARKUP: u32 = 8;
const NAMED_RULE: u32 = 10;
const NAMED_RULES_MAX: u32 = 50;
const WORD_RULE: u32 = 6;
const WORD_RULES_MAX: u32 = 30;
const VOCABULARY_RULE: u32 = 3;
const VOCABULARY_RULE_WITH_PROPERTY: u32 = 5;
const VOCABULARY_RULES_MAX: u32 = 30;
const PROPERTY_RULE: u32 = 1;
const PROPERTY_RULES_MAX: u32 = 10;
const VOCABULARY_MARKUP_MAX: u32 = 8;
const WORD: u32 = 2;
const WORDS_MAX: u32 = 12;
const CUSTOM_PROPERTIES: u32 = 4;
const STYLESHEET: u32 = 2;
const ENTRY_PAGE: u32 = 2;
const MARKUP: u32 = 1;

/// Ranks `sources`, best first (ties by path).
pub fn rank(
    signals: &Signals,
    sources: &[SourceFile],
    recent_errors: &[String],
    recent_files: &[String],
) -> Vec<Ranked> {
    let mut ranked: Vec<Ranked> = sources
        .iter()
        .map(|source| rank_file(signals, source, recent_errors, recent_files))
        .collect();
    ranked.sort_by(|a, b| b.points.cmp(&a.points).then_with(|| a.path.cmp(&b.path)));
    ranked
}

fn rank_file(
    signals: &Signals,
    source: &SourceFile,
    recent_errors: &[String],
    recent_files: &[String],
) -> Ranked {
    let path = source.path.as_str();
    let mut r = Ranked {
        path: path.to_string(),
        points: 0,
        reasons: Vec::new(),
        focus: Vec::new(),
    };
    let lower_path = path.to_ascii_lowercase();
    let name = tree::file_name(&lower_path);
    if signals.paths.iter().any(|p| {
        lower_path == *p
            || lower_path.ends_with(&format!("/{p}"))
            || (!p.contains('/') && name == p)
    }) {
        r.add(NAMED_PATH, "named in the instruction".into());
    }
    if recent_errors.iter().any(|error| {
        error.contains(path) || (name.len() >= 5 && name.contains('.') && error.contains(name))
    }) {
        r.add(IN_RECENT_ERROR, "named in a recent error".into());
    }
    if recent_files.iter().any(|f| f == path) {
        r.add(RECENTLY_EDITED, "edited by a recent command".into());
    }
    if tree::is_stylesheet(path) {
        rank_stylesheet(signals, source, &mut r);
    } else if tree::is_markup(path) {
        rank_markup(signals, source, &mut r);
    }
    rank_words(signals, source, &mut r);
    r.focus
        .sort_by(|a, b| b.weight.cmp(&a.weight).then(a.start.cmp(&b.start)));
    r
}

impl Ranked {
    fn add(&mut self, points: u32, reason: String) {
        if points > 0 {
            self.points += points;
            self.reasons.push(reason);
        }
    }
}

/// The parts of a target that identify it: its classes and ids, or its elements when it
/// has neither.
fn key_parts(parts: &[Part]) -> Vec<&Part> {
    let named: Vec<&Part> = parts
        .iter()
        .filter(|p| !matches!(p, Part::Element(_)))
        .collect();
    if named.is_empty() {
        parts.iter().collect()
    } else {
        named
    }
}

fn rank_stylesheet(signals: &Signals, source: &SourceFile, r: &mut Ranked) {
    let ext = tree::extension(&source.path);
    let rules = css::rules(
        &source.text,
        matches!(ext.as_str(), "scss" | "less" | "sass"),
    );
    let target_keys: Vec<&Part> = signals
        .target
        .as_ref()
        .map(|(_, parts)| key_parts(parts))
        .unwrap_or_default();
    let selects_by_words = !signals.named_parts.is_empty()
        || !signals.vocabulary_parts.is_empty()
        || !target_keys.is_empty();
    let (mut target_rules, mut named_rules, mut vocabulary_rules, mut property_rules) =
        (0u32, 0u32, 0u32, 0u32);
    let mut word_rules = 0u32;
    let mut word_hits: Vec<String> = Vec::new();
    let (mut vocabulary_points, mut property_points) = (0u32, 0u32);
    let mut vocabulary_hits: Vec<String> = Vec::new();
    let mut property_hits: Vec<String> = Vec::new();
    let mut defines_custom_properties = false;
    for rule in &rules {
        let parts = css::selector_parts(&rule.selector);
        let declares = |property: &String| rule.properties.iter().any(|p| p == property);
        let focus = |weight| Focus {
            start: rule.start_line,
            end: rule.end_line,
            weight,
        };
        if rule.properties.iter().any(|p| p.starts_with("--")) {
            defines_custom_properties = true;
            if signals.wants_tokens {
                r.focus.push(focus(2));
            }
        }
        if target_keys
            .iter()
            .any(|k| parts.iter().any(|p| k.selects(p)))
        {
            target_rules += 1;
            r.focus.push(focus(TARGET_RULE));
        }
        if signals
            .named_parts
            .iter()
            .any(|k| parts.iter().any(|p| k.selects(p)))
        {
            named_rules += 1;
            r.focus.push(focus(NAMED_RULE));
        }
        // An instruction word that names a class or id ("the counter") selects its rules.
        let named_by_words: Vec<&String> = signals
            .words
            .iter()
            .filter(|word| {
                parts.iter().any(|p| match p {
                    Part::Class(name) | Part::Id(name) => css::named_like(name, word),
                    Part::Element(_) => false,
                })
            })
            .collect();
        if !named_by_words.is_empty() {
            word_rules += 1;
            r.focus.push(focus(WORD_RULE));
            for word in named_by_words {
                if !word_hits.contains(word) {
                    word_hits.push(word.clone());
                }
            }
        }
        let vocabulary: Vec<&(Part, String)> = signals
            .vocabulary_parts
            .iter()
            .filter(|(k, _)| parts.iter().any(|p| k.selects(p)))
            .collect();
        if !vocabulary.is_empty() {
            vocabulary_rules += 1;
            let with_property = signals.properties.iter().any(declares);
            let weight = if with_property {
                VOCABULARY_RULE_WITH_PROPERTY
            } else {
                VOCABULARY_RULE
            };
            vocabulary_points += weight;
            r.focus.push(focus(weight));
            for (part, _) in vocabulary {
                let shown = part.to_string();
                if !vocabulary_hits.contains(&shown) {
                    vocabulary_hits.push(shown);
                }
            }
        } else if !selects_by_words {
            let declared: Vec<&String> =
                signals.properties.iter().filter(|p| declares(p)).collect();
            if !declared.is_empty() {
                property_rules += 1;
                property_points += PROPERTY_RULE;
                r.focus.push(focus(PROPERTY_RULE));
                for property in declared {
                    if !property_hits.contains(property) {
                        property_hits.push(property.clone());
                    }
                }
            }
        }
    }
    if let Some((selector, _)) = &signals.target {
        r.add(
            (target_rules * TARGET_RULE).min(TARGET_RULES_MAX),
            format!(
                "styles the target `{selector}` ({})",
                count(target_rules, "rule")
            ),
        );
    }
    if named_rules > 0 {
        let named: Vec<String> = signals.named_parts.iter().map(Part::to_string).collect();
        r.add(
            (named_rules * NAMED_RULE).min(NAMED_RULES_MAX),
            format!(
                "styles {} ({})",
                named.join(", "),
                count(named_rules, "rule")
            ),
        );
    }
    if word_rules > 0 {
        let words: Vec<String> = word_hits.iter().map(|w| format!("`{w}`")).collect();
        r.add(
            (word_rules * WORD_RULE).min(WORD_RULES_MAX),
            format!(
                "has rules named like {} ({})",
                words.join(", "),
                count(word_rules, "rule")
            ),
        );
    }
    r.add(
        vocabulary_points.min(VOCABULARY_RULES_MAX),
        format!(
            "selects {} ({})",
            vocabulary_hits.join(", "),
            count(vocabulary_rules, "rule")
        ),
    );
    r.add(
        property_points.min(PROPERTY_RULES_MAX),
        format!(
            "declares {} ({})",
            property_hits.join(", "),
            count(property_rules, "rule")
        ),
    );
    if signals.wants_tokens && defines_custom_properties {
        r.add(CUSTOM_PROPERTIES, "defines CSS custom properties".into());
    }
    r.add(STYLESHEET, "stylesheet".into());
}

fn rank_markup(signals: &Signals, source: &SourceFile, r: &mut Ranked) {
    let parts = css::markup_parts(&source.text);
    if let Some((selector, target)) = &signals.target {
        let keys = key_parts(target);
        let lines: Vec<usize> = parts
            .iter()
            .filter(|(p, _)| keys.iter().any(|k| k.selects(p)))
            .map(|(_, line)| *line)
            .collect();
        if !lines.is_empty() {
            r.add(TARGET_MARKUP, format!("contains the target `{selector}`"));
            push_lines(&mut r.focus, &lines, TARGET_MARKUP);
        }
    }
    let named_lines: Vec<usize> = parts
        .iter()
        .filter(|(p, _)| signals.named_parts.iter().any(|k| k.selects(p)))
        .map(|(_, line)| *line)
        .collect();
    if !named_lines.is_empty() {
        let named: Vec<String> = signals.named_parts.iter().map(Part::to_string).collect();
        r.add(NAMED_RULE, format!("uses {}", named.join(", ")));
        push_lines(&mut r.focus, &named_lines, NAMED_RULE);
    }
    let mut hits: Vec<String> = Vec::new();
    let mut places = 0u32;
    let mut lines = Vec::new();
    for (part, line) in &parts {
        if let Some((key, _)) = signals
            .vocabulary_parts
            .iter()
            .find(|(k, _)| k.selects(part))
        {
            places += 1;
            lines.push(*line);
            let shown = match key {
                Part::Element(name) => format!("<{name}>"),
                other => other.to_string(),
            };
            if !hits.contains(&shown) {
                hits.push(shown);
            }
        }
    }
    if places > 0 {
        r.add(
            places.min(VOCABULARY_MARKUP_MAX),
            format!("has {} ({})", hits.join(", "), count(places, "place")),
        );
        push_lines(&mut r.focus, &lines, 1);
    }
    let lower = source.path.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "index.html" | "public/index.html" | "src/index.html" | "app/index.html"
    ) {
        r.add(ENTRY_PAGE, "entry page".into());
    } else {
        r.add(MARKUP, "markup".into());
    }
}

fn rank_words(signals: &Signals, source: &SourceFile, r: &mut Ranked) {
    if signals.words.is_empty() {
        return;
    }
    let lower = source.text.to_ascii_lowercase();
    let mut found = Vec::new();
    let mut lines = Vec::new();
    for word in &signals.words {
        let mut hit = false;
        for (index, line) in lower.lines().enumerate() {
            if contains_word(line, word) {
                hit = true;
                if lines.len() < 40 {
                    lines.push(index + 1);
                }
            }
        }
        if hit {
            found.push(format!("`{word}`"));
        }
    }
    if !found.is_empty() {
        r.add(
            (found.len() as u32 * WORD).min(WORDS_MAX),
            format!("mentions {}", found.join(", ")),
        );
        push_lines(&mut r.focus, &lines, WORD);
    }
}

/// `word` occurs in `text` not as part of a longer identifier.
fn contains_word(text: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut from = 0;
    while let Some(found) = text[from..].find(word) {
        let at = from + found;
        let end = at + word.len();
        let before = text[..at].chars().next_back();
        let after = text[end..].chars().next();
        if !before.is_some_and(is_ident) && !after.is_some_and(is_ident) {
            return true;
        }
        from = at + word.len().max(1);
    }
    false
}

/// A few lines around each hit.
fn push_lines(focus: &mut Vec<Focus>, lines: &[usize], weight: u32) {
    for line in lines {
        focus.push(Focus {
            start: line.saturating_sub(2).max(1),
            end: line + 2,
            weight,
        });
    }
}

fn count(n: u32, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(path: &str, text: &str) -> SourceFile {
        SourceFile {
            path: path.into(),
            text: text.into(),
        }
    }

    #[test]
    fn the_stylesheet_with_the_selected_rules_ranks_first() {
        let sources = [
            source("js/app.js", "console.log('hi')\n"),
            source("css/a.css", "p { color: red }\n"),
            source(
                "css/b.css",
                "h1 { font-size: 2rem }\nh2 { font-size: 1.5rem }\n",
            ),
            source("index.html", "<h1>Hi</h1>\n"),
        ];
        let signals = Signals::read("見出しをもっと大きく", None);
        let ranked = rank(&signals, &sources, &[], &[]);
        let order: Vec<(&str, u32)> = ranked.iter().map(|r| (r.path.as_str(), r.points)).collect();
        assert_eq!(
            order,
            [
                ("css/b.css", 12),
                ("index.html", 3),
                ("css/a.css", 2),
                ("js/app.js", 0)
            ]
        );
        assert_eq!(
            ranked[0].reasons,
            ["selects h1, h2 (2 rules)", "stylesheet"]
        );
        assert_eq!(
            ranked[0].focus,
            [
                Focus {
                    start: 1,
                    end: 1,
                    weight: 5
                },
                Focus {
                    start: 2,
                    end: 2,
                    weight: 5
                }
            ]
        );
    }

    #[test]
    fn errors_paths_and_recent_edits_outrank_vocabulary() {
        let sources = [
            source("css/a.css", "button { color: red }\n"),
            source("src/main.js", "import './style.css'\n"),
            source("src/counter.js", "export {}\n"),
        ];
        let signals = Signals::read("make the buttons blue", None);
        let errors = ["Uncaught SyntaxError at src/main.js:3".to_string()];
        let ranked = rank(&signals, &sources, &errors, &["src/counter.js".to_string()]);
        let order: Vec<&str> = ranked.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(order, ["src/main.js", "css/a.css", "src/counter.js"]);
    }

    #[test]
    fn words_count_only_as_whole_identifiers() {
        assert!(contains_word("color: var(--brand);", "--brand"));
        assert!(!contains_word("color: var(--brand-dark);", "--brand"));
        assert!(contains_word(".hero {", "hero"));
        assert!(!contains_word(".superhero {", "hero"));
    }
}
