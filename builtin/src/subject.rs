//! Which elements an instruction is about (markup elements that are buttons, headings …, or
//! the Target) and which rules are theirs. A rule is *owned* when a selector names the
//! subject (`button`, `.btn-primary`, a class only buttons carry) and *pure* when its other
//! selectors style nothing else in the markup: only pure rules are edited, so "make the
//! buttons red" never recolours the inputs a shared rule also styles.

use std::collections::BTreeSet;

use crate::intent::SubjectKind;
use crate::markup::Element;
use crate::selector::{self, Compound, PseudoClass, State};
use crate::site::Site;

/// The elements a change applies to and what marks a rule as theirs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scope {
    pub kinds: Vec<SubjectKind>,
    /// Element indices of the site: markup elements first, then made-up ones.
    pub instances: Vec<usize>,
    tags: Vec<String>,
    /// Class or id segments that mark the subject (`btn` in `btn-primary`).
    words: Vec<&'static str>,
    classes: BTreeSet<String>,
    ids: BTreeSet<String>,
    /// Custom property name segments that say a variable belongs to the subject.
    var_words: Vec<String>,
    /// The Target selector, when the scope is the element a person pointed at.
    pub target: Option<String>,
    /// `(file, line)` of the rules the daemon resolved for the Target: when present, these
    /// and only these are the target's own rules.
    pub resolved_rules: Option<BTreeSet<(String, u32)>>,
}

struct Features {
    tags: &'static [&'static str],
    words: &'static [&'static str],
    classes: &'static [&'static str],
    var_words: &'static [&'static str],
    /// Made up when the markup shows no element of the subject at all.
    prototypes: &'static [(&'static str, &'static str)],
}

fn features(kind: SubjectKind) -> Features {
    let f = |tags, words, classes, var_words, prototypes| Features {
        tags,
        words,
        classes,
        var_words,
        prototypes,
    };
    match kind {
        SubjectKind::Buttons => f(
            &["button"],
            &["btn", "button", "cta"],
            &[],
            &["btn", "button"],
            &[("button", "")],
        ),
        SubjectKind::Headings => f(
            &["h1", "h2", "h3", "h4", "h5", "h6"],
            &[],
            &["h1", "h2", "h3", "h4", "h5", "h6"],
            &["heading", "headings", "h1", "h2", "h3", "h4", "h5", "h6"],
            &[
                ("h1", ""),
                ("h2", ""),
                ("h3", ""),
                ("h4", ""),
                ("h5", ""),
                ("h6", ""),
            ],
        ),
        SubjectKind::Links => f(&["a"], &["link"], &[], &["link"], &[("a", "")]),
        SubjectKind::Text => f(
            &["html", "body", "p"],
            &[],
            &[],
            &["body", "text"],
            &[("p", "")],
        ),
        SubjectKind::Page => f(
            &["html", "body"],
            &[],
            &[],
            &["body", "bg", "background", "page", "text"],
            &[],
        ),
        SubjectKind::Sidebar => f(
            &["aside"],
            &["sidebar", "sidenav"],
            &[],
            &["sidebar", "sidenav"],
            &[("aside", "")],
        ),
        // The bar itself, not its links and toggles (`nav-link`, `navbar-toggler`).
        SubjectKind::Nav => f(
            &["nav", "header"],
            &[],
            &[
                "navbar",
                "nav",
                "navigation",
                "menu",
                "topbar",
                "site-nav",
                "main-nav",
                "site-header",
            ],
            &["navbar", "navigation", "topbar"],
            &[("nav", "")],
        ),
        SubjectKind::Cards => f(
            &[],
            &["card", "panel", "tile"],
            &[],
            &["card", "panel"],
            &[("div", "card")],
        ),
        SubjectKind::Code => f(
            &["code", "pre", "kbd", "samp"],
            &[],
            &[],
            &["code", "mono"],
            &[("code", "")],
        ),
        SubjectKind::Inputs => f(
            &["input", "textarea", "select"],
            &["input", "field"],
            &["form-control", "form-select"],
            &["input", "form"],
            &[("input", "")],
        ),
        SubjectKind::Content => f(
            &["main", "section", "article"],
            &[
                "content",
                "container",
                "wrapper",
                "main",
                "app",
                "center",
                "page",
                "layout",
            ],
            &[],
            &["container", "gutter", "content"],
            &[("body", "")],
        ),
    }
}

/// Whether a class or id has one of the words as a `-`/`_` separated segment.
fn has_segment(name: &str, words: &[&str]) -> bool {
    name.to_ascii_lowercase()
        .split(['-', '_'])
        .any(|segment| words.contains(&segment))
}

impl Scope {
    /// The scope of subject kinds (`heading_level` narrows headings to one level).
    pub fn of_subjects(
        site: &mut Site<'_>,
        kinds: &[SubjectKind],
        heading_level: Option<u8>,
    ) -> Scope {
        let mut scope = Scope {
            kinds: kinds.to_vec(),
            ..Scope::default()
        };
        let level_tag = heading_level.map(|l| format!("h{l}"));
        for &kind in kinds {
            let f = features(kind);
            let narrowed = kind == SubjectKind::Headings && level_tag.is_some();
            for tag in f.tags {
                if !narrowed || Some(tag.to_string()) == level_tag {
                    scope.tags.push(tag.to_string());
                }
            }
            for class in f.classes {
                if !narrowed || Some(class.to_string()) == level_tag {
                    scope.classes.insert(class.to_string());
                }
            }
            scope.words.extend(f.words);
            scope
                .var_words
                .extend(f.var_words.iter().map(|w| w.to_string()));
        }
        let markup: Vec<usize> = (0..site.elements.len())
            .filter(|&i| !site.elements[i].synthetic && scope.is_instance(&site.elements[i]))
            .collect();
        scope.instances = markup.clone();
        // Components are often styled by a class of their own (`<button class="counter">`);
        // text-level elements (links, headings) by their tag, and their other classes are
        // some other component's (`a.list-group-item`).
        if kinds.iter().any(|k| {
            matches!(
                k,
                SubjectKind::Buttons | SubjectKind::Inputs | SubjectKind::Cards
            )
        }) {
            scope.add_exclusive_classes(site);
        }
        // Heading levels the markup lacks still have rules worth changing with the rest.
        for &kind in kinds {
            let f = features(kind);
            let has_markup = markup.iter().any(|&i| {
                let e = &site.elements[i];
                features(kind).tags.contains(&e.tag.as_str())
                    || e.classes.iter().any(|c| has_segment(c, f.words))
            });
            for (tag, class) in f.prototypes {
                // Plain links stand for the links in the content, which the markup may lack.
                if kind == SubjectKind::Links {
                    if markup.iter().any(|&i| {
                        let e = &site.elements[i];
                        e.tag == "a" && e.classes.is_empty()
                    }) {
                        continue;
                    }
                } else if kind == SubjectKind::Headings {
                    if let Some(level) = &level_tag {
                        if *tag != level.as_str() {
                            continue;
                        }
                    }
                    if markup.iter().any(|&i| site.elements[i].tag == *tag) {
                        continue;
                    }
                } else if has_markup {
                    continue;
                }
                let classes = if class.is_empty() {
                    Vec::new()
                } else {
                    vec![class.to_string()]
                };
                let element = site.add_synthetic(tag, None, classes);
                scope.instances.push(element);
            }
        }
        // Page and text reach the made-up <html>/<body> the site's stylesheets style.
        if kinds
            .iter()
            .any(|k| matches!(k, SubjectKind::Page | SubjectKind::Text))
        {
            for tag in ["html", "body"] {
                let present = markup.iter().any(|&i| site.elements[i].tag == tag);
                if !present {
                    if let Some(i) = (0..site.elements.len())
                        .find(|&i| site.elements[i].synthetic && site.elements[i].tag == tag)
                    {
                        scope.instances.push(i);
                    }
                }
            }
        }
        // Ancestors first, so an inherited change is made once, on the outermost element.
        let depth = |site: &Site<'_>, mut i: usize| {
            let mut d = 0;
            while let Some(p) = site.elements.get(i).and_then(|e| e.parent) {
                d += 1;
                i = p;
                if d > 256 {
                    break;
                }
            }
            d
        };
        let mut ordered: Vec<(bool, usize, usize)> = scope
            .instances
            .iter()
            .map(|&i| (site.elements[i].synthetic, depth(site, i), i))
            .collect();
        ordered.sort();
        scope.instances = ordered.into_iter().map(|(_, _, i)| i).collect();
        scope
    }

    /// The scope of the element a Target selector names, on `page` when the Target says
    /// which page it was picked on.
    pub fn of_target(site: &mut Site<'_>, target: &str, page: Option<usize>) -> Scope {
        let mut scope = Scope {
            target: Some(target.trim().to_string()),
            ..Scope::default()
        };
        let parsed = selector::split_list(target)
            .first()
            .and_then(|s| selector::parse(s));
        let Some(complex) = parsed else {
            return scope;
        };
        let Some(compound) = complex.subject().cloned() else {
            return scope;
        };
        let on_page = |i: usize, site: &Site<'_>| {
            page.is_none() || site.elements[i].page.is_none() || site.elements[i].page == page
        };
        let full: Vec<usize> = (0..site.elements.len())
            .filter(|&i| !site.elements[i].synthetic && on_page(i, site))
            .filter(|&i| selector::matches(&complex, &site.elements, i, State::Rest))
            .collect();
        let loose: Vec<usize> = if full.is_empty() {
            let single = selector::Complex {
                compounds: vec![compound.clone()],
                combinators: Vec::new(),
            };
            (0..site.elements.len())
                .filter(|&i| !site.elements[i].synthetic && on_page(i, site))
                .filter(|&i| selector::matches(&single, &site.elements, i, State::Rest))
                .collect()
        } else {
            full
        };
        // The most specific thing the selector names marks the target's own rules.
        if !compound.ids.is_empty() {
            scope.ids.extend(compound.ids.iter().cloned());
        } else if !compound.classes.is_empty() {
            scope.classes.extend(compound.classes.iter().cloned());
        } else if let Some(tag) = &compound.tag {
            scope.tags.push(tag.clone());
        }
        for name in compound.ids.iter().chain(&compound.classes) {
            scope.var_words.extend(
                name.to_ascii_lowercase()
                    .split(['-', '_'])
                    .map(str::to_string),
            );
        }
        scope.instances = loose;
        if scope.instances.is_empty() {
            let tag = compound.tag.clone().unwrap_or_else(|| "div".to_string());
            let element = site.add_synthetic(
                &tag,
                compound.ids.first().cloned(),
                compound.classes.clone(),
            );
            scope.instances.push(element);
        }
        scope
    }

    fn is_instance(&self, e: &Element) -> bool {
        // `button-icon`, `btn-group`, `card-title`: parts of the thing, not the thing.
        const PARTS: &[&str] = &[
            "icon", "group", "toolbar", "list", "label", "text", "img", "image", "badge",
            "spinner", "title", "body", "header", "footer", "caret", "close", "toggle", "item",
            "heading",
        ];
        let by_word = |name: &str| has_segment(name, &self.words) && !has_segment(name, PARTS);
        if matches!(
            e.tag.as_str(),
            "svg" | "img" | "use" | "path" | "link" | "meta" | "script" | "style"
        ) {
            return false;
        }
        self.tags.contains(&e.tag)
            || e.classes
                .iter()
                .any(|c| self.classes.contains(c) || by_word(c))
            || e.id.as_deref().is_some_and(by_word)
    }

    /// Classes that only the subject's elements carry mark rules as the subject's too
    /// (`.counter` on the only `<button>`) — but only on elements that are the subject by
    /// their tag, and never utility classes (`d-flex`, `mt-4`, `text-white`), which style
    /// whatever carries them.
    fn add_exclusive_classes(&mut self, site: &Site<'_>) {
        const UTILITY_PREFIXES: &[&str] = &[
            "d-",
            "bg-",
            "text-",
            "border",
            "m-",
            "ms-",
            "me-",
            "mt-",
            "mb-",
            "mx-",
            "my-",
            "p-",
            "ps-",
            "pe-",
            "pt-",
            "pb-",
            "px-",
            "py-",
            "w-",
            "h-",
            "flex",
            "justify-",
            "align-",
            "float-",
            "shadow",
            "rounded",
            "fw-",
            "fs-",
            "lh-",
            "col",
            "row",
            "position-",
            "top-",
            "start-",
            "end-",
            "bottom-",
            "overflow",
            "visible",
            "invisible",
            "sr-only",
            "visually-hidden",
            "clearfix",
            "hidden",
            "active",
            "disabled",
            "show",
            "fade",
            "is-",
            "has-",
            "js-",
        ];
        let mut candidates = BTreeSet::new();
        for &i in &self.instances {
            let e = &site.elements[i];
            if !self.tags.contains(&e.tag) {
                continue;
            }
            for class in &e.classes {
                let lower = class.to_ascii_lowercase();
                if !lower.chars().any(|c| c.is_ascii_digit())
                    && !UTILITY_PREFIXES.iter().any(|p| lower.starts_with(p))
                {
                    candidates.insert(class.clone());
                }
            }
        }
        for class in candidates {
            let exclusive = site
                .elements
                .iter()
                .enumerate()
                .filter(|(_, e)| !e.synthetic && e.classes.contains(&class))
                .all(|(i, _)| self.instances.contains(&i));
            if exclusive {
                self.classes.insert(class);
            }
        }
    }

    /// The same subject narrowed to one of its elements.
    pub fn narrowed(&self, element: usize) -> Scope {
        Scope {
            instances: vec![element],
            ..self.clone()
        }
    }

    /// Whether a compound selector names the subject.
    pub fn owns_compound(&self, compound: &Compound) -> bool {
        let root = compound
            .pseudo_classes
            .iter()
            .any(|p| matches!(p, PseudoClass::Root));
        compound.tag.as_ref().is_some_and(|t| self.tags.contains(t))
            || (root && self.tags.iter().any(|t| t == "html"))
            || compound
                .classes
                .iter()
                .any(|c| self.classes.contains(c) || has_segment(c, &self.words))
            || compound
                .ids
                .iter()
                .any(|id| self.ids.contains(id) || has_segment(id, &self.words))
    }

    /// `(selectors naming the subject, selectors in all, whether the others style nothing
    /// else in the markup)` of a rule.
    pub fn ownership(&self, site: &Site<'_>, rule: usize) -> (usize, usize, bool) {
        let Some(r) = site.rules.get(rule) else {
            return (0, 0, false);
        };
        if r.is_attribute() {
            let owned = site
                .attribute_owner
                .get(&rule)
                .is_some_and(|e| self.instances.contains(e));
            return (usize::from(owned), 1, owned);
        }
        let mut owned = 0;
        let mut harmless = true;
        let parsed = &site.parsed[rule];
        for complex in parsed {
            let Some(complex) = complex else {
                harmless = false;
                continue;
            };
            if complex.subject().is_some_and(|c| self.owns_compound(c)) {
                owned += 1;
            } else {
                let styles_other = (0..site.elements.len()).any(|i| {
                    !site.elements[i].synthetic
                        && !self.instances.contains(&i)
                        && selector::matches(complex, &site.elements, i, State::Rest)
                });
                harmless &= !styles_other;
            }
        }
        (owned, parsed.len(), harmless)
    }

    /// Owned, and editing it changes nothing but the subject. For a resolved Target: one of
    /// its rules (shared ones included; the reason says what else they style).
    pub fn pure(&self, site: &Site<'_>, rule: usize) -> bool {
        if let Some(resolved) = &self.resolved_rules {
            return site
                .rules
                .get(rule)
                .is_some_and(|r| resolved.contains(&(site.files[r.source].path.clone(), r.line)));
        }
        let (owned, _, harmless) = self.ownership(site, rule);
        owned > 0 && harmless
    }

    /// Whether a rule only ever styles the root (`:root`, `html`, `body`, `*`): variables
    /// defined there are the whole site's, not one component's.
    pub fn is_root_rule(site: &Site<'_>, rule: usize) -> bool {
        site.parsed.get(rule).is_some_and(|list| {
            !list.is_empty()
                && list.iter().all(|c| {
                    c.as_ref().and_then(|c| c.subject()).is_some_and(|s| {
                        s.classes.is_empty()
                            && s.ids.is_empty()
                            && (s.tag.as_deref().is_none_or(|t| t == "html" || t == "body"))
                    })
                })
        })
    }

    /// Whether a custom property's name says it belongs to the subject (`--bs-btn-bg`).
    pub fn owns_variable(&self, name: &str) -> bool {
        name.trim_start_matches('-')
            .to_ascii_lowercase()
            .split(['-', '_'])
            .any(|segment| self.var_words.iter().any(|w| w == segment))
    }

    /// Whether the scope includes page-level subjects, whose variables live on `:root`.
    pub fn is_page_level(&self) -> bool {
        self.target.is_none()
            && self
                .kinds
                .iter()
                .any(|k| matches!(k, SubjectKind::Page | SubjectKind::Text))
    }

    /// A selector for a new rule styling `element`.
    pub fn selector_for(&self, site: &Site<'_>, element: usize) -> String {
        if let Some(target) = &self.target {
            return target.clone();
        }
        let Some(e) = site.elements.get(element) else {
            return String::new();
        };
        if self.tags.contains(&e.tag) {
            return e.tag.clone();
        }
        if let Some(class) = e
            .classes
            .iter()
            .find(|c| self.classes.contains(*c) || has_segment(c, &self.words))
        {
            return format!(".{class}");
        }
        if let Some(id) = &e.id {
            return format!("#{id}");
        }
        e.tag.clone()
    }
}
