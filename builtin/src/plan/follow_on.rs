//! What follows a new background so the result stays coherent: the old colour's other uses
//! in the component's own rules (border, disabled, hover and active variants), a border that
//! matched the old background, and text that would become hard to read on the new one.

use devflow_reference::color::{ciede2000, Rgba};

use super::{Pick, Planner, Touched, ValueOp};
use crate::properties::Aspect;
use crate::selector::State;
use crate::subject::Scope;
use crate::values::{self, components, Piece};

impl Planner<'_> {
    /// After a new background: the old colour's other uses in the same rules (border,
    /// disabled and hover variants), and text that would become hard to read.
    pub(super) fn after_background(
        &mut self,
        scope: &Scope,
        touched: &[Touched],
        pick: &Pick,
    ) -> (Option<Pick>, Option<Pick>) {
        let Some(new) = pick.rgba() else {
            return (None, None);
        };
        let hover = match pick.token.as_deref().and_then(|t| self.tokens.hover_of(t)) {
            Some(t) => Pick {
                css: t.value.clone(),
                token: Some(t.path.clone()),
            },
            None => Pick::literal(values::hover_shade(new).to_hex()),
        };
        // The old colour's other uses in the component's own rules; never in the page's root
        // rule, whose variables (`--bs-white`) the whole site shares.
        let rules: Vec<usize> = if scope.is_page_level() {
            Vec::new()
        } else {
            self.touched_rules
                .iter()
                .copied()
                .filter(|&r| !Scope::is_root_rule(&self.site, r))
                .collect()
        };
        let olds: Vec<Rgba> = touched
            .iter()
            .filter_map(|t| t.before.as_deref())
            .filter_map(|b| {
                components(b).into_iter().find_map(|c| match c.piece {
                    Piece::Color(c) if c.a > 0.0 => Some(c),
                    _ => None,
                })
            })
            .collect();
        let mut hovered = false;
        for old in &olds {
            let old_lab = old.to_lab();
            for &rule in &rules {
                let decls = self.site.rules[rule].declarations.clone();
                for (d, decl) in decls.iter().enumerate() {
                    let source = self.site.rules[rule].source;
                    if self.edits.touches(source, &decl.value_span) {
                        continue;
                    }
                    let is_color = decl.property.starts_with("--")
                        || crate::properties::property_kind(&decl.property)
                            == Some(devflow_reference::DriftKind::Color);
                    if !is_color {
                        continue;
                    }
                    let state = ["hover", "active", "focus"]
                        .iter()
                        .any(|w| decl.property.contains(w));
                    let mut replacements = Vec::new();
                    let mut token = None;
                    for c in components(&decl.value) {
                        if let Piece::Color(color) = c.piece {
                            let distance = ciede2000(old_lab, color.to_lab());
                            if distance < 1.0 && (color.a - old.a).abs() < 0.01 && !state {
                                replacements.push((c.span.clone(), pick.css.clone()));
                                token = pick.token.clone();
                            } else if state && distance < 15.0 && (color.a - old.a).abs() < 0.01 {
                                replacements.push((c.span.clone(), hover.css.clone()));
                                token = hover.token.clone();
                                hovered = true;
                            }
                        }
                    }
                    if !replacements.is_empty() {
                        self.edit_value(rule, d, replacements, token);
                    }
                }
            }
        }
        let hover = hovered.then_some(hover);
        // A background added as a new declaration: its border still has the old colour.
        for t in touched.iter().filter(|t| t.added) {
            let Some(old) = t.before.as_deref().and_then(|b| {
                components(b).into_iter().find_map(|c| match c.piece {
                    Piece::Color(c) => Some(c),
                    _ => None,
                })
            }) else {
                continue;
            };
            let border = self
                .site
                .winners(t.element, Aspect::BorderColor, State::Rest)
                .into_iter()
                .filter(|w| w.context.is_empty())
                .find_map(|w| self.current(t.element, &w))
                .and_then(|v| {
                    components(&v).into_iter().find_map(|c| match c.piece {
                        Piece::Color(c) => Some(c),
                        _ => None,
                    })
                });
            if border.is_some_and(|b| ciede2000(b.to_lab(), old.to_lab()) < 1.0) {
                let single = scope.narrowed(t.element);
                self.change(&single, Aspect::BorderColor, &ValueOp::Set(pick.clone()));
            }
        }
        // Readable text on the new background.
        let mut fixed: Option<Pick> = None;
        for t in touched {
            let text = self.effective_color(t.element);
            if values::contrast(text, new) >= 4.5 {
                continue;
            }
            let choice = pick
                .token
                .as_deref()
                .and_then(|p| self.tokens.on_color(p))
                .filter(|t| values::contrast(t.rgba, new) >= 4.5)
                .or_else(|| {
                    self.tokens
                        .text_colors_for(new)
                        .into_iter()
                        .next()
                        .filter(|t| values::contrast(t.rgba, new) >= 4.5)
                })
                .map(|t| Pick {
                    css: t.value.clone(),
                    token: Some(t.path.clone()),
                })
                .unwrap_or_else(|| {
                    let white = Rgba::new(255.0, 255.0, 255.0, 1.0);
                    let ink = Rgba::new(17.0, 17.0, 17.0, 1.0);
                    Pick::literal(
                        if values::contrast(white, new) >= values::contrast(ink, new) {
                            "#ffffff"
                        } else {
                            "#111111"
                        },
                    )
                });
            let single = scope.narrowed(t.element);
            self.change(&single, Aspect::Color, &ValueOp::Set(choice.clone()));
            fixed = Some(choice);
        }
        (fixed, hover)
    }

    /// The text colour an element shows: its own winner, else its nearest ancestor's, else
    /// the browser's black.
    pub(super) fn effective_color(&self, element: usize) -> Rgba {
        let mut at = Some(element);
        let mut guard = 0;
        while let Some(e) = at {
            let value = self
                .site
                .winners(e, Aspect::Color, State::Rest)
                .into_iter()
                .filter(|w| w.context.is_empty())
                .find_map(|w| self.current(e, &w));
            if let Some(color) = value.and_then(|v| {
                components(&v).into_iter().find_map(|c| match c.piece {
                    Piece::Color(c) => Some(c),
                    _ => None,
                })
            }) {
                return color;
            }
            guard += 1;
            if guard > 256 {
                break;
            }
            at = self.site.elements.get(e).and_then(|x| x.parent);
        }
        Rgba::new(0.0, 0.0, 0.0, 1.0)
    }
}
