//! "Use the design tokens" / 「トークンに合わせて」: every off-token colour, spacing, radius,
//! font size and family in the site's editable CSS becomes its nearest token's value, judged
//! as the drift report judges it. Custom properties are snapped by how they are used (a
//! `--gutter` in `padding` is a spacing); monospace stacks are kept unless the reference has
//! a monospace family.

use std::collections::{BTreeMap, BTreeSet};

use devflow_reference::tokens::font_families;

use crate::edits::{Edits, Note};
use devflow_reference::DriftKind;

use crate::properties::{property_kind, unprefixed};
use crate::site::Site;
use crate::subject::Scope;
use crate::tokens::{LengthRole, Tokens};
use crate::values::{
    components, font_shorthand_parts, px_in_unit, splice, to_px, Component, Piece, Place,
};

/// How many values were snapped, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SnapCounts {
    pub colors: usize,
    pub spacing: usize,
    pub radii: usize,
    pub font_sizes: usize,
    pub families: usize,
    /// Monospace families left alone.
    pub kept_monospace: usize,
    /// Of the snapped values, those that took the runner-up token (about as near as the
    /// nearest) rather than the nearest.
    pub runner_ups: usize,
}

impl SnapCounts {
    pub fn total(&self) -> usize {
        self.colors + self.spacing + self.radii + self.font_sizes + self.families
    }
}

/// Which token a kind of value snaps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SnapTo {
    /// Not snapped: left as it is.
    Leave,
    /// The nearest token.
    Nearest,
    /// The runner-up token when it is about as near as the nearest
    /// ([`crate::tokens::ABOUT_AS_NEAR`]), else the nearest.
    RunnerUp,
}

/// How a "match the reference" snap treats each kind of value: one candidate's recipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SnapChoice {
    pub colors: SnapTo,
    /// Spacings, radii and font sizes.
    pub lengths: SnapTo,
    /// Whether font families are snapped.
    pub families: bool,
}

impl SnapChoice {
    /// Every off-token value to its nearest token: the proposer's answer.
    pub const NEAREST: SnapChoice = SnapChoice {
        colors: SnapTo::Nearest,
        lengths: SnapTo::Nearest,
        families: true,
    };
}

fn var_names(comps: &[Component]) -> Vec<String> {
    comps
        .iter()
        .filter_map(|c| match &c.piece {
            Piece::Var { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

/// The design kinds each custom property is used as, directly or through other properties.
fn variable_usage(site: &Site<'_>) -> BTreeMap<String, BTreeSet<DriftKind>> {
    let mut usage: BTreeMap<String, BTreeSet<DriftKind>> = BTreeMap::new();
    let mut definitions: Vec<(String, Vec<String>)> = Vec::new();
    for rule in &site.rules {
        for decl in &rule.declarations {
            let comps = components(&decl.value);
            if decl.property.starts_with("--") {
                definitions.push((decl.property.clone(), var_names(&comps)));
                continue;
            }
            let property = unprefixed(&decl.property);
            if property == "font" {
                let (size, family) = font_shorthand_parts(&decl.value);
                for c in &comps {
                    if let Piece::Var { name, .. } = &c.piece {
                        let kind = if size.as_ref().is_some_and(|r| r.contains(&c.span.start)) {
                            DriftKind::FontSize
                        } else if family.as_ref().is_some_and(|r| r.contains(&c.span.start)) {
                            DriftKind::FontFamily
                        } else {
                            continue;
                        };
                        usage.entry(name.clone()).or_default().insert(kind);
                    }
                }
            } else if let Some(kind) = property_kind(property) {
                for name in var_names(&comps) {
                    usage.entry(name).or_default().insert(kind);
                }
            }
        }
    }
    // Through `--a: var(--b)` chains, to a fixpoint.
    for _ in 0..16 {
        let mut changed = false;
        for (name, refs) in &definitions {
            let Some(kinds) = usage.get(name).cloned() else {
                continue;
            };
            for r in refs {
                let entry = usage.entry(r.clone()).or_default();
                for k in &kinds {
                    changed |= entry.insert(*k);
                }
            }
        }
        if !changed {
            break;
        }
    }
    usage
}

fn is_heading_rule(site: &Site<'_>, rule: usize) -> bool {
    site.parsed[rule].iter().flatten().any(|c| {
        c.subject().is_some_and(|s| {
            s.tag
                .as_deref()
                .is_some_and(|t| matches!(t, "h1" | "h2" | "h3" | "h4" | "h5" | "h6"))
                || s.classes
                    .iter()
                    .any(|c| matches!(c.as_str(), "h1" | "h2" | "h3" | "h4" | "h5" | "h6"))
        })
    })
}

/// Snaps the site's off-token values (only the rules of `restrict`'s subjects when given).
pub(crate) fn snap(
    site: &Site<'_>,
    tokens: &Tokens,
    restrict: &[&Scope],
    as_variables: bool,
    choice: SnapChoice,
    edits: &mut Edits,
) -> SnapCounts {
    let usage = variable_usage(site);
    let mut counts = SnapCounts::default();
    // Custom property name → token value, when the values are written as `var()`s.
    let mut defined: BTreeMap<String, String> = BTreeMap::new();
    for (index, rule) in site.rules.iter().enumerate() {
        if !site.rule_editable(index) {
            continue;
        }
        if !restrict.is_empty() && !restrict.iter().any(|s| s.ownership(site, index).0 > 0) {
            continue;
        }
        let heading = is_heading_rule(site, index);
        for decl in &rule.declarations {
            let value = decl.value.as_str();
            let comps = components(value);
            let property = unprefixed(&decl.property).to_string();
            let mut replacements = Vec::new();
            let mut local = SnapCounts::default();
            let snap_lengths = |range: Option<std::ops::Range<usize>>,
                                role: LengthRole,
                                local: &mut SnapCounts,
                                replacements: &mut Vec<Snapped>| {
                if choice.lengths == SnapTo::Leave {
                    return;
                }
                for c in &comps {
                    if range
                        .as_ref()
                        .is_some_and(|r| !(r.start <= c.span.start && c.span.end <= r.end))
                    {
                        continue;
                    }
                    if let Piece::Length {
                        value: v,
                        unit,
                        place: Place::Plain,
                    } = &c.piece
                    {
                        let Some(px) = to_px(*v, unit) else {
                            continue;
                        };
                        if px == 0.0 {
                            continue;
                        }
                        let Some((token, on)) = tokens.nearest_length(role, px) else {
                            continue;
                        };
                        if on {
                            continue;
                        }
                        let token = match choice.lengths {
                            SnapTo::RunnerUp => match tokens.runner_up_length(role, px, token) {
                                Some(runner_up) => {
                                    local.runner_ups += 1;
                                    runner_up
                                }
                                None => token,
                            },
                            _ => token,
                        };
                        let unit = if unit == "pt" { "px" } else { unit.as_str() };
                        replacements.push(Snapped {
                            range: c.span.clone(),
                            literal: px_in_unit(token.px * v.signum(), unit),
                            token: token.path.clone(),
                            definition: px_in_unit(token.px, "px"),
                            as_variable: *v > 0.0,
                        });
                        match role {
                            LengthRole::Spacing => local.spacing += 1,
                            LengthRole::Radius => local.radii += 1,
                            LengthRole::FontSize => local.font_sizes += 1,
                        }
                    }
                }
            };
            let snap_colors = |property: &str,
                               local: &mut SnapCounts,
                               replacements: &mut Vec<Snapped>| {
                if choice.colors == SnapTo::Leave {
                    return;
                }
                for c in &comps {
                    if let Piece::Color(color) = &c.piece {
                        if color.a == 0.0 {
                            continue;
                        }
                        let Some((token, distance)) = tokens.nearest_color(*color, property) else {
                            continue;
                        };
                        if distance < devflow_reference::drift::COLOR_ON_TOKEN_DELTA_E {
                            continue;
                        }
                        let token = match choice.colors {
                            SnapTo::RunnerUp => match tokens.runner_up_color(*color, token) {
                                Some(runner_up) => {
                                    local.runner_ups += 1;
                                    runner_up
                                }
                                None => token,
                            },
                            _ => token,
                        };
                        replacements.push(Snapped {
                            range: c.span.clone(),
                            literal: token.value.clone(),
                            token: token.path.clone(),
                            definition: token.value.clone(),
                            as_variable: true,
                        });
                        local.colors += 1;
                    }
                }
            };
            let snap_family = |range: std::ops::Range<usize>,
                               local: &mut SnapCounts,
                               replacements: &mut Vec<Snapped>| {
                if !choice.families {
                    return;
                }
                let text = value.get(range.clone()).unwrap_or("").trim();
                if text.is_empty() || text.contains("var(") || tokens.families().is_empty() {
                    return;
                }
                let families: Vec<String> = font_families(text)
                    .iter()
                    .map(|f| f.to_lowercase())
                    .collect();
                let Some(first) = families.first() else {
                    return;
                };
                if matches!(
                    first.as_str(),
                    "inherit" | "initial" | "unset" | "revert" | "revert-layer"
                ) {
                    return;
                }
                if tokens
                    .families()
                    .iter()
                    .any(|t| t.families.first() == Some(first))
                {
                    return;
                }
                let monospace = families.iter().any(|f| f == "monospace");
                let token = if monospace {
                    tokens
                        .families()
                        .iter()
                        .find(|t| t.families.iter().any(|f| f == "monospace"))
                } else {
                    tokens
                        .families()
                        .iter()
                        .find(|t| t.families.contains(first))
                        .or_else(|| tokens.family_for(heading))
                };
                match token {
                    Some(token) => {
                        let start = range.start
                            + (value[range.clone()].len()
                                - value[range.clone()].trim_start().len());
                        replacements.push(Snapped {
                            range: start..start + text.len(),
                            literal: token.value.clone(),
                            token: token.path.clone(),
                            definition: token.value.clone(),
                            as_variable: true,
                        });
                        local.families += 1;
                    }
                    None => local.kept_monospace += 1,
                }
            };

            if decl.property.starts_with("--") {
                let kinds = usage.get(&decl.property).cloned().unwrap_or_default();
                if kinds.is_empty() || kinds.contains(&DriftKind::Color) {
                    snap_colors("", &mut local, &mut replacements);
                }
                let lengths: Vec<DriftKind> = kinds
                    .iter()
                    .copied()
                    .filter(|k| {
                        matches!(
                            k,
                            DriftKind::Spacing | DriftKind::Radius | DriftKind::FontSize
                        )
                    })
                    .collect();
                if let [kind] = lengths.as_slice() {
                    let role = match kind {
                        DriftKind::Spacing => LengthRole::Spacing,
                        DriftKind::Radius => LengthRole::Radius,
                        _ => LengthRole::FontSize,
                    };
                    snap_lengths(None, role, &mut local, &mut replacements);
                }
                if kinds.len() == 1 && kinds.contains(&DriftKind::FontFamily) {
                    snap_family(0..value.len(), &mut local, &mut replacements);
                }
            } else if property == "font" {
                let (size, family) = font_shorthand_parts(value);
                if let Some(size) = size {
                    snap_lengths(
                        Some(size),
                        LengthRole::FontSize,
                        &mut local,
                        &mut replacements,
                    );
                }
                if let Some(family) = family {
                    snap_family(family, &mut local, &mut replacements);
                }
            } else {
                match property_kind(&property) {
                    Some(DriftKind::Color) => snap_colors(&property, &mut local, &mut replacements),
                    Some(DriftKind::Spacing) => {
                        snap_lengths(None, LengthRole::Spacing, &mut local, &mut replacements)
                    }
                    Some(DriftKind::Radius) => {
                        snap_lengths(None, LengthRole::Radius, &mut local, &mut replacements)
                    }
                    Some(DriftKind::FontSize) => {
                        snap_lengths(None, LengthRole::FontSize, &mut local, &mut replacements)
                    }
                    Some(DriftKind::FontFamily) => {
                        snap_family(0..value.len(), &mut local, &mut replacements)
                    }
                    None => {}
                }
            }
            if replacements.is_empty() {
                counts.kept_monospace += local.kept_monospace;
                continue;
            }
            let replacements = replacements
                .into_iter()
                .map(|r| {
                    if as_variables && r.as_variable {
                        let name = variable_name(&r.token);
                        let text = format!("var({name})");
                        defined.insert(name, r.definition);
                        (r.range, text)
                    } else {
                        (r.range, r.literal)
                    }
                })
                .collect();
            let new_value = splice(value, replacements);
            let note = Note {
                file: site.files[rule.source].path.clone(),
                line: decl.line,
                selector: if rule.is_attribute() {
                    "style=\"…\"".into()
                } else {
                    rule.selector_text.clone()
                },
                property: decl.property.clone(),
                before: Some(decl.value.clone()),
                after: new_value.clone(),
                token: None,
            };
            if edits.replace(rule.source, decl.value_span.clone(), new_value, note) {
                counts.colors += local.colors;
                counts.spacing += local.spacing;
                counts.radii += local.radii;
                counts.font_sizes += local.font_sizes;
                counts.families += local.families;
                counts.kept_monospace += local.kept_monospace;
                counts.runner_ups += local.runner_ups;
            }
        }
    }
    if !defined.is_empty() {
        define_variables(site, &defined, edits);
    }
    counts
}

/// One value to snap: where, the token's value as written there, and the token.
struct Snapped {
    range: std::ops::Range<usize>,
    literal: String,
    token: String,
    /// The token's value for a custom property definition.
    definition: String,
    /// Negative lengths stay literal (`-1rem` is not a `var()`).
    as_variable: bool,
}

/// `color.brand.primary` → `--color-brand-primary`.
fn variable_name(path: &str) -> String {
    let body: String = path
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("--{body}")
}

/// Defines the token variables on `:root` of the main stylesheet (its own `:root` rule when
/// it has one).
fn define_variables(site: &Site<'_>, defined: &BTreeMap<String, String>, edits: &mut Edits) {
    let main = site.main_stylesheet;
    let root_rule = site.rules.iter().position(|r| {
        Some(r.source) == main && r.conditions.is_empty() && r.selector_text.trim() == ":root"
    });
    for (name, value) in defined {
        let note = |file: usize, line: u32, selector: &str| Note {
            file: site.files[file].path.clone(),
            line,
            selector: selector.to_string(),
            property: name.clone(),
            before: None,
            after: value.clone(),
            token: None,
        };
        match (root_rule, main) {
            (Some(rule), _) => {
                let r = &site.rules[rule];
                edits.add_declaration(rule, name, value.clone(), note(r.source, r.line, ":root"));
            }
            (None, Some(file)) => {
                let line = site.files[file].text.lines().count() as u32 + 1;
                edits.add_rule(
                    file,
                    None,
                    ":root",
                    name,
                    value.clone(),
                    note(file, line, ":root"),
                );
            }
            (None, None) => {
                if let Some((file, range, _)) = site.markup.style_blocks.first() {
                    edits.add_rule(
                        *file,
                        Some(range.end),
                        ":root",
                        name,
                        value.clone(),
                        note(*file, 0, ":root"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devflow_reference::SourceFile;

    #[test]
    fn variables_take_the_kinds_of_the_properties_that_use_them() {
        let files = vec![SourceFile::new(
            "a.css",
            ":root { --gutter: 12px; --pad: var(--gutter); --ink: #333; --face: Georgia }\n\
             .a { padding: var(--pad); color: var(--ink); font: 1rem/1.2 var(--face) }",
        )];
        let site = Site::new(&files);
        let usage = variable_usage(&site);
        let kinds = |name: &str| {
            usage
                .get(name)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .collect::<Vec<_>>()
        };
        assert_eq!(kinds("--pad"), [DriftKind::Spacing]);
        assert_eq!(kinds("--gutter"), [DriftKind::Spacing]);
        assert_eq!(kinds("--ink"), [DriftKind::Color]);
        assert_eq!(kinds("--face"), [DriftKind::FontFamily]);
        assert_eq!(
            variable_name("color.brand.primary"),
            "--color-brand-primary"
        );
    }
}
