//! The site as the proposer sees it: files sorted into stylesheets, pages and scripts; rules;
//! elements; which stylesheets each page uses; the main stylesheet; and the cascade (the
//! winning declaration per longhand and media context, where a `var()` gets its value).
//! Invariant: never `node_modules`, vendored, built or minified CSS is editable — such files
//! still take part in the cascade, so a change can override them from the site's own CSS.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use devflow_reference::SourceFile;

use crate::markup::{Element, Markup};
use crate::properties::Aspect;
use crate::selector::{self, Complex, Specificity, State};
use crate::stylesheet::{self, Origin, Placement, Rule};
use crate::values::{components, splice, Piece};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    Css { editable: bool },
    Html { editable: bool },
    Script,
    Other,
}

/// A rule that applies to an element, with the specificity of its best matching selector.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Applied {
    pub rule: usize,
    pub specificity: Specificity,
}

/// The declaration that wins some longhands of an aspect in one media context.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Win {
    pub rule: usize,
    pub decl: usize,
    /// `""` for the unconditional cascade, else the rule's conditions.
    pub context: String,
    pub longhands: Vec<&'static str>,
}

/// Applicable rules per `(element, hovered)`.
type AppliedCache = RefCell<HashMap<(usize, bool), Rc<Vec<Applied>>>>;

pub(crate) struct Site<'a> {
    pub files: &'a [SourceFile],
    pub kinds: Vec<FileKind>,
    pub rules: Vec<Rule>,
    /// Each rule's selectors, parsed (`None` where not understood).
    pub parsed: Vec<Vec<Option<Complex>>>,
    pub elements: Vec<Element>,
    pub markup: Markup,
    /// For each file: the pages that link it (empty: nobody links it, so it counts for all).
    pub linked_by: Vec<Vec<usize>>,
    /// The stylesheet new rules go to.
    pub main_stylesheet: Option<usize>,
    /// Rule index of each `style=""` attribute → the element it is on.
    pub attribute_owner: HashMap<usize, usize>,
    /// The made-up `<body>` that script markup and made-up elements hang from.
    pub body: usize,
    cache: AppliedCache,
}

/// Paths whose CSS is never edited: dependencies, vendored and built files.
fn editable_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    !lower.split('/').any(|part| {
        matches!(
            part,
            "node_modules" | "vendor" | "vendors" | "dist" | "build" | ".git" | "bower_components"
        )
    }) && !name.contains(".min.")
        && !name.ends_with(".map")
}

/// Minified text: long lines, few of them.
fn looks_minified(text: &str) -> bool {
    let lines = text.lines().count().max(1);
    text.len() > 2000 && (text.len() / lines > 400 || text.lines().any(|l| l.len() > 5000))
}

fn extension(path: &str) -> String {
    path.rsplit('/')
        .next()
        .and_then(|name| name.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default()
}

/// `href` of a page at `page_path` as a workspace path, if it is one.
pub(crate) fn resolve_href(page_path: &str, href: &str) -> Option<String> {
    let href = href.split(['?', '#']).next()?.trim();
    let lower = href.to_ascii_lowercase();
    if href.is_empty()
        || lower.starts_with("http:")
        || lower.starts_with("https:")
        || lower.starts_with("//")
        || lower.starts_with("data:")
    {
        return None;
    }
    let mut parts: Vec<&str> = if let Some(rooted) = href.strip_prefix('/') {
        rooted.split('/').collect()
    } else {
        let dir: Vec<&str> = page_path.split('/').collect();
        let mut parts: Vec<&str> = dir[..dir.len().saturating_sub(1)].to_vec();
        parts.extend(href.split('/'));
        parts
    };
    let mut out: Vec<&str> = Vec::new();
    for part in parts.drain(..) {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    Some(out.join("/"))
}

impl<'a> Site<'a> {
    pub fn new(files: &'a [SourceFile]) -> Self {
        let kinds: Vec<FileKind> = files
            .iter()
            .map(|f| match extension(&f.path).as_str() {
                "css" => FileKind::Css {
                    editable: editable_path(&f.path) && !looks_minified(&f.text),
                },
                "html" | "htm" => FileKind::Html {
                    editable: editable_path(&f.path),
                },
                "js" | "mjs" | "jsx" | "ts" | "tsx" | "vue" | "svelte" | "astro" => {
                    if editable_path(&f.path) && !looks_minified(&f.text) {
                        FileKind::Script
                    } else {
                        FileKind::Other
                    }
                }
                _ => FileKind::Other,
            })
            .collect();

        let mut markup = Markup::default();
        for (index, file) in files.iter().enumerate() {
            match kinds[index] {
                FileKind::Html { .. } => markup.add_page(index, &file.text),
                FileKind::Script => markup.add_script(index, &file.text),
                _ => {}
            }
        }

        let mut rules = Vec::new();
        for (index, file) in files.iter().enumerate() {
            if let FileKind::Css { .. } = kinds[index] {
                rules.extend(stylesheet::parse_stylesheet(
                    &file.text,
                    Placement {
                        source: index,
                        origin: Origin::File,
                        base: 0,
                        base_line: 0,
                    },
                ));
            }
        }
        for (source, range, line) in &markup.style_blocks {
            let Some(text) = files.get(*source).and_then(|f| f.text.get(range.clone())) else {
                continue;
            };
            rules.extend(stylesheet::parse_stylesheet(
                text,
                Placement {
                    source: *source,
                    origin: Origin::StyleBlock,
                    base: range.start,
                    base_line: *line,
                },
            ));
        }
        let mut attribute_owner = HashMap::new();
        for (source, range, line, element) in &markup.style_attributes {
            let Some(text) = files.get(*source).and_then(|f| f.text.get(range.clone())) else {
                continue;
            };
            attribute_owner.insert(rules.len(), *element);
            rules.push(stylesheet::parse_style_attribute(
                text,
                Placement {
                    source: *source,
                    origin: Origin::StyleAttribute,
                    base: range.start,
                    base_line: *line,
                },
            ));
        }
        let parsed = rules
            .iter()
            .map(|r| r.selectors.iter().map(|s| selector::parse(s)).collect())
            .collect();

        // Script markup and made-up elements hang from a made-up <html><body>.
        let mut elements = markup.elements.clone();
        let html = elements.len();
        elements.push(Element {
            tag: "html".into(),
            synthetic: true,
            ..Element::default()
        });
        let body = elements.len();
        elements.push(Element {
            tag: "body".into(),
            parent: Some(html),
            synthetic: true,
            ..Element::default()
        });
        for element in elements.iter_mut().take(html) {
            if element.page.is_none() && element.parent.is_none() {
                element.parent = Some(body);
            }
        }

        let mut linked_by = vec![Vec::new(); files.len()];
        for (page, href) in &markup.stylesheet_links {
            let Some(path) = files.get(*page).and_then(|p| resolve_href(&p.path, href)) else {
                continue;
            };
            if let Some(css) = files.iter().position(|f| f.path == path) {
                if !linked_by[css].contains(page) {
                    linked_by[css].push(*page);
                }
            }
        }

        let editable_css =
            |index: usize| matches!(kinds.get(index), Some(FileKind::Css { editable: true }));
        let find_css = |path: Option<String>| {
            path.and_then(|p| files.iter().position(|f| f.path == p))
                .filter(|&i| editable_css(i))
        };
        let mut pages: Vec<usize> = (0..files.len())
            .filter(|&i| matches!(kinds[i], FileKind::Html { .. }))
            .collect();
        // index.html nearest the root first.
        pages.sort_by_key(|&i| {
            let path = &files[i].path;
            let is_index = path.rsplit('/').next() == Some("index.html");
            (!is_index, path.matches('/').count(), path.clone())
        });
        let linked_main = pages.iter().find_map(|&page| {
            markup
                .stylesheet_links
                .iter()
                .filter(|(p, _)| *p == page)
                .find_map(|(_, href)| find_css(resolve_href(&files[page].path, href)))
        });
        let imported_main = || {
            markup.css_imports.iter().find_map(|(script, specifier)| {
                find_css(resolve_href(&files[*script].path, specifier))
            })
        };
        let largest = || {
            (0..files.len())
                .filter(|&i| editable_css(i))
                .max_by_key(|&i| {
                    (
                        rules.iter().filter(|r| r.source == i).count(),
                        std::cmp::Reverse(i),
                    )
                })
        };
        let main_stylesheet = linked_main.or_else(imported_main).or_else(largest);

        Site {
            files,
            kinds,
            rules,
            parsed,
            elements,
            markup,
            linked_by,
            main_stylesheet,
            attribute_owner,
            body,
            cache: RefCell::new(HashMap::new()),
        }
    }

    /// Adds an element the markup does not show (a `<h3>` the CSS styles, a Target).
    pub fn add_synthetic(&mut self, tag: &str, id: Option<String>, classes: Vec<String>) -> usize {
        self.elements.push(Element {
            tag: tag.to_string(),
            id,
            classes,
            parent: Some(self.body),
            synthetic: true,
            ..Element::default()
        });
        self.cache.borrow_mut().clear();
        self.elements.len() - 1
    }

    /// Whether a rule's text may be edited.
    pub fn rule_editable(&self, rule: usize) -> bool {
        self.rules.get(rule).is_some_and(|r| {
            matches!(
                self.kinds.get(r.source),
                Some(FileKind::Css { editable: true } | FileKind::Html { editable: true })
            )
        })
    }

    /// Whether a stylesheet rule can style an element at all (the page uses its sheet).
    fn in_scope(&self, rule: &Rule, rule_index: usize, element: usize) -> bool {
        let Some(e) = self.elements.get(element) else {
            return false;
        };
        match rule.origin {
            Origin::StyleAttribute => self.attribute_owner.get(&rule_index) == Some(&element),
            Origin::StyleBlock => e.page == Some(rule.source),
            Origin::File => match e.page {
                None => true,
                Some(page) => {
                    let linked = &self.linked_by[rule.source];
                    linked.is_empty() || linked.contains(&page)
                }
            },
        }
    }

    /// Every rule that applies to the element, in source order.
    pub fn applicable(&self, element: usize, state: State) -> Rc<Vec<Applied>> {
        let key = (element, state == State::Hover);
        if let Some(hit) = self.cache.borrow().get(&key) {
            return hit.clone();
        }
        let mut out = Vec::new();
        for (index, rule) in self.rules.iter().enumerate() {
            if !self.in_scope(rule, index, element) {
                continue;
            }
            if rule.origin == Origin::StyleAttribute {
                out.push(Applied {
                    rule: index,
                    specificity: (1000, 0, 0),
                });
                continue;
            }
            let best = self.parsed[index]
                .iter()
                .flatten()
                .filter(|c| selector::matches(c, &self.elements, element, state))
                .map(Complex::specificity)
                .max();
            if let Some(specificity) = best {
                out.push(Applied {
                    rule: index,
                    specificity,
                });
            }
        }
        let out = Rc::new(out);
        self.cache.borrow_mut().insert(key, out.clone());
        out
    }

    /// Cascade order of a declaration: later wins at equal importance and specificity.
    fn order(&self, rule: usize, decl: usize) -> (usize, usize) {
        let r = &self.rules[rule];
        (r.source, r.declarations.get(decl).map_or(0, |d| d.start))
    }

    /// The context key of a rule, or `None` when its conditions never hold on a light,
    /// on-screen page (print, dark colour scheme).
    pub fn context_of(&self, rule: usize) -> Option<String> {
        let conditions = &self.rules.get(rule)?.conditions;
        let key = conditions.join(" and ");
        let excluded = key.contains("print")
            || key.contains("prefers-color-scheme: dark")
            || key.contains("prefers-color-scheme:dark");
        (!excluded).then_some(key)
    }

    /// The winning declaration of each longhand of `aspect` for the element, in the
    /// unconditional cascade and in each media context some applicable rule adds.
    pub fn winners(&self, element: usize, aspect: Aspect, state: State) -> Vec<Win> {
        let applied = self.applicable(element, state);
        // (rule, decl, specificity, context)
        let mut candidates = Vec::new();
        let mut contexts = vec![String::new()];
        for a in applied.iter() {
            let Some(context) = self.context_of(a.rule) else {
                continue;
            };
            for (d, decl) in self.rules[a.rule].declarations.iter().enumerate() {
                if aspect.covers_any(&decl.property) {
                    if !contexts.contains(&context) {
                        contexts.push(context.clone());
                    }
                    candidates.push((a.rule, d, a.specificity, context.clone()));
                }
            }
        }
        let mut out: Vec<Win> = Vec::new();
        for context in &contexts {
            for &longhand in aspect.longhands() {
                let best = candidates
                    .iter()
                    .filter(|(r, d, _, c)| {
                        (c.is_empty() || c == context)
                            && aspect.covers(&self.rules[*r].declarations[*d].property, longhand)
                    })
                    .max_by_key(|(r, d, s, _)| {
                        (
                            self.rules[*r].declarations[*d].important,
                            *s,
                            self.order(*r, *d),
                        )
                    });
                let Some((rule, decl, _, c)) = best else {
                    continue;
                };
                if !context.is_empty() && c != context {
                    continue;
                }
                if let Some(win) = out
                    .iter_mut()
                    .find(|w| w.rule == *rule && w.decl == *decl && &w.context == context)
                {
                    win.longhands.push(longhand);
                } else {
                    out.push(Win {
                        rule: *rule,
                        decl: *decl,
                        context: context.clone(),
                        longhands: vec![longhand],
                    });
                }
            }
        }
        out
    }

    /// Where `var(--name)` gets its value for the element in a context: the winning
    /// definition on the element or its nearest ancestor that has one.
    pub fn var_definition(
        &self,
        element: usize,
        name: &str,
        context: &str,
    ) -> Option<(usize, usize)> {
        let mut at = Some(element);
        let mut guard = 0;
        while let Some(e) = at {
            guard += 1;
            if guard > 64 {
                break;
            }
            let applied = self.applicable(e, State::Rest);
            let best = applied
                .iter()
                .filter_map(|a| {
                    let c = self.context_of(a.rule)?;
                    (c.is_empty() || c == context).then_some(a)
                })
                .flat_map(|a| {
                    self.rules[a.rule]
                        .declarations
                        .iter()
                        .enumerate()
                        .filter(|(_, d)| d.property == name)
                        .map(move |(d, decl)| (a.rule, d, a.specificity, decl.important))
                })
                .max_by_key(|(r, d, s, important)| (*important, *s, self.order(*r, *d)));
            if let Some((rule, decl, _, _)) = best {
                return Some((rule, decl));
            }
            at = self.elements.get(e).and_then(|el| el.parent);
        }
        None
    }

    /// The value with every `var()` replaced by what it resolves to for the element.
    pub fn resolve(&self, element: usize, value: &str, context: &str) -> String {
        self.resolve_depth(element, value, context, 0)
    }

    fn resolve_depth(&self, element: usize, value: &str, context: &str, depth: usize) -> String {
        if depth > 8 || !value.contains("var(") {
            return value.to_string();
        }
        let replacements = components(value)
            .into_iter()
            .filter_map(|c| match c.piece {
                Piece::Var { name, fallback } => {
                    let resolved = self
                        .var_definition(element, &name, context)
                        .and_then(|(r, d)| self.rules[r].declarations.get(d))
                        .map(|d| d.value.clone())
                        .or(fallback)?;
                    Some((
                        c.span,
                        self.resolve_depth(element, &resolved, context, depth + 1),
                    ))
                }
                _ => None,
            })
            .collect();
        splice(value, replacements)
    }

    /// Indentation unit of a file (`"  "` unless its declarations say otherwise).
    pub fn indent_unit(&self, source: usize) -> String {
        let Some(file) = self.files.get(source) else {
            return "  ".into();
        };
        let mut counts: HashMap<String, usize> = HashMap::new();
        for rule in self
            .rules
            .iter()
            .filter(|r| r.source == source && r.conditions.is_empty())
        {
            for d in rule.declarations.iter().take(1) {
                let indent = line_indent(&file.text, d.start);
                if !indent.is_empty() && rule_indent(&file.text, rule).is_empty() {
                    *counts.entry(indent).or_default() += 1;
                }
            }
        }
        counts
            .into_iter()
            .max_by_key(|(indent, n)| (*n, std::cmp::Reverse(indent.len())))
            .map(|(indent, _)| indent)
            .unwrap_or_else(|| "  ".into())
    }
}

/// The whitespace before the text at `offset` on its line.
pub(crate) fn line_indent(text: &str, offset: usize) -> String {
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    text[start..]
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect()
}

/// The indentation of the line a rule's selector (its `{`) is on.
pub(crate) fn rule_indent(text: &str, rule: &Rule) -> String {
    line_indent(text, rule.open.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site_files() -> Vec<SourceFile> {
        vec![
            SourceFile::new(
                "css/site.css",
                ":root { --brand: #0d6efd; }\nbody { color: #222; }\n.btn { background-color: var(--brand); padding: 4px 8px; }\n.btn-primary { --brand: #123456; }\n@media (min-width: 768px) {\n  .btn { padding: 6px 12px; }\n}\n@media print {\n  .btn { padding: 0; }\n}\n",
            ),
            SourceFile::new("css/vendor.min.css", ".btn { padding-left: 1px !important }"),
            SourceFile::new(
                "index.html",
                "<html><head><link rel=\"stylesheet\" href=\"css/site.css\"></head><body><button class=\"btn btn-primary\">Go</button></body></html>",
            ),
        ]
    }

    #[test]
    fn finds_the_main_stylesheet_and_what_is_editable() {
        let files = site_files();
        let site = Site::new(&files);
        assert_eq!(site.main_stylesheet, Some(0));
        assert_eq!(site.kinds[1], FileKind::Css { editable: false });
        assert_eq!(site.linked_by[0], [2]);
        assert_eq!(
            resolve_href("a/b/index.html", "../css/x.css?v=2"),
            Some("a/css/x.css".into())
        );
        assert_eq!(resolve_href("index.html", "https://cdn/x.css"), None);
    }

    #[test]
    fn picks_the_winner_per_longhand_and_context_and_resolves_vars() {
        let files = site_files();
        let site = Site::new(&files);
        let button = site
            .elements
            .iter()
            .position(|e| e.tag == "button")
            .expect("button");
        let wins: Vec<String> = site
            .winners(button, Aspect::Padding, State::Rest)
            .iter()
            .map(|w| {
                let d = &site.rules[w.rule].declarations[w.decl];
                format!(
                    "{}: {} [{}] {:?}",
                    d.property, d.value, w.context, w.longhands
                )
            })
            .collect();
        // vendor.min.css is linked by no page, so it may style any; its `!important` wins
        // the left padding everywhere. Print rules never count.
        assert_eq!(
            wins,
            [
                "padding: 4px 8px [] [\"top\", \"right\", \"bottom\"]",
                "padding-left: 1px [] [\"left\"]",
                "padding: 6px 12px [media (min-width: 768px)] [\"top\", \"right\", \"bottom\"]",
            ]
        );
        let bg = site.winners(button, Aspect::BackgroundColor, State::Rest);
        let d = &site.rules[bg[0].rule].declarations[bg[0].decl];
        assert_eq!(site.resolve(button, &d.value, ""), "#123456");
    }
}
