//! The change as text edits and the unified diff of it. Edits are collected first — value
//! replacements, declarations added to existing rules, new rules for a stylesheet — then
//! rendered into each file's new text in one pass and diffed with `similar` (3 lines of
//! context, `a/`/`b/` paths), so the diff is exactly the edits and applies with `git apply`.
//!
//! Invariant: two edits never overlap; the second one that would is refused.

use std::collections::BTreeMap;
use std::ops::Range;

use similar::TextDiff;

use crate::site::{line_indent, rule_indent, Site};
use crate::stylesheet::Origin;

/// What one edit did, for the reason text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Note {
    pub file: String,
    pub line: u32,
    /// The rule's selector as written (or a description).
    pub selector: String,
    pub property: String,
    /// `None` when the declaration is new.
    pub before: Option<String>,
    pub after: String,
    /// The token the new value comes from.
    pub token: Option<String>,
}

/// `property: value` pairs, in order.
type Declarations = Vec<(String, String)>;
/// New rules for one stylesheet: `(selector, declarations)`.
type NewRules = Vec<(String, Declarations)>;

#[derive(Debug, Default)]
pub(crate) struct Edits {
    /// `(file, bytes) → new text`.
    replacements: BTreeMap<(usize, usize), (Range<usize>, String)>,
    /// Rule index → declarations to append to it, in order.
    added: BTreeMap<usize, Declarations>,
    /// Stylesheet file → new rules `(selector, declarations)`.
    new_rules: BTreeMap<usize, NewRules>,
    /// `<style>` block (file, content end) → new rules.
    new_block_rules: BTreeMap<(usize, usize), NewRules>,
    pub notes: Vec<Note>,
}

impl Edits {
    pub fn is_empty(&self) -> bool {
        self.replacements.is_empty()
            && self.added.is_empty()
            && self.new_rules.is_empty()
            && self.new_block_rules.is_empty()
    }

    /// Whether bytes of a file are already being replaced.
    pub fn touches(&self, file: usize, range: &Range<usize>) -> bool {
        self.replacements
            .range((file, 0)..(file, usize::MAX))
            .any(|(_, (r, _))| {
                r.start < range.end.max(range.start + 1) && range.start < r.end.max(r.start + 1)
            })
    }

    /// Replaces bytes of a file; refused (false) when they overlap an earlier edit.
    pub fn replace(&mut self, file: usize, range: Range<usize>, text: String, note: Note) -> bool {
        if self.touches(file, &range) {
            return false;
        }
        self.replacements.insert((file, range.start), (range, text));
        self.notes.push(note);
        true
    }

    /// Whether a declaration of `property` is already being added to the rule.
    pub fn adds(&self, rule: usize, property: &str) -> bool {
        self.added
            .get(&rule)
            .is_some_and(|list| list.iter().any(|(p, _)| p == property))
    }

    /// Appends a declaration to a rule (once per property).
    pub fn add_declaration(&mut self, rule: usize, property: &str, value: String, note: Note) {
        if self.adds(rule, property) {
            return;
        }
        self.added
            .entry(rule)
            .or_default()
            .push((property.to_string(), value));
        self.notes.push(note);
    }

    /// Adds `selector { property: value }` to a stylesheet, merging into a new rule with the
    /// same selector, or into one with the same declarations (joining the selectors).
    pub fn add_rule(
        &mut self,
        file: usize,
        block_end: Option<usize>,
        selector: &str,
        property: &str,
        value: String,
        note: Note,
    ) {
        let rules = match block_end {
            Some(end) => self.new_block_rules.entry((file, end)).or_default(),
            None => self.new_rules.entry(file).or_default(),
        };
        if let Some((_, decls)) = rules.iter_mut().find(|(s, _)| s == selector) {
            if decls.iter().any(|(p, _)| p == property) {
                return;
            }
            decls.push((property.to_string(), value));
        } else if let Some((s, _)) = rules.iter_mut().find(|(s, decls)| {
            decls.len() == 1
                && decls[0].0 == property
                && decls[0].1 == value
                && !s.split(", ").any(|x| x == selector)
        }) {
            s.push_str(", ");
            s.push_str(selector);
        } else {
            rules.push((selector.to_string(), vec![(property.to_string(), value)]));
        }
        self.notes.push(note);
    }

    /// Every changed file: `(index, old text, new text)`, in file order.
    pub fn render(&self, site: &Site<'_>) -> Vec<(usize, String)> {
        // (file) → (offset, order, remove-until, text)
        let mut per_file: BTreeMap<usize, Vec<(usize, usize, usize, String)>> = BTreeMap::new();
        for ((file, _), (range, text)) in &self.replacements {
            per_file
                .entry(*file)
                .or_default()
                .push((range.start, 1, range.end, text.clone()));
        }
        for (&rule_index, decls) in &self.added {
            let Some(rule) = site.rules.get(rule_index) else {
                continue;
            };
            let Some(file) = site.files.get(rule.source) else {
                continue;
            };
            let text = &file.text;
            let unit = site.indent_unit(rule.source);
            let one_line = !text.get(rule.open..rule.close).unwrap_or("").contains('\n');
            let last = rule.declarations.iter().max_by_key(|d| d.start);
            let (at, mut insert, indent) = match last {
                Some(d) => {
                    let after = semicolon_after(text, d.end);
                    match after {
                        Some(at) => (at, String::new(), line_indent(text, d.start)),
                        None => (d.end, ";".to_string(), line_indent(text, d.start)),
                    }
                }
                None => (
                    rule.open,
                    String::new(),
                    format!("{}{unit}", rule_indent(text, rule)),
                ),
            };
            for (property, value) in decls {
                if one_line {
                    insert.push_str(&format!(" {property}: {value};"));
                } else {
                    insert.push_str(&format!("\n{indent}{property}: {value};"));
                }
            }
            if one_line && last.is_none() {
                insert.push(' ');
            }
            per_file
                .entry(rule.source)
                .or_default()
                .push((at, 2, at, insert));
        }
        for (&file, rules) in &self.new_rules {
            let Some(f) = site.files.get(file) else {
                continue;
            };
            let unit = site.indent_unit(file);
            let mut insert = String::new();
            if !f.text.is_empty() && !f.text.ends_with('\n') {
                insert.push('\n');
            }
            for (selector, decls) in rules {
                if !f.text.trim().is_empty() || !insert.is_empty() {
                    insert.push('\n');
                }
                insert.push_str(&format!("{selector} {{\n"));
                for (property, value) in decls {
                    insert.push_str(&format!("{unit}{property}: {value};\n"));
                }
                insert.push_str("}\n");
            }
            per_file
                .entry(file)
                .or_default()
                .push((f.text.len(), 3, f.text.len(), insert));
        }
        for (&(file, end), rules) in &self.new_block_rules {
            let Some(f) = site.files.get(file) else {
                continue;
            };
            let block_start = site
                .markup
                .style_blocks
                .iter()
                .find(|(s, r, _)| *s == file && r.end == end)
                .map_or(end, |(_, r, _)| r.start);
            let content = f.text.get(block_start..end).unwrap_or("");
            let unit = site.indent_unit(file);
            let first_rule_indent = site
                .rules
                .iter()
                .find(|r| {
                    r.source == file
                        && r.origin == Origin::StyleBlock
                        && r.open > block_start
                        && r.open <= end
                })
                .map(|r| rule_indent(&f.text, r))
                .unwrap_or_default();
            // Insert at the start of the line holding `</style>`, or before it.
            let at = match content.rfind('\n') {
                Some(nl) => block_start + nl + 1,
                None => end,
            };
            let mut insert = String::new();
            if at == end && !content.ends_with('\n') && !content.is_empty() {
                insert.push('\n');
            }
            for (selector, decls) in rules {
                insert.push_str(&format!("\n{first_rule_indent}{selector} {{\n"));
                for (property, value) in decls {
                    insert.push_str(&format!("{first_rule_indent}{unit}{property}: {value};\n"));
                }
                insert.push_str(&format!("{first_rule_indent}}}\n"));
            }
            per_file.entry(file).or_default().push((at, 3, at, insert));
        }

        let mut out = Vec::new();
        for (file, mut pieces) in per_file {
            let Some(f) = site.files.get(file) else {
                continue;
            };
            pieces.sort_by_key(|(at, order, _, _)| (*at, *order));
            // New lines follow the file's own line endings.
            let crlf = f.text.contains("\r\n");
            let mut text = String::with_capacity(f.text.len() + 256);
            let mut at = 0;
            for (start, _, end, insert) in pieces {
                let insert = if crlf {
                    insert.replace("\r\n", "\n").replace('\n', "\r\n")
                } else {
                    insert
                };
                if start < at || end > f.text.len() {
                    continue;
                }
                text.push_str(&f.text[at..start]);
                text.push_str(&insert);
                at = end;
            }
            text.push_str(&f.text[at..]);
            if text != f.text {
                out.push((file, text));
            }
        }
        out
    }
}

/// The offset just after the `;` that ends a declaration whose value ends at `end`.
fn semicolon_after(text: &str, end: usize) -> Option<usize> {
    let mut at = end;
    let bytes = text.as_bytes();
    loop {
        while at < bytes.len() && bytes[at].is_ascii_whitespace() && bytes[at] != b'\n' {
            at += 1;
        }
        if text.get(at..)?.starts_with("/*") {
            at = text[at..].find("*/").map(|i| at + i + 2)?;
            continue;
        }
        return (bytes.get(at) == Some(&b';')).then_some(at + 1);
    }
}

/// The unified diff of one file, as `git diff` would write it.
pub(crate) fn unified_diff(path: &str, old: &str, new: &str) -> String {
    let diff = TextDiff::from_lines(old, new);
    let body = diff
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string();
    format!("diff --git a/{path} b/{path}\n{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use devflow_reference::SourceFile;

    fn note() -> Note {
        Note {
            file: String::new(),
            line: 0,
            selector: String::new(),
            property: String::new(),
            before: None,
            after: String::new(),
            token: None,
        }
    }

    #[test]
    fn adds_declarations_after_the_last_one_with_its_indentation() {
        let files = vec![SourceFile::new(
            "a.css",
            "h1 {\n  color: red\n}\np { margin: 0; }\n.e {\n}\n",
        )];
        let site = Site::new(&files);
        let mut edits = Edits::default();
        edits.add_declaration(0, "font-size", "2rem".into(), note());
        edits.add_declaration(1, "padding", "4px".into(), note());
        edits.add_declaration(2, "color", "blue".into(), note());
        edits.add_rule(0, None, "h2", "color", "red".into(), note());
        edits.add_rule(0, None, "h3", "color", "red".into(), note());
        let rendered = edits.render(&site);
        assert_eq!(
            rendered[0].1,
            "h1 {\n  color: red;\n  font-size: 2rem;\n}\np { margin: 0; padding: 4px; }\n.e {\n  color: blue;\n}\n\nh2, h3 {\n  color: red;\n}\n"
        );
    }

    #[test]
    fn keeps_crlf_line_endings() {
        let files = vec![SourceFile::new("a.css", "h1 {\r\n  color: red;\r\n}\r\n")];
        let site = Site::new(&files);
        let mut edits = Edits::default();
        edits.add_declaration(0, "margin", "0".into(), note());
        edits.add_rule(0, None, "p", "color", "blue".into(), note());
        assert_eq!(
            edits.render(&site)[0].1,
            "h1 {\r\n  color: red;\r\n  margin: 0;\r\n}\r\n\r\np {\r\n  color: blue;\r\n}\r\n"
        );
    }

    #[test]
    fn refuses_overlapping_replacements() {
        let mut edits = Edits::default();
        assert!(edits.replace(0, 4..8, "x".into(), note()));
        assert!(!edits.replace(0, 6..10, "y".into(), note()));
        assert!(edits.replace(0, 8..10, "z".into(), note()));
    }

    #[test]
    fn writes_git_style_diffs() {
        let diff = unified_diff(
            "css/a.css",
            "a {\n  color: red;\n}\n",
            "a {\n  color: blue;\n}\n",
        );
        assert_eq!(
            diff,
            "diff --git a/css/a.css b/css/a.css\n--- a/css/a.css\n+++ b/css/a.css\n@@ -1,3 +1,3 @@\n a {\n-  color: red;\n+  color: blue;\n }\n"
        );
    }
}
