//! The reference side of drift: which tokens a colour, font size, spacing, radius or family
//! can be matched against, and the nearest one with its distance.
//!
//! Dimension tokens are split by role from their path (`space.*`, `radius.*`, `font.size.*`)
//! so a padding is never "on-token" because it equals a radius; a role with no tokens of its
//! own falls back to the dimension tokens that have no recognised role.

use devflow_protocol::ResolvedToken;

use super::extract::Found;
use super::DriftKind;
use crate::color::{ciede2000, parse_color_str, Lab};
use crate::tokens::font_families;
use crate::units::Dimension;

/// Colours closer than this (CIEDE2000, alpha penalty included) are on-token.
pub const COLOR_ON_TOKEN_DELTA_E: f64 = 1.0;
/// Lengths within this many px of a token are on-token.
pub const LENGTH_ON_TOKEN_PX: f64 = 0.5;
/// One percent of opacity difference costs as much as one ΔE.
const ALPHA_PENALTY: f64 = 100.0;

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Match {
    pub token: String,
    pub distance: f64,
    pub on_token: bool,
}

#[derive(Debug)]
struct ColorToken {
    path: String,
    lab: Lab,
    alpha: f64,
    semantic: bool,
}

#[derive(Debug)]
struct LengthToken {
    path: String,
    px: f64,
    semantic: bool,
}

#[derive(Debug)]
struct FamilyToken {
    path: String,
    families: Vec<String>,
    semantic: bool,
}

#[derive(Debug, Default)]
pub(super) struct Candidates {
    colors: Vec<ColorToken>,
    font_sizes: Vec<LengthToken>,
    spacing: Vec<LengthToken>,
    radii: Vec<LengthToken>,
    families: Vec<FamilyToken>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    FontSize,
    Spacing,
    Radius,
}

fn path_has(path: &str, words: &[&str]) -> bool {
    path.to_ascii_lowercase()
        .split(['.', '-', '_'])
        .any(|segment| words.iter().any(|w| segment.starts_with(w)))
}

pub(super) fn dimension_role(path: &str) -> Option<Role> {
    if path_has(path, &["radius", "radii", "rounded", "corner"]) {
        Some(Role::Radius)
    } else if path_has(
        path,
        &[
            "line", "leading", "letter", "tracking", "border", "width", "height",
        ],
    ) {
        None
    } else if path_has(
        path,
        &["font", "text", "typography", "type", "heading", "display"],
    ) {
        Some(Role::FontSize)
    } else if path_has(
        path,
        &[
            "space", "spacing", "spacer", "gap", "margin", "padding", "gutter", "inset", "stack",
        ],
    ) {
        Some(Role::Spacing)
    } else {
        None
    }
}

impl Candidates {
    pub fn new(tokens: &[ResolvedToken]) -> Self {
        let mut out = Self::default();
        let mut unassigned = Vec::new();
        for token in tokens {
            let semantic = token.alias_of.is_some();
            match token.token_type.as_str() {
                "color" => {
                    if let Some(c) = parse_color_str(&token.value) {
                        out.colors.push(ColorToken {
                            path: token.path.clone(),
                            lab: c.to_lab(),
                            alpha: c.a,
                            semantic,
                        });
                    }
                }
                "dimension" => {
                    let Some(px) = Dimension::parse(&token.value).map(Dimension::to_px) else {
                        continue;
                    };
                    // A zero token has no ratio to anything; `0` in the site is skipped anyway.
                    if px <= 0.0 {
                        continue;
                    }
                    let length = LengthToken {
                        path: token.path.clone(),
                        px,
                        semantic,
                    };
                    match dimension_role(&token.path) {
                        Some(Role::FontSize) => out.font_sizes.push(length),
                        Some(Role::Spacing) => out.spacing.push(length),
                        Some(Role::Radius) => out.radii.push(length),
                        None => unassigned.push(length),
                    }
                }
                "fontFamily" => {
                    let families: Vec<String> = font_families(&token.value)
                        .iter()
                        .map(|f| f.to_lowercase())
                        .collect();
                    if !families.is_empty() {
                        out.families.push(FamilyToken {
                            path: token.path.clone(),
                            families,
                            semantic,
                        });
                    }
                }
                _ => {}
            }
        }
        for list in [&mut out.font_sizes, &mut out.spacing, &mut out.radii] {
            if list.is_empty() {
                list.extend(unassigned.iter().map(|t| LengthToken {
                    path: t.path.clone(),
                    px: t.px,
                    semantic: t.semantic,
                }));
            }
        }
        out
    }

    /// Whether the reference has any token to judge this kind of declaration by.
    pub fn judges(&self, kind: DriftKind) -> bool {
        match kind {
            DriftKind::Color => !self.colors.is_empty(),
            DriftKind::FontSize => !self.font_sizes.is_empty(),
            DriftKind::Spacing => !self.spacing.is_empty(),
            DriftKind::Radius => !self.radii.is_empty(),
            DriftKind::FontFamily => !self.families.is_empty(),
        }
    }

    /// The nearest token for one found value. Ties go to the token whose path suits the
    /// property (`color` → `text`, `background` → `surface`), then to semantic aliases over
    /// raw palette entries, then to path order.
    pub fn nearest(&self, kind: DriftKind, property: &str, found: &Found) -> Option<Match> {
        match (kind, found) {
            (DriftKind::Color, Found::Color(color)) => {
                let lab = color.to_lab();
                let hints = color_role_hints(property);
                best(self.colors.iter().map(|t| {
                    let distance =
                        ciede2000(lab, t.lab) + ALPHA_PENALTY * (color.a - t.alpha).abs();
                    let preference = (!path_has(&t.path, hints), !t.semantic);
                    (distance, preference, &t.path)
                }))
                .map(|(distance, token)| Match {
                    on_token: distance < COLOR_ON_TOKEN_DELTA_E,
                    distance,
                    token,
                })
            }
            (DriftKind::FontSize | DriftKind::Spacing | DriftKind::Radius, Found::Px(px)) => {
                let list = match kind {
                    DriftKind::FontSize => &self.font_sizes,
                    DriftKind::Spacing => &self.spacing,
                    _ => &self.radii,
                };
                let scored = best(list.iter().map(|t| {
                    let ratio = px.max(t.px) / px.min(t.px) - 1.0;
                    (ratio, (false, !t.semantic), &t.path)
                }))?;
                let token_px = list.iter().find(|t| t.path == scored.1).map(|t| t.px)?;
                Some(Match {
                    on_token: (px - token_px).abs() <= LENGTH_ON_TOKEN_PX,
                    distance: scored.0,
                    token: scored.1,
                })
            }
            (DriftKind::FontFamily, Found::Family(family)) => {
                let family = family.to_lowercase();
                best(self.families.iter().map(|t| {
                    let distance = if t.families.first() == Some(&family) {
                        0.0
                    } else if t.families.contains(&family) {
                        0.5
                    } else {
                        1.0
                    };
                    (distance, (false, !t.semantic), &t.path)
                }))
                .map(|(distance, token)| Match {
                    on_token: distance == 0.0,
                    distance,
                    token,
                })
            }
            _ => None,
        }
    }
}

fn color_role_hints(property: &str) -> &'static [&'static str] {
    if property.contains("background") {
        &["background", "surface", "bg", "canvas"]
    } else if property.contains("border")
        || property.contains("outline")
        || property.contains("rule")
    {
        &["border", "outline", "stroke", "divider"]
    } else if property.contains("shadow") {
        &["shadow", "elevation"]
    } else if property == "color" || property.ends_with("text-fill-color") {
        &["text", "foreground", "fg", "content", "on"]
    } else {
        &[]
    }
}

/// The candidate with the smallest distance, then the smallest preference, then path.
fn best<'a>(
    candidates: impl Iterator<Item = (f64, (bool, bool), &'a String)>,
) -> Option<(f64, String)> {
    const SAME: f64 = 1e-9;
    let mut best: Option<(f64, (bool, bool), &String)> = None;
    for candidate in candidates {
        let better = match &best {
            None => true,
            Some(current) => {
                if (candidate.0 - current.0).abs() > SAME {
                    candidate.0 < current.0
                } else {
                    (candidate.1, candidate.2) < (current.1, current.2)
                }
            }
        };
        if better {
            best = Some(candidate);
        }
    }
    best.map(|(distance, _, path)| (distance, path.clone()))
}
