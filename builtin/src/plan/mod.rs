//! From an understood instruction to a proposal: chooses the scopes (the Target, or each
//! subject, with defaults when none is named), picks the value (a token, a literal, a step
//! of a scale), applies it (`apply`) with its follow-on changes (`follow_on`), and renders
//! the edits as the diff, the reason and the confidence.

use std::collections::BTreeSet;

use devflow_protocol::Proposal;
use devflow_reference::color::{parse_color_str, Rgba};

use crate::answer::{self, Action, NotUnderstood};
use crate::edits::{unified_diff, Edits};
use crate::intent::{
    self, Amount, Change, ColorChoice, ColorRole, Direction, FamilyChoice, Intent, RadiusChange,
    SpacingKind, SubjectKind,
};
use crate::properties::Aspect;
use crate::site::{FileKind, Site};
use crate::snap;
use crate::subject::Scope;
use crate::tokens::{LengthRole, Tokens};
use crate::values::px_in_unit;
use crate::DesignRequest;

mod apply;
mod follow_on;

/// A value to write, and the token it comes from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pick {
    pub css: String,
    pub token: Option<String>,
}

impl Pick {
    fn literal(css: impl Into<String>) -> Self {
        Pick {
            css: css.into(),
            token: None,
        }
    }

    fn rgba(&self) -> Option<Rgba> {
        parse_color_str(&self.css)
    }
}

/// How a declaration's value changes.
#[derive(Debug, Clone, PartialEq)]
enum ValueOp {
    Set(Pick),
    /// Multiply lengths (or step through the token scale).
    Scale {
        up: bool,
        factor: f64,
        steps: usize,
        role: LengthRole,
    },
    /// Round corners: like `Scale` up, but a square corner gets the scale's middle radius.
    Round {
        factor: f64,
        steps: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Changed,
    /// Already so, or deliberately left (a transparent background).
    Same,
    /// Nothing in this declaration can take the change.
    NotApplicable,
}

/// An element whose value was changed, with what it was before.
#[derive(Debug, Clone)]
struct Touched {
    element: usize,
    before: Option<String>,
    /// Changed by adding a declaration rather than by editing one.
    added: bool,
}

struct Planner<'a> {
    site: Site<'a>,
    tokens: Tokens,
    edits: Edits,
    /// Rules edited during the current change.
    touched_rules: BTreeSet<usize>,
    /// Things that lower the confidence.
    doubts: f64,
    /// For "match the reference": which token each kind of value snaps to.
    snap_choice: snap::SnapChoice,
}

pub(crate) fn propose(request: &DesignRequest) -> Result<Proposal, NotUnderstood> {
    propose_with(request, snap::SnapChoice::NEAREST)
}

/// [`propose`], with a "match the reference" instruction snapped as `snap_choice` says
/// (other instructions do not read it).
pub(crate) fn propose_with(
    request: &DesignRequest,
    snap_choice: snap::SnapChoice,
) -> Result<Proposal, NotUnderstood> {
    let intent = intent::read(&request.instruction)
        .map_err(|partial| answer::unrecognised(&request.instruction, &partial, &request.tokens))?;
    let picked = request
        .target
        .as_ref()
        .is_some_and(|t| !t.selector.trim().is_empty());
    if intent.deictic && !picked {
        return Err(answer::no_target(&request.instruction, intent.lang));
    }
    let site = Site::new(&request.files);
    let has_stylesheet = site
        .kinds
        .iter()
        .any(|k| matches!(k, FileKind::Css { editable: true }))
        || !site.markup.style_blocks.is_empty();
    if !has_stylesheet {
        return Err(answer::no_stylesheet(&request.instruction, intent.lang));
    }
    let mut planner = Planner {
        site,
        tokens: Tokens::new(&request.tokens),
        edits: Edits::default(),
        touched_rules: BTreeSet::new(),
        doubts: 0.0,
        snap_choice,
    };
    let actions = planner.run(&intent, request)?;
    if planner.edits.is_empty() {
        return Err(answer::nothing_to_change(
            &request.instruction,
            intent.lang,
            &actions,
        ));
    }
    let rendered = planner.edits.render(&planner.site);
    let mut files_to_edit = Vec::new();
    let mut diff = String::new();
    for (file, new_text) in &rendered {
        let Some(f) = planner.site.files.get(*file) else {
            continue;
        };
        files_to_edit.push(f.path.clone());
        diff.push_str(&unified_diff(&f.path, &f.text, new_text));
    }
    let added = planner
        .edits
        .notes
        .iter()
        .filter(|n| n.before.is_none())
        .count();
    let confidence = (0.92 - planner.doubts - if added > 0 { 0.05 } else { 0.0 }).clamp(0.3, 0.95);
    let mut reason = answer::reason(intent.lang, &actions, &planner.edits.notes);
    for rule in shared_rules_edited(request, &planner.edits.notes) {
        reason.push_str(&answer::shared_rule_note(
            intent.lang,
            &rule.selector,
            &rule.file,
            rule.line,
            rule.shared_with,
        ));
    }
    Ok(Proposal {
        files_to_edit,
        unified_diff: diff,
        reason,
        confidence: (confidence * 100.0).round() / 100.0,
    })
}

/// The target's resolved rules that an edit touched and that style other elements too.
fn shared_rules_edited<'r>(
    request: &'r DesignRequest,
    notes: &[crate::edits::Note],
) -> Vec<&'r devflow_protocol::TargetRule> {
    let compact = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let Some(target) = &request.target else {
        return Vec::new();
    };
    target
        .rules
        .iter()
        .filter(|rule| rule.shared_with > 0)
        .filter(|rule| {
            notes.iter().any(|n| {
                n.before.is_some()
                    && n.file == rule.file
                    && compact(&n.selector) == compact(&rule.selector)
            })
        })
        .collect()
}

fn factor(amount: Amount, slight: f64, normal: f64, strong: f64) -> f64 {
    match amount {
        Amount::Slight => slight,
        Amount::Normal => normal,
        Amount::Strong => strong,
    }
}

fn steps(amount: Amount) -> usize {
    if amount == Amount::Strong {
        2
    } else {
        1
    }
}

/// The subject kind a pointed-at element is, for choosing defaults.
fn kind_of_element(site: &Site<'_>, element: usize) -> SubjectKind {
    let Some(e) = site.elements.get(element) else {
        return SubjectKind::Content;
    };
    let has = |word: &str| {
        e.classes
            .iter()
            .any(|c| c.to_ascii_lowercase().split(['-', '_']).any(|s| s == word))
    };
    match e.tag.as_str() {
        "button" => SubjectKind::Buttons,
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => SubjectKind::Headings,
        "a" if has("btn") => SubjectKind::Buttons,
        "a" => SubjectKind::Links,
        "html" | "body" => SubjectKind::Page,
        "p" | "span" | "li" | "label" => SubjectKind::Text,
        "code" | "pre" => SubjectKind::Code,
        "nav" | "header" => SubjectKind::Nav,
        "input" | "textarea" | "select" => SubjectKind::Inputs,
        _ if has("btn") || has("button") => SubjectKind::Buttons,
        _ if has("card") => SubjectKind::Cards,
        _ => SubjectKind::Content,
    }
}

fn default_color_role(kind: SubjectKind) -> ColorRole {
    match kind {
        SubjectKind::Headings | SubjectKind::Links | SubjectKind::Text | SubjectKind::Code => {
            ColorRole::Text
        }
        _ => ColorRole::Background,
    }
}

fn color_family(role: ColorRole) -> Aspect {
    match role {
        ColorRole::Text => Aspect::Color,
        ColorRole::Background => Aspect::BackgroundColor,
        ColorRole::Border => Aspect::BorderColor,
    }
}

impl Planner<'_> {
    fn run(
        &mut self,
        intent: &Intent,
        request: &DesignRequest,
    ) -> Result<Vec<Action>, NotUnderstood> {
        let lang = intent.lang;
        // The scopes to work on: the Target, or each subject (with defaults per change).
        let mut scopes: Vec<(SubjectKind, Scope)> = Vec::new();
        if let Some(target) = request
            .target
            .as_ref()
            .filter(|t| !t.selector.trim().is_empty())
        {
            let page = target
                .page_url
                .as_deref()
                .and_then(|url| self.page_of_url(url));
            let mut scope = Scope::of_target(&mut self.site, &target.selector, page);
            // Resolved by the daemon: only these rules are the target's to edit.
            if !target.rules.is_empty() {
                scope.resolved_rules = Some(
                    target
                        .rules
                        .iter()
                        .map(|r| (r.file.clone(), r.line))
                        .collect(),
                );
            }
            if scope
                .instances
                .iter()
                .all(|&i| self.site.elements[i].synthetic)
            {
                self.doubts += 0.15;
            }
            let kind = intent
                .subjects
                .first()
                .copied()
                .or_else(|| {
                    scope
                        .instances
                        .first()
                        .map(|&i| kind_of_element(&self.site, i))
                })
                .unwrap_or(SubjectKind::Content);
            scopes.push((kind, scope));
        } else {
            let mut kinds = intent.subjects.clone();
            if kinds.is_empty() {
                kinds = match &intent.change {
                    Change::Snap => Vec::new(),
                    Change::Color {
                        role: Some(ColorRole::Background),
                        ..
                    }
                    | Change::Color {
                        choice: ColorChoice::Dark | ColorChoice::Light,
                        role: None,
                    } => {
                        vec![SubjectKind::Page]
                    }
                    Change::Color {
                        role: Some(ColorRole::Text),
                        ..
                    } => vec![SubjectKind::Text],
                    Change::Color { .. } => {
                        self.doubts += 0.2;
                        vec![SubjectKind::Buttons, SubjectKind::Links]
                    }
                    Change::Size { .. } | Change::Weight { .. } => vec![SubjectKind::Text],
                    Change::Spacing { .. } => {
                        self.doubts += 0.1;
                        vec![SubjectKind::Content]
                    }
                    Change::Radius(_) => {
                        self.doubts += 0.1;
                        vec![
                            SubjectKind::Buttons,
                            SubjectKind::Cards,
                            SubjectKind::Inputs,
                        ]
                    }
                    Change::Family(_) => vec![SubjectKind::Text, SubjectKind::Headings],
                };
            }
            let guessed = intent.subjects.is_empty() && kinds.len() > 1;
            for kind in kinds {
                let scope = Scope::of_subjects(&mut self.site, &[kind], intent.heading_level);
                scopes.push((kind, scope));
            }
            // Guessed subjects the page does not show are left out when others are there.
            if guessed {
                let shown = |s: &Scope, site: &Site<'_>| {
                    s.instances.iter().any(|&i| !site.elements[i].synthetic)
                };
                if scopes.iter().any(|(_, s)| shown(s, &self.site)) {
                    let site = &self.site;
                    scopes.retain(|(_, s)| shown(s, site));
                } else {
                    scopes.truncate(1);
                }
            }
        }

        if intent.change == Change::Snap {
            if self.tokens.is_empty() {
                return Err(answer::no_tokens(&request.instruction, lang));
            }
            let restrict: Vec<&Scope> = scopes.iter().map(|(_, s)| s).collect();
            let counts = snap::snap(
                &self.site,
                &self.tokens,
                &restrict,
                intent.as_variables,
                self.snap_choice,
                &mut self.edits,
            );
            return Ok(vec![Action::Snap {
                subjects: scopes.iter().map(|(k, _)| *k).collect(),
                counts,
                as_variables: intent.as_variables,
                choice: self.snap_choice,
            }]);
        }

        let mut actions = Vec::new();
        for (kind, scope) in &scopes {
            let kind = *kind;
            let subject = if scope.target.is_some() {
                answer::Subject::Target(scope.target.clone().unwrap_or_default())
            } else {
                answer::Subject::Kind(kind)
            };
            match &intent.change {
                Change::Color { role, choice } => {
                    let role = role.unwrap_or_else(|| default_color_role(kind));
                    let aspect = color_family(role);
                    let pick = self.color_pick(choice, role, intent, request)?;
                    let touched = self.change(scope, aspect, &ValueOp::Set(pick.clone()));
                    let (contrast, hover) = if aspect == Aspect::BackgroundColor {
                        self.after_background(scope, &touched, &pick)
                    } else {
                        (None, None)
                    };
                    actions.push(Action::Set {
                        subject,
                        picks: vec![(aspect, pick)],
                        hover,
                        contrast,
                    });
                }
                Change::Size {
                    direction,
                    amount,
                    exact,
                } => {
                    let up = *direction == Direction::Up;
                    if let Some(exact) = exact {
                        self.change(
                            scope,
                            Aspect::FontSize,
                            &ValueOp::Set(Pick::literal(exact.clone())),
                        );
                        actions.push(Action::Set {
                            subject,
                            picks: vec![(Aspect::FontSize, Pick::literal(exact.clone()))],
                            hover: None,
                            contrast: None,
                        });
                        continue;
                    }
                    if self.tokens.lengths(LengthRole::FontSize).is_empty() {
                        self.doubts += 0.05;
                    }
                    let op = ValueOp::Scale {
                        up,
                        factor: if up {
                            factor(*amount, 1.1, 1.25, 1.5)
                        } else {
                            factor(*amount, 0.9, 0.8, 0.67)
                        },
                        steps: steps(*amount),
                        role: LengthRole::FontSize,
                    };
                    self.change(scope, Aspect::FontSize, &op);
                    let mut aspects = vec![Aspect::FontSize];
                    if kind == SubjectKind::Buttons && scope.target.is_none() {
                        let op = ValueOp::Scale {
                            up,
                            factor: if up {
                                factor(*amount, 1.15, 1.25, 1.5)
                            } else {
                                factor(*amount, 0.85, 0.8, 0.67)
                            },
                            steps: steps(*amount),
                            role: LengthRole::Spacing,
                        };
                        self.change(scope, Aspect::Padding, &op);
                        aspects.push(Aspect::Padding);
                    }
                    actions.push(Action::Scale {
                        subject,
                        aspects,
                        up,
                    });
                }
                Change::Spacing {
                    kind: which,
                    direction,
                    amount,
                    exact,
                } => {
                    let aspects: Vec<Aspect> = match which {
                        Some(SpacingKind::Padding) => vec![Aspect::Padding],
                        Some(SpacingKind::Margin) => vec![Aspect::Margin],
                        Some(SpacingKind::Gap) => vec![Aspect::Gap],
                        None => match kind {
                            SubjectKind::Headings | SubjectKind::Text | SubjectKind::Links => {
                                vec![Aspect::Margin]
                            }
                            SubjectKind::Content | SubjectKind::Page => {
                                vec![Aspect::Padding, Aspect::Gap]
                            }
                            _ => vec![Aspect::Padding],
                        },
                    };
                    // "More spacing" on the page means its content containers.
                    let content_scope;
                    let scope = if kind == SubjectKind::Page && scope.target.is_none() {
                        content_scope =
                            Scope::of_subjects(&mut self.site, &[SubjectKind::Content], None);
                        &content_scope
                    } else {
                        scope
                    };
                    let up = *direction == Direction::Up;
                    for &aspect in &aspects {
                        let op = match exact {
                            Some(exact) => ValueOp::Set(Pick::literal(exact.clone())),
                            None => ValueOp::Scale {
                                up,
                                factor: if up {
                                    factor(*amount, 1.25, 1.5, 2.0)
                                } else {
                                    factor(*amount, 0.8, 0.67, 0.5)
                                },
                                steps: steps(*amount),
                                role: LengthRole::Spacing,
                            },
                        };
                        self.change(scope, aspect, &op);
                    }
                    match exact {
                        Some(exact) => actions.push(Action::Set {
                            subject,
                            picks: aspects
                                .iter()
                                .map(|f| (*f, Pick::literal(exact.clone())))
                                .collect(),
                            hover: None,
                            contrast: None,
                        }),
                        None => actions.push(Action::Scale {
                            subject,
                            aspects,
                            up,
                        }),
                    }
                }
                Change::Radius(change) => {
                    let (op, up) = match change {
                        RadiusChange::Square => (ValueOp::Set(Pick::literal("0")), false),
                        RadiusChange::Pill => {
                            let pick = match self.tokens.pill() {
                                Some(px) => Pick {
                                    css: px_in_unit(px, "px"),
                                    token: self.tokens.path_at(LengthRole::Radius, px),
                                },
                                None => Pick::literal("9999px"),
                            };
                            (ValueOp::Set(pick), true)
                        }
                        RadiusChange::Exact(exact) => {
                            (ValueOp::Set(Pick::literal(exact.clone())), true)
                        }
                        RadiusChange::Round(amount) => (
                            ValueOp::Round {
                                factor: factor(*amount, 1.25, 1.5, 2.0),
                                steps: steps(*amount),
                            },
                            true,
                        ),
                        RadiusChange::Less(amount) => (
                            ValueOp::Scale {
                                up: false,
                                factor: factor(*amount, 0.8, 0.67, 0.5),
                                steps: steps(*amount),
                                role: LengthRole::Radius,
                            },
                            false,
                        ),
                    };
                    self.change(scope, Aspect::Radius, &op);
                    match op {
                        ValueOp::Set(pick) => actions.push(Action::Set {
                            subject,
                            picks: vec![(Aspect::Radius, pick)],
                            hover: None,
                            contrast: None,
                        }),
                        _ => actions.push(Action::Scale {
                            subject,
                            aspects: vec![Aspect::Radius],
                            up,
                        }),
                    }
                }
                Change::Family(choice) => {
                    let pick = self.family_pick(choice, kind, intent, request)?;
                    self.change(scope, Aspect::FontFamily, &ValueOp::Set(pick.clone()));
                    actions.push(Action::Set {
                        subject,
                        picks: vec![(Aspect::FontFamily, pick)],
                        hover: None,
                        contrast: None,
                    });
                }
                Change::Weight { bold } => {
                    let pick = match self.tokens.weight(*bold) {
                        Some(t) => Pick {
                            css: t.value.clone(),
                            token: Some(t.path.clone()),
                        },
                        None => Pick::literal(if *bold { "700" } else { "400" }),
                    };
                    self.change(scope, Aspect::FontWeight, &ValueOp::Set(pick.clone()));
                    actions.push(Action::Set {
                        subject,
                        picks: vec![(Aspect::FontWeight, pick)],
                        hover: None,
                        contrast: None,
                    });
                }
                Change::Snap => {}
            }
        }
        Ok(actions)
    }

    /// The HTML page a preview URL shows (`http://127.0.0.1:5173/about.html` → `about.html`,
    /// `/` → `index.html`).
    fn page_of_url(&self, url: &str) -> Option<usize> {
        let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
        let path = if url.contains("://") {
            without_scheme
                .find('/')
                .map_or("", |i| &without_scheme[i..])
        } else {
            without_scheme
        };
        let path = path
            .split(['?', '#'])
            .next()
            .unwrap_or("")
            .trim_start_matches('/');
        let wanted = if path.is_empty() || path.ends_with('/') {
            format!("{path}index.html")
        } else {
            path.to_string()
        };
        let candidates = [
            wanted.clone(),
            format!("{wanted}.html"),
            format!("{wanted}/index.html"),
        ];
        self.site.files.iter().enumerate().find_map(|(i, f)| {
            (matches!(self.site.kinds[i], FileKind::Html { .. }) && candidates.contains(&f.path))
                .then_some(i)
        })
    }

    /// The colour an instruction asks for, as CSS and token.
    fn color_pick(
        &mut self,
        choice: &ColorChoice,
        role: ColorRole,
        intent: &Intent,
        request: &DesignRequest,
    ) -> Result<Pick, NotUnderstood> {
        let from_token = |t: &crate::tokens::ColorToken| Pick {
            css: t.value.clone(),
            token: Some(t.path.clone()),
        };
        Ok(match choice {
            ColorChoice::Literal(css) => {
                let token = parse_color_str(css).and_then(|c| {
                    self.tokens
                        .nearest_color(c, "")
                        .filter(|(_, d)| *d < 1.0)
                        .map(|(t, _)| t.path.clone())
                });
                Pick {
                    css: css.clone(),
                    token,
                }
            }
            ColorChoice::Named(name) => match self.tokens.color_named(std::slice::from_ref(name)) {
                Some(t) => from_token(t),
                None => Pick::literal(name.clone()),
            },
            ColorChoice::Words => {
                if let Some(t) = self.tokens.color_named(&intent.words) {
                    from_token(t)
                } else if let Some(css) = prompt_color(&request.prompt) {
                    self.doubts += 0.1;
                    Pick::literal(css)
                } else {
                    return Err(answer::unknown_color(
                        &request.instruction,
                        intent.lang,
                        &request.tokens,
                    ));
                }
            }
            ColorChoice::Dark | ColorChoice::Light => {
                let dark = *choice == ColorChoice::Dark;
                let (hints, avoid): (&[&str], &[&str]) = match role {
                    ColorRole::Background => (
                        &["background", "surface", "bg"],
                        &["text", "on", "foreground"],
                    ),
                    ColorRole::Text => (&["text", "foreground", "on"], &["background", "surface"]),
                    ColorRole::Border => (&["border", "divider"], &[]),
                };
                match self.tokens.extreme_color(dark, hints, avoid) {
                    Some(t) => from_token(t),
                    None => {
                        self.doubts += 0.1;
                        Pick::literal(match (dark, role) {
                            (true, ColorRole::Background) => "#111827",
                            (true, _) => "#111111",
                            (false, ColorRole::Background) => "#ffffff",
                            (false, _) => "#f9fafb",
                        })
                    }
                }
            }
        })
    }

    /// The font family an instruction asks for, for one kind of element.
    fn family_pick(
        &mut self,
        choice: &FamilyChoice,
        kind: SubjectKind,
        intent: &Intent,
        request: &DesignRequest,
    ) -> Result<Pick, NotUnderstood> {
        let heading = kind == SubjectKind::Headings;
        let from_token = |t: &crate::tokens::FamilyToken| Pick {
            css: t.value.clone(),
            token: Some(t.path.clone()),
        };
        Ok(match choice {
            FamilyChoice::Literal(name) => {
                let lower = name.to_ascii_lowercase();
                let generic = if lower.contains("mono") || lower.contains("code") {
                    "monospace"
                } else if lower.contains("serif") && !lower.contains("sans")
                    || lower.contains("mincho")
                {
                    "serif"
                } else {
                    "sans-serif"
                };
                Pick::literal(format!("\"{name}\", {generic}"))
            }
            FamilyChoice::Generic(generic) => {
                let word = match *generic {
                    "sans-serif" => "sans",
                    "monospace" => "mono",
                    other => other,
                };
                match self
                    .tokens
                    .families()
                    .iter()
                    .find(|t| {
                        t.path.to_ascii_lowercase().split(['.', '-', '_']).any(|s| s == word)
                            || t.families.last().map(String::as_str) == Some(*generic)
                    }) {
                    Some(t) => from_token(t),
                    None => Pick::literal(match *generic {
                        "serif" => "Georgia, \"Times New Roman\", serif",
                        "monospace" => "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
                        "system-ui" => "system-ui, -apple-system, \"Segoe UI\", Roboto, sans-serif",
                        _ => "system-ui, -apple-system, \"Segoe UI\", Roboto, \"Helvetica Neue\", Arial, sans-serif",
                    }),
                }
            }
            FamilyChoice::Words => {
                let subject_words = ["heading", "body", "text", "button", "link"];
                let words: Vec<String> = intent
                    .words
                    .iter()
                    .filter(|w| !subject_words.contains(&w.as_str()) && w.as_str() != "font")
                    .cloned()
                    .collect();
                match self
                    .tokens
                    .family_named(&words)
                    .or_else(|| self.tokens.family_for(heading))
                {
                    Some(t) => from_token(t),
                    None => return Err(answer::no_font_tokens(&request.instruction, intent.lang)),
                }
            }
        })
    }
}

/// A colour the session prompt names (`brand colour #ff6600`).
fn prompt_color(prompt: &str) -> Option<String> {
    let text = intent::normalize(prompt);
    text.match_indices('#').find_map(|(at, _)| {
        let hex: String = text[at + 1..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect();
        let literal = format!("#{hex}");
        (matches!(hex.len(), 3 | 6 | 8) && parse_color_str(&literal).is_some()).then_some(literal)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_brand_colour_from_the_session_prompt() {
        assert_eq!(
            prompt_color("Brand colour: ＃FF6600, calm layout"),
            Some("#ff6600".into())
        );
        assert_eq!(prompt_color("issue #12 says keep it calm"), None);
        assert_eq!(prompt_color(""), None);
    }

    #[test]
    fn factors_and_steps_follow_the_amount() {
        assert_eq!(factor(Amount::Slight, 1.1, 1.25, 1.5), 1.1);
        assert_eq!(steps(Amount::Strong), 2);
        assert_eq!(
            default_color_role(SubjectKind::Buttons),
            ColorRole::Background
        );
        assert_eq!(default_color_role(SubjectKind::Headings), ColorRole::Text);
    }
}
